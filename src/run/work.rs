//! The per-source work, run concurrently: each distinct URL is fetched once (however many
//! articles or rule sets cite it), and its body processed on the CPU threads ([`crate::cpu`]) as it arrives
//! ([`super::source::process`]), so no body outlives its processing. Fetches start
//! round-robin over the hosts with a free slot; a panic fails its sources, not the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;

use crate::evidence::Verdict;
use crate::fetch::read::{Reader, Want};
use crate::fetch::{Conditional, FetchOutcome, Fetcher, HostQueue};
use crate::settings::Settings;
use crate::snapshot::Store;

use super::Progress;
use super::judge::EvOutcome;
use super::plan::{Job, Plan, UrlGroup};
use super::source::{Processed, panicked_with, process};

/// What every source task shares.
#[derive(Clone)]
struct Shared {
    reader: Reader,
    jobs: Arc<Vec<Job>>,
    store: Arc<Store>,
    progress: Option<Progress>,
    done: Arc<AtomicU64>,
    total: u64,
    /// With a shared store: `per_host` across workers and the slot lease.
    global: Option<(usize, std::time::Duration)>,
}

/// Waits for one of `url`'s host slots across workers (polling the shared store). On a
/// database error the fetch goes ahead under this worker's own limit, with a warning.
async fn host_slot(
    store: &Arc<Store>,
    &(per_host, lease): &(usize, std::time::Duration),
    url: &url::Url,
) -> Option<crate::snapshot::HostSlotLease> {
    let host = url.host_str().unwrap_or("").to_owned();
    // Polls back off from 10 ms to 160 ms: a host whose slots other workers hold costs the
    // database a statement per poll.
    let mut pause = 10;
    loop {
        let (store2, host2) = (store.clone(), host.clone());
        match tokio::task::spawn_blocking(move || store2.take_host_slot(&host2, per_host, lease)).await {
            Ok(Ok(Some(l))) => return Some(l),
            Ok(Ok(None)) => {
                let jitter = rand::random_range(0..=pause / 2);
                tokio::time::sleep(std::time::Duration::from_millis(pause + jitter)).await;
                pause = (pause * 2).min(160);
            }
            Ok(Err(e)) => {
                tracing::warn!("{e}: fetching {host} under this worker's per_host only");
                return None;
            }
            Err(_) => return None,
        }
    }
}

/// Fetches (over HTTP, or in the headless browser where a source needs it) and processes
/// every job of `plan`; one [`Processed`] per job, in job order, with whether its text was
/// read from the rendered page.
pub(super) async fn fetch_all(
    all: &Settings,
    plan: Plan,
    store: Arc<Store>,
    progress: Option<Progress>,
) -> anyhow::Result<(Arc<Vec<Job>>, Vec<(Processed, bool)>)> {
    let settings = &all.fetch;
    let Plan { jobs, groups } = plan;
    let n = jobs.len();
    let shared = Shared {
        reader: Reader::new(Fetcher::new(settings)?, all),
        jobs: Arc::new(jobs),
        store,
        progress,
        done: Arc::new(AtomicU64::new(0)),
        total: groups.len() as u64,
        global: None,
    };
    let mut shared = shared;
    if shared.store.is_shared() {
        // Held for at most the longest a read can take (every retry timing out), plus a margin.
        let secs = settings.timeout_secs * (u64::from(settings.retries) + 1) + 30;
        shared.global = Some((
            settings.effective_per_host(),
            std::time::Duration::from_secs(secs),
        ));
    }
    // Fetches start round-robin over the hosts with a free slot, so that a watchlist listed
    // host by host (or one slow host) cannot fill the window with fetches waiting for one host.
    let queue = HostQueue::new(
        groups.iter().map(|g| (g.0.clone(), g.clone())),
        settings.effective_per_host(),
    );
    let mut processed: Vec<Option<(Processed, bool)>> = queue
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
    shared.reader.close().await;
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
) -> Vec<(usize, (Processed, bool))> {
    let fallback = members.clone();
    let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        // Validators only hold when one rule set watches the URL.
        let cond = match members.as_slice() {
            [one] => shared.jobs[*one].cond.clone(),
            _ => Conditional::default(),
        };
        let want = want_of(&shared.jobs, &members);
        // A shared store: the host's slot counted across every worker too.
        let global = match &shared.global {
            Some(g) => host_slot(&shared.store, g, &url).await,
            None => None,
        };
        let read = shared.reader.read(&url, &cond, want).await;
        let outcome = read.outcome;
        drop(slot);
        if let Some(lease) = global {
            let store = shared.store.clone();
            let released = tokio::task::spawn_blocking(move || store.release_host_slot(lease)).await;
            if let Ok(Err(e)) = released {
                tracing::warn!("{e}");
            }
        }
        // Kept for the random-sibling probe, should evidence turn out removed (only a
        // source with a baseline to judge against can remove any).
        let judged = members
            .iter()
            .any(|&m| shared.jobs[m].tasks.iter().any(|t| t.baseline.is_some()));
        let kept = match &outcome {
            FetchOutcome::Fetched(p) if judged => Some(p.clone()),
            _ => None,
        };
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
            let mut p = process(&shared.jobs[m], o, shared.store.clone()).await;
            if let Some(page) = kept.as_ref().filter(|_| removes_evidence(&p))
                && let Some(f) = shared.reader.same_page_elsewhere(&url, page, want).await
            {
                p = Processed::Failed(f);
            }
            let rendered = read.rendered && !matches!(p, Processed::Failed(_));
            out.push((m, (p, rendered)));
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
                .map(|m| (m, (panicked_with(&detail), false)))
                .collect()
        }
    }
}

/// How a URL shared by `members` is read: in the browser if any of them asks for it, over
/// HTTP only if all do; the first member's rules and selector.
fn want_of<'a>(jobs: &'a [Job], members: &[usize]) -> Want<'a> {
    use crate::watchlist::RenderMode;
    let modes: Vec<Option<RenderMode>> = members.iter().map(|&m| jobs[m].render).collect();
    let first = &jobs[members[0]];
    Want {
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
