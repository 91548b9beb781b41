//! The CPU-bound work of a run (parsing, extracting, anchoring, judging a page) runs on a
//! few threads of its own, not on tokio's blocking pool.
//!
//! The blocking pool starts a thread whenever none is idle (up to 512), so a run with many
//! fetches in flight spread its extractions over some thirty threads; each thread keeps its
//! own malloc arena and its own cache for every regex it used, and a cold run over 20,000
//! sources peaked at 145 MiB. On these threads it peaks about 35 MiB lower, and runs a
//! little faster (see ARCHITECTURE.md, "At scale").

use std::panic::AssertUnwindSafe;
use std::sync::LazyLock;

/// Threads per core: a page's processing also waits on the store's file writes and shares
/// the cores with the fetches' network work. Measured on the 1000-page bench (2 cores): one
/// per core left the cores idle a quarter of a cold run; four per core beat two by about 5%
/// of wall time.
pub const THREADS_PER_CORE: usize = 4;

static POOL: LazyLock<rayon::ThreadPool> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    rayon::ThreadPoolBuilder::new()
        .num_threads(
            std::env::var("CW_T")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(cores * THREADS_PER_CORE),
        )
        .thread_name(|i| format!("citewatch-cpu-{i}"))
        .build()
        .expect("the CPU threads start")
});

/// Runs `f` on the CPU threads, queued behind the work already there (a queued job holds
/// its page as bytes, not as a half-built tree). `Err` carries the panic's message if `f`
/// panicked; the thread lives on.
pub async fn run<R, F>(f: F) -> Result<R, String>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    POOL.spawn(move || {
        let out = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p));
        // The caller may be gone (its run was aborted): nothing to hand the result to.
        let _ = tx.send(out);
    });
    rx.await
        .unwrap_or_else(|_| Err("the CPU job was dropped".to_owned()))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs_jobs_and_survives_their_panics() {
        assert_eq!(super::run(|| 6 * 7).await, Ok(42));
        let p = super::run(|| -> u8 { panic!("boom on a page") }).await;
        assert_eq!(p, Err("boom on a page".to_owned()));
        // The pool still answers after a panic, on every thread.
        let all = futures_util::future::join_all((0..64).map(|i| super::run(move || i + 1))).await;
        assert_eq!(
            all.into_iter().map(Result::unwrap).sum::<i32>(),
            (1..=64).sum::<i32>()
        );
    }

    #[tokio::test]
    async fn runs_off_the_async_threads() {
        let name = super::run(|| std::thread::current().name().map(str::to_owned)).await;
        assert!(name.unwrap().unwrap().starts_with("citewatch-cpu-"));
    }
}
