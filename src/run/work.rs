//! The per-source work, run concurrently: each distinct URL is fetched once (however many
//! articles or rule sets cite it), and its body processed on the blocking pool as it arrives
//! ([`super::source::process`]), so no body outlives its processing. Fetches start
//! round-robin over the hosts with a free slot; a panic fails its sources, not the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;

use crate::fetch::{Conditional, Fetcher, HostQueue};
use crate::settings::FetchSettings;
use crate::snapshot::Store;

use super::Progress;
use super::plan::{Job, Plan, UrlGroup};
use super::source::{Processed, panicked_with, process};

/// What every source task shares.
#[derive(Clone)]
struct Shared {
    fetcher: Fetcher,
    jobs: Arc<Vec<Job>>,
    store: Arc<Store>,
    cpu: Arc<tokio::sync::Semaphore>,
    progress: Option<Progress>,
    done: Arc<AtomicU64>,
    total: u64,
}

/// Fetches and processes every job of `plan`; one [`Processed`] per job, in job order.
pub(super) async fn fetch_all(
    settings: &FetchSettings,
    plan: Plan,
    store: Arc<Store>,
    progress: Option<Progress>,
) -> anyhow::Result<(Arc<Vec<Job>>, Vec<Processed>)> {
    let Plan { jobs, groups } = plan;
    let n = jobs.len();
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let shared = Shared {
        fetcher: Fetcher::new(settings)?,
        jobs: Arc::new(jobs),
        store,
        // Four per core: a processing task also waits on file writes and shares the cores with
        // the fetches' network work. Measured on the 1000-page bench (2 cores): one per core
        // left the cores idle a quarter of a cold run; four per core beat two by about 5% of
        // wall time, for about 6 MiB more peak memory.
        cpu: Arc::new(tokio::sync::Semaphore::new(cores * 4)),
        progress,
        done: Arc::new(AtomicU64::new(0)),
        total: groups.len() as u64,
    };
    // Fetches start round-robin over the hosts with a free slot, so that a watchlist listed
    // host by host (or one slow host) cannot fill the window with fetches waiting for one host.
    let queue = HostQueue::new(
        groups.iter().map(|g| (g.0.clone(), g.clone())),
        settings.effective_per_host(),
    );
    let mut processed: Vec<Option<Processed>> = queue
        .into_stream()
        .map(|(group, slot)| run_group(shared.clone(), group, slot))
        .buffer_unordered(settings.effective_concurrency() * 2)
        .fold(
            (0..n).map(|_| None).collect::<Vec<_>>(),
            |mut acc, results| async move {
                for (m, p) in results {
                    acc[m] = Some(p);
                }
                acc
            },
        )
        .await;
    let processed = processed
        .iter_mut()
        .map(|p| p.take().expect("every job processed"))
        .collect();
    Ok((shared.jobs, processed))
}

/// One URL's fetch and its jobs' processing, as a task of its own, so the runtime's workers
/// (not just the thread that awaits the run) read the bodies while other pages are being
/// extracted. Aborted if the run is dropped (the daemon's grace period ran out): no fetch
/// outlives the run or its store lock.
async fn run_group(
    shared: Shared,
    (url, members): UrlGroup,
    slot: crate::fetch::HostSlot,
) -> Vec<(usize, Processed)> {
    let fallback = members.clone();
    let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        // Validators only hold when one rule set watches the URL.
        let cond = match members.as_slice() {
            [one] => shared.jobs[*one].cond.clone(),
            _ => Conditional::default(),
        };
        let outcome = shared.fetcher.fetch(&url, &cond).await;
        drop(slot);
        let n = shared.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(p) = &shared.progress {
            p(n, shared.total);
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
            out.push((
                m,
                process(&shared.jobs[m], o, shared.store.clone(), &shared.cpu).await,
            ));
        }
        out
    }));
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
