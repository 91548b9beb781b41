//! [`RunReport`] → email: compose, write to the outbox, deliver over SMTP, move to `sent/`.
//! Without `[email]`, messages are written as `.eml` files under `reports/mail/`.
//!
//! Nothing is lost: a message is on disk in `reports/outbox/` before any delivery attempt and
//! leaves it only by rename, to `reports/sent/` once a server accepted it or to
//! `reports/outbox/failed/` when a server refused it permanently (5xx). Transient failures
//! (4xx, connection refused, timeout, TLS) leave it waiting; [`flush_outbox`] retries it at
//! the end of every run (its notify stage, before the run's own message) and from the daemon.
//!
//! - [`compose`]: report → message (pure).
//! - [`outbox`]: the on-disk queue.
//! - [`smtp`]: settings → checks and transport; one delivery.
//! - [`webhook`]: the same report to `[[notify.webhook]]` receivers, queued the same way.

pub mod compose;
pub mod outbox;
pub mod smtp;
pub mod webhook;

use std::fmt;
use std::path::PathBuf;

use lettre::message::Mailbox;

use crate::ids::{BaselineKey, RunId};
use crate::report::RunReport;
use crate::settings::{EmailSettings, Settings};
use crate::workspace::Paths;

pub use outbox::{Item as OutboxItem, State as OutboxState};

/// What became of a run's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The run had nothing to send (`send = "flagged"` and no new flags).
    Skipped,
    /// No `[email]`: written to `reports/mail/<run-id>.eml`.
    Written(PathBuf),
    /// Accepted by the server; now in `reports/sent/`.
    Sent {
        /// The message file in `reports/sent/`.
        path: PathBuf,
        /// Recipients.
        to: Vec<String>,
    },
    /// Not delivered yet; waiting in `reports/outbox/` for the next attempt.
    Queued {
        /// The message file in `reports/outbox/`.
        path: PathBuf,
        /// Why it is waiting.
        error: String,
    },
    /// Refused permanently; kept in `reports/outbox/failed/`, not retried automatically.
    Failed {
        /// The message file in `reports/outbox/failed/`.
        path: PathBuf,
        /// The server's refusal.
        error: String,
    },
}

impl fmt::Display for MailOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailOutcome::Skipped => write!(f, "none (no new flags in this run)"),
            MailOutcome::Written(p) => write!(f, "written to {} (no [email] settings)", p.display()),
            MailOutcome::Sent { path, to } => {
                write!(f, "sent to {} ({})", to.join(", "), path.display())
            }
            MailOutcome::Queued { path, error } => write!(
                f,
                "queued in {} ({error}); retried by the next run or `citewatch outbox --send`",
                path.display()
            ),
            MailOutcome::Failed { path, error } => write!(
                f,
                "refused permanently ({error}); kept in {}, see `citewatch outbox`",
                path.display()
            ),
        }
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Messages accepted by the server in this pass.
    pub delivered: usize,
    /// Messages refused permanently in this pass (moved to `outbox/failed/`).
    pub refused: usize,
    /// Messages still waiting after the pass (those another process is sending included).
    pub waiting: usize,
    /// Messages kept in `outbox/failed/` after the pass.
    pub failed: usize,
    /// Messages skipped because another process was sending them.
    pub busy: usize,
    /// What went wrong, one line per problem.
    pub errors: Vec<String>,
    /// The server did not answer (connection, TLS, deadline): the pass stopped there, and
    /// the run's own message waits for the next run instead of costing another deadline.
    pub unreachable: bool,
}

impl OutboxSummary {
    /// True when the pass had nothing to do and nothing waits.
    pub fn is_quiet(&self) -> bool {
        *self == OutboxSummary::default()
    }
}

