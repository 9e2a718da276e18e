//! What can go wrong.

/// An error of the counters.
#[derive(Debug, thiserror::Error)]
pub enum CountersError {
    /// The event is not a page view of model 1 this consumer can count. Permanent: redelivering
    /// it will not help.
    #[error("not a countable page view: {0}")]
    Invalid(String),
    /// The local store failed.
    #[error("local store: {0}")]
    Store(#[from] redb::Error),
    /// DynamoDB failed (or the transaction kept conflicting with concurrent ones).
    #[error("dynamodb: {0}")]
    Dynamo(String),
    /// The Lambda's configuration is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
}

impl CountersError {
    /// Whether redelivering the same event cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, CountersError::Invalid(_))
    }

    /// A short key for the metrics (`invalid`, `store`, `dynamodb`, `config`), never the detail.
    pub fn reason(&self) -> &'static str {
        match self {
            CountersError::Invalid(_) => "invalid",
            CountersError::Store(_) => "store",
            CountersError::Dynamo(_) => "dynamodb",
            CountersError::Config(_) => "config",
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {
        $(impl From<$t> for CountersError {
            fn from(e: $t) -> Self {
                CountersError::Store(redb::Error::from(e))
            }
        })*
    };
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
