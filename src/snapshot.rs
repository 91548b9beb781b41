//! The on-disk store under `snapshots/`: every distinct version of each source's extracted
//! text (content-addressed), its fetch metadata, the raw body (LZ4), the baseline each
//! statement is judged against, its flags, the acks and the runs, and the lock that keeps one
//! run at a time per root.
//!
//! Layout:
//! ```text
//! snapshots/store.db            the records (SQLite: sources, versions, attempts, baselines,
//!                               flags, acks, runs), read and written per source and statement
//! snapshots/text/<hash>.txt     extracted text, one block per line
//! snapshots/raw/<hash>.lz4      raw body, LZ4-compressed (fast: a cold run compresses every page)
//! snapshots/.lock               held while a run or an ack writes the store
//! snapshots/index.json.imported-<time>   a format-1 store's records, kept after their import
//! ```
//! A run loads only the records of the sources it checks and the baselines of its articles
//! ([`Store::load`]) into an [`Index`], and [`Store::commit`] writes back, in one transaction,
//! the records it changed.
//!
//! Durability: objects are written whole to a temp file and linked or renamed into place
//! without an fsync each; [`Store::commit`] then makes all of them durable with one `syncfs`
//! (one fsync per new file where that call is missing) before the database transaction that
//! names them commits (WAL, `synchronous = FULL`). Past every 16 MiB of new objects a
//! background `syncfs` starts the disk early, so the commit mostly finds the work done. A
//! crash at any point leaves the last committed transaction, which only names objects that
//! were durable before it; stray objects are harmless (unreferenced, and rewritten when found
//! short), and temp files are removed by the next lock holder.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::evidence::Anchor;
use crate::fetch::FetchFailure;
use crate::watchlist::{CiteNo, StatementId};

pub use crate::ids::{BaselineKey, RunId, SourceKey, TextHash};

mod db;
pub mod import;
mod pg;
pub use pg::db_time as shared_db_time;

/// Version of the store format: 2 is the database (`PRAGMA user_version`); 1 was
/// `index.json` alone ([`import`]).
pub const FORMAT: u32 = 2;

/// Errors of the store: all mean "this run cannot proceed".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the lock.
    #[error("another citewatch run holds the lock on {0} (waited {1:?}); try again when it has finished")]
    Locked(PathBuf, Duration),
    /// A file operation failed.
    #[error("snapshot store {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `index.json` cannot be parsed.
    #[error("snapshot index {0} is unreadable: {1}")]
    Corrupt(PathBuf, String),
    /// The database failed.
    #[error("snapshot database {0}: {1}")]
    Db(PathBuf, String),
    /// A store of a format this version does not know (a newer citewatch wrote it).
    #[error(
        "{path} is in store format {found}, which this citewatch does not know (it reads format {supported}); it was left untouched: use the citewatch that wrote it, or a newer one"
    )]
    Format {
        /// The database or index.
        path: PathBuf,
        /// Its format.
        found: u32,
        /// The one this version reads there.
        supported: u32,
    },
    /// A stored object (a text or a raw body) is gone, or its content no longer matches its
    /// name: the run heals it from the raw body where it can, else that source alone fails.
    #[error("stored object {path} is {how}")]
    Missing {
        /// The object's file.
        path: PathBuf,
        /// `missing` or `damaged (its content does not match its name)`.
        how: &'static str,
    },
    /// An `index.json` beside a database that did not import it.
    #[error("{0} is not the index {1} was imported from; both were left untouched: move one of them aside")]
    Conflict(PathBuf, PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Content hash (blake3, hex) naming a stored raw object.
pub type Hash = String;

/// The part of the store a run works on: the records of its sources and the baselines of its
/// articles ([`Store::load`]), or all of it ([`Store::export`]; also the shape of a format-1
/// `index.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    /// Format version.
    pub format: u32,
    /// Per source key.
    pub sources: BTreeMap<SourceKey, SourceRecord>,
    /// Per `statement id#cite`.
    pub baselines: BTreeMap<BaselineKey, Baseline>,
    /// Acknowledgements: to record at the next commit (after [`Store::load`]), or all of them
    /// (after [`Store::export`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acks: Vec<Ack>,
    /// Runs committed to the store before this load: the next run is number `runs + 1`, an
    /// order the wall clock cannot upset.
    #[serde(skip)]
    pub runs: u64,
    /// Fingerprints of the records as loaded: the commit writes the changed ones, and deletes
    /// the loaded baselines that are gone.
    #[serde(skip)]
    loaded: Loaded,
}

#[derive(Debug, Clone, Default)]
struct Loaded {
    sources: HashMap<SourceKey, LoadedSource>,
    baselines: HashMap<BaselineKey, u64>,
}

/// Fingerprints of one source's rows as loaded: an unchanged run rewrites only the latest
/// version (its `last_seen`) and the attempt, not every row of the source.
#[derive(Debug, Clone, Default)]
struct LoadedSource {
    url: u64,
    versions: Vec<u64>,
    attempt: u64,
}

/// Everything known about one source (one URL with one set of extraction rules).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The URL as written in the watchlist.
    pub url: String,
    /// Distinct text versions, oldest first.
    pub versions: Vec<Version>,
    /// The latest fetch attempt.
    pub last: Option<Attempt>,
}

/// One distinct version of a source's extracted text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Version {
    /// Hash of the extracted text (names `text/<hash>.txt`).
    pub text: TextHash,
    /// Hash of the raw body (names `raw/<hash>.lz4`), absent if the body was not kept.
    pub raw: Option<Hash>,
    /// When this text was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was last seen (still current).
    pub last_seen: DateTime<Utc>,
    /// HTTP status.
    pub status: u16,
    /// URL after redirects.
    pub final_url: String,
    /// `Content-Type`.
    pub content_type: String,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// The [`crate::extract::EXTRACTOR_VERSION`] that made the text; absent in versions stored
    /// before it was recorded, which were made by [`LEGACY_EXTRACTOR`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractor: Option<String>,
    /// The URL of a web archive's capture of this version (`[archive]`), when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<String>,
    /// A capture of this version requested from the archive and not finished yet: the Save
    /// Page Now job id, resolved by a later run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_job: Option<String>,
}

