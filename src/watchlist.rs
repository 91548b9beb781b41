//! `watchlist/*.toml` → [`Watchlist`] of [`Article`]s, each with its [`Statement`]s and
//! [`Source`]s.
//!
//! One fact-check per file. Statements come from the article prose (every sentence that
//! carries `[n]` markers) plus explicit `[[statement]]` tables. Statement ids are derived
//! from the article id and the statement's normalised text, so they are stable across runs
//! and when other statements are edited. No network here; only the watchlist files are read.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Diagnostic;

pub mod split;

/// An article's id (the `id` key, or the file stem).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(pub String);

/// A statement's stable id: `<article-id>:<8 hex digits of its normalised text>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StatementId(pub String);

/// A citation number, as in `[3]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CiteNo(pub u32);

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(ArticleId, StatementId, CiteNo);

/// Every article of the watchlist folder.
#[derive(Debug, Clone, Default)]
pub struct Watchlist {
    /// Articles, sorted by id.
    pub articles: Vec<Article>,
}

/// One fact-check.
#[derive(Debug, Clone)]
pub struct Article {
    /// Stable id.
    pub id: ArticleId,
    /// Headline / question.
    pub title: String,
    /// When the article was verified (free text, usually a date).
    pub checked: Option<String>,
    /// Per-article cron expression, overriding `[schedule].cron`.
    pub schedule: Option<String>,
    /// The watchlist file it came from.
    pub file: PathBuf,
    /// Statements with their cites, in article order.
    pub statements: Vec<Statement>,
    /// Cited sources, by cite number.
    pub sources: Vec<Source>,
    /// Sentences of the prose that carry no citation marker.
    pub unmarked_sentences: usize,
}

/// A claim of the article and the sources it cites.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Stable id.
    pub id: StatementId,
    /// The statement's text without citation markers.
    pub text: String,
    /// Cited sources.
    pub cites: Vec<CiteNo>,
    /// Exact quotes from its sources that back it (`evidence = [...]`), if given.
    pub quotes: Vec<Quote>,
    /// Line in the watchlist file (or article file) where it starts, for messages.
    pub line: Option<usize>,
}

/// An `evidence` quote: exact words of a source that back a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The cite it is in (`{cite = 1, quote = "…"}`); `None` for a plain string, which
    /// applies to whichever cited source contains it.
    pub cite: Option<CiteNo>,
    /// The words.
    pub text: String,
}

impl Quote {
    /// A plain quote, for any cited source.
    pub fn plain(text: impl Into<String>) -> Self {
        Quote {
            cite: None,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Quote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cite {
            Some(c) => write!(f, "[{c}] \"{}\"", self.text),
            None => write!(f, "\"{}\"", self.text),
        }
    }
}

/// A cited source.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Its citation number.
    pub cite: CiteNo,
    /// Where it lives.
    pub url: Url,
    /// CSS selector narrowing the watched part of the page.
    pub selector: Option<String>,
    /// Regexes; matching extracted lines are ignored.
    pub ignore: Vec<String>,
    /// How the page is read (`render = "http" | "browser"`); `None`: `[fetch] render` decides.
    pub render: Option<RenderMode>,
}

/// A source's `render`: read the static HTML only, or the page as a headless browser renders
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RenderMode {
    /// The HTTP answer as it is, never rendered (not even by `[fetch] render = "auto"`).
    Http,
    /// Always rendered in the browser (after the HTTP fetch that gives status and failures).
    Browser,
}

impl Article {
    /// The source with cite number `cite`.
    pub fn source(&self, cite: CiteNo) -> Option<&Source> {
        self.sources.iter().find(|s| s.cite == cite)
    }
}

impl Watchlist {
    /// Loads every `*.toml` file of `dir`. Returns the articles that loaded and every problem
    /// found (errors and warnings), each naming its file and line.
    pub fn load_dir(dir: &Path) -> (Watchlist, Vec<Diagnostic>) {
        let root = dir.parent().unwrap_or(Path::new("."));
        Self::load_dir_in(root, dir, false)
    }

    /// [`Watchlist::load_dir`] for the root folder `root`: watchlist files and article files
    /// must lie under it (or under `dir`) unless `allow_outside` (`[watchlist]
    /// allow_outside`). Only regular files of at most [`MAX_FILE_BYTES`] are read; other
    /// files in `dir` are skipped with a warning, never opened.
    pub fn load_dir_in(root: &Path, dir: &Path, allow_outside: bool) -> (Watchlist, Vec<Diagnostic>) {
        load::load_dir(dir, &load::Bounds::new(root, dir, allow_outside))
    }

    /// Only the articles `ids`, each from its own file `dir/<id>.toml`, when every one is
    /// there and declares that id (or none): what `check --only` reads, so a run of one
    /// article does not parse the whole archive. `None` when any is missing or elsewhere;
    /// the caller then loads the whole folder ([`Watchlist::load_dir_in`]). A second file
    /// declaring the same id is not seen here; `validate` and every full run report it.
    pub fn load_named_in(
        root: &Path,
        dir: &Path,
        ids: &[String],
        allow_outside: bool,
    ) -> Option<(Watchlist, Vec<Diagnostic>)> {
        load::load_named(dir, ids, &load::Bounds::new(root, dir, allow_outside))
    }

    /// The article with id `id`.
    pub fn article(&self, id: &str) -> Option<&Article> {
        self.articles.iter().find(|a| a.id.0 == id)
    }
}

mod load;
pub use load::{MAX_FILE_BYTES, MAX_ID_LEN, article_id_problem};

/// Derives a statement's stable id from its article and text.
pub fn statement_id(article: &ArticleId, text: &str) -> StatementId {
    let norm: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let hash = blake3::hash(norm.as_bytes());
    StatementId(format!("{}:{}", article.0, &hash.to_hex()[..8]))
}
