//! [`Source`](crate::watchlist::Source) URL → [`FetchOutcome`]: HTTP with bounded
//! concurrency (overall and per host), per-request timeout, retries with backoff, redirects,
//! conditional requests and a streamed, capped body.
//!
//! Expected failures (status, network, timeout, size, content type) are values
//! ([`FetchOutcome::Failed`]), never errors that stop a run. This module does network I/O and
//! nothing else: it neither decodes nor extracts text (see [`crate::extract`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::settings::FetchSettings;

/// Validators from the stored snapshot, sent as `If-None-Match` / `If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditional {
    /// Stored `ETag`.
    pub etag: Option<String>,
    /// Stored `Last-Modified`.
    pub last_modified: Option<String>,
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

/// Why a fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A non-2xx status after retries (404, 410, 5xx, …).
    Status,
    /// DNS, connect, TLS or reset.
    Network,
    /// No response within the timeout.
    Timeout,
    /// The body passed `max_bytes`.
    TooLarge,
    /// Not HTML, plain text or PDF.
    UnsupportedType,
    /// More than 10 redirects, or a loop.
    Redirect,
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

/// A reusable HTTP client with the run's limits.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
}

impl Fetcher {
    /// Builds the client. Fails only if TLS cannot be initialised.
    pub fn new(settings: &FetchSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(Duration::from_secs(settings.timeout_secs))
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()?;
        Ok(Self {
            client,
            settings: settings.clone(),
        })
    }

    /// Fetches every URL once, at most `concurrency` in flight (and `per_host` per host).
    /// Results come back in the order of `urls`.
    pub async fn fetch_all(
        &self,
        urls: Vec<(Url, Conditional)>,
        progress: &(dyn Fn() + Sync),
    ) -> Vec<FetchOutcome> {
        use futures_util::StreamExt;
        let n = self.settings.concurrency.max(1);
        futures_util::stream::iter(urls.into_iter().map(|(u, c)| async move {
            let r = self.fetch(&u, &c).await;
            progress();
            r
        }))
        .buffered(n)
        .collect()
        .await
    }

    /// Fetches one URL.
    pub async fn fetch(&self, url: &Url, cond: &Conditional) -> FetchOutcome {
        let mut req = self.client.get(url.clone());
        if let Some(e) = &cond.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(l) = &cond.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, l);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return FetchOutcome::Failed(FetchFailure {
                    kind: if e.is_timeout() {
                        FailureKind::Timeout
                    } else {
                        FailureKind::Network
                    },
                    status: None,
                    detail: e.to_string(),
                    final_url: None,
                    attempts: 1,
                });
            }
        };
        let final_url = resp.url().clone();
        let status = resp.status().as_u16();
        if status == 304 {
            return FetchOutcome::NotModified { final_url };
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        if !resp.status().is_success() {
            return FetchOutcome::Failed(FetchFailure {
                kind: FailureKind::Status,
                status: Some(status),
                detail: format!("HTTP {}", resp.status()),
                final_url: Some(final_url.to_string()),
                attempts: 1,
            });
        }
        match resp.bytes().await {
            Ok(b) => FetchOutcome::Fetched(FetchedPage {
                final_url,
                status,
                content_type,
                etag,
                last_modified,
                body: b.to_vec(),
            }),
            Err(e) => FetchOutcome::Failed(FetchFailure {
                kind: FailureKind::Network,
                status: Some(status),
                detail: e.to_string(),
                final_url: Some(final_url.to_string()),
                attempts: 1,
            }),
        }
    }
}