/// The extractor of versions that do not name theirs.
pub const LEGACY_EXTRACTOR: &str = "x3";

impl Version {
    /// The extractor version that made this text.
    pub fn extractor(&self) -> &str {
        self.extractor.as_deref().unwrap_or(LEGACY_EXTRACTOR)
    }
}

/// The latest fetch attempt of a source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// When.
    pub at: DateTime<Utc>,
    /// The raw body's hash, when a body was received (lets an identical body skip extraction).
    pub raw: Option<Hash>,
    /// Fingerprint of the extraction rules and extractor the text was made with.
    pub rules: String,
    /// The failure, if the attempt failed.
    pub error: Option<FetchFailure>,
    /// Consecutive failed runs up to and including this attempt (0 when it succeeded).
    #[serde(default)]
    pub failed_runs: u32,
}

/// What a statement is judged against for one cited source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Baseline {
    /// The statement.
    pub statement: StatementId,
    /// The cited source.
    pub cite: CiteNo,
    /// The source key.
    pub source: SourceKey,
    /// The text version the anchors were located in.
    pub version: TextHash,
    /// Passages backing the statement (empty: none located).
    pub anchors: Vec<Anchor>,
    /// Quotes from the watchlist that were not found in the source.
    #[serde(default)]
    pub missing_quotes: Vec<String>,
    /// Plain quotes not in this source (missing only when no cited source has them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfound_quotes: Vec<String>,
    /// With no passage located: the closest sentence of the source, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// When the baseline was set.
    pub set_at: DateTime<Utc>,
    /// Who set it: `first-seen`, or `ack by <user>`.
    pub set_by: String,
    /// The statement text when the baseline was set (anchors are redone if it changes).
    #[serde(default)]
    pub statement_text: String,
    /// The outstanding flag, if the statement is flagged for this cite.
    pub flag: Option<Flag>,
}

/// A flag that stays until acked or until the passage is back to its baseline wording.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flag {
    /// The run that first raised it.
    pub since_run: RunId,
    /// When.
    pub since: DateTime<Utc>,
    /// The verdict that raised it (absent in stores written before it was recorded).
    #[serde(default)]
    pub verdict: Option<crate::evidence::Verdict>,
    /// Whether a message naming it was durably queued (the outbox or a `.eml`). Until then
    /// it is new in every run's report, so a run that stores a flag and then fails to queue
    /// its message (a full disk, a kill) leaves the alert to the next run.
    #[serde(default = "announced_default")]
    pub announced: bool,
}

/// Flags of stores written before announcements were recorded were announced.
fn announced_default() -> bool {
    true
}

/// A person's acceptance of a statement's current wording for one cite (`ack`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    /// The baseline moved.
    pub baseline: BaselineKey,
    /// Who (`--by`).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The text version accepted (the baseline's new version).
    pub version: TextHash,
    /// The version the baseline was on before (absent for acks imported from format 1).
    pub previous: Option<TextHash>,
    /// The verdict of the flag the ack cleared, if it cleared one.
    pub cleared_verdict: Option<crate::evidence::Verdict>,
    /// The run that had raised that flag.
    pub cleared_since_run: Option<RunId>,
}

/// A run, as the store records it when the run commits.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// What started it (`manual`, `schedule`).
    pub trigger: String,
    /// Articles checked.
    pub articles: usize,
    /// Sources checked.
    pub sources: usize,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// The records, opened by the first [`Store::load`] (under the lock: it may import).
    db: std::sync::Mutex<Option<db::Db>>,
    /// Files written since the last commit that must be made durable.
    pending: std::sync::Mutex<Vec<PathBuf>>,
    /// Early writeback (see [`Store::wrote`]).
    writeback: std::sync::Arc<Writeback>,
    /// The store folder, opened before anything is written: the commit syncs the file system
    /// through it, so that a write-back error since then is reported to the commit even if an
    /// early writeback met it first (the kernel reports such an error once per open file).
    #[cfg(target_os = "linux")]
    sync_fd: File,
    /// The records in PostgreSQL, shared with other workers (`[store] url`); `None`: SQLite.
    pg: Option<pg::Pg>,
    /// This process's name in the shared host slots.
    worker: std::sync::OnceLock<String>,
}

/// One of a host's request slots across workers ([`Store::take_host_slot`]).
#[derive(Debug)]
pub struct HostSlotLease {
    host: String,
    slot: i32,
}

/// Bytes written since the last early writeback, and whether one is running.
#[derive(Debug, Default)]
struct Writeback {
    unsynced: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicBool,
    /// How many were started (for tests).
    started: std::sync::atomic::AtomicU32,
}

/// New objects past which a run starts writing them to disk in the background (Linux). The
/// commit's sync then has only the rest to wait for: on the 1000-page bench (56 MB written)
/// the disk otherwise sat idle while the pages were processed, and the run then waited about
/// 50 ms for it at the end, with both cores idle. Measured: 16 MiB cut a cold run's wall time
/// by about 8%.
const WRITEBACK_BYTES: u64 = 16 << 20;

/// Holds the store lock until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The articles a run or an ack may write, held until dropped: with SQLite, the store lock
/// (every article); with PostgreSQL, a lease on the claimed articles in the shared store.
#[derive(Debug)]
pub struct Claim {
    articles: Vec<String>,
    hold: Hold,
}

#[derive(Debug)]
enum Hold {
    Local(#[allow(dead_code)] StoreLock),
    Shared(pg::Lease),
}

impl Claim {
    /// The articles claimed (with SQLite, all that were asked for).
    pub fn articles(&self) -> &[String] {
        &self.articles
    }

