//! [`RunReport`] → email: compose, write to the outbox, deliver over SMTP, move to `sent/`.
//! Without `[email]`, messages are written as `.eml` files under `reports/mail/`.
//!
//! Nothing is lost: a message is on disk in `reports/outbox/` before any delivery attempt and
//! leaves it only by rename, to `reports/sent/` once a server accepted it or to
//! `reports/outbox/failed/` when a server refused it permanently (5xx). Transient failures
//! (4xx, connection refused, timeout, TLS) leave it waiting; [`flush_outbox`] retries it at
//! the start of every run and from the daemon.
//!
//! - [`compose`]: report → message (pure).
//! - [`outbox`]: the on-disk queue.
//! - [`smtp`]: settings → transport; one delivery.

pub mod compose;
pub mod outbox;
pub mod smtp;

use std::fmt;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;

use crate::error::Diagnostic;
use crate::report::RunReport;
use crate::run::Paths;
use crate::settings::{EmailSettings, Settings};

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
    /// Messages still waiting after the pass.
    pub waiting: usize,
    /// Messages kept in `outbox/failed/` after the pass.
    pub failed: usize,
    /// Messages skipped because another process was sending them.
    pub busy: usize,
    /// What went wrong, one line per problem.
    pub errors: Vec<String>,
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
pub async fn deliver_report(
    paths: &Paths,
    settings: &Settings,
    report: &RunReport,
) -> anyhow::Result<MailOutcome> {
    let email = settings.email.as_ref();
    let send = email.map(|e| e.send).unwrap_or_default();
    if !compose::wants_message(report, send) {
        return Ok(MailOutcome::Skipped);
    }
    let (from, to) = envelope(email)?;
    let message = compose::build(report, &from, &to)?;
    let bytes = message.formatted();
    let Some(email) = email else {
        let name = outbox_name(&report.run_id);
        let path = paths.reports().join("mail").join(format!("{name}.eml"));
        crate::snapshot::atomic_write(&path, &bytes)?;
        tracing::info!("report message written to {}", path.display());
        return Ok(MailOutcome::Written(path));
    };
    let dirs = dirs(paths);
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
    };
    let eml = dirs.enqueue(&bytes, &meta)?;
    let mut item = outbox::Item {
        eml,
        meta,
        state: outbox::State::Waiting,
    };
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
    mailer.close().await;
    Ok(outcome)
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
    let bytes = match std::fs::read(&item.eml) {
        Ok(b) => b,
        Err(e) => {
            return Sent::Waiting(smtp::Failure {
                permanent: false,
                unreachable: false,
                message: format!("cannot read {}: {e}", item.eml.display()),
            });
        }
    };
    // Envelope as composed; a message queued without a sidecar takes today's settings.
    let (from, to) = if item.meta.to.is_empty() {
        match envelope(Some(email)) {
            Ok((f, t)) => (
                f.email.to_string(),
                t.iter().map(|m| m.email.to_string()).collect(),
            ),
            Err(e) => {
                return Sent::Waiting(smtp::Failure {
                    permanent: false,
                    unreachable: false,
                    message: e.to_string(),
                });
            }
        }
    } else {
        (item.meta.from.clone(), item.meta.to.clone())
    };
    item.meta.from.clone_from(&from);
    item.meta.to.clone_from(&to);
    match mailer.send(&from, &to, &bytes).await {
        Ok(()) => match dirs.mark_sent(item) {
            Ok(p) => {
                tracing::info!(run_id = %item.meta.run_id, "report message delivered: {}", p.display());
                Sent::Delivered(p)
            }
            Err(e) => {
                // Delivered but not moved: it would be sent again; say so loudly.
                tracing::error!(
                    "delivered {} but could not move it to sent/: {e:#}",
                    item.eml.display()
                );
                Sent::Delivered(item.eml.clone())
            }
        },
        Err(f) if f.permanent => {
            tracing::warn!(run_id = %item.meta.run_id, "report message refused permanently: {}", f.message);
            match dirs.mark_failed(item, &f.message) {
                Ok(p) => Sent::Refused(p, f.message),
                Err(e) => {
                    tracing::warn!("cannot move {} to failed/: {e:#}", item.eml.display());
                    Sent::Refused(item.eml.clone(), f.message)
                }
            }
        }
        Err(f) => {
            tracing::warn!(run_id = %item.meta.run_id, "report message not delivered, kept in the outbox: {}", f.message);
            if let Err(e) = dirs.record_failure(item, &f.message) {
                tracing::warn!("cannot update {}: {e:#}", item.eml.display());
            }
            Sent::Waiting(f)
        }
    }
}

