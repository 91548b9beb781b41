//! The one task that owns the pipeline: it serialises runs, queues a due run once while
//! another runs, lets manual re-checks join a matching run, reloads the configuration and
//! stops within a grace period.
//!
//! `tokio::select!` over: shutdown, the grace deadline, the run in progress, the next due
//! time, and the message channel ([`Msg`]). The run in progress is polled by the loop itself
//! (not spawned), so abandoning it at the end of the grace period is dropping it. Time comes from a [`Clock`] on tokio's clock, and
//! the pipeline is a [`Pipeline`], so tests drive the loop with paused time and a counting
//! pipeline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::scheduler::{Clock, Scheduler, articles_for};
use crate::error::Diagnostic;
use crate::report::{RunReport, Summary, Trigger};
use crate::run::{RunError, RunRequest};
use crate::snapshot::StoreError;
use crate::workspace::Context;

/// The longest the loop sleeps before looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// What the loop runs and how it (re)loads its configuration. [`super::RealPipeline`] calls
/// [`crate::workspace::load_context`] and [`crate::run::run_check`].
pub trait Pipeline: Send + Sync + 'static {
    /// Loads settings and watchlist; `Err` holds the diagnostics when they do not validate.
    fn load(&self) -> Result<(Context, Vec<Diagnostic>), Vec<Diagnostic>>;
    /// Runs the pipeline once. The future is polled by the loop's task (it need not be
    /// `Send`) and dropped if the grace period ends before it does.
    fn run(&self, ctx: Arc<Context>, req: RunRequest)
    -> LocalBoxFuture<'static, Result<RunReport, RunError>>;
}

/// A request to the loop.
#[derive(Debug)]
pub enum Msg {
    /// Re-check now (`only` empty: every article); the report goes to `reply`.
    Recheck {
        /// Only these articles.
        only: Vec<String>,
        /// Where the outcome goes.
        reply: oneshot::Sender<RunResult>,
    },
    /// Reload settings and watchlist now (SIGHUP).
    Reload,
}

/// The outcome of a run as every waiter sees it.
pub type RunResult = Result<Arc<RunReport>, RunFailure>;

/// Why a requested run gave no report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFailure {
    /// The kind, for status codes and exit codes.
    pub kind: FailureKind,
    /// A message for people.
    pub message: String,
}

/// Kinds of [`RunFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `only` named an article that is not in the watchlist.
    UnknownArticle,
    /// Another run (e.g. a CLI `check`) held the store lock too long.
    Locked,
    /// The daemon is stopping; the run was not started or was abandoned.
    Stopping,
    /// The run failed (store not writable, report not writable, a panic).
    Failed,
}

impl RunFailure {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn stopping() -> Self {
        Self::new(FailureKind::Stopping, "the daemon is stopping")
    }

    fn from_run_error(e: &RunError) -> Self {
        let kind = match e {
            RunError::UnknownArticle(_) => FailureKind::UnknownArticle,
            RunError::Store(StoreError::Locked(..)) | RunError::ClaimedElsewhere => FailureKind::Locked,
            RunError::Store(_) | RunError::Other(_) => FailureKind::Failed,
        };
        Self::new(kind, format!("{e:#}"))
    }
}

/// What the loop is doing, for `/health` and the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// `idle`, `running` or `stopping`.
    pub state: State,
    /// The run in progress.
    pub current: Option<CurrentRun>,
    /// Runs waiting for the one in progress.
    pub queued: usize,
    /// The last run that completed.
    pub last_run: Option<LastRun>,
    /// The last run that failed, if it failed after the last completed one.
    pub last_error: Option<LastError>,
    /// The next scheduled cron time (before jitter).
    pub next_due: Option<DateTime<Utc>>,
    /// Problems of the last reload that did not validate (the last good configuration stays
    /// in force); empty when the files on disk are in force.
    pub config_errors: Vec<String>,
}

/// Loop states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for the next due time or a request.
    #[default]
    Idle,
    /// A run is in progress.
    Running,
    /// Shutting down: no new work.
    Stopping,
}

