//! One source's work once its fetch has answered: extract the body (on the CPU threads),
//! store the text and raw objects, extract again the stored versions an older extractor made,
//! and judge the statements that cite it ([`super::judge`]). The answer is a [`Processed`];
//! the records themselves are written later, by the record step ([`super::books`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::extract::{ExtractError, Rules};
use crate::fetch::{FailureKind, FetchFailure, FetchOutcome, FetchedPage};
use crate::ids::TextHash;
use crate::snapshot::{Store, StoreError};

use super::judge::{Judged, run_tasks};
use super::plan::{EvTask, Job, StoredVersion};

/// A fetched page's metadata, without its body (bodies are stored and dropped as soon as
/// they are processed, so memory stays flat however many sources a run has).
pub(super) struct PageMeta {
    pub(super) final_url: String,
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

impl PageMeta {
    fn of(page: &FetchedPage) -> Self {
        Self {
            final_url: page.final_url.to_string(),
            status: page.status,
            content_type: page.content_type.clone(),
            etag: page.etag.clone(),
            last_modified: page.last_modified.clone(),
        }
    }
}

/// Stored versions made again by this extractor: old text hash → new one.
pub(super) type Rebased = HashMap<TextHash, TextHash>;

/// What processing one job gave.
pub(super) enum Processed {
    /// Extracted and stored, evidence judged.
    Stored {
        meta: PageMeta,
        raw_hash: String,
        text_hash: TextHash,
        evidence: Vec<Judged>,
        rebased: Rebased,
    },
    /// The body is byte-identical to the last one (same rules): nothing extracted.
    SameRaw {
        meta: PageMeta,
        raw_hash: String,
        evidence: Vec<Judged>,
        rebased: Rebased,
    },
    /// A 304: the stored text stands.
    NotModified {
        final_url: String,
        evidence: Vec<Judged>,
        rebased: Rebased,
    },
    /// Fetching or extracting failed: the source is unreachable this run.
    Failed(FetchFailure),
    /// The store could not be written: the run cannot go on.
    StoreFailed(StoreError),
}

/// What the blocking part of a job needs, cloned out of the shared plan.
struct Inputs {
    rules: Rules,
    same_rules: bool,
    prev_raw: Option<String>,
    prev_text: Option<TextHash>,
    tasks: Vec<EvTask>,
    reextract: Vec<StoredVersion>,
    heal: Vec<StoredVersion>,
}

impl Inputs {
    fn of(job: &Job) -> Self {
        Self {
            rules: job.rules.clone(),
            same_rules: job.prev_rules.as_deref() == Some(job.fingerprint.as_str()),
            prev_raw: job.prev_raw.clone(),
            prev_text: job.prev_text.clone(),
            tasks: job.tasks.clone(),
            reextract: job.reextract.clone(),
            heal: job.heal.clone(),
        }
    }

    /// Judges the tasks against the stored `version` (after making the old versions again).
    fn judge_stored(&self, version: &TextHash, store: &Store) -> Result<(Vec<Judged>, Rebased), StoreError> {
        let rebased = reextract_versions(&self.reextract, &self.rules, store)?;
        Ok((
            run_tasks(&self.tasks, version, None, store, self.heal(), &rebased)?,
            rebased,
        ))
    }

    fn heal(&self) -> super::judge::Heal<'_> {
        super::judge::Heal {
            versions: &self.heal,
            rules: &self.rules,
        }
    }
}

/// Processes one job's fetch outcome on the CPU threads ([`crate::cpu`]).
pub(super) async fn process(job: &Job, outcome: FetchOutcome, store: Arc<Store>) -> Processed {
    match outcome {
        FetchOutcome::Failed(f) => Processed::Failed(f),
        FetchOutcome::NotModified { final_url } => {
            let final_url = final_url.to_string();
            let Some(version) = job.prev_text.clone() else {
                return Processed::NotModified {
                    final_url,
                    evidence: vec![],
                    rebased: HashMap::new(),
                };
            };
            let inputs = Inputs::of(job);
            let r = crate::cpu::run(move || inputs.judge_stored(&version, &store)).await;
            match r {
                Ok(Ok((evidence, rebased))) => Processed::NotModified {
                    final_url,
                    evidence,
                    rebased,
                },
                Ok(Err(e)) => store_failed(e),
                Err(e) => panicked_with(&e),
            }
        }
        FetchOutcome::Fetched(page) => {
            // Parsing is CPU-bound: as many extractions at once as there are CPU threads,
            // however many fetches are in flight, so pages wait as bytes rather than as
            // half-built trees.
            let inputs = Inputs::of(job);
            let r = crate::cpu::run(move || process_page(&inputs, &page, &store)).await;
            r.unwrap_or_else(|e| panicked_with(&e))
        }
    }
}

