//! A Wayback-compatible web archive (`[archive]`): the capture of a page closest to a moment
//! at or before it, its raw body, and Save Page Now requests. Network only; what the run
//! does with it is `run/archive.rs`.
//!
//! What is sent: the source URLs (in lookups and save requests), the moment looked up, and,
//! when `access_key_env`/`secret_key_env` are set, `Authorization: LOW <access>:<secret>` on
//! save requests. Requests are paced (`pace_secs` apart) and retried like fetches (the
//! retry policy of [`crate::fetch::retry_decision`], `Retry-After` honoured on 429/503).

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use reqwest::header::{self, HeaderValue};
use url::Url;

use crate::fetch::{AttemptFailure, DEFAULT_BACKOFF_BASE, FailureKind, parse_retry_after, retry_decision};
use crate::settings::Settings;

/// Requests in a row failing after their retries (5xx, 429) before a run stops asking.
const GIVE_UP_AFTER: u32 = 3;

/// Most redirects followed from `/web/<timestamp>/<url>` to the capture.
const MAX_HOPS: usize = 5;

/// A capture of a page in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The archive's 14-digit timestamp (`YYYYMMDDhhmmss`, UTC).
    pub timestamp: String,
    /// The URL the archive captured.
    pub original: String,
    /// The replay URL, `<base>/web/<timestamp>/<original>`.
    pub url: String,
}

impl Capture {
    /// When it was captured.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        parse_timestamp(&self.timestamp)
    }
}

/// A capture's raw body (the `id_` form: as the page was served, not rewritten).
#[derive(Debug)]
pub struct RawCapture {
    /// The body.
    pub body: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: String,
}

/// What a Save Page Now request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Captured: its replay URL.
    Done(String),
    /// Accepted and not finished: the job id, to ask about later.
    Pending(String),
    /// The archive refused or failed (why).
    Failed(String),
}

/// An archive request that did not work out.
#[derive(Debug, thiserror::Error)]
#[error("web archive: {0}")]
pub struct ArchiveError(pub String);

/// The archive client: one per run, shared by its tasks.
pub struct Archive {
    client: reqwest::Client,
    base: String,
    pace: Duration,
    retries: u32,
    max_bytes: u64,
    auth: Option<String>,
    next: tokio::sync::Mutex<Option<Instant>>,
    /// Set once a request found no archive at all (refused, unreachable, timed out after its
    /// retries), or [`GIVE_UP_AFTER`] requests in a row failed: the rest of the run sends
    /// nothing more.
    down: std::sync::atomic::AtomicBool,
    /// Requests in a row that failed after their retries.
    failing: std::sync::atomic::AtomicU32,
}