/// The run in progress.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentRun {
    /// What started it.
    pub trigger: Trigger,
    /// Only these articles (empty: all).
    pub only: Vec<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// The last completed run.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// Its id (`reports/<run-id>/`).
    pub run_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time.
    pub finished_at: DateTime<Utc>,
    /// Its counts.
    pub summary: Summary,
}

impl LastRun {
    /// The summary of `report`.
    pub fn of(report: &RunReport) -> Self {
        Self {
            run_id: report.run_id.clone(),
            trigger: report.trigger,
            started_at: report.started_at,
            finished_at: report.finished_at,
            summary: report.summary.clone(),
        }
    }
}

/// The last failed run.
#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    /// When it failed.
    pub at: DateTime<Utc>,
    /// Why.
    pub message: String,
}

/// Settings of the loop that are not in `citewatch.toml`.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// How long a daemon run waits for the store lock (e.g. held by a CLI `check`).
    pub lock_wait: Duration,
    /// Once shutdown has begun, cancelling this abandons the run in progress without
    /// waiting for the rest of the grace period (a second SIGTERM/SIGINT).
    pub abandon: CancellationToken,
}

/// How the rest of the daemon talks to the loop.
#[derive(Debug, Clone)]
pub struct DaemonHandle {
    tx: mpsc::Sender<Msg>,
    status: Arc<Mutex<Status>>,
    ctx: watch::Receiver<Arc<Context>>,
}

impl DaemonHandle {
    /// Asks for a manual re-check and waits for its report.
    pub async fn recheck(&self, only: Vec<String>) -> RunResult {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Recheck { only, reply }).await.is_err() {
            return Err(RunFailure::stopping());
        }
        rx.await.unwrap_or_else(|_| Err(RunFailure::stopping()))
    }

    /// Asks the loop to reload settings and watchlist.
    pub async fn reload(&self) {
        let _ = self.tx.send(Msg::Reload).await;
    }

    /// The loop's status now.
    pub fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    /// The configuration in force (the last one that validated).
    pub fn context(&self) -> Arc<Context> {
        self.ctx.borrow().clone()
    }

    /// A receiver that sees each configuration put in force.
    pub fn watch_context(&self) -> watch::Receiver<Arc<Context>> {
        self.ctx.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Work {
    Scheduled { key: String },
    Manual { only: Vec<String> },
}

struct Pending {
    work: Work,
    waiters: Vec<oneshot::Sender<RunResult>>,
    /// The cron due time of a scheduled run (a shared store runs each article once per due
    /// time, across workers).
    due: Option<DateTime<Utc>>,
}

struct Running {
    work: Work,
    waiters: Vec<oneshot::Sender<RunResult>>,
    fut: LocalBoxFuture<'static, Result<RunReport, RunError>>,
}

/// The loop with the configuration `ctx` (already loaded and valid), and a handle to talk to
/// it. Await the returned future (it is not `Send`: the caller's task runs the pipeline). It
/// ends when `shutdown` is cancelled, once the run in progress finishes or
/// `[schedule].grace_secs` pass.
pub fn start<P: Pipeline>(
    pipeline: Arc<P>,
    ctx: Context,
    clock: Clock,
    shutdown: CancellationToken,
    options: LoopOptions,
) -> (DaemonHandle, impl Future<Output = ()>) {
    let (tx, rx) = mpsc::channel(64);
    let ctx = Arc::new(ctx);
    let (ctx_tx, ctx_rx) = watch::channel(ctx.clone());
    let last_run = crate::report::recent_reports(&ctx.paths.reports(), 1)
        .into_iter()
        .find_map(|(_, r)| r)
        .map(|r| LastRun::of(&r));
    let status = Arc::new(Mutex::new(Status {
        last_run,
        ..Status::default()
    }));
    let sched = Scheduler::new(&ctx, clock.now());
    let lp = Loop {
        pipeline,
        control: ctx.settings.control.clone(),
        ctx,
        ctx_tx,
        clock,
        sched,
        rx,
        rx_open: true,
        shutdown,
        options,
        queue: VecDeque::new(),
        current: None,
        status: status.clone(),
        config_errors: Vec::new(),
        warnings: Vec::new(),
    };
    (
        DaemonHandle {
            tx,
            status,
            ctx: ctx_rx,
        },
        lp.run(),
    )
}

struct Loop<P> {
    pipeline: Arc<P>,
    ctx: Arc<Context>,
    ctx_tx: watch::Sender<Arc<Context>>,
    control: crate::settings::ControlSettings,
    clock: Clock,
    sched: Scheduler,
    rx: mpsc::Receiver<Msg>,
    rx_open: bool,
    shutdown: CancellationToken,
    options: LoopOptions,
    queue: VecDeque<Pending>,
    current: Option<Running>,
    status: Arc<Mutex<Status>>,
    config_errors: Vec<String>,
    warnings: Vec<String>,
}

type Outcome = Result<Result<RunReport, RunError>, String>;

async fn wait_current(cur: &mut Option<Running>) -> Outcome {
    match cur {
        Some(r) => std::panic::AssertUnwindSafe(&mut r.fut)
            .catch_unwind()
            .await
            .map_err(|p| {
                p.downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned())
            }),
        None => std::future::pending().await,
    }
}

