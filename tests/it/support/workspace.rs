//! A fresh citewatch root per test, and running the real binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary root folder with `watchlist/`.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// A new, empty root with a `watchlist/` folder.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("citewatch-it-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("watchlist")).expect("mkdir watchlist");
        Self { dir }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rel` (relative to the root), creating folders.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, contents).expect("write");
        p
    }

    /// Writes `watchlist/<name>`.
    pub fn watchlist(&self, name: &str, contents: &str) -> PathBuf {
        self.write(&format!("watchlist/{name}"), contents)
    }

    /// `citewatch --root <root> ARGS` as a command (not yet run).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_citewatch"));
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("RUST_LOG");
        c
    }

    /// Runs `citewatch --root <root> ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run citewatch")
    }

    /// Runs `check --format json` and parses the report.
    pub fn check_json(&self) -> (Output, serde_json::Value) {
        let out = self.run(&["check", "--format", "json"]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out, v)
    }
}

/// stdout and stderr of an output, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
