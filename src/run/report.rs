//! The report stage: the run's [`RunReport`], summarised from the statements and sources the
//! record step produced. It is written once, by [`fn@write`], after the notify stage has added
//! what became of the mail.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::ids::RunId;
use crate::report::rows::RowsWriter;
use crate::report::{ArticleInfo, RunReport, Trigger};

/// The run's report, without its mail line (see [`super::notify`]): its counts and what it
/// shows on its own in memory, every statement and source in `rows`.
pub(super) fn build(
    (run_id, trigger, started_at): (RunId, Trigger, DateTime<Utc>),
    articles: Vec<ArticleInfo>,
    rows: RowsWriter,
) -> anyhow::Result<RunReport> {
    let rows = rows.finish()?;
    let kept = rows.kept();
    if let Some(e) = rows.error() {
        anyhow::bail!(e);
    }
    Ok(RunReport {
        run_id: run_id.0,
        trigger,
        started_at,
        finished_at: Utc::now(),
        summary: kept.summary,
        statements: kept.statements,
        sources: kept.sources,
        articles,
        mail: None,
        page: None,
        seq: None,
        view: Default::default(),
        rows: Some(rows),
    })
}

/// Writes `reports/<run id>/report.{json,md,html}`, once; then sweeps the temp files runs
/// killed mid-write left under `reports/` (see [`sweep_leftovers`]).
pub(super) fn write(report: &RunReport, reports_dir: &Path) -> anyhow::Result<()> {
    report.write(reports_dir)?;
    sweep_leftovers(reports_dir);
    Ok(())
}

/// How old a temp file must be before a sweep takes it: far longer than any write takes, so
/// a write in progress by another worker on the same folder is never taken.
const SWEEP_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The most recent run folders a sweep looks into: a run killed mid-write is followed by the
/// next run, whatever the time between them, so older folders have been swept before.
const SWEEP_RUNS: usize = 32;

/// Removes the `.tmp-*` files that runs killed while writing left under `reports_dir`: in
/// the folders of the last [`SWEEP_RUNS`] runs, in `reports/` itself and in its other
/// folders (the outbox and its `failed/`, `sent/`, `mail/`) and their sub-folders.
fn sweep_leftovers(reports_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(reports_dir) else {
        return;
    };
    let (mut runs, mut dirs) = (Vec::new(), vec![reports_dir.to_path_buf()]);
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name()
            .to_string_lossy()
            .starts_with(|c: char| c.is_ascii_digit())
        {
            runs.push(e.path());
            continue;
        }
        if let Ok(sub) = std::fs::read_dir(e.path()) {
            dirs.extend(
                sub.flatten()
                    .filter(|s| s.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|s| s.path()),
            );
        }
        dirs.push(e.path());
    }
    runs.sort_unstable();
    dirs.extend(runs.into_iter().rev().take(SWEEP_RUNS));
    let removed: usize = dirs
        .iter()
        .map(|d| crate::durable::sweep_temp_files(d, SWEEP_AGE))
        .sum();
    if removed > 0 {
        tracing::info!(
            "removed {removed} temp files left under {} by writes that were cut off",
            reports_dir.display()
        );
    }
}