impl<P: Pipeline> Loop<P> {
    async fn run(mut self) {
        self.log_next_due();
        let mut stop_at: Option<Instant> = None;
        loop {
            if self.current.is_none() {
                if stop_at.is_some() {
                    break;
                }
                self.start_next();
            }
            self.publish(stop_at.is_some());
            // Wake at least every minute, so a wall-clock step is noticed.
            let fire = self
                .sched
                .next_fire()
                .map(|t| self.clock.instant_at(t).min(Instant::now() + MAX_SLEEP));
            let grace_deadline = stop_at.unwrap_or_else(Instant::now);
            tokio::select! {
                biased;
                () = self.shutdown.cancelled(), if stop_at.is_none() => {
                    let grace = Duration::from_secs(self.ctx.settings.schedule.grace_secs);
                    stop_at = Some(Instant::now() + grace);
                    for p in self.queue.drain(..) {
                        for w in p.waiters {
                            let _ = w.send(Err(RunFailure::stopping()));
                        }
                    }
                    if self.current.is_some() {
                        tracing::info!("stopping: waiting up to {}s for the run in progress", grace.as_secs());
                    } else {
                        tracing::info!("stopping");
                    }
                }
                () = sleep_until(grace_deadline), if stop_at.is_some() => {
                    self.abandon("grace period over");
                    break;
                }
                () = self.options.abandon.cancelled(), if stop_at.is_some() => {
                    self.abandon("asked again to stop");
                    break;
                }
                res = wait_current(&mut self.current), if self.current.is_some() => {
                    self.finish(res);
                }
                () = sleep_until(fire.unwrap_or_else(Instant::now)), if stop_at.is_none() && fire.is_some() => {
                    self.enqueue_due();
                }
                msg = self.rx.recv(), if stop_at.is_none() && self.rx_open => {
                    match msg {
                        Some(Msg::Recheck { only, reply }) => self.recheck(only, reply),
                        Some(Msg::Reload) => {
                            tracing::info!("reloading settings and watchlist");
                            self.reload(true);
                            self.log_next_due();
                        }
                        None => self.rx_open = false,
                    }
                }
            }
        }
        self.publish(true);
        tracing::info!("scheduler stopped");
    }

    /// Drops the run in progress. The store stays consistent: its records change only in the
    /// one transaction a run commits, and the lock is released with the run.
    fn abandon(&mut self, why: &str) {
        if let Some(run) = self.current.take() {
            drop(run.fut);
            tracing::warn!("{why}: abandoning the run in progress; the store keeps its last committed state");
            for w in run.waiters {
                let _ = w.send(Err(RunFailure::new(
                    FailureKind::Stopping,
                    "the daemon stopped; the run was abandoned",
                )));
            }
        }
    }

