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
//! **Durability.** [`Archive::append`] returns only once the record is in the buffer journal
//! (`_buffer/` under the root, a `tally-journal`), so an accepted record survives the process
//! being killed: on the next [`Archive::open`] the batches left there are written out as objects.
//! A torn last record (the process died in the middle of writing it) was never accepted and is
//! cut. Objects are written to a temporary file, fsynced, then renamed into place; a batch is
//! acknowledged in the buffer only after that, and an object is named by its batch's header
//! record, so recovery never writes a batch twice. The buffer is fsynced at most
//! [`BUFFER_SYNC`] after an append by the journal's own thread (no append waits on the disk), so
//! power loss takes at most that much; [`ArchiveConfig::durability`] can make it every record.

mod buffer;
mod compact;
mod consumer;
mod layout;
mod legacy;
mod prune;
mod read;
mod writer;

pub use compact::{COMPACT_DIR, CompactOptions, CompactReport, compact_day};
pub use consumer::{ArchiveConsumer, CONSUMER, LOCAL_DIR};
pub use layout::{Layout, ObjectKey};
pub use prune::prune_before;
pub use read::{ArchiveObject, event_time, list_objects, objects_for_days, read_in_event_order};
pub use writer::{
    Appended, Archive, ArchiveConfig, ArchiveError, BUFFER_SYNC, Recovery, read_object,
};
