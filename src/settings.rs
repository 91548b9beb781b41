//! `citewatch.toml` → [`Settings`].
//!
//! One strict serde tree: every key optional, unknown keys rejected, every value checked at
//! load time ([`Settings::validate`]) with messages naming the key. Parsing never opens a
//! socket or touches anything but the settings file itself.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, Schema, toml_problems};

pub mod email;
pub mod notify;

pub use notify::{NotifySettings, WebhookFormat, WebhookSettings};

/// Default cron expression: every day at 06:00 UTC.
pub const DEFAULT_CRON: &str = "0 0 6 * * *";
/// Default overall number of requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default number of requests in flight to one host.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 2;
/// `[fetch] fail_after`.
pub const DEFAULT_FAIL_AFTER: u32 = 2;
/// The largest `[fetch] fail_after`.
pub const MAX_FAIL_AFTER: u32 = 100;
/// Default cap on a response body (10 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default limit for one SMTP delivery attempt, seconds.
pub const DEFAULT_SMTP_TIMEOUT_SECS: u64 = 30;
/// Default grace period for the run in progress when the daemon is stopped.
pub const DEFAULT_GRACE_SECS: u64 = 30;
/// Default interval between the daemon's outbox delivery retries (5 minutes).
pub const DEFAULT_OUTBOX_RETRY_SECS: u64 = 300;
/// Default longest wait for a rendered page to settle, seconds (`[browser].wait_secs`).
pub const DEFAULT_WAIT_SECS: u64 = 10;
/// Longest `[browser].wait_secs`.
pub const MAX_WAIT_SECS: u64 = 300;
/// Default control endpoint address of the daemon.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// Most requests in flight overall (`[fetch].concurrency`).
pub const MAX_CONCURRENCY: usize = 1024;
/// Longest per-request timeout, seconds (`[fetch].timeout_secs`): an hour.
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// Most retries after the first attempt (`[fetch].retries`).
pub const MAX_RETRIES: u32 = 10;
/// Largest body cap (`[fetch].max_bytes`): 1 GiB.
pub const MAX_MAX_BYTES: u64 = 1 << 30;
/// Longest random delay before a scheduled run (`[schedule].jitter_secs`): a day.
pub const MAX_JITTER_SECS: u64 = 86_400;
/// Longest grace period on SIGTERM (`[schedule].grace_secs`): an hour.
pub const MAX_GRACE_SECS: u64 = 3600;
/// Longest interval between outbox retries (`[schedule].outbox_retry_secs`): a day.
pub const MAX_OUTBOX_RETRY_SECS: u64 = 86_400;
/// Most versions kept per source (`[store].keep`; 0 keeps all).
pub const MAX_KEEP: usize = 1_000_000;
/// Longest SMTP delivery limit, seconds (`[email].timeout_secs`): an hour.
pub const MAX_SMTP_TIMEOUT_SECS: u64 = 3600;

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
    /// How the watchlist folder is read.
    pub watchlist: WatchlistSettings,
    /// Where reports are mailed; without it, messages are written as `.eml` files.
    pub email: Option<EmailSettings>,
    /// The daemon's control endpoint.
    pub control: ControlSettings,
    /// The headless browser that renders script-built pages.
    pub browser: BrowserSettings,
    /// A Wayback-compatible web archive: baselines as of the checked date, captures of
    /// changes. Off by default.
    pub archive: ArchiveSettings,
    /// How reports, mail and the page show times.
    pub report: ReportSettings,
    /// Channels besides the mail: `[[notify.webhook]]`.
    pub notify: NotifySettings,
}

/// `[report]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSettings {
    /// The desk's time zone for the times in reports, mail and the page (an IANA name such
    /// as `Europe/Berlin`); UTC when unset.
    pub timezone: Option<String>,
}

impl ReportSettings {
    /// The time zone, when set and known.
    pub fn tz(&self) -> Option<chrono_tz::Tz> {
        self.timezone.as_deref().and_then(|z| z.parse().ok())
    }
}

