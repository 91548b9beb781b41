//! The record step, for sources: each job's [`Processed`] goes into the store's books (its
//! versions, the versions made again by this extractor, its latest attempt) and becomes the
//! source's line of the report. The statements' side (baselines and flags) is
//! [`super::verdicts`], through [`crate::record`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::extract::EXTRACTOR_VERSION;
use crate::fetch::FetchFailure;
use crate::ids::{BaselineKey, SourceKey, TextHash};
use crate::report::{SourceOutcome, SourceReport};
use crate::snapshot::{self, Attempt, SourceRecord, StoreError, Version};

use super::archive::{ArchiveBase, ArchiveBases};
use super::judge::{EvOutcome, Judged};
use super::plan::Job;
use super::source::{PageMeta, Processed, Rebased};

/// What the sources gave the statements, once recorded.
#[derive(Default)]
pub(super) struct Books {
    /// Each statement × cite's outcome, with the version it was judged on.
    pub(super) evidence: HashMap<BaselineKey, (TextHash, EvOutcome)>,
    /// Each URL's line of the report.
    pub(super) sources: BTreeMap<String, SourceReport>,
    /// Why a source failed this run.
    pub(super) failures: HashMap<SourceKey, Failure>,
    /// The statement × cite pairs whose first baseline is a web archive's capture.
    pub(super) archive_bases: HashMap<BaselineKey, ArchiveBase>,
}

/// A source's failure this run, as its statements see it.
pub(super) struct Failure {
    /// What went wrong, for a person.
    pub(super) note: String,
    /// A transient failure short of `[fetch] fail_after` consecutive failed runs: (this
    /// run's count, `fail_after`). Its statements keep their previous verdict.
    pub(super) waiting: Option<(u32, u32)>,
}

/// A source's outcome this run, as the report shows it.
struct Line {
    outcome: SourceOutcome,
    final_url: Option<String>,
    status: Option<u16>,
    error: Option<String>,
    failure: Option<crate::fetch::FailureKind>,
}

/// Records every job's result in `index` (after the archive's captures a new source's
/// baselines were taken from, `bases`); a store failure stops the run.
pub(super) fn record_sources(
    index: &mut snapshot::Index,
    jobs: &[Job],
    processed: Vec<(Processed, bool)>,
    bases: ArchiveBases,
    fail_after: u32,
    now: DateTime<Utc>,
) -> Result<Books, StoreError> {
    let mut books = Books {
        archive_bases: bases.located,
        ..Books::default()
    };
    for (j, (job, (p, rendered))) in jobs.iter().zip(processed).enumerate() {
        let rec = index.sources.entry(job.key.clone()).or_default();
        rec.url = job.url.to_string();
        // New to citewatch (the versions may get the archive's captures its baselines came from).
        let new = rec.versions.is_empty();
        if let Some(captures) = bases.versions.get(&j) {
            super::archive::record_versions(rec, captures);
        }
        let line = match p {
            Processed::StoreFailed(e) => return Err(e),
            Processed::Failed(f) => books.failed(rec, job, &f, fail_after, now),
            Processed::NotModified {
                final_url,
                evidence,
                rebased,
            } => {
                books.take(evidence);
                not_modified(rec, &rebased, final_url, now)
            }
            Processed::SameRaw {
                meta,
                raw_hash,
                evidence,
                rebased,
            } => {
                books.take(evidence);
                same_raw(rec, job, &rebased, meta, raw_hash, now)
            }
            Processed::Stored {
                meta,
                raw_hash,
                text_hash,
                evidence,
                rebased,
            } => {
                books.take(evidence);
                stored(rec, job, &rebased, (meta, raw_hash, text_hash), new, now)
            }
        };
        books.report(job, line, rendered);
    }
    Ok(books)
}

