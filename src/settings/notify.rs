//! `[notify]`: channels besides the mail. `[[notify.webhook]]` tables, each a URL the run's
//! report is POSTed to (the report JSON, or a Slack-compatible message), queued and retried
//! like the mail.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SendWhen;
use crate::error::Diagnostic;

/// Default limit on one webhook request, seconds.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECS: u64 = 10;
/// Longest `timeout_secs` of a webhook.
pub const MAX_WEBHOOK_TIMEOUT_SECS: u64 = 600;
/// Most webhooks.
pub const MAX_WEBHOOKS: usize = 32;

/// `[notify]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// `[[notify.webhook]]`: every URL a run's report is POSTed to.
    pub webhook: Vec<WebhookSettings>,
}

/// What a webhook receives.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The run's report, as `report.json` holds it (`Content-Type: application/json`).
    #[default]
    Json,
    /// A Slack-compatible incoming-webhook message: `{"text": …}` in Slack's mrkdwn (also
    /// read by Mattermost, Rocket.Chat and Discord's `/slack` endpoints).
    Slack,
}

/// `[[notify.webhook]]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The http(s) URL to POST to.
    pub url: Option<String>,
    /// The environment variable holding the URL instead (a Slack webhook URL is a secret).
    pub url_env: Option<String>,
    /// `json` (default) or `slack`.
    pub format: WebhookFormat,
    /// The environment variable holding a bearer token, sent as `Authorization: Bearer …`.
    pub token_env: Option<String>,
    /// `flagged` (default: runs with new flags) or `always`.
    pub send: SendWhen,
    /// Limit on one request, seconds.
    pub timeout_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            format: WebhookFormat::default(),
            token_env: None,
            send: SendWhen::default(),
            timeout_secs: DEFAULT_WEBHOOK_TIMEOUT_SECS,
        }
    }
}

impl WebhookSettings {
    /// How the webhook is named in messages and logs: its URL's host (never the URL, which
    /// may hold a secret), or the variable it is read from.
    pub fn name(&self) -> String {
        match (&self.url, &self.url_env) {
            (Some(u), _) => url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "an invalid URL".to_owned()),
            (None, Some(v)) => format!("${v}"),
            (None, None) => "no URL".to_owned(),
        }
    }
}

/// An http(s) URL with a host.
pub fn check_url(u: &str) -> Result<url::Url, String> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(p),
        Ok(_) => Err("is not an http(s) URL".to_owned()),
        Err(e) => Err(format!("is not a URL ({e})")),
    }
}

fn env_name_ok(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The line of `key` in the `n`-th `[[notify.webhook]]` table, or of the table itself.
fn line_of(text: &str, n: usize, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let toml::de::DeValue::Table(notify) = doc.get_ref().get("notify")?.get_ref() else {
        return None;
    };
    let hooks = notify.get("webhook")?;
    let toml::de::DeValue::Array(items) = hooks.get_ref() else {
        return Some(crate::error::line_col(text, hooks.span().start).0);
    };
    let item = items.get(n)?;
    let at = match item.get_ref() {
        toml::de::DeValue::Table(t) => t.get(key).map_or(item.span().start, |v| v.span().start),
        _ => item.span().start,
    };
    Some(crate::error::line_col(text, at).0)
}

/// Checks every `[[notify.webhook]]`: one URL each (given or from a variable name), a
/// timeout in range, variable names that can be variables; a variable not set here is a
/// warning (the daemon may run with another environment).
pub fn validate(notify: &NotifySettings, path: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if notify.webhook.len() > MAX_WEBHOOKS {
        out.push(Diagnostic::error(
            path,
            line_of(text, MAX_WEBHOOKS, "url"),
            format!(
                "[[notify.webhook]]: {} webhooks, at most {MAX_WEBHOOKS}",
                notify.webhook.len()
            ),
        ));
    }
    for (n, h) in notify.webhook.iter().enumerate() {
        let at = |key: &str| line_of(text, n, key);
        let which = format!("[[notify.webhook]] #{}", n + 1);
        match (&h.url, &h.url_env) {
            (Some(_), Some(_)) => out.push(Diagnostic::error(
                path,
                at("url_env"),
                format!("{which}: give `url` or `url_env`, not both"),
            )),
            (None, None) => out.push(Diagnostic::error(
                path,
                at("url"),
                format!("{which}: give the `url` to POST to (or `url_env`, the variable holding it)"),
            )),
            (Some(u), None) => {
                if let Err(e) = check_url(u) {
                    out.push(Diagnostic::error(
                        path,
                        at("url"),
                        format!(
                            "{which}: url `{u}` {e}; give one such as https://hooks.example.org/citewatch"
                        ),
                    ));
                }
            }
            (None, Some(_)) => {}
        }
        for (key, var) in [("url_env", &h.url_env), ("token_env", &h.token_env)] {
            let Some(var) = var else { continue };
            if !env_name_ok(var) {
                out.push(Diagnostic::error(
                    path,
                    at(key),
                    format!(
                        "{which}: {key} `{var}` is not an environment variable name (letters, digits, `_`)"
                    ),
                ));
            } else if std::env::var_os(var).is_none() {
                out.push(Diagnostic::warning(
                    path,
                    at(key),
                    format!("{which}: {key}: ${var} is not set here; it must be set where citewatch runs"),
                ));
            } else if key == "url_env"
                && let Err(e) = check_url(&std::env::var(var).unwrap_or_default())
            {
                out.push(Diagnostic::error(
                    path,
                    at(key),
                    format!("{which}: the URL in ${var} {e}"),
                ));
            }
        }
        if !(1..=MAX_WEBHOOK_TIMEOUT_SECS).contains(&h.timeout_secs) {
            out.push(Diagnostic::error(
                path,
                at("timeout_secs"),
                format!(
                    "{which}: timeout_secs = {} is outside 1-{MAX_WEBHOOK_TIMEOUT_SECS}",
                    h.timeout_secs
                ),
            ));
        }
    }
    out
}
