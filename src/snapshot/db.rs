//! The store's records in SQLite (`snapshots/store.db`): one table per kind of record, read
//! and written per source and per statement, never whole. See [`super`] for the layout and
//! ARCHITECTURE.md ("The store") for why SQLite.
//!
//! Tables (keys in brackets):
//! ```text
//! meta      [key] value                      format notes (the import of an index.json)
//! sources   [key] url                        one per source key (URL + rules fingerprint)
//! versions  [source, seq] text raw first_seen last_seen status final_url content_type
//!           etag last_modified extractor     distinct text versions, oldest first
//!           archived archive_job             (a web archive's capture of it; a pending one)
//! attempts  [source] at raw rules error      the latest fetch attempt of each source
//! baselines [key] statement cite source version anchors missing_quotes unfound_quotes
//!           candidate set_at set_by statement_text
//! flags     [baseline] since_run since verdict announced   outstanding flags
//! acks      [id] baseline by at version previous cleared_verdict cleared_since_run
//! runs      [id] started_at committed_at trigger articles sources
//! ```
//! The format is `PRAGMA user_version` ([`super::FORMAT`]); 0 is a database nothing was
//! committed to yet. WAL journal, `synchronous = FULL`: a commit is durable when it returns,
//! and a crash at any point leaves the last committed state, which the next open reads with
//! no repair step (SQLite rolls an unfinished transaction back on its own).

