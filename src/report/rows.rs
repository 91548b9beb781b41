//! A run's statements and sources on disk, one JSON line each, for the report of a large
//! run: a cold run over 20,000 sources holds about 35 MiB of them in memory, and a run over
//! 100,000 five times that. The batches of a run add their entries as they commit
//! ([`RowsWriter`]); the report keeps in memory only what it shows on its own (the flagged
//! statements, those with a pair without a passage, the failed sources) and reads the
//! rest back from here each time it renders a full list ([`RunReport::all_statements`],
//! [`RunReport::all_sources`]), so a run's memory does not grow with its size.
//!
//! The file lives under `reports/` without a name (unlinked as it is made), so it goes when
//! the report is dropped or the process ends, however it ends; each reader reads it at its
//! own offset.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{AnchorCounts, PageCounts, SourceOutcome, SourceReport, StatementReport, Summary};

/// One line of the file.
#[derive(Serialize, Deserialize)]
enum Entry {
    Statement(StatementReport),
    Source(SourceReport),
}

/// A source's key in the count of its entries (its URL, hashed: a later batch's entry for a
/// URL replaces an earlier one's).
fn url_key(url: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    url.hash(&mut h);
    h.finish()
}

/// The file being written, batch by batch.
pub struct RowsWriter {
    file: BufWriter<File>,
    /// The folder it is in, for messages.
    dir: PathBuf,
    /// How many entries each source URL has so far.
    entries: HashMap<u64, u32>,
}

impl RowsWriter {
    /// An empty file under `reports_dir` (made if missing).
    pub fn new(reports_dir: &Path) -> anyhow::Result<Self> {
        let cannot = |e: std::io::Error| {
            anyhow::anyhow!(
                "cannot keep the report's entries under {}: {e}",
                reports_dir.display()
            )
        };
        std::fs::create_dir_all(reports_dir).map_err(cannot)?;
        let file = tempfile::tempfile_in(reports_dir).map_err(cannot)?;
        Ok(Self {
            file: BufWriter::new(file),
            dir: reports_dir.to_path_buf(),
            entries: HashMap::new(),
        })
    }

    /// Adds a batch's statements (in order) and sources.
    pub fn add(
        &mut self,
        statements: impl IntoIterator<Item = StatementReport>,
        sources: impl IntoIterator<Item = SourceReport>,
    ) -> anyhow::Result<()> {
        let sources = sources
            .into_iter()
            .inspect(|s| *self.entries.entry(url_key(&s.url)).or_default() += 1);
        let entries: Vec<Entry> = statements
            .into_iter()
            .map(Entry::Statement)
            .chain(sources.map(Entry::Source))
            .collect();
        for e in entries {
            serde_json::to_writer(&mut self.file, &e).map_err(|e| self.failed(e.into()))?;
            self.file.write_all(b"\n").map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// The file, written out, to be read from now on.
    pub fn finish(self) -> anyhow::Result<Rows> {
        let dir = self.dir;
        let file = self.file.into_inner().map_err(|e| {
            anyhow::anyhow!(
                "cannot keep the report's entries under {}: {}",
                dir.display(),
                e.error()
            )
        })?;
        Ok(Rows(Arc::new(Inner {
            file: Arc::new(file),
            dir,
            entries: self.entries,
            error: Mutex::new(None),
            counts: Mutex::new(None),
        })))
    }

    fn failed(&self, e: std::io::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot keep the report's entries under {}: {e}",
            self.dir.display()
        )
    }
}

/// The written file, shared by the report's clones; removed when the last one is dropped.
#[derive(Clone)]
pub struct Rows(Arc<Inner>);

struct Inner {
    file: Arc<File>,
    dir: PathBuf,
    entries: HashMap<u64, u32>,
    /// The first read error, if any: a list read back is then cut short, and writing the
    /// report fails with it.
    error: Mutex<Option<String>>,
    /// The pair counts of every statement, once counted.
    counts: Mutex<Option<(AnchorCounts, PageCounts)>>,
}

/// What the report keeps in memory of its rows: the counts, and what it shows on its own.
pub struct Kept {
    /// The run's counts.
    pub summary: Summary,
    /// Flagged statements, and those with a pair without a passage.
    pub statements: Vec<StatementReport>,
    /// Sources whose read failed.
    pub sources: Vec<SourceReport>,
}

impl Rows {
    /// Every entry, in the order written, read back from the file; a read error is kept
    /// (see [`Rows::error`]) and ends the iteration.
    fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let reader = At {
            file: self.0.file.clone(),
            offset: 0,
        };
        let mut lines = Some(BufReader::new(reader).lines());
        std::iter::from_fn(move || {
            let line = match lines.as_mut()?.next()? {
                Ok(l) => l,
                Err(e) => {
                    self.fail(e.to_string());
                    lines = None;
                    return None;
                }
            };
            match serde_json::from_str(&line) {
                Ok(e) => Some(e),
                Err(e) => {
                    self.fail(e.to_string());
                    lines = None;
                    None
                }
            }
        })
    }

