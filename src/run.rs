//! The pipeline, written once: [`RunRequest`] → [`RunReport`]. `check`, the daemon's
//! schedule and the manual trigger all call [`run_check`].
//!
//! watchlist → distinct sources → fetch (concurrent) → extract (blocking pool) → snapshot
//! store → evidence verdicts → report files → email outbox.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;

use crate::evidence::{self, Verdict};
use crate::extract::{ExtractedText, Rules};
use crate::fetch::{Conditional, FetchOutcome, Fetcher};
use crate::report::{
    ArticleInfo, EvidenceReport, RunReport, SourceOutcome, SourceReport, StatementReport, Summary, Trigger,
};
use crate::settings::Settings;
use crate::snapshot::{self, Attempt, Baseline, Flag, Index, Store, StoreError, Version};
use crate::watchlist::{Article, Watchlist};

/// Bumped when extraction changes, so an identical raw body is extracted again.
pub const EXTRACTOR_VERSION: &str = "x1";

/// How long a run waits for another run's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Where a run reads and writes: everything under one root.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The root (`--root`).
    pub root: PathBuf,
}

impl Paths {
    /// Paths under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `citewatch.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("citewatch.toml")
    }
    /// `watchlist/`.
    pub fn watchlist(&self) -> PathBuf {
        self.root.join("watchlist")
    }
    /// `snapshots/`.
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// `reports/`.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }
}

/// What a run needs: where, with which settings and watchlist.
#[derive(Debug, Clone)]
pub struct Context {
    /// Root paths.
    pub paths: Paths,
    /// Loaded settings.
    pub settings: Settings,
    /// Loaded watchlist.
    pub watchlist: Watchlist,
}

/// One run's request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Only these articles (empty: all).
    pub only: Vec<String>,
    /// What started it.
    pub trigger: Trigger,
    /// How long to wait for the store lock.
    pub lock_wait: Duration,
}