    fn enqueue_due(&mut self) {
        let now = self.clock.now();
        for (key, due) in self.sched.take_due(now) {
            let work = Work::Scheduled { key: key.clone() };
            if self.queue.iter().any(|p| p.work == work) {
                tracing::info!(schedule = %key, due = %due.to_rfc3339(), "run due while the same run is already queued: not stacked");
                continue;
            }
            if self.current.is_some() {
                tracing::info!(schedule = %key, due = %due.to_rfc3339(), "run due while another runs: queued");
            }
            self.queue.push_back(Pending {
                work,
                waiters: Vec::new(),
                due: Some(due),
            });
        }
    }

    fn recheck(&mut self, only: Vec<String>, reply: oneshot::Sender<RunResult>) {
        let unknown = |ctx: &Context| {
            only.iter()
                .find(|id| ctx.watchlist.article(id).is_none())
                .cloned()
        };
        if unknown(&self.ctx).is_some() {
            // Perhaps just added on disk: look again before refusing.
            self.reload(false);
            if let Some(id) = unknown(&self.ctx) {
                let _ = reply.send(Err(RunFailure::from_run_error(&RunError::UnknownArticle(id))));
                return;
            }
        }
        let work = Work::Manual { only };
        if let Some(run) = self.current.as_mut().filter(|r| r.work == work) {
            tracing::info!("re-check requested: joining the manual run in progress");
            run.waiters.push(reply);
        } else if let Some(p) = self.queue.iter_mut().find(|p| p.work == work) {
            tracing::info!("re-check requested: joining the queued manual run");
            p.waiters.push(reply);
        } else {
            if self.current.is_some() {
                tracing::info!("re-check requested: queued after the run in progress");
            }
            self.queue.push_back(Pending {
                work,
                waiters: vec![reply],
                due: None,
            });
        }
    }

    fn start_next(&mut self) {
        while let Some(p) = self.queue.pop_front() {
            // Pick up changes before each run; the last good configuration stays otherwise.
            self.reload(false);
            let (only, trigger) = match &p.work {
                Work::Scheduled { key } => match articles_for(&self.ctx, key) {
                    Some(only) => (only, Trigger::Schedule),
                    None => {
                        tracing::info!(schedule = %key, "no article is on this schedule any more: run skipped");
                        continue;
                    }
                },
                Work::Manual { only } => (only.clone(), Trigger::Manual),
            };
            let what = if only.is_empty() {
                "all articles".to_owned()
            } else {
                only.join(", ")
            };
            tracing::info!(trigger = %trigger, "run started: {what}");
            let req = RunRequest {
                only: only.clone(),
                trigger,
                lock_wait: self.options.lock_wait,
                email: true,
                due: p.due,
            };
            let fut = self.pipeline.run(self.ctx.clone(), req);
            self.current = Some(Running {
                work: p.work,
                waiters: p.waiters,
                fut,
            });
            let mut st = self.status.lock().expect("status lock");
            st.current = Some(CurrentRun {
                trigger,
                only,
                started_at: self.clock.now(),
            });
            return;
        }
    }

    fn finish(&mut self, res: Outcome) {
        let Some(run) = self.current.take() else { return };
        let result: RunResult = match res {
            Ok(Ok(report)) => {
                {
                    let mut st = self.status.lock().expect("status lock");
                    st.last_run = Some(LastRun::of(&report));
                    st.last_error = None;
                }
                let s = &report.summary;
                let secs = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
                tracing::info!(
                    run_id = %report.run_id,
                    trigger = %report.trigger,
                    statements = s.statements,
                    flagged = s.flagged,
                    new_flags = s.new_flags,
                    sources = s.sources,
                    changed = s.sources_changed,
                    failed = s.sources_failed,
                    "run finished in {secs:.1}s"
                );
                Ok(Arc::new(report))
            }
            Ok(Err(e)) => {
                let f = RunFailure::from_run_error(&e);
                if matches!(e, RunError::ClaimedElsewhere) {
                    // Another worker of the shared store has it: no error state.
                    tracing::info!("run skipped: {e}");
                } else if f.kind == FailureKind::UnknownArticle {
                    // The request's mistake, not the daemon's: no error state.
                    tracing::warn!("run refused: {e:#}");
                } else {
                    tracing::error!("run failed: {e:#}");
                    self.record_error(&f.message);
                }
                Err(f)
            }
            Err(panic) => {
                tracing::error!("run panicked: {panic}");
                let f = RunFailure::new(FailureKind::Failed, format!("the run panicked: {panic}"));
                self.record_error(&f.message);
                Err(f)
            }
        };
        for w in run.waiters {
            let _ = w.send(result.clone());
        }
        self.log_next_due();
    }