    fn fail(&self, e: String) {
        let dir = self.0.dir.display();
        tracing::error!("cannot read the report's entries back (a temp file under {dir}): {e}");
        let mut error = self
            .0
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        error.get_or_insert(format!(
            "cannot read the report's entries back (a temp file under {dir}): {e}"
        ));
    }

    /// The first read error, if a list was cut short by one.
    pub fn error(&self) -> Option<String> {
        self.0
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every statement, in the order written.
    pub fn statements(&self) -> impl Iterator<Item = StatementReport> + '_ {
        self.entries().filter_map(|e| match e {
            Entry::Statement(s) => Some(s),
            Entry::Source(_) => None,
        })
    }

    /// Every source, once: its last entry, where a later batch wrote one again.
    pub fn sources(&self) -> impl Iterator<Item = SourceReport> + '_ {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        self.entries().filter_map(move |e| match e {
            Entry::Source(s) => {
                let key = url_key(&s.url);
                let n = seen.entry(key).or_default();
                *n += 1;
                (Some(&*n) == self.0.entries.get(&key)).then_some(s)
            }
            Entry::Statement(_) => None,
        })
    }

    /// One pass over the file: the counts, and what the report keeps in memory.
    pub fn kept(&self) -> Kept {
        let mut summary = Summary::default();
        let (mut statements, mut sources) = (Vec::new(), Vec::new());
        for st in self.statements() {
            summary.statements += 1;
            summary.flagged += usize::from(st.flagged);
            summary.new_flags += usize::from(st.new);
            if st.flagged || st.evidence.iter().any(super::EvidenceReport::needs_quote) {
                statements.push(st);
            }
        }
        for src in self.sources() {
            summary.sources += 1;
            summary.sources_changed += usize::from(src.outcome == SourceOutcome::Changed);
            if src.outcome == SourceOutcome::Error {
                summary.sources_failed += 1;
                sources.push(src);
            }
        }
        Kept {
            summary,
            statements,
            sources,
        }
    }

    /// The pair counts of every statement, counted on the first call.
    pub(super) fn counts(
        &self,
        count: impl FnOnce(&Rows) -> (AnchorCounts, PageCounts),
    ) -> (AnchorCounts, PageCounts) {
        let mut c = self
            .0
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.get_or_insert_with(|| count(self)).clone()
    }
}

/// A reader of the file at its own offset, so that readers do not move each other's.
struct At {
    file: Arc<File>,
    offset: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rows(under {})", self.0.dir.display())
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Verdict;
    use crate::report::{EvidenceReport, RunReport, Trigger};

    fn statement(id: &str, flagged: bool, anchored: bool) -> StatementReport {
        StatementReport {
            id: id.into(),
            article: id.split(':').next().unwrap().into(),
            text: format!("About 600 soldiers serve <b>{id}</b> \u{2028} \"quoted\"\n"),
            cites: vec![1],
            status: if flagged {
                Verdict::EvidenceChanged
            } else {
                Verdict::Baseline
            },
            flagged,
            new: flagged,
            evidence: vec![EvidenceReport {
                before: Some("600 soldiers".into()),
                after: flagged.then(|| "500 soldiers".into()),
                anchored,
                ..EvidenceReport::new(1, "https://example.org/a".into(), Verdict::Baseline)
            }],
        }
    }

    fn source(url: &str, outcome: SourceOutcome) -> SourceReport {
        SourceReport {
            url: url.into(),
            final_url: None,
            http_status: Some(200),
            outcome,
            error: None,
            failure: None,
            rendered: false,
            archived: None,
        }
    }

    fn head(statements: Vec<StatementReport>, sources: Vec<SourceReport>, rows: Option<Rows>) -> RunReport {
        RunReport {
            run_id: "20260101T000000Z-abcd".into(),
            trigger: Trigger::Manual,
            started_at: chrono::DateTime::UNIX_EPOCH,
            finished_at: chrono::DateTime::UNIX_EPOCH,
            summary: Summary::default(),
            statements,
            sources,
            articles: vec![],
            mail: Some("sent".into()),
            page: None,
            seq: Some(3),
            view: Default::default(),
            rows,
        }
    }

