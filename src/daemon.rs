//! `citewatch daemon`: the scheduler loop, signal handling, the outbox timer and the control
//! endpoint, all calling [`crate::run::run_check`] through one task.
//!
//! - [`scheduler`]: cron expressions → due times, jitter, the clock.
//! - [`runner`]: the task that owns the pipeline and serialises runs.
//! - [`serve`]: wires the loop, signals (SIGTERM/SIGINT stop, SIGHUP reloads), the outbox
//!   timer and [`crate::control`] together, and returns when everything has stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::Diagnostic;
use crate::report::RunReport;
use crate::run::{Context, Paths, RunError, RunRequest};

pub mod runner;
pub mod scheduler;

pub use runner::{DaemonHandle, FailureKind, LoopOptions, Pipeline, RunFailure, RunResult, State, Status};
pub use scheduler::{Clock, Scheduler};

/// How long a daemon run waits for the store lock held by another run (a CLI `check`).
pub const DAEMON_LOCK_WAIT: Duration = Duration::from_secs(300);

/// How long the control endpoint may take to finish its last responses after the loop ends.
const SERVER_DRAIN: Duration = Duration::from_secs(5);

/// The real pipeline: [`crate::run::load_context`] and [`crate::run::run_check`] on a root.
#[derive(Debug, Clone)]
pub struct RealPipeline {
    root: PathBuf,
}

impl RealPipeline {
    /// The pipeline on `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

impl Pipeline for RealPipeline {
    fn load(&self) -> Result<(Context, Vec<Diagnostic>), Vec<Diagnostic>> {
        crate::run::load_context(&self.root)
    }

    fn run(
        &self,
        ctx: Arc<Context>,
        req: RunRequest,
    ) -> LocalBoxFuture<'static, Result<RunReport, RunError>> {
        Box::pin(async move { crate::run::run_check(&ctx, req, None).await })
    }
}

/// Runs the daemon until SIGTERM or SIGINT: the loop on `ctx`, the control endpoint on
/// `listener` (requests need `token` when one is given). Returns when the run in progress
/// has finished or been abandoned after `[schedule].grace_secs`.
pub async fn serve(
    ctx: Context,
    listener: tokio::net::TcpListener,
    token: Option<String>,
) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let abandon = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;

    let pipeline = Arc::new(RealPipeline::new(ctx.paths.root.clone()));
    let (handle, scheduler) = runner::start(
        pipeline,
        ctx,
        Clock::system(),
        shutdown.clone(),
        LoopOptions {
            lock_wait: DAEMON_LOCK_WAIT,
            abandon: abandon.clone(),
        },
    );

    let signals = {
        let shutdown = shutdown.clone();
        let handle = handle.clone();
        // The first SIGTERM/SIGINT stops taking work; a second one abandons the run now.
        let stop = move |name: &str| {
            if shutdown.is_cancelled() {
                tracing::info!("{name} received again");
                abandon.cancel();
            } else {
                tracing::info!("{name} received");
                shutdown.cancel();
            }
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => stop("SIGTERM"),
                    _ = int.recv() => stop("SIGINT"),
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP received");
                        handle.reload().await;
                    }
                }
            }
        })
    };
    let outbox = tokio::spawn(outbox_timer(handle.watch_context(), shutdown.clone()));

    let addr = listener.local_addr()?;
    let app = crate::control::router(crate::control::ControlState::new(handle, token));
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    tracing::info!("control endpoint listening on http://{addr}/");

    scheduler.await;
    // The loop has answered every waiting request; give the server a moment to send them.
    shutdown.cancel();
    match tokio::time::timeout(SERVER_DRAIN, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!("control endpoint: {e}"),
        Ok(Err(e)) => tracing::warn!("control endpoint: {e}"),
        Err(_) => tracing::warn!("control endpoint did not stop in time"),
    }
    signals.abort();
    let _ = outbox.await;
    tracing::info!("daemon stopped");
    Ok(())
}

/// Retries the email outbox every `[schedule].outbox_retry_secs` until shutdown.
async fn outbox_timer(ctx: watch::Receiver<Arc<Context>>, shutdown: CancellationToken) {
    loop {
        let every = Duration::from_secs(ctx.borrow().settings.schedule.outbox_retry_secs.max(1));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        let current = ctx.borrow().clone();
        retry_outbox(&current).await;
    }
}

/// The daemon's one place that delivers the outbox (`reports/outbox/*.eml`).
async fn retry_outbox(ctx: &Context) {
    let waiting = outbox_size(&ctx.paths);
    if waiting == 0 {
        return;
    }
    tracing::info!("{waiting} message(s) waiting in the outbox: retrying delivery");
    let summary = crate::notify::flush_outbox(&ctx.paths, &ctx.settings).await;
    tracing::info!("{summary}");
}

/// Messages waiting in the outbox: `reports/outbox/*.eml`.
pub fn outbox_size(paths: &Paths) -> usize {
    outbox_dir(&paths.root)
        .read_dir()
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

fn outbox_dir(root: &Path) -> PathBuf {
    Paths::new(root).reports().join("outbox")
}
