//! `citewatch.toml` → [`Settings`].
//!
//! One strict serde tree: every key optional, unknown keys rejected, every value checked at
//! load time ([`Settings::validate`]) with messages naming the key. Parsing never opens a
//! socket or touches anything but the settings file itself.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Diagnostic;

/// Default cron expression: every day at 06:00 (local time of the daemon).
pub const DEFAULT_CRON: &str = "0 0 6 * * *";
/// Default overall number of requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default number of requests in flight to one host.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default cap on a response body (10 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default grace period for the run in progress when the daemon is stopped.
pub const DEFAULT_GRACE_SECS: u64 = 30;
/// Default interval between the daemon's outbox delivery retries (5 minutes).
pub const DEFAULT_OUTBOX_RETRY_SECS: u64 = 300;
/// Default control endpoint address of the daemon.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// The whole settings file. Every table and key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// When the daemon re-checks.
    pub schedule: ScheduleSettings,
    /// How sources are fetched.
    pub fetch: FetchSettings,
    /// How the snapshot store is kept.
    pub store: StoreSettings,
    /// Where reports are mailed; without it, messages are written as `.eml` files.
    pub email: Option<EmailSettings>,
    /// The daemon's control endpoint.
    pub control: ControlSettings,
}

/// `[schedule]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// Cron expression (seconds first; a 5-field crontab line is accepted too).
    pub cron: String,
    /// Up to this many seconds of random delay before a scheduled run.
    pub jitter_secs: u64,
    /// On SIGTERM/SIGINT the daemon lets the run in progress finish for up to this many
    /// seconds, then abandons it (the store keeps its last committed state).
    pub grace_secs: u64,
    /// How often the daemon retries delivering the email outbox, seconds.
    pub outbox_retry_secs: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            cron: DEFAULT_CRON.to_owned(),
            jitter_secs: 0,
            grace_secs: DEFAULT_GRACE_SECS,
            outbox_retry_secs: DEFAULT_OUTBOX_RETRY_SECS,
        }
    }
}

/// `[fetch]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FetchSettings {
    /// Requests in flight overall.
    pub concurrency: usize,
    /// Requests in flight to one host, so one slow site is not hammered.
    pub per_host: usize,
    /// Per-request timeout, seconds.
    pub timeout_secs: u64,
    /// Retries after the first attempt, for retryable failures only.
    pub retries: u32,
    /// Largest body accepted; past it the fetch fails and the rest is not read.
    pub max_bytes: u64,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            per_host: DEFAULT_PER_HOST,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            retries: DEFAULT_RETRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            user_agent: format!("citewatch/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Keep at most this many versions per source (0 = keep all). A version that a
    /// statement's baseline refers to is never pruned.
    pub keep: usize,
}

/// When a report is mailed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SendWhen {
    /// Only runs that have flagged statements.
    #[default]
    Flagged,
    /// Every run.
    Always,
}

/// `[email]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// lettre URL form: `smtp://host:port` (plain), `?tls=required` (STARTTLS), `smtps://` (TLS).
    pub smtp_url: String,
    /// The `From` mailbox.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// `flagged` or `always`.
    pub send: SendWhen,
    /// SMTP user name (may also be given in the URL).
    pub username: Option<String>,
    /// Name of the environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// A PEM file with an extra CA certificate to trust for TLS (e.g. a self-signed server).
    pub ca_file: Option<PathBuf>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: "smtp://127.0.0.1:25".to_owned(),
            from: "citewatch <citewatch@localhost>".to_owned(),
            to: Vec::new(),
            send: SendWhen::Flagged,
            username: None,
            password_env: None,
            ca_file: None,
        }
    }
}

/// `[control]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSettings {
    /// Address of the daemon's HTTP control endpoint.
    pub listen: String,
    /// Name of the environment variable holding the bearer token (required off loopback).
    pub token_env: Option<String>,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            token_env: None,
        }
    }
}

impl Settings {
    /// Loads `path`; a missing file gives the defaults. Errors name the file, line and column.
    pub fn load(path: &Path) -> Result<Settings, Vec<Diagnostic>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(vec![Diagnostic::error(path, None, format!("cannot read: {e}"))]),
        };
        Self::parse(path, &text)
    }

    /// Parses settings text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, Vec<Diagnostic>> {
        let settings: Settings =
            toml::from_str(text).map_err(|e| vec![Diagnostic::from_toml(path, text, &e)])?;
        let problems = settings.validate(path, text);
        if problems.iter().any(Diagnostic::is_error) {
            return Err(problems);
        }
        Ok(settings)
    }

    /// Cross-field and value checks; each message names the key.
    pub fn validate(&self, path: &Path, text: &str) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let at = |key: &str| crate::error::find_key_line(text, key);
        if let Err(e) = crate::schedule::parse_cron(&self.schedule.cron) {
            out.push(Diagnostic::error(
                path,
                at("cron"),
                format!("[schedule].cron: {e}"),
            ));
        }
        if self.schedule.outbox_retry_secs == 0 {
            out.push(Diagnostic::error(
                path,
                at("outbox_retry_secs"),
                "[schedule].outbox_retry_secs must be at least 1",
            ));
        }
        if self.fetch.concurrency == 0 {
            out.push(Diagnostic::error(
                path,
                at("concurrency"),
                "[fetch].concurrency must be at least 1",
            ));
        }
        if self.fetch.per_host == 0 {
            out.push(Diagnostic::error(
                path,
                at("per_host"),
                "[fetch].per_host must be at least 1",
            ));
        }
        if self.fetch.timeout_secs == 0 {
            out.push(Diagnostic::error(
                path,
                at("timeout_secs"),
                "[fetch].timeout_secs must be at least 1",
            ));
        }
        if self.fetch.max_bytes == 0 {
            out.push(Diagnostic::error(
                path,
                at("max_bytes"),
                "[fetch].max_bytes must be at least 1",
            ));
        }
        if let Some(email) = &self.email {
            out.extend(crate::notify::validate_email_settings(email, path, text));
        }
        if self.control.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(Diagnostic::error(
                path,
                at("listen"),
                format!(
                    "[control].listen: `{}` is not an address such as 127.0.0.1:8787",
                    self.control.listen
                ),
            ));
        }
        out
    }
}
