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
use crate::fetch::{Conditional, FailureKind, FetchOutcome, Fetcher};
use crate::report::{
    ArticleInfo, EvidenceReport, RunReport, SourceOutcome, SourceReport, StatementReport, Summary, Trigger,
};
use crate::settings::Settings;
use crate::snapshot::{self, Attempt, Baseline, Flag, Index, Store, StoreError, Version};
use crate::watchlist::{Article, Watchlist};

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
    /// Anything else that stops the run (e.g. the report not writable).
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
    /// Hash of the latest stored text version.
    prev_text: Option<String>,
    /// The statement × cite pairs that cite this source, judged where its text is at hand.
    tasks: Vec<EvTask>,
    /// Stored versions (the latest, and those baselines refer to) that another extractor made,
    /// to extract again from their raw bodies: (text hash, raw hash, content type).
    reextract: Vec<(String, String, String)>,
    /// The source's `render` and `selector`, for the browser.
    render: Option<crate::watchlist::RenderMode>,
    selector: Option<String>,
}

/// One statement × cite to anchor or judge against a job's source.
#[derive(Clone)]
struct EvTask {
    /// `statement#cite`.
    bkey: String,
    statement: crate::watchlist::Statement,
    /// The cited source's number.
    cite: crate::watchlist::CiteNo,
    /// The current baseline, unless a new one must be taken.
    baseline: Option<(String, Vec<evidence::Anchor>)>,
}

/// The evidence stage's answer for one task, computed beside extraction.
enum EvOutcome {
    /// A new baseline: passages located in `version`.
    Located(evidence::Located),
    /// Judged against the baseline.
    Judged(evidence::Judgement),
    /// The baseline's text was made again by this extractor (`version`), the statement
    /// located there, and judged against it.
    Rebased {
        version: String,
        located: evidence::Located,
        judgement: evidence::Judgement,
    },
}

/// Runs a job's evidence tasks against the latest text version (`latest`, or loaded from the
/// store), preparing each text once. Pure CPU apart from reading stored texts.
fn run_tasks(
    tasks: &[EvTask],
    version: &str,
    latest: Option<&ExtractedText>,
    store: &Store,
    rebased: &HashMap<String, String>,
) -> Result<Vec<(String, String, EvOutcome)>, StoreError> {
    let mut out = Vec::with_capacity(tasks.len());
    let mut prepared: HashMap<String, evidence::Prepared> = HashMap::new();
    // Without a fresh text (304, same body), the latest stored version stands for today's
    // page: as this extractor reads it, if it was made again.
    let version = match latest {
        None => rebased.get(version).map_or(version, String::as_str),
        Some(_) => version,
    };
    // When nothing is judged against this version (a first run), it is indexed only as far
    // as locating its statements needs.
    let judging = tasks.iter().any(|t| {
        t.baseline
            .as_ref()
            .is_some_and(|(base, _)| rebased.get(base).map_or(base.as_str(), String::as_str) != version)
    });
    let locating: Vec<&crate::watchlist::Statement> = tasks
        .iter()
        .filter(|t| {
            t.baseline
                .as_ref()
                .is_none_or(|(base, _)| rebased.contains_key(base))
        })
        .map(|t| &t.statement)
        .collect();
    let prepare = |prepared: &mut HashMap<String, evidence::Prepared>, v: &str| -> Result<(), StoreError> {
        if !prepared.contains_key(v) {
            let stored;
            let text = match latest {
                Some(t) if v == version => t,
                _ => {
                    stored = ExtractedText::from_text(&store.get_text(v)?);
                    &stored
                }
            };
            let text = if v == version && !judging {
                evidence::Prepared::for_locating(text, &locating)
            } else {
                evidence::Prepared::new(text)
            };
            prepared.insert(v.to_owned(), text);
        }
        Ok(())
    };
    for t in tasks {
        if let Some((base, _)) = &t.baseline
            && let Some(nb) = rebased.get(base)
        {
            // The baseline's page as this extractor reads it: locate the statement there
            // again, then judge the latest text against it.
            prepare(&mut prepared, nb)?;
            let located = evidence::locate_in(&t.statement, t.cite, &prepared[nb.as_str()]);
            let judgement = if nb == version {
                evidence::Judgement {
                    verdict: Verdict::Unchanged,
                    before: None,
                    after: None,
                    facts: vec![],
                }
            } else {
                prepare(&mut prepared, version)?;
                evidence::judge_in(
                    &t.statement,
                    &located.anchors,
                    &prepared[nb.as_str()],
                    &prepared[version],
                )
            };
            out.push((
                t.bkey.clone(),
                version.to_owned(),
                EvOutcome::Rebased {
                    version: nb.clone(),
                    located,
                    judgement,
                },
            ));
            continue;
        }
        match &t.baseline {
            // The very text the baseline was taken from: nothing to judge.
            Some((base, _)) if base == version => out.push((
                t.bkey.clone(),
                version.to_owned(),
                EvOutcome::Judged(evidence::Judgement {
                    verdict: Verdict::Unchanged,
                    before: None,
                    after: None,
                    facts: vec![],
                }),
            )),
            Some((base, anchors)) => {
                prepare(&mut prepared, base)?;
                prepare(&mut prepared, version)?;
                let j = evidence::judge_in(
                    &t.statement,
                    anchors,
                    &prepared[base.as_str()],
                    &prepared[version],
                );
                out.push((t.bkey.clone(), version.to_owned(), EvOutcome::Judged(j)));
            }
            None => {
                prepare(&mut prepared, version)?;
                let loc = evidence::locate_in(&t.statement, t.cite, &prepared[version]);
                out.push((t.bkey.clone(), version.to_owned(), EvOutcome::Located(loc)));
            }
        }
    }
    Ok(out)
}