    fn record_error(&self, message: &str) {
        let mut st = self.status.lock().expect("status lock");
        st.last_error = Some(LastError {
            at: self.clock.now(),
            message: message.to_owned(),
        });
    }

    fn log_next_due(&self) {
        match self.sched.next_due() {
            Some(t) => tracing::info!("next scheduled run due at {}", t.to_rfc3339()),
            None => tracing::info!("no scheduled run: the watchlist has no articles"),
        }
    }

    /// Reloads settings and watchlist. A configuration that does not validate is logged
    /// (each diagnostic, once per distinct set) and the last good one stays in force.
    fn reload(&mut self, requested: bool) {
        match self.pipeline.load() {
            Ok((ctx, warnings)) => {
                let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
                if requested || warnings != self.warnings {
                    for w in &warnings {
                        tracing::warn!("{w}");
                    }
                }
                self.warnings = warnings;
                if !self.config_errors.is_empty() {
                    tracing::info!("configuration valid again");
                    self.config_errors.clear();
                }
                if ctx.settings.control != self.control {
                    tracing::warn!("[control] changes take effect when the daemon is restarted");
                }
                self.ctx = Arc::new(ctx);
                self.sched.update(&self.ctx, self.clock.now());
                let _ = self.ctx_tx.send(self.ctx.clone());
                if requested {
                    tracing::info!(
                        articles = self.ctx.watchlist.articles.len(),
                        schedules = self.sched.len(),
                        "configuration reloaded"
                    );
                }
            }
            Err(diags) => {
                let errors: Vec<String> = diags.iter().map(ToString::to_string).collect();
                if requested || errors != self.config_errors {
                    for e in &errors {
                        tracing::error!("{e}");
                    }
                    tracing::error!(
                        "the configuration does not validate; keeping the last good one ({} articles)",
                        self.ctx.watchlist.articles.len()
                    );
                } else {
                    tracing::warn!("the configuration still does not validate; using the last good one");
                }
                self.config_errors = errors;
            }
        }
    }

    fn publish(&self, stopping: bool) {
        let mut st = self.status.lock().expect("status lock");
        st.state = if stopping {
            State::Stopping
        } else if self.current.is_some() {
            State::Running
        } else {
            State::Idle
        };
        if self.current.is_none() {
            st.current = None;
        }
        st.queued = self.queue.len();
        st.next_due = self.sched.next_due();
        st.config_errors = self.config_errors.clone();
    }
}

#[cfg(test)]
mod tests {
    //! The loop under paused tokio time with a pipeline that only counts and sleeps.

    use std::path::PathBuf;

    use chrono::TimeZone;

    use super::*;
    use crate::settings::Settings;
    use crate::watchlist::{ArticleId, Catalog, Entry};
    use crate::workspace::Paths;

