//! The workspace: where everything of one root lives ([`Paths`]) and what a command needs to
//! work on it ([`Context`]: settings and watchlist, loaded by [`load_context`]). A low module:
//! every stage may use it, it uses none of them.

use std::path::{Path, PathBuf};

use crate::settings::Settings;
use crate::watchlist::Watchlist;

/// Where a run reads and writes: everything under one root.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The root (`--root`).
    pub root: PathBuf,
}

impl Paths {
    /// Paths under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `citewatch.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("citewatch.toml")
    }
    /// `watchlist/`.
    pub fn watchlist(&self) -> PathBuf {
        self.root.join("watchlist")
    }
    /// `snapshots/`.
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// `reports/`.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }
}

/// What a run needs: where, with which settings and watchlist.
#[derive(Debug, Clone)]
pub struct Context {
    /// Root paths.
    pub paths: Paths,
    /// Loaded settings.
    pub settings: Settings,
    /// Loaded watchlist.
    pub watchlist: Watchlist,
}

/// Loads settings and watchlist under `root`; any error-level problem stops.
pub fn load_context(
    root: &Path,
) -> Result<(Context, Vec<crate::error::Diagnostic>), Vec<crate::error::Diagnostic>> {
    load_context_for(root, &[])
}

/// [`load_context`] for a run of the articles `only` (all when empty): their own files
/// only when each is `watchlist/<id>.toml` ([`Watchlist::load_named_in`]), else the whole
/// folder.
pub fn load_context_for(
    root: &Path,
    only: &[String],
) -> Result<(Context, Vec<crate::error::Diagnostic>), Vec<crate::error::Diagnostic>> {
    let paths = Paths::new(root);
    let settings = Settings::load(&paths.settings())?;
    let allow = settings.watchlist.allow_outside;
    let named = (!only.is_empty())
        .then(|| Watchlist::load_named_in(&paths.root, &paths.watchlist(), only, allow))
        .flatten();
    let (watchlist, diags) =
        named.unwrap_or_else(|| Watchlist::load_dir_in(&paths.root, &paths.watchlist(), allow));
    if diags.iter().any(crate::error::Diagnostic::is_error) {
        return Err(diags);
    }
    Ok((
        Context {
            paths,
            settings,
            watchlist,
        },
        diags,
    ))
}
