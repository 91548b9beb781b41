//! Judging, the last step of a source's work: each statement × cite that cites it is located
//! in (first sight) or judged against (a baseline) the latest text, beside extraction, so
//! every text is read and prepared once. Pure CPU apart from reading stored texts.

use std::collections::HashMap;

use crate::evidence::{self, Verdict};
use crate::extract::ExtractedText;
use crate::ids::{BaselineKey, TextHash};
use crate::snapshot::{Store, StoreError};
use crate::watchlist::Statement;

use super::plan::EvTask;

/// The evidence stage's answer for one task, computed beside extraction.
pub(super) enum EvOutcome {
    /// A new baseline: passages located in the version judged.
    Located(evidence::Located),
    /// Judged against the baseline.
    Judged(evidence::Judgement),
    /// The baseline's text was made again by this extractor (`version`), the statement
    /// located there, and judged against it.
    Rebased {
        version: TextHash,
        located: evidence::Located,
        judgement: evidence::Judgement,
    },
}

/// The stored versions of a job that have a raw body, and the rules that extract them.
#[derive(Clone, Copy)]
pub(super) struct Heal<'a> {
    pub(super) versions: &'a [super::plan::StoredVersion],
    pub(super) rules: &'a crate::extract::Rules,
}

/// One task's outcome: its baseline key, the text version it was judged on, the outcome.
pub(super) type Judged = (BaselineKey, TextHash, EvOutcome);

/// The texts of one job, each prepared once for the evidence stage.
struct Texts<'a> {
    /// The version standing for today's page.
    version: &'a TextHash,
    /// Its text, when freshly extracted (else read from the store).
    latest: Option<&'a ExtractedText>,
    store: &'a Store,
    /// Where a missing or damaged text object can be made again from.
    heal: Heal<'a>,
    /// Whether anything is judged against `version` (else it is indexed only for locating).
    judging: bool,
    locating: Vec<&'a Statement>,
    prepared: HashMap<TextHash, evidence::Prepared>,
}

impl Texts<'_> {
    /// Prepares `v` (once) and returns it.
    fn get(&mut self, v: &TextHash) -> Result<&evidence::Prepared, StoreError> {
        if !self.prepared.contains_key(v) {
            let stored;
            let text = match self.latest {
                Some(t) if v == self.version => t,
                _ => {
                    stored = ExtractedText::from_text(&self.stored_text(v)?);
                    &stored
                }
            };
            let text = if v == self.version && !self.judging {
                evidence::Prepared::for_locating(text, &self.locating)
            } else {
                evidence::Prepared::new(text)
            };
            self.prepared.insert(v.clone(), text);
        }
        Ok(&self.prepared[v])
    }

    /// A stored text; one found missing or damaged is extracted again from its version's raw
    /// body and written back (under its own name when the extractor makes the same text).
    fn stored_text(&self, v: &TextHash) -> Result<String, StoreError> {
        let err = match self.store.get_text(v) {
            Ok(t) => return Ok(t),
            Err(e @ StoreError::Missing { .. }) => e,
            Err(e) => return Err(e),
        };
        let Some(sv) = self.heal.versions.iter().find(|sv| sv.text == *v) else {
            return Err(err);
        };
        let text = self
            .store
            .get_raw(&sv.raw)
            .ok()
            .and_then(|body| crate::extract::extract(&body, &sv.content_type, self.heal.rules).ok())
            .map(|t| t.to_text());
        let Some(text) = text else {
            return Err(err);
        };
        let made = self.store.put_text(&text)?;
        if made == *v {
            tracing::warn!("{err}: made again from its raw body");
        } else {
            tracing::warn!("{err}: read again from its raw body (the extractor now makes text {made})");
        }
        Ok(text)
    }

    /// Prepares both, then returns them.
    fn pair(
        &mut self,
        a: &TextHash,
        b: &TextHash,
    ) -> Result<(&evidence::Prepared, &evidence::Prepared), StoreError> {
        self.get(a)?;
        self.get(b)?;
        Ok((&self.prepared[a], &self.prepared[b]))
    }
}

fn unchanged() -> evidence::Judgement {
    evidence::Judgement {
        verdict: Verdict::Unchanged,
        before: None,
        after: None,
        facts: vec![],
    }
}

/// Runs a job's evidence tasks against the latest text version (`latest`, or loaded from the
/// store), preparing each text once. `rebased` maps stored versions to the ones this
/// extractor made from the same raw bodies.
pub(super) fn run_tasks(
    tasks: &[EvTask],
    version: &TextHash,
    latest: Option<&ExtractedText>,
    store: &Store,
    heal: Heal<'_>,
    rebased: &HashMap<TextHash, TextHash>,
) -> Result<Vec<Judged>, StoreError> {
    // Without a fresh text (304, same body), the latest stored version stands for today's
    // page: as this extractor reads it, if it was made again.
    let version = match latest {
        None => rebased.get(version).unwrap_or(version),
        Some(_) => version,
    };
    // When nothing is judged against this version (a first run), it is indexed only as far
    // as locating its statements needs.
    let judging = tasks.iter().any(|t| {
        t.baseline
            .as_ref()
            .is_some_and(|(base, _)| rebased.get(base).unwrap_or(base) != version)
    });
    let locating = tasks
        .iter()
        .filter(|t| {
            t.baseline
                .as_ref()
                .is_none_or(|(base, _)| rebased.contains_key(base))
        })
        .map(|t| &t.statement)
        .collect();
    let mut texts = Texts {
        version,
        latest,
        store,
        heal,
        judging,
        locating,
        prepared: HashMap::new(),
    };
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let outcome = judge_task(t, &mut texts, rebased)?;
        out.push((t.bkey.clone(), version.clone(), outcome));
    }
    Ok(out)
}

fn judge_task(
    t: &EvTask,
    texts: &mut Texts<'_>,
    rebased: &HashMap<TextHash, TextHash>,
) -> Result<EvOutcome, StoreError> {
    let version = texts.version;
    if let Some((base, _)) = &t.baseline
        && let Some(nb) = rebased.get(base)
    {
        // The baseline's page as this extractor reads it: locate the statement there
        // again, then judge the latest text against it.
        let located = evidence::locate_in(&t.statement, t.cite, texts.get(nb)?);
        let judgement = if nb == version {
            unchanged()
        } else {
            let (before, after) = texts.pair(nb, version)?;
            evidence::judge_in(&t.statement, &located.anchors, before, after)
        };
        return Ok(EvOutcome::Rebased {
            version: nb.clone(),
            located,
            judgement,
        });
    }
    Ok(match &t.baseline {
        // The very text the baseline was taken from: nothing to judge.
        Some((base, _)) if base == version => EvOutcome::Judged(unchanged()),
        Some((base, anchors)) => {
            let (before, after) = texts.pair(base, version)?;
            EvOutcome::Judged(evidence::judge_in(&t.statement, anchors, before, after))
        }
        None => EvOutcome::Located(evidence::locate_in(&t.statement, t.cite, texts.get(version)?)),
    })
}
