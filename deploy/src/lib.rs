//! Tally on AWS: infrastructure as code, generated from the same definitions local mode runs.
//!
//! - [`render`] turns the [`Sources`] (every consumer's declaration, the enrichment state
//!   machine, the Glue table, the named queries, the registry schema, the archive's layout, the
//!   real-time log fields) into CloudFormation templates: the **pipeline** stack (home region),
//!   one stack per [`Producer`] (real-time logs and standard logs in the home region, the edge
//!   in us-east-1) and the **site** stack (us-east-1: the distribution the producers share).
//!   Rules and targets come from the declarations, never by hand.
//! - [`lint`] checks rendered templates: over-broad IAM ([`lint::iam`]), Lambda permissions
//!   without a source ([`lint::permissions`]) and the archive's Firehose configuration against
//!   the local writer's layout ([`lint::firehose`]).
//! - [`grafana`] generates a dashboard for the Athena data source from the named queries.
//! - [`cost`] prices a month of traffic from `prices.json`, and each producer beside the seed's
//!   design.
//!
//! The crate does no I/O: callers read files and pass their contents in.

mod alarms;
mod cfn;
pub mod cost;
mod counters;
pub mod grafana;
pub mod lint;
mod names;
mod pipeline;
mod producers;
mod rules;
mod site;

use serde_json::Value;
use tally_archive::Layout;
use tally_consumer::Declaration;

pub use names::{logical_id, rule_logical_id};
pub use producers::standard_logs::{EXPIRATION_DAYS as LOG_EXPIRATION_DAYS, LOG_PREFIX};
pub use producers::{FORWARDED_HEADERS, Producer, UnknownProducer};
pub use site::{ASSET_PATTERN, CACHING_DISABLED, CACHING_OPTIMIZED, INDEX_FUNCTION_CODE};

/// The command that regenerates the committed templates and dashboards, from the repository root.
pub const REGENERATE_COMMAND: &str = "cargo run -- deploy --dry-run --out deploy";

/// One named query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    /// Its name (the file name without `.sql`).
    pub name: String,
    /// Its SQL.
    pub sql: String,
}

/// Everything the templates are rendered from; the caller reads it.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Every consumer's declaration (`tally::local::declarations()`).
    pub declarations: Vec<Declaration>,
    /// `state-machines/enrich.asl.json`, as text, with its `${Name}` placeholders.
    pub state_machine: String,
    /// `consumers/athena/table.json`: the Glue `TableInput`, with `${ArchiveBucket}`.
    pub glue_table: String,
    /// The named queries (`consumers/athena/queries/*.sql`).
    pub named_queries: Vec<NamedQuery>,
    /// The page-view schema in the registry's format (Draft 4).
    pub registry_schema: String,
    /// The archive's key layout and buffering: the local writer's, which is the reference.
    pub archive: ArchiveSpec,
    /// The real-time log configuration's fields, in order (`tally_logs::REALTIME_FIELDS`): its
    /// `Fields`, and the list the real-time Lambda reads records by.
    pub realtime_fields: Vec<String>,
}

/// The archive as the local writer lays it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// Key prefix and stream name.
    pub layout: Layout,
    /// Firehose `SizeInMBs`.
    pub buffer_mib: u32,
    /// Firehose `IntervalInSeconds`.
    pub buffer_seconds: u32,
}

impl ArchiveSpec {
    /// The spec of a local archive's configuration (buffer size rounded up to whole MiB).
    pub fn from_config(config: &tally_archive::ArchiveConfig) -> Self {
        let mib = config.buffer_bytes.div_ceil(1 << 20).max(1);
        ArchiveSpec {
            layout: config.layout.clone(),
            buffer_mib: u32::try_from(mib).unwrap_or(128).min(128),
            buffer_seconds: u32::try_from(config.buffer_interval.as_secs())
                .unwrap_or(900)
                .min(900),
        }
    }

    /// Where Firehose writes records it could not deliver.
    pub fn error_prefix(&self) -> String {
        "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/".to_owned()
    }
}

