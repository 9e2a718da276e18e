//! The Glue table over the archive and the named queries, run on Athena in the cloud and on
//! Apache DataFusion locally.
//!
//! - `table.json` is the one definition of the table (a Glue `TableInput`: columns, JSON SerDe,
//!   partition keys and partition projection, so no crawler and no `MSCK REPAIR`). The deploy
//!   templates embed it; the local Arrow schema is derived from it ([`arrow_schema`]).
//! - `queries/*.sql` are the named queries, one per file, named by the file ([`named_queries`]).
//!   They are written in the SQL both engines accept: struct fields as `detail.field`, `substr`,
//!   `CAST`, `COALESCE`, `count(DISTINCT …)` (page views count distinct event ids, so an event
//!   delivered twice counts once), no engine-specific functions.
//!
//! Locally, [`Query::run`] registers the archive (`ARCHIVE/events/`, gzipped NDJSON under
//! `year=/month=/day=/hour=` partitions) as a table and exposes it to the queries as `page_views`,
//! optionally limited to a range of `occurred_at` days.

mod hive;
mod query;

pub use hive::arrow_schema;
pub use query::{Query, QueryError, Range, to_rows};

/// The Glue table definition (`TableInput`), kept in one place.
pub const TABLE: &str = include_str!("../table.json");

/// The name queries use for the table.
pub const TABLE_NAME: &str = "page_views";

/// One named query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedQuery {
    /// Its name: the file name without `.sql`.
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

macro_rules! named {
    ($($name:literal),* $(,)?) => {
        &[$(NamedQuery { name: $name, sql: include_str!(concat!("../queries/", $name, ".sql")) }),*]
    };
}

const NAMED: &[NamedQuery] = named![
    "bots",
    "campaigns",
    "countries",
    "daily_visitors",
    "devices",
    "hours",
    "referrers",
    "top_pages",
];

/// Every named query, by name.
pub fn named_queries() -> &'static [NamedQuery] {
    NAMED
}

/// The named query called `name`.
pub fn named_query(name: &str) -> Option<&'static NamedQuery> {
    NAMED.iter().find(|q| q.name == name)
}