/// A fetched body: the same bytes as last time (nothing extracted), or extracted, stored and
/// judged. Runs on the CPU threads.
fn process_page(inputs: &Inputs, page: &FetchedPage, store: &Store) -> Processed {
    let meta = PageMeta::of(page);
    let raw_hash = Store::raw_hash(&page.body);
    if inputs.same_rules
        && inputs.prev_raw.as_deref() == Some(raw_hash.as_str())
        && let Some(version) = &inputs.prev_text
    {
        return match inputs.judge_stored(version, store) {
            Ok((evidence, rebased)) => Processed::SameRaw {
                meta,
                raw_hash,
                evidence,
                rebased,
            },
            Err(e) => store_failed(e),
        };
    }
    let text = match crate::extract::extract(&page.body, &page.content_type, &inputs.rules) {
        Ok(text) => text,
        Err(e) => return extract_failed(page, &e),
    };
    // The raw body is kept with each new text version; a body whose text did not change
    // (new timestamps, menus, ads) adds nothing to the store.
    let stored = store.put_text(&text.to_text()).and_then(|h| {
        if inputs.prev_text.as_ref() != Some(&h) {
            store.put_raw_hashed(&page.body, raw_hash.clone())?;
        }
        Ok((h, raw_hash))
    });
    let evidence = stored.and_then(|(text_hash, raw_hash)| {
        let rebased = reextract_versions(&inputs.reextract, &inputs.rules, store)?;
        let ev = run_tasks(
            &inputs.tasks,
            &text_hash,
            Some(&text),
            store,
            inputs.heal(),
            &rebased,
        )?;
        Ok((text_hash, raw_hash, ev, rebased))
    });
    match evidence {
        Ok((text_hash, raw_hash, evidence, rebased)) => Processed::Stored {
            meta,
            raw_hash,
            text_hash,
            evidence,
            rebased,
        },
        Err(e) => store_failed(e),
    }
}

/// A store failure: a missing or damaged object that could not be made again fails this
/// source alone (its baselines and flags stay); any other stops the run.
fn store_failed(e: StoreError) -> Processed {
    match e {
        StoreError::Missing { .. } => {
            tracing::warn!("{e}");
            Processed::Failed(FetchFailure {
                kind: FailureKind::Extract,
                status: None,
                detail: format!(
                    "{e}, and no raw body is kept to make it again: `citewatch ack` the statements citing this source to take today's page as their baseline"
                ),
                final_url: None,
                attempts: 1,
            })
        }
        e => Processed::StoreFailed(e),
    }
}

/// A body the extractor cannot read: the source fails this run, as a fetch failure would.
fn extract_failed(page: &FetchedPage, e: &ExtractError) -> Processed {
    let kind = match e {
        ExtractError::Unsupported(_) | ExtractError::Binary(_) => FailureKind::UnsupportedType,
        _ => FailureKind::Extract,
    };
    Processed::Failed(FetchFailure {
        kind,
        status: Some(page.status),
        detail: e.to_string(),
        final_url: Some(page.final_url.to_string()),
        attempts: 1,
    })
}

/// Extracts the raw bodies of `versions` again with this extractor and stores the texts: old
/// text hash → new. A body that cannot be read or extracted again is left out (its version is
/// judged as stored), with a warning.
pub(super) fn reextract_versions(
    versions: &[StoredVersion],
    rules: &Rules,
    store: &Store,
) -> Result<Rebased, StoreError> {
    let mut out = HashMap::new();
    for v in versions {
        let body = match store.get_raw(&v.raw) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot re-extract stored version {}: {e}", v.text);
                continue;
            }
        };
        match crate::extract::extract(&body, &v.content_type, rules) {
            Ok(t) => {
                out.insert(v.text.clone(), store.put_text(&t.to_text())?);
            }
            Err(e) => tracing::warn!("cannot re-extract stored version {}: {e}", v.text),
        }
    }
    Ok(out)
}

/// A processing task that panicked: the source fails, the run goes on.
/// A source whose processing panicked with `e`.
pub(super) fn panicked_with(e: &str) -> Processed {
    Processed::Failed(FetchFailure {
        kind: FailureKind::Extract,
        status: None,
        detail: format!("processing panicked: {e}"),
        final_url: None,
        attempts: 1,
    })
}