impl fmt::Display for OutboxSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outbox: {} delivered, {} waiting, {} refused permanently",
            self.delivered, self.waiting, self.failed
        )?;
        if self.busy > 0 {
            write!(f, ", {} being sent by another process", self.busy)?;
        }
        if let Some(e) = self.errors.last() {
            write!(f, " (last error: {e})")?;
        }
        Ok(())
    }
}

fn dirs(paths: &Paths) -> outbox::Dirs {
    outbox::Dirs::new(&paths.reports())
}

/// The sender and recipients of `[email]`, or the built-in ones for `.eml` files.
fn envelope(email: Option<&EmailSettings>) -> anyhow::Result<(Mailbox, Vec<Mailbox>)> {
    let default = EmailSettings::default();
    let email = email.unwrap_or(&default);
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| anyhow::anyhow!("[email].from `{}`: {e}", email.from))?;
    let mut to = Vec::new();
    for t in &email.to {
        to.push(
            t.parse::<Mailbox>()
                .map_err(|e| anyhow::anyhow!("[email].to `{t}`: {e}"))?,
        );
    }
    if to.is_empty() {
        to.push(from.clone());
    }
    Ok((from, to))
}

/// Composes the run's message if it warrants one, writes it to `reports/outbox/` (or, without
/// `[email]`, to `reports/mail/<run-id>.eml`), then tries to deliver it. An `Err` means the
/// message could not even be written; delivery failures are [`MailOutcome::Queued`] or
/// [`MailOutcome::Failed`].
///
/// `flags` are the flags the message announces, recorded with it (see
/// [`outbox::Dirs::announcing`]).
///
/// `server_down` (the outbox pass of the same run found the server not answering, with its
/// error): the message is queued without another attempt, so a run's whole delivery is
/// bounded by one `timeout_secs`.
pub async fn deliver_report(
    paths: &Paths,
    settings: &Settings,
    report: &RunReport,
    flags: &[(BaselineKey, RunId)],
    server_down: Option<&str>,
) -> anyhow::Result<MailOutcome> {
    let email = settings.email.as_ref();
    let send = email.map(|e| e.send).unwrap_or_default();
    if !compose::wants_message(report, send) {
        return Ok(MailOutcome::Skipped);
    }
    let (from, to) = envelope(email)?;
    let message = compose::build(report, &from, &to)?;
    let bytes = message.formatted();
    let meta = outbox::Meta {
        run_id: report.run_id.clone(),
        subject: compose::subject(report),
        from: from.email.to_string(),
        to: to.iter().map(|m| m.email.to_string()).collect(),
        created_at: chrono::Utc::now(),
        attempts: 0,
        last_attempt_at: None,
        last_error: None,
        delivered_at: None,
        flags: flags.to_vec(),
        webhook: None,
    };
    let Some(email) = email else {
        return write_eml(paths, &meta, &bytes);
    };
    let dirs = dirs(paths);
    let eml = dirs.enqueue(&bytes, &meta)?;
    crate::crash_point!("outbox-queued");
    let mut item = outbox::Item {
        eml,
        meta,
        state: outbox::State::Waiting,
    };
    if let Some(down) = server_down {
        let e = format!("not tried, the server did not answer this run ({down})");
        tracing::warn!("report message queued, not sent: {e}");
        dirs.record_note(&mut item, &e)?;
        return Ok(MailOutcome::Queued {
            path: item.eml,
            error: e,
        });
    }
    let mailer = match smtp::mailer(email, &paths.root) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("report message queued, not sent: {e}");
            dirs.record_note(&mut item, &e)?;
            return Ok(MailOutcome::Queued {
                path: item.eml,
                error: e,
            });
        }
    };
    let outcome = match send_one(&dirs, &mailer, email, &mut item).await {
        Sent::Delivered(path) => MailOutcome::Sent {
            path,
            to: item.meta.to.clone(),
        },
        Sent::Waiting(f) => MailOutcome::Queued {
            path: item.eml.clone(),
            error: f.message,
        },
        Sent::Refused(path, error) => MailOutcome::Failed { path, error },
        Sent::Busy => MailOutcome::Queued {
            path: item.eml.clone(),
            error: "being sent by another process".into(),
        },
    };
    Ok(outcome)
}

