//! `tally query`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;
use tally_athena::{Query, Range, named_queries, named_query, to_rows};

/// `tally query (SQL | --named NAME) [--data DIR] [--from DATE --to DATE] [--format F]`
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL over the table `page_views` (omit with --named).
    sql: Option<String>,
    /// Run a named query (consumers/athena/queries/NAME.sql).
    #[arg(long, conflicts_with = "sql")]
    named: Option<String>,
    /// The data directory `tally serve` writes (the archive is DATA/archive).
    #[arg(long, default_value = "tally-data")]
    data: PathBuf,
    /// First day of occurred_at (UTC), YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last day of occurred_at (UTC), YYYY-MM-DD, included.
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Runs `tally query`.
pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let sql = match (&args.sql, &args.named) {
        (Some(sql), None) => sql.clone(),
        (None, Some(name)) => match named_query(name) {
            Some(q) => q.sql.to_owned(),
            None => {
                let names: Vec<&str> = named_queries().iter().map(|q| q.name).collect();
                bail!("no named query {name:?}; there are: {}", names.join(", "));
            }
        },
        _ => bail!("give SQL or --named NAME"),
    };
    let range = Range::new(args.from, args.to)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let archive = args.data.join("archive");
    let batches = rt.block_on(async {
        let query = Query::open(&archive, &range).await?;
        query.run(&sql).await
    })?;
    let columns: Vec<String> = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let rows = to_rows(&batches).context("cannot convert the results")?;
    let cell = |row: &serde_json::Map<String, Value>, c: &str| match row.get(c) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => {
            println!(
                "{}",
                columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for row in &rows {
                let line: Vec<String> = columns.iter().map(|c| csv_field(&cell(row, c))).collect();
                println!("{}", line.join(","));
            }
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| columns.iter().map(|c| cell(r, c)).collect())
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([c.chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |values: &[String]| {
                values
                    .iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            println!("{}", line(&columns));
            println!(
                "{}",
                line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>())
            );
            for r in &cells {
                println!("{}", line(r));
            }
            eprintln!("{} row(s)", rows.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
