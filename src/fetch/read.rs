//! A source as the real web serves it: the HTTP fetch ([`Fetcher::fetch`], which already
//! turns bot walls and the redirect, title and heading soft 404s into failures), then the
//! headless browser for pages whose text a script inserts, and the random-sibling probe that
//! tells a removed passage from a site answering every URL with one page.
//!
//! [`Reader::read`] is what a run calls per URL; [`Reader::same_page_elsewhere`] before it
//! reports `evidence_removed`; [`Reader::close`] at the end of the fetch stage.

use std::sync::Arc;

use url::Url;

use super::render::{AUTO_MIN_WORDS, RenderStats, Renderer};
use super::{Conditional, FailureKind, FetchFailure, FetchOutcome, FetchedPage, Fetcher, judge_page, signs};
use crate::extract::Rules;
use crate::settings::{RenderPolicy, Settings};
use crate::watchlist::RenderMode;

/// Past this many visible words (tags, scripts and styles left out) a page surely has main
/// text: the extractor is not run to decide on rendering (the common case costs one scan).
const AUTO_SCAN_CAP: usize = 400;

/// Two pages whose words overlap at least this much (Jaccard, over distinct words) are the
/// same page.
const SAME_PAGE: f64 = 0.9;

/// How a URL is to be read.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// The source's `render`; `None`: `[fetch] render` decides.
    pub mode: Option<RenderMode>,
    /// The source's extraction rules (for the "almost no main text" test).
    pub rules: &'a Rules,
    /// The source's selector, which a rendered page is waited for.
    pub selector: Option<&'a str>,
}

/// What reading a URL gave.
#[derive(Debug, Clone)]
pub struct Read {
    /// The outcome, as from the fetcher; a rendered page carries its rendered HTML.
    pub outcome: FetchOutcome,
    /// Whether the page was read in the browser.
    pub rendered: bool,
}

/// HTTP plus, when a page needs it, the browser. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reader {
    fetcher: Fetcher,
    renderer: Arc<Renderer>,
    policy: RenderPolicy,
}

impl Reader {
    /// A reader over `fetcher` with the run's settings; no browser is started yet.
    pub fn new(fetcher: Fetcher, settings: &Settings) -> Self {
        let renderer = Renderer::new(
            &settings.browser,
            &settings.fetch.user_agent,
            settings.fetch.effective_concurrency(),
        );
        Self {
            fetcher,
            renderer: Arc::new(renderer),
            policy: settings.fetch.render,
        }
    }

    /// Reads `url`: fetches it, and renders it in the browser when the source asks for that
    /// (`render = "browser"`, then without validators: the static HTML being unchanged says
    /// nothing of what its scripts show) or when `[fetch] render = "auto"` finds a 2xx HTML
    /// page with scripts and fewer than [`AUTO_MIN_WORDS`] words of main text.
    pub async fn read(&self, url: &Url, cond: &Conditional, want: Want<'_>) -> Read {
        let browser = want.mode == Some(RenderMode::Browser);
        let none = Conditional::default();
        let outcome = self.fetcher.fetch(url, if browser { &none } else { cond }).await;
        let FetchOutcome::Fetched(page) = outcome else {
            return Read {
                outcome,
                rendered: false,
            };
        };
        let html =
            crate::extract::doc_kind(&page.content_type, &page.body) == Some(crate::extract::DocKind::Html);
        let render = html
            && match want.mode {
                Some(RenderMode::Http) => false,
                Some(RenderMode::Browser) => true,
                None => self.policy == RenderPolicy::Auto && needs_browser(&page, want.rules).await,
            };
        if !render {
            return Read {
                outcome: FetchOutcome::Fetched(page),
                rendered: false,
            };
        }
        let outcome = match self.renderer.render(&page.final_url, want.selector).await {
            Ok(html) => {
                let rendered = FetchedPage {
                    content_type: "text/html; charset=utf-8".into(),
                    // A rendered page is fetched in full each run: its validators are the
                    // static HTML's, not its scripts' data.
                    etag: None,
                    last_modified: None,
                    body: html.into_bytes(),
                    ..page
                };
                match judge_page(url, &rendered) {
                    Some((kind, detail)) => failed(kind, &rendered, detail),
                    None => {
                        return Read {
                            outcome: FetchOutcome::Fetched(rendered),
                            rendered: true,
                        };
                    }
                }
            }
            Err(reason) => failed(FailureKind::Render, &page, reason),
        };
        Read {
            outcome,
            rendered: false,
        }
    }

