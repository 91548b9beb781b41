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
use crate::watchlist::{Article, CiteNo, Entry, Statement, Watchlist};

fn cannot_run(e: impl std::fmt::Display) -> CommandError {
    CommandError::CannotRun(e.to_string())
}

/// Which statements to acknowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckSelection {
    /// Every flagged statement.
    All,
    /// Every flagged statement of this article.
    Article(String),
    /// These statements (by id).
    Statements(Vec<String>),
}

/// One statement × source whose baseline moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// Statement id.
    pub statement: String,
    /// Cite number.
    pub cite: u32,
    /// Statement text.
    pub text: String,
}

/// What [`acknowledge`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// Baselines moved.
    pub acked: Vec<Acked>,
    /// Statements named that were not flagged for any source: nothing was changed for them.
    pub not_flagged: Vec<String>,
}

/// `citewatch ack`: acknowledges and prints what moved. Exit 0, or 1 when a statement named
/// was not flagged (it says so; nothing was changed for it).
pub fn ack(root: &Path, args: &AckArgs) -> Result<Exit, CommandError> {
    let selection = if args.all {
        AckSelection::All
    } else if let Some(a) = &args.article {
        AckSelection::Article(a.clone())
    } else if !args.statements.is_empty() {
        AckSelection::Statements(args.statements.clone())
    } else {
        return Err(CommandError::Usage(
            "name the statements to acknowledge (STATEMENT_ID...), or use --article ID or --all".into(),
        ));
    };
    let by = args
        .by
        .clone()
        .filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()));
    let out = acknowledge(root, &selection, by.as_deref().unwrap_or("unknown"))?;
    for a in &out.acked {
        println!("acknowledged {} [{}]: {}", a.statement, a.cite, a.text);
    }
    for id in &out.not_flagged {
        eprintln!("{id} is not flagged: nothing to acknowledge");
    }
    if out.acked.is_empty() && out.not_flagged.is_empty() {
        println!("nothing to acknowledge");
    }
    Ok(if out.not_flagged.is_empty() {
        Exit::Ok
    } else {
        Exit::NOT_FLAGGED
    })
}

/// Moves the baselines of the selected flagged statements to the latest snapshot (passages
/// located again there), clears their flags and records `ack by <by>` and the time (the
/// rules are [`record::ack`]'s). A named statement with no flagged source is left alone and
/// listed in [`AckOutcome::not_flagged`]. Shared by the CLI and the daemon's page (`POST /ack`).
pub fn acknowledge(root: &Path, selection: &AckSelection, by: &str) -> Result<AckOutcome, CommandError> {
    let (ctx, _) = crate::workspace::load_context(root).map_err(CommandError::Invalid)?;
    if let AckSelection::Article(a) = selection
        && ctx.watchlist.article(a).is_none()
    {
        return Err(CommandError::Usage(format!(
            "no article with id `{a}` in the watchlist"
        )));
    }
    // The articles an ack can touch, read whole: a statement id begins with its article's.
    let entries: Vec<&Entry> = ctx
        .watchlist
        .articles
        .iter()
        .filter(|e| match selection {
            AckSelection::All => true,
            AckSelection::Article(id) => *id == e.id.0,
            AckSelection::Statements(ids) => ids
                .iter()
                .any(|id| id.split_once(':').is_some_and(|(a, _)| a == e.id.0)),
        })
        .collect();
    let wl = Watchlist {
        articles: ctx.articles(&entries),
    };
    unknown_statements(&wl, selection)?;
    let store = Store::open_configured(&ctx.paths.snapshots(), &ctx.paths.root, &ctx.settings.store)
        .map_err(cannot_run)?;
    // Only the records of the articles an ack can touch.
    let articles = touched_articles(&wl, selection);
    let ids: Vec<Vec<String>> = articles.iter().map(|a| vec![a.id.0.clone()]).collect();
    // The store lock, or (shared store) these articles, waiting for a worker's run of them.
    let claim = store.claim(&ids, None, LOCK_WAIT).map_err(cannot_run)?;
    let sources: Vec<SourceKey> = articles
        .iter()
        .flat_map(|a| a.sources.iter().map(source_key_of))
        .collect();
    let mut index = store
        .load(&sources, articles.iter().map(|a| a.id.0.as_str()))
        .map_err(cannot_run)?;

    let now = Utc::now();
    let named = matches!(selection, AckSelection::Statements(_));
    let mut out = AckOutcome::default();
    for a in articles {
        for st in a.statements.iter().filter(|st| chosen(selection, a, st)) {
            let flagged = st.cites.iter().any(|&c| {
                index
                    .baselines
                    .get(&BaselineKey::new(&st.id, c))
                    .is_some_and(|b| b.flag.is_some())
            });
            if !flagged {
                // --all and --article pass over it quietly; a named one is reported.
                if named {
                    out.not_flagged.push(st.id.0.clone());
                }
                continue;
            }
            for &cite in &st.cites {
                if ack_cite(&store, &mut index, (a, st, cite), named, by, now)? {
                    out.acked.push(Acked {
                        statement: st.id.0.clone(),
                        cite: cite.0,
                        text: st.text.clone(),
                    });
                }
            }
        }
    }
    if !out.acked.is_empty() {
        store
            .commit_claimed(index, ctx.settings.store.keep, None, Some(&claim))
            .map_err(cannot_run)?;
    }
    Ok(out)
}

/// The articles whose statements `selection` may acknowledge.
fn touched_articles<'a>(wl: &'a Watchlist, selection: &AckSelection) -> Vec<&'a Article> {
    wl.articles
        .iter()
        .filter(|a| match selection {
            AckSelection::All => true,
            AckSelection::Article(id) => *id == a.id.0,
            AckSelection::Statements(ids) => a.statements.iter().any(|s| ids.contains(&s.id.0)),
        })
        .collect()
}

/// A usage error naming the statement ids of `selection` that the watchlist does not have.
fn unknown_statements(wl: &Watchlist, selection: &AckSelection) -> Result<(), CommandError> {
    let AckSelection::Statements(ids) = selection else {
        return Ok(());
    };
    let mut unknown: Vec<&str> = ids
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

fn chosen(selection: &AckSelection, a: &Article, st: &Statement) -> bool {
    match selection {
        AckSelection::All => true,
        AckSelection::Article(art) => *art == a.id.0,
        AckSelection::Statements(ids) => ids.contains(&st.id.0),
    }
}

/// Acknowledges one statement × cite, if it has a baseline to move and its source a latest
/// version to move it to; true when it did. `named`: the statement was named (every cite's
/// passage is located again), not picked by `--all` or `--article` (only flagged cites).
fn ack_cite(
    store: &Store,
    index: &mut Index,
    (a, st, cite): (&Article, &Statement, CiteNo),
    named: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, CommandError> {
    let key = BaselineKey::new(&st.id, cite);
    let Some(b) = index.baselines.get(&key) else {
        return Ok(false);
    };
    if !record::ack_wanted(b, named) {
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
    let done = record::ack(b, &key, (source_key, latest, loc), &st.text, by, now);
    index.acks.push(done);
    Ok(true)
}
