//! `citewatch outbox`: what waits in `reports/outbox/` (and what was refused for good in
//! `reports/outbox/failed/`); `--send` retries all of it now.

use std::path::Path;

use crate::cli::OutboxArgs;
use crate::error::{CommandError, Exit};
use crate::notify::{self, OutboxItem, OutboxState};
use crate::settings::Settings;
use crate::workspace::Paths;

/// Lists queued messages; with `--send`, retries them first. Exit 0 when the listing worked
/// (and, with `--send`, when nothing is left waiting or refused); 3 when `--send` left
/// messages undelivered; 2 on invalid settings.
pub async fn outbox(root: &Path, args: &OutboxArgs) -> Result<Exit, CommandError> {
    let paths = Paths::new(root);
    let settings = Settings::load(&paths.settings()).map_err(CommandError::Invalid)?;
    if args.send {
        let summary = notify::flush_outbox_all(&paths, &settings).await;
        println!("{summary}");
        let hooks = notify::webhook::flush(&paths, &settings, true).await;
        if hooks != notify::webhook::Summary::default() {
            println!("{hooks}");
        }
    }
    let mut items = notify::list_outbox(&paths).map_err(CommandError::Other)?;
    items.extend(notify::webhook::list(&paths).map_err(CommandError::Other)?);
    print_items(&items);
    if args.send && !items.is_empty() {
        return Ok(Exit::CannotRun);
    }
    Ok(Exit::Ok)
}

fn print_items(items: &[OutboxItem]) {
    if items.is_empty() {
        println!("outbox: nothing waits");
        return;
    }
    for i in items {
        let state = match i.state {
            OutboxState::Waiting => "waiting",
            OutboxState::Failed => "refused",
        };
        let to = match &i.meta.webhook {
            Some(_) => format!("  (webhook {})", i.meta.to.join(", ")),
            None => String::new(),
        };
        println!(
            "{state:<8} run {}  attempts {}  {}{to}",
            i.meta.run_id, i.meta.attempts, i.meta.subject
        );
        println!("  file: {}", i.eml.display());
        if let Some(t) = i.meta.last_attempt_at {
            println!(
                "  last attempt: {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        if let Some(e) = &i.meta.last_error {
            println!("  last error: {e}");
        }
    }
    let waiting = items.iter().filter(|i| i.state == OutboxState::Waiting).count();
    let refused = items.len() - waiting;
    println!(
        "{waiting} waiting (retried by every run and the daemon), {refused} refused permanently (retried only by `citewatch outbox --send`)"
    );
}
