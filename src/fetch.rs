//! [`Source`](crate::watchlist::Source) URL → [`FetchOutcome`]: HTTP with bounded
//! concurrency (overall and per host), per-request timeout, retries with backoff, redirects,
//! conditional requests and a streamed, capped body.
//!
//! Expected failures (status, network, timeout, size, content type) are values
//! ([`FetchOutcome::Failed`]), never errors that stop a run. This module does network I/O and
//! nothing else: it neither decodes nor extracts text (see [`crate::extract`]).
//!
//! # Behaviour
//! - Limits: [`Fetcher::fetch`] itself holds a per-host permit and then a global one for each
//!   attempt, so however many tasks call it, at most `concurrency` requests are in flight and
//!   at most `per_host` go to one host. Permits are released while a retry waits.
//! - Timeout: `timeout_secs` bounds one attempt, from connecting to the last body byte.
//! - Retries: the whole policy is [`retry_decision`]; `retries` counts attempts after the first.
//! - Redirects: followed here, one hop at a time, each hop under the same rules as a first
//!   request (its own host's permit while it is in flight, its own timeout and retries); at
//!   most [`MAX_REDIRECTS`]; revisiting a URL is a loop and fails at once. A redirect from a
//!   public address to a non-public one ([`non_public_kind`]: loopback, private, link-local,
//!   multicast, …) is refused unless `allow_private_redirects`; the hop's host is resolved
//!   to decide. A watchlist URL that is private itself is fetched as usual.
//! - Conditional requests: the stored `ETag` / `Last-Modified` are sent; `304` is
//!   [`FetchOutcome::NotModified`] and no body is read.
//! - Body: gzip, brotli and deflate are decompressed; the decompressed body is streamed and
//!   capped at `max_bytes` (a `Content-Length` above it is refused before reading).
//! - Proxies: the system proxy settings (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`)
//!   apply, except to loopback hosts (`127.0.0.0/8`, `::1`, `localhost`), which are always
//!   reached directly, as Go's `net/http` and the major browsers do.

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tracing::{debug, warn};
use url::{Host, Url};

use crate::settings::FetchSettings;

pub mod read;
pub mod render;
pub mod signs;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Longest `Retry-After` honoured. A server asking for more is not retried within the run:
/// waiting less than it asked would be impolite, waiting longer would stall the run.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Default base of the exponential backoff: the first retry waits 0.5–1 × this.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(500);

/// Longest backoff between two attempts, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `Accept` header: the types the pipeline can read, anything else as a last resort.
const ACCEPT: &str = "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.9,*/*;q=0.1";

/// Validators from the stored snapshot, sent as `If-None-Match` / `If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditional {
    /// Stored `ETag`.
    pub etag: Option<String>,
    /// Stored `Last-Modified`.
    pub last_modified: Option<String>,
}

impl Conditional {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// What one fetch of one URL gave.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// A 2xx response with its body.
    Fetched(FetchedPage),
    /// `304 Not Modified`: the stored version still holds; nothing was downloaded.
    NotModified {
        /// URL after redirects.
        final_url: Url,
    },
    /// The source could not be fetched.
    Failed(FetchFailure),
}

/// A downloaded page.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// URL after redirects.
    pub final_url: Url,
    /// HTTP status (2xx).
    pub status: u16,
    /// `Content-Type` header as sent (may carry a charset).
    pub content_type: String,
    /// `ETag` header.
    pub etag: Option<String>,
    /// `Last-Modified` header.
    pub last_modified: Option<String>,
    /// The body, decompressed, as bytes (not yet decoded to text).
    pub body: Vec<u8>,
}

/// Why a fetch failed. The report shows [`FailureKind::reported`]: one of `http_status`,
/// `not_found`, `soft_404`, `blocked`, `timeout`, `network`, `too_large`, `unsupported_type`,
/// `render`; the three kinds after `render` are finer distinctions kept for logs and the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A non-2xx status after retries, other than 404 and 410 (5xx, 429, 403, …).
    #[serde(rename = "http_status", alias = "status")]
    HttpStatus,
    /// 404 Not Found or 410 Gone.
    NotFound,
    /// A page that says "not found" while answering 2xx, a redirect to the site's home page
    /// or to a 404-like path, or a site that answers any URL with the same page.
    #[serde(rename = "soft_404")]
    Soft404,
    /// A bot wall: a challenge, captcha or "access denied" page in front of the source.
    Blocked,
    /// DNS, connect, TLS or reset.
    Network,
    /// No response within the timeout.
    Timeout,
    /// The body passed `max_bytes`.
    TooLarge,
    /// Not HTML, plain text or PDF.
    UnsupportedType,
    /// The headless browser could not render the page (none installed, crashed, hung).
    Render,
    /// More than 10 redirects, a loop, or a redirect to a scheme other than http(s).
    Redirect,
    /// The body could not be decompressed (corrupt gzip, brotli or deflate stream).
    Decode,
    /// The body was received but no text could be extracted from it (e.g. an unreadable PDF).
    Extract,
}