use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    Ack, Attempt, Baseline, BaselineKey, Flag, Index, RunRecord, SourceKey, SourceRecord, StoreError,
    TextHash, Version,
};

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sources(key TEXT PRIMARY KEY, url TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE versions(
  source TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, raw TEXT,
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, status INTEGER NOT NULL,
  final_url TEXT NOT NULL, content_type TEXT NOT NULL, etag TEXT, last_modified TEXT,
  extractor TEXT, archived TEXT, archive_job TEXT, PRIMARY KEY(source, seq)) WITHOUT ROWID;
CREATE INDEX versions_text ON versions(text);
CREATE INDEX versions_raw ON versions(raw);
CREATE TABLE attempts(source TEXT PRIMARY KEY, at TEXT NOT NULL, raw TEXT, rules TEXT NOT NULL,
  error TEXT) WITHOUT ROWID;
CREATE TABLE baselines(
  key TEXT PRIMARY KEY, statement TEXT NOT NULL, cite INTEGER NOT NULL, source TEXT NOT NULL,
  version TEXT NOT NULL, anchors TEXT NOT NULL, missing_quotes TEXT NOT NULL,
  unfound_quotes TEXT NOT NULL, candidate TEXT, set_at TEXT NOT NULL, set_by TEXT NOT NULL,
  statement_text TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX baselines_source ON baselines(source);
CREATE TABLE flags(baseline TEXT PRIMARY KEY, since_run TEXT NOT NULL, since TEXT NOT NULL,
  verdict TEXT, announced INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID;
CREATE TABLE acks(id INTEGER PRIMARY KEY, baseline TEXT NOT NULL, by TEXT NOT NULL,
  at TEXT NOT NULL, version TEXT NOT NULL, previous TEXT, cleared_verdict TEXT,
  cleared_since_run TEXT);
CREATE INDEX acks_baseline ON acks(baseline);
CREATE TABLE runs(id TEXT PRIMARY KEY, started_at TEXT NOT NULL, committed_at TEXT NOT NULL,
  trigger TEXT NOT NULL, articles INTEGER NOT NULL, sources INTEGER NOT NULL) WITHOUT ROWID;
";

/// The database file under the store folder.
pub(super) fn path(dir: &Path) -> PathBuf {
    dir.join("store.db")
}

/// A database error as a store error naming the file.
pub(super) fn err(path: &Path) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Db(path.to_path_buf(), e.to_string())
}

/// The open database.
#[derive(Debug)]
pub(super) struct Db {
    conn: Connection,
    path: PathBuf,
}

/// What [`Db::open`] found.
pub(super) enum Opened {
    /// A database of [`super::FORMAT`].
    Ready(Db),
    /// Nothing committed yet (a new store, or one still holding only `index.json`).
    Empty(Db),
}

impl Db {
    /// Opens (creating the file if `create`) the database; refuses one of another format
    /// before writing anything to it.
    pub(super) fn open(dir: &Path, create: bool) -> Result<Option<Opened>, StoreError> {
        let path = path(dir);
        if !create && !path.exists() {
            return Ok(None);
        }
        let e = err(&path);
        // Read-write even to only read: after a crash, the first connection may have to roll a
        // torn transaction back (a read-only one refuses to, with an error).
        let flags = if create {
            rusqlite::OpenFlags::default()
        } else {
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(&path, flags).map_err(e)?;
        let e = || err(&path);
        // A second process (a test reading the store while the daemon writes) waits briefly.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(e())?;
        let format: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(e())?;
        if create && (format == 0 || format == super::FORMAT) {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(e())?;
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(e())?;
        let db = Db {
            conn,
            path: path.clone(),
        };
        match format {
            0 => Ok(Some(Opened::Empty(db))),
            super::FORMAT => {
                db.add_missing_columns()?;
                Ok(Some(Opened::Ready(db)))
            }
            found => Err(StoreError::Format {
                path,
                found,
                supported: super::FORMAT,
            }),
        }
    }

    /// Columns added within format 2 (older binaries ignore them, naming the columns they
    /// read): `flags.announced`; `versions.archived` and `versions.archive_job` (`[archive]`,
    /// added empty).
    fn add_missing_columns(&self) -> Result<(), StoreError> {
        if self.conn.prepare("SELECT announced FROM flags LIMIT 0").is_err() {
            self.conn
                .execute_batch("ALTER TABLE flags ADD COLUMN announced INTEGER NOT NULL DEFAULT 1")
                .map_err(err(&self.path))?;
        }
        if self
            .conn
            .prepare("SELECT archived, archive_job FROM versions LIMIT 0")
            .is_err()
        {
            self.conn
                .execute_batch(
                    "BEGIN IMMEDIATE;
                     ALTER TABLE versions ADD COLUMN archived TEXT;
                     ALTER TABLE versions ADD COLUMN archive_job TEXT;
                     COMMIT;",
                )
                .map_err(err(&self.path))?;
        }
        Ok(())
    }

    /// Marks these flags announced (their message is queued), one transaction; a flag raised
    /// again since (another `since_run`) is left as it is.
    pub(super) fn announce(&mut self, flags: &[(BaselineKey, super::RunId)]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(err(&self.path))?;
        {
            let mut q = tx
                .prepare_cached("UPDATE flags SET announced = 1 WHERE baseline = ?1 AND since_run = ?2")
                .map_err(err(&self.path))?;
            for (key, run) in flags {
                q.execute([key.as_str(), run.as_str()]).map_err(err(&self.path))?;
            }
        }
        tx.commit().map_err(err(&self.path))
    }

    /// Starts the one write transaction of a commit (the run holds the store lock, so it never
    /// waits for another writer).
    pub(super) fn write(&mut self) -> Result<Writer<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err(&self.path))?;
        Ok(Writer { tx, path: &self.path })
    }

    /// Creates the tables and stamps the format, inside `w` (so that an import and the schema
    /// commit together).
    pub(super) fn create_schema(w: &Writer<'_>) -> Result<(), StoreError> {
        w.tx.execute_batch(SCHEMA).map_err(err(w.path))?;
        w.tx.pragma_update(None, "user_version", super::FORMAT)
            .map_err(err(w.path))
    }

    /// A value of the `meta` table.
    pub(super) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(err(&self.path))
    }

    /// The records of these sources and the baselines of these articles (keys starting with
    /// `<article>:`), with fingerprints so that the commit writes only what changed.
    ///
    /// A small scope (`check --only`) is read by key. A large one (most of the store, as in a
    /// full run) is read by scanning the tables in key order: each page is then read once,
    /// where as many lookups by key would read the upper pages of each tree again and again
    /// through SQLite's small page cache.
    pub(super) fn load<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a SourceKey>,
        articles: impl IntoIterator<Item = &'a str>,
    ) -> Result<Index, StoreError> {
        let mut index = Index {
            format: super::FORMAT,
            ..Index::default()
        };
        let wanted: HashSet<&SourceKey> = sources.into_iter().collect();
        let articles: HashSet<&str> = articles.into_iter().collect();
        let stored: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sources", [], |r| r.get(0))
            .map_err(err(&self.path))?;
        let runs: i64 = self
            .conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .map_err(err(&self.path))?;
        index.runs = runs.max(0) as u64;
        let scan = wanted.len() > SCAN_FROM && wanted.len() as i64 * 4 > stored;
        if scan {
            self.scan_sources(&wanted, &mut index)?;
        } else {
            for key in wanted {
                if let Some(rec) = self.source(key)? {
                    index.sources.insert(key.clone(), rec);
                }
            }
        }
        let baselines = if scan {
            self.baselines_in("", "\u{10ffff}")?
                .into_iter()
                .filter(|(_, b)| articles.contains(b.statement.0.split(':').next().unwrap_or("")))
                .collect()
        } else {
            let mut all = Vec::new();
            for a in articles {
                all.extend(self.baselines_of(a)?);
            }
            all
        };
        for (key, b) in baselines {
            index.loaded.baselines.insert(key.clone(), fingerprint(&b));
            index.baselines.insert(key, b);
        }
        for (key, rec) in &index.sources {
            index.loaded.sources.insert(key.clone(), loaded(rec));
        }
        Ok(index)
    }

    fn source(&self, key: &SourceKey) -> Result<Option<SourceRecord>, StoreError> {
        let url = self
            .conn
            .prepare_cached("SELECT url FROM sources WHERE key = ?1")
            .and_then(|mut s| s.query_row([key.as_str()], |r| r.get::<_, String>(0)).optional())
            .map_err(err(&self.path))?;
        let Some(url) = url else { return Ok(None) };
        Ok(Some(SourceRecord {
            url,
            versions: self.versions(key)?,
            last: self.attempt(key)?,
        }))
    }

    /// [`Db::load`]'s sources by scanning the three tables.
    fn scan_sources(&self, wanted: &HashSet<&SourceKey>, index: &mut Index) -> Result<(), StoreError> {
        let e = || err(&self.path);
        let mut q = self.conn.prepare("SELECT key, url FROM sources").map_err(e())?;
        let mut rows = q.query([]).map_err(e())?;
        while let Some(r) = rows.next().map_err(e())? {
            let key = SourceKey(r.get(0).map_err(e())?);
            if wanted.contains(&key) {
                let url = r.get(1).map_err(e())?;
                index.sources.insert(
                    key,
                    SourceRecord {
                        url,
                        ..SourceRecord::default()
                    },
                );
            }
        }
        let mut q = self
            .conn
            .prepare(&format!(
                "SELECT source, {VERSION_COLUMNS} FROM versions ORDER BY source, seq"
            ))
            .map_err(e())?;
        let mut rows = q.query([]).map_err(e())?;
        while let Some(r) = rows.next().map_err(e())? {
            let key: &str = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(e())?;
            if let Some(rec) = index.sources.get_mut(key) {
                rec.versions.push(version_at(r, 1).map_err(e())?);
            }
        }
        let mut q = self
            .conn
            .prepare(&format!("SELECT source, {ATTEMPT_COLUMNS} FROM attempts"))
            .map_err(e())?;
        let mut rows = q.query([]).map_err(e())?;
        while let Some(r) = rows.next().map_err(e())? {
            let key: &str = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(e())?;
            if let Some(rec) = index.sources.get_mut(key) {
                rec.last = Some(attempt_at(r, 1).map_err(e())?);
            }
        }
        Ok(())
    }

    /// Every record (for tests and inspection): the whole store as one [`Index`].
    pub(super) fn export(&self) -> Result<Index, StoreError> {
        let keys: Vec<SourceKey> = self
            .conn
            .prepare("SELECT key FROM sources ORDER BY key")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0).map(SourceKey))?
                    .collect()
            })
            .map_err(err(&self.path))?;
        let mut index = self.load(&keys, std::iter::empty())?;
        index.baselines.extend(self.baselines_in("", "\u{10ffff}")?);
        index.acks = self.acks()?;
        index.loaded = Default::default();
        Ok(index)
    }

    fn versions(&self, key: &SourceKey) -> Result<Vec<Version>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions WHERE source = ?1 ORDER BY seq"
            ))
            .map_err(err(&self.path))?;
        q.query_map([key.as_str()], |r| version_at(r, 0))
            .and_then(|rows| rows.collect())
            .map_err(err(&self.path))
    }

    fn attempt(&self, key: &SourceKey) -> Result<Option<Attempt>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE source = ?1"
            ))
            .map_err(err(&self.path))?;
        q.query_row([key.as_str()], |r| attempt_at(r, 0))
            .optional()
            .map_err(err(&self.path))
    }

    fn baselines_of(&self, article: &str) -> Result<Vec<(BaselineKey, Baseline)>, StoreError> {
        // Statement ids are `<article>:<hash>`: the keys of one article lie between
        // `<article>:` and `<article>;` (the next character).
        self.baselines_in(&format!("{article}:"), &format!("{article};"))
    }

    fn baselines_in(&self, from: &str, to: &str) -> Result<Vec<(BaselineKey, Baseline)>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT b.statement, b.cite, b.source, b.version, b.anchors, b.missing_quotes,
                 b.unfound_quotes, b.candidate, b.set_at, b.set_by, b.statement_text,
                 f.since_run, f.since, f.verdict, b.key, f.announced
                 FROM baselines b LEFT JOIN flags f ON f.baseline = b.key
                 WHERE b.key >= ?1 AND b.key < ?2 ORDER BY b.key",
            )
            .map_err(err(&self.path))?;
        q.query_map([from, to], |r| {
            let flag = match r.get::<_, Option<String>>(11)? {
                None => None,
                Some(run) => Some(Flag {
                    since_run: super::RunId(run),
                    since: time(r.get_ref(12)?)?,
                    verdict: json_opt(r.get_ref(13)?)?,
                    announced: r.get::<_, Option<bool>>(15)?.unwrap_or(true),
                }),
            };
            let key = BaselineKey(r.get(14)?);
            let b = Baseline {
                statement: crate::watchlist::StatementId(r.get(0)?),
                cite: crate::watchlist::CiteNo(r.get(1)?),
                source: SourceKey(r.get(2)?),
                version: TextHash(r.get(3)?),
                anchors: json(r.get_ref(4)?)?,
                missing_quotes: json(r.get_ref(5)?)?,
                unfound_quotes: json(r.get_ref(6)?)?,
                candidate: r.get(7)?,
                set_at: time(r.get_ref(8)?)?,
                set_by: r.get(9)?,
                statement_text: r.get(10)?,
                flag,
            };
            Ok((key, b))
        })
        .and_then(|rows| rows.collect())
        .map_err(err(&self.path))
    }

    fn acks(&self) -> Result<Vec<Ack>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT baseline, by, at, version, previous, cleared_verdict, cleared_since_run
                 FROM acks ORDER BY id",
            )
            .map_err(err(&self.path))?;
        q.query_map([], |r| {
            Ok(Ack {
                baseline: BaselineKey(r.get(0)?),
                by: r.get(1)?,
                at: time(r.get_ref(2)?)?,
                version: TextHash(r.get(3)?),
                previous: r.get::<_, Option<String>>(4)?.map(TextHash),
                cleared_verdict: json_opt(r.get_ref(5)?)?,
                cleared_since_run: r.get::<_, Option<String>>(6)?.map(super::RunId),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(err(&self.path))
    }

    /// Whether any version still names this text or raw object.
    pub(super) fn object_used(&self, hash: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM versions WHERE text = ?1)
                 OR EXISTS(SELECT 1 FROM versions WHERE raw = ?1)",
                [hash],
                |r| r.get(0),
            )
            .map_err(err(&self.path))
    }
}

