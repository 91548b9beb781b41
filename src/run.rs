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
use crate::report::{RunReport, Trigger};
use crate::snapshot::{self, RunRecord, Store, StoreError, StoreLock};
use crate::watchlist::Article;

pub use crate::ids::{RunId, new_run_id, rules_fingerprint, source_key_of};
pub use crate::workspace::{Context, Paths, load_context};
pub use archive::{Rebaselined, archive_again};

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
}

impl RunRequest {
    /// A manual run of everything.
    pub fn manual() -> Self {
        Self {
            only: Vec::new(),
            trigger: Trigger::Manual,
            lock_wait: LOCK_WAIT,
            email: true,
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

/// Runs the pipeline once.
pub async fn run_check(
    ctx: &Context,
    req: RunRequest,
    progress: Option<Progress>,
) -> Result<RunReport, RunError> {
    let started_at = Utc::now();
    let t_start = Instant::now();
    let run_id = RunId::new_at(started_at);
    let articles: Vec<&Article> = plan::select_articles(&ctx.watchlist, &req.only)?;
    let store = Arc::new(Store::open(&ctx.paths.snapshots())?);
    let lock = lock_store(&ctx.paths, req.lock_wait).await?;
    let mut index = plan::load_records(&store, &articles)?;
    debug_since(t_start, "store locked, index loaded");

    let mut plan = plan::plan(&articles, &index)?;
    let sources = plan.jobs.len();
    debug_since(t_start, "jobs planned");
    let archive = archive::client(&ctx.settings);
    let bases = match &archive {
        Some(a) if ctx.settings.archive.baseline == crate::settings::ArchiveBaseline::Checked => {
            archive::take_baselines(a, &mut plan.jobs, &articles, &store, false).await
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
    let stamp = verdicts::Stamp { run: &run_id, now };
    let mut statements = verdicts::judge_statements(&articles, &mut index.baselines, &mut books, &stamp);
    // The index holds only the checked articles' baselines (see `plan::load_records`).
    crate::record::retain_live(&mut index.baselines, &articles);
    archive::link_evidence(&mut statements, &index);
    debug_since(t0, "recorded");
    let t0 = Instant::now();
    let run = RunRecord {
        id: run_id.clone(),
        started_at,
        trigger: format!("{:?}", req.trigger).to_lowercase(),
        articles: articles.len(),
        sources,
    };
    // Flags whose message is not queued yet: new in this run's report, announced once it is.
    let unannounced: Vec<(BaselineKey, RunId)> = index
        .baselines
        .iter()
        .filter_map(|(k, b)| {
            b.flag
                .as_ref()
                .filter(|f| !f.announced)
                .map(|f| (k.clone(), f.since_run.clone()))
        })
        .collect();
    let seq = index.runs + 1;
    commit(store.clone(), index, ctx.settings.store.keep, run).await?;
    debug_since(t0, "store committed");

    let sources = books.sources.into_values().collect();
    let mut report = report::build((run_id, req.trigger, started_at), &articles, statements, sources);
    report.seq = Some(seq);
    // The store is done with; do not hold its lock through a slow SMTP server.
    drop(lock);
    let t0 = Instant::now();
    // `--no-email`: no message, and the outbox is left alone (its new flags stay new).
    report.mail = Some(if req.email {
        let (mail, kept) = notify::notify(ctx, &report).await;
        if kept {
            announce(store, unannounced).await;
        }
        mail
    } else {
        "none (--no-email)".to_owned()
    });
    debug_since(t0, "report message handled");
    report::write(&report, &ctx.paths.reports())?;
    Ok(report)
}

/// Takes the store lock, waiting off the async workers.
async fn lock_store(paths: &Paths, wait: Duration) -> Result<StoreLock, RunError> {
    let lock_store = Store::open(&paths.snapshots())?;
    Ok(tokio::task::spawn_blocking(move || lock_store.lock(wait))
        .await
        .map_err(|e| anyhow::anyhow!("lock task: {e}"))??)
}

/// Commits the run's records in one transaction; syncfs and fsync may block for a while on a
/// busy disk: off the async workers.
async fn commit(
    store: Arc<Store>,
    index: snapshot::Index,
    keep: usize,
    run: RunRecord,
) -> Result<(), RunError> {
    tokio::task::spawn_blocking(move || store.commit(index, keep, Some(&run)))
        .await
        .map_err(|e| anyhow::anyhow!("commit task: {e}"))??;
    Ok(())
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
