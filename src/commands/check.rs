//! `citewatch check`.

use std::io::IsTerminal;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use crate::cli::{CheckArgs, Format};
use crate::error::{CommandError, Exit};
use crate::report::Trigger;
use crate::run::{self, RunError, RunRequest};

/// Runs the pipeline once and prints the summary or the JSON report.
pub async fn check(root: &Path, args: &CheckArgs) -> Result<Exit, CommandError> {
    let t0 = std::time::Instant::now();
    let (ctx, warnings) =
        crate::workspace::load_context_for(root, &args.only).map_err(CommandError::Invalid)?;
    tracing::debug!(
        elapsed_ms = t0.elapsed().as_millis() as u64,
        "settings and watchlist loaded"
    );
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let req = RunRequest {
        only: args.only.clone(),
        trigger: Trigger::Manual,
        lock_wait: run::LOCK_WAIT,
        email: !args.no_email,
        due: None,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} fetching {pos}/{len} sources [{bar:30}] {elapsed}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        // The spinner and the elapsed time move before the first source is done (a slow
        // first source left the bar blank for seconds).
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    });
    let progress: Option<run::Progress> = bar.clone().map(|b| {
        Arc::new(move |n: u64, total: u64| {
            b.set_length(total);
            b.set_position(n);
        }) as run::Progress
    });
    let report = run::run_check(&ctx, req, progress).await.map_err(|e| match e {
        RunError::UnknownArticle(_) => CommandError::Usage(e.to_string()),
        RunError::ClaimedElsewhere => CommandError::CannotRun(e.to_string()),
        RunError::Store(e) => CommandError::CannotRun(e.to_string()),
        RunError::Other(e) => CommandError::CannotRun(format!("{e:#}")),
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    tracing::info!(run_id = %report.run_id, flagged = report.summary.flagged, new_flags = report.summary.new_flags, "run finished");
    match args.format {
        Format::Text => {
            print!("{}", report.to_text());
            if let Some(m) = &report.mail {
                println!("mail: {m}");
            }
            println!(
                "report: {}",
                report.dir(&ctx.paths.reports()).join("report.html").display()
            );
        }
        Format::Json => {
            // Written as it is serialised: at 20,000 sources the JSON is over 20 MB.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer_pretty(&mut out, &report).map_err(anyhow::Error::from)?;
            writeln!(out)
                .and_then(|()| out.flush())
                .map_err(anyhow::Error::from)?;
        }
    }
    if args.fail_on_flagged && report.summary.flagged > 0 {
        return Ok(Exit::Flagged);
    }
    Ok(Exit::Ok)
}
