//! The consumer contract.
//!
//! A consumer is an independent crate that subscribes to the bus through rules. Everything about
//! it is said once, in its [`Declaration`]: its rule patterns, its target kind in the cloud, the
//! input each target gets (`Input`, `InputPath` or `InputTransformer`, exactly as EventBridge
//! takes them), its retry and dead-letter policy. Its local implementation is a
//! [`LocalConsumer`], opened on a data directory through its [`Consumer`], the entry the
//! workspace's one consumer list holds. The local bus builds its rules from the declaration ([`local_rules`]), and so
//! will the deploy templates, so no pattern is written twice.
//!
//! Every consumer's tests call [`compliance::check`].

pub mod compliance;
mod declaration;
mod listed;
mod local;

pub use declaration::{ContractError, Declaration, Retry, RuleDeclaration, TargetKind};

/// The `source` of every event Tally's producers put on the bus.
pub const SOURCE: &str = "tally";

/// The `source` of archived events put on the bus again with PutEvents (`tally replay --aws`
/// without an EventBridge archive). PutEvents cannot set `replay-name`, which marks EventBridge's
/// own replays, so this is how a rule tells a re-put replay from a live event: a consumer that
/// rebuilds from replays matches both sources; the archive matches only [`SOURCE`].
pub const REPLAY_SOURCE: &str = "tally.replay";
pub use listed::{Consumer, Listing, OpenError, Opened};
pub use local::{FlushError, LocalConsumer, local_rules};