/// The write transaction of one commit. Dropped without [`Writer::commit`], it rolls back.
pub(super) struct Writer<'a> {
    tx: Transaction<'a>,
    path: &'a Path,
}

impl Writer<'_> {
    fn e(&self) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        err(self.path)
    }

    /// Writes the rows of one source's record that differ from how it was loaded (all of
    /// them for a new source): its row, the versions that changed (by position), the versions
    /// past its new length (pruned), its latest attempt.
    pub(super) fn put_source(
        &self,
        key: &SourceKey,
        rec: &SourceRecord,
        loaded: Option<&super::LoadedSource>,
    ) -> Result<(), StoreError> {
        let tx = &self.tx;
        let was = loaded.cloned().unwrap_or_default();
        if loaded.is_none() || was.url != fingerprint(&rec.url) {
            tx.prepare_cached("INSERT OR REPLACE INTO sources(key, url) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![key.as_str(), rec.url]))
                .map_err(self.e())?;
        }
        for (seq, v) in rec.versions.iter().enumerate() {
            if was.versions.get(seq) == Some(&fingerprint(v)) {
                continue;
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO versions(source, seq, text, raw, first_seen, last_seen,
                 status, final_url, content_type, etag, last_modified, extractor, archived,
                 archive_job)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    key.as_str(),
                    seq as i64,
                    v.text.as_str(),
                    v.raw,
                    stamp(&v.first_seen),
                    stamp(&v.last_seen),
                    v.status,
                    v.final_url,
                    v.content_type,
                    v.etag,
                    v.last_modified,
                    v.extractor,
                    v.archived,
                    v.archive_job,
                ])
            })
            .map_err(self.e())?;
        }
        if was.versions.len() > rec.versions.len() {
            tx.prepare_cached("DELETE FROM versions WHERE source = ?1 AND seq >= ?2")
                .and_then(|mut s| s.execute(params![key.as_str(), rec.versions.len() as i64]))
                .map_err(self.e())?;
        }
        if loaded.is_some() && was.attempt == fingerprint(&rec.last) {
            return Ok(());
        }
        match &rec.last {
            Some(a) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO attempts(source, at, raw, rules, error)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        key.as_str(),
                        stamp(&a.at),
                        a.raw,
                        a.rules,
                        a.error
                            .as_ref()
                            .map(|f| to_json(&StoredFailure::of(f, a.failed_runs))),
                    ])
                })
                .map_err(self.e())?,
            None => tx
                .prepare_cached("DELETE FROM attempts WHERE source = ?1")
                .and_then(|mut s| s.execute([key.as_str()]))
                .map_err(self.e())?,
        };
        Ok(())
    }

    /// Writes one baseline and its flag (removing the flag row when it has none).
    pub(super) fn put_baseline(&self, key: &BaselineKey, b: &Baseline) -> Result<(), StoreError> {
        let tx = &self.tx;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO baselines(key, statement, cite, source, version, anchors,
             missing_quotes, unfound_quotes, candidate, set_at, set_by, statement_text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .and_then(|mut s| {
            s.execute(params![
                key.as_str(),
                b.statement.0,
                b.cite.0,
                b.source.as_str(),
                b.version.as_str(),
                to_json(&b.anchors),
                to_json(&b.missing_quotes),
                to_json(&b.unfound_quotes),
                b.candidate,
                stamp(&b.set_at),
                b.set_by,
                b.statement_text,
            ])
        })
        .map_err(self.e())?;
        match &b.flag {
            Some(f) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO flags(baseline, since_run, since, verdict, announced)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        key.as_str(),
                        f.since_run.as_str(),
                        stamp(&f.since),
                        f.verdict.as_ref().map(to_json),
                        f.announced,
                    ])
                })
                .map_err(self.e())?,
            None => self.delete_flag(key)?,
        };
        Ok(())
    }

    fn delete_flag(&self, key: &BaselineKey) -> Result<usize, StoreError> {
        self.tx
            .prepare_cached("DELETE FROM flags WHERE baseline = ?1")
            .and_then(|mut s| s.execute([key.as_str()]))
            .map_err(self.e())
    }

    /// Removes a baseline and its flag.
    pub(super) fn delete_baseline(&self, key: &BaselineKey) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("DELETE FROM baselines WHERE key = ?1")
            .and_then(|mut s| s.execute([key.as_str()]))
            .map_err(self.e())?;
        self.delete_flag(key)?;
        Ok(())
    }

    /// The text versions that stored baselines of `source` are judged against (pruning keeps
    /// them, whichever article's baselines they are).
    pub(super) fn pinned(&self, source: &SourceKey) -> Result<BTreeSet<TextHash>, StoreError> {
        self.tx
            .prepare_cached("SELECT version FROM baselines WHERE source = ?1")
            .and_then(|mut s| {
                s.query_map([source.as_str()], |r| r.get::<_, String>(0).map(TextHash))?
                    .collect()
            })
            .map_err(self.e())
    }

    /// Records an acknowledgement.
    pub(super) fn put_ack(&self, a: &Ack) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO acks(baseline, by, at, version, previous, cleared_verdict,
                 cleared_since_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.baseline.as_str(),
                    a.by,
                    stamp(&a.at),
                    a.version.as_str(),
                    a.previous.as_ref().map(TextHash::as_str),
                    a.cleared_verdict.as_ref().map(to_json),
                    a.cleared_since_run.as_ref().map(super::RunId::as_str),
                ])
            })
            .map_err(self.e())?;
        Ok(())
    }

    /// Records a run (`INSERT OR IGNORE`: an imported run named by a flag may already be there).
    pub(super) fn put_run(&self, r: &RunRecord, committed_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO runs(id, started_at, committed_at, trigger, articles, sources)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.id.as_str(),
                    stamp(&r.started_at),
                    stamp(&committed_at),
                    r.trigger,
                    r.articles as i64,
                    r.sources as i64,
                ])
            })
            .map_err(self.e())?;
        Ok(())
    }

    /// Sets a `meta` value.
    pub(super) fn put_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                [key, value],
            )
            .map_err(self.e())?;
        Ok(())
    }

    /// Makes the transaction durable (WAL, `synchronous = FULL`: one fsync of the log).
    pub(super) fn commit(self) -> Result<(), StoreError> {
        let path = self.path;
        self.tx.commit().map_err(err(path))
    }
}