    fn at(h: u32, m: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, s).unwrap() + chrono::Duration::milliseconds(ms.into())
    }

    fn ctx(cron: &str, jitter: u64, grace: u64, articles: &[(&str, Option<&str>)]) -> Context {
        let mut settings = Settings::default();
        settings.schedule.cron = cron.into();
        settings.schedule.jitter_secs = jitter;
        settings.schedule.grace_secs = grace;
        Context {
            paths: Paths::new("/nonexistent/citewatch-unit-test"),
            settings,
            watchlist: Catalog {
                articles: articles
                    .iter()
                    .map(|(id, schedule)| Entry {
                        id: ArticleId((*id).into()),
                        title: format!("title {id}"),
                        checked: None,
                        schedule: schedule.map(Into::into),
                        file: PathBuf::from(format!("{id}.toml")),
                        urls: Box::new([]),
                    })
                    .collect(),
            },
        }
    }

    /// One call of [`Pipeline::run`]: when, what, on how many articles.
    #[derive(Debug, Clone)]
    struct Call {
        at: DateTime<Utc>,
        only: Vec<String>,
        trigger: Trigger,
        articles: usize,
    }

    struct Fake {
        clock: Clock,
        duration: Duration,
        load: Mutex<Result<Context, Vec<Diagnostic>>>,
        calls: Mutex<Vec<Call>>,
    }

    impl Fake {
        fn new(clock: Clock, duration: Duration, ctx: &Context) -> Arc<Self> {
            Arc::new(Self {
                clock,
                duration,
                load: Mutex::new(Ok(ctx.clone())),
                calls: Mutex::new(Vec::new()),
            })
        }
        fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Pipeline for Fake {
        fn load(&self) -> Result<(Context, Vec<Diagnostic>), Vec<Diagnostic>> {
            self.load.lock().unwrap().clone().map(|c| (c, Vec::new()))
        }
        fn run(
            &self,
            ctx: Arc<Context>,
            req: RunRequest,
        ) -> LocalBoxFuture<'static, Result<RunReport, RunError>> {
            let started_at = self.clock.now();
            let mut calls = self.calls.lock().unwrap();
            calls.push(Call {
                at: started_at,
                only: req.only.clone(),
                trigger: req.trigger,
                articles: ctx.watchlist.articles.len(),
            });
            let n = calls.len();
            let (d, clock) = (self.duration, self.clock);
            Box::pin(async move {
                tokio::time::sleep(d).await;
                if let Some(id) = req.only.iter().find(|id| ctx.watchlist.article(id).is_none()) {
                    return Err(RunError::UnknownArticle(id.clone()));
                }
                Ok(RunReport {
                    run_id: format!("run-{n}"),
                    trigger: req.trigger,
                    started_at,
                    finished_at: clock.now(),
                    summary: Summary::default(),
                    statements: vec![],
                    sources: vec![],
                    articles: vec![],
                    mail: None,
                    page: None,
                    seq: None,
                    view: Default::default(),
                    rows: None,
                })
            })
        }
    }

    /// Runs the loop until `body` finishes, then cancels it and waits for it to stop.
    async fn drive<F: Future<Output = ()>>(
        fake: &Arc<Fake>,
        ctx: Context,
        clock: Clock,
        body: impl FnOnce(DaemonHandle, CancellationToken, CancellationToken) -> F,
    ) {
        let shutdown = CancellationToken::new();
        let abandon = CancellationToken::new();
        let opts = LoopOptions {
            lock_wait: Duration::from_secs(1),
            abandon: abandon.clone(),
        };
        let (handle, lp) = start(fake.clone(), ctx, clock, shutdown.clone(), opts);
        let body = body(handle, shutdown.clone(), abandon);
        let body = async move {
            body.await;
            shutdown.cancel();
        };
        tokio::join!(lp, body);
    }

    fn assert_near(got: DateTime<Utc>, want: DateTime<Utc>) {
        let d = (got - want).num_milliseconds();
        assert!((0..=5).contains(&d), "ran at {got}, expected {want}");
    }

    #[tokio::test(start_paused = true)]
    async fn scheduled_runs_fire_at_cron_times() {
        let clock = Clock::starting_at(at(12, 0, 3, 0));
        let c = ctx("*/10 * * * * *", 0, 30, &[("a", None)]);
        let fake = Fake::new(clock, Duration::from_secs(1), &c);
        drive(&fake, c, clock, |h, _, _| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(h.status().next_due, Some(at(12, 0, 10, 0)));
            tokio::time::sleep(Duration::from_secs(34)).await;
            assert_eq!(h.status().next_due, Some(at(12, 0, 40, 0)));
            assert_eq!(h.status().last_run.unwrap().run_id, "run-3");
        })
        .await;
        let calls = fake.calls();
        assert_eq!(calls.len(), 3, "{calls:?}");
        for (c, s) in calls.iter().zip([10, 20, 30]) {
            assert_near(c.at, at(12, 0, s, 0));
            assert_eq!(c.trigger, Trigger::Schedule);
            assert!(c.only.is_empty(), "the global schedule covers every article");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_bounds() {
        let clock = Clock::starting_at(at(12, 0, 0, 500));
        let c = ctx("0 * * * * *", 20, 30, &[("a", None)]);
        let fake = Fake::new(clock, Duration::from_secs(1), &c);
        drive(&fake, c, clock, |_, _, _| async {
            // Up to 12:10:21.5: every minute's run, the last one jittered by up to 20 s.
            tokio::time::sleep(Duration::from_secs(10 * 60 + 21)).await;
        })
        .await;
        let calls = fake.calls();
        assert_eq!(calls.len(), 10, "{calls:?}");
        let mut offsets = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let due = at(12, 1 + i as u32, 0, 0);
            let off = (c.at - due).num_milliseconds();
            assert!(
                (0..=20_005).contains(&off),
                "run {i} at {} is {off} ms after {due}",
                c.at
            );
            offsets.push(off);
        }
        assert!(
            offsets.iter().any(|&o| o > 5),
            "jitter never delayed a run: {offsets:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_due_while_one_runs_is_queued_once() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("*/10 * * * * *", 0, 30, &[("a", None)]);
        // Each run takes 25 s: the dues at :20 and :30 fall inside the first run.
        let fake = Fake::new(clock, Duration::from_secs(25), &c);
        drive(&fake, c, clock, |h, _, _| async move {
            tokio::time::sleep(Duration::from_secs(32)).await;
            let s = h.status();
            assert_eq!(s.state, State::Running);
            assert_eq!(s.queued, 1, "two dues during the run, one queued run");
            tokio::time::sleep(Duration::from_secs(5)).await;
        })
        .await;
        let calls = fake.calls();
        // Shutdown at :37 lets the second run (started :35) finish within the grace.
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_near(calls[0].at, at(12, 0, 10, 0));
        assert_near(calls[1].at, at(12, 0, 35, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn per_article_schedules_run_only_their_articles() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx(
            "0 0 6 * * *",
            0,
            30,
            &[
                ("a", None),
                ("b", Some("*/10 * * * * *")),
                ("c", Some("*/10  * * * * *")),
            ],
        );
        assert_eq!(articles_for(&c, "0 0 6 * * *"), Some(vec!["a".to_owned()]));
        let fake = Fake::new(clock, Duration::from_secs(1), &c);
        drive(&fake, c, clock, |h, _, _| async move {
            tokio::time::sleep(Duration::from_secs(25)).await;
            assert_eq!(h.status().next_due, Some(at(12, 0, 30, 0)));
        })
        .await;
        let calls = fake.calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        for c in &calls {
            assert_eq!(c.only, ["b", "c"], "one run for the articles sharing a schedule");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn manual_rechecks_join_a_matching_run_and_queue_otherwise() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("0 0 6 * * *", 0, 30, &[("a", None), ("b", None)]);
        let fake = Fake::new(clock, Duration::from_secs(2), &c);
        drive(&fake, c, clock, |h, _, _| async move {
            let (r1, r2) = tokio::join!(h.recheck(vec![]), h.recheck(vec![]));
            let (r1, r2) = (r1.unwrap(), r2.unwrap());
            assert_eq!(r1.run_id, r2.run_id, "the second request joins the first run");
            assert_eq!(r1.trigger, Trigger::Manual);
            let (ra, rall, rbad) = tokio::join!(
                h.recheck(vec!["a".into()]),
                async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    h.recheck(vec![]).await
                },
                async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    h.recheck(vec!["nope".into()]).await
                },
            );
            assert_ne!(
                ra.unwrap().run_id,
                rall.unwrap().run_id,
                "a different scope runs after"
            );
            assert_eq!(rbad.unwrap_err().kind, FailureKind::UnknownArticle);
        })
        .await;
        let calls = fake.calls();
        assert_eq!(
            calls.len(),
            3,
            "an unknown article is refused without a run: {calls:?}"
        );
        assert_eq!(calls[1].only, ["a"]);
        assert!(calls[2].only.is_empty());
        // Serialised: each run starts when the previous one ends.
        assert_near(calls[1].at, calls[0].at + chrono::Duration::seconds(2));
        assert_near(calls[2].at, calls[1].at + chrono::Duration::seconds(2));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_the_run_finish_within_the_grace() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("0 0 6 * * *", 0, 5, &[("a", None)]);
        let fake = Fake::new(clock, Duration::from_secs(3), &c);
        let start = Instant::now();
        drive(&fake, c, clock, |h, stop, _| async move {
            let (res, ()) = tokio::join!(h.recheck(vec![]), async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                stop.cancel();
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert_eq!(h.status().state, State::Stopping);
                let late = h.recheck(vec![]).await;
                assert_eq!(late.unwrap_err().kind, FailureKind::Stopping, "no new work");
            });
            assert!(res.is_ok(), "the run finished: {res:?}");
        })
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(fake.calls().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_abandons_the_run_after_the_grace() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("0 0 6 * * *", 0, 5, &[("a", None)]);
        let fake = Fake::new(clock, Duration::from_secs(60), &c);
        let start = Instant::now();
        drive(&fake, c, clock, |h, stop, _| async move {
            let (res, ()) = tokio::join!(h.recheck(vec![]), async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                stop.cancel();
            });
            assert_eq!(res.unwrap_err().kind, FailureKind::Stopping);
        })
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(6), "1 s running + 5 s grace");
    }

    #[tokio::test(start_paused = true)]
    async fn an_invalid_reload_keeps_the_last_good_configuration() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("0 0 6 * * *", 0, 5, &[("a", None), ("b", None)]);
        let fake = Fake::new(clock, Duration::from_secs(1), &c);
        let f = fake.clone();
        drive(&fake, c, clock, |h, _, _| async move {
            *f.load.lock().unwrap() = Err(vec![Diagnostic::error(
                std::path::Path::new("watchlist/b.toml"),
                Some(3),
                "broken",
            )]);
            h.reload().await;
            h.recheck(vec![]).await.unwrap();
            let s = h.status();
            assert_eq!(s.config_errors, ["watchlist/b.toml:3: broken"]);
            assert_eq!(h.context().watchlist.articles.len(), 2);
            *f.load.lock().unwrap() = Ok(ctx("0 0 6 * * *", 0, 5, &[("a", None), ("b", None), ("c", None)]));
            h.recheck(vec![]).await.unwrap();
            assert!(h.status().config_errors.is_empty());
            assert_eq!(h.context().watchlist.articles.len(), 3);
        })
        .await;
        let n: Vec<usize> = fake.calls().iter().map(|c| c.articles).collect();
        assert_eq!(n, [2, 3], "the broken reload ran on the last good watchlist");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_picks_up_a_new_schedule() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("0 0 6 * * *", 0, 5, &[("a", None)]);
        let fake = Fake::new(clock, Duration::from_secs(1), &c);
        let f = fake.clone();
        drive(&fake, c, clock, |h, _, _| async move {
            assert_eq!(
                h.status().next_due,
                Some(at(6, 0, 0, 0) + chrono::Duration::days(1))
            );
            *f.load.lock().unwrap() = Ok(ctx("*/5 * * * * *", 0, 5, &[("a", None)]));
            h.reload().await;
            tokio::time::sleep(Duration::from_secs(7)).await;
        })
        .await;
        let calls = fake.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_near(calls[0].at, at(12, 0, 5, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_stop_abandons_at_once() {
        let clock = Clock::starting_at(at(12, 0, 0, 0));
        let c = ctx("0 0 6 * * *", 0, 30, &[("a", None)]);
        let fake = Fake::new(clock, Duration::from_secs(60), &c);
        let start = Instant::now();
        drive(&fake, c, clock, |h, stop, abandon| async move {
            let (res, ()) = tokio::join!(h.recheck(vec![]), async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                stop.cancel();
                tokio::time::sleep(Duration::from_secs(2)).await;
                abandon.cancel();
            });
            assert_eq!(res.unwrap_err().kind, FailureKind::Stopping);
        })
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(3), "not the 30 s grace");
    }
}
