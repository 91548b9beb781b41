//! `citewatch ack`: a person accepts the current wording of flagged statements. Their
//! baselines move to the latest snapshot (passages located again there), the flag is cleared,
//! and who/when is recorded in the store.

use std::path::Path;

use chrono::Utc;

use crate::cli::AckArgs;
use crate::error::{CommandError, Exit};
use crate::evidence;
use crate::extract::ExtractedText;
use crate::run::{self, LOCK_WAIT};
use crate::snapshot::{Ack, BaselineKey, SourceKey, Store};

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
/// located again there), clears their flags and records `ack by <by>` and the time. A named
/// statement with no flagged source is left alone and listed in
/// [`AckOutcome::not_flagged`]. Shared by the CLI and the daemon's page (`POST /ack`).
pub fn acknowledge(root: &Path, selection: &AckSelection, by: &str) -> Result<AckOutcome, CommandError> {
    let (ctx, _) = run::load_context(root).map_err(CommandError::Invalid)?;
    let named: &[String] = match selection {
        AckSelection::Statements(ids) => ids,
        _ => &[],
    };
    if let AckSelection::Article(a) = selection
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
        .filter(|a| match selection {
            AckSelection::All => true,
            AckSelection::Article(id) => *id == a.id.0,
            AckSelection::Statements(ids) => a.statements.iter().any(|s| ids.contains(&s.id.0)),
        })
        .collect();
    let sources: Vec<SourceKey> = articles
        .iter()
        .flat_map(|a| a.sources.iter().map(crate::run::source_key_of))
        .collect();
    let mut index = store
        .load(&sources, articles.iter().map(|a| a.id.0.as_str()))
        .map_err(|e| CommandError::CannotRun(e.to_string()))?;

    let mut unknown: Vec<&str> = named
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
    let mut out = AckOutcome::default();
    for a in articles {
        for st in &a.statements {
            let chosen = match selection {
                AckSelection::All => true,
                AckSelection::Article(art) => *art == a.id.0,
                AckSelection::Statements(ids) => ids.contains(&st.id.0),
            };
            if !chosen {
                continue;
            }
            let flagged = st.cites.iter().any(|&c| {
                index
                    .baselines
                    .get(&BaselineKey::new(&st.id, c))
                    .is_some_and(|b| b.flag.is_some())
            });
            if !flagged {
                // --all and --article pass over it quietly; a named one is reported.
                if matches!(selection, AckSelection::Statements(_)) {
                    out.not_flagged.push(st.id.0.clone());
                }
                continue;
            }
            for &cite in &st.cites {
                let key = BaselineKey::new(&st.id, cite);
                let Some(b) = index.baselines.get(&key) else {
                    continue;
                };
                // --all and --article only touch flagged cites; a named statement has every
                // cite's passage located again in the latest version.
                if b.flag.is_none() && !matches!(selection, AckSelection::Statements(_)) {
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
                    by: by.to_owned(),
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
                b.set_by = format!("ack by {by}");
                b.statement_text = st.text.clone();
                b.flag = None;
                out.acked.push(Acked {
                    statement: st.id.0.clone(),
                    cite: cite.0,
                    text: st.text.clone(),
                });
            }
        }
    }
    if !out.acked.is_empty() {
        store
            .commit(index, ctx.settings.store.keep, None)
            .map_err(|e| CommandError::CannotRun(e.to_string()))?;
    }
    Ok(out)
}