impl RunRequest {
    /// A manual run of everything.
    pub fn manual() -> Self {
        Self {
            only: Vec::new(),
            trigger: Trigger::Manual,
            lock_wait: LOCK_WAIT,
        }
    }
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store is locked or not writable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--only` named an article that does not exist.
    #[error("no article with id `{0}` in the watchlist")]
    UnknownArticle(String),
    /// Anything else that stops the run (report not writable, client not buildable).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Called once per source fetched, for progress bars.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// A distinct (URL, rules) source of the run.
struct Job {
    key: String,
    url: url::Url,
    rules: Rules,
    fingerprint: String,
    cond: Conditional,
    prev_raw: Option<String>,
    prev_rules: Option<String>,
}

/// What processing one job gave.
enum Processed {
    Text {
        text: ExtractedText,
        page: Box<crate::fetch::FetchedPage>,
        raw_hash: String,
    },
    SameRaw {
        page: Box<crate::fetch::FetchedPage>,
        raw_hash: String,
    },
    NotModified {
        final_url: String,
    },
    Failed(crate::fetch::FetchFailure),
}

/// Runs the pipeline once.
pub async fn run_check(
    ctx: &Context,
    req: RunRequest,
    progress: Option<Progress>,
) -> Result<RunReport, RunError> {
    let started_at = Utc::now();
    let run_id = new_run_id(started_at);
    // Messages of earlier runs first; a mail problem never stops the run.
    let flushed = crate::notify::flush_outbox(&ctx.paths, &ctx.settings).await;
    let articles: Vec<&Article> = select_articles(&ctx.watchlist, &req.only)?;

    let store_dir = ctx.paths.snapshots();
    let mut store = Store::open(&store_dir)?;
    let lock_store = Store::open(&store_dir)?;
    let wait = req.lock_wait;
    let _lock = tokio::task::spawn_blocking(move || lock_store.lock(wait))
        .await
        .map_err(|e| anyhow::anyhow!("lock task: {e}"))??;
    let mut index = store.load_index()?;

    // Distinct sources, fetched once per URL however many articles cite them.
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: HashMap<String, usize> = HashMap::new();
    for a in &articles {
        for s in &a.sources {
            let fingerprint = rules_fingerprint(s.selector.as_deref(), &s.ignore);
            let key = snapshot::source_key(s.url.as_str(), &fingerprint);
            if job_of.contains_key(&key) {
                continue;
            }
            let rules = Rules::compile(s.selector.as_deref(), &s.ignore)?;
            let rec = index.sources.get(&key);
            let latest = rec.and_then(|r| r.versions.last());
            let cond = Conditional {
                etag: latest.and_then(|v| v.etag.clone()),
                last_modified: latest.and_then(|v| v.last_modified.clone()),
            };
            let last = rec.and_then(|r| r.last.as_ref());
            job_of.insert(key.clone(), jobs.len());
            jobs.push(Job {
                key,
                url: s.url.clone(),
                rules,
                fingerprint: format!("{EXTRACTOR_VERSION}:{fingerprint}"),
                cond,
                prev_raw: last.and_then(|l| l.raw.clone()),
                prev_rules: last.map(|l| l.rules.clone()),
            });
        }
    }

    // Fetch each distinct URL once; extract on the blocking pool as pages arrive.
    let fetcher = Fetcher::new(&ctx.settings.fetch)?;
    let total = jobs.len() as u64;
    let mut by_url: HashMap<String, Arc<tokio::sync::OnceCell<FetchOutcome>>> = HashMap::new();
    for j in &jobs {
        by_url.entry(j.url.to_string()).or_default();
    }
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let processed: Vec<Processed> = futures_util::stream::iter(jobs.iter().map(|job| {
        let cell = by_url[job.url.as_str()].clone();
        let fetcher = &fetcher;
        let progress = progress.clone();
        let done = done.clone();
        async move {
            let outcome = cell
                .get_or_init(|| fetcher.fetch(&job.url, &job.cond))
                .await
                .clone();
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if let Some(p) = &progress {
                p(n, total);
            }
            process(job, outcome).await
        }
    }))
    .buffered(ctx.settings.fetch.concurrency.max(1) * 2)
    .collect()
    .await;

    // Store new versions; work out each source's outcome.
    let now = Utc::now();
    let mut latest_text: HashMap<String, Option<ExtractedText>> = HashMap::new();
    let mut baseline_cache: HashMap<String, ExtractedText> = HashMap::new();
    let mut source_reports: BTreeMap<String, SourceReport> = BTreeMap::new();
    let mut failures: HashMap<String, String> = HashMap::new();
    let mut changed_keys: HashMap<String, bool> = HashMap::new();
    for (job, p) in jobs.iter().zip(processed) {
        let rec = index.sources.entry(job.key.clone()).or_default();
        rec.url = job.url.to_string();
        let (outcome, final_url, status, error) = match p {
            Processed::Failed(f) => {
                rec.last = Some(Attempt {
                    at: now,
                    raw: job.prev_raw.clone(),
                    rules: job.fingerprint.clone(),
                    error: Some(f.clone()),
                });
                failures.insert(job.key.clone(), f.detail.clone());
                latest_text.insert(job.key.clone(), None);
                (
                    SourceOutcome::Error,
                    f.final_url.clone(),
                    f.status,
                    Some(f.detail.clone()),
                )
            }
            Processed::NotModified { final_url } => {
                if let Some(v) = rec.versions.last_mut() {
                    v.last_seen = now;
                }
                if let Some(l) = &mut rec.last {
                    l.at = now;
                    l.error = None;
                }
                (SourceOutcome::Unchanged, Some(final_url), Some(304), None)
            }
            Processed::SameRaw { page, raw_hash } => {
                if let Some(v) = rec.versions.last_mut() {
                    v.last_seen = now;
                    v.etag = page.etag.clone();
                    v.last_modified = page.last_modified.clone();
                }
                rec.last = Some(Attempt {
                    at: now,
                    raw: Some(raw_hash),
                    rules: job.fingerprint.clone(),
                    error: None,
                });
                (
                    SourceOutcome::Unchanged,
                    Some(page.final_url.to_string()),
                    Some(page.status),
                    None,
                )
            }
            Processed::Text { text, page, raw_hash } => {
                let text_s = text.to_text();
                let text_hash = store.put_text(&text_s)?;
                let same = rec.versions.last().is_some_and(|v| v.text == text_hash);
                let outcome = if rec.versions.is_empty() {
                    SourceOutcome::New
                } else if same {
                    SourceOutcome::Unchanged
                } else {
                    SourceOutcome::Changed
                };
                if same {
                    let v = rec.versions.last_mut().expect("checked");
                    v.last_seen = now;
                    v.etag = page.etag.clone();
                    v.last_modified = page.last_modified.clone();
                    v.raw = Some(store.put_raw(&page.body)?);
                } else {
                    let raw = store.put_raw(&page.body)?;
                    rec.versions.push(Version {
                        text: text_hash,
                        raw: Some(raw),
                        first_seen: now,
                        last_seen: now,
                        status: page.status,
                        final_url: page.final_url.to_string(),
                        content_type: page.content_type.clone(),
                        etag: page.etag.clone(),
                        last_modified: page.last_modified.clone(),
                    });
                }
                rec.last = Some(Attempt {
                    at: now,
                    raw: Some(raw_hash),
                    rules: job.fingerprint.clone(),
                    error: None,
                });
                latest_text.insert(job.key.clone(), Some(text));
                (outcome, Some(page.final_url.to_string()), Some(page.status), None)
            }
        };
        changed_keys.insert(job.key.clone(), outcome == SourceOutcome::Changed);
        source_reports.entry(job.url.to_string()).or_insert(SourceReport {
            url: job.url.to_string(),
            final_url,
            http_status: status,
            outcome,
            error,
        });
    }

    // Evidence: judge every statement against each cited source's baseline.
    let mut statements = Vec::new();
    for a in &articles {
        for st in &a.statements {
            let mut per_cite = Vec::new();
            for &cite in &st.cites {
                let Some(src) = a.source(cite) else { continue };
                let fp = rules_fingerprint(src.selector.as_deref(), &src.ignore);
                let key = snapshot::source_key(src.url.as_str(), &fp);
                let bkey = snapshot::baseline_key(&st.id, cite);
                let latest_version = index
                    .sources
                    .get(&key)
                    .and_then(|r| r.versions.last())
                    .map(|v| v.text.clone());
                let mut rep = EvidenceReport {
                    cite: cite.0,
                    url: src.url.to_string(),
                    status: Verdict::Baseline,
                    before: None,
                    after: None,
                    facts: vec![],
                    note: None,
                };
                let failed = failures.get(&key);
                let existing = index.baselines.get(&bkey).cloned();
                let needs_new_baseline = existing
                    .as_ref()
                    .is_none_or(|b| !b.statement_text.is_empty() && b.statement_text != st.text);
                match (failed, latest_version) {
                    (Some(err), _) => {
                        rep.status = Verdict::SourceUnreachable;
                        rep.note = Some(err.clone());
                        if let Some(b) = &existing {
                            rep.before = b.anchors.first().map(|a| a.passage.clone());
                        }
                    }
                    (None, None) => {
                        rep.status = Verdict::SourceUnreachable;
                        rep.note = Some("no snapshot of this source yet".into());
                    }
                    (None, Some(version)) if needs_new_baseline => {
                        let text = load_text(&store, &mut baseline_cache, &latest_text, &key, &version)?;
                        let loc = evidence::locate(st, &text);
                        rep.status = Verdict::Baseline;
                        rep.note = baseline_note(&loc);
                        rep.after = loc.anchors.first().map(|a| a.passage.clone());
                        index.baselines.insert(
                            bkey.clone(),
                            Baseline {
                                statement: st.id.clone(),
                                cite,
                                source: key.clone(),
                                version,
                                anchors: loc.anchors,
                                missing_quotes: loc.missing_quotes,
                                set_at: now,
                                set_by: "first-seen".into(),
                                statement_text: st.text.clone(),
                                flag: None,
                            },
                        );
                    }
                    (None, Some(version)) => {
                        let b = existing.expect("checked above");
                        let base_text =
                            load_text(&store, &mut baseline_cache, &latest_text, &key, &b.version)?;
                        let now_text = load_text(&store, &mut baseline_cache, &latest_text, &key, &version)?;
                        let j = evidence::judge(&b.anchors, &base_text, &now_text);
                        rep.status = j.verdict;
                        rep.before = j.before;
                        rep.after = j.after;
                        rep.facts = j.facts;
                        if b.anchors.is_empty() {
                            rep.note =
                                Some("no evidence located at baseline: add an `evidence` quote".into());
                        }
                        if !b.missing_quotes.is_empty() {
                            rep.note = Some(format!(
                                "evidence quote not found in the source: {:?}",
                                b.missing_quotes
                            ));
                        }
                    }
                }
                per_cite.push(rep);
            }
            let status = per_cite
                .iter()
                .map(|e| e.status)
                .max()
                .unwrap_or(Verdict::Baseline);
            let flagged = status.flagged();
            // Flags persist until acked or back to baseline wording; `new` only the first time.
            let mut new = false;
            for e in &per_cite {
                let bkey = snapshot::baseline_key(&st.id, crate::watchlist::CiteNo(e.cite));
                if let Some(b) = index.baselines.get_mut(&bkey) {
                    if e.status.flagged() {
                        if b.flag.is_none() {
                            b.flag = Some(Flag {
                                since_run: run_id.clone(),
                                since: now,
                            });
                            new = true;
                        }
                    } else if e.status != Verdict::SourceUnreachable {
                        b.flag = None;
                    }
                } else if e.status.flagged() {
                    new = true;
                }
            }
            statements.push(StatementReport {
                id: st.id.to_string(),
                article: a.id.to_string(),
                text: st.text.clone(),
                cites: st.cites.iter().map(|c| c.0).collect(),
                status,
                flagged,
                new: flagged && new,
                evidence: per_cite,
            });
        }
    }

    store.commit(&mut index, ctx.settings.store.keep)?;

    let sources: Vec<SourceReport> = source_reports.into_values().collect();
    let summary = Summary {
        statements: statements.len(),
        flagged: statements.iter().filter(|s| s.flagged).count(),
        new_flags: statements.iter().filter(|s| s.new).count(),
        sources: sources.len(),
        sources_changed: sources
            .iter()
            .filter(|s| s.outcome == SourceOutcome::Changed)
            .count(),
        sources_failed: sources
            .iter()
            .filter(|s| s.outcome == SourceOutcome::Error)
            .count(),
    };
    let mut report = RunReport {
        run_id,
        trigger: req.trigger,
        started_at,
        finished_at: Utc::now(),
        summary,
        statements,
        sources,
        articles: articles
            .iter()
            .map(|a| ArticleInfo {
                id: a.id.to_string(),
                title: a.title.clone(),
            })
            .collect(),
        mail: None,
    };
    report.write(&ctx.paths.reports())?;
    // The store is done with; do not hold its lock through a slow SMTP server.
    drop(_lock);
    let mail = match crate::notify::deliver_report(&ctx.paths, &ctx.settings, &report).await {
        Ok(outcome) => outcome.to_string(),
        Err(e) => {
            tracing::warn!("report message not written: {e:#}");
            format!("not written: {e:#}")
        }
    };
    report.mail = Some(if flushed.is_quiet() {
        mail
    } else {
        format!("{mail}; {flushed}")
    });
    if let Err(e) = report.write(&ctx.paths.reports()) {
        tracing::warn!("cannot add the mail status to the report: {e:#}");
    }
    Ok(report)
}

fn baseline_note(loc: &evidence::Located) -> Option<String> {
    if !loc.missing_quotes.is_empty() {
        Some(format!(
            "evidence quote not found in the source: {:?}",
            loc.missing_quotes
        ))
    } else if loc.anchors.is_empty() {
        Some("no evidence located: add an `evidence` quote to the statement".into())
    } else {
        None
    }
}

fn load_text(
    store: &Store,
    cache: &mut HashMap<String, ExtractedText>,
    latest: &HashMap<String, Option<ExtractedText>>,
    key: &str,
    version: &str,
) -> Result<ExtractedText, RunError> {
    if let Some(Some(t)) = latest.get(key)
        && blake3::hash(t.to_text().as_bytes()).to_hex().as_str() == version
    {
        return Ok(t.clone());
    }
    if let Some(t) = cache.get(version) {
        return Ok(t.clone());
    }
    let t = ExtractedText::from_text(&store.get_text(version)?);
    cache.insert(version.to_owned(), t.clone());
    Ok(t)
}

async fn process(job: &Job, outcome: FetchOutcome) -> Processed {
    match outcome {
        FetchOutcome::Failed(f) => Processed::Failed(f),
        FetchOutcome::NotModified { final_url } => Processed::NotModified {
            final_url: final_url.to_string(),
        },
        FetchOutcome::Fetched(page) => {
            let rules = job.rules.clone();
            let same_rules = job.prev_rules.as_deref() == Some(job.fingerprint.as_str());
            let prev_raw = job.prev_raw.clone();
            let r = tokio::task::spawn_blocking(move || {
                let raw_hash = Store::raw_hash(&page.body);
                if same_rules && prev_raw.as_deref() == Some(raw_hash.as_str()) {
                    return Processed::SameRaw {
                        page: Box::new(page),
                        raw_hash,
                    };
                }
                match crate::extract::extract(&page.body, &page.content_type, &rules) {
                    Ok(text) => Processed::Text {
                        text,
                        page: Box::new(page),
                        raw_hash,
                    },
                    Err(e) => Processed::Failed(crate::fetch::FetchFailure {
                        kind: crate::fetch::FailureKind::UnsupportedType,
                        status: Some(page.status),
                        detail: e.to_string(),
                        final_url: Some(page.final_url.to_string()),
                        attempts: 1,
                    }),
                }
            })
            .await;
            r.unwrap_or_else(|e| {
                Processed::Failed(crate::fetch::FetchFailure {
                    kind: crate::fetch::FailureKind::UnsupportedType,
                    status: None,
                    detail: format!("extraction panicked: {e}"),
                    final_url: None,
                    attempts: 1,
                })
            })
        }
    }
}

fn select_articles<'a>(wl: &'a Watchlist, only: &[String]) -> Result<Vec<&'a Article>, RunError> {
    if only.is_empty() {
        return Ok(wl.articles.iter().collect());
    }
    only.iter()
        .map(|id| wl.article(id).ok_or_else(|| RunError::UnknownArticle(id.clone())))
        .collect()
}

/// Fingerprint of a source's extraction rules (empty when it has none).
pub fn rules_fingerprint(selector: Option<&str>, ignore: &[String]) -> String {
    if selector.is_none() && ignore.is_empty() {
        return String::new();
    }
    let mut h = blake3::Hasher::new();
    h.update(selector.unwrap_or("").as_bytes());
    for i in ignore {
        h.update(b"\0");
        h.update(i.as_bytes());
    }
    h.finalize().to_hex()[..12].to_owned()
}

/// A sortable run id: `YYYYMMDDTHHMMSSZ-xxxx`.
pub fn new_run_id(at: chrono::DateTime<Utc>) -> String {
    format!("{}-{:04x}", at.format("%Y%m%dT%H%M%SZ"), rand::random::<u16>())
}

/// Loads settings and watchlist under `root`; any error-level problem stops.
pub fn load_context(
    root: &Path,
) -> Result<(Context, Vec<crate::error::Diagnostic>), Vec<crate::error::Diagnostic>> {
    let paths = Paths::new(root);
    let settings = Settings::load(&paths.settings())?;
    let (watchlist, diags) = Watchlist::load_dir(&paths.watchlist());
    if diags.iter().any(crate::error::Diagnostic::is_error) {
        return Err(diags);
    }
    Ok((
        Context {
            paths,
            settings,
            watchlist,
        },
        diags,
    ))
}

/// Index helper for other modules (ack): the store's current index.
pub fn read_index(root: &Path) -> Result<Index, StoreError> {
    Store::open(&Paths::new(root).snapshots())?.load_index()
}
