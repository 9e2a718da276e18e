//! Running SQL over the local archive with DataFusion.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::prelude::{JsonReadOptions, SessionContext};
use serde_json::{Map, Value};

use crate::{TABLE_NAME, arrow_schema};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// `table.json` is not a table DataFusion can read.
    #[error("table definition: {0}")]
    Table(String),
    /// There is no archive to query.
    #[error("no archive at {0}: nothing has been archived there yet")]
    NoArchive(PathBuf),
    /// A date is not `YYYY-MM-DD`.
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    Date(String),
    /// DataFusion refused or failed the query.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// The results could not be converted.
    #[error("results: {0}")]
    Results(String),
}

/// Days of `occurred_at` (UTC), both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    pub to: Option<String>,
}

impl Range {
    /// Checks both dates.
    pub fn new(from: Option<String>, to: Option<String>) -> Result<Range, QueryError> {
        for d in from.iter().chain(&to) {
            let b = d.as_bytes();
            let ok = b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
            if !ok {
                return Err(QueryError::Date(d.clone()));
            }
        }
        Ok(Range { from, to })
    }

    fn predicate(&self) -> Option<String> {
        let day = "substr(detail.occurred_at, 1, 10)";
        match (&self.from, &self.to) {
            (None, None) => None,
            (Some(f), None) => Some(format!("{day} >= '{f}'")),
            (None, Some(t)) => Some(format!("{day} <= '{t}'")),
            (Some(f), Some(t)) => Some(format!("{day} BETWEEN '{f}' AND '{t}'")),
        }
    }
}

/// A query session over one local archive.
pub struct Query {
    ctx: SessionContext,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query").finish_non_exhaustive()
    }
}

impl Query {
    /// Opens the archive under `archive` (the directory holding `events/`), limited to `range`.
    pub async fn open(archive: &Path, range: &Range) -> Result<Query, QueryError> {
        let events = archive.join("events");
        if !events.is_dir() {
            return Err(QueryError::NoArchive(archive.to_owned()));
        }
        let events = events
            .canonicalize()
            .map_err(|_| QueryError::NoArchive(archive.to_owned()))?;
        let schema = arrow_schema()?;
        let ctx = SessionContext::new();
        let partitions = ["year", "month", "day", "hour"]
            .map(|k| (k.to_owned(), DataType::Utf8))
            .to_vec();
        let options = JsonReadOptions::default()
            .schema(&schema)
            .file_extension(".gz")
            .file_compression_type(FileCompressionType::GZIP)
            .table_partition_cols(partitions);
        ctx.register_json("archive", format!("{}/", events.display()), options)
            .await?;
        let filter = range
            .predicate()
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        let select = crate::hive::select_list()?;
        ctx.sql(&format!(
            "CREATE VIEW {TABLE_NAME} AS SELECT {select}, year, month, day, hour FROM archive{filter}"
        ))
        .await?;
        Ok(Query { ctx })
    }

    /// Runs one SQL statement.
    pub async fn run(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }
}

/// The results as JSON objects, one per row (nulls omitted), in order.
pub fn to_rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>, QueryError> {
    let mut writer = ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|e| QueryError::Results(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| QueryError::Results(e.to_string()))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| QueryError::Results(e.to_string()))
}
