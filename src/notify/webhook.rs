//! [`RunReport`] → `[[notify.webhook]]`: the report JSON or a Slack-compatible message,
//! POSTed to each webhook, queued and retried like the mail.
//!
//! A message is on disk in `reports/outbox/webhooks/` (`<run-id>-<n>.body`, the bytes POSTed,
//! with a sidecar naming the target) before any attempt, and leaves it by rename: to
//! `reports/sent/webhooks/` once the receiver answered 2xx, to `reports/outbox/webhooks/failed/`
//! when it refused for good (a 4xx other than 408 and 429, or a redirect: webhooks are not
//! redirected). No answer, a timeout, 408, 429 and 5xx leave it waiting for the next run, the
//! daemon's retries or `outbox --send`. A receiver that does not answer is not asked again in
//! the same pass, so it costs one `timeout_secs` per run. The URL and the token may stay in the
//! environment (`url_env`, `token_env`); neither is written to the queue, the log or a report.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

use super::outbox::{self, Dirs, Item, Meta, Target};
use crate::ids::{BaselineKey, RunId};
use crate::report::RunReport;
use crate::settings::{Settings, WebhookFormat, WebhookSettings};
use crate::workspace::Paths;

/// The webhook queue's folders.
pub fn dirs(paths: &Paths) -> Dirs {
    Dirs::webhooks(&paths.reports())
}

/// What one pass over the webhook queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages a receiver accepted.
    pub delivered: usize,
    /// Messages a receiver refused for good in this pass.
    pub refused: usize,
    /// Messages waiting after the pass.
    pub waiting: usize,
    /// Messages kept in `failed/` after the pass.
    pub failed: usize,
    /// What went wrong, one line per problem.
    pub errors: Vec<String>,
    /// Targets that did not answer in this pass (not asked again in it).
    pub down: BTreeSet<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "webhooks: {} delivered, {} waiting, {} refused permanently",
            self.delivered, self.waiting, self.failed
        )?;
        if let Some(e) = self.errors.last() {
            write!(f, " (last error: {e})")?;
        }
        Ok(())
    }
}

/// Which receiver a message goes to, for "not answering in this pass".
fn target_key(t: &Target) -> String {
    t.url
        .clone()
        .or_else(|| t.url_env.as_ref().map(|v| format!("${v}")))
        .unwrap_or_default()
}

/// The name a message's receiver goes by in messages: its host or its variable, never the
/// URL (it may be a secret).
fn target_name(t: &Target) -> String {
    WebhookSettings {
        url: t.url.clone(),
        url_env: t.url_env.clone(),
        ..WebhookSettings::default()
    }
    .name()
}

/// The body `hook` receives for `report`, and its content type.
pub fn body(hook: &WebhookSettings, report: &RunReport) -> anyhow::Result<(Vec<u8>, &'static str)> {
    Ok(match hook.format {
        WebhookFormat::Json => (serde_json::to_vec(report)?, "application/json"),
        WebhookFormat::Slack => (
            serde_json::to_vec(&serde_json::json!({ "text": slack_text(report) }))?,
            "application/json",
        ),
    })
}

/// Queues `report`'s message for every webhook that wants it (`send`), recording the flags
/// it announces; returns the queued messages. An `Err` means one could not be written: the
/// run's flags then stay new.
pub fn queue(
    paths: &Paths,
    settings: &Settings,
    report: &RunReport,
    flags: &[(BaselineKey, RunId)],
) -> anyhow::Result<Vec<Item>> {
    let dirs = dirs(paths);
    let run = super::outbox_name(&report.run_id);
    let mut out = Vec::new();
    for (n, hook) in settings.notify.webhook.iter().enumerate() {
        if !super::compose::wants_message(report, hook.send) {
            continue;
        }
        let (bytes, content_type) = body(hook, report)?;
        let meta = Meta {
            run_id: report.run_id.clone(),
            subject: super::compose::subject(report),
            from: String::new(),
            to: vec![hook.name()],
            created_at: chrono::Utc::now(),
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            delivered_at: None,
            flags: flags.to_vec(),
            webhook: Some(Target {
                url: hook.url.clone(),
                url_env: hook.url_env.clone(),
                token_env: hook.token_env.clone(),
                timeout_secs: hook.timeout_secs,
                content_type: content_type.to_owned(),
            }),
        };
        let eml = dirs
            .enqueue_as(&format!("{run}-{}", n + 1), &bytes, &meta)
            .map_err(|e| anyhow::anyhow!("webhook message for {} not written: {e:#}", hook.name()))?;
        out.push(Item {
            eml,
            meta,
            state: outbox::State::Waiting,
        });
    }
    crate::crash_point!("webhook-queued");
    Ok(out)
}

