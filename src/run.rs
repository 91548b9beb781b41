//! The pipeline, written once: [`RunRequest`] → [`RunReport`]. `check`, the daemon's
//! schedule and the manual trigger all call [`run_check`], which reads as the stages, one
//! module each (`src/run/`):
//!
//! 1. `plan`: the articles, the distinct sources to fetch, each statement × cite with the
//!    baseline it is judged against, the stored versions to extract again.
//! 2. per-source work, concurrent: `work` fetches each URL once, `source` extracts and
//!    stores the body (blocking pool), `judge` locates or judges the statements citing it.
//! 3. record: `books` writes each source's versions and attempt; `verdicts` moves each
//!    statement's baseline and flag through [`crate::record`] (the lifecycle's rules); the
//!    store commits in one transaction.
//! 4. `report`: the [`RunReport`], summarised.
//! 5. `notify`: the outbox flushed, this run's message delivered; then the report is
//!    written, once, with what became of the mail.

mod archive;
mod books;
mod judge;
mod notify;
mod plan;
mod report;
mod source;
mod verdicts;
mod work;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::ids::BaselineKey;
use crate::report::ArticleInfo;
use crate::report::{RunReport, Trigger};
use crate::snapshot::{self, Claim, RunRecord, Store, StoreError};
use crate::watchlist::{Article, Entry};

pub use crate::ids::{RunId, new_run_id, rules_fingerprint, source_key_of};
pub use crate::workspace::{Context, Paths, load_context};
pub use archive::{Rebaselined, archive_again};

/// A local run's batch: about this many sources (and at most `[store] claim_batch` articles)
/// are loaded, fetched, judged and committed at a time, so a desk's archive of 20,000
/// articles is never held in memory at once.
pub const LOCAL_BATCH_SOURCES: usize = 1000;

/// How long a run waits for another run's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// One run's request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Only these articles (empty: all).
    pub only: Vec<String>,
    /// What started it.
    pub trigger: Trigger,
    /// How long to wait for the store lock.
    pub lock_wait: Duration,
    /// Mail the report (and retry the outbox) as `[email]` says; `check --no-email` turns it
    /// off for one run.
    pub email: bool,
    /// The cron due time of a scheduled run: on a shared store each article is run once per
    /// due time, by whichever worker claims it first (`None`: a manual run, which runs every
    /// article it names).
    pub due: Option<chrono::DateTime<Utc>>,
}

