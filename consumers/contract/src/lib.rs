//! The consumer contract.
//!
//! A consumer is an independent crate that subscribes to the bus through rules. Everything about
//! it is said once, in its [`Declaration`]: its rule patterns, its target kind in the cloud, the
//! input each target gets (`Input`, `InputPath` or `InputTransformer`, exactly as EventBridge
//! takes them), its retry and dead-letter policy. Its local implementation is a
//! [`LocalConsumer`]. The local bus builds its rules from the declaration ([`local_rules`]), and so
//! will the deploy templates, so no pattern is written twice.
//!
//! Every consumer's tests call [`compliance::check`].

pub mod compliance;
mod declaration;
mod local;

pub use declaration::{ContractError, Declaration, Retry, RuleDeclaration, TargetKind};
pub use local::{LocalConsumer, local_rules};