impl Books {
    /// A source whose read failed: its attempt recorded (with the rules of the stored text,
    /// so that the next identical body is extracted again if the rules or the extractor
    /// changed meanwhile), its failure noted for its statements (waiting while a transient
    /// failure has failed fewer than `fail_after` runs in a row), its line of the report.
    fn failed(
        &mut self,
        rec: &mut SourceRecord,
        job: &Job,
        f: &FetchFailure,
        fail_after: u32,
        now: DateTime<Utc>,
    ) -> Line {
        let failed_runs = 1 + rec
            .last
            .as_ref()
            .filter(|a| a.error.is_some())
            .map_or(0, |a| a.failed_runs.max(1));
        rec.last = Some(Attempt {
            at: now,
            raw: job.prev_raw.clone(),
            rules: job.prev_rules.clone().unwrap_or_default(),
            error: Some(f.clone()),
            failed_runs,
        });
        let waiting =
            (f.kind.is_transient(f.status) && failed_runs < fail_after).then_some((failed_runs, fail_after));
        self.failures.insert(
            job.key.clone(),
            Failure {
                note: f.detail.clone(),
                waiting,
            },
        );
        let error = match waiting {
            Some((n, of)) => format!(
                "{} (failing {n} of {of}: its statements are flagged if it still fails on run {of})",
                f.detail
            ),
            None => f.detail.clone(),
        };
        Line {
            outcome: SourceOutcome::Error,
            final_url: f.final_url.clone(),
            status: f.status,
            error: Some(error),
            failure: Some(f.kind.reported()),
        }
    }

    fn take(&mut self, evidence: Vec<Judged>) {
        self.evidence
            .extend(evidence.into_iter().map(|(k, v, o)| (k, (v, o))));
    }

    /// Several rule sets may watch one URL: the report shows the most telling outcome.
    fn report(&mut self, job: &Job, line: Line, rendered: bool) {
        let rank = |o: SourceOutcome| match o {
            SourceOutcome::Unchanged => 0,
            SourceOutcome::New => 1,
            SourceOutcome::Changed => 2,
            SourceOutcome::Error => 3,
        };
        let make = |l: Line| SourceReport {
            url: job.url.to_string(),
            final_url: l.final_url,
            http_status: l.status,
            outcome: l.outcome,
            error: l.error,
            failure: l.failure,
            rendered,
            archived: None,
        };
        match self.sources.get_mut(job.url.as_str()) {
            None => {
                self.sources.insert(job.url.to_string(), make(line));
            }
            Some(entry) if rank(line.outcome) > rank(entry.outcome) => *entry = make(line),
            Some(_) => {}
        }
    }
}

/// A 304: the latest version is still current.
fn not_modified(rec: &mut SourceRecord, rebased: &Rebased, final_url: String, now: DateTime<Utc>) -> Line {
    apply_rebased(&mut rec.versions, rebased);
    if let Some(v) = rec.versions.last_mut() {
        v.last_seen = now;
    }
    if let Some(l) = &mut rec.last {
        l.at = now;
        l.error = None;
    }
    Line {
        outcome: SourceOutcome::Unchanged,
        final_url: Some(final_url),
        status: Some(304),
        error: None,
        failure: None,
    }
}

/// The same body as last time: the latest version is still current, with today's validators.
fn same_raw(
    rec: &mut SourceRecord,
    job: &Job,
    rebased: &Rebased,
    meta: PageMeta,
    raw_hash: String,
    now: DateTime<Utc>,
) -> Line {
    apply_rebased(&mut rec.versions, rebased);
    if let Some(v) = rec.versions.last_mut() {
        v.last_seen = now;
        v.etag = meta.etag;
        v.last_modified = meta.last_modified;
    }
    rec.last = Some(Attempt {
        at: now,
        raw: Some(raw_hash),
        rules: job.fingerprint.clone(),
        error: None,
        failed_runs: 0,
    });
    Line {
        outcome: SourceOutcome::Unchanged,
        final_url: Some(meta.final_url),
        status: Some(meta.status),
        error: None,
        failure: None,
    }
}

/// An extracted text: a new version unless it is the latest one's text.
fn stored(
    rec: &mut SourceRecord,
    job: &Job,
    rebased: &Rebased,
    (meta, raw_hash, text_hash): (PageMeta, String, TextHash),
    new: bool,
    now: DateTime<Utc>,
) -> Line {
    apply_rebased(&mut rec.versions, rebased);
    let same = rec.versions.last().is_some_and(|v| v.text == text_hash);
    let outcome = if new {
        SourceOutcome::New
    } else if same {
        SourceOutcome::Unchanged
    } else {
        SourceOutcome::Changed
    };
    let (final_url, status) = (meta.final_url.clone(), meta.status);
    if same {
        // Same text: the version keeps the raw body it was first stored with.
        let v = rec.versions.last_mut().expect("checked");
        v.last_seen = now;
        v.etag = meta.etag;
        v.last_modified = meta.last_modified;
    } else {
        rec.versions.push(Version {
            text: text_hash,
            raw: Some(raw_hash.clone()),
            first_seen: now,
            last_seen: now,
            status: meta.status,
            final_url: meta.final_url,
            content_type: meta.content_type,
            etag: meta.etag,
            last_modified: meta.last_modified,
            extractor: Some(EXTRACTOR_VERSION.to_owned()),
            archived: None,
            archive_job: None,
        });
    }
    rec.last = Some(Attempt {
        at: now,
        raw: Some(raw_hash),
        rules: job.fingerprint.clone(),
        error: None,
        failed_runs: 0,
    });
    Line {
        outcome,
        final_url: Some(final_url),
        status: Some(status),
        error: None,
        failure: None,
    }
}