/// `YYYYMMDDhhmmss` → a time (shorter timestamps are the start of their period).
pub fn parse_timestamp(ts: &str) -> Option<DateTime<Utc>> {
    if ts.len() < 4 || ts.len() > 14 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = format!("{ts:0<14}");
    // A period's start: month and day 01 when missing.
    let full = match ts.len() {
        4 | 5 => format!("{}0101000000", &ts[..4]),
        6 | 7 => format!("{}01000000", &ts[..6]),
        _ => full,
    };
    NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// A time as the archive's 14-digit timestamp.
pub fn timestamp_of(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// The end of an article's `checked` date (23:59:59 UTC), from the forms a watchlist or an
/// import writes: `2025-11-26`, `2025-11-26T10:00:00Z`, `November 26, 2025`, `26 November
/// 2025`, `Nov 26, 2025`. `None` when it is no date.
pub fn end_of_checked(checked: &str) -> Option<DateTime<Utc>> {
    let s = checked.trim();
    let head = s.get(..10).unwrap_or(s);
    let date = NaiveDate::parse_from_str(head, "%Y-%m-%d").ok().or_else(|| {
        ["%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
    })?;
    date.and_hms_opt(23, 59, 59).map(|t| t.and_utc())
}

/// `<base>/web/<timestamp><flags>/<original>` → (timestamp, original).
fn split_replay(base: &str, url: &str) -> Option<(String, String)> {
    let path = url.strip_prefix(base).unwrap_or_else(|| {
        // An absolute URL on another host (or a path only): from `/web/` on.
        url.find("/web/").map_or(url, |i| &url[i..])
    });
    let rest = path.strip_prefix("/web/")?;
    let (stamp, original) = rest.split_once('/')?;
    let digits: String = stamp.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty() && !original.is_empty()).then(|| (digits, original.to_owned()))
}

fn status_2xx(s: &str) -> bool {
    s.len() == 3 && s.starts_with('2')
}

impl Archive {
    /// The client for `settings.archive` (fetch timeouts, retries, body cap, User-Agent).
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let a = &settings.archive;
        let f = &settings.fetch;
        let mut b = reqwest::Client::builder()
            .user_agent(f.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(f.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(f.timeout_secs.max(1)));
        let base = a.url.trim_end_matches('/').to_owned();
        if Url::parse(&base).is_ok_and(|u| {
            u.host_str().is_some_and(|h| {
                h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            })
        }) {
            b = b.no_proxy();
        }
        let env = |name: &Option<String>| name.as_ref().and_then(|n| std::env::var(n).ok());
        let auth = match (env(&a.access_key_env), env(&a.secret_key_env)) {
            (Some(k), Some(s)) => Some(format!("LOW {k}:{s}")),
            _ => None,
        };
        Ok(Self {
            client: b.build()?,
            base,
            pace: Duration::from_secs(a.pace_secs),
            retries: f.retries,
            max_bytes: f.max_bytes,
            auth,
            next: tokio::sync::Mutex::new(None),
            down: std::sync::atomic::AtomicBool::new(false),
            failing: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// The replay URL of `original` at `timestamp`.
    pub fn replay_url(&self, timestamp: &str, original: &str) -> String {
        format!("{}/web/{timestamp}/{original}", self.base)
    }

    /// Waits for this request's turn: requests are at least `pace` apart.
    async fn paced(&self) {
        let mut next = self.next.lock().await;
        if let Some(t) = *next {
            tokio::time::sleep_until(t.into()).await;
        }
        *next = Some(Instant::now() + self.pace);
    }

    /// Sends `make()` (paced), retrying network failures, 408, 429/503 (after their
    /// `Retry-After`) and 5xx as fetches are retried. Any answer else is returned.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ArchiveError> {
        use std::sync::atomic::Ordering;
        if self.down.load(Ordering::Relaxed) {
            return Err(ArchiveError("not reachable earlier in this run".into()));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.paced().await;
            let failure = match make().send().await {
                Ok(r)
                    if r.status().is_server_error()
                        || r.status().as_u16() == 429
                        || r.status().as_u16() == 408 =>
                {
                    let mut f = AttemptFailure {
                        kind: FailureKind::HttpStatus,
                        status: Some(r.status().as_u16()),
                        detail: format!("HTTP {}", r.status().as_u16()),
                        final_url: None,
                        retry_after: None,
                    };
                    f.retry_after = r
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    f
                }
                Ok(r) => {
                    self.failing.store(0, Ordering::Relaxed);
                    return Ok(r);
                }
                Err(e) => AttemptFailure {
                    kind: if e.is_timeout() {
                        FailureKind::Timeout
                    } else {
                        FailureKind::Network
                    },
                    status: None,
                    detail: e.to_string(),
                    final_url: None,
                    retry_after: None,
                },
            };
            let wait = retry_decision(&failure, attempt, DEFAULT_BACKOFF_BASE);
            match wait {
                Some(d) if attempt <= self.retries => tokio::time::sleep(d).await,
                _ => {
                    let in_a_row = self.failing.fetch_add(1, Ordering::Relaxed) + 1;
                    if failure.status.is_none() || in_a_row >= GIVE_UP_AFTER {
                        self.down.store(true, Ordering::Relaxed);
                    }
                    return Err(ArchiveError(failure.detail));
                }
            }
        }
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, ArchiveError> {
        self.send(|| self.client.get(url)).await
    }

    async fn json(&self, url: &str) -> Result<Option<serde_json::Value>, ArchiveError> {
        let r = self.get(url).await?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        if !r.status().is_success() {
            return Err(ArchiveError(format!("{url}: HTTP {}", r.status().as_u16())));
        }
        let body = r.bytes().await.map_err(|e| ArchiveError(e.to_string()))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| ArchiveError(format!("{url}: not JSON: {e}")))
    }

    /// The 2xx capture of `url` closest to `until`, at or before it; `None` when there is
    /// none. The `/web/<timestamp>/<url>` redirect first; when it leads to a later capture,
    /// the CDX API; when it answers 404 or fails, the availability API and then CDX.
    pub async fn lookup(&self, url: &Url, until: DateTime<Utc>) -> Result<Option<Capture>, ArchiveError> {
        let ts = timestamp_of(until);
        let first = self.by_redirect(url, &ts).await;
        let mut problem = None;
        match first {
            Ok(Lookup::Found(c)) => return Ok(Some(c)),
            // The closest capture is later, or not a 2xx: only the CDX API lists earlier ones.
            Ok(Lookup::Later) => {}
            // A 404 is "not archived", or the replay of a capture of a 404 page (Wayback
            // answers those with their own status), or a service without the redirect form:
            // the APIs tell which.
            Ok(Lookup::None) | Err(_) => {
                if let Err(e) = &first {
                    tracing::debug!(%url, "archive redirect lookup: {e}");
                }
                match self.by_availability(url, &ts).await {
                    Ok(Lookup::Found(c)) => return Ok(Some(c)),
                    Ok(_) => {}
                    Err(e) => problem = Some(e),
                }
            }
        }
        match self.by_cdx(url, &ts).await {
            Ok(Lookup::Found(c)) => Ok(Some(c)),
            Ok(_) => Ok(None),
            Err(e) => Err(problem.unwrap_or(e)),
        }
    }

    async fn by_redirect(&self, url: &Url, ts: &str) -> Result<Lookup, ArchiveError> {
        let mut at = self.replay_url(ts, url.as_str());
        for _ in 0..=MAX_HOPS {
            let r = self.get(&at).await?;
            let status = r.status();
            if status.as_u16() == 404 {
                return Ok(Lookup::None);
            }
            if status.is_redirection() {
                let Some(loc) = r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
                    return Err(ArchiveError(format!("{at}: redirect without Location")));
                };
                let next = Url::parse(&at)
                    .and_then(|u| u.join(loc))
                    .map_err(|e| ArchiveError(format!("{at}: bad Location {loc:?}: {e}")))?;
                at = next.to_string();
                continue;
            }
            if !status.is_success() {
                return Err(ArchiveError(format!("{at}: HTTP {}", status.as_u16())));
            }
            let Some((stamp, original)) = split_replay(&self.base, &at) else {
                return Err(ArchiveError(format!("{at}: not a capture URL")));
            };
            // A replay names its capture's time (`Memento-Datetime`), which is what counts
            // when a service answers with another capture without redirecting to it.
            let stamp = r
                .headers()
                .get("memento-datetime")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .map_or(stamp, |t| timestamp_of(DateTime::<Utc>::from(t)));
            return Ok(if stamp.as_str() <= ts {
                Lookup::Found(Capture {
                    url: self.replay_url(&stamp, &original),
                    timestamp: stamp,
                    original,
                })
            } else {
                Lookup::Later
            });
        }
        Err(ArchiveError(format!("{at}: too many redirects")))
    }

    async fn by_availability(&self, url: &Url, ts: &str) -> Result<Lookup, ArchiveError> {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("url", url.as_str())
            .append_pair("timestamp", ts)
            .finish();
        let Some(v) = self.json(&format!("{}/wayback/available?{q}", self.base)).await? else {
            return Ok(Lookup::None);
        };
        let c = &v["archived_snapshots"]["closest"];
        let status = match &c["status"] {
            serde_json::Value::Number(n) => n.to_string(),
            v => v.as_str().unwrap_or("200").to_owned(),
        };
        let Some(stamp) = c["timestamp"].as_str() else {
            return Ok(Lookup::None);
        };
        if c["available"] == false {
            return Ok(Lookup::None);
        }
        if stamp > ts || !status_2xx(&status) {
            return Ok(Lookup::Later);
        }
        let original = c["url"]
            .as_str()
            .and_then(|u| split_replay(&self.base, u))
            .map_or_else(|| url.to_string(), |(_, o)| o);
        Ok(Lookup::Found(Capture {
            url: self.replay_url(stamp, &original),
            timestamp: stamp.to_owned(),
            original,
        }))
    }

    async fn by_cdx(&self, url: &Url, ts: &str) -> Result<Lookup, ArchiveError> {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("url", url.as_str())
            .append_pair("to", ts)
            .append_pair("output", "json")
            .append_pair("filter", "statuscode:2..")
            .append_pair("limit", "-1")
            .finish();
        let Some(v) = self.json(&format!("{}/cdx/search/cdx?{q}", self.base)).await? else {
            return Ok(Lookup::None);
        };
        let rows = v.as_array().cloned().unwrap_or_default();
        let Some(head) = rows.first().and_then(|h| h.as_array()) else {
            return Ok(Lookup::None);
        };
        let col = |name: &str| head.iter().position(|h| h == name);
        let (Some(t), Some(o)) = (col("timestamp"), col("original")) else {
            return Err(ArchiveError("CDX answer without timestamp and original".into()));
        };
        let s = col("statuscode");
        // The filter and `to` should leave only earlier 2xx rows; checked again here.
        let best = rows[1..]
            .iter()
            .filter_map(|r| r.as_array())
            .filter_map(|r| {
                let stamp = r.get(t)?.as_str()?;
                let original = r.get(o)?.as_str()?;
                let ok = s.is_none_or(|s| r.get(s).and_then(|v| v.as_str()).is_some_and(status_2xx));
                (ok && stamp <= ts).then(|| (stamp.to_owned(), original.to_owned()))
            })
            .max();
        Ok(best.map_or(Lookup::None, |(stamp, original)| {
            Lookup::Found(Capture {
                url: self.replay_url(&stamp, &original),
                timestamp: stamp,
                original,
            })
        }))
    }

    /// The capture's raw body, through the `id_` form (never the rewritten replay page).
    pub async fn fetch_raw(&self, c: &Capture) -> Result<RawCapture, ArchiveError> {
        let mut at = format!("{}/web/{}id_/{}", self.base, c.timestamp, c.original);
        for _ in 0..=MAX_HOPS {
            let r = self.get(&at).await?;
            let status = r.status();
            if status.is_redirection()
                && let Some(loc) = r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok())
            {
                at = Url::parse(&at)
                    .and_then(|u| u.join(loc))
                    .map_err(|e| ArchiveError(format!("{at}: bad Location: {e}")))?
                    .to_string();
                continue;
            }
            if !status.is_success() {
                return Err(ArchiveError(format!("{at}: HTTP {}", status.as_u16())));
            }
            let content_type = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/html")
                .to_owned();
            if r.content_length().is_some_and(|n| n > self.max_bytes) {
                return Err(ArchiveError(format!("{at}: larger than [fetch].max_bytes")));
            }
            let body = r.bytes().await.map_err(|e| ArchiveError(e.to_string()))?;
            if body.len() as u64 > self.max_bytes {
                return Err(ArchiveError(format!("{at}: larger than [fetch].max_bytes")));
            }
            return Ok(RawCapture {
                body: body.to_vec(),
                content_type,
            });
        }
        Err(ArchiveError(format!("{at}: too many redirects")))
    }

    fn with_auth(&self, mut b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        b = b.header(header::ACCEPT, "application/json");
        if let Some(a) = self.auth.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            b = b.header(header::AUTHORIZATION, a);
        }
        b
    }

    /// Asks for a capture of `url` (Save Page Now 2: `POST /save`, then `/save/status/<job>`
    /// until it succeeds, fails or `deadline` passes; the plain `GET /save/<url>` when the
    /// service has no SPN2).
    pub async fn save(&self, url: &Url, deadline: Instant) -> Saved {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("url", url.as_str())
            .finish();
        let post = self
            .send(|| {
                self.with_auth(self.client.post(format!("{}/save", self.base)))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone())
            })
            .await;
        let job = match post {
            Err(e) => return Saved::Failed(e.to_string()),
            Ok(r) if matches!(r.status().as_u16(), 404 | 405 | 501) => return self.save_simple(url).await,
            Ok(r) if !r.status().is_success() => {
                return Saved::Failed(format!("POST /save: HTTP {}", r.status().as_u16()));
            }
            Ok(r) => {
                let v: serde_json::Value = match r.bytes().await.map(|b| serde_json::from_slice(&b)) {
                    Ok(Ok(v)) => v,
                    _ => return Saved::Failed("POST /save: answer is not JSON".into()),
                };
                match v["job_id"].as_str() {
                    Some(j) => j.to_owned(),
                    None => {
                        let why = v["message"].as_str().unwrap_or("no job_id in the answer");
                        return Saved::Failed(format!("POST /save: {why}"));
                    }
                }
            }
        };
        let poll = self.pace.max(Duration::from_millis(250));
        loop {
            match self.status(&job, url.as_str()).await {
                Saved::Pending(_) if Instant::now() + poll < deadline => tokio::time::sleep(poll).await,
                other => return other,
            }
        }
    }

    /// The simple form, `GET /save/<url>`: the capture is where it redirects (or its
    /// `Content-Location`).
    async fn save_simple(&self, url: &Url) -> Saved {
        let at = format!("{}/save/{}", self.base, url.as_str());
        let r = match self.send(|| self.with_auth(self.client.get(&at))).await {
            Ok(r) => r,
            Err(e) => return Saved::Failed(e.to_string()),
        };
        let loc = [header::LOCATION, header::CONTENT_LOCATION].iter().find_map(|h| {
            r.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let capture = loc.and_then(|l| Url::parse(&at).ok()?.join(&l).ok());
        match capture.and_then(|c| split_replay(&self.base, c.as_str())) {
            Some((stamp, original)) if r.status().is_success() || r.status().is_redirection() => {
                Saved::Done(self.replay_url(&stamp, &original))
            }
            _ => Saved::Failed(format!(
                "GET /save: HTTP {} without a capture",
                r.status().as_u16()
            )),
        }
    }

    /// One look at a Save Page Now job (of `url`, should the answer not name it).
    pub async fn status(&self, job: &str, url: &str) -> Saved {
        let job_part: String = url::form_urlencoded::byte_serialize(job.as_bytes()).collect();
        let at = format!("{}/save/status/{job_part}", self.base);
        let v = match self.send(|| self.with_auth(self.client.get(&at))).await {
            Ok(r) if r.status().is_success() => match r.bytes().await.map(|b| serde_json::from_slice(&b)) {
                Ok(Ok(v)) => v,
                _ => return Saved::Pending(job.to_owned()),
            },
            Ok(r) => return Saved::Failed(format!("save status: HTTP {}", r.status().as_u16())),
            // Asked again by a later run.
            Err(_) => return Saved::Pending(job.to_owned()),
        };
        let v: serde_json::Value = v;
        match v["status"].as_str() {
            Some("success") => match v["timestamp"].as_str() {
                Some(ts) => Saved::Done(self.replay_url(ts, v["original_url"].as_str().unwrap_or(url))),
                None => Saved::Failed("save status: success without a timestamp".into()),
            },
            Some("error") => Saved::Failed(format!(
                "save failed: {}",
                v["message"]
                    .as_str()
                    .or(v["status_ext"].as_str())
                    .unwrap_or("error")
            )),
            _ => Saved::Pending(job.to_owned()),
        }
    }
}

enum Lookup {
    Found(Capture),
    Later,
    None,
}

/// The date part of a replay URL's timestamp, `YYYY-MM-DD` (Robust Links' `data-versiondate`).
pub fn capture_date(replay_url: &str) -> Option<String> {
    let i = replay_url.find("/web/")?;
    let rest = &replay_url[i + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    parse_timestamp(&digits).map(|t| t.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_dates_end_at_23_59_59_utc() {
        let want = "2025-11-26T23:59:59+00:00";
        for s in [
            "2025-11-26",
            "2025-11-26T08:00:00Z",
            "November 26, 2025",
            "26 November 2025",
            "Nov 26, 2025",
        ] {
            assert_eq!(
                end_of_checked(s).map(|t| t.to_rfc3339()).as_deref(),
                Some(want),
                "{s}"
            );
        }
        assert_eq!(end_of_checked("last week"), None);
        assert_eq!(
            timestamp_of(end_of_checked("2025-11-26").unwrap()),
            "20251126235959"
        );
    }

    #[test]
    fn replay_urls_split_into_timestamp_and_original() {
        let base = "https://web.archive.org";
        assert_eq!(
            split_replay(
                base,
                "https://web.archive.org/web/20251120101010/https://a.test/p?q=1"
            ),
            Some(("20251120101010".into(), "https://a.test/p?q=1".into()))
        );
        assert_eq!(
            split_replay(
                base,
                "https://web.archive.org/web/20251120101010id_/http://a.test/"
            ),
            Some(("20251120101010".into(), "http://a.test/".into()))
        );
        assert_eq!(split_replay(base, "https://web.archive.org/save/x"), None);
        assert_eq!(
            capture_date("http://127.0.0.1:9/web/20251120101010/http://a/").as_deref(),
            Some("2025-11-20")
        );
        assert_eq!(
            parse_timestamp("2025").map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-01-01T00:00:00+00:00")
        );
    }
}
