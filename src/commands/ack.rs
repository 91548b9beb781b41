//! `citewatch ack`: a person accepts the current wording of flagged statements. Their
//! baselines move to the latest snapshot (passages located again there), the flag is cleared,
//! and who/when is recorded in the store.

use std::path::Path;

use chrono::Utc;

use crate::cli::AckArgs;
use crate::error::{CommandError, Exit};
use crate::evidence;
use crate::extract::ExtractedText;
use crate::run::LOCK_WAIT;
use crate::snapshot::{Ack, BaselineKey, SourceKey, Store};

/// Moves acknowledged statements' baselines to the latest snapshot.
pub fn ack(root: &Path, args: &AckArgs) -> Result<Exit, CommandError> {
    if !args.all && args.article.is_none() && args.statements.is_empty() {
        return Err(CommandError::Usage(
            "name the statements to acknowledge (STATEMENT_ID...), or use --article ID or --all".into(),
        ));
    }
    let (ctx, _) = crate::workspace::load_context(root).map_err(CommandError::Invalid)?;
    if let Some(a) = &args.article
        && ctx.watchlist.article(a).is_none()
    {
        return Err(CommandError::Usage(format!(
            "no article with id `{a}` in the watchlist"
        )));
    }
    let store = Store::open(&ctx.paths.snapshots()).map_err(|e| CommandError::CannotRun(e.to_string()))?;
    let _lock = store
        .lock(LOCK_WAIT)
        .map_err(|e| CommandError::CannotRun(e.to_string()))?;
    // Only the records of the articles an ack can touch.
    let articles: Vec<&crate::watchlist::Article> = ctx
        .watchlist
        .articles
        .iter()
        .filter(|a| match &args.article {
            Some(id) => *id == a.id.0,
            None => args.all || a.statements.iter().any(|s| args.statements.contains(&s.id.0)),
        })
        .collect();
    let sources: Vec<SourceKey> = articles
        .iter()
        .flat_map(|a| a.sources.iter().map(crate::run::source_key_of))
        .collect();
    let mut index = store
        .load(&sources, articles.iter().map(|a| a.id.0.as_str()))
        .map_err(|e| CommandError::CannotRun(e.to_string()))?;

    let mut unknown: Vec<&str> = args
        .statements
        .iter()
        .map(String::as_str)
        .filter(|id| {
            !ctx.watchlist
                .articles
                .iter()
                .any(|a| a.statements.iter().any(|s| s.id.0 == *id))
        })
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(CommandError::Usage(format!(
            "no statement with id {} in the watchlist (`citewatch validate` lists the ids)",
            unknown.join(", ")
        )));
    }

    let now = Utc::now();
    let mut acked = 0;
    for a in articles {
        for st in &a.statements {
            let chosen = if args.all {
                true
            } else if let Some(art) = &args.article {
                *art == a.id.0
            } else {
                args.statements.contains(&st.id.0)
            };
            if !chosen {
                continue;
            }
            for &cite in &st.cites {
                let key = BaselineKey::new(&st.id, cite);
                let Some(b) = index.baselines.get(&key) else {
                    continue;
                };
                // --all and --article only touch flagged statements; named ones always move.
                if b.flag.is_none() && (args.all || args.article.is_some()) {
                    continue;
                }
                // The cite's source as the watchlist names it now (its URL or rules may have
                // changed since the baseline was taken).
                let Some(src) = a.source(cite) else { continue };
                let source_key = crate::run::source_key_of(src);
                let Some(latest) = index
                    .sources
                    .get(&source_key)
                    .and_then(|r| r.versions.last())
                    .cloned()
                else {
                    continue;
                };
                let text = ExtractedText::from_text(
                    &store
                        .get_text(&latest.text)
                        .map_err(|e| CommandError::CannotRun(e.to_string()))?,
                );
                let loc = evidence::locate(st, cite, &text);
                let b = index.baselines.get_mut(&key).expect("present");
                index.acks.push(Ack {
                    baseline: key.clone(),
                    by: args.by.clone(),
                    at: now,
                    version: latest.text.clone(),
                    previous: Some(b.version.clone()).filter(|v| !v.is_empty()),
                    cleared_verdict: b.flag.as_ref().and_then(|f| f.verdict),
                    cleared_since_run: b.flag.as_ref().map(|f| f.since_run.clone()),
                });
                b.version = latest.text.clone();
                b.source = source_key;
                b.anchors = loc.anchors;
                b.missing_quotes = loc.missing_quotes;
                b.unfound_quotes = loc.unfound_quotes;
                b.candidate = loc.candidate;
                b.set_at = now;
                b.set_by = format!("ack by {}", args.by);
                b.statement_text = st.text.clone();
                b.flag = None;
                acked += 1;
                println!("acknowledged {} [{}]: {}", st.id, cite, st.text);
            }
        }
    }
    store
        .commit(index, ctx.settings.store.keep, None)
        .map_err(|e| CommandError::CannotRun(e.to_string()))?;
    if acked == 0 {
        println!("nothing to acknowledge");
    }
    Ok(Exit::Ok)
}