    /// Whether `article` is claimed.
    pub fn has(&self, article: &str) -> bool {
        self.articles.iter().any(|a| a == article)
    }
}

/// The writes of one commit, on either database (see [`write_records`]).
trait Records {
    fn put_source(
        &mut self,
        key: &SourceKey,
        rec: &SourceRecord,
        loaded: Option<&LoadedSource>,
    ) -> Result<(), StoreError>;
    fn put_baseline(&mut self, key: &BaselineKey, b: &Baseline) -> Result<(), StoreError>;
    fn delete_baseline(&mut self, key: &BaselineKey) -> Result<(), StoreError>;
    fn pinned(&mut self, source: &SourceKey) -> Result<std::collections::BTreeSet<TextHash>, StoreError>;
    fn put_ack(&mut self, a: &Ack) -> Result<(), StoreError>;
}

impl Records for db::Writer<'_> {
    fn put_source(
        &mut self,
        key: &SourceKey,
        rec: &SourceRecord,
        loaded: Option<&LoadedSource>,
    ) -> Result<(), StoreError> {
        db::Writer::put_source(self, key, rec, loaded)
    }
    fn put_baseline(&mut self, key: &BaselineKey, b: &Baseline) -> Result<(), StoreError> {
        db::Writer::put_baseline(self, key, b)
    }
    fn delete_baseline(&mut self, key: &BaselineKey) -> Result<(), StoreError> {
        db::Writer::delete_baseline(self, key)
    }
    fn pinned(&mut self, source: &SourceKey) -> Result<std::collections::BTreeSet<TextHash>, StoreError> {
        db::Writer::pinned(self, source)
    }
    fn put_ack(&mut self, a: &Ack) -> Result<(), StoreError> {
        db::Writer::put_ack(self, a)
    }
}

/// Writes the records `index` changed since it was loaded: baselines first (pruning then
/// sees the versions they refer to now), the deleted baselines, each source (pruned past
/// `keep`, never a pinned version), the acks. Returns the versions pruned.
fn write_records(w: &mut impl Records, index: &mut Index, keep: usize) -> Result<Vec<Version>, StoreError> {
    for (key, b) in &index.baselines {
        if index.loaded.baselines.get(key) != Some(&db::fingerprint(b)) {
            w.put_baseline(key, b)?;
        }
    }
    for key in index.loaded.baselines.keys() {
        if !index.baselines.contains_key(key) {
            w.delete_baseline(key)?;
        }
    }
    let mut removed = Vec::new();
    for (key, rec) in &mut index.sources {
        if keep > 0 && rec.versions.len() > keep {
            let pinned = w.pinned(key)?;
            removed.extend(prune(&mut rec.versions, keep, &pinned));
        }
        w.put_source(key, rec, index.loaded.sources.get(key))?;
    }
    for a in &index.acks {
        w.put_ack(a)?;
    }
    Ok(removed)
}