/// Default base URL of the web archive.
pub const DEFAULT_ARCHIVE_URL: &str = "https://web.archive.org";
/// Default least seconds between two requests to the archive.
pub const DEFAULT_ARCHIVE_PACE_SECS: u64 = 1;
/// Default longest time a run spends on capture requests, seconds.
pub const DEFAULT_ARCHIVE_SAVE_WAIT_SECS: u64 = 20;
/// Longest `[archive].save_wait_secs`.
pub const MAX_ARCHIVE_SAVE_WAIT_SECS: u64 = 600;
/// Longest `[archive].pace_secs`.
pub const MAX_ARCHIVE_PACE_SECS: u64 = 60;

/// `[archive] save`: when a capture of a source is requested.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveSave {
    /// Never.
    Never,
    /// For a new source, and for a source whose text changed.
    #[default]
    Changes,
    /// After every successful fetch.
    Always,
}

/// `[archive] baseline`: where a source seen for the first time takes its baseline.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveBaseline {
    /// From the live page, as without an archive.
    Live,
    /// From the capture closest to the end of the article's `checked` date, at or before
    /// it (the live page when there is none).
    #[default]
    Checked,
}

/// `[archive]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Whether citewatch talks to the archive at all.
    pub enabled: bool,
    /// Base URL of a Wayback-compatible service.
    pub url: String,
    /// `never`, `changes` or `always`.
    pub save: ArchiveSave,
    /// `live` or `checked`.
    pub baseline: ArchiveBaseline,
    /// Least seconds between two requests to the archive (0 to 60).
    pub pace_secs: u64,
    /// Longest a run spends on its capture requests, seconds (0 to 600); captures not
    /// finished by then are stored as pending and asked about by a later run.
    pub save_wait_secs: u64,
    /// Name of the environment variable holding the Save Page Now access key.
    pub access_key_env: Option<String>,
    /// Name of the environment variable holding the Save Page Now secret key.
    pub secret_key_env: Option<String>,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            url: DEFAULT_ARCHIVE_URL.to_owned(),
            save: ArchiveSave::Changes,
            baseline: ArchiveBaseline::Checked,
            pace_secs: DEFAULT_ARCHIVE_PACE_SECS,
            save_wait_secs: DEFAULT_ARCHIVE_SAVE_WAIT_SECS,
            access_key_env: None,
            secret_key_env: None,
        }
    }
}

/// `[fetch] render`: whether pages that need a browser are found by themselves.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RenderPolicy {
    /// A 2xx HTML page whose static HTML has scripts and almost no main text (fewer than
    /// [`crate::fetch::render::AUTO_MIN_WORDS`] words) is read again in the browser.
    #[default]
    Auto,
    /// Only sources with `render = "browser"` are rendered.
    Never,
}

/// `[browser]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BrowserSettings {
    /// The Chrome/Chromium executable; default: the first of `chromium-headless-shell`,
    /// `chromium`, `google-chrome` on `PATH`.
    pub path: Option<PathBuf>,
    /// Longest wait for a page to settle, seconds: from navigation until the source's
    /// selector is present, or the DOM did not change for a second.
    pub wait_secs: u64,
}

impl Default for BrowserSettings {
    fn default() -> Self {
        Self {
            path: None,
            wait_secs: DEFAULT_WAIT_SECS,
        }
    }
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
    /// Whether a redirect may lead from a public address to a private, loopback, link-local
    /// or multicast one (a watchlist URL that is private itself is always fetched).
    pub allow_private_redirects: bool,
    /// `auto`: pages that need a browser are rendered in one; `never`: only sources with
    /// `render = "browser"`.
    pub render: RenderPolicy,
    /// A transient failure (a bot wall, a timeout, a network error, a 5xx or 429 after
    /// retries) flags its statements only from this many consecutive failed runs on; before
    /// that they keep their previous verdict. 1 flags at the first failure.
    pub fail_after: u32,
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
            allow_private_redirects: false,
            render: RenderPolicy::Auto,
            fail_after: DEFAULT_FAIL_AFTER,
        }
    }
}

