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

/// Writes `bytes` to a temporary file in `dir`, syncs it and renames it to `path`.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(at(dir))?;
    tmp.write_all(bytes).map_err(at(path))?;
    tmp.as_file().sync_all().map_err(at(path))?;
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
    fn an_unwritable_place_names_the_path() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        fs::write(&file, b"x").unwrap();
        let e = atomic_write(&file.join("under-a-file"), b"y").unwrap_err();
        assert!(e.to_string().contains("under-a-file") || e.path == file, "{e}");
    }
}
