//! The text of `tally status --aws`.

use std::fmt::Write;

use super::{Counts, Status, WINDOW_S};

/// Rows as left-aligned columns, each line indented by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or_default();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or_default()
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    out
}

/// A count, or `-` without a data point.
fn count(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

fn stacks(status: &Status) -> String {
    let deployed = status.stacks.iter().filter(|s| s.status.is_some()).count();
    let mut rows = vec![vec![
        "stack".into(),
        "region".into(),
        "status".into(),
        "updated".into(),
    ]];
    for s in &status.stacks {
        rows.push(vec![
            s.name.clone(),
            s.region.clone(),
            s.status.clone().unwrap_or_else(|| "not deployed".into()),
            s.updated.clone().unwrap_or_default(),
        ]);
    }
    format!(
        "stacks: {deployed} of {} deployed\n{}",
        status.stacks.len(),
        table(&rows)
    )
}

fn counts(status: &Status) -> String {
    let mut rows = vec![vec![
        "function".into(),
        "region".into(),
        "views".into(),
        "skipped".into(),
        "failed".into(),
    ]];
    let row = |c: &Counts| {
        vec![
            c.function.clone(),
            c.region.clone(),
            count(c.views),
            count(c.skipped),
            count(c.failed),
        ]
    };
    rows.extend(status.counts.iter().map(row));
    let mut out = format!(
        "last {} minutes (CloudWatch sums; -: no data)\n{}",
        WINDOW_S / 60,
        table(&rows)
    );
    if let Some(e) = &status.executions {
        let _ = writeln!(
            out,
            "  enrichment: {} started, {} succeeded, {} failed",
            count(e.started),
            count(e.succeeded),
            count(e.failed)
        );
    }
    out
}

fn queues(status: &Status) -> String {
    let mut rows = vec![vec![
        "queue".into(),
        "kind".into(),
        "messages".into(),
        "in flight".into(),
    ]];
    for q in &status.queues {
        let kind = if q.work_queue { "work" } else { "failures" };
        rows.push(vec![
            q.name.clone(),
            kind.into(),
            q.messages.to_string(),
            q.in_flight.to_string(),
        ]);
    }
    format!("queues: {}\n{}", status.queues.len(), table(&rows))
}

fn alarms(status: &Status) -> String {
    let state = |s: &str| status.alarms.iter().filter(|a| a.state == s).count();
    let mut out = format!(
        "alarms: {}, {} OK, {} in ALARM, {} INSUFFICIENT_DATA\n",
        status.alarms.len(),
        state("OK"),
        state("ALARM"),
        state("INSUFFICIENT_DATA")
    );
    let rows: Vec<Vec<String>> = status
        .alarms
        .iter()
        .filter(|a| a.state != "OK")
        .map(|a| {
            vec![
                a.state.clone(),
                a.name.clone(),
                a.region.clone(),
                a.description.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&rows));
    out
}

/// The whole screen.
pub(crate) fn render(status: &Status) -> String {
    let problems = status.problems();
    let verdict = if problems.is_empty() {
        "all well: no alarm firing, no failure queue holding messages, no failed stack\n".to_owned()
    } else {
        let lines: Vec<Vec<String>> = problems.into_iter().map(|p| vec![p]).collect();
        format!("needs looking at:\n{}", table(&lines))
    };
    format!(
        "tally status of the stacks {prefix}*\n\n{}\n{}\n{}\n{}\n{verdict}",
        stacks(status),
        counts(status),
        queues(status),
        alarms(status),
        prefix = status.prefix,
    )
}
