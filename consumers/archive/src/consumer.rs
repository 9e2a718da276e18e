//! The archive as a consumer: its declaration and its local handler.

use chrono::Utc;
use serde_json::{Value, json};
use tally_bus::local::{DeliveryError, TargetInput};
use tally_consumer::compliance::Probe;
use tally_consumer::{
    Consumer, Declaration, FlushError, Listing, LocalConsumer, OpenError, Opened, Retry,
    RuleDeclaration, TargetKind,
};

use crate::{Archive, ArchiveConfig, ArchiveError, Recovery, read_object};

/// The archive's directory in a local data directory: `DATA/archive/`.
pub const LOCAL_DIR: &str = "archive";

/// The archive in the workspace's consumer list.
pub const CONSUMER: &dyn Consumer = &Listing {
    name: NAME,
    declaration: ArchiveConsumer::declaration,
    open_local,
};

/// Opens the archive in `DATA/archive/`.
fn open_local(data: &std::path::Path) -> Result<Opened, OpenError> {
    let dir = data.join(LOCAL_DIR);
    let (consumer, _) = ArchiveConsumer::open(ArchiveConfig::new(&dir))
        .map_err(|e| OpenError::new(NAME, dir, e))?;
    Ok(Opened::new(consumer))
}

/// The consumer's name.
pub const NAME: &str = "archive";

/// The archive consumer: every page view, whole envelope, into the archive.
#[derive(Debug)]
pub struct ArchiveConsumer {
    archive: Archive,
    recovery: Recovery,
}

impl ArchiveConsumer {
    /// Opens the local archive (recovering what a previous process left).
    pub fn open(config: ArchiveConfig) -> Result<(Self, Recovery), ArchiveError> {
        let (archive, recovery) = Archive::open(config)?;
        let consumer = ArchiveConsumer {
            archive,
            recovery: recovery.clone(),
        };
        Ok((consumer, recovery))
    }

    /// The archive it writes.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// What opening it recovered from the buffer a previous process left.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The declaration: one rule, every page view of every model, except events an EventBridge
    /// archive replays (they carry `replay-name`; they are in the archive already), to the
    /// `ArchiveStream` Firehose stream, whole event.
    pub fn declaration() -> Declaration {
        Declaration {
            name: NAME.into(),
            description: "the event log: every page view as gzipped NDJSON, Hive-partitioned"
                .into(),
            rules: vec![RuleDeclaration {
                name: "page-views".into(),
                pattern: json!({
                    "source": ["tally"],
                    "detail-type": ["PageView"],
                    "replay-name": [{"exists": false}]
                }),
                target: TargetKind::Firehose {
                    stream: "ArchiveStream".into(),
                },
                input: None,
                input_path: None,
                input_transformer: None,
                retry: Retry::default(),
            }],
        }
    }
}

impl LocalConsumer for ArchiveConsumer {
    fn declaration(&self) -> Declaration {
        ArchiveConsumer::declaration()
    }

    fn handle(&self, _rule: &str, input: &TargetInput) -> Result<(), DeliveryError> {
        let TargetInput::Json(event) = input else {
            return Err(DeliveryError::permanent(
                "the archive takes whole events, not text",
            ));
        };
        match self.archive.append(event, Utc::now()) {
            Ok(_) => Ok(()),
            Err(e @ ArchiveError::NotAnEvent(_)) => Err(DeliveryError::permanent(e.to_string())),
            Err(e) => Err(DeliveryError::new(e.to_string())),
        }
    }

    fn flush(&self) -> Result<(), FlushError> {
        self.archive.flush().map(drop).map_err(FlushError::new)
    }
}

impl Probe for ArchiveConsumer {
    /// The archived events' ids, sorted, with their count.
    fn snapshot(&self) -> Value {
        let records = self.written();
        let mut ids: Vec<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
        ids.sort_unstable();
        json!({"records": records.len(), "ids": ids})
    }

    fn written(&self) -> Vec<Value> {
        self.archive
            .objects()
            .unwrap_or_default()
            .iter()
            .flat_map(|p| read_object(p).unwrap_or_default())
            .collect()
    }
}
