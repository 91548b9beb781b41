//! `citewatch archive ARTICLE_ID`: an article's baselines taken again from the web archive.

use std::path::Path;

use crate::cli::ArchiveArgs;
use crate::error::{CommandError, Exit};
use crate::run::{self, RunError};

/// Takes the baselines again ([`run::archive_again`]) and prints what each pair got.
pub async fn archive(root: &Path, args: &ArchiveArgs) -> Result<Exit, CommandError> {
    let (ctx, warnings) = crate::workspace::load_context(root).map_err(CommandError::Invalid)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let checked = ctx
        .watchlist
        .article(&args.article)
        .and_then(|a| a.checked.clone())
        .unwrap_or_default();
    let lines = run::archive_again(&ctx, &args.article)
        .await
        .map_err(|e| match e {
            RunError::Store(e) => CommandError::CannotRun(e.to_string()),
            e => CommandError::Usage(format!("{e:#}")),
        })?;
    let taken = lines.iter().filter(|l| l.capture.is_some()).count();
    for l in &lines {
        match &l.capture {
            Some(c) => println!("{} [{}] {}: baseline from {c}", l.statement, l.cite, l.url),
            None => println!(
                "{} [{}] {}: no capture at or before {checked}; baseline kept",
                l.statement, l.cite, l.url
            ),
        }
    }
    println!(
        "{taken} of {} baselines taken from the archive; the next run judges them (citewatch check --only {})",
        lines.len(),
        args.article
    );
    Ok(Exit::Ok)
}