    /// Before `evidence_removed` is reported for `url`, whose page read as `page`: a random
    /// sibling URL of the same site is read the same way; if it answers the same page, the
    /// site answers every URL with one page, and this is the soft 404 to report instead.
    pub async fn same_page_elsewhere(
        &self,
        url: &Url,
        page: &FetchedPage,
        want: Want<'_>,
    ) -> Option<FetchFailure> {
        let base = if page.final_url.host() == url.host() {
            &page.final_url
        } else {
            url
        };
        let sibling = signs::random_sibling(base);
        let read = self.read(&sibling, &Conditional::default(), want).await;
        let FetchOutcome::Fetched(other) = read.outcome else {
            // A real 404 (or any failure) for a URL that does not exist: the site tells
            // missing pages apart, so the removal stands.
            return None;
        };
        let ours = (
            page.body.clone(),
            page.content_type.clone(),
            page.final_url.clone(),
        );
        let theirs = (other.body, other.content_type, sibling.clone());
        let same = crate::cpu::run(move || same_page(&ours, &theirs))
            .await
            .unwrap_or(false);
        if !same {
            return None;
        }
        Some(FetchFailure {
            kind: FailureKind::Soft404,
            status: Some(page.status),
            detail: format!(
                "soft 404: the site answers a URL that does not exist ({sibling}) with the same page"
            ),
            final_url: Some(page.final_url.to_string()),
            attempts: 1,
        })
    }

    /// Closes the browser, if one was started; what it did.
    pub async fn close(&self) -> RenderStats {
        self.renderer.close().await
    }
}

fn failed(kind: FailureKind, page: &FetchedPage, detail: String) -> FetchOutcome {
    tracing::warn!(url = %page.final_url, kind = %kind, detail = %detail, "fetch failed");
    FetchOutcome::Failed(FetchFailure {
        kind,
        status: Some(page.status),
        detail,
        final_url: Some(page.final_url.to_string()),
        attempts: 1,
    })
}

/// `[fetch] render = "auto"`: whether a 2xx HTML page's static HTML carries scripts and
/// yields fewer than [`AUTO_MIN_WORDS`] words of main text with the source's rules. A page
/// with many visible words is decided by one scan, without extracting.
pub async fn needs_browser(page: &FetchedPage, rules: &Rules) -> bool {
    if !(200..300).contains(&page.status) || !signs::has_scripts(&page.body) {
        return false;
    }
    if signs::visible_words(&page.body, AUTO_SCAN_CAP) >= AUTO_SCAN_CAP && rules.selector.is_none() {
        return false;
    }
    let body = page.body.clone();
    let ct = page.content_type.clone();
    let rules = rules.clone();
    crate::cpu::run(move || main_words(&body, &ct, &rules) < AUTO_MIN_WORDS)
        .await
        .unwrap_or(false)
}

/// Words of main text the extractor finds in a page with `rules`.
fn main_words(body: &[u8], content_type: &str, rules: &Rules) -> usize {
    crate::extract::extract(body, content_type, rules)
        .map(|t| t.blocks.iter().map(|b| b.split_whitespace().count()).sum())
        .unwrap_or(0)
}

/// Whether two pages (body, content type, URL) read as the same page: their main texts,
/// each with its own URL's path taken out, share at least [`SAME_PAGE`] of their words.
fn same_page(a: &(Vec<u8>, String, Url), b: &(Vec<u8>, String, Url)) -> bool {
    let words = |(body, ct, url): &(Vec<u8>, String, Url)| -> std::collections::HashSet<String> {
        let rules = Rules::default();
        let text = crate::extract::extract(body, ct, &rules)
            .map(|t| t.to_text())
            .unwrap_or_default()
            .to_lowercase();
        let path = url.path().to_lowercase();
        let last = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("").to_owned();
        let mut text = text.replace(&path, " ");
        if !last.is_empty() {
            text = text.replace(&last, " ");
        }
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (x, y) = (words(a), words(b));
    if x.is_empty() || y.is_empty() {
        return x.is_empty() && y.is_empty() && a.0 == b.0;
    }
    let inter = x.intersection(&y).count() as f64;
    let union = x.union(&y).count() as f64;
    inter / union >= SAME_PAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str, url: &str) -> (Vec<u8>, String, Url) {
        (
            body.as_bytes().to_vec(),
            "text/html".into(),
            Url::parse(url).unwrap(),
        )
    }

    #[test]
    fn one_page_for_every_url_is_the_same_page() {
        let a = page(
            "<html><body><main><h1>Welcome</h1><p>Our site has news about Kosovo and the region, updated daily.</p><p>You asked for /news/kfor-troops.</p></main></body></html>",
            "http://e.org/news/kfor-troops",
        );
        let b = page(
            "<html><body><main><h1>Welcome</h1><p>Our site has news about Kosovo and the region, updated daily.</p><p>You asked for /news/citewatch-probe-1.</p></main></body></html>",
            "http://e.org/news/citewatch-probe-1",
        );
        assert!(same_page(&a, &b));
        let c = page(
            "<html><body><main><h1>KFOR troops</h1><p>About 350 soldiers serve in the mission as of this spring, the ministry said.</p></main></body></html>",
            "http://e.org/news/kfor-troops",
        );
        assert!(!same_page(&c, &b));
    }
}
