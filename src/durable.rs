//! Durable file replacement for the files a person reads or a later run relies on (reports,
//! outbox messages): a temp file in the same folder, fsync, rename, fsync of the folder. A
//! leaf module: it knows nothing of the store, the report or the mail that use it.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written or synced.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    /// The file or folder.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `path` atomically and durably: temp file in the same folder, fsync, rename,
/// fsync of the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(at(dir))?;
    replace_file(dir, path, bytes)?;
    sync_dir(dir)
}

/// [`atomic_write`] of several files of one folder, syncing the folder once.
pub fn atomic_write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(at(dir))?;
    for (name, bytes) in files {
        replace_file(dir, &dir.join(name), bytes)?;
    }
    sync_dir(dir)
}

/// What writes one file's content (see [`atomic_write_streamed`]).
pub type Content<'a> = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + 'a>;

/// [`atomic_write_files`] with each file's content written by a function into a buffered
/// temp file, so a large file (a run's `report.json` at 20,000 sources) is never held whole
/// in memory, and the next file's content is made only once the previous one is on disk.
pub fn atomic_write_streamed(dir: &Path, files: Vec<(&str, Content<'_>)>) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(at(dir))?;
    for (name, content) in files {
        replace_file_with(dir, &dir.join(name), content)?;
    }
    sync_dir(dir)
}

/// The name every temp file of [`atomic_write`] starts with.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to a temporary file in `dir`, syncs it and renames it to `path`.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    replace_file_with(dir, path, |w: &mut dyn Write| w.write_all(bytes))
}

/// [`replace_file`] with the content written by `content` through a buffer.
fn replace_file_with(
    dir: &Path,
    path: &Path,
    content: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(at(dir))?;
    {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, tmp.as_file_mut());
        content(&mut w).map_err(at(path))?;
        w.flush().map_err(at(path))?;
    }
    tmp.as_file().sync_all().map_err(at(path))?;
    crate::crash_point!("durable-temp-written");
    tmp.persist(path).map_err(|e| at(path)(e.error))?;
    Ok(())
}

/// A named crash point at a durable step, for the fault suite (`tests/it/faults.rs`): in a
/// build with the `fail` crate's `failpoints` feature (which only `cargo test` turns on) and
/// `FAILPOINTS=NAME=return` in the environment, the process is killed with SIGKILL right
/// here, as a power cut or the OOM killer would; in any other build it is nothing.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| $crate::durable::crash_now())
    };
}

/// Kills this process with SIGKILL (see [`crash_point!`]).
#[doc(hidden)]
pub fn crash_now() -> ! {
    #[cfg(unix)]
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    std::process::abort()
}

/// Removes the temp files [`atomic_write`] leaves in `dir` (not below it) when its process is
/// killed mid-write, once they are older than `min_age`: a younger one may be a write in
/// progress by another process on the same folder. Symlinks and other non-regular entries
/// are left alone. Returns how many were removed; a folder that cannot be read removes none.
pub fn sweep_temp_files(dir: &Path, min_age: std::time::Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= min_age);
        if meta.file_type().is_file() && old && fs::remove_file(e.path()).is_ok() {
            tracing::debug!("removed {}, left by a write that was cut off", e.path().display());
            removed += 1;
        }
    }
    removed
}

/// Makes a folder's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub").join("a.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        atomic_write_files(&d.path().join("sub"), &[("b.md", b"b"), ("c.html", b"c")]).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let mut names: Vec<String> = fs::read_dir(d.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "b.md", "c.html"]);
    }

    #[test]
    fn only_old_temp_files_are_swept() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join(".tmp-old");
        for name in [".tmp-old", ".tmp-young", "report.json"] {
            fs::write(d.path().join(name), b"x").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        fs::write(d.path().join("kept"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.path().join("kept"), d.path().join(".tmp-link")).unwrap();
        assert_eq!(sweep_temp_files(d.path(), std::time::Duration::from_secs(600)), 1);
        assert!(!old.exists());
        assert!(d.path().join(".tmp-young").exists() && d.path().join("kept").exists());
        assert_eq!(
            sweep_temp_files(&d.path().join("missing"), std::time::Duration::ZERO),
            0
        );
    }

    #[test]
    fn an_unwritable_place_names_the_path() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        fs::write(&file, b"x").unwrap();
        let e = atomic_write(&file.join("under-a-file"), b"y").unwrap_err();
        assert!(e.to_string().contains("under-a-file") || e.path == file, "{e}");
    }
}
