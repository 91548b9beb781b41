//! The on-disk store under `snapshots/`: every distinct version of each source's extracted
//! text (content-addressed), its fetch metadata, the raw body (LZ4), the baseline each
//! statement is judged against, and the lock that keeps one run at a time per root.
//!
//! Layout:
//! ```text
//! snapshots/index.json          the store's state (sources, versions, baselines), replaced atomically
//! snapshots/text/<hash>.txt     extracted text, one block per line
//! snapshots/raw/<hash>.lz4      raw body, LZ4-compressed (fast: a cold run compresses every page)
//! snapshots/.lock               held while a run or an ack writes the store
//! ```
//! Durability: objects are written whole to a temp file and linked or renamed into place
//! without an fsync each; [`Store::commit`] then makes all of them durable with one `syncfs`
//! (one fsync per new file where that call is missing) before it replaces `index.json` (temp
//! file, fsync, rename, fsync of the folder). Past every 16 MiB of new objects a background
//! `syncfs` starts the disk early, so the commit mostly finds the work done. A crash at any
//! point leaves the previous `index.json`, which only names objects that were durable before
//! it was written; stray objects are harmless (unreferenced, and rewritten when found short),
//! and temp files are removed by the next lock holder.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::evidence::Anchor;
use crate::fetch::FetchFailure;
use crate::watchlist::{CiteNo, StatementId};

/// Version of the index format.
pub const FORMAT: u32 = 1;

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
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Content hash (blake3, hex) naming a stored object.
pub type Hash = String;

/// The store's whole state, kept in `index.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    /// Format version.
    pub format: u32,
    /// Per source key (see [`source_key`]).
    pub sources: BTreeMap<String, SourceRecord>,
    /// Per `statement id#cite`.
    pub baselines: BTreeMap<String, Baseline>,
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
    pub text: Hash,
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
}

/// What a statement is judged against for one cited source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Baseline {
    /// The statement.
    pub statement: StatementId,
    /// The cited source.
    pub cite: CiteNo,
    /// The source key.
    pub source: String,
    /// The text version the anchors were located in.
    pub version: Hash,
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
    pub since_run: String,
    /// When.
    pub since: DateTime<Utc>,
    /// The verdict that raised it (absent in stores written before it was recorded).
    #[serde(default)]
    pub verdict: Option<crate::evidence::Verdict>,
}

/// The key of a baseline in [`Index::baselines`].
pub fn baseline_key(statement: &StatementId, cite: CiteNo) -> String {
    format!("{statement}#{cite}")
}

