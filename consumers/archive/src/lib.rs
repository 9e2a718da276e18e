//! The archive: Tally's event log, from which everything else can be rebuilt.
//!
//! In the cloud, a rule sends every page-view event to a Kinesis Data Firehose stream that writes
//! gzipped NDJSON to S3 under a Hive-style prefix. Locally, [`Archive`] writes the same objects,
//! with the same key layout, into a directory: it is the faithful reference for that layout (moto's
//! Firehose ignores prefixes, compression and buffering).
//!
//! **What is kept: the whole EventBridge envelope**, not only the detail. A replay must be able to
//! re-put the original event (source, detail-type, time, resources as they were), and the
//! envelope's `id` is what makes redelivery detectable. The detail alone would lose both.
//!
//! **Durability.** [`Archive::append`] returns only once the record is in the buffer file
//! (`_buffer/` under the root), so an accepted record survives the process being killed: on the
//! next [`Archive::open`] the buffer is recovered into objects. A torn last line (the process died
//! in the middle of writing it) was never accepted and is discarded. Objects are written to a
//! temporary file, fsynced, then renamed into place; the buffer file is removed only after that,
//! and an object's name is derived from its buffer file, so recovery never writes a batch twice.
//! With `sync_every_record` the buffer is also fsynced before each `append` returns, which
//! protects accepted records against a machine crash too, at the cost of throughput.

mod compact;
mod consumer;
mod layout;
mod read;
mod writer;

pub use compact::{COMPACT_DIR, CompactOptions, CompactReport, compact_day};
pub use consumer::ArchiveConsumer;
pub use layout::{Layout, ObjectKey};
pub use read::{ArchiveObject, event_time, list_objects, objects_for_days, read_in_event_order};
pub use writer::{Appended, Archive, ArchiveConfig, ArchiveError, Recovery, read_object};