/// Without `[email]`: the message written to `reports/mail/<run>.eml`, with its sidecar when
/// it announces flags.
fn write_eml(paths: &Paths, meta: &outbox::Meta, bytes: &[u8]) -> anyhow::Result<MailOutcome> {
    let name = outbox_name(&meta.run_id);
    let path = paths.reports().join("mail").join(format!("{name}.eml"));
    // The sidecar first (it counts only with its message), so a run killed after the
    // message is written does not write it again (see `outbox::announced_in`).
    if !meta.flags.is_empty() {
        crate::durable::atomic_write(&path.with_extension("json"), &serde_json::to_vec_pretty(meta)?)?;
    }
    crate::durable::atomic_write(&path, bytes)?;
    tracing::info!("report message written to {}", path.display());
    Ok(MailOutcome::Written(path))
}

fn outbox_name(run_id: &str) -> String {
    run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

enum Sent {
    Delivered(PathBuf),
    Waiting(smtp::Failure),
    Refused(PathBuf, String),
    Busy,
}

/// A failure before any server was asked: the message waits for the next pass.
fn not_tried(message: String) -> Sent {
    Sent::Waiting(smtp::Failure {
        permanent: false,
        unreachable: false,
        message,
    })
}

/// One attempt at one queued message, under its claim; the outcome is recorded on disk.
async fn send_one(
    dirs: &outbox::Dirs,
    mailer: &smtp::Mailer,
    email: &EmailSettings,
    item: &mut outbox::Item,
) -> Sent {
    let Some(_claim) = outbox::claim(&item.eml) else {
        return Sent::Busy;
    };
    // Accepted by a server before, but not moved then: move it, send nothing.
    if item.meta.delivered_at.is_some() {
        return match dirs.move_delivered(item) {
            Ok(p) => Sent::Delivered(p),
            Err(e) => not_tried(format!("delivered before, but cannot move it to sent/: {e:#}")),
        };
    }
    let bytes = match std::fs::read(&item.eml) {
        Ok(b) => b,
        Err(e) => return not_tried(format!("cannot read {}: {e}", item.eml.display())),
    };
    // Envelope as composed; a message queued without a sidecar takes today's settings.
    if item.meta.to.is_empty() {
        match envelope(Some(email)) {
            Ok((f, t)) => {
                item.meta.from = f.email.to_string();
                item.meta.to = t.iter().map(|m| m.email.to_string()).collect();
            }
            Err(e) => return not_tried(e.to_string()),
        }
    }
    let (from, to) = (item.meta.from.clone(), item.meta.to.clone());
    // Marked sent the moment the server accepts it, before QUIT: a QUIT that hangs or a
    // connection dropped after the acceptance cannot make it go out twice.
    let accepted = || {
        crate::crash_point!("smtp-accepted");
        dirs.mark_sent(item)
    };
    match mailer.send(&from, &to, &bytes, accepted).await {
        Ok(Ok(p)) => {
            tracing::info!(run_id = %item.meta.run_id, "report message delivered: {}", p.display());
            Sent::Delivered(p)
        }
        Ok(Err(e)) => delivered_not_moved(dirs, item, &e),
        Err(f) => not_delivered(dirs, item, f),
    }
}

/// Delivered but not moved: note the delivery in its sidecar, so the next pass moves it
/// without sending it again.
fn delivered_not_moved(dirs: &outbox::Dirs, item: &mut outbox::Item, e: &anyhow::Error) -> Sent {
    let noted = dirs.record_delivered(item);
    tracing::error!(
        "delivered {} but could not move it to sent/: {e:#}{}",
        item.eml.display(),
        match &noted {
            Ok(()) => "; the next delivery pass moves it without sending it again".to_owned(),
            Err(n) => format!("; nor note the delivery ({n:#}): it may be sent again"),
        }
    );
    Sent::Delivered(item.eml.clone())
}

/// Refused (5xx: moved to `failed/`) or not delivered (kept waiting, the attempt noted).
fn not_delivered(dirs: &outbox::Dirs, item: &mut outbox::Item, f: smtp::Failure) -> Sent {
    if f.permanent {
        tracing::warn!(run_id = %item.meta.run_id, "report message refused permanently: {}", f.message);
        return match dirs.mark_failed(item, &f.message) {
            Ok(p) => Sent::Refused(p, f.message),
            Err(e) => {
                tracing::warn!("cannot move {} to failed/: {e:#}", item.eml.display());
                Sent::Refused(item.eml.clone(), f.message)
            }
        };
    }
    tracing::warn!(run_id = %item.meta.run_id, "report message not delivered, kept in the outbox: {}", f.message);
    if let Err(e) = dirs.record_failure(item, &f.message) {
        tracing::warn!("cannot update {}: {e:#}", item.eml.display());
    }
    Sent::Waiting(f)
}

/// Retries every message waiting in `reports/outbox/` (not the permanently refused ones).
/// Called by every run's notify stage (before its own message) and every few minutes by the
/// daemon. Never fails: problems are
/// in the summary and the log.
pub async fn flush_outbox(paths: &Paths, settings: &Settings) -> OutboxSummary {
    flush(paths, settings, false).await
}

/// Like [`flush_outbox`], and also retries the messages in `reports/outbox/failed/`
/// (`citewatch outbox --send`: a person asked, e.g. after fixing an address).
pub async fn flush_outbox_all(paths: &Paths, settings: &Settings) -> OutboxSummary {
    flush(paths, settings, true).await
}

async fn flush(paths: &Paths, settings: &Settings, include_failed: bool) -> OutboxSummary {
    let dirs = dirs(paths);
    let mut summary = OutboxSummary::default();
    let items = match dirs.list() {
        Ok(i) => i,
        Err(e) => {
            summary.errors.push(format!("{e:#}"));
            return summary;
        }
    };
    let mut todo: Vec<outbox::Item> = items
        .into_iter()
        .filter(|i| include_failed || i.state == outbox::State::Waiting)
        .collect();
    if !todo.is_empty() {
        match &settings.email {
            None => summary.errors.push(format!(
                "no [email] settings: {} message(s) wait in {}",
                todo.len(),
                dirs.outbox.display()
            )),
            Some(email) => match smtp::mailer(email, &paths.root) {
                Err(e) => summary.errors.push(e),
                Ok(mailer) => {
                    for item in &mut todo {
                        match send_one(&dirs, &mailer, email, item).await {
                            Sent::Delivered(_) => summary.delivered += 1,
                            Sent::Refused(_, e) => {
                                summary.refused += 1;
                                summary.errors.push(e);
                            }
                            Sent::Busy => summary.busy += 1,
                            Sent::Waiting(f) => {
                                let stop = f.unreachable;
                                summary.errors.push(f.message);
                                if stop {
                                    summary.unreachable = true;
                                    break;
                                }
                            }
                        }
                    }
                }
            },
        }
    }
    (summary.waiting, summary.failed) = dirs.counts();
    if summary.delivered > 0 || !summary.errors.is_empty() {
        tracing::info!("{summary}");
    }
    summary
}

/// Everything waiting and everything refused, for `citewatch outbox` and the daemon.
pub fn list_outbox(paths: &Paths) -> anyhow::Result<Vec<OutboxItem>> {
    dirs(paths).list()
}

/// Messages waiting in the outbox: `reports/outbox/*.eml`.
pub fn outbox_size(paths: &Paths) -> usize {
    dirs(paths)
        .outbox
        .read_dir()
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}