impl FetchSettings {
    /// `concurrency` within its range (the value `validate` accepts, or the nearest bound).
    pub fn effective_concurrency(&self) -> usize {
        self.concurrency.clamp(1, MAX_CONCURRENCY)
    }

    /// `per_host`, at least 1 and at most [`Self::effective_concurrency`].
    pub fn effective_per_host(&self) -> usize {
        self.per_host.clamp(1, self.effective_concurrency())
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Keep at most this many versions per source (0 = keep all). A version that a
    /// statement's baseline refers to is never pruned.
    pub keep: usize,
    /// `postgres://user@host:port/db`: the records in PostgreSQL, shared by several workers
    /// (absent: the embedded SQLite store under `snapshots/`).
    pub url: Option<String>,
    /// The environment variable holding the PostgreSQL password (never the settings file).
    pub password_env: Option<String>,
    /// The folder of the content-addressed objects (`text/`, `raw/`), shared by every worker
    /// of a PostgreSQL store; default: the snapshots folder.
    pub objects: Option<PathBuf>,
    /// With PostgreSQL: how long a worker's claim on an article lasts without a heartbeat,
    /// seconds (a worker that died hands its articles on after this).
    pub lease_secs: u64,
    /// How many articles (groups sharing sources) a run takes at a time: with PostgreSQL
    /// what a scheduled run claims, so workers firing together share a due time's articles;
    /// on the local store the most articles of one batch (also at most
    /// `run::LOCAL_BATCH_SOURCES` sources), loaded, checked and committed on its own.
    pub claim_batch: usize,
}

/// Default `[store].claim_batch`.
pub const DEFAULT_CLAIM_BATCH: usize = 500;

/// Default `[store].lease_secs`.
pub const DEFAULT_LEASE_SECS: u64 = 60;
/// Longest `[store].lease_secs`: a day.
pub const MAX_LEASE_SECS: u64 = 86_400;

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            keep: 0,
            url: None,
            password_env: None,
            objects: None,
            lease_secs: DEFAULT_LEASE_SECS,
            claim_batch: DEFAULT_CLAIM_BATCH,
        }
    }
}

