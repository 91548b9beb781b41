//! The notify stage, the last of a run: deliver the messages earlier runs left in the outbox,
//! then this run's message (if it warrants one), and say what became of both in one line for
//! the report. A mail problem never fails the run.

use crate::report::RunReport;
use crate::workspace::Context;

/// Flushes the outbox, delivers `report`'s message, and returns the report's mail line.
pub(super) async fn notify(ctx: &Context, report: &RunReport) -> String {
    // Messages of earlier runs first, so the desk reads them in the order the runs happened.
    let flushed = crate::notify::flush_outbox(&ctx.paths, &ctx.settings).await;
    let mail = match crate::notify::deliver_report(&ctx.paths, &ctx.settings, report).await {
        Ok(outcome) => outcome.to_string(),
        Err(e) => {
            tracing::warn!("report message not written: {e:#}");
            format!("not written: {e:#}")
        }
    };
    if flushed.is_quiet() {
        mail
    } else {
        format!("{mail}; {flushed}")
    }
}
