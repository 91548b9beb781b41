//! The workspace: where everything of one root lives ([`Paths`]) and what a command needs to
//! work on it ([`Context`]: settings and watchlist, loaded by [`load_context`]). A low module:
//! every stage may use it, it uses none of them.

use std::path::{Path, PathBuf};

use crate::settings::Settings;
use crate::watchlist::{Article, Catalog, Entry, Watchlist};

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
    /// The watchlist's articles without their statements ([`Catalog`]): a run reads each
    /// batch's articles whole with [`Context::articles`].
    pub watchlist: Catalog,
}

impl Context {
    /// The articles of `entries`, read whole from their files. One whose file changed since
    /// the context was loaded and no longer loads is left out, with a warning naming the
    /// problem (the daemon reloads the watchlist and reports it in full).
    pub fn articles(&self, entries: &[&Entry]) -> Vec<Article> {
        let (wl, diags) = Watchlist::load_entries(
            &self.paths.root,
            &self.paths.watchlist(),
            self.settings.watchlist.allow_outside,
            entries,
        );
        for d in diags.iter().filter(|d| d.is_error()) {
            tracing::warn!("{d}");
        }
        for e in entries.iter().filter(|e| wl.article(&e.id.0).is_none()) {
            tracing::warn!(
                "article `{}` ({}) no longer loads: not checked in this run",
                e.id,
                e.file.display()
            );
        }
        wl.articles
    }
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
        .then(|| Catalog::load_named_in(&paths.root, &paths.watchlist(), only, allow))
        .flatten();
    let (watchlist, diags) =
        named.unwrap_or_else(|| Catalog::load_dir_in(&paths.root, &paths.watchlist(), allow));
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
