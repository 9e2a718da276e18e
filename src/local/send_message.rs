//! The Step Functions `sqs:sendMessage` integration, onto a local queue: the enrichment's last
//! resort (`SendLastResort`), where a page view goes when the bus refuses its dead letter too.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tally_bus::local::{JsonJournal, read_json};
use tally_journal::JournalError;
use tally_states::TaskError;

/// The optimized SQS integration's resource.
pub const SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";

/// The error of a request SQS refuses (a parameter missing or of the wrong type).
pub const REFUSED: &str = "SQS.AmazonSQSException";

/// The error of a send to a queue that does not exist here.
pub const NO_QUEUE: &str = "SQS.QueueDoesNotExistException";

/// The local stand-in for the last-resort queue of a bus named `bus`: `BUS-last-resort`, as the
/// pipeline template names it.
pub fn last_resort_queue(bus: &str) -> String {
    format!("{bus}-last-resort")
}

/// One message of a local queue file: when it was sent, to which queue, and its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// When it was sent (RFC 3339).
    pub time: String,
    /// The queue's name.
    pub queue: String,
    /// Its id, unique within this process.
    pub message_id: String,
    /// The `MessageBody` as the task sent it: an object stays an object.
    pub body: Value,
}

/// A local SQS queue: every message sent is one record of a JSON journal, fsynced before the
/// send returns (the dead-letter journals' own [`JsonJournal`]). Only sends are modelled.
#[derive(Debug)]
pub struct LocalQueue {
    name: String,
    file: JsonJournal,
    sent: AtomicU64,
}

impl LocalQueue {
    /// Opens (creating it and its parents) the queue `name` stored in the journal `dir`.
    pub fn open(name: impl Into<String>, dir: &Path) -> Result<LocalQueue, JournalError> {
        Ok(LocalQueue {
            name: name.into(),
            file: JsonJournal::open(dir)?,
            sent: AtomicU64::new(0),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The journal the messages are in.
    pub fn dir(&self) -> &Path {
        self.file.dir()
    }

    /// Runs an `sqs:sendMessage` task's parameters: `QueueUrl` must name this queue (its last
    /// path segment), `MessageBody` is stored as given.
    pub fn send(&self, parameters: &Value) -> Result<Value, TaskError> {
        let url = parameters["QueueUrl"]
            .as_str()
            .ok_or_else(|| TaskError::new(REFUSED, "parameter QueueUrl must be a string"))?;
        let body = parameters
            .get("MessageBody")
            .ok_or_else(|| TaskError::new(REFUSED, "parameter MessageBody is missing"))?;
        if queue_name(url) != self.name {
            return Err(no_queue(url, body));
        }
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let message = QueuedMessage {
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            queue: self.name.clone(),
            message_id: format!("local-{}-{n}", std::process::id()),
            body: body.clone(),
        };
        self.file.append(&message).map_err(|e| {
            let why = format!("{e}: {body}");
            TaskError::new("SQS.SdkClientException", why)
        })?;
        Ok(json!({"MessageId": message.message_id}))
    }
}

/// The queue a URL names: its last path segment.
fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// A send to a queue that is not here. The cause carries the body, so what was sent is not lost
/// silently: it is in the execution's failure.
pub fn no_queue(url: &str, body: &Value) -> TaskError {
    TaskError::new(NO_QUEUE, format!("no local queue {url}: {body}"))
}

/// Every message of a local queue, in the order sent, read without its lock.
pub fn read_queue(dir: &Path) -> io::Result<Vec<QueuedMessage>> {
    read_json(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn queue(dir: &Path) -> LocalQueue {
        LocalQueue::open("tally-last-resort", &dir.join("q/last")).unwrap()
    }

    #[test]
    fn a_message_sent_is_in_the_file_with_its_body() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let params = json!({
            "QueueUrl": "https://sqs.local.amazonaws.com/000000000000/tally-last-resort",
            "MessageBody": {"error": "E", "input": {"a": 1}}
        });
        let out = q.send(&params).unwrap();
        let got = read_queue(q.dir()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, params["MessageBody"]);
        assert_eq!(got[0].queue, "tally-last-resort");
        assert_eq!(out["MessageId"], json!(got[0].message_id));
    }

    #[test]
    fn a_send_to_another_queue_fails_with_the_body_in_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let params = json!({"QueueUrl": "https://sqs/1/other", "MessageBody": {"input": 7}});
        let err = q.send(&params).unwrap_err();
        assert_eq!(err.error, NO_QUEUE);
        assert!(err.cause.contains(r#"{"input":7}"#), "{}", err.cause);
        assert!(read_queue(q.dir()).unwrap().is_empty());
        let err = q.send(&json!({"MessageBody": "x"})).unwrap_err();
        assert_eq!(err.error, REFUSED);
    }
}
