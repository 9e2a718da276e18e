//! A rule target's dead letter, put on the bus again.
//!
//! EventBridge writes an event it could not deliver to a target into that target's dead-letter
//! queue, whole, with the attributes `RULE_ARN` (`…:rule/BUS/RULE`), `TARGET_ARN`, `ERROR_CODE`
//! and `ERROR_MESSAGE`. PutEvents cannot address one rule, so the event is put on its bus again
//! as the rule's declaration (the same one the template was rendered from) will take it: with
//! the source `tally.replay` when the rule takes re-put replays (the counters': every rule that
//! takes those is idempotent per `event_id`, and the archive's takes none, so the archive does
//! not grow), otherwise with its own source (the archive's rule: the counters take it again,
//! and count it once).

use aws_sdk_sqs::types::Message;
use serde_json::Value;
use tally_bus::Pattern;

use crate::aws_replay::{entry_of, to_sdk};

/// Where a dead letter goes back to: its bus, and the entry to put.
#[derive(Debug, Clone, PartialEq)]
pub struct RePut {
    /// The rule it came from.
    pub rule: String,
    /// The PutEvents entry.
    pub entry: tally_bus::local::PutEventsRequestEntry,
}

/// The message attribute `name`.
pub fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value.clone())
}

/// How the dead letter `event` of rule `rule_arn` goes back on the bus, or why it cannot.
pub fn re_put(rule_arn: &str, event: &Value) -> Result<RePut, String> {
    let mut parts = rule_arn.rsplit('/');
    let (Some(rule), Some(bus)) = (parts.next(), parts.next()) else {
        return Err(format!("RULE_ARN {rule_arn:?} names no bus and rule"));
    };
    let declared = crate::local::declarations()
        .into_iter()
        .flat_map(|d| {
            let consumer = d.name.clone();
            d.rules
                .into_iter()
                .map(move |r| (format!("{consumer}-{}", r.name), r.pattern))
        })
        .find(|(name, _)| name == rule);
    let Some((_, pattern)) = declared else {
        return Err(format!(
            "rule {rule} is none of the declared consumers' rules: put it back by hand"
        ));
    };
    let pattern = Pattern::from_value(&pattern).map_err(|e| format!("rule {rule}: {e}"))?;
    let mut entry = entry_of(event, bus);
    let mut replayed = event.clone();
    replayed["source"] = Value::String(tally_consumer::REPLAY_SOURCE.to_owned());
    if !pattern.matches(&replayed) {
        if !pattern.matches(event) {
            return Err(format!(
                "rule {rule} no longer takes this event: nothing to put it back for"
            ));
        }
        entry.source = event["source"].as_str().map(str::to_owned);
    }
    Ok(RePut {
        rule: rule.to_owned(),
        entry,
    })
}

/// Puts `re_put` on its bus: `Err` with EventBridge's reason when the entry was refused.
pub async fn put(client: &aws_sdk_eventbridge::Client, re_put: &RePut) -> Result<(), String> {
    let out = client
        .put_events()
        .entries(to_sdk(&re_put.entry))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot put it on the bus: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(&e)
            )
        })?;
    match out.entries().first().and_then(|e| e.error_code()) {
        None => Ok(()),
        Some(code) => {
            let message = out.entries()[0].error_message().unwrap_or_default();
            Err(format!("the bus refused it: {code}: {message}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"version": "0", "id": "x", "source": "tally", "detail-type": "PageView",
            "time": "2026-03-07T08:00:00Z", "region": "eu-west-1", "account": "1", "resources": [],
            "detail": {"event_id": "e1", "schema_version": "1-0-0"}})
    }

    #[test]
    fn each_rule_gets_the_source_it_takes() {
        let arn = |rule: &str| format!("arn:aws:events:eu-west-1:1:rule/tally/{rule}");
        let counters = re_put(&arn("counters-page-views"), &event()).expect("counters");
        assert_eq!(counters.entry.source.as_deref(), Some("tally.replay"));
        assert_eq!(counters.entry.event_bus_name.as_deref(), Some("tally"));
        let archive = re_put(&arn("archive-page-views"), &event()).expect("archive");
        assert_eq!(
            archive.entry.source.as_deref(),
            Some("tally"),
            "the archive takes no replay"
        );
        assert!(re_put(&arn("someone-else"), &event()).is_err());
        assert!(re_put("no-slash", &event()).is_err());
    }
}
