//! The daemon's loop: the scheduler and the task that runs the pipeline, calling
//! [`crate::run::run_check`] through one task.
//!
//! - [`scheduler`]: cron expressions → due times, jitter, the clock.
//! - [`runner`]: the task that owns the pipeline and serialises runs.
//!
//! The `daemon` command wires the loop, the signals, the outbox timer and the control
//! endpoint together; this module knows nothing of HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use crate::error::Diagnostic;
use crate::report::RunReport;
use crate::run::{RunError, RunRequest};
use crate::workspace::Context;

pub mod runner;
pub mod scheduler;

pub use runner::{DaemonHandle, FailureKind, LoopOptions, Pipeline, RunFailure, RunResult, State, Status};
pub use scheduler::{Clock, Scheduler};

/// How long a daemon run waits for the store lock held by another run (a CLI `check`).
pub const DAEMON_LOCK_WAIT: Duration = Duration::from_secs(300);

/// The real pipeline: [`crate::workspace::load_context`] and [`crate::run::run_check`] on a root.
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
        crate::workspace::load_context(&self.root)
    }

    fn run(
        &self,
        ctx: Arc<Context>,
        req: RunRequest,
    ) -> LocalBoxFuture<'static, Result<RunReport, RunError>> {
        Box::pin(async move { crate::run::run_check(&ctx, req, None).await })
    }
}
