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
        let (articles, diags) = load::load_dir(dir, &load::Bounds::new(root, dir, allow_outside));
        (Watchlist { articles }, diags)
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
            .map(|(articles, diags)| (Watchlist { articles }, diags))
    }

    /// The articles of `entries`, read again from their files (under `root` and `dir` as
    /// [`Watchlist::load_dir_in`] reads them): a batch of a run. An article whose file no
    /// longer loads, or now declares another id, is left out; the problems are returned.
    pub fn load_entries(
        root: &Path,
        dir: &Path,
        allow_outside: bool,
        entries: &[&Entry],
    ) -> (Watchlist, Vec<Diagnostic>) {
        let mut files: Vec<PathBuf> = entries.iter().map(|e| e.file.clone()).collect();
        files.sort();
        files.dedup();
        let (mut articles, diags) =
            load::load_again::<Article>(files, &load::Bounds::new(root, dir, allow_outside));
        articles.retain(|a| entries.iter().any(|e| e.id == a.id));
        (Watchlist { articles }, diags)
    }

    /// The article with id `id`.
    pub fn article(&self, id: &str) -> Option<&Article> {
        self.articles.iter().find(|a| a.id.0 == id)
    }
}

/// The watchlist as a run plans it and the daemon schedules it: every article without its
/// statements, which a run reads again from the article's file when its batch comes (see
/// [`Watchlist::load_entries`]). About 150 bytes an article, where the whole [`Article`]s
/// take about 5 KB for ten statements: a desk's archive of 10,000 articles is 1.5 MB held by
/// the daemon and through a run, not 50 MB.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Entries, sorted by id.
    pub articles: Vec<Entry>,
}

/// What a [`Catalog`] keeps of an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Stable id.
    pub id: ArticleId,
    /// Headline / question.
    pub title: String,
    /// When the article was verified.
    pub checked: Option<String>,
    /// Per-article cron expression.
    pub schedule: Option<String>,
    /// The watchlist file it came from.
    pub file: PathBuf,
    /// A 64-bit hash of each cited source's URL ([`url_hash`]): enough to tell which articles
    /// share a source (they run in one batch, so a URL is fetched once per run) and how many
    /// distinct URLs a batch fetches.
    pub urls: Box<[u64]>,
}

impl Entry {
    /// What a catalog keeps of `a`.
    pub fn of(a: &Article) -> Self {
        Entry {
            id: a.id.clone(),
            title: a.title.clone(),
            checked: a.checked.clone(),
            schedule: a.schedule.clone(),
            file: a.file.clone(),
            urls: a.sources.iter().map(|s| url_hash(&s.url)).collect(),
        }
    }
}

/// A source URL's 64-bit hash, for [`Entry::urls`] (two URLs sharing one only put their
/// articles in one batch).
pub fn url_hash(url: &Url) -> u64 {
    let h = blake3::hash(url.as_str().as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
}

impl Catalog {
    /// [`Watchlist::load_dir_in`], keeping each article's [`Entry`]: the same files read and
    /// checked, with the same problems found.
    pub fn load_dir_in(root: &Path, dir: &Path, allow_outside: bool) -> (Catalog, Vec<Diagnostic>) {
        let (articles, diags) = load::load_dir(dir, &load::Bounds::new(root, dir, allow_outside));
        (Catalog { articles }, diags)
    }

    /// [`Watchlist::load_named_in`], keeping each article's [`Entry`].
    pub fn load_named_in(
        root: &Path,
        dir: &Path,
        ids: &[String],
        allow_outside: bool,
    ) -> Option<(Catalog, Vec<Diagnostic>)> {
        load::load_named(dir, ids, &load::Bounds::new(root, dir, allow_outside))
            .map(|(articles, diags)| (Catalog { articles }, diags))
    }

    /// The entry with id `id`.
    pub fn article(&self, id: &str) -> Option<&Entry> {
        self.articles
            .binary_search_by(|e| e.id.0.as_str().cmp(id))
            .ok()
            .map(|i| &self.articles[i])
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