    #[test]
    fn rows_come_back_in_order_one_source_per_url_the_last_written() {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("reports");
        let mut w = RowsWriter::new(&reports).unwrap();
        let (a1, a2, b1) = (
            statement("a:1", false, true),
            statement("a:2", true, true),
            statement("b:1", false, false),
        );
        w.add(
            [a1.clone(), a2.clone()],
            [
                source("u1", SourceOutcome::New),
                source("u3", SourceOutcome::Error),
            ],
        )
        .unwrap();
        w.add(
            [b1.clone()],
            [
                source("u1", SourceOutcome::Changed),
                source("u2", SourceOutcome::New),
            ],
        )
        .unwrap();
        let rows = w.finish().unwrap();
        assert_eq!(
            rows.statements().collect::<Vec<_>>(),
            vec![a1.clone(), a2.clone(), b1.clone()]
        );
        let urls: Vec<_> = rows.sources().map(|s| (s.url, s.outcome)).collect();
        assert_eq!(
            urls,
            vec![
                ("u3".to_owned(), SourceOutcome::Error),
                ("u1".to_owned(), SourceOutcome::Changed),
                ("u2".to_owned(), SourceOutcome::New)
            ]
        );
        // Kept in memory: the flagged statement, the one without a passage, the failed source.
        let kept = rows.kept();
        assert_eq!(kept.statements, vec![a2.clone(), b1.clone()]);
        assert_eq!(kept.sources, vec![source("u3", SourceOutcome::Error)]);
        let s = &kept.summary;
        assert_eq!((s.statements, s.flagged, s.new_flags), (3, 1, 1));
        assert_eq!((s.sources, s.sources_changed, s.sources_failed), (3, 1, 1));
        assert!(rows.error().is_none());

        // The report over the rows reads, renders and counts as the one holding every entry.
        let all_sources: Vec<_> = rows.sources().collect();
        let full = head(vec![a1, a2, b1], all_sources, None);
        let lean = head(kept.statements, kept.sources, Some(rows.clone()));
        assert_eq!(
            serde_json::to_string(&lean).unwrap(),
            serde_json::to_string(&full).unwrap()
        );
        assert_eq!(lean.to_markdown(), full.to_markdown());
        assert_eq!(lean.to_html(), full.to_html());
        assert_eq!(lean.anchor_counts(), full.anchor_counts());
        assert_eq!(lean.page_summary(), full.page_summary());
        assert_eq!(lean.to_text(), full.to_text());
        // A report read back holds every entry itself.
        let back: RunReport = serde_json::from_str(&serde_json::to_string(&lean).unwrap()).unwrap();
        assert_eq!(back, full);

        // The file has no name: nothing is left under reports/, whatever becomes of the run.
        assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
        // Two readers at once keep their own places.
        let (mut a, mut b) = (rows.statements(), rows.statements());
        assert_eq!(a.next().unwrap().id, "a:1");
        assert_eq!(b.next().unwrap().id, "a:1");
        assert_eq!(a.next().unwrap().id, "a:2");
        assert_eq!(b.next().unwrap().id, "a:2");
    }

    #[test]
    fn a_file_cut_short_fails_the_report_instead_of_shortening_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RowsWriter::new(dir.path()).unwrap();
        w.add([statement("a:1", false, true), statement("a:2", false, true)], [])
            .unwrap();
        let rows = w.finish().unwrap();
        // Damage the second line, as a disk error would surface.
        let mut text = String::new();
        let mut at = At {
            file: rows.0.file.clone(),
            offset: 0,
        };
        at.read_to_string(&mut text).unwrap();
        let first = text.lines().next().unwrap().len() as u64;
        rows.0
            .file
            .write_all_at(b"{\"Statement\": 7}\n", first + 1)
            .unwrap();
        let report = head(vec![], vec![], Some(rows));
        assert_eq!(report.all_statements().count(), 1);
        assert!(
            report
                .rows_error()
                .unwrap()
                .contains("cannot read the report's entries back")
        );
        assert!(serde_json::to_string(&report).is_err());
        let reports = dir.path().join("reports");
        assert!(report.write(&reports).is_err());
        // Nothing half-written is left as the run's report.
        assert!(!report.dir(&reports).join("report.json").exists());
    }
}
