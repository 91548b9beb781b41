//! The report stage: the run's [`RunReport`], summarised from the statements and sources the
//! record step produced. It is written once, by [`fn@write`], after the notify stage has added
//! what became of the mail.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::ids::RunId;
use crate::report::{ArticleInfo, RunReport, SourceOutcome, SourceReport, StatementReport, Summary, Trigger};
use crate::watchlist::Article;

/// The run's report, without its mail line (see [`super::notify`]).
pub(super) fn build(
    (run_id, trigger, started_at): (RunId, Trigger, DateTime<Utc>),
    articles: &[&Article],
    statements: Vec<StatementReport>,
    sources: Vec<SourceReport>,
) -> RunReport {
    let summary = Summary {
        statements: statements.len(),
        flagged: statements.iter().filter(|s| s.flagged).count(),
        new_flags: statements.iter().filter(|s| s.new).count(),
        sources: sources.len(),
        sources_changed: sources
            .iter()
            .filter(|s| s.outcome == SourceOutcome::Changed)
            .count(),
        sources_failed: sources
            .iter()
            .filter(|s| s.outcome == SourceOutcome::Error)
            .count(),
    };
    RunReport {
        run_id: run_id.0,
        trigger,
        started_at,
        finished_at: Utc::now(),
        summary,
        statements,
        sources,
        articles: articles
            .iter()
            .map(|a| ArticleInfo {
                id: a.id.to_string(),
                title: a.title.clone(),
            })
            .collect(),
        mail: None,
        page: None,
        seq: None,
        view: Default::default(),
    }
}

/// Writes `reports/<run id>/report.{json,md,html}`, once.
pub(super) fn write(report: &RunReport, reports_dir: &Path) -> anyhow::Result<()> {
    report.write(reports_dir)?;
    Ok(())
}