/// Retries every waiting webhook message (and, with `include_failed`, the refused ones).
pub async fn flush(paths: &Paths, settings: &Settings, include_failed: bool) -> Summary {
    let dirs = dirs(paths);
    let items = match dirs.list() {
        Ok(i) => i,
        Err(e) => {
            return Summary {
                errors: vec![format!("{e:#}")],
                ..Summary::default()
            };
        }
    };
    let todo: Vec<Item> = items
        .into_iter()
        .filter(|i| include_failed || i.state == outbox::State::Waiting)
        .collect();
    deliver(paths, settings, todo, &BTreeSet::new()).await
}

/// Tries each of `items` once, in order; a receiver in `down` or found not answering is not
/// asked again. The summary counts what is left in the queue afterwards.
pub async fn deliver(
    paths: &Paths,
    settings: &Settings,
    items: Vec<Item>,
    down: &BTreeSet<String>,
) -> Summary {
    let dirs = dirs(paths);
    let mut summary = Summary {
        down: down.clone(),
        ..Summary::default()
    };
    if !items.is_empty() {
        match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(settings.fetch.user_agent.clone())
            .build()
        {
            Err(e) => summary.errors.push(format!("cannot make an HTTP client: {e}")),
            Ok(client) => {
                for mut item in items {
                    send_one(&dirs, &client, &mut item, &mut summary).await;
                }
            }
        }
    }
    (summary.waiting, summary.failed) = dirs.counts();
    if summary.delivered > 0 || !summary.errors.is_empty() {
        tracing::info!("{summary}");
    }
    summary
}

enum Answer {
    Accepted,
    /// Try again later; `unreachable`: the receiver did not answer.
    Later {
        error: String,
        unreachable: bool,
    },
    Refused(String),
}

async fn send_one(dirs: &Dirs, client: &reqwest::Client, item: &mut Item, summary: &mut Summary) {
    let Some(target) = item.meta.webhook.clone() else {
        summary.errors.push(format!(
            "{}: no sidecar naming its webhook; left where it is",
            item.eml.display()
        ));
        return;
    };
    let key = target_key(&target);
    let name = target_name(&target);
    if summary.down.contains(&key) {
        let _ = dirs.record_note(item, "not tried, the receiver did not answer this pass");
        return;
    }
    let Some(_claim) = outbox::claim(&item.eml) else {
        return;
    };
    if item.meta.delivered_at.is_some() {
        if let Err(e) = dirs.move_delivered(item) {
            summary
                .errors
                .push(format!("{name}: delivered, but not moved to sent/: {e:#}"));
        }
        summary.delivered += 1;
        return;
    }
    let answer = match std::fs::read(&item.eml) {
        Err(e) => Answer::Later {
            error: format!("cannot read {}: {e}", item.eml.display()),
            unreachable: false,
        },
        Ok(bytes) => post(client, &target, bytes).await,
    };
    match answer {
        Answer::Accepted => {
            crate::crash_point!("webhook-accepted");
            match dirs.mark_sent(item) {
                Ok(p) => {
                    tracing::info!(run_id = %item.meta.run_id, "webhook message delivered to {name}: {}", p.display())
                }
                Err(e) => {
                    let _ = dirs.record_delivered(item);
                    summary
                        .errors
                        .push(format!("{name}: delivered, but not moved to sent/: {e:#}"));
                }
            }
            summary.delivered += 1;
        }
        Answer::Later { error, unreachable } => {
            let error = format!("{name}: {error}");
            tracing::warn!(run_id = %item.meta.run_id, "webhook message not delivered, kept in the queue: {error}");
            let _ = dirs.record_failure(item, &error);
            if unreachable {
                summary.down.insert(key);
            }
            summary.errors.push(error);
        }
        Answer::Refused(error) => {
            let error = format!("{name}: {error}");
            tracing::warn!(run_id = %item.meta.run_id, "webhook message refused permanently: {error}");
            if let Err(e) = dirs.mark_failed(item, &error) {
                tracing::warn!("cannot move {} to failed/: {e:#}", item.eml.display());
            }
            summary.refused += 1;
            summary.errors.push(error);
        }
    }
}

fn env(var: &str) -> Result<String, Answer> {
    std::env::var(var).map_err(|_| Answer::Later {
        error: format!("${var} is not set"),
        unreachable: false,
    })
}