/// A record's fingerprint, to tell at commit which loaded records a run changed.
pub(super) fn fingerprint<T: serde::Serialize>(value: &T) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    serde_json::to_vec(value)
        .expect("store records serialize")
        .hash(&mut h);
    h.finish()
}

/// The fingerprints of a source's rows.
fn loaded(rec: &SourceRecord) -> super::LoadedSource {
    super::LoadedSource {
        url: fingerprint(&rec.url),
        versions: rec.versions.iter().map(fingerprint).collect(),
        attempt: fingerprint(&rec.last),
    }
}

/// Past this many sources (and a quarter of the store), a load scans the tables.
const SCAN_FROM: usize = 200;

const VERSION_COLUMNS: &str = "text, raw, first_seen, last_seen, status, final_url, content_type, etag, last_modified, extractor, archived, archive_job";

fn version_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Version> {
    Ok(Version {
        text: TextHash(r.get(i)?),
        raw: r.get(i + 1)?,
        first_seen: time(r.get_ref(i + 2)?)?,
        last_seen: time(r.get_ref(i + 3)?)?,
        status: r.get(i + 4)?,
        final_url: r.get(i + 5)?,
        content_type: r.get(i + 6)?,
        etag: r.get(i + 7)?,
        last_modified: r.get(i + 8)?,
        extractor: r.get(i + 9)?,
        archived: r.get(i + 10)?,
        archive_job: r.get(i + 11)?,
    })
}