/// The store key of a source: its URL, plus a fingerprint of its extraction rules when it
/// has any (two articles may watch different parts of one page).
pub fn source_key(url: &str, rules_fingerprint: &str) -> String {
    if rules_fingerprint.is_empty() {
        url.to_owned()
    } else {
        format!("{url}#rules={rules_fingerprint}")
    }
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Files written since the last commit that must be made durable.
    pending: std::sync::Mutex<Vec<PathBuf>>,
    /// Early writeback (see [`Store::wrote`]).
    writeback: std::sync::Arc<Writeback>,
    /// The store folder, opened before anything is written: the commit syncs the file system
    /// through it, so that a write-back error since then is reported to the commit even if an
    /// early writeback met it first (the kernel reports such an error once per open file).
    #[cfg(target_os = "linux")]
    sync_fd: File,
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
            pending: std::sync::Mutex::new(Vec::new()),
            writeback: Default::default(),
            #[cfg(target_os = "linux")]
            sync_fd: File::open(dir).map_err(io(dir))?,
        })
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

    /// Reads `index.json` (an empty index if there is none yet).
    pub fn load_index(&self) -> Result<Index, StoreError> {
        let path = self.dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => {
                let idx: Index = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt(path.clone(), e.to_string()))?;
                Ok(idx)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                format: FORMAT,
                ..Index::default()
            }),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Stores extracted text; returns its hash. An intact existing object is not rewritten.
    /// Safe to call from several threads at once.
    pub fn put_text(&self, text: &str) -> Result<Hash, StoreError> {
        let hash = Self::text_hash(text);
        let path = self.text_path(&hash);
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
    pub fn text_hash(text: &str) -> Hash {
        blake3::hash(text.as_bytes()).to_hex().to_string()
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
    pub fn get_text(&self, hash: &str) -> Result<String, StoreError> {
        let path = self.text_path(hash);
        fs::read_to_string(&path).map_err(io(&path))
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

    /// Makes every object written since the last commit durable, then replaces `index.json`
    /// atomically. Prunes versions beyond `keep` (0 = keep all) that no baseline refers to.
    pub fn commit(&self, index: &mut Index, keep: usize) -> Result<(), StoreError> {
        index.format = FORMAT;
        let removed = if keep > 0 { prune(index, keep) } else { Vec::new() };
        self.sync_pending()?;
        let json = serde_json::to_vec(index)
            .map_err(|e| StoreError::Corrupt(self.dir.join("index.json"), e.to_string()))?;
        atomic_write(&self.dir.join("index.json"), &json)?;
        for v in removed {
            let still_used = index
                .sources
                .values()
                .flat_map(|s| &s.versions)
                .any(|x| x.text == v.text || (v.raw.is_some() && x.raw == v.raw));
            if !still_used {
                let _ = fs::remove_file(self.text_path(&v.text));
                if let Some(r) = &v.raw {
                    let _ = fs::remove_file(self.raw_path(r));
                }
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

/// Drops the oldest versions past `keep`, never one a baseline refers to or the latest.
fn prune(index: &mut Index, keep: usize) -> Vec<Version> {
    let pinned: std::collections::BTreeSet<(String, String)> = index
        .baselines
        .values()
        .map(|b| (b.source.clone(), b.version.clone()))
        .collect();
    let mut removed = Vec::new();
    for (key, rec) in &mut index.sources {
        let mut excess = rec.versions.len().saturating_sub(keep);
        let n = rec.versions.len();
        let mut kept = Vec::with_capacity(n);
        for (i, v) in rec.versions.drain(..).enumerate() {
            let is_pinned = pinned.contains(&(key.clone(), v.text.clone()));
            if excess > 0 && i + 1 < n && !is_pinned {
                excess -= 1;
                removed.push(v);
            } else {
                kept.push(v);
            }
        }
        rec.versions = kept;
    }
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

/// Replaces `path` atomically and durably: temp file in the same folder, fsync, rename,
/// fsync of the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    replace_file(dir, path, bytes)?;
    sync_dir(dir)
}

/// [`atomic_write`] of several files of one folder, syncing the folder once.
pub fn atomic_write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    for (name, bytes) in files {
        replace_file(dir, &dir.join(name), bytes)?;
    }
    sync_dir(dir)
}

/// Writes `bytes` to a temporary file in `dir`, syncs it and renames it to `path`.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
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
        let mut idx = s.load_index().unwrap();
        s.commit(&mut idx, 0).unwrap();
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
        for p in [s.text_path(&t), s.raw_path(&r)] {
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
        let mut idx = s.load_index().unwrap();
        s.commit(&mut idx, 0).unwrap();
        assert!(d.path().join("index.json").exists());
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

    #[test]
    fn prune_keeps_pinned_and_latest() {
        let v = |t: &str| Version {
            text: t.into(),
            raw: None,
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            status: 200,
            final_url: String::new(),
            content_type: String::new(),
            etag: None,
            last_modified: None,
            extractor: None,
        };
        let mut idx = Index::default();
        idx.sources.insert(
            "u".into(),
            SourceRecord {
                url: "u".into(),
                versions: vec![v("a"), v("b"), v("c"), v("d")],
                last: None,
            },
        );
        idx.baselines.insert(
            "s#1".into(),
            Baseline {
                statement: StatementId("s".into()),
                cite: CiteNo(1),
                source: "u".into(),
                version: "a".into(),
                anchors: vec![],
                missing_quotes: vec![],
                unfound_quotes: vec![],
                candidate: None,
                set_at: Utc::now(),
                set_by: "first-seen".into(),
                statement_text: String::new(),
                flag: None,
            },
        );
        let removed = prune(&mut idx, 2);
        let left: Vec<_> = idx.sources["u"]
            .versions
            .iter()
            .map(|v| v.text.as_str())
            .collect();
        assert_eq!(left, ["a", "d"]);
        assert_eq!(removed.len(), 2);
    }
}