/// Records the versions made again by this extractor (old text hash → new): each comes right
/// after the version it was made from (same raw body and times), so the latest stays the
/// latest. One whose text did not change only records the extractor.
fn apply_rebased(versions: &mut Vec<Version>, rebased: &Rebased) {
    for (old, new) in rebased {
        if old == new {
            for v in versions.iter_mut().filter(|v| v.text == *old) {
                v.extractor = Some(EXTRACTOR_VERSION.to_owned());
            }
            continue;
        }
        // The last occurrence: a text that came back (A, B, A) is the latest one.
        let Some(i) = versions.iter().rposition(|v| v.text == *old) else {
            continue;
        };
        let latest = i + 1 == versions.len();
        if latest || !versions.iter().any(|v| v.text == *new) {
            let mut v = versions[i].clone();
            v.text = new.clone();
            v.extractor = Some(EXTRACTOR_VERSION.to_owned());
            versions.insert(i + 1, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str, extractor: Option<&str>) -> Version {
        Version {
            text: TextHash(text.into()),
            raw: Some(format!("raw-{text}")),
            first_seen: DateTime::from_timestamp(0, 0).unwrap(),
            last_seen: DateTime::from_timestamp(0, 0).unwrap(),
            status: 200,
            final_url: "http://a/".into(),
            content_type: "text/html".into(),
            etag: None,
            last_modified: None,
            extractor: extractor.map(str::to_owned),
            archived: None,
            archive_job: None,
        }
    }

    fn texts(v: &[Version]) -> Vec<(&str, Option<&str>)> {
        v.iter()
            .map(|v| (v.text.as_str(), v.extractor.as_deref()))
            .collect()
    }

    fn rebased(pairs: &[(&str, &str)]) -> Rebased {
        pairs
            .iter()
            .map(|(a, b)| (TextHash((*a).into()), TextHash((*b).into())))
            .collect()
    }

    #[test]
    fn a_version_made_again_comes_right_after_the_one_it_was_made_from() {
        let x = Some(EXTRACTOR_VERSION);
        let mut v = vec![version("a", None), version("b", None)];
        apply_rebased(&mut v, &rebased(&[("b", "b2")]));
        assert_eq!(texts(&v), [("a", None), ("b", None), ("b2", x)]);
        assert_eq!(v[2].raw.as_deref(), Some("raw-b"), "same raw body and times");
        // A text the extractor reads the same only records the extractor.
        apply_rebased(&mut v, &rebased(&[("a", "a")]));
        assert_eq!(texts(&v), [("a", x), ("b", None), ("b2", x)]);
        // An older version whose new text is already stored adds nothing; the latest always
        // gets its successor, so the latest stays the latest.
        let mut v = vec![version("a", None), version("b", None), version("a", None)];
        apply_rebased(&mut v, &rebased(&[("a", "b")]));
        assert_eq!(texts(&v), [("a", None), ("b", None), ("a", None), ("b", x)]);
    }

    fn job(url: &str) -> Job {
        Job {
            key: SourceKey::new(url, ""),
            url: url::Url::parse(url).unwrap(),
            rules: crate::extract::Rules::compile(None, &[]).unwrap(),
            fingerprint: format!("{EXTRACTOR_VERSION}:"),
            cond: Default::default(),
            prev_raw: Some("raw-old".into()),
            prev_rules: Some("x0:".into()),
            prev_text: None,
            tasks: vec![],
            reextract: vec![],
            heal: vec![],
            render: None,
            selector: None,
        }
    }

    fn meta() -> PageMeta {
        PageMeta {
            final_url: "http://a/".into(),
            status: 200,
            content_type: "text/html".into(),
            etag: Some("\"1\"".into()),
            last_modified: None,
        }
    }

    fn stored(text: &str) -> Processed {
        Processed::Stored {
            meta: meta(),
            raw_hash: format!("raw-{text}"),
            text_hash: TextHash(text.into()),
            evidence: vec![],
            rebased: Rebased::new(),
        }
    }

    fn failed() -> Processed {
        Processed::Failed(crate::fetch::FetchFailure {
            kind: crate::fetch::FailureKind::Timeout,
            status: None,
            detail: "timed out".into(),
            final_url: None,
            attempts: 2,
        })
    }

    #[test]
    fn new_changed_unchanged_and_failed_sources_are_booked() {
        let now = DateTime::from_timestamp(100, 0).unwrap();
        let mut index = snapshot::Index::default();
        let jobs = [job("http://a/")];
        let outcome = |index: &mut snapshot::Index, p| {
            let books =
                record_sources(index, &jobs, vec![(p, false)], ArchiveBases::default(), 2, now).unwrap();
            books.sources["http://a/"].outcome
        };
        assert_eq!(outcome(&mut index, stored("t1")), SourceOutcome::New);
        assert_eq!(outcome(&mut index, stored("t1")), SourceOutcome::Unchanged);
        assert_eq!(outcome(&mut index, stored("t2")), SourceOutcome::Changed);
        let rec = &index.sources[&jobs[0].key];
        assert_eq!(
            texts(&rec.versions),
            [("t1", Some(EXTRACTOR_VERSION)), ("t2", Some(EXTRACTOR_VERSION))]
        );
        assert_eq!(rec.last.as_ref().unwrap().rules, jobs[0].fingerprint);
        let books = record_sources(
            &mut index,
            &jobs,
            vec![(failed(), false)],
            ArchiveBases::default(),
            2,
            now,
        )
        .unwrap();
        assert_eq!(books.sources["http://a/"].outcome, SourceOutcome::Error);
        assert_eq!(books.failures[&jobs[0].key].note, "timed out");
        // The first of `fail_after = 2` transient failures waits; the second does not.
        assert_eq!(books.failures[&jobs[0].key].waiting, Some((1, 2)));
        // A failure keeps the rules the stored text was made with.
        let last = index.sources[&jobs[0].key].last.clone().unwrap();
        assert_eq!(
            (last.raw.as_deref(), last.rules.as_str()),
            (Some("raw-old"), "x0:")
        );
        assert!(last.error.is_some());
        assert_eq!(last.failed_runs, 1);
        let books = record_sources(
            &mut index,
            &jobs,
            vec![(failed(), false)],
            ArchiveBases::default(),
            2,
            now,
        )
        .unwrap();
        assert_eq!(books.failures[&jobs[0].key].waiting, None);
        assert_eq!(index.sources[&jobs[0].key].last.as_ref().unwrap().failed_runs, 2);
        // A success ends the run of failures; a 404 never waits.
        record_sources(
            &mut index,
            &jobs,
            vec![(stored("t2"), false)],
            ArchiveBases::default(),
            2,
            now,
        )
        .unwrap();
        assert_eq!(index.sources[&jobs[0].key].last.as_ref().unwrap().failed_runs, 0);
        let gone = Processed::Failed(crate::fetch::FetchFailure {
            kind: crate::fetch::FailureKind::NotFound,
            status: Some(404),
            detail: "HTTP 404".into(),
            final_url: None,
            attempts: 1,
        });
        let books = record_sources(
            &mut index,
            &jobs,
            vec![(gone, false)],
            ArchiveBases::default(),
            2,
            now,
        )
        .unwrap();
        assert_eq!(books.failures[&jobs[0].key].waiting, None);
    }

    #[test]
    fn a_url_watched_twice_reports_its_most_telling_outcome_and_a_store_failure_stops() {
        let now = DateTime::from_timestamp(100, 0).unwrap();
        let mut index = snapshot::Index::default();
        let mut second = job("http://a/");
        second.key = SourceKey::new("http://a/", "f");
        let jobs = [job("http://a/"), second];
        let books = record_sources(
            &mut index,
            &jobs,
            vec![(stored("t"), false), (failed(), false)],
            ArchiveBases::default(),
            2,
            now,
        )
        .unwrap();
        assert_eq!(books.sources.len(), 1);
        assert_eq!(books.sources["http://a/"].outcome, SourceOutcome::Error);
        let gone = std::io::Error::other("disk gone");
        let broken = Processed::StoreFailed(StoreError::Io {
            path: "x".into(),
            source: gone,
        });
        assert!(
            record_sources(
                &mut index,
                &jobs[..1],
                vec![(broken, false)],
                ArchiveBases::default(),
                2,
                now
            )
            .is_err()
        );
    }
}
