//! `citewatch daemon`.

use std::path::Path;
use std::time::Duration;

use crate::control::ListenPlan;
use crate::error::{CommandError, Exit};
use crate::run;

/// Runs the service in the foreground until SIGTERM or SIGINT; exit 0 after a clean stop,
/// 2 when the configuration is invalid or the control endpoint would be exposed without a
/// token, 3 when the endpoint cannot listen.
pub fn daemon(root: &Path) -> Result<Exit, CommandError> {
    let (ctx, warnings) = run::load_context(root).map_err(CommandError::Invalid)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let plan = ListenPlan::from_settings(&ctx.settings.control, &ctx.paths.settings(), |k| {
        std::env::var(k).ok()
    })
    .map_err(CommandError::Usage)?;
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
        crate::daemon::serve(ctx, listener, plan.token)
            .await
            .map_err(CommandError::Other)
    });
    // An abandoned run may leave blocking work (extraction, a lock wait) behind: do not
    // wait for it; the store keeps its last committed state.
    rt.shutdown_timeout(Duration::from_secs(1));
    result.map(|()| Exit::Ok)
}