impl FailureKind {
    /// The snake_case name used in logs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpStatus => "http_status",
            Self::NotFound => "not_found",
            Self::Soft404 => "soft_404",
            Self::Blocked => "blocked",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::UnsupportedType => "unsupported_type",
            Self::Render => "render",
            Self::Extract => "extract",
            Self::Redirect => "redirect",
            Self::Decode => "decode",
        }
    }

    /// The kind the report shows (`sources[].failure`): the finer kinds folded into the
    /// public ones. A redirect problem is the server's answer (`http_status`), a corrupt
    /// compressed stream a transport problem (`network`), a body no text can be read from a
    /// document of a type citewatch cannot read (`unsupported_type`).
    pub fn reported(self) -> Self {
        match self {
            Self::Redirect => Self::HttpStatus,
            Self::Decode => Self::Network,
            Self::Extract => Self::UnsupportedType,
            k => k,
        }
    }

    /// Whether a failure of this kind may pass by itself (a wall that lifts, a server back
    /// up): the kinds `[fetch] fail_after` is patient with, 5xx and 429 statuses included.
    pub fn is_transient(self, status: Option<u16>) -> bool {
        match self {
            Self::Blocked | Self::Timeout | Self::Network | Self::Decode => true,
            Self::HttpStatus => matches!(status, Some(429 | 500..=599)),
            _ => false,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed fetch, as a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchFailure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// HTTP status, when one was received.
    pub status: Option<u16>,
    /// Human-readable detail.
    pub detail: String,
    /// URL after redirects, when known.
    pub final_url: Option<String>,
    /// How many attempts were made.
    pub attempts: u32,
}

/// A reusable HTTP client with the run's limits. Cheap to clone; clones share the client,
/// its connection pool and the concurrency limits.
#[derive(Debug, Clone)]
pub struct Fetcher {
    shared: Arc<Shared>,
    backoff_base: Duration,
    /// Addresses taken as public although they are not (tests stand in for public sites
    /// with loopback addresses).
    public: Arc<Vec<IpAddr>>,
}

#[derive(Debug)]
struct Shared {
    /// Honours the system proxy settings. Each client is built on first use (building one
    /// loads the system's root certificates: a few milliseconds a run need not spend).
    proxied: OnceLock<Result<reqwest::Client, String>>,
    /// Never uses a proxy: for loopback hosts.
    direct: OnceLock<Result<reqwest::Client, String>>,
    settings: FetchSettings,
    /// At most `concurrency` requests in flight.
    global: Semaphore,
    /// Host → at most `per_host` requests in flight to it.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

fn chain_text(previous: &[Url], next: &Url) -> String {
    previous
        .iter()
        .chain(std::iter::once(next))
        .map(Url::as_str)
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Why a redirect to `next` after `chain` (the URLs requested so far, first one first) may not
/// be followed, as the message for the report; `None` when it may. Scheme, loop and length
/// only; addresses are checked by [`Fetcher::refused_redirect`].
fn redirect_problem(chain: &[Url], next: &Url) -> Option<String> {
    if next.scheme() != "http" && next.scheme() != "https" {
        return Some(format!(
            "redirect to unsupported scheme `{}`: {next}",
            next.scheme()
        ));
    }
    if chain.contains(next) {
        return Some(format!("redirect loop: {}", chain_text(chain, next)));
    }
    if chain.len() > MAX_REDIRECTS {
        return Some(format!(
            "more than {MAX_REDIRECTS} redirects: {}",
            chain_text(chain, next)
        ));
    }
    None
}

/// Why `ip` is not a public address (`"loopback"`, `"private"`, `"link-local"`, `"multicast"`,
/// …), or `None` when it is one. Addresses that embed an IPv4 address (`::ffff:a.b.c.d`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by it.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
                // 10/8, 172.16/12, 192.168/16 and the carrier-grade NAT range 100.64/10.
                Some("private")
            } else if v4.is_link_local() {
                // 169.254/16, where cloud metadata services answer.
                Some("link-local")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
            {
                // 240/4 (and broadcast), IETF protocol assignments, benchmarking.
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public_kind(IpAddr::V4(v4));
            }
            if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if (seg[0] & 0xfe00) == 0xfc00 || (seg[0] & 0xffc0) == 0xfec0 {
                // Unique local fc00::/7 and the old site-local fec0::/10.
                Some("private")
            } else if (seg[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                non_public_kind(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            } else if seg[0] == 0x2002 {
                let [a, b] = seg[1].to_be_bytes();
                let [c, d] = seg[2].to_be_bytes();
                non_public_kind(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            } else if seg[..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible ::a.b.c.d (deprecated).
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                non_public_kind(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            } else {
                None
            }
        }
    }
}

/// The key `per_host` counts by: the URL's host, lower-cased (not its port).
pub fn host_key(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// Hands out work in an order fair to hosts, so that `concurrency` is used whatever the order
/// of the watchlist: round-robin over the hosts that have work left, and never more than
/// `per_host` items of one host out at once (an item is out from when it is handed out until
/// its [`HostSlot`] is dropped, which the caller does when its fetch is done). A host whose
/// items are slow so holds its own slots only, and the items of other hosts go past it.
///
/// Listing 5,000 sources host by host used to give a run 4 requests in flight out of 16: the
/// run starts a bounded number of fetches at a time, and all of them were waiting for the
/// same host.
pub struct HostQueue<T> {
    state: Arc<Mutex<Lanes<T>>>,
    freed: Arc<tokio::sync::Notify>,
}

struct Lanes<T> {
    /// Per host, in order of first appearance: the items not handed out, and how many are out.
    lanes: Vec<(std::collections::VecDeque<T>, usize)>,
    /// The lane to look at first next time.
    next: usize,
    per_host: usize,
}

/// One item of a [`HostQueue`] out; dropping it frees its host's slot.
pub struct HostSlot {
    lane: usize,
    state: Arc<dyn Release + Send + Sync>,
    freed: Arc<tokio::sync::Notify>,
}

trait Release {
    fn release(&self, lane: usize);
}

impl<T> Release for Mutex<Lanes<T>> {
    fn release(&self, lane: usize) {
        let mut g = self.lock().unwrap_or_else(|p| p.into_inner());
        g.lanes[lane].1 -= 1;
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        self.state.release(self.lane);
        // One waiter at most (the stream); a permit is kept if it is not waiting yet.
        self.freed.notify_one();
    }
}

impl<T: Send + 'static> HostQueue<T> {
    /// Items with the URL each will fetch first, in the watchlist's order; at most
    /// `per_host` (at least 1) out at once per host.
    pub fn new(items: impl IntoIterator<Item = (Url, T)>, per_host: usize) -> Self {
        let mut lanes: Vec<(std::collections::VecDeque<T>, usize)> = Vec::new();
        let mut lane_of: HashMap<String, usize> = HashMap::new();
        for (url, item) in items {
            let lane = *lane_of.entry(host_key(&url)).or_insert_with(|| {
                lanes.push((std::collections::VecDeque::new(), 0));
                lanes.len() - 1
            });
            lanes[lane].0.push_back(item);
        }
        Self {
            state: Arc::new(Mutex::new(Lanes {
                lanes,
                next: 0,
                per_host: per_host.max(1),
            })),
            freed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The next item whose host has a free slot (waiting for one to be freed if need be),
    /// round-robin over the hosts; `None` when every item was handed out.
    pub async fn next(&self) -> Option<(T, HostSlot)> {
        loop {
            {
                let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let n = g.lanes.len();
                if g.lanes.iter().all(|(q, _)| q.is_empty()) {
                    return None;
                }
                let per_host = g.per_host;
                let start = g.next;
                for k in 0..n {
                    let lane = (start + k) % n;
                    let (queue, out) = &mut g.lanes[lane];
                    if *out < per_host
                        && let Some(item) = queue.pop_front()
                    {
                        *out += 1;
                        g.next = (lane + 1) % n;
                        let state: Arc<dyn Release + Send + Sync> = self.state.clone();
                        let slot = HostSlot {
                            lane,
                            state,
                            freed: self.freed.clone(),
                        };
                        return Some((item, slot));
                    }
                }
            }
            self.freed.notified().await;
        }
    }

    /// [`HostQueue::next`] as a stream.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = (T, HostSlot)> {
        futures_util::stream::unfold(self, |q| async move { q.next().await.map(|x| (x, q)) })
    }
}

/// What one hop of one attempt gave.
enum Step {
    Done(Success),
    /// A 301, 302, 303, 307 or 308 with a usable `Location`: the next hop's URL.
    Redirect(Url),
}

/// What a successful attempt gave.
enum Success {
    Page(FetchedPage),
    NotModified(Url),
}

/// What a failed attempt gave: the failure plus what the retry policy needs.
#[derive(Debug, Clone)]
pub struct AttemptFailure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// HTTP status, when one was received.
    pub status: Option<u16>,
    /// Human-readable detail.
    pub detail: String,
    /// URL after redirects, when known.
    pub final_url: Option<Url>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl AttemptFailure {
    fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            detail: detail.into(),
            final_url: None,
            retry_after: None,
        }
    }
}

/// The retry policy, in one place. `attempt` is the number of the attempt that just failed
/// (1 for the first). Returns how long to wait before the next attempt, or `None` for "do not
/// retry". Whether retries are left is the caller's business.
pub fn retry_decision(f: &AttemptFailure, attempt: u32, backoff_base: Duration) -> Option<Duration> {
    let backoff = backoff_delay(backoff_base, attempt);
    match f.kind {
        // No response in time: the server or the path to it may be briefly overloaded.
        FailureKind::Timeout => Some(backoff),
        // Refused, reset, DNS or TLS hiccup: often a restart or a load balancer moving
        // traffic; cheap to try again.
        FailureKind::Network => Some(backoff),
        // Properties of the response itself: the same request gets the same answer.
        FailureKind::TooLarge
        | FailureKind::UnsupportedType
        | FailureKind::Redirect
        | FailureKind::Decode
        | FailureKind::Extract => None,
        // 404/410 are final; a soft 404, a bot wall or a browser failure gets the same answer
        // (a challenge is not solved by asking again a second later).
        FailureKind::NotFound | FailureKind::Soft404 | FailureKind::Blocked | FailureKind::Render => None,
        FailureKind::HttpStatus => match f.status.unwrap_or(0) {
            // 408 Request Timeout: the server gave up waiting for us; a new request is fine.
            408 => Some(backoff),
            // 429 Too Many Requests and 503 Service Unavailable: the server says "later";
            // honour its Retry-After when it gives one, unless it asks for more than we wait
            // within a run.
            429 | 503 => match f.retry_after {
                Some(d) if d > MAX_RETRY_AFTER => None,
                Some(d) if !d.is_zero() => Some(d),
                _ => Some(backoff),
            },
            // 501 Not Implemented and 505 HTTP Version Not Supported: permanent by definition.
            501 | 505 => None,
            // Other 5xx (500, 502, 504, …): server-side trouble, usually transient.
            500..=599 => Some(backoff),
            // Other 4xx (404, 410, 403, …): the request or the resource is wrong; repeating it
            // changes nothing. Anything else (an unfollowed 3xx) is final as well.
            _ => None,
        },
    }
}

/// Exponential backoff with "equal jitter": half the exponential delay, plus a random part of
/// up to the other half, so many sources failing together do not retry in lockstep.
fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(MAX_BACKOFF);
    d / 2 + d.mul_f64(rand::random::<f64>() / 2.0)
}

/// `Retry-After` as delta-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Loopback hosts are reached directly, never through a proxy.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// A reqwest error → kind and a detail naming every cause in its chain.
fn classify(e: &reqwest::Error) -> (FailureKind, String) {
    // reqwest names the URL in its message; the report shows it already.
    let mut top = e.to_string();
    if let Some(u) = e.url() {
        top = top.replace(&format!(" for url ({u})"), "");
    }
    let mut causes: Vec<String> = vec![top];
    let mut invalid_data = false;
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            invalid_data = true;
        }
        let t = s.to_string();
        if !causes.iter().any(|c| c.contains(&t)) {
            causes.push(t);
        }
        src = s.source();
    }
    let detail = causes.join(": ");
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_redirect() {
        FailureKind::Redirect
    } else if e.is_decode() && invalid_data {
        FailureKind::Decode
    } else {
        FailureKind::Network
    };
    (kind, detail)
}