/// `[watchlist]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WatchlistSettings {
    /// Whether watchlist files and `article_file`s may lie outside the root folder (an
    /// absolute path, `..`, or a symbolic link leading elsewhere). Off, each is an error.
    pub allow_outside: bool,
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
    /// A PEM file with an extra CA certificate to trust for TLS (e.g. a self-signed server);
    /// a relative path is taken from the root folder.
    pub ca_file: Option<PathBuf>,
    /// Limit for the delivery of one message, seconds: one deadline from connecting to QUIT.
    pub timeout_secs: u64,
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
            timeout_secs: DEFAULT_SMTP_TIMEOUT_SECS,
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
    /// The page's address as the desk reaches it (`https://citewatch.example.org`): the mail
    /// links each run's report there instead of naming its file.
    pub public_url: Option<String>,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            token_env: None,
            public_url: None,
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

    /// The keys the settings file may hold, taken from the serde types.
    pub fn schema() -> Schema {
        Schema::of::<Settings>("the top level")
            .with("schedule", Schema::of::<ScheduleSettings>("[schedule]"))
            .with("fetch", Schema::of::<FetchSettings>("[fetch]"))
            .with("store", Schema::of::<StoreSettings>("[store]"))
            .with("watchlist", Schema::of::<WatchlistSettings>("[watchlist]"))
            .with("email", Schema::of::<EmailSettings>("[email]"))
            .with("control", Schema::of::<ControlSettings>("[control]"))
            .with("browser", Schema::of::<BrowserSettings>("[browser]"))
            .with("archive", Schema::of::<ArchiveSettings>("[archive]"))
            .with("report", Schema::of::<ReportSettings>("[report]"))
            .with(
                "notify",
                Schema::of::<NotifySettings>("[notify]")
                    .with("webhook", Schema::of::<WebhookSettings>("[[notify.webhook]]")),
            )
    }

    /// Parses settings text; `path` is only used in messages. Reports every syntax error
    /// and unknown key at once, then the first type error, then every failed value check.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, Vec<Diagnostic>> {
        let schema = Self::schema();
        let mut problems = toml_problems(path, text, &schema);
        // Unknown keys do not hide the file's other problems: the rest is read with them
        // blanked out (positions kept) and checked too.
        let rest = if problems.is_empty() {
            std::borrow::Cow::Borrowed(text)
        } else {
            match crate::error::blank_unknown_keys(text, &schema) {
                Some(t) => std::borrow::Cow::Owned(t),
                None => return Err(problems),
            }
        };
        let settings: Settings = match toml::from_str(&rest) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Diagnostic::from_toml(path, &rest, &e));
                return Err(problems);
            }
        };
        problems.extend(settings.validate(path, text));
        if problems.iter().any(Diagnostic::is_error) {
            problems.sort_by_key(|d| (d.line, d.col));
            return Err(problems);
        }
        Ok(settings)
    }

    /// Value checks; each message names the key and points at its value's line and column.
    pub fn validate(&self, path: &Path, text: &str) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let err = |keys: &[&str], msg: String| {
            let (line, col) = match crate::error::value_position(text, keys) {
                Some((l, c)) => (Some(l), Some(c)),
                None => (
                    keys.last().and_then(|k| crate::error::find_key_line(text, k)),
                    None,
                ),
            };
            Diagnostic::error(path, line, msg).with_col(col)
        };
        if let Err(e) = crate::schedule::parse_cron(&self.schedule.cron) {
            out.push(err(&["schedule", "cron"], format!("[schedule].cron: {e}")));
        }
        // Every number has a range: a value past it would exhaust memory, overflow, or stall
        // a run or the daemon for longer than anyone means (`concurrency = 2^62` panicked,
        // `max_bytes = 30000000000` aborted on allocation).
        let f = &self.fetch;
        // `per_host` may not exceed `concurrency` when it is written down; left at its
        // default it is lowered to `concurrency` by the fetcher.
        let concurrency_ok = (1..=MAX_CONCURRENCY).contains(&f.concurrency);
        let per_host_given = crate::error::value_position(text, &["fetch", "per_host"]).is_some();
        let per_host_max = if concurrency_ok && per_host_given {
            f.concurrency as u64
        } else {
            MAX_CONCURRENCY as u64
        };
        let max = MAX_CONCURRENCY as u64;
        let per_host_bound = if per_host_max < max {
            format!("[fetch].concurrency ({per_host_max})")
        } else {
            per_host_max.to_string()
        };
        // (table, key, value, least, most, how the most is named)
        let ranges = [
            (
                "schedule",
                "jitter_secs",
                self.schedule.jitter_secs,
                0,
                MAX_JITTER_SECS,
            ),
            (
                "schedule",
                "grace_secs",
                self.schedule.grace_secs,
                0,
                MAX_GRACE_SECS,
            ),
            (
                "schedule",
                "outbox_retry_secs",
                self.schedule.outbox_retry_secs,
                1,
                MAX_OUTBOX_RETRY_SECS,
            ),
            ("fetch", "concurrency", as_u64(f.concurrency), 1, max),
            ("fetch", "per_host", as_u64(f.per_host), 1, per_host_max),
            ("fetch", "timeout_secs", f.timeout_secs, 1, MAX_TIMEOUT_SECS),
            (
                "fetch",
                "fail_after",
                u64::from(f.fail_after),
                1,
                u64::from(MAX_FAIL_AFTER),
            ),
            (
                "fetch",
                "retries",
                u64::from(f.retries),
                0,
                u64::from(MAX_RETRIES),
            ),
            ("fetch", "max_bytes", f.max_bytes, 1, MAX_MAX_BYTES),
            ("store", "keep", as_u64(self.store.keep), 0, MAX_KEEP as u64),
            ("store", "lease_secs", self.store.lease_secs, 1, MAX_LEASE_SECS),
            (
                "store",
                "claim_batch",
                as_u64(self.store.claim_batch),
                1,
                1_000_000,
            ),
            ("browser", "wait_secs", self.browser.wait_secs, 1, MAX_WAIT_SECS),
            (
                "archive",
                "pace_secs",
                self.archive.pace_secs,
                0,
                MAX_ARCHIVE_PACE_SECS,
            ),
            (
                "archive",
                "save_wait_secs",
                self.archive.save_wait_secs,
                1,
                MAX_ARCHIVE_SAVE_WAIT_SECS,
            ),
        ];
        for (table, key, value, min, max) in ranges {
            if value < min {
                out.push(err(
                    &[table, key],
                    format!("[{table}].{key} must be at least {min}"),
                ));
            } else if value > max {
                let bound = if key == "per_host" {
                    per_host_bound.clone()
                } else {
                    max.to_string()
                };
                out.push(err(
                    &[table, key],
                    format!("[{table}].{key} = {value} is too large: at most {bound}"),
                ));
            }
        }
        if self.fetch.user_agent.trim().is_empty()
            || reqwest::header::HeaderValue::from_str(&self.fetch.user_agent).is_err()
        {
            out.push(err(
                &["fetch", "user_agent"],
                "[fetch].user_agent must be a non-empty line of visible ASCII text".to_owned(),
            ));
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            out.push(err(
                &["store", "url"],
                "[store].url must be a PostgreSQL URL: postgres://user@host:port/database (the password in password_env)"
                    .to_owned(),
            ));
        }
        if let Some(email) = &self.email {
            out.extend(email::validate_email_settings(email, path, text));
        }
        out.extend(notify::validate(&self.notify, path, text));
        match url::Url::parse(&self.archive.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => out.push(err(
                &["archive", "url"],
                format!(
                    "[archive].url: `{}` is not an http(s) URL such as {DEFAULT_ARCHIVE_URL}",
                    self.archive.url
                ),
            )),
        }
        if let Some(z) = &self.report.timezone
            && z.parse::<chrono_tz::Tz>().is_err()
        {
            out.push(err(
                &["report", "timezone"],
                format!("[report].timezone: `{z}` is not a time zone name such as Europe/Berlin or America/New_York"),
            ));
        }
        if let Some(u) = &self.control.public_url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {}
                _ => out.push(err(
                    &["control", "public_url"],
                    format!("[control].public_url: `{u}` is not an http(s) URL such as https://citewatch.example.org"),
                )),
            }
        }
        if self.control.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(err(
                &["control", "listen"],
                format!(
                    "[control].listen: `{}` is not an address such as 127.0.0.1:8787",
                    self.control.listen
                ),
            ));
        }
        out
    }
}