impl Store {
    /// Opens (creating if needed) the store in `dir`. Stray temp files of crashed runs are
    /// cleared by [`Store::lock`], never before: another process may be writing them.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        for sub in ["", "text", "raw"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            db: std::sync::Mutex::new(None),
            pending: std::sync::Mutex::new(Vec::new()),
            writeback: Default::default(),
            #[cfg(target_os = "linux")]
            sync_fd: File::open(dir).map_err(io(dir))?,
            pg: None,
            worker: std::sync::OnceLock::new(),
        })
    }

    /// Opens the store `settings` describe: the embedded one in `snapshots`, or, with
    /// `[store] url`, the records in PostgreSQL (connected, migrations run) and the objects
    /// in `[store] objects` (relative to `root`; default `snapshots`).
    pub fn open_configured(
        snapshots: &Path,
        root: &Path,
        settings: &crate::settings::StoreSettings,
    ) -> Result<Store, StoreError> {
        let Some(url) = &settings.url else {
            return Store::open(snapshots);
        };
        let objects = settings
            .objects
            .as_ref()
            .map(|p| root.join(p))
            .unwrap_or_else(|| snapshots.to_path_buf());
        let password = match &settings.password_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                StoreError::Db(
                    "[store] password_env".into(),
                    format!("the environment variable {var} is not set"),
                )
            })?),
            None => None,
        };
        let lease = Duration::from_secs(settings.lease_secs.max(1));
        let mut store = Store::open(&objects)?;
        store.pg = Some(pg::Pg::connect(url, password, lease)?);
        Ok(store)
    }

    /// With a shared store: takes one of `host`'s `per_host` request slots, counted across
    /// every worker, for at most `lease`; `None` when all are taken (try again shortly).
    /// Without one: always a slot (the fetcher's own per-host limit is the only one).
    pub fn take_host_slot(
        &self,
        host: &str,
        per_host: usize,
        lease: Duration,
    ) -> Result<Option<HostSlotLease>, StoreError> {
        let Some(pg) = &self.pg else {
            return Ok(Some(HostSlotLease {
                host: host.to_owned(),
                slot: -1,
            }));
        };
        let worker = self.worker.get_or_init(pg::worker_token);
        Ok(pg
            .take_host_slot(host, per_host, lease, worker)?
            .map(|slot| HostSlotLease {
                host: host.to_owned(),
                slot,
            }))
    }

    /// A new run id for a run started `at`: with a shared store, one no other worker's run
    /// has (two workers may start runs in the same millisecond).
    pub fn new_run_id(&self, at: DateTime<Utc>) -> Result<RunId, StoreError> {
        let Some(pg) = &self.pg else {
            return Ok(RunId::new_at(at));
        };
        let worker = self.worker.get_or_init(pg::worker_token);
        let candidates = (0..64).map(|ms| RunId::new_at(at + chrono::Duration::milliseconds(ms / 4)));
        pg.reserve_run_id(candidates, worker)?
            .ok_or_else(|| StoreError::Db("run ids".into(), "no free run id in 16 ms".into()))
    }

    /// Gives back a slot of [`Store::take_host_slot`].
    pub fn release_host_slot(&self, lease: HostSlotLease) -> Result<(), StoreError> {
        match (&self.pg, self.worker.get()) {
            (Some(pg), Some(worker)) if lease.slot >= 0 => {
                pg.release_host_slot(&lease.host, lease.slot, worker)
            }
            _ => Ok(()),
        }
    }

    /// Whether the records are in a database several workers share (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.pg.is_some()
    }

    /// Claims `articles` for one run or ack. With SQLite: takes the store lock (waiting up
    /// to `wait`), all of them. With PostgreSQL: a scheduled run (`due`) gets those no other
    /// worker holds or has already run for `due` (perhaps none); a manual run or an ack
    /// (`None`) gets all of them, waiting up to `wait` for other workers' runs of some.
    ///
    /// `groups` partition the articles: those of one group (articles sharing a source) are
    /// claimed together or not at all, so that one worker fetches their shared sources.
    pub fn claim(
        &self,
        groups: &[Vec<String>],
        due: Option<DateTime<Utc>>,
        wait: Duration,
    ) -> Result<Claim, StoreError> {
        self.claim_batch(groups, due, wait, 0)
    }

    /// [`Store::claim`] of at most `limit` groups (0: no limit; with SQLite, always all).
    pub fn claim_batch(
        &self,
        groups: &[Vec<String>],
        due: Option<DateTime<Utc>>,
        wait: Duration,
        limit: usize,
    ) -> Result<Claim, StoreError> {
        match &self.pg {
            None => Ok(Claim {
                articles: groups.iter().flatten().cloned().collect(),
                hold: Hold::Local(self.lock(wait)?),
            }),
            Some(pg) => {
                let (articles, lease) = pg.claim(groups, due, wait, limit)?;
                Ok(Claim {
                    articles,
                    hold: Hold::Shared(lease),
                })
            }
        }
    }

    /// Counts `bytes` of new objects; past [`WRITEBACK_BYTES`], starts syncing the file
    /// system on a thread of its own (one at a time). This only starts the disk earlier:
    /// durability still comes from the commit's own sync, which also waits for any writeback
    /// in progress.
    fn wrote(&self, bytes: usize) {
        use std::sync::atomic::Ordering;
        let wb = &self.writeback;
        let total = wb.unsynced.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        if !cfg!(target_os = "linux") || total < WRITEBACK_BYTES || wb.running.swap(true, Ordering::AcqRel) {
            return;
        }
        wb.unsynced.store(0, Ordering::Relaxed);
        wb.started.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.clone();
        let flag = wb.clone();
        let started = std::thread::Builder::new()
            .name("store-writeback".into())
            .spawn(move || {
                #[cfg(target_os = "linux")]
                if let Ok(d) = File::open(&dir) {
                    let t = std::time::Instant::now();
                    // A failure here is met again, and reported, by the commit's sync.
                    let _ = rustix::fs::syncfs(&d);
                    tracing::trace!(ms = t.elapsed().as_millis() as u64, "early writeback");
                }
                #[cfg(not(target_os = "linux"))]
                let _ = dir;
                flag.running.store(false, Ordering::Release);
            });
        if started.is_err() {
            wb.running.store(false, Ordering::Release);
        }
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the lock, waiting up to `wait` for another holder to finish.
    pub fn lock(&self, wait: Duration) -> Result<StoreLock, StoreError> {
        let path = self.dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // Only the lock holder writes the store, so temp files now are leftovers.
                    for sub in ["", "text", "raw"] {
                        if let Ok(rd) = fs::read_dir(self.dir.join(sub)) {
                            for e in rd.flatten() {
                                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                                    let _ = fs::remove_file(e.path());
                                }
                            }
                        }
                    }
                    return Ok(StoreLock { _file: file });
                }
                Err(fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= wait {
                        return Err(StoreError::Locked(path, wait));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
            }
        }
    }

    /// Loads the records of `sources` and the baselines of `articles` (by article id). Call
    /// it holding the lock: the first load of a format-1 store imports its `index.json`.
    pub fn load<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a SourceKey>,
        articles: impl IntoIterator<Item = &'a str>,
    ) -> Result<Index, StoreError> {
        if let Some(pg) = &self.pg {
            let sources: Vec<SourceKey> = sources.into_iter().cloned().collect();
            let articles: Vec<String> = articles.into_iter().map(str::to_owned).collect();
            return pg.load(&sources, &articles);
        }
        let mut guard = self.db.lock().expect("store db");
        if guard.is_none() {
            *guard = Some(self.open_db()?);
        }
        guard.as_ref().expect("opened").load(sources, articles)
    }

    /// Opens the database for writing: creates it, importing a format-1 `index.json` in the
    /// same transaction, or finishes moving an imported one aside.
    fn open_db(&self) -> Result<db::Db, StoreError> {
        // An index.json of an unknown format stops before a database file is made.
        let fresh = !db::path(&self.dir).exists();
        let mut legacy = if fresh { import::read(&self.dir)? } else { None };
        match db::Db::open(&self.dir, true)?.expect("created") {
            db::Opened::Ready(db) => {
                import::leftover(&self.dir, &db)?;
                Ok(db)
            }
            db::Opened::Empty(mut db) => {
                // A database file nothing was committed to (a run killed while creating it).
                if !fresh {
                    legacy = import::read(&self.dir)?;
                }
                let w = db.write()?;
                db::Db::create_schema(&w)?;
                if let Some((index, hash)) = &legacy {
                    import::import(&w, index, hash)?;
                }
                w.commit()?;
                if legacy.is_some() {
                    import::move_aside(&self.dir)?;
                }
                Ok(db)
            }
        }
    }

    /// The whole store as one [`Index`] (every source, baseline and ack), read without the
    /// lock and without changing it (SQLite may roll back what a crash left torn): for tests
    /// and inspection. A format-1 store is read from its
    /// `index.json`.
    pub fn export(dir: &Path) -> Result<Index, StoreError> {
        Self::export_sqlite(dir)
    }

    /// [`Store::export`] of this store, whichever database holds it.
    pub fn export_records(&self) -> Result<Index, StoreError> {
        match &self.pg {
            Some(pg) => pg.export(),
            None => Self::export_sqlite(&self.dir),
        }
    }

    fn export_sqlite(dir: &Path) -> Result<Index, StoreError> {
        match db::Db::open(dir, false)? {
            Some(db::Opened::Ready(db)) => db.export(),
            _ => Ok(import::read(dir)?.map(|(i, _)| i).unwrap_or_default()),
        }
    }

    /// Stores extracted text; returns its hash. An intact existing object is not rewritten.
    /// Safe to call from several threads at once.
    pub fn put_text(&self, text: &str) -> Result<TextHash, StoreError> {
        let hash = Self::text_hash(text);
        let path = self.text_path(hash.as_str());
        // One of another size was left short or empty by a run the power cut before its sync
        // (its index never named it): it is replaced.
        let existing = fs::metadata(&path).ok().map(|m| m.len());
        if existing != Some(text.len() as u64) {
            if existing.is_some() {
                write_new_named(&path, text.as_bytes())?;
            } else {
                write_new(&path, text.as_bytes())?;
            }
            self.wrote(text.len());
        }
        // Even an object that exists may be one a killed run renamed into place but never
        // synced: the commit makes it durable before the index names it.
        self.pending.lock().expect("pending list").push(path);
        Ok(hash)
    }

    /// Hash of a text, as [`Store::put_text`] names it.
    pub fn text_hash(text: &str) -> TextHash {
        TextHash(blake3::hash(text.as_bytes()).to_hex().to_string())
    }

    /// Hash of a raw body, as [`Store::put_raw`] names it.
    pub fn raw_hash(body: &[u8]) -> Hash {
        blake3::hash(body).to_hex().to_string()
    }

    /// Stores a raw body compressed; returns its hash.
    /// Safe to call from several threads at once.
    pub fn put_raw(&self, body: &[u8]) -> Result<Hash, StoreError> {
        self.put_raw_hashed(body, Self::raw_hash(body))
    }

    /// [`Store::put_raw`] with the body's [`Store::raw_hash`] already computed.
    pub fn put_raw_hashed(&self, body: &[u8], hash: Hash) -> Result<Hash, StoreError> {
        let path = self.raw_path(&hash);
        // Rare (a body stored before, whose text is new again): the object is read back, and
        // replaced if a power cut before its run's sync left it short or empty.
        let existing = fs::read(&path).ok();
        let intact = existing
            .as_deref()
            .is_some_and(|z| lz4_flex::decompress_size_prepended(z).is_ok_and(|b| b == body));
        if !intact {
            let z = lz4_flex::compress_prepend_size(body);
            if existing.is_some() {
                write_new_named(&path, &z)?;
            } else {
                write_new(&path, &z)?;
            }
            self.wrote(z.len());
        }
        self.pending.lock().expect("pending list").push(path);
        Ok(hash)
    }

    /// Reads stored text.
    pub fn get_text(&self, hash: &TextHash) -> Result<String, StoreError> {
        let path = self.text_path(hash.as_str());
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { path, how: "missing" });
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(StoreError::Missing {
                    path,
                    how: "damaged (not text)",
                });
            }
            Err(e) => return Err(io(&path)(e)),
        };
        // Names are content hashes: a file overwritten with something else is noticed.
        if Self::text_hash(&text) != *hash {
            return Err(StoreError::Missing {
                path,
                how: "damaged (its content does not match its name)",
            });
        }
        Ok(text)
    }

    /// Reads a stored raw body.
    pub fn get_raw(&self, hash: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.raw_path(hash);
        let z = fs::read(&path).map_err(io(&path))?;
        lz4_flex::decompress_size_prepended(&z)
            .map_err(|e| io(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    fn text_path(&self, hash: &str) -> PathBuf {
        self.dir.join("text").join(format!("{hash}.txt"))
    }

    fn raw_path(&self, hash: &str) -> PathBuf {
        self.dir.join("raw").join(format!("{hash}.lz4"))
    }

    /// Marks these flags (baseline, the run that raised them) announced: their message is
    /// durably queued. See [`Flag::announced`].
    pub fn announce(&self, flags: &[(BaselineKey, RunId)]) -> Result<(), StoreError> {
        if flags.is_empty() {
            return Ok(());
        }
        if let Some(pg) = &self.pg {
            return pg.announce(flags);
        }
        let mut guard = self.db.lock().expect("store db");
        if guard.is_none() {
            match db::Db::open(&self.dir, false)? {
                Some(db::Opened::Ready(db)) => *guard = Some(db),
                // Nothing committed: no flags to mark.
                _ => return Ok(()),
            }
        }
        guard.as_mut().expect("opened above").announce(flags)
    }

    /// Makes every object written since the last commit durable, then writes the records
    /// `index` changed since [`Store::load`] (and `run`, when given) in one transaction.
    /// Prunes the versions beyond `keep` (0 = keep all) of the sources it writes that no
    /// baseline refers to, and then their objects that no version names any more.
    pub fn commit(&self, index: Index, keep: usize, run: Option<&RunRecord>) -> Result<(), StoreError> {
        self.commit_claimed(index, keep, run, None)
    }

    /// [`Store::commit`] of a run or ack that holds `claim`: with PostgreSQL the same
    /// transaction marks the claimed articles run (for a scheduled run) and releases them,
    /// and fails, writing nothing, if another worker has taken them over meanwhile.
    pub fn commit_claimed(
        &self,
        mut index: Index,
        keep: usize,
        run: Option<&RunRecord>,
        claim: Option<&Claim>,
    ) -> Result<(), StoreError> {
        self.sync_pending()?;
        crate::crash_point!("store-before-commit");
        if let Some(pg) = &self.pg {
            let claim = claim.and_then(|c| match &c.hold {
                Hold::Shared(lease) => Some((c.articles.as_slice(), lease)),
                Hold::Local(_) => None,
            });
            return pg.commit(&mut index, keep, run, claim);
        }
        let mut guard = self.db.lock().expect("store db");
        let db = guard
            .as_mut()
            .expect("the store is loaded before it is committed");
        let mut w = db.write()?;
        let removed = write_records(&mut w, &mut index, keep)?;
        if let Some(r) = run {
            w.put_run(r, Utc::now())?;
        }
        w.commit()?;
        crate::crash_point!("store-after-commit");
        // Objects no version names any more (a crash here leaves them: harmless).
        for v in removed {
            if !db.object_used(v.text.as_str())? {
                let _ = fs::remove_file(self.text_path(v.text.as_str()));
            }
            if let Some(r) = &v.raw
                && !db.object_used(r)?
            {
                let _ = fs::remove_file(self.raw_path(r));
            }
        }
        Ok(())
    }

    fn sync_pending(&self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("pending list"));
        if pending.is_empty() {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(&self.sync_fd).map_err(|e| io(&self.dir)(e.into()))?;
        #[cfg(not(target_os = "linux"))]
        for p in &pending {
            File::open(p).and_then(|f| f.sync_all()).map_err(io(p))?;
        }
        for sub in ["text", "raw"] {
            let p = self.dir.join(sub);
            sync_dir(&p)?;
        }
        Ok(())
    }
}

/// Drops the oldest versions past `keep`, never one a baseline refers to (`pinned`) or the
/// latest; returns the dropped ones.
fn prune(
    versions: &mut Vec<Version>,
    keep: usize,
    pinned: &std::collections::BTreeSet<TextHash>,
) -> Vec<Version> {
    let mut excess = versions.len().saturating_sub(keep);
    let n = versions.len();
    let mut kept = Vec::with_capacity(n);
    let mut removed = Vec::new();
    for (i, v) in versions.drain(..).enumerate() {
        if excess > 0 && i + 1 < n && !pinned.contains(&v.text) {
            excess -= 1;
            removed.push(v);
        } else {
            kept.push(v);
        }
    }
    *versions = kept;
    removed
}

/// Writes a new file via a temp file in the same folder and a rename (no fsync: see
/// [`Store::commit`]).
///
/// On Linux the temp file has no name (`O_TMPFILE`) and is linked into place once written:
/// one change to the folder instead of two (create, rename), which matters when a cold run's
/// tasks write two objects per page into the same two folders (each change locks the folder).
/// A crash leaves no temp file behind. Where the file system or `/proc` cannot do it, the
/// named temp file is used.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::crash_point!("store-object");
    #[cfg(target_os = "linux")]
    if let Some(done) = write_new_unnamed(path, bytes) {
        return done;
    }
    write_new_named(path, bytes)
}

/// [`write_new`] through a named temp file in the same folder and a rename (which replaces a
/// file already there).
fn write_new_named(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// [`write_new`] through an unnamed temp file; `None` if this file system cannot (nothing was
/// written under `path` then).
#[cfg(target_os = "linux")]
fn write_new_unnamed(path: &Path, bytes: &[u8]) -> Option<Result<(), StoreError>> {
    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    let dir = path.parent().unwrap_or(Path::new("."));
    let fd = rustix::fs::open(
        dir,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ok()?;
    let mut file = File::from(fd);
    if let Err(e) = file.write_all(bytes) {
        return Some(Err(io(path)(e)));
    }
    let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    match rustix::fs::linkat(CWD, fd_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => Some(Ok(())),
        // Objects are named by their content: the one there is this one.
        Err(rustix::io::Errno::EXIST) => Some(Ok(())),
        Err(_) => None,
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::durable::sync_dir(dir).map_err(|e| StoreError::Io {
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_writeback_starts_past_the_threshold_and_the_commit_still_syncs() {
        use std::sync::atomic::Ordering;
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        // Bodies LZ4 cannot shrink (a xorshift stream), a quarter of the threshold each.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut body = || -> Vec<u8> {
            (0..WRITEBACK_BYTES / 4)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        let first = body();
        let h = s.put_raw(&first).unwrap();
        s.put_raw(&body()).unwrap();
        s.put_raw(&body()).unwrap();
        assert_eq!(s.writeback.started.load(Ordering::Relaxed), 0);
        s.put_raw(&body()).unwrap();
        s.put_raw(&body()).unwrap();
        let started = s.writeback.started.load(Ordering::Relaxed);
        assert!(
            started >= 1,
            "no writeback after {} MiB",
            (5 * WRITEBACK_BYTES / 4) >> 20
        );
        let idx = s.load([], []).unwrap();
        s.commit(idx, 0, None).unwrap();
        assert_eq!(s.get_raw(&h).unwrap(), first);
    }

    #[test]
    fn new_objects_are_written_whole_once_and_leave_no_temp_files() {
        let d = tempfile::tempdir().unwrap();
        // Both ways: the unnamed temp file where the system has it, and the named one.
        let p = d.path().join("obj");
        let q = d.path().join("obj2");
        write_new(&p, b"first").unwrap();
        write_new_named(&q, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read(&q).unwrap(), b"second");
        // A name is its content: an object already there stays as it is.
        write_new(&p, b"first").unwrap();
        write_new_named(&q, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read(&q).unwrap(), b"second");
        let mut names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![std::ffi::OsString::from("obj"), "obj2".into()]);
    }

    #[test]
    fn objects_a_power_cut_left_short_are_written_again() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let t = s.put_text("a\nb\n").unwrap();
        let r = s.put_raw(b"<p>some body</p>").unwrap();
        // What delayed allocation can leave of a linked but never synced file.
        for p in [s.text_path(t.as_str()), s.raw_path(&r)] {
            fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        assert_eq!(s.put_text("a\nb\n").unwrap(), t);
        assert_eq!(s.put_raw(b"<p>some body</p>").unwrap(), r);
        assert_eq!(s.get_text(&t).unwrap(), "a\nb\n");
        assert_eq!(s.get_raw(&r).unwrap(), b"<p>some body</p>");
    }

    #[test]
    fn text_roundtrip_and_dedup() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let h1 = s.put_text("a\nb\n").unwrap();
        let h2 = s.put_text("a\nb\n").unwrap();
        assert_eq!(h1, h2);
        assert_eq!(s.get_text(&h1).unwrap(), "a\nb\n");
        let r = s.put_raw(b"<p>x</p>").unwrap();
        assert_eq!(s.get_raw(&r).unwrap(), b"<p>x</p>");
        let idx = s.load([], []).unwrap();
        s.commit(idx, 0, None).unwrap();
        assert!(d.path().join("store.db").exists());
    }

    #[test]
    fn second_lock_times_out() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let _g = s.lock(Duration::from_millis(10)).unwrap();
        let s2 = Store::open(d.path()).unwrap();
        assert!(matches!(
            s2.lock(Duration::from_millis(100)),
            Err(StoreError::Locked(..))
        ));
    }

    fn version(t: &str) -> Version {
        Version {
            text: TextHash(t.into()),
            raw: Some(format!("raw-{t}")),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            status: 200,
            final_url: String::new(),
            content_type: "text/html".into(),
            etag: None,
            last_modified: Some("Sat, 21 Nov 2026 09:15:00 GMT".into()),
            extractor: None,
            archived: None,
            archive_job: None,
        }
    }

    fn baseline(statement: &str, cite: u32, source: &str, version: &str) -> Baseline {
        Baseline {
            statement: StatementId(statement.into()),
            cite: CiteNo(cite),
            source: SourceKey(source.into()),
            version: TextHash(version.into()),
            anchors: vec![],
            missing_quotes: vec![],
            unfound_quotes: vec![],
            candidate: None,
            set_at: Utc::now(),
            set_by: "first-seen".into(),
            statement_text: String::new(),
            flag: None,
        }
    }

    #[test]
    fn prune_keeps_pinned_and_latest() {
        let mut versions = vec![version("a"), version("b"), version("c"), version("d")];
        let pinned = [TextHash("a".into())].into();
        let removed = prune(&mut versions, 2, &pinned);
        let left: Vec<_> = versions.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(left, ["a", "d"]);
        assert_eq!(removed.len(), 2);
    }

    /// A store with one source (two versions) and two articles' baselines, one flagged.
    fn two_articles(s: &Store) {
        let _l = s.lock(Duration::from_secs(1)).unwrap();
        let mut idx = s.load([], []).unwrap();
        idx.sources.insert(
            SourceKey("u".into()),
            SourceRecord {
                url: "u".into(),
                versions: vec![version("a"), version("b")],
                last: Some(Attempt {
                    at: Utc::now(),
                    raw: Some("raw-b".into()),
                    rules: "x5:".into(),
                    error: None,
                    failed_runs: 0,
                }),
            },
        );
        let mut flagged = baseline("art:1", 1, "u", "a");
        flagged.flag = Some(Flag {
            since_run: RunId("r1".into()),
            since: Utc::now(),
            verdict: Some(crate::evidence::Verdict::EvidenceChanged),
            announced: true,
        });
        idx.baselines.insert(BaselineKey("art:1#1".into()), flagged);
        idx.baselines
            .insert(BaselineKey("other:2#1".into()), baseline("other:2", 1, "u", "b"));
        s.commit(idx, 0, None).unwrap();
    }

    #[test]
    fn records_roundtrip_and_a_load_reads_only_its_scope() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        two_articles(&s);
        let all = Store::export(d.path()).unwrap();
        assert_eq!(all.sources.len(), 1);
        assert_eq!(all.baselines.len(), 2);
        let s = Store::open(d.path()).unwrap();
        let idx = s.load([&SourceKey("u".into())], ["art"]).unwrap();
        assert_eq!(
            idx.sources[&SourceKey("u".into())].versions,
            all.sources.values().next().unwrap().versions
        );
        let keys: Vec<_> = idx.baselines.keys().map(BaselineKey::as_str).collect();
        assert_eq!(keys, ["art:1#1"]);
        assert_eq!(idx.baselines.values().next(), all.baselines.get("art:1#1"));
        // Another article's prefix is not this one's (`art` is not `art2`).
        assert!(s.load([], ["ar"]).unwrap().baselines.is_empty());
    }

    #[test]
    fn a_large_load_scans_and_reads_what_lookups_by_key_read() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let _l = s.lock(Duration::from_secs(1)).unwrap();
        let mut idx = s.load([], []).unwrap();
        let n = 300;
        for i in 0..n {
            let key = SourceKey(format!("u{i:03}"));
            idx.sources.insert(
                key.clone(),
                SourceRecord {
                    url: key.0.clone(),
                    versions: vec![version(&format!("a{i}")), version(&format!("b{i}"))],
                    last: (i % 2 == 0).then(|| Attempt {
                        at: Utc::now(),
                        raw: None,
                        rules: "x5:".into(),
                        error: None,
                        failed_runs: 0,
                    }),
                },
            );
            let st = format!("art{}:{i:08x}", i / 10);
            idx.baselines.insert(
                BaselineKey(format!("{st}#1")),
                baseline(&st, 1, &key.0, &format!("a{i}")),
            );
        }
        s.commit(idx, 0, None).unwrap();
        let keys: Vec<SourceKey> = (0..n).map(|i| SourceKey(format!("u{i:03}"))).collect();
        let articles: Vec<String> = (0..n / 10).map(|a| format!("art{a}")).collect();
        let all = s.load(&keys, articles.iter().map(String::as_str)).unwrap();
        assert_eq!((all.sources.len(), all.baselines.len()), (n, n));
        // A few by key: the same records.
        let some = s.load(&keys[..5], ["art0"]).unwrap();
        for (k, rec) in &some.sources {
            assert_eq!(rec.versions, all.sources[k].versions);
            assert_eq!(rec.last, all.sources[k].last);
        }
        assert_eq!(some.baselines.len(), 10);
        for (k, b) in &some.baselines {
            assert_eq!(Some(b), all.baselines.get(k));
        }
        // And the scanned scope leaves out what it was not asked for.
        let most = s
            .load(&keys[..250], articles[..25].iter().map(String::as_str))
            .unwrap();
        assert_eq!((most.sources.len(), most.baselines.len()), (250, 250));
    }

    #[test]
    fn a_commit_writes_changes_deletes_removed_baselines_and_prunes_unpinned_versions() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        two_articles(&s);
        let s = Store::open(d.path()).unwrap();
        let _l = s.lock(Duration::from_secs(1)).unwrap();
        let key = SourceKey("u".into());
        let mut idx = s.load([&key], ["art"]).unwrap();
        idx.baselines.clear();
        idx.sources.get_mut(&key).unwrap().versions.push(version("c"));
        s.commit(idx, 2, None).unwrap();
        let all = Store::export(d.path()).unwrap();
        // art's baseline is gone, other's (not loaded) stays and pins "b"; "a" is pruned.
        let keys: Vec<_> = all.baselines.keys().map(BaselineKey::as_str).collect();
        assert_eq!(keys, ["other:2#1"]);
        let left: Vec<_> = all.sources[&key]
            .versions
            .iter()
            .map(|v| v.text.as_str())
            .collect();
        assert_eq!(left, ["b", "c"]);
    }

    #[test]
    fn a_format_1_index_is_imported_once_and_moved_aside() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        two_articles(&s);
        let mut old = Store::export(d.path()).unwrap();
        old.format = 1;
        old.baselines.get_mut("other:2#1").unwrap().set_by = "ack by ed; re-extracted (x5)".into();
        old.acks.clear();
        let e = tempfile::tempdir().unwrap();
        fs::write(e.path().join("index.json"), serde_json::to_vec(&old).unwrap()).unwrap();
        let s = Store::open(e.path()).unwrap();
        let _l = s.lock(Duration::from_secs(1)).unwrap();
        let idx = s.load([&SourceKey("u".into())], ["art", "other"]).unwrap();
        assert_eq!(idx.baselines, old.baselines);
        assert_eq!(
            idx.sources[&SourceKey("u".into())].versions,
            old.sources[&SourceKey("u".into())].versions
        );
        assert!(!e.path().join("index.json").exists());
        let aside: Vec<_> = fs::read_dir(e.path())
            .unwrap()
            .filter_map(|x| x.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("index.json.imported-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        let all = Store::export(e.path()).unwrap();
        assert_eq!(all.acks.len(), 1);
        assert_eq!(all.acks[0].by, "ed");
    }

    #[test]
    fn an_import_interrupted_before_the_move_is_finished_and_another_index_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        two_articles(&s);
        let mut old = Store::export(d.path()).unwrap();
        old.format = 1;
        old.acks.clear();
        let bytes = serde_json::to_vec(&old).unwrap();
        let e = tempfile::tempdir().unwrap();
        fs::write(e.path().join("index.json"), &bytes).unwrap();
        Store::open(e.path()).unwrap().load([], []).unwrap();
        // As if the run had died between the import's commit and the rename.
        fs::write(e.path().join("index.json"), &bytes).unwrap();
        let s = Store::open(e.path()).unwrap();
        assert_eq!(s.load([], ["art"]).unwrap().baselines.len(), 1);
        assert!(!e.path().join("index.json").exists());
        // An index.json the database was not made from is left alone, with an error.
        old.baselines.clear();
        fs::write(e.path().join("index.json"), serde_json::to_vec(&old).unwrap()).unwrap();
        let err = Store::open(e.path()).unwrap().load([], []).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(..)), "{err}");
        assert!(e.path().join("index.json").exists());
    }

    #[test]
    fn a_store_made_before_archive_columns_gets_them_and_keeps_its_records() {
        let d = tempfile::tempdir().unwrap();
        // The versions table as format 2 had it before `[archive]`.
        let c = rusqlite::Connection::open(d.path().join("store.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE sources(key TEXT PRIMARY KEY, url TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE versions(
               source TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, raw TEXT,
               first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, status INTEGER NOT NULL,
               final_url TEXT NOT NULL, content_type TEXT NOT NULL, etag TEXT, last_modified TEXT,
               extractor TEXT, PRIMARY KEY(source, seq)) WITHOUT ROWID;
             CREATE TABLE attempts(source TEXT PRIMARY KEY, at TEXT NOT NULL, raw TEXT,
               rules TEXT NOT NULL, error TEXT) WITHOUT ROWID;
             CREATE TABLE baselines(
               key TEXT PRIMARY KEY, statement TEXT NOT NULL, cite INTEGER NOT NULL,
               source TEXT NOT NULL, version TEXT NOT NULL, anchors TEXT NOT NULL,
               missing_quotes TEXT NOT NULL, unfound_quotes TEXT NOT NULL, candidate TEXT,
               set_at TEXT NOT NULL, set_by TEXT NOT NULL, statement_text TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE flags(baseline TEXT PRIMARY KEY, since_run TEXT NOT NULL,
               since TEXT NOT NULL, verdict TEXT) WITHOUT ROWID;
             CREATE TABLE acks(id INTEGER PRIMARY KEY, baseline TEXT NOT NULL, by TEXT NOT NULL,
               at TEXT NOT NULL, version TEXT NOT NULL, previous TEXT, cleared_verdict TEXT,
               cleared_since_run TEXT);
             CREATE TABLE runs(id TEXT PRIMARY KEY, started_at TEXT NOT NULL,
               committed_at TEXT NOT NULL, trigger TEXT NOT NULL, articles INTEGER NOT NULL,
               sources INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO sources VALUES ('http://a/', 'http://a/');
             INSERT INTO versions VALUES ('http://a/', 0, 't1', 'r1', '2026-01-01T00:00:00Z',
               '2026-01-01T00:00:00Z', 200, 'http://a/', 'text/html', NULL, NULL, 'x9');
             PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(c);
        let key = SourceKey::new("http://a/", "");
        let s = Store::open(d.path()).unwrap();
        let mut index = s.load([&key], []).unwrap();
        let v = &mut index.sources.get_mut(&key).unwrap().versions[0];
        assert_eq!((v.text.as_str(), v.archived.as_deref()), ("t1", None));
        v.archived = Some("https://web.archive.org/web/20260101000000/http://a/".into());
        v.archive_job = Some("spn2-1".into());
        s.commit(index, 0, None).unwrap();
        drop(s);
        let all = Store::export(d.path()).unwrap();
        let v = &all.sources[&key].versions[0];
        assert_eq!(v.archive_job.as_deref(), Some("spn2-1"));
        assert!(v.archived.as_deref().unwrap().contains("20260101000000"));
        assert_eq!(all.format, FORMAT);
    }

    #[test]
    fn unknown_formats_are_refused_and_left_untouched() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join("index.json"),
            br#"{"format": 7, "sources": {}, "baselines": {}}"#,
        )
        .unwrap();
        let s = Store::open(d.path()).unwrap();
        let e = s.load([], []).unwrap_err();
        assert!(matches!(e, StoreError::Format { found: 7, .. }), "{e}");
        assert!(e.to_string().contains("format 7"), "{e}");
        assert!(!d.path().join("store.db").exists());
        fs::remove_file(d.path().join("index.json")).unwrap();
        // A database a newer version stamped.
        let s = Store::open(d.path()).unwrap();
        s.load([], []).unwrap();
        drop(s);
        let c = rusqlite::Connection::open(d.path().join("store.db")).unwrap();
        c.pragma_update(None, "user_version", 9).unwrap();
        drop(c);
        let before = fs::read(d.path().join("store.db")).unwrap();
        let e = Store::open(d.path()).unwrap().load([], []).unwrap_err();
        assert!(matches!(e, StoreError::Format { found: 9, .. }), "{e}");
        assert_eq!(fs::read(d.path().join("store.db")).unwrap(), before);
    }
}