/// At most `max` bytes of a response's body (for the signature checks of an error page);
/// whatever arrived before a read error or the end.
async fn read_head(resp: reqwest::Response, max: usize) -> Vec<u8> {
    let mut head = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = max - head.len();
        head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if head.len() >= max {
            break;
        }
    }
    head
}

/// What a 2xx HTML page says about itself: a bot wall, or a soft 404 (a redirect from `url`
/// to a home page or a 404-like path, a title or main heading saying "not found"). The
/// failure to report instead of the page, or `None` for a page to read as text.
pub fn judge_page(url: &Url, page: &FetchedPage) -> Option<(FailureKind, String)> {
    if crate::extract::doc_kind(&page.content_type, &page.body) != Some(crate::extract::DocKind::Html) {
        return None;
    }
    let head = signs::page_head(&page.body);
    if let Some(reason) = signs::bot_wall_in(page.status, None, &head, &page.body) {
        return Some((FailureKind::Blocked, reason));
    }
    if let Some(reason) = signs::soft_404_redirect(url, &page.final_url) {
        return Some((FailureKind::Soft404, reason));
    }
    signs::not_found_in(&head).map(|reason| (FailureKind::Soft404, reason))
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl Fetcher {
    /// A fetcher with `settings`. Its HTTP clients are built on first use; one that cannot be
    /// (TLS initialisation) fails each source it was needed for, without retries.
    pub fn new(settings: &FetchSettings) -> anyhow::Result<Self> {
        Ok(Self {
            shared: Arc::new(Shared {
                proxied: OnceLock::new(),
                direct: OnceLock::new(),
                settings: settings.clone(),
                global: Semaphore::new(settings.effective_concurrency()),
                hosts: Mutex::new(HashMap::new()),
            }),
            backoff_base: DEFAULT_BACKOFF_BASE,
            public: Arc::new(Vec::new()),
        })
    }

    /// The same fetcher taking `ips` as public addresses for the redirect rule
    /// (`allow_private_redirects`); tests stand in for public sites with loopback addresses.
    pub fn with_public_addresses(mut self, ips: &[IpAddr]) -> Self {
        self.public = Arc::new(ips.to_vec());
        self
    }

    /// Why `ip` counts as non-public, or `None`.
    fn non_public(&self, ip: IpAddr) -> Option<&'static str> {
        if self.public.contains(&ip) {
            return None;
        }
        non_public_kind(ip)
    }

    /// The same fetcher with another backoff base (default [`DEFAULT_BACKOFF_BASE`]); tests
    /// shorten it. Retry-After from a server is honoured regardless.
    pub fn with_backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// The settings this fetcher was built with.
    pub fn settings(&self) -> &FetchSettings {
        &self.shared.settings
    }

    /// Fetches one URL: retries per [`retry_decision`], within the concurrency limits.
    /// Never panics on a bad server: every failure is [`FetchOutcome::Failed`].
    pub async fn fetch(&self, url: &Url, cond: &Conditional) -> FetchOutcome {
        if url.scheme() != "http" && url.scheme() != "https" {
            let detail = format!("unsupported URL scheme `{}` (only http and https)", url.scheme());
            return self.give_up(url, AttemptFailure::new(FailureKind::Network, detail), 0);
        }
        // A client that cannot be set up (TLS initialisation) will not be on a retry.
        if let Err(e) = self.client(url) {
            return self.give_up(url, AttemptFailure::new(FailureKind::Network, e.to_owned()), 0);
        }
        let max_attempts = self.shared.settings.retries.saturating_add(1);
        // Every hop is a request of its own: it holds a permit of its own host (and a global
        // one) while in flight, and the retry policy applies to it alone.
        let mut chain: Vec<Url> = vec![url.clone()];
        // Whether the hop before the current one was on a public address (`None`: not known
        // yet; worked out when the first redirect needs it).
        let mut on_public: Option<bool> = None;
        loop {
            let hop = chain.last().expect("the chain starts with the URL").clone();
            let mut attempt: u32 = 0;
            let next = loop {
                attempt += 1;
                let started = Instant::now();
                let result = {
                    let _permits = self.permits(&hop).await;
                    self.attempt(&hop, cond).await
                };
                let elapsed_ms = started.elapsed().as_millis() as u64;
                let mut f = match result {
                    Ok(Step::Done(Success::Page(p))) => {
                        debug!(url = %url, attempt, status = p.status, bytes = p.body.len(), elapsed_ms, final_url = %p.final_url, "fetch attempt ok");
                        if let Some((kind, detail)) = judge_page(url, &p) {
                            // Never judged as text: the landing page and its status are
                            // what the report shows.
                            let f = AttemptFailure {
                                kind,
                                status: Some(p.status),
                                detail,
                                final_url: Some(p.final_url),
                                retry_after: None,
                            };
                            return self.give_up(url, f, attempt);
                        }
                        return FetchOutcome::Fetched(p);
                    }
                    Ok(Step::Done(Success::NotModified(final_url))) => {
                        debug!(url = %url, attempt, status = 304, elapsed_ms, "fetch attempt not modified");
                        return FetchOutcome::NotModified { final_url };
                    }
                    Ok(Step::Redirect(next)) => {
                        debug!(url = %url, hop = %hop, to = %next, elapsed_ms, "redirect");
                        break next;
                    }
                    Err(f) => f,
                };
                if f.final_url.is_none() {
                    f.final_url = Some(hop.clone());
                }
                debug!(url = %url, hop = %hop, attempt, kind = %f.kind, status = f.status, elapsed_ms, detail = %f.detail, "fetch attempt failed");
                let wait = retry_decision(&f, attempt, self.backoff_base);
                match wait {
                    Some(wait) if attempt < max_attempts => {
                        debug!(url = %url, attempt, wait_ms = wait.as_millis() as u64, "fetch retry scheduled");
                        tokio::time::sleep(wait).await;
                    }
                    _ => return self.give_up(url, f, attempt),
                }
            };
            let refusal = match redirect_problem(&chain, &next) {
                Some(p) => Some(p),
                None => self.refused_redirect(&hop, &next, &mut on_public).await,
            };
            if let Some(detail) = refusal {
                let mut f = AttemptFailure::new(FailureKind::Redirect, detail);
                f.final_url = Some(hop);
                return self.give_up(url, f, attempt);
            }
            chain.push(next);
        }
    }

    /// Why the redirect `from` → `to` goes from a public address to a non-public one and is
    /// refused (`allow_private_redirects = false`), or `None`. `from_public` carries what is
    /// known of `from` along the chain. Both hosts are resolved here (IP literals as they
    /// are); a host that does not resolve locally (e.g. behind a proxy that resolves names
    /// itself) is not refused by this rule.
    async fn refused_redirect(&self, from: &Url, to: &Url, from_public: &mut Option<bool>) -> Option<String> {
        if self.shared.settings.allow_private_redirects {
            return None;
        }
        let public = match *from_public {
            Some(p) => p,
            None => self
                .resolve(from)
                .await
                .into_iter()
                .any(|ip| self.non_public(ip).is_none()),
        };
        let to_addrs = self.resolve(to).await;
        let bad = to_addrs
            .iter()
            .find_map(|&ip| self.non_public(ip).map(|kind| (ip, kind)));
        // From a private hop anywhere is fine; what the next hop is decides the one after.
        *from_public = Some(if public {
            bad.is_none()
        } else {
            !to_addrs.is_empty() && bad.is_none()
        });
        if !public {
            return None;
        }
        let (ip, kind) = bad?;
        Some(format!(
            "redirect from a public address to a {kind} one refused: {from} → {to} ({} is {kind}); \
             set [fetch] allow_private_redirects = true to follow such redirects",
            match to.host() {
                Some(Host::Domain(d)) => format!("{d} resolves to {ip}, which"),
                _ => ip.to_string(),
            }
        ))
    }

    /// The addresses of `url`'s host: an IP literal itself, a name through the system
    /// resolver (within the timeout); empty when it does not resolve.
    async fn resolve(&self, url: &Url) -> Vec<IpAddr> {
        match url.host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(Host::Domain(d)) => {
                let port = url.port_or_known_default().unwrap_or(80);
                let secs = self.shared.settings.timeout_secs.max(1);
                match tokio::time::timeout(Duration::from_secs(secs), tokio::net::lookup_host((d, port)))
                    .await
                {
                    Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                    _ => Vec::new(),
                }
            }
            None => Vec::new(),
        }
    }

    fn give_up(&self, url: &Url, f: AttemptFailure, attempts: u32) -> FetchOutcome {
        let mut detail = f.detail;
        if let Some(ra) = f.retry_after
            && ra > MAX_RETRY_AFTER
        {
            detail.push_str(&format!(
                "; the server asked to retry after {} s, more than the {} s a run waits",
                ra.as_secs(),
                MAX_RETRY_AFTER.as_secs()
            ));
        }
        if attempts > 1 {
            detail.push_str(&format!(" (after {attempts} attempts)"));
        }
        warn!(url = %url, kind = %f.kind, status = f.status, attempts, detail = %detail, "fetch failed");
        FetchOutcome::Failed(FetchFailure {
            kind: f.kind,
            status: f.status,
            detail,
            final_url: f.final_url.map(|u| u.to_string()),
            attempts,
        })
    }

    /// A permit for the URL's host, then one of the global pool. Host first, so a task
    /// waiting for a busy host does not sit on a global slot other hosts could use.
    async fn permits(
        &self,
        url: &Url,
    ) -> (
        Option<tokio::sync::OwnedSemaphorePermit>,
        Option<tokio::sync::SemaphorePermit<'_>>,
    ) {
        let host = host_key(url);
        let sem = {
            let mut hosts = self.shared.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.shared.settings.effective_per_host())))
                .clone()
        };
        // The semaphores are never closed, so acquiring cannot fail.
        let h = sem.acquire_owned().await.ok();
        let g = self.shared.global.acquire().await.ok();
        (h, g)
    }

    /// One attempt, bounded by the timeout from connect to the last body byte.
    async fn attempt(&self, url: &Url, cond: &Conditional) -> Result<Step, AttemptFailure> {
        let secs = self.shared.settings.timeout_secs.max(1);
        match tokio::time::timeout(Duration::from_secs(secs), self.attempt_inner(url, cond)).await {
            Ok(r) => r,
            Err(_) => Err(AttemptFailure::new(
                FailureKind::Timeout,
                format!("no complete response within {secs} s (timeout_secs = {secs})"),
            )),
        }
    }

    /// The client for `url`: one that never uses a proxy for loopback hosts.
    fn client(&self, url: &Url) -> Result<&reqwest::Client, &str> {
        let direct = is_loopback(url);
        let slot = if direct {
            &self.shared.direct
        } else {
            &self.shared.proxied
        };
        let settings = &self.shared.settings;
        slot.get_or_init(|| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
            let mut b = reqwest::Client::builder()
                .user_agent(settings.user_agent.clone())
                .default_headers(headers)
                // Redirects are followed by `fetch`, one hop at a time.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(settings.timeout_secs.max(1)));
            if direct {
                b = b.no_proxy();
            }
            b.build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))
        })
        .as_ref()
        .map_err(String::as_str)
    }

    async fn attempt_inner(&self, url: &Url, cond: &Conditional) -> Result<Step, AttemptFailure> {
        let client = self
            .client(url)
            .map_err(|e| AttemptFailure::new(FailureKind::Network, e.to_owned()))?;
        let mut req = client.get(url.clone());
        // A stored validator that is not a valid header value is not sent (and the server
        // answers in full).
        if let Some(v) = cond.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
            req = req.header(header::IF_NONE_MATCH, v);
        }
        if let Some(v) = cond
            .last_modified
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            req = req.header(header::IF_MODIFIED_SINCE, v);
        }
        let resp = req.send().await.map_err(|e| {
            let (kind, detail) = classify(&e);
            let mut f = AttemptFailure::new(kind, detail);
            f.final_url = e.url().cloned();
            f
        })?;
        let final_url = resp.url().clone();
        let status = resp.status();
        let fail = |kind, detail: String| AttemptFailure {
            kind,
            status: Some(status.as_u16()),
            detail,
            final_url: Some(final_url.clone()),
            retry_after: None,
        };
        if status == StatusCode::NOT_MODIFIED && !cond.is_empty() {
            return Ok(Step::Done(Success::NotModified(final_url)));
        }
        if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
            && let Some(location) = header_str(resp.headers(), header::LOCATION)
        {
            return match final_url.join(location.trim()) {
                Ok(mut next) => {
                    // A fragment stays with the document that asked for it.
                    if next.fragment().is_none() && final_url.fragment().is_some() {
                        next.set_fragment(final_url.fragment());
                    }
                    Ok(Step::Redirect(next))
                }
                Err(e) => Err(fail(
                    FailureKind::Redirect,
                    format!("HTTP {status} with a bad Location `{location}`: {e}"),
                )),
            };
        }
        if matches!(status.as_u16(), 403 | 429 | 503) {
            let cf = header_str(resp.headers(), HeaderName::from_static("cf-mitigated"));
            let retry_after = header_str(resp.headers(), header::RETRY_AFTER);
            let head = read_head(resp, signs::SCAN_BYTES).await;
            if let Some(reason) = signs::bot_wall(status.as_u16(), cf.as_deref(), &head) {
                return Err(fail(FailureKind::Blocked, reason));
            }
            let mut f = fail(FailureKind::HttpStatus, format!("HTTP {status}"));
            f.retry_after = retry_after.and_then(|v| parse_retry_after(&v, SystemTime::now()));
            return Err(f);
        }
        if !status.is_success() {
            let kind = if matches!(status.as_u16(), 404 | 410) {
                FailureKind::NotFound
            } else {
                FailureKind::HttpStatus
            };
            let mut f = fail(kind, format!("HTTP {status}"));
            if status == StatusCode::NOT_MODIFIED {
                f.detail.push_str(" to a request that carried no validators");
            }
            f.retry_after = header_str(resp.headers(), header::RETRY_AFTER)
                .and_then(|v| parse_retry_after(&v, SystemTime::now()));
            return Err(f);
        }
        let headers = resp.headers();
        let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or_default();
        let etag = header_str(headers, header::ETAG);
        let last_modified = header_str(headers, header::LAST_MODIFIED);
        // Refuse unsupported types before reading a byte. An absent or generic type is
        // decided on the body by the extractor.
        if crate::extract::doc_kind(&content_type, b"").is_none() {
            let mime = content_type.split(';').next().unwrap_or("").trim();
            return Err(fail(
                FailureKind::UnsupportedType,
                format!("unsupported content type `{mime}`"),
            ));
        }
        let max = self.shared.settings.max_bytes;
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err(fail(
                FailureKind::TooLarge,
                format!("body exceeds max_bytes = {max} (Content-Length: {len})"),
            ));
        }
        // A Content-Length is a claim, not bytes: the buffer starts at 1 MiB at most and
        // grows with what actually arrives.
        let initial = resp.content_length().unwrap_or(64 * 1024).min(max).min(1 << 20);
        let mut body: Vec<u8> = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                let (kind, detail) = classify(&e);
                fail(kind, format!("while reading the body: {detail}"))
            })?;
            if body.len() as u64 + chunk.len() as u64 > max {
                // Dropping the stream closes the connection: the rest is never read.
                return Err(fail(
                    FailureKind::TooLarge,
                    format!("body exceeds max_bytes = {max}"),
                ));
            }
            // Grow by doubling but never past `max_bytes`, so the buffer stays within the cap.
            let need = body.len() + chunk.len();
            if need > body.capacity() {
                let cap = usize::try_from(max).unwrap_or(usize::MAX);
                let target = body.capacity().saturating_mul(2).max(need).min(cap);
                body.reserve_exact(target - body.len());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Step::Done(Success::Page(FetchedPage {
            final_url,
            status: status.as_u16(),
            content_type,
            etag,
            last_modified,
            body,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<Duration>) -> AttemptFailure {
        AttemptFailure {
            kind: if matches!(code, 404 | 410) {
                FailureKind::NotFound
            } else {
                FailureKind::HttpStatus
            },
            status: Some(code),
            detail: String::new(),
            final_url: None,
            retry_after,
        }
    }

    const BASE: Duration = Duration::from_millis(200);

    #[test]
    fn retries_transient_failures_only() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(retry_decision(&status(code, None), 1, BASE).is_some(), "{code}");
        }
        for code in [300, 400, 401, 403, 404, 410, 451, 501, 505] {
            assert!(retry_decision(&status(code, None), 1, BASE).is_none(), "{code}");
        }
        for kind in [FailureKind::Timeout, FailureKind::Network] {
            assert!(retry_decision(&AttemptFailure::new(kind, ""), 1, BASE).is_some());
        }
        for kind in [
            FailureKind::TooLarge,
            FailureKind::UnsupportedType,
            FailureKind::Redirect,
            FailureKind::Decode,
        ] {
            assert!(retry_decision(&AttemptFailure::new(kind, ""), 1, BASE).is_none());
        }
    }

    #[test]
    fn honours_retry_after_within_the_cap() {
        let three = Duration::from_secs(3);
        assert_eq!(retry_decision(&status(429, Some(three)), 1, BASE), Some(three));
        assert_eq!(retry_decision(&status(503, Some(three)), 2, BASE), Some(three));
        let long = MAX_RETRY_AFTER + Duration::from_secs(1);
        assert_eq!(retry_decision(&status(429, Some(long)), 1, BASE), None);
        // Retry-After: 0 (or a date in the past) falls back to the backoff.
        let d = retry_decision(&status(429, Some(Duration::ZERO)), 1, BASE).expect("retried");
        assert!(d >= BASE / 2 && d <= BASE, "{d:?}");
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempt in 1..=4 {
            let full = BASE * (1 << (attempt - 1));
            for _ in 0..50 {
                let d = backoff_delay(BASE, attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert!(backoff_delay(BASE, 40) <= MAX_BACKOFF);
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[tokio::test]
    async fn host_queue_interleaves_hosts_and_holds_per_host() {
        let u = |h: &str, i: u32| {
            (
                Url::parse(&format!("http://{h}:{}/", 8000 + i)).unwrap(),
                format!("{h}{i}"),
            )
        };
        // Listed host by host; ports do not make hosts.
        let items = vec![u("a", 1), u("a", 2), u("a", 3), u("b", 1), u("b", 2), u("c", 1)];
        let q = HostQueue::new(items, 1);
        let (a1, sa) = q.next().await.unwrap();
        let (b1, _sb) = q.next().await.unwrap();
        let (c1, _sc) = q.next().await.unwrap();
        assert_eq!([a1, b1, c1], ["a1", "b1", "c1"]);
        // Every host has its one slot out: the next item waits until one is freed.
        let waiting = tokio::time::timeout(Duration::from_millis(50), q.next()).await;
        assert!(waiting.is_err(), "nothing is free");
        drop(sa);
        let (a2, sa) = q.next().await.unwrap();
        assert_eq!(a2, "a2");
        drop(sa);
        drop(_sb);
        let (x, _) = q.next().await.unwrap();
        let (y, _) = q.next().await.unwrap();
        let mut got = [x, y];
        got.sort();
        assert_eq!(got, ["a3", "b2"]);
        assert!(q.next().await.is_none());
    }

    #[test]
    fn public_and_non_public_addresses() {
        let kind = |s: &str| non_public_kind(s.parse().unwrap());
        for (ip, k) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "private"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:a00:1::", "private"),
        ] {
            assert_eq!(kind(ip), Some(k), "{ip}");
        }
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn redirect_chains_are_bounded() {
        let u = |s: &str| Url::parse(s).unwrap();
        let chain = [u("http://a.example/1"), u("http://a.example/2")];
        assert_eq!(redirect_problem(&chain, &u("http://a.example/3")), None);
        assert!(
            redirect_problem(&chain, &u("http://a.example/1"))
                .unwrap()
                .starts_with("redirect loop: http://a.example/1 → http://a.example/2 → http://a.example/1")
        );
        assert!(
            redirect_problem(&chain, &u("file:///etc/passwd"))
                .unwrap()
                .contains("`file`")
        );
        let long: Vec<Url> = (0..=MAX_REDIRECTS)
            .map(|i| u(&format!("http://a.example/{i}")))
            .collect();
        assert!(
            redirect_problem(&long, &u("http://a.example/x"))
                .unwrap()
                .starts_with("more than 10")
        );
    }

    #[test]
    fn loopback_hosts_bypass_proxies() {
        for u in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://[::1]:9/",
            "http://localhost/",
            "http://app.localhost./",
        ] {
            assert!(is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "http://example.org/",
            "http://10.0.0.1/",
            "http://localhost.example.org/",
        ] {
            assert!(!is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
    }
}