/// A count as `u64` for range checks (saturating; `usize` is at most 64 bits here).
fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../citewatch.example.toml");

    fn parse(text: &str) -> Result<Settings, Vec<String>> {
        Settings::parse(Path::new("citewatch.toml"), text)
            .map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    /// The example with every `#key = ...` and `#[table]` line switched on.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_store_url_must_be_postgresql() {
        let e = parse("[store]\nurl = \"mysql://x@y/z\"\n").unwrap_err();
        assert!(
            e.iter()
                .any(|m| m.contains("[store].url must be a PostgreSQL URL")),
            "{e:?}"
        );
        let s = parse("[store]\nurl = \"postgres://citewatch@127.0.0.1:5432/cw\"\npassword_env = \"PW\"\n")
            .unwrap();
        assert_eq!(s.store.password_env.as_deref(), Some("PW"));
        assert_eq!(s.store.lease_secs, DEFAULT_LEASE_SECS);
    }

    #[test]
    fn an_unknown_key_does_not_hide_the_files_other_errors() {
        let text = "[fetch]\nbogus = 1\nconcurrency = 0\n[schedule]\ncron = \"30 25 * * *\"\n";
        let e = Settings::parse(Path::new("c.toml"), text).unwrap_err();
        let lines: Vec<(Option<usize>, &str)> = e.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].0 == Some(2) && lines[0].1.contains("unknown key `bogus`"),
            "{lines:?}"
        );
        assert!(
            lines[1].0 == Some(3) && lines[1].1.contains("concurrency"),
            "{lines:?}"
        );
        assert!(
            lines[2].0 == Some(5) && lines[2].1.contains("the hour is 25"),
            "{lines:?}"
        );
    }

    #[test]
    fn example_documents_the_defaults() {
        assert_eq!(parse(EXAMPLE).unwrap(), Settings::default());
    }

    #[test]
    fn example_with_everything_switched_on_parses() {
        let s = parse(&uncommented(EXAMPLE)).unwrap();
        let email = s.email.expect("[email] switched on");
        assert_eq!(email.to, ["fact-check-desk@example.org"]);
        assert_eq!(email.password_env.as_deref(), Some("CITEWATCH_SMTP_PASSWORD"));
        assert_eq!(email.send, SendWhen::Flagged);
        assert_eq!(s.control.token_env.as_deref(), Some("CITEWATCH_CONTROL_TOKEN"));
        assert_eq!(
            s.control.public_url.as_deref(),
            Some("https://citewatch.example.org")
        );
        assert_eq!(s.report.tz(), Some(chrono_tz::Europe::Berlin));
        assert!(s.fetch.user_agent.starts_with("citewatch/"));
    }

    #[test]
    fn example_mentions_every_setting() {
        let on = uncommented(EXAMPLE);
        let schema = Settings::schema();
        for (table, sub) in &schema.keys {
            let sub = sub.as_ref().expect("every table has a schema");
            // `[notify]` holds arrays of tables only: `[[notify.webhook]]` and its keys.
            let subs: Vec<_> = sub
                .keys
                .iter()
                .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
                .collect();
            if !subs.is_empty() {
                for (k, s) in subs {
                    assert!(
                        on.contains(&format!("[[{table}.{k}]]")),
                        "[[{table}.{k}]] missing"
                    );
                    for (key, _) in &s.keys {
                        assert!(
                            on.lines().any(|l| l.starts_with(&format!("{key} = "))),
                            "[[{table}.{k}]].{key} missing from the example"
                        );
                    }
                }
                continue;
            }
            assert!(
                on.contains(&format!("[{table}]")),
                "[{table}] missing from the example"
            );
            for (key, _) in &sub.keys {
                assert!(
                    on.lines().any(|l| l.starts_with(&format!("{key} = "))),
                    "[{table}].{key} missing from the example"
                );
            }
        }
    }

    #[test]
    fn missing_file_gives_defaults() {
        let s = Settings::load(Path::new("/nonexistent/citewatch.toml")).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn unknown_keys_are_all_reported_with_positions() {
        let e = parse("[fetch]\nconcurency = 3\n\n[schedul]\ncron = \"x\"\n").unwrap_err();
        assert_eq!(
            e,
            [
                "citewatch.toml:2:1: unknown key `concurency` in [fetch]; did you mean `concurrency`?",
                "citewatch.toml:4:2: unknown key `schedul` in the top level; did you mean `schedule`?",
            ]
        );
    }

    #[test]
    fn syntax_and_type_errors_have_positions() {
        let e = parse("[fetch]\nretries = \n").unwrap_err();
        assert!(e[0].starts_with("citewatch.toml:2:"), "{e:?}");
        let e = parse("[fetch]\nretries = \"two\"\n").unwrap_err();
        assert!(e[0].starts_with("citewatch.toml:2:11: "), "{e:?}");
    }

    #[test]
    fn value_checks_point_at_the_value() {
        let text = "[schedule]\ncron = \"0 9 * *\"\n[fetch]\nper_host = 0\nuser_agent = \"\"\n[control]\nlisten = \"localhost\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("citewatch.toml:2:8: [schedule].cron: `0 9 * *` has 4 fields"),
            "{e:?}"
        );
        assert_eq!(e[1], "citewatch.toml:4:12: [fetch].per_host must be at least 1");
        assert!(
            e[2].starts_with("citewatch.toml:5:14: [fetch].user_agent"),
            "{e:?}"
        );
        assert!(
            e[3].starts_with("citewatch.toml:7:10: [control].listen: `localhost`"),
            "{e:?}"
        );
    }

    #[test]
    fn every_number_has_a_range() {
        // Issue 17: these passed `validate` and then crashed `check`.
        let e = parse("[fetch]\nconcurrency = 4611686018427387904\n").unwrap_err();
        assert_eq!(
            e,
            ["citewatch.toml:2:15: [fetch].concurrency = 4611686018427387904 is too large: at most 1024"]
        );
        let e = parse("[fetch]\nmax_bytes = 30000000000\n").unwrap_err();
        assert_eq!(
            e,
            ["citewatch.toml:2:13: [fetch].max_bytes = 30000000000 is too large: at most 1073741824"]
        );
        let e = parse("[fetch]\nconcurrency = 4\nper_host = 5\n").unwrap_err();
        assert_eq!(
            e,
            ["citewatch.toml:3:12: [fetch].per_host = 5 is too large: at most [fetch].concurrency (4)"]
        );
        for (table, key, bad) in [
            ("schedule", "jitter_secs", "86401"),
            ("schedule", "grace_secs", "3601"),
            ("schedule", "outbox_retry_secs", "0"),
            ("schedule", "outbox_retry_secs", "86401"),
            ("fetch", "concurrency", "0"),
            ("fetch", "concurrency", "1025"),
            ("fetch", "timeout_secs", "3601"),
            ("fetch", "retries", "11"),
            ("fetch", "max_bytes", "0"),
            ("fetch", "max_bytes", "1073741825"),
            ("store", "keep", "1000001"),
            ("browser", "wait_secs", "0"),
            ("browser", "wait_secs", "301"),
            ("email", "timeout_secs", "0"),
            ("email", "timeout_secs", "3601"),
        ] {
            let email = if table == "email" {
                "to = [\"d@example.org\"]\n"
            } else {
                ""
            };
            let text = format!("[{table}]\n{email}{key} = {bad}\n");
            let e = parse(&text).unwrap_err();
            assert_eq!(e.len(), 1, "{text}: {e:?}");
            let line = if email.is_empty() { 2 } else { 3 };
            assert!(
                e[0].starts_with(&format!("citewatch.toml:{line}:"))
                    && e[0].contains(&format!("[{table}].{key}")),
                "{text}: {e:?}"
            );
        }
        // The bounds themselves are fine.
        let text = "[schedule]\njitter_secs = 86400\ngrace_secs = 3600\noutbox_retry_secs = 86400\n\
                    [fetch]\nconcurrency = 1024\nper_host = 1024\ntimeout_secs = 3600\nretries = 10\n\
                    max_bytes = 1073741824\n[store]\nkeep = 1000000\n";
        parse(text).unwrap();
    }

    #[test]
    fn five_field_cron_accepted() {
        let s = parse("[schedule]\ncron = \"30 6 * * MON-FRI\"\n").unwrap();
        assert_eq!(s.schedule.cron, "30 6 * * MON-FRI");
    }
}