/// A fetched page's metadata, without its body (bodies are stored and dropped as soon as
/// they are processed, so memory stays flat however many sources a run has).
struct PageMeta {
    final_url: String,
    status: u16,
    content_type: String,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl PageMeta {
    fn of(page: &crate::fetch::FetchedPage) -> Self {
        Self {
            final_url: page.final_url.to_string(),
            status: page.status,
            content_type: page.content_type.clone(),
            etag: page.etag.clone(),
            last_modified: page.last_modified.clone(),
        }
    }
}

/// What processing one job gave.
enum Processed {
    /// Extracted and stored, evidence judged.
    Stored {
        meta: PageMeta,
        raw_hash: String,
        text_hash: String,
        evidence: Vec<(String, String, EvOutcome)>,
        /// Stored versions made again by this extractor: old text hash → new one.
        rebased: HashMap<String, String>,
    },
    /// The body is byte-identical to the last one (same rules): nothing extracted.
    SameRaw {
        meta: PageMeta,
        raw_hash: String,
        evidence: Vec<(String, String, EvOutcome)>,
        rebased: HashMap<String, String>,
    },
    NotModified {
        final_url: String,
        evidence: Vec<(String, String, EvOutcome)>,
        rebased: HashMap<String, String>,
    },
    Failed(crate::fetch::FetchFailure),
    /// The store could not be written: the run cannot go on.
    StoreFailed(StoreError),
}

/// Runs the pipeline once.
pub async fn run_check(
    ctx: &Context,
    req: RunRequest,
    progress: Option<Progress>,
) -> Result<RunReport, RunError> {
    let started_at = Utc::now();
    let t_start = std::time::Instant::now();
    let run_id = new_run_id(started_at);
    // Messages of earlier runs first; a mail problem never stops the run.
    let flushed = crate::notify::flush_outbox(&ctx.paths, &ctx.settings).await;
    let articles: Vec<&Article> = select_articles(&ctx.watchlist, &req.only)?;

    let store_dir = ctx.paths.snapshots();
    let store = Arc::new(Store::open(&store_dir)?);
    let lock_store = Store::open(&store_dir)?;
    let wait = req.lock_wait;
    let _lock = tokio::task::spawn_blocking(move || lock_store.lock(wait))
        .await
        .map_err(|e| anyhow::anyhow!("lock task: {e}"))??;
    let mut index = store.load_index()?;
    tracing::debug!(
        elapsed_ms = t_start.elapsed().as_millis() as u64,
        "outbox flushed, store locked, index loaded"
    );

    // Distinct sources, fetched once per URL however many articles cite them.
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: HashMap<String, usize> = HashMap::new();
    // Sources sharing an `ignore` pattern share its compiled form.
    let mut rule_cache = crate::extract::RuleCache::default();
    for a in &articles {
        for s in &a.sources {
            let fingerprint = rules_fingerprint(s.selector.as_deref(), &s.ignore);
            let key = snapshot::source_key(s.url.as_str(), &fingerprint);
            if job_of.contains_key(&key) {
                continue;
            }
            let rules = rule_cache.compile(s.selector.as_deref(), &s.ignore)?;
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
                fingerprint: format!("{}:{fingerprint}", crate::extract::EXTRACTOR_VERSION),
                cond,
                prev_raw: last.and_then(|l| l.raw.clone()),
                prev_rules: last.map(|l| l.rules.clone()),
                prev_text: latest.map(|v| v.text.clone()),
                tasks: Vec::new(),
                reextract: Vec::new(),
                render: s.render,
                selector: s.selector.clone(),
            });
        }
    }
    for a in &articles {
        for st in &a.statements {
            for &cite in &st.cites {
                let Some(src) = a.source(cite) else { continue };
                let key = source_key_of(src);
                let Some(&j) = job_of.get(&key) else {
                    continue;
                };
                let bkey = snapshot::baseline_key(&st.id, cite);
                // A baseline is (re)taken on first sight, after a source that was never
                // reachable comes back (empty version), when the statement was reworded, and
                // when the cite now points at another URL or other extraction rules.
                let baseline = index.baselines.get(&bkey).and_then(|b| {
                    let stale = b.version.is_empty()
                        || b.source != key
                        || (!b.statement_text.is_empty() && b.statement_text != st.text);
                    (!stale).then(|| (b.version.clone(), b.anchors.clone()))
                });
                jobs[j].tasks.push(EvTask {
                    bkey,
                    statement: st.clone(),
                    cite,
                    baseline,
                });
            }
        }
    }
    // After an extractor upgrade, the latest text and the baselines' texts are made again from
    // their raw bodies, so that a run compares texts of one extractor: the upgrade itself is
    // not a change of the sources.
    for job in &mut jobs {
        let Some(rec) = index.sources.get(&job.key) else {
            continue;
        };
        let wanted = |v: &Version| {
            job.prev_text.as_deref() == Some(v.text.as_str())
                || job
                    .tasks
                    .iter()
                    .any(|t| t.baseline.as_ref().is_some_and(|(b, _)| *b == v.text))
        };
        job.reextract = rec
            .versions
            .iter()
            .filter(|v| v.extractor() != crate::extract::EXTRACTOR_VERSION && wanted(v))
            .filter_map(|v| {
                if v.raw.is_none() {
                    tracing::warn!(
                        url = %job.url,
                        "version {} was made by extractor {} and has no raw body to read again",
                        v.text,
                        v.extractor()
                    );
                }
                Some((v.text.clone(), v.raw.clone()?, v.content_type.clone()))
            })
            .collect();
    }

    // Fetch each distinct URL once (however many articles or rule sets cite it); extract and
    // store on the blocking pool as pages arrive, so no body outlives its processing.
    let reader = crate::fetch::read::Reader::new(Fetcher::new(&ctx.settings.fetch)?, &ctx.settings);
    let rendered: Arc<Vec<std::sync::atomic::AtomicBool>> =
        Arc::new(jobs.iter().map(|_| Default::default()).collect());
    let mut groups: Vec<(url::Url, Vec<usize>)> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        let g = *group_of.entry(j.url.to_string()).or_insert_with(|| {
            groups.push((j.url.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    let total = groups.len() as u64;
    tracing::debug!(elapsed_ms = t_start.elapsed().as_millis() as u64, "jobs planned");
    let t0 = std::time::Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    // Four per core: a processing task also waits on file writes and shares the cores with
    // the fetches' network work. Measured on the 1000-page bench (2 cores): one per core left
    // the cores idle a quarter of a cold run; four per core beat two by about 5% of wall time,
    // for about 6 MiB more peak memory.
    let cpu = tokio::sync::Semaphore::new(cores * 4);
    // Each source is a task of its own, so the runtime's workers (not just the thread that
    // awaits the run) read the bodies while other pages are being extracted.
    let jobs = Arc::new(jobs);
    let cpu = Arc::new(cpu);
    // Fetches start round-robin over the hosts with a free slot, so that a watchlist listed
    // host by host (or one slow host) cannot fill the window with fetches waiting for one host.
    let queue = crate::fetch::HostQueue::new(
        groups.iter().map(|g| (g.0.clone(), g.clone())),
        ctx.settings.fetch.effective_per_host(),
    );
    let mut processed: Vec<Option<Processed>> = queue
        .into_stream()
        .map(|((url, members), slot)| {
            let reader = reader.clone();
            let rendered = rendered.clone();
            let jobs = jobs.clone();
            let cpu = cpu.clone();
            let progress = progress.clone();
            let done = done.clone();
            let store = store.clone();
            let url = url.clone();
            let members = members.clone();
            let fallback = members.clone();
            // Aborted if the run is dropped (the daemon's grace period ran out): no fetch
            // outlives the run or its store lock.
            let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                // Validators only hold when one rule set watches the URL.
                let cond = match members.as_slice() {
                    [one] => jobs[*one].cond.clone(),
                    _ => Conditional::default(),
                };
                let want = want_of(&jobs, &members);
                let read = reader.read(&url, &cond, want).await;
                let outcome = read.outcome;
                drop(slot);
                // Kept for the random-sibling probe, should evidence turn out removed (only a
                // source with a baseline to judge against can remove any).
                let judged = members
                    .iter()
                    .any(|&m| jobs[m].tasks.iter().any(|t| t.baseline.is_some()));
                let kept = match &outcome {
                    FetchOutcome::Fetched(p) if judged => Some(p.clone()),
                    _ => None,
                };
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Some(p) = &progress {
                    p(n, total);
                }
                let mut out = Vec::with_capacity(members.len());
                let mut outcome = Some(outcome);
                for (i, &m) in members.iter().enumerate() {
                    // The last member takes the body itself; only shared URLs copy it.
                    let o = if i + 1 == members.len() {
                        outcome.take().expect("taken once, by the last member")
                    } else {
                        outcome.clone().expect("taken only by the last member")
                    };
                    let mut p = process(&jobs[m], o, store.clone(), &cpu).await;
                    if let Some(page) = kept.as_ref().filter(|_| removes_evidence(&p))
                        && let Some(f) = reader.same_page_elsewhere(&url, page, want).await
                    {
                        p = Processed::Failed(f);
                    }
                    rendered[m].store(
                        read.rendered && !matches!(p, Processed::Failed(_)),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    out.push((m, p));
                }
                out
            }));
            async move {
                match task.await {
                    Ok(out) => out,
                    // A panic outside extraction (it has its own guard): the sources fail.
                    Err(e) => {
                        let detail = e.to_string();
                        fallback
                            .into_iter()
                            .map(|m| (m, panicked_with(&detail)))
                            .collect()
                    }
                }
            }
        })
        .buffer_unordered(ctx.settings.fetch.effective_concurrency() * 2)
        .fold(
            (0..jobs.len()).map(|_| None).collect::<Vec<_>>(),
            |mut acc, results| async move {
                for (m, p) in results {
                    acc[m] = Some(p);
                }
                acc
            },
        )
        .await;
    reader.close().await;
    tracing::debug!(
        elapsed_ms = t0.elapsed().as_millis() as u64,
        sources = total,
        "fetched and extracted"
    );
    let t0 = std::time::Instant::now();
    let processed: Vec<Processed> = processed
        .iter_mut()
        .map(|p| p.take().expect("every job processed"))
        .collect();

    // Store new versions; work out each source's outcome.
    let now = Utc::now();
    let mut ev_results: HashMap<String, (String, EvOutcome)> = HashMap::new();
    let mut source_reports: BTreeMap<String, SourceReport> = BTreeMap::new();
    let mut failures: HashMap<String, String> = HashMap::new();
    for (i, (job, p)) in jobs.iter().zip(processed).enumerate() {
        let rendered = rendered[i].load(std::sync::atomic::Ordering::Relaxed);
        let rec = index.sources.entry(job.key.clone()).or_default();
        rec.url = job.url.to_string();
        let failure = match &p {
            Processed::Failed(f) => Some(f.kind.reported()),
            _ => None,
        };
        let (outcome, final_url, status, error) = match p {
            Processed::Failed(f) => {
                // Keep the rules the stored text was made with: the next identical body must
                // still be extracted again if the rules or the extractor changed meanwhile.
                rec.last = Some(Attempt {
                    at: now,
                    raw: job.prev_raw.clone(),
                    rules: job.prev_rules.clone().unwrap_or_default(),
                    error: Some(f.clone()),
                });
                failures.insert(job.key.clone(), f.detail.clone());
                (
                    SourceOutcome::Error,
                    f.final_url.clone(),
                    f.status,
                    Some(f.detail.clone()),
                )
            }
            Processed::StoreFailed(e) => return Err(RunError::Store(e)),
            Processed::NotModified {
                final_url,
                evidence,
                rebased,
            } => {
                ev_results.extend(evidence.into_iter().map(|(k, v, o)| (k, (v, o))));
                apply_rebased(&mut rec.versions, &rebased);
                if let Some(v) = rec.versions.last_mut() {
                    v.last_seen = now;
                }
                if let Some(l) = &mut rec.last {
                    l.at = now;
                    l.error = None;
                }
                (SourceOutcome::Unchanged, Some(final_url), Some(304), None)
            }
            Processed::SameRaw {
                meta,
                raw_hash,
                evidence,
                rebased,
            } => {
                ev_results.extend(evidence.into_iter().map(|(k, v, o)| (k, (v, o))));
                apply_rebased(&mut rec.versions, &rebased);
                if let Some(v) = rec.versions.last_mut() {
                    v.last_seen = now;
                    v.etag = meta.etag;
                    v.last_modified = meta.last_modified;
                }
                rec.last = Some(Attempt {
                    at: now,
                    raw: Some(raw_hash),
                    rules: job.fingerprint.clone(),
                    error: None,
                });
                (
                    SourceOutcome::Unchanged,
                    Some(meta.final_url),
                    Some(meta.status),
                    None,
                )
            }
            Processed::Stored {
                meta,
                raw_hash,
                text_hash,
                evidence,
                rebased,
            } => {
                ev_results.extend(evidence.into_iter().map(|(k, v, o)| (k, (v, o))));
                apply_rebased(&mut rec.versions, &rebased);
                let same = rec.versions.last().is_some_and(|v| v.text == text_hash);
                let outcome = if rec.versions.is_empty() {
                    SourceOutcome::New
                } else if same {
                    SourceOutcome::Unchanged
                } else {
                    SourceOutcome::Changed
                };
                if same {
                    // Same text: the version keeps the raw body it was first stored with.
                    let v = rec.versions.last_mut().expect("checked");
                    v.last_seen = now;
                    v.etag = meta.etag;
                    v.last_modified = meta.last_modified;
                } else {
                    rec.versions.push(Version {
                        text: text_hash,
                        raw: Some(raw_hash.clone()),
                        first_seen: now,
                        last_seen: now,
                        status: meta.status,
                        final_url: meta.final_url.clone(),
                        content_type: meta.content_type,
                        etag: meta.etag,
                        last_modified: meta.last_modified,
                        extractor: Some(crate::extract::EXTRACTOR_VERSION.to_owned()),
                    });
                }
                rec.last = Some(Attempt {
                    at: now,
                    raw: Some(raw_hash),
                    rules: job.fingerprint.clone(),
                    error: None,
                });
                (outcome, Some(meta.final_url), Some(meta.status), None)
            }
        };
        // Several rule sets may watch one URL: the report shows the most telling outcome.
        let rank = |o: SourceOutcome| match o {
            SourceOutcome::Unchanged => 0,
            SourceOutcome::New => 1,
            SourceOutcome::Changed => 2,
            SourceOutcome::Error => 3,
        };
        let entry = source_reports.entry(job.url.to_string()).or_insert(SourceReport {
            url: job.url.to_string(),
            final_url: final_url.clone(),
            http_status: status,
            outcome,
            error: error.clone(),
            failure,
            rendered,
        });
        if rank(outcome) > rank(entry.outcome) {
            *entry = SourceReport {
                url: job.url.to_string(),
                final_url,
                http_status: status,
                outcome,
                error,
                failure,
                rendered,
            };
        }
    }

    tracing::debug!(elapsed_ms = t0.elapsed().as_millis() as u64, "stored");
    let t0 = std::time::Instant::now();
    // Evidence: judge every statement against each cited source's baseline.
    let mut statements = Vec::new();
    for a in &articles {
        for st in &a.statements {
            let mut per_cite = Vec::new();
            for &cite in &st.cites {
                let Some(src) = a.source(cite) else { continue };
                let key = source_key_of(src);
                let bkey = snapshot::baseline_key(&st.id, cite);
                let mut rep = EvidenceReport {
                    cite: cite.0,
                    url: src.url.to_string(),
                    status: Verdict::Baseline,
                    before: None,
                    after: None,
                    facts: vec![],
                    note: None,
                    anchored: false,
                    candidate: None,
                    missing_quotes: vec![],
                };
                let failed = failures.get(&key);
                let existing = index.baselines.get(&bkey).cloned();
                match (failed, ev_results.remove(&bkey)) {
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
                    (None, Some((version, EvOutcome::Located(loc)))) => {
                        rep.status = Verdict::Baseline;
                        rep.note = baseline_note(&loc);
                        rep.before = loc.anchors.first().map(|a| a.passage.clone());
                        index.baselines.insert(
                            bkey.clone(),
                            Baseline {
                                statement: st.id.clone(),
                                cite,
                                source: key.clone(),
                                version,
                                anchors: loc.anchors,
                                missing_quotes: loc.missing_quotes,
                                unfound_quotes: loc.unfound_quotes,
                                candidate: loc.candidate,
                                set_at: now,
                                set_by: "first-seen".into(),
                                statement_text: st.text.clone(),
                                flag: None,
                            },
                        );
                    }
                    (
                        None,
                        Some((
                            _,
                            EvOutcome::Rebased {
                                version,
                                located,
                                judgement: j,
                            },
                        )),
                    ) => {
                        rep.status = j.verdict;
                        rep.before = j.before;
                        rep.after = j.after;
                        rep.facts = j.facts;
                        rep.note = baseline_note(&located);
                        if let Some(b) = index.baselines.get_mut(&bkey) {
                            b.version = version;
                            b.anchors = located.anchors;
                            b.missing_quotes = located.missing_quotes;
                            b.unfound_quotes = located.unfound_quotes;
                            b.candidate = located.candidate;
                            // Still the same snapshot of the page: `set_at` stays, `set_by` grows.
                            b.set_by = format!(
                                "{}; re-extracted ({})",
                                b.set_by,
                                crate::extract::EXTRACTOR_VERSION
                            );
                            b.statement_text = st.text.clone();
                        }
                    }
                    (None, Some((_, EvOutcome::Judged(j)))) => {
                        rep.status = j.verdict;
                        rep.before = j.before;
                        rep.after = j.after;
                        rep.facts = j.facts;
                        if let Some(b) = &existing {
                            if b.anchors.is_empty() {
                                rep.note = Some(match rep.status {
                                    Verdict::SourceChanged => {
                                        "no evidence located at baseline, and the change touches this statement's words".into()
                                    }
                                    _ => "no evidence located at baseline: add an `evidence` quote".into(),
                                });
                            }
                            if !b.missing_quotes.is_empty() {
                                rep.note = Some(format!(
                                    "evidence quote not found in the source: {}",
                                    quote_list(&b.missing_quotes)
                                ));
                            }
                        }
                    }
                }
                // What the baseline holds for this pair, as it stands after this run.
                if let Some(b) = index.baselines.get(&bkey)
                    && !b.version.is_empty()
                {
                    rep.anchored = !b.anchors.is_empty();
                    rep.candidate = if rep.anchored { None } else { b.candidate.clone() };
                    rep.missing_quotes = b.missing_quotes.clone();
                    if rep.before.is_none() && !rep.status.flagged() {
                        rep.before = b.anchors.first().map(|a| a.passage.clone());
                    }
                }
                per_cite.push(rep);
            }
            // A plain quote is missing only when no cited source has it.
            for q in st.quotes.iter().filter(|q| q.cite.is_none()) {
                let bkeys: Vec<String> = st
                    .cites
                    .iter()
                    .map(|&c| snapshot::baseline_key(&st.id, c))
                    .collect();
                let nowhere = bkeys.iter().all(|k| {
                    index
                        .baselines
                        .get(k)
                        .is_some_and(|b| !b.version.is_empty() && b.unfound_quotes.contains(&q.text))
                });
                if nowhere {
                    for rep in &mut per_cite {
                        rep.missing_quotes.push(q.text.clone());
                        if rep.note.is_none() {
                            rep.note = Some(format!(
                                "evidence quote not found in any cited source: {}",
                                quote_list(std::slice::from_ref(&q.text))
                            ));
                        }
                    }
                }
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
                        // A flag raised while the source was unreachable does not cover what
                        // is found once it is back: a changed or removed passage is news.
                        let raised_by_outage = b.flag.as_ref().is_some_and(|f| {
                            f.verdict == Some(Verdict::SourceUnreachable)
                                && e.status != Verdict::SourceUnreachable
                        });
                        if b.flag.is_none() || raised_by_outage {
                            b.flag = Some(Flag {
                                since_run: run_id.clone(),
                                since: now,
                                verdict: Some(e.status),
                            });
                            new = true;
                        }
                    } else {
                        b.flag = None;
                    }
                } else if e.status.flagged() {
                    // Unreachable on first sight: remember the flag (with no version yet) so
                    // later runs report it as outstanding, not new again.
                    let Some(src) = a.source(crate::watchlist::CiteNo(e.cite)) else {
                        continue;
                    };
                    index.baselines.insert(
                        bkey,
                        Baseline {
                            statement: st.id.clone(),
                            cite: crate::watchlist::CiteNo(e.cite),
                            source: source_key_of(src),
                            version: String::new(),
                            anchors: Vec::new(),
                            missing_quotes: Vec::new(),
                            unfound_quotes: Vec::new(),
                            candidate: None,
                            set_at: now,
                            set_by: "first-seen".into(),
                            statement_text: st.text.clone(),
                            flag: Some(Flag {
                                since_run: run_id.clone(),
                                since: now,
                                verdict: Some(e.status),
                            }),
                        },
                    );
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

    tracing::debug!(elapsed_ms = t0.elapsed().as_millis() as u64, "evidence judged");
    let t0 = std::time::Instant::now();
    // Baselines of statements (or cites) the checked articles no longer have: a reworded
    // statement has a new id, and its old baseline would pin old versions forever.
    let live: std::collections::HashSet<String> = articles
        .iter()
        .flat_map(|a| {
            a.statements
                .iter()
                .flat_map(|st| st.cites.iter().map(|&c| snapshot::baseline_key(&st.id, c)))
        })
        .collect();
    index.baselines.retain(|k, b| {
        let checked = articles
            .iter()
            .any(|a| b.statement.0.starts_with(&format!("{}:", a.id)));
        !checked || live.contains(k)
    });

    // syncfs and fsync may block for a while on a busy disk: off the async workers.
    let keep = ctx.settings.store.keep;
    let committer = store.clone();
    tokio::task::spawn_blocking(move || committer.commit(&mut index, keep))
        .await
        .map_err(|e| anyhow::anyhow!("commit task: {e}"))??;
    tracing::debug!(elapsed_ms = t0.elapsed().as_millis() as u64, "store committed");

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
    tracing::debug!(elapsed_ms = t0.elapsed().as_millis() as u64, "report written");
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
    if let Err(e) = report.write_json(&ctx.paths.reports()) {
        tracing::warn!("cannot add the mail status to the report: {e:#}");
    }
    tracing::debug!(
        elapsed_ms = t0.elapsed().as_millis() as u64,
        "report message handled"
    );
    Ok(report)
}

/// How a URL shared by `members` is read: in the browser if any of them asks for it, over
/// HTTP only if all do; the first member's rules and selector.
fn want_of<'a>(jobs: &'a [Job], members: &[usize]) -> crate::fetch::read::Want<'a> {
    use crate::watchlist::RenderMode;
    let modes: Vec<Option<RenderMode>> = members.iter().map(|&m| jobs[m].render).collect();
    let first = &jobs[members[0]];
    crate::fetch::read::Want {
        mode: if modes.contains(&Some(RenderMode::Browser)) {
            Some(RenderMode::Browser)
        } else if modes.iter().all(|m| *m == Some(RenderMode::Http)) {
            Some(RenderMode::Http)
        } else {
            None
        },
        rules: &first.rules,
        selector: first.selector.as_deref(),
    }
}

/// Whether a processed source judged an anchored passage gone (before that is reported,
/// the random-sibling probe makes sure the site does not answer every URL with one page).
fn removes_evidence(p: &Processed) -> bool {
    let evidence = match p {
        Processed::Stored { evidence, .. } | Processed::SameRaw { evidence, .. } => evidence,
        _ => return false,
    };
    evidence.iter().any(|(_, _, o)| match o {
        EvOutcome::Judged(j) | EvOutcome::Rebased { judgement: j, .. } => {
            j.verdict == Verdict::EvidenceRemoved
        }
        EvOutcome::Located(_) => false,
    })
}

/// Quotes as a person reads them: `"a", "b"`.
fn quote_list(quotes: &[String]) -> String {
    quotes
        .iter()
        .map(|q| format!("\u{201c}{q}\u{201d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn baseline_note(loc: &evidence::Located) -> Option<String> {
    if !loc.missing_quotes.is_empty() {
        Some(format!(
            "evidence quote not found in the source: {}",
            quote_list(&loc.missing_quotes)
        ))
    } else if loc.anchors.is_empty() {
        Some("no evidence located: add an `evidence` quote to the statement".into())
    } else {
        None
    }
}

async fn process(
    job: &Job,
    outcome: FetchOutcome,
    store: Arc<Store>,
    cpu: &tokio::sync::Semaphore,
) -> Processed {
    match outcome {
        FetchOutcome::Failed(f) => Processed::Failed(f),
        FetchOutcome::NotModified { final_url } => {
            let Some(version) = job.prev_text.clone() else {
                return Processed::NotModified {
                    final_url: final_url.to_string(),
                    evidence: vec![],
                    rebased: HashMap::new(),
                };
            };
            let tasks = job.tasks.clone();
            let rules = job.rules.clone();
            let reextract = job.reextract.clone();
            let _permit = cpu.acquire().await;
            let r = tokio::task::spawn_blocking(move || {
                let rebased = reextract_versions(&reextract, &rules, &store)?;
                let ev = run_tasks(&tasks, &version, None, &store, &rebased)?;
                Ok::<_, StoreError>((ev, rebased))
            })
            .await;
            match r {
                Ok(Ok((evidence, rebased))) => Processed::NotModified {
                    final_url: final_url.to_string(),
                    evidence,
                    rebased,
                },
                Ok(Err(e)) => Processed::StoreFailed(e),
                Err(e) => panicked(e),
            }
        }
        FetchOutcome::Fetched(page) => {
            let rules = job.rules.clone();
            let same_rules = job.prev_rules.as_deref() == Some(job.fingerprint.as_str());
            let prev_raw = job.prev_raw.clone();
            let prev_text = job.prev_text.clone();
            let tasks = job.tasks.clone();
            let reextract = job.reextract.clone();
            // Parsing is CPU-bound: at most two extractions per core, however many fetches
            // are in flight, so pages wait as bytes rather than as half-built trees.
            let _permit = cpu.acquire().await;
            let r = tokio::task::spawn_blocking(move || {
                let meta = PageMeta::of(&page);
                let raw_hash = Store::raw_hash(&page.body);
                if same_rules
                    && prev_raw.as_deref() == Some(raw_hash.as_str())
                    && let Some(version) = &prev_text
                {
                    let judged = reextract_versions(&reextract, &rules, &store).and_then(|rebased| {
                        Ok((run_tasks(&tasks, version, None, &store, &rebased)?, rebased))
                    });
                    return match judged {
                        Ok((evidence, rebased)) => Processed::SameRaw {
                            meta,
                            raw_hash,
                            evidence,
                            rebased,
                        },
                        Err(e) => Processed::StoreFailed(e),
                    };
                }
                let failed = |kind, detail: String| {
                    Processed::Failed(crate::fetch::FetchFailure {
                        kind,
                        status: Some(page.status),
                        detail,
                        final_url: Some(page.final_url.to_string()),
                        attempts: 1,
                    })
                };
                let text = match crate::extract::extract(&page.body, &page.content_type, &rules) {
                    Ok(text) => text,
                    Err(e) => {
                        let kind = match e {
                            crate::extract::ExtractError::Unsupported(_)
                            | crate::extract::ExtractError::Binary(_) => FailureKind::UnsupportedType,
                            _ => FailureKind::Extract,
                        };
                        return failed(kind, e.to_string());
                    }
                };
                // The raw body is kept with each new text version; a body whose text did not
                // change (new timestamps, menus, ads) adds nothing to the store.
                let stored = store.put_text(&text.to_text()).and_then(|h| {
                    if prev_text.as_deref() != Some(h.as_str()) {
                        store.put_raw_hashed(&page.body, raw_hash.clone())?;
                    }
                    Ok((h, raw_hash))
                });
                let evidence = stored.and_then(|(text_hash, raw_hash)| {
                    let rebased = reextract_versions(&reextract, &rules, &store)?;
                    let ev = run_tasks(&tasks, &text_hash, Some(&text), &store, &rebased)?;
                    Ok((text_hash, raw_hash, ev, rebased))
                });
                match evidence {
                    Ok((text_hash, raw_hash, evidence, rebased)) => Processed::Stored {
                        meta,
                        raw_hash,
                        text_hash,
                        evidence,
                        rebased,
                    },
                    Err(e) => Processed::StoreFailed(e),
                }
            })
            .await;
            r.unwrap_or_else(panicked)
        }
    }
}

/// Records the versions made again by this extractor (old text hash → new): each comes right
/// after the version it was made from (same raw body and times), so the latest stays the
/// latest. One whose text did not change only records the extractor.
fn apply_rebased(versions: &mut Vec<Version>, rebased: &HashMap<String, String>) {
    let current = crate::extract::EXTRACTOR_VERSION;
    for (old, new) in rebased {
        if old == new {
            for v in versions.iter_mut().filter(|v| v.text == *old) {
                v.extractor = Some(current.to_owned());
            }
            continue;
        }
        // The last occurrence: a text that came back (A, B, A) is the latest one.
        let Some(i) = versions.iter().rposition(|v| v.text == *old) else {
            continue;
        };
        let latest = i + 1 == versions.len();
        if latest || !versions.iter().any(|v| v.text == *new) {
            let mut v = versions[i].clone();
            v.text = new.clone();
            v.extractor = Some(current.to_owned());
            versions.insert(i + 1, v);
        }
    }
}

/// Extracts the raw bodies of `versions` (text hash, raw hash, content type) again with this
/// extractor and stores the texts: old text hash → new. A body that cannot be read or
/// extracted again is left out (its version is judged as stored), with a warning.
fn reextract_versions(
    versions: &[(String, String, String)],
    rules: &Rules,
    store: &Store,
) -> Result<HashMap<String, String>, StoreError> {
    let mut out = HashMap::new();
    for (text, raw, content_type) in versions {
        let body = match store.get_raw(raw) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot re-extract stored version {text}: {e}");
                continue;
            }
        };
        match crate::extract::extract(&body, content_type, rules) {
            Ok(t) => {
                out.insert(text.clone(), store.put_text(&t.to_text())?);
            }
            Err(e) => tracing::warn!("cannot re-extract stored version {text}: {e}"),
        }
    }
    Ok(out)
}

/// A processing task that panicked: the source fails, the run goes on.
fn panicked(e: tokio::task::JoinError) -> Processed {
    panicked_with(&e.to_string())
}

fn panicked_with(e: &str) -> Processed {
    Processed::Failed(crate::fetch::FetchFailure {
        kind: FailureKind::Extract,
        status: None,
        detail: format!("processing panicked: {e}"),
        final_url: None,
        attempts: 1,
    })
}

fn select_articles<'a>(wl: &'a Watchlist, only: &[String]) -> Result<Vec<&'a Article>, RunError> {
    if only.is_empty() {
        return Ok(wl.articles.iter().collect());
    }
    if let Some(id) = only.iter().find(|id| wl.article(id).is_none()) {
        return Err(RunError::UnknownArticle(id.clone()));
    }
    // Watchlist order, each article once however often it was named.
    Ok(wl.articles.iter().filter(|a| only.contains(&a.id.0)).collect())
}

/// The store key of a watchlist source: its URL plus its extraction rules.
pub fn source_key_of(src: &crate::watchlist::Source) -> String {
    snapshot::source_key(
        src.url.as_str(),
        &rules_fingerprint(src.selector.as_deref(), &src.ignore),
    )
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

/// A sortable run id: `YYYYMMDDTHHMMSSZ-mmmr` (hex: millisecond, random digit).
pub fn new_run_id(at: chrono::DateTime<Utc>) -> String {
    // The suffix is the millisecond (3 hex digits) and a random digit, so ids sort in the
    // order runs started even within one second.
    format!(
        "{}-{:03x}{:x}",
        at.format("%Y%m%dT%H%M%SZ"),
        at.timestamp_subsec_millis(),
        rand::random::<u8>() & 0xf
    )
}

/// Loads settings and watchlist under `root`; any error-level problem stops.
pub fn load_context(
    root: &Path,
) -> Result<(Context, Vec<crate::error::Diagnostic>), Vec<crate::error::Diagnostic>> {
    let paths = Paths::new(root);
    let settings = Settings::load(&paths.settings())?;
    let (watchlist, diags) =
        Watchlist::load_dir_in(&paths.root, &paths.watchlist(), settings.watchlist.allow_outside);
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