const ATTEMPT_COLUMNS: &str = "at, raw, rules, error";

fn attempt_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Attempt> {
    let error: Option<StoredFailure> = json_opt(r.get_ref(i + 3)?)?;
    // A failure stored before the count was kept is one failed run.
    let failed_runs = error.as_ref().map_or(0, |e| e.failed_runs.max(1));
    Ok(Attempt {
        at: time(r.get_ref(i)?)?,
        raw: r.get(i + 1)?,
        rules: r.get(i + 2)?,
        error: error.map(|e| e.failure),
        failed_runs,
    })
}

/// An attempt's `error` column: the failure, and the consecutive failed runs it ends.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct StoredFailure {
    #[serde(flatten)]
    pub(super) failure: crate::fetch::FetchFailure,
    #[serde(default)]
    pub(super) failed_runs: u32,
}

impl StoredFailure {
    pub(super) fn of(f: &crate::fetch::FetchFailure, failed_runs: u32) -> StoredFailure {
        StoredFailure {
            failure: f.clone(),
            failed_runs,
        }
    }
}

/// A time as the store writes it (RFC 3339, UTC, as precise as it is).
fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn time(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("store values serialize")
}

fn json<T: serde::de::DeserializeOwned>(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<T> {
    serde_json::from_str(v.as_str()?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn json_opt<T: serde::de::DeserializeOwned>(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Option<T>> {
    match v {
        rusqlite::types::ValueRef::Null => Ok(None),
        v => json(v).map(Some),
    }
}