/// Choices baked into the templates as parameter defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How long archived events (S3 lifecycle) and the bus archive are kept, in days.
    pub retention_days: u32,
    /// The extensions of pages (the edge configuration's `page_extensions`): one page behaviour
    /// `*.{ext}` each, in the site's distribution.
    pub page_extensions: Vec<String>,
    /// The site's host names (the distribution's aliases); they need `certificate_arn`.
    pub aliases: Vec<String>,
    /// An ACM certificate in us-east-1 for the aliases; empty: none.
    pub certificate_arn: String,
}

impl Default for Options {
    /// 400 days of retention (a year and a month, for year-on-year views), the edge's default
    /// page extensions, no aliases.
    fn default() -> Self {
        Options {
            retention_days: 400,
            page_extensions: tally_edge::config::DEFAULT_PAGE_EXTENSIONS
                .map(String::from)
                .to_vec(),
            aliases: Vec::new(),
            certificate_arn: String::new(),
        }
    }
}

/// The rendered templates.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    /// The home-region stack: bus, enrichment, archive, Athena, counters, rules, registry.
    pub pipeline: Value,
    /// The home-region real-time log producer: stream, log configuration, Lambda.
    pub realtime_logs: Value,
    /// The home-region standard-log producer: log bucket, Lambda.
    pub standard_logs: Value,
    /// The us-east-1 edge producer: the Lambda@Edge function's version.
    pub edge: Value,
    /// The us-east-1 site: the distribution, its bucket and the producers on its page behaviours.
    pub site: Value,
}

impl Templates {
    /// Every template with its name (its file is `templates/{name}.json`).
    pub fn all(&self) -> [(&'static str, &Value); 5] {
        [
            ("pipeline", &self.pipeline),
            (Producer::RealtimeLogs.name(), &self.realtime_logs),
            (Producer::StandardLogs.name(), &self.standard_logs),
            (Producer::Edge.name(), &self.edge),
            ("site", &self.site),
        ]
    }

    /// The template of `producer`.
    pub fn producer(&self, producer: Producer) -> &Value {
        match producer {
            Producer::RealtimeLogs => &self.realtime_logs,
            Producer::StandardLogs => &self.standard_logs,
            Producer::Edge => &self.edge,
        }
    }
}

/// Why the templates cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A declaration is invalid.
    #[error(transparent)]
    Declaration(#[from] tally_consumer::ContractError),
    /// A rule targets a resource the pipeline template cannot make.
    #[error(
        "consumer {consumer:?}, rule {rule:?}: target {kind} {name:?} is not defined by the pipeline template (it defines {known}); add its resource to deploy/src/pipeline.rs or use an sqs target, which is made for any name"
    )]
    UnknownTarget {
        /// The consumer.
        consumer: String,
        /// The rule.
        rule: String,
        /// `firehose` or `lambda`.
        kind: &'static str,
        /// The logical name it asked for.
        name: String,
        /// What exists of that kind.
        known: String,
    },
    /// Two rules or consumers make the same resource.
    #[error("logical id {0:?} is made twice: rename a consumer or a rule")]
    Duplicate(String),
    /// An input file is not what it should be.
    #[error("{what}: {message}")]
    Source {
        /// Which input.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Renders every template.
pub fn render(sources: &Sources, options: &Options) -> Result<Templates, DeployError> {
    if let Err(e) = tally_logs::RealtimeFields::new(&sources.realtime_fields) {
        return Err(DeployError::Source {
            what: "real-time log fields",
            message: e.to_string(),
        });
    }
    let mut templates = Templates {
        pipeline: pipeline::render(sources, options)?,
        realtime_logs: producers::realtime_logs::render(sources, options),
        standard_logs: producers::standard_logs::render(sources, options),
        edge: producers::edge::render(options),
        site: site::render(sources, options),
    };
    for template in [
        &mut templates.pipeline,
        &mut templates.realtime_logs,
        &mut templates.standard_logs,
    ] {
        cfn::cap_queue_retention(template, options.retention_days);
        cfn::cap_log_retention(template, options.retention_days);
    }
    Ok(templates)
}

/// A template as committed: pretty JSON with keys sorted (whatever serde_json's features) and a
/// final newline, exactly as the schema files are written.
pub use tally_schema::generate::to_file_text;
