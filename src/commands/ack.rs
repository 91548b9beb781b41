//! `citewatch ack`: a person accepts the current wording of flagged statements. Their
//! baselines move to the latest snapshot (passages located again there), the flag is cleared,
//! and who/when is recorded in the store: the rules are [`crate::record`]'s, this command
//! chooses the statements and does the I/O.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::cli::AckArgs;
use crate::error::{CommandError, Exit};
use crate::evidence;
use crate::extract::ExtractedText;
use crate::ids::{BaselineKey, SourceKey, source_key_of};
use crate::record;
use crate::run::LOCK_WAIT;
use crate::snapshot::{Index, Store};
use crate::watchlist::{Article, CiteNo, Statement, Watchlist};

fn cannot_run(e: impl std::fmt::Display) -> CommandError {
    CommandError::CannotRun(e.to_string())
}

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
    let store = Store::open(&ctx.paths.snapshots()).map_err(cannot_run)?;
    let _lock = store.lock(LOCK_WAIT).map_err(cannot_run)?;
    // Only the records of the articles an ack can touch.
    let articles = touched_articles(&ctx.watchlist, args);
    let sources: Vec<SourceKey> = articles
        .iter()
        .flat_map(|a| a.sources.iter().map(source_key_of))
        .collect();
    let mut index = store
        .load(&sources, articles.iter().map(|a| a.id.0.as_str()))
        .map_err(cannot_run)?;
    unknown_statements(&ctx.watchlist, args)?;

    let now = Utc::now();
    let mut acked = 0;
    for a in articles {
        for st in a.statements.iter().filter(|st| chosen(args, a, st)) {
            for &cite in &st.cites {
                if ack_cite(&store, &mut index, (a, st, cite), args, now)? {
                    acked += 1;
                    println!("acknowledged {} [{}]: {}", st.id, cite, st.text);
                }
            }
        }
    }
    store
        .commit(index, ctx.settings.store.keep, None)
        .map_err(cannot_run)?;
    if acked == 0 {
        println!("nothing to acknowledge");
    }
    Ok(Exit::Ok)
}

/// The articles whose statements `args` may acknowledge.
fn touched_articles<'a>(wl: &'a Watchlist, args: &AckArgs) -> Vec<&'a Article> {
    wl.articles
        .iter()
        .filter(|a| match &args.article {
            Some(id) => *id == a.id.0,
            None => args.all || a.statements.iter().any(|s| args.statements.contains(&s.id.0)),
        })
        .collect()
}

/// A usage error naming the statement ids of `args` that the watchlist does not have.
fn unknown_statements(wl: &Watchlist, args: &AckArgs) -> Result<(), CommandError> {
    let mut unknown: Vec<&str> = args
        .statements
        .iter()
        .map(String::as_str)
        .filter(|id| {
            !wl.articles
                .iter()
                .any(|a| a.statements.iter().any(|s| s.id.0 == *id))
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(CommandError::Usage(format!(
        "no statement with id {} in the watchlist (`citewatch validate` lists the ids)",
        unknown.join(", ")
    )))
}

fn chosen(args: &AckArgs, a: &Article, st: &Statement) -> bool {
    if args.all {
        true
    } else if let Some(art) = &args.article {
        *art == a.id.0
    } else {
        args.statements.contains(&st.id.0)
    }
}

/// Acknowledges one statement × cite, if it has a baseline to move and its source a latest
/// version to move it to; true when it did.
fn ack_cite(
    store: &Store,
    index: &mut Index,
    (a, st, cite): (&Article, &Statement, CiteNo),
    args: &AckArgs,
    now: DateTime<Utc>,
) -> Result<bool, CommandError> {
    let key = BaselineKey::new(&st.id, cite);
    let Some(b) = index.baselines.get(&key) else {
        return Ok(false);
    };
    if !record::ack_wanted(b, !(args.all || args.article.is_some())) {
        return Ok(false);
    }
    // The cite's source as the watchlist names it now (its URL or rules may have changed
    // since the baseline was taken).
    let Some(src) = a.source(cite) else {
        return Ok(false);
    };
    let source_key = source_key_of(src);
    let Some(latest) = index
        .sources
        .get(&source_key)
        .and_then(|r| r.versions.last())
        .map(|v| v.text.clone())
    else {
        return Ok(false);
    };
    let text = ExtractedText::from_text(&store.get_text(&latest).map_err(cannot_run)?);
    let loc = evidence::locate(st, cite, &text);
    let b = index.baselines.get_mut(&key).expect("present");
    let done = record::ack(b, &key, (source_key, latest, loc), &st.text, &args.by, now);
    index.acks.push(done);
    Ok(true)
}
