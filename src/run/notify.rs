//! The notify stage, the last of a run: deliver the messages earlier runs left in the outbox,
//! then this run's message (if it warrants one), and say what became of both in one line for
//! the report. A mail problem never fails the run.

use crate::ids::{BaselineKey, RunId};
use crate::report::RunReport;
use crate::snapshot::Index;
use crate::workspace::Context;

/// Flushes the outbox, delivers `report`'s message, and returns the report's mail line and
/// whether the message is durably kept (sent, queued in the outbox, kept after a permanent
/// refusal for `outbox --send`, or written as `.eml`): only then are the run's flags
/// announced.
pub(super) async fn notify(
    ctx: &Context,
    report: &RunReport,
    flags: &[(BaselineKey, RunId)],
) -> (String, bool) {
    use crate::notify::MailOutcome;
    // Messages of earlier runs first, so the desk reads them in the order the runs happened.
    let flushed = crate::notify::flush_outbox(&ctx.paths, &ctx.settings).await;
    // A server that did not answer the retries is not asked again this run: one deadline.
    let down = flushed
        .unreachable
        .then(|| flushed.errors.last().cloned().unwrap_or_default());
    let hooks = !ctx.settings.notify.webhook.is_empty() || crate::notify::webhook::queue_size(&ctx.paths) > 0;
    let hooks_flushed = crate::notify::webhook::flush(&ctx.paths, &ctx.settings, false).await;
    // The webhook messages are queued before the mail: a mail on disk that records its flags
    // (what a later run trusts to mark them announced) implies theirs are on disk too. When
    // one cannot be written, the mail goes out without recording them, and the flags stay new.
    let (queued, hooks_kept) = match crate::notify::webhook::queue(&ctx.paths, &ctx.settings, report, flags) {
        Ok(q) => (q, true),
        Err(e) => {
            tracing::warn!("{e:#}; the run's new flags stay new for the next run");
            (Vec::new(), false)
        }
    };
    let mail_flags = if hooks_kept { flags } else { &[] };
    let delivered =
        crate::notify::deliver_report(&ctx.paths, &ctx.settings, report, mail_flags, down.as_deref()).await;
    let hooks_now =
        crate::notify::webhook::deliver(&ctx.paths, &ctx.settings, queued, &hooks_flushed.down).await;
    let (mail, kept) = match delivered {
        Ok(outcome) => {
            let kept = matches!(
                outcome,
                MailOutcome::Written(_)
                    | MailOutcome::Sent { .. }
                    | MailOutcome::Queued { .. }
                    | MailOutcome::Failed { .. }
            );
            (outcome.to_string(), kept)
        }
        Err(e) => {
            tracing::warn!("report message not written: {e:#}; its new flags stay new for the next run");
            (format!("not written: {e:#}"), false)
        }
    };
    let kept = kept && hooks_kept;
    let mut line = mail;
    if !flushed.is_quiet() {
        line = format!("{line}; {flushed}");
    }
    if hooks {
        let mut s = hooks_now;
        s.delivered += hooks_flushed.delivered;
        if s.errors.is_empty() {
            s.errors = hooks_flushed.errors;
        }
        line = format!("{line}; {s}");
    }
    (line, kept)
}

/// Marks announced, in `index`, the flags not marked so whose message is on disk already (in
/// the outbox, or sent): the process that queued it died before marking them, and mailing
/// them again would send the desk the same alert twice. Reads only when some flag of `index`
/// is unannounced, and of `sent/` only the messages of runs since the oldest such flag.
pub(super) fn settle_announced(ctx: &Context, index: &mut Index) {
    let Some(since) = index
        .baselines
        .values()
        .filter_map(|b| b.flag.as_ref().filter(|f| !f.announced))
        .map(|f| f.since_run.clone())
        .min()
    else {
        return;
    };
    let reports = ctx.paths.reports();
    let queued = crate::notify::outbox::Dirs::new(&reports)
        .announcing(&since)
        .and_then(|mut q| {
            q.extend(crate::notify::outbox::announced_in(
                &reports.join("mail"),
                "eml",
                &since,
            )?);
            Ok(q)
        });
    let queued = match queued {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!("cannot read the outbox for messages already queued: {e:#}");
            return;
        }
    };
    for (key, run) in queued {
        if let Some(f) = index.baselines.get_mut(&key).and_then(|b| b.flag.as_mut())
            && f.since_run == run
            && !f.announced
        {
            tracing::info!(baseline = %key, "flag announced by a message queued before: not mailed again");
            f.announced = true;
        }
    }
}
