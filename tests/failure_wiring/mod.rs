//! The pipeline template's failure wiring created in moto as CloudFormation would create it
//! (moto's CloudFormation cannot create most of the stack: see tests/deploy_moto.rs): the bus,
//! every SQS queue with its redrive policy and visibility timeout, every rule with its pattern
//! and, where moto can deliver to it, its target, and the enrichment state machine with its
//! substitutions. Read from the rendered template, never written twice.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

/// What was created: each queue by logical id (URL, ARN), the state machine's ARN.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub prefix: String,
    pub queues: BTreeMap<String, (String, String)>,
    pub machine: String,
}

impl Wiring {
    /// The URL of the queue `id` (logical id).
    pub fn url(&self, id: &str) -> &str {
        &self.queues[id].0
    }
}

fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    let mut out: Vec<(&String, &Value)> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect();
    // Queues without a redrive policy first: a redrive policy names its dead-letter queue.
    out.sort_by_key(|(_, r)| !r["Properties"]["RedrivePolicy"].is_null());
    out
}

/// `${AWS::StackName}` as the stack `prefix` resolves it.
fn stack_name(value: &Value, prefix: &str) -> Option<String> {
    value["Fn::Sub"]
        .as_str()
        .map(|s| s.replace("${AWS::StackName}", prefix))
}

/// Every queue of the template: its `QueueName` when it has one, else CloudFormation's
/// `{stack}-{LogicalId}-{suffix}`.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    template: &Value,
) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (id, queue) in resources(template, "AWS::SQS::Queue") {
        let p = &queue["Properties"];
        let name = stack_name(&p["QueueName"], prefix).unwrap_or(format!("{prefix}-{id}-T"));
        let mut create = sqs.create_queue().queue_name(name);
        if let Some(t) = p["VisibilityTimeout"].as_u64() {
            create = create.attributes(QueueAttributeName::VisibilityTimeout, t.to_string());
        }
        if let Some(policy) = p["RedrivePolicy"].as_object() {
            let dlq = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap();
            let resolved = serde_json::json!({
                "deadLetterTargetArn": out[dlq].1,
                "maxReceiveCount": policy["maxReceiveCount"]
            });
            create = create.attributes(QueueAttributeName::RedrivePolicy, resolved.to_string());
        }
        let url = create.send().await.unwrap().queue_url.unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        out.insert(id.clone(), (url, arn));
    }
    out
}

/// The bus and its rules; a rule's target only where it is one of the template's queues (moto's
/// EventBridge delivers to SQS, not to Firehose or Lambda). moto never writes to a target's
/// dead-letter queue, so `DeadLetterConfig` is not set.
pub async fn create_bus_and_rules(
    events: &aws_sdk_eventbridge::Client,
    wiring: &Wiring,
    template: &Value,
) {
    events
        .create_event_bus()
        .name(&wiring.prefix)
        .send()
        .await
        .unwrap();
    for (_, rule) in resources(template, "AWS::Events::Rule") {
        let p = &rule["Properties"];
        let name = p["Name"].as_str().unwrap();
        events
            .put_rule()
            .name(name)
            .event_bus_name(&wiring.prefix)
            .event_pattern(p["EventPattern"].to_string())
            .send()
            .await
            .unwrap();
        let target = &p["Targets"][0];
        let Some((_, arn)) = target["Arn"]["Fn::GetAtt"][0]
            .as_str()
            .and_then(|id| wiring.queues.get(id))
        else {
            continue;
        };
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id(target["Id"].as_str().unwrap())
            .arn(arn)
            .build()
            .unwrap();
        events
            .put_targets()
            .rule(name)
            .event_bus_name(&wiring.prefix)
            .targets(target)
            .send()
            .await
            .unwrap();
    }
}

/// The bus gone (its rules first): every put on it is refused.
pub async fn delete_bus_and_rules(
    events: &aws_sdk_eventbridge::Client,
    wiring: &Wiring,
    template: &Value,
) {
    for (_, rule) in resources(template, "AWS::Events::Rule") {
        let p = &rule["Properties"];
        let name = p["Name"].as_str().unwrap();
        let target = p["Targets"][0]["Id"].as_str().unwrap();
        let bus = &wiring.prefix;
        let _ = events
            .remove_targets()
            .rule(name)
            .event_bus_name(bus)
            .ids(target)
            .send()
            .await;
        events
            .delete_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .unwrap();
    }
    events
        .delete_event_bus()
        .name(&wiring.prefix)
        .send()
        .await
        .unwrap();
}

/// The enrichment: `DefinitionString` with its `DefinitionSubstitutions` (the bus by name).
pub async fn create_machine(sfn: &aws_sdk_sfn::Client, prefix: &str, template: &Value) -> String {
    let (_, machine) = resources(template, "AWS::StepFunctions::StateMachine")[0];
    let p = &machine["Properties"];
    let mut definition = p["DefinitionString"].as_str().unwrap().to_owned();
    for (name, value) in p["DefinitionSubstitutions"].as_object().unwrap() {
        assert_eq!(value["Ref"], "EventBus", "the bus is the only substitution");
        definition = definition.replace(&format!("${{{name}}}"), prefix);
    }
    sfn.create_state_machine()
        .name(stack_name(&p["StateMachineName"], prefix).unwrap())
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/enrich")
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

/// The whole wiring of `template` for the stack `prefix`.
pub async fn create(config: &aws_config::SdkConfig, prefix: &str, template: &Value) -> Wiring {
    let sqs = aws_sdk_sqs::Client::new(config);
    let queues = create_queues(&sqs, prefix, template).await;
    let machine = create_machine(&aws_sdk_sfn::Client::new(config), prefix, template).await;
    let wiring = Wiring {
        prefix: prefix.to_owned(),
        queues,
        machine,
    };
    create_bus_and_rules(&aws_sdk_eventbridge::Client::new(config), &wiring, template).await;
    wiring
}
