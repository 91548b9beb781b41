//! `citewatch daemon`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::control::ListenPlan;
use crate::daemon::{Clock, DAEMON_LOCK_WAIT, LoopOptions};
use crate::error::{CommandError, Exit};
use crate::workspace::{self, Context};

/// How long the control endpoint may take to finish its last responses after the loop ends.
const SERVER_DRAIN: Duration = Duration::from_secs(5);

/// Runs the service in the foreground until SIGTERM or SIGINT; exit 0 after a clean stop,
/// 2 when the configuration is invalid or the control endpoint would be exposed without a
/// token, 3 when the endpoint cannot listen.
pub fn daemon(root: &Path) -> Result<Exit, CommandError> {
    let (ctx, warnings) = workspace::load_context(root).map_err(CommandError::Invalid)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let plan = ListenPlan::from_settings(&ctx.settings.control, &ctx.paths.settings(), |k| {
        std::env::var(k).ok()
    })
    .map_err(CommandError::Usage)?;
    if ctx.settings.store.url.is_some() {
        // A shared store: connect and run its migrations now, so a wrong URL or password
        // stops the daemon at start rather than at its first run.
        crate::snapshot::Store::open_configured(&ctx.paths.snapshots(), &ctx.paths.root, &ctx.settings.store)
            .map_err(|e| CommandError::CannotRun(e.to_string()))?;
    }
    let rt = super::runtime()?;
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(plan.addr).await.map_err(|e| {
            CommandError::CannotRun(format!(
                "cannot listen on {} ([control].listen in {}): {e}",
                plan.addr,
                ctx.paths.settings().display()
            ))
        })?;
        tracing::info!(
            root = %ctx.paths.root.display(),
            articles = ctx.watchlist.articles.len(),
            "citewatch daemon starting"
        );
        serve(ctx, listener, plan.token)
            .await
            .map_err(CommandError::Other)
    });
    // An abandoned run may leave blocking work (extraction, a lock wait) behind: do not
    // wait for it; the store keeps its last committed state.
    rt.shutdown_timeout(Duration::from_secs(1));
    result.map(|()| Exit::Ok)
}

/// Runs the daemon until SIGTERM or SIGINT: the loop on `ctx`, the control endpoint on
/// `listener` (requests need `token` when one is given). Returns when the run in progress
/// has finished or been abandoned after `[schedule].grace_secs`.
async fn serve(ctx: Context, listener: tokio::net::TcpListener, token: Option<String>) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let abandon = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;

    let pipeline = Arc::new(crate::daemon::RealPipeline::new(ctx.paths.root.clone()));
    let (handle, scheduler) = crate::daemon::runner::start(
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
    if crate::notify::webhook::queue_size(&ctx.paths) > 0 {
        crate::notify::webhook::flush(&ctx.paths, &ctx.settings, false).await;
    }
    let waiting = crate::notify::outbox_size(&ctx.paths);
    if waiting == 0 {
        return;
    }
    tracing::info!("{waiting} message(s) waiting in the outbox: retrying delivery");
    let summary = crate::notify::flush_outbox(&ctx.paths, &ctx.settings).await;
    tracing::info!("{summary}");
}