async fn post(client: &reqwest::Client, target: &Target, bytes: Vec<u8>) -> Answer {
    let url = match (&target.url, &target.url_env) {
        (Some(u), _) => u.clone(),
        (None, Some(v)) => match env(v) {
            Ok(u) => u,
            Err(a) => return a,
        },
        (None, None) => return Answer::Refused("no URL".into()),
    };
    if let Err(e) = crate::settings::notify::check_url(&url) {
        return Answer::Refused(format!("the URL {e}"));
    }
    let mut req = client
        .post(&url)
        .timeout(Duration::from_secs(target.timeout_secs.max(1)))
        .header(reqwest::header::CONTENT_TYPE, &target.content_type)
        .body(bytes);
    if let Some(var) = &target.token_env {
        match env(var) {
            Ok(t) => req = req.bearer_auth(t),
            Err(a) => return a,
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let unreachable = e.is_timeout() || e.is_connect();
            // reqwest names the URL in its errors; the URL may be a secret.
            let e = e.without_url();
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let _ = write!(msg, ": {s}");
                src = s.source();
            }
            return Answer::Later {
                error: if e.is_timeout() {
                    format!("no answer within {} s", target.timeout_secs)
                } else {
                    msg
                },
                unreachable,
            };
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Answer::Accepted;
    }
    let text: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let said = if text.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", text.trim())
    };
    match status.as_u16() {
        408 | 429 | 500..=599 => Answer::Later {
            error: format!("HTTP {status}{said}"),
            unreachable: false,
        },
        300..=399 => Answer::Refused(format!(
            "HTTP {status}: webhooks are not redirected; give the address it redirects to"
        )),
        _ => Answer::Refused(format!("HTTP {status}{said}")),
    }
}

/// Messages waiting in the webhook queue.
pub fn queue_size(paths: &Paths) -> usize {
    dirs(paths).counts().0
}

/// Slack's mrkdwn escapes: `&`, `<`, `>` (so no source text can mention `@channel` or make
/// a link), control characters dropped.
fn slack_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A link `<url|label>`, only for http(s) URLs (the characters that would end it encoded).
fn slack_link(url: &str, label: &str) -> String {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return slack_escape(label);
    }
    let url: String = url
        .chars()
        .map(|c| match c {
            '|' => "%7C".to_owned(),
            '<' => "%3C".to_owned(),
            '>' => "%3E".to_owned(),
            ' ' => "%20".to_owned(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect();
    format!("<{url}|{}>", slack_escape(label))
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// The most flagged statements a Slack message lists.
const SLACK_LISTED: usize = 10;

/// The Slack-compatible message: what needs re-check, each statement with its verdict and the
/// before and after of its passages, the report's link when `[control] public_url` is set.
pub fn slack_text(report: &RunReport) -> String {
    let s = &report.summary;
    let flagged = report.flagged();
    let mut out = String::new();
    let _ = write!(out, "*{}*", slack_escape(&super::compose::subject(report)));
    let _ = writeln!(
        out,
        "\n{} new, {} outstanding; {} statements checked against {} sources ({} changed, {} failed).",
        s.new_flags,
        s.flagged - s.new_flags.min(s.flagged),
        s.statements,
        s.sources,
        s.sources_changed,
        s.sources_failed
    );
    for st in flagged.iter().take(SLACK_LISTED) {
        let _ = writeln!(
            out,
            "\n• *{}*{}: “{}”\n   {}",
            slack_escape(report.title_of(&st.article)),
            if st.new { " (new)" } else { "" },
            slack_escape(&clip(&st.text, 300)),
            st.status.label()
        );
        for e in st.evidence.iter().filter(|e| e.status.flagged()) {
            let _ = write!(
                out,
                "   {} {}",
                slack_link(&e.url, &format!("[{}]", e.cite)),
                e.status.label()
            );
            match (&e.before, &e.after) {
                (Some(b), Some(a)) if b != a => {
                    let _ = write!(
                        out,
                        "\n      before: {}\n      after: {}",
                        slack_escape(&clip(b, 300)),
                        slack_escape(&clip(a, 300))
                    );
                }
                (Some(b), None) => {
                    let _ = write!(out, "\n      before: {}", slack_escape(&clip(b, 300)));
                }
                _ => {}
            }
            out.push('\n');
        }
    }
    if flagged.len() > SLACK_LISTED {
        let _ = writeln!(out, "\n…and {} more in the report.", flagged.len() - SLACK_LISTED);
    }
    let _ = write!(out, "\nRun {}", slack_escape(&report.run_id));
    if let Some(u) = report.view.report_url(&report.run_id) {
        let _ = write!(out, ": {}", slack_link(&u, "full report"));
    }
    out
}

/// The messages in the webhook queue, for `citewatch outbox`.
pub fn list(paths: &Paths) -> anyhow::Result<Vec<Item>> {
    dirs(paths).list()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_cannot_mention_or_link_from_source_text() {
        assert_eq!(
            slack_escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
        assert_eq!(
            slack_link("https://e.org/a|b>c d", "[1]"),
            "<https://e.org/a%7Cb%3Ec%20d|[1]>"
        );
        assert_eq!(slack_link("javascript:alert(1)", "[1]"), "[1]");
    }
}
