//! `tally states …`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::{Value, json};
use tally_states::{Definition, ExecutionContext, ExecutionResult, RealSleeper};

use crate::local::{self, PutEventsTask};

/// `tally states` subcommands.
#[derive(Debug, Subcommand)]
pub enum StatesCommand {
    /// Run a state machine definition locally; print its output and the events it put.
    ///
    /// Exit code 0 when the execution succeeds, 1 when it fails, 2 when it cannot run.
    Run {
        /// The Amazon States Language definition.
        definition: PathBuf,
        /// The execution input (JSON file).
        #[arg(long)]
        input: PathBuf,
        /// `$$.Execution.StartTime`, RFC 3339 (default: now).
        #[arg(long)]
        start_time: Option<String>,
        /// A definition substitution, `KEY=VALUE`, as SAM applies them (repeatable).
        /// `EventBusName` defaults to the local bus, `tally`.
        #[arg(long = "subst", value_name = "KEY=VALUE")]
        substitutions: Vec<String>,
    },
}

/// Runs a `tally states` subcommand.
pub fn run(cmd: StatesCommand) -> anyhow::Result<ExitCode> {
    let StatesCommand::Run {
        definition,
        input,
        start_time,
        substitutions,
    } = cmd;
    let mut subst = BTreeMap::from([("EventBusName".to_owned(), local::BUS_NAME.to_owned())]);
    for s in &substitutions {
        let Some((k, v)) = s.split_once('=') else {
            bail!("substitution {s:?} is not KEY=VALUE");
        };
        subst.insert(k.to_owned(), v.to_owned());
    }
    let text = std::fs::read_to_string(&definition)
        .with_context(|| format!("cannot read {}", definition.display()))?;
    let machine = Definition::load(&text, &subst, &PutEventsTask::handles)
        .with_context(|| format!("cannot load {}", definition.display()))?;
    let input_text = std::fs::read_to_string(&input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let input: Value = serde_json::from_str(&input_text)
        .with_context(|| format!("{} is not json", input.display()))?;
    let start_time = match start_time {
        Some(t) => DateTime::parse_from_rfc3339(&t)
            .with_context(|| format!("--start-time {t:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };

    let (bus, put) = local::recording_bus()?;
    let file_name = definition
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("machine");
    let name = file_name.split('.').next().unwrap_or(file_name).to_owned();
    let exec = ExecutionContext {
        name: "local".into(),
        execution_arn: format!("arn:aws:states:local:000000000000:express:{name}:local"),
        state_machine_arn: format!("arn:aws:states:local:000000000000:stateMachine:{name}"),
        state_machine_name: name,
        start_time,
    };
    let result = machine.execute(input, &exec, &PutEventsTask::new(&bus), &RealSleeper);
    bus.shutdown();
    let events = put.lock().map(|p| p.clone()).unwrap_or_default();
    let (report, code) = match &result {
        ExecutionResult::Succeeded { output, .. } => (
            json!({"status": "SUCCEEDED", "output": output, "events": events}),
            ExitCode::SUCCESS,
        ),
        ExecutionResult::Failed { error, cause, .. } => (
            json!({"status": "FAILED", "error": error, "cause": cause, "events": events}),
            ExitCode::from(1),
        ),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(code)
}