/// Retries every message waiting in `reports/outbox/` (not the permanently refused ones).
/// Called first by every run and every few minutes by the daemon. Never fails: problems are
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
                                    break;
                                }
                            }
                        }
                    }
                    mailer.close().await;
                }
            },
        }
    }
    if let Ok(left) = dirs.list() {
        summary.waiting = left
            .iter()
            .filter(|i| i.state == outbox::State::Waiting)
            .count()
            .saturating_sub(summary.busy);
        summary.failed = left.iter().filter(|i| i.state == outbox::State::Failed).count();
    }
    if summary.delivered > 0 || !summary.errors.is_empty() {
        tracing::info!("{summary}");
    }
    summary
}

/// Everything waiting and everything refused, for `citewatch outbox` and the daemon.
pub fn list_outbox(paths: &Paths) -> anyhow::Result<Vec<OutboxItem>> {
    dirs(paths).list()
}

/// The line of `key` inside the `[table]` of a settings text.
fn line_in_table(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(h) = t.strip_prefix('[') {
            current = h.trim_end_matches(']').trim().to_owned();
            continue;
        }
        if current == table
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(i + 1);
        }
    }
    None
}

/// Checks `[email]` settings; messages name the key and its line. Never opens a socket or
/// reads the CA file; an unset `password_env` variable is a warning (it may be set where the
/// daemon runs).
pub fn validate_email_settings(email: &EmailSettings, path: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let at = |key: &str| line_in_table(text, "email", key).or_else(|| crate::error::find_key_line(text, key));
    let table = line_in_table(text, "email", "smtp_url")
        .or_else(|| text.lines().position(|l| l.trim() == "[email]").map(|i| i + 1));
    if email.to.is_empty() {
        out.push(Diagnostic::error(
            path,
            at("to").or(table),
            "[email].to: give at least one recipient",
        ));
    }
    for t in &email.to {
        if let Err(e) = t.parse::<Mailbox>() {
            out.push(Diagnostic::error(
                path,
                at("to"),
                format!("[email].to: `{t}` is not an address ({e})"),
            ));
        }
    }
    if let Err(e) = email.from.parse::<Mailbox>() {
        out.push(Diagnostic::error(
            path,
            at("from").or(table),
            format!("[email].from: `{}` is not an address ({e})", email.from),
        ));
    }
    let url = match smtp::parse_url(&email.smtp_url) {
        Ok(u) => Some(u),
        Err(e) => {
            out.push(Diagnostic::error(
                path,
                at("smtp_url").or(table),
                format!("[email].smtp_url: {e}"),
            ));
            None
        }
    };
    if let Some(u) = &url {
        if u.has_password {
            out.push(Diagnostic::warning(
                path,
                at("smtp_url"),
                "[email].smtp_url carries a password: prefer `password_env`",
            ));
        }
        let has_user = email.username.is_some() || u.username.is_some();
        match &email.password_env {
            Some(var) => {
                if !has_user {
                    out.push(Diagnostic::error(
                        path,
                        at("password_env"),
                        "[email].password_env is set but there is no username: add `username` or put it in smtp_url",
                    ));
                }
                if var.is_empty() {
                    out.push(Diagnostic::error(
                        path,
                        at("password_env"),
                        "[email].password_env: name an environment variable",
                    ));
                } else if std::env::var_os(var).is_none() {
                    out.push(Diagnostic::warning(
                        path,
                        at("password_env"),
                        format!("[email].password_env: the environment variable `{var}` is not set here"),
                    ));
                }
            }
            None if has_user && !u.has_password => {
                out.push(Diagnostic::error(
                    path,
                    at("username").or(at("smtp_url")),
                    "[email].username needs a password: set `password_env` to the name of the environment variable holding it",
                ));
            }
            None => {}
        }
        if email.ca_file.is_some() && u.tls == smtp::TlsMode::None {
            out.push(Diagnostic::warning(
                path,
                at("ca_file"),
                "[email].ca_file is unused with plain smtp://: add `?tls=required` or use smtps://",
            ));
        }
    }
    if email.timeout_secs == 0 {
        out.push(Diagnostic::error(
            path,
            at("timeout_secs"),
            "[email].timeout_secs must be at least 1",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Diagnostic> {
        let s: Settings = toml::from_str(text).expect("toml");
        s.validate(Path::new("citewatch.toml"), text)
    }

    #[test]
    fn good_settings_parse() {
        let text = "[email]\nsmtp_url = \"smtp://127.0.0.1:2525?tls=required\"\nfrom = \"citewatch <cw@example.org>\"\nto = [\"desk@example.org\"]\nsend = \"always\"\n";
        let s = Settings::parse(Path::new("citewatch.toml"), text).expect("valid");
        let e = s.email.unwrap();
        assert_eq!(e.send, crate::settings::SendWhen::Always);
        assert_eq!(e.to, vec!["desk@example.org".to_owned()]);
    }

    #[test]
    fn missing_recipient_names_line() {
        let text = "[fetch]\nretries = 1\n\n[email]\nsmtp_url = \"smtp://127.0.0.1:25\"\n";
        let errs = Settings::parse(Path::new("citewatch.toml"), text).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(5));
        assert!(
            errs[0].to_string().starts_with("citewatch.toml:5: [email].to"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn malformed_address_and_url_are_errors_with_lines() {
        let text = "[email]\nsmtp_url = \"htp://mail\"\nfrom = \"not an address\"\nto = [\"desk@example.org\", \"nobody\"]\n";
        let errs = Settings::parse(Path::new("c.toml"), text).unwrap_err();
        let lines: Vec<_> = errs.iter().map(|d| (d.line, d.message.clone())).collect();
        assert!(
            lines.iter().any(|(l, m)| *l == Some(2) && m.contains("smtp_url")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, m)| *l == Some(3) && m.contains("from")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, m)| *l == Some(4) && m.contains("`nobody`")),
            "{lines:?}"
        );
    }

    #[test]
    fn timeout_line_is_found_in_the_email_table() {
        let text = "[fetch]\ntimeout_secs = 5\n[email]\nto = [\"d@example.org\"]\ntimeout_secs = 0\n";
        let p = problems(text);
        assert!(p.iter().any(|d| d.line == Some(5) && d.is_error()), "{p:?}");
    }

    #[test]
    fn credentials_rules() {
        let unset = "CITEWATCH_TEST_SURELY_UNSET_VAR";
        let text = format!(
            "[email]\nsmtp_url = \"smtps://mail.example.org\"\nto = [\"d@example.org\"]\nusername = \"u\"\npassword_env = \"{unset}\"\n"
        );
        let p = problems(&text);
        assert!(p.iter().all(|d| !d.is_error()), "{p:?}");
        assert!(
            p.iter().any(|d| d.line == Some(5) && d.message.contains(unset)),
            "{p:?}"
        );
        let text = "[email]\nto = [\"d@example.org\"]\nusername = \"u\"\n";
        assert!(problems(text).iter().any(|d| d.is_error() && d.line == Some(3)));
        let text = "[email]\nto = [\"d@example.org\"]\npassword_env = \"HOME\"\n";
        assert!(
            problems(text)
                .iter()
                .any(|d| d.is_error() && d.message.contains("no username"))
        );
        let text = "[email]\nsmtp_url = \"smtps://user@mail.example.org\"\nto = [\"d@example.org\"]\n";
        assert!(problems(text).iter().any(|d| d.is_error() && d.line == Some(2)));
        let text = "[email]\nsmtp_url = \"smtp://127.0.0.1:25?tls=sometimes\"\nto = [\"d@example.org\"]\n";
        assert!(problems(text).iter().any(|d| d.is_error() && d.line == Some(2)));
    }
}