impl RunRequest {
    /// A manual run of everything.
    pub fn manual() -> Self {
        Self {
            only: Vec::new(),
            trigger: Trigger::Manual,
            lock_wait: LOCK_WAIT,
            email: true,
            due: None,
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
    /// A scheduled run on a shared store found every article due already run, or being run,
    /// by another worker: nothing to do here (no report, no mail).
    #[error("every article due was claimed by another worker")]
    ClaimedElsewhere,
    /// Anything else that stops the run (e.g. the report not writable).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Called once per source fetched, for progress bars.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Runs the pipeline once: plan, per-source work and record batch by batch (each batch
/// committed), then the report and the mail.
pub async fn run_check(
    ctx: &Context,
    req: RunRequest,
    progress: Option<Progress>,
) -> Result<RunReport, RunError> {
    let started_at = Utc::now();
    let selected: Vec<&Entry> = plan::select_articles(&ctx.watchlist, &req.only)?;
    let store = Arc::new(open_store(ctx).await?);
    let run_id = store.new_run_id(started_at)?;
    let ran = run_batches(ctx, &req, &store, &selected, (&run_id, started_at), progress).await?;
    if ran.articles.is_empty() && store.is_shared() {
        return Err(RunError::ClaimedElsewhere);
    }
    let mut report = report::build((run_id, req.trigger, started_at), ran.articles, ran.rows)?;
    report.seq = ran.seq;
    report.view = crate::report::View::of(&ctx.settings);
    // The store is done with; do not hold its lock through a slow SMTP server.
    drop(ran.held);
    report.mail = Some(mail_report(ctx, &req, &report, store, ran.unannounced).await);
    report::write(&report, &ctx.paths.reports())?;
    Ok(report)
}

/// What the batches of a run leave to report.
struct Ran {
    articles: Vec<ArticleInfo>,
    /// The statements and sources of the batches, on disk ([`crate::report::rows`]).
    rows: crate::report::rows::RowsWriter,
    /// Flags whose message is not queued yet: new in this run's report, announced once it is.
    unannounced: Vec<(BaselineKey, RunId)>,
    seq: Option<u64>,
    /// The last claim (a local run's lock), held until the report is built.
    held: Option<Claim>,
}

impl Ran {
    /// A committed batch's share of the report.
    fn add(&mut self, done: Done) -> anyhow::Result<()> {
        self.rows.add(done.statements, done.sources.into_values())?;
        self.unannounced.extend(done.flags);
        self.seq.get_or_insert(done.runs + 1);
        self.articles.extend(done.articles);
        Ok(())
    }
}

/// Runs `selected` batch by batch, each committed on its own. A local run takes the lock
/// once and goes batch by batch under it (see `plan::local_batches`), the progress counted
/// over the whole run; a scheduled run on a shared store claims its due articles a batch at
/// a time, so that workers firing together share them out.
async fn run_batches(
    ctx: &Context,
    req: &RunRequest,
    store: &Arc<Store>,
    selected: &[&Entry],
    run: (&RunId, chrono::DateTime<Utc>),
    progress: Option<Progress>,
) -> Result<Ran, RunError> {
    let t_start = Instant::now();
    let batched = store.is_shared() && req.due.is_some();
    let limit = if batched {
        ctx.settings.store.claim_batch
    } else {
        0
    };
    let mut groups = if store.is_shared() {
        plan::sharing_groups(selected)
    } else {
        // The lock covers every article: no grouping to work out.
        vec![selected.iter().map(|a| a.id.0.clone()).collect()]
    };
    let mut local: Option<std::collections::VecDeque<Vec<&Entry>>> = (!store.is_shared())
        .then(|| plan::local_batches(selected, LOCAL_BATCH_SOURCES, ctx.settings.store.claim_batch).into());
    let total: u64 = local
        .as_ref()
        .map_or(0, |q| q.iter().map(|b| plan::distinct_urls(b)).sum());
    let mut offset = 0;
    let mut ran = Ran {
        articles: Vec::new(),
        rows: crate::report::rows::RowsWriter::new(&ctx.paths.reports())?,
        unannounced: Vec::new(),
        seq: None,
        held: None,
    };
    loop {
        let next_local = local.as_mut().map(|q| q.pop_front().unwrap_or_default());
        let batch_progress = batch_progress(progress.as_ref(), next_local.as_deref(), &mut offset, total);
        // (A shared claim stays held, as before, until the next one replaces it.)
        let previous = if store.is_shared() { None } else { ran.held.take() };
        let claim = match previous {
            Some(c) => Ok(c),
            None => claim_store(store.clone(), groups.clone(), req.due, req.lock_wait, limit).await,
        };
        let done = match claim {
            Ok(claim) => {
                let batch: Vec<&Entry> = match next_local {
                    Some(b) => b,
                    None => selected.iter().copied().filter(|a| claim.has(&a.id.0)).collect(),
                };
                one_batch(ctx, req, store, batch, claim, run, batch_progress).await
            }
            Err(e) => Err(e),
        };
        let (claim, done) = match done {
            Ok(Some(d)) => d,
            Ok(None) => break,
            // Batches already committed are reported; the failed one's articles are left to
            // the next due time (or another worker, once its lease has passed).
            Err(e) if !ran.articles.is_empty() => {
                tracing::warn!(
                    "a batch of run {} failed, reporting the batches committed: {e:#}",
                    run.0
                );
                break;
            }
            Err(e) => return Err(e),
        };
        groups.retain(|g| !g.iter().any(|a| claim.has(a)));
        debug_since(t_start, "store committed");
        ran.add(done)?;
        let more = match &local {
            Some(q) => !q.is_empty(),
            None => batched && !groups.is_empty(),
        };
        // A local run keeps its lock for the next batch; a shared one claims again.
        ran.held = Some(claim);
        if !more {
            break;
        }
    }
    Ok(ran)
}

/// One committed batch, for the report.
struct Done {
    articles: Vec<ArticleInfo>,
    statements: Vec<crate::report::StatementReport>,
    sources: std::collections::BTreeMap<String, crate::report::SourceReport>,
    flags: Vec<(BaselineKey, RunId)>,
    runs: u64,
}

/// Runs and commits one batch under `claim`; `None` when a shared claim got no article.
/// The batch's articles are read whole from their files here, and dropped with the batch.
async fn one_batch(
    ctx: &Context,
    req: &RunRequest,
    store: &Arc<Store>,
    batch: Vec<&Entry>,
    claim: Claim,
    run: (&RunId, chrono::DateTime<Utc>),
    progress: Option<Progress>,
) -> Result<Option<(Claim, Done)>, RunError> {
    if batch.is_empty() && store.is_shared() {
        return Ok(None);
    }
    let loaded = ctx.articles(&batch);
    let articles: Vec<&Article> = loaded.iter().collect();
    let (st, sources) = run_batch(ctx, req, store, &articles, run, progress).await?;
    let flags = unannounced_flags(&st.index);
    let runs = st.index.runs;
    let claim = commit(store.clone(), st.index, ctx.settings.store.keep, st.run, claim).await?;
    let done = Done {
        articles: articles
            .iter()
            .map(|a| ArticleInfo {
                id: a.id.to_string(),
                title: a.title.clone(),
            })
            .collect(),
        statements: st.statements,
        sources,
        flags,
        runs,
    };
    Ok(Some((claim, done)))
}

/// The notify stage: the outbox flushed and this run's message delivered (unless
/// `--no-email`, which leaves the outbox alone and its new flags new); what became of the
/// mail, for the report. Flags are marked announced once their message is queued.
async fn mail_report(
    ctx: &Context,
    req: &RunRequest,
    report: &RunReport,
    store: Arc<Store>,
    unannounced: Vec<(BaselineKey, RunId)>,
) -> String {
    if !req.email {
        return "none (--no-email)".to_owned();
    }
    let t0 = Instant::now();
    let (mail, kept) = notify::notify(ctx, report, &unannounced).await;
    if kept {
        crate::crash_point!("run-before-announce");
        announce(store, unannounced).await;
        crate::crash_point!("run-after-announce");
    }
    debug_since(t0, "report message handled");
    mail
}

/// The progress of one local batch, counted over the whole run: its sources come after the
/// `offset` already done, of `total` (a shared run's batches report their own counts).
fn batch_progress(
    progress: Option<&Progress>,
    batch: Option<&[&Entry]>,
    offset: &mut u64,
    total: u64,
) -> Option<Progress> {
    let (p, batch) = match (progress, batch) {
        (Some(p), Some(b)) => (p.clone(), b),
        _ => return progress.cloned(),
    };
    let off = *offset;
    *offset += plan::distinct_urls(batch);
    Some(Arc::new(move |d: u64, _: u64| p(off + d, total)))
}

/// What one batch of a run leaves to commit and report.
struct Batch {
    index: snapshot::Index,
    run: RunRecord,
    statements: Vec<crate::report::StatementReport>,
}

/// Plans, fetches, records and judges one batch of claimed articles (all of a run's, but
/// for a scheduled run on a shared store).
async fn run_batch(
    ctx: &Context,
    req: &RunRequest,
    store: &Arc<Store>,
    articles: &[&Article],
    (run_id, started_at): (&RunId, chrono::DateTime<Utc>),
    progress: Option<Progress>,
) -> Result<
    (
        Batch,
        std::collections::BTreeMap<String, crate::report::SourceReport>,
    ),
    RunError,
> {
    let t_start = Instant::now();
    // (PostgreSQL's synchronous client moves itself off the async worker.)
    let mut index = plan::load_records(store, articles)?;
    notify::settle_announced(ctx, &mut index);
    debug_since(t_start, "store locked, index loaded");

    let mut plan = plan::plan(articles, &index)?;
    let sources = plan.jobs.len();
    debug_since(t_start, "jobs planned");
    let archive = archive::client(&ctx.settings);
    let bases = match &archive {
        Some(a) if ctx.settings.archive.baseline == crate::settings::ArchiveBaseline::Checked => {
            archive::take_baselines(a, &mut plan.jobs, articles, store, false).await
        }
        _ => archive::ArchiveBases::default(),
    };
    let t0 = Instant::now();
    let (jobs, processed) = work::fetch_all(&ctx.settings, plan, store.clone(), progress).await?;
    debug_since(t0, "fetched and extracted");

    let t0 = Instant::now();
    let now = Utc::now();
    let mut books = books::record_sources(
        &mut index,
        &jobs,
        processed,
        bases,
        ctx.settings.fetch.fail_after,
        now,
    )?;
    if let Some(a) = &archive {
        archive::save_captures(&ctx.settings, a, &jobs, &mut index, &mut books).await;
    }
    let stamp = verdicts::Stamp { run: run_id, now };
    let mut statements = verdicts::judge_statements(articles, &mut index.baselines, &mut books, &stamp);
    // The index holds only the checked articles' baselines (see `plan::load_records`).
    crate::record::retain_live(&mut index.baselines, articles);
    archive::link_evidence(&mut statements, &index);
    debug_since(t0, "recorded");
    let run = RunRecord {
        id: run_id.clone(),
        started_at,
        trigger: format!("{:?}", req.trigger).to_lowercase(),
        articles: articles.len(),
        sources,
    };
    Ok((
        Batch {
            index,
            run,
            statements,
        },
        books.sources,
    ))
}

/// Opens the store the settings name (connecting to PostgreSQL off the async workers).
async fn open_store(ctx: &Context) -> Result<Store, RunError> {
    if ctx.settings.store.url.is_none() {
        return Ok(Store::open(&ctx.paths.snapshots())?);
    }
    let (snapshots, root, settings) = (
        ctx.paths.snapshots(),
        ctx.paths.root.clone(),
        ctx.settings.store.clone(),
    );
    Ok(
        tokio::task::spawn_blocking(move || Store::open_configured(&snapshots, &root, &settings))
            .await
            .map_err(|e| anyhow::anyhow!("open task: {e}"))??,
    )
}

/// Takes the store lock (SQLite) or claims the articles (PostgreSQL), waiting off the async
/// workers.
async fn claim_store(
    store: Arc<Store>,
    articles: Vec<Vec<String>>,
    due: Option<chrono::DateTime<Utc>>,
    wait: Duration,
    limit: usize,
) -> Result<Claim, RunError> {
    Ok(
        tokio::task::spawn_blocking(move || store.claim_batch(&articles, due, wait, limit))
            .await
            .map_err(|e| anyhow::anyhow!("claim task: {e}"))??,
    )
}

/// Commits the run's records in one transaction; syncfs and fsync may block for a while on a
/// busy disk: off the async workers.
async fn commit(
    store: Arc<Store>,
    index: snapshot::Index,
    keep: usize,
    run: RunRecord,
    claim: Claim,
) -> Result<Claim, RunError> {
    let claim = tokio::task::spawn_blocking(move || {
        store
            .commit_claimed(index, keep, Some(&run), Some(&claim))
            .map(|()| claim)
    })
    .await
    .map_err(|e| anyhow::anyhow!("commit task: {e}"))??;
    Ok(claim)
}

/// The flags of `index` whose message is not queued yet (see [`crate::snapshot::Flag::announced`]).
fn unannounced_flags(index: &snapshot::Index) -> Vec<(BaselineKey, RunId)> {
    index
        .baselines
        .iter()
        .filter_map(|(k, b)| {
            b.flag
                .as_ref()
                .filter(|f| !f.announced)
                .map(|f| (k.clone(), f.since_run.clone()))
        })
        .collect()
}

/// Records that the flags' message is queued. A failure here only means they are announced
/// again by the next run.
async fn announce(store: Arc<Store>, flags: Vec<(BaselineKey, RunId)>) {
    let n = flags.len();
    match tokio::task::spawn_blocking(move || store.announce(&flags)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("{n} flags not marked announced: {e}; the next run mails them again"),
        Err(e) => tracing::warn!("announce task: {e}"),
    }
}

fn debug_since(t: Instant, what: &str) {
    tracing::debug!(elapsed_ms = t.elapsed().as_millis() as u64, "{what}");
}
