//! Reading and checking one watchlist file.
//!
//! Two passes over the TOML: [`toml_problems`] first (every syntax error and every unknown
//! key, each with its line and column), then serde into the `Raw*` types, whose `Spanned`
//! fields give the position of every value a later check rejects. Markers in the prose are
//! reported at their own line and column, in the `.md` file when `article_file` is used.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{Article, ArticleId, CiteNo, Entry, Quote, Source, Statement, split, statement_id};
use crate::error::{Diagnostic, Schema, line_col, toml_problems};
use crate::extract::{MAX_IGNORE_PER_SOURCE, MAX_IGNORE_TOTAL_BYTES, MAX_SELECTOR_LEN};

/// An `ignore` pattern that compiled, with the memory it takes and where it is.
#[derive(Debug, Clone)]
pub(super) struct PatternCost {
    pattern: String,
    bytes: usize,
    line: usize,
    col: usize,
}

/// The keys a watchlist file may hold, taken from the `Raw*` types below.
fn article_schema() -> Schema {
    Schema::of::<RawArticle>("the article")
        .with("source", Schema::of::<RawSource>("[[source]]"))
        .with("statement", Schema::of::<RawStatement>("[[statement]]"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArticle {
    id: Option<Spanned<String>>,
    title: Spanned<String>,
    checked: Option<Spanned<toml::Value>>,
    schedule: Option<Spanned<String>>,
    article: Option<Spanned<String>>,
    article_file: Option<Spanned<String>>,
    #[serde(default)]
    source: Vec<RawSource>,
    #[serde(default)]
    statement: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    cite: Spanned<u32>,
    url: Spanned<String>,
    selector: Option<Spanned<String>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
    /// `"http"` or `"browser"`; absent: `[fetch] render` decides.
    render: Option<crate::watchlist::RenderMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    text: Spanned<String>,
    cites: Spanned<Vec<u32>>,
    #[serde(default)]
    evidence: Vec<Spanned<RawQuote>>,
}

/// `"words"`, or `{ cite = 1, quote = "words" }` for a quote of one cited source.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawQuote {
    Plain(String),
    Cited(CitedQuote),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CitedQuote {
    cite: u32,
    quote: String,
}

/// Largest watchlist or article file read, in bytes (4 MiB; the seed's is 6 KB).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Where watchlist files and article files may be read from: the root folder and the
/// watchlist folder (which may be a symbolic link to elsewhere), both canonical.
#[derive(Debug, Clone)]
pub(super) struct Bounds {
    root: PathBuf,
    inside: Vec<PathBuf>,
    allow_outside: bool,
}

impl Bounds {
    pub(super) fn new(root: &Path, dir: &Path, allow_outside: bool) -> Self {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        Self {
            root: root.to_path_buf(),
            inside: vec![canon(root), canon(dir)],
            allow_outside,
        }
    }

    /// No bound (for a single file read on its own).
    #[cfg(test)]
    fn anywhere() -> Self {
        Self {
            root: PathBuf::from("."),
            inside: Vec::new(),
            allow_outside: true,
        }
    }

    /// `None` when `path` (which exists) may be read, else where it leads.
    fn outside(&self, path: &Path) -> Option<PathBuf> {
        if self.allow_outside {
            return None;
        }
        let real = std::fs::canonicalize(path).ok()?;
        (!self.inside.iter().any(|i| real.starts_with(i))).then_some(real)
    }

    fn outside_message(&self, what: &str, real: &Path) -> String {
        format!(
            "{what} leads to {}, outside the root folder {}: move it in, or set \
             [watchlist] allow_outside = true in citewatch.toml",
            real.display(),
            self.root.display()
        )
    }
}

/// What a file that is not a regular one is, for messages.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Why a file could not be read.
#[derive(Debug)]
enum ReadProblem {
    NotRegular(&'static str),
    TooLarge(u64),
    Io(std::io::Error),
}

impl std::fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRegular(kind) => write!(f, "is {kind}, not a regular file"),
            Self::TooLarge(n) => write!(
                f,
                "is {n} bytes, more than the {} MiB a watchlist or article file may have",
                MAX_FILE_BYTES >> 20
            ),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] as UTF-8. Anything else (a FIFO, whose
/// opening would block; a device such as `/dev/zero`, which never ends) is refused before
/// reading a byte, also when it replaced the file after the folder was listed.
fn read_regular(path: &Path) -> Result<String, ReadProblem> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::metadata(path).map_err(ReadProblem::Io)?;
    if !meta.is_file() {
        return Err(ReadProblem::NotRegular(kind_of(meta.file_type())));
    }
    // Non-blocking, so that a FIFO swapped in meanwhile does not wait for a writer.
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(ReadProblem::Io)?;
    let meta = file.metadata().map_err(ReadProblem::Io)?;
    if !meta.is_file() {
        return Err(ReadProblem::NotRegular(kind_of(meta.file_type())));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadProblem::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadProblem::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadProblem::TooLarge(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| {
        ReadProblem::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// What loading keeps of each article: the whole [`Article`] (`validate`, `add`, a batch
/// of a run) or its [`Entry`] (what a run plans from and the daemon schedules by).
pub(super) trait Kept: Send + Sized {
    /// What is kept of `a`.
    fn keep(a: Article) -> Self;
    /// Its article id.
    fn id(&self) -> &ArticleId;
}

impl Kept for Article {
    fn keep(a: Article) -> Self {
        a
    }
    fn id(&self) -> &ArticleId {
        &self.id
    }
}

impl Kept for Entry {
    fn keep(a: Article) -> Self {
        Entry::of(&a)
    }
    fn id(&self) -> &ArticleId {
        &self.id
    }
}

pub(super) fn load_dir<T: Kept>(dir: &Path, bounds: &Bounds) -> (Vec<T>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::error(
                dir,
                None,
                format!("cannot read the watchlist folder: {e}"),
            ));
            return (Vec::new(), diags);
        }
    };
    let mut files = Vec::new();
    let mut seen_any = false;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        seen_any = true;
        if entry.file_name().to_string_lossy().starts_with('.') {
            diags.push(Diagnostic::warning(
                &path,
                None,
                "hidden file skipped (an editor's lock or backup file?)",
            ));
            continue;
        }
        // Follows a symbolic link; opens nothing.
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => {
                diags.push(Diagnostic::warning(
                    &path,
                    None,
                    format!(
                        "{}, not a regular file: skipped, not opened",
                        kind_of(m.file_type())
                    ),
                ));
                continue;
            }
            Ok(_) => {}
            // Read below, for its message (a dangling link).
            Err(_) => {}
        }
        let link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if link && let Some(real) = bounds.outside(&path) {
            diags.push(Diagnostic::error(
                &path,
                None,
                bounds.outside_message("this symbolic link", &real),
            ));
            continue;
        }
        files.push(path);
    }
    files.sort();
    if !seen_any {
        diags.push(Diagnostic::warning(
            dir,
            None,
            "no watchlist files (*.toml) here: nothing to check",
        ));
    }
    let (articles, more) = load_files(files, bounds);
    diags.extend(more);
    (articles, diags)
}

/// `watchlist/<id>.toml` for each of `ids`, loaded as [`load_dir`] loads them, when every
/// one is there (a regular file, inside the bounds) and declares that id or none; `None`
/// otherwise (the caller then reads the whole folder).
pub(super) fn load_named<T: Kept>(
    dir: &Path,
    ids: &[String],
    bounds: &Bounds,
) -> Option<(Vec<T>, Vec<Diagnostic>)> {
    let mut files = Vec::new();
    for id in ids {
        if article_id_problem(id).is_some() || id.starts_with('.') {
            return None;
        }
        let path = dir.join(format!("{id}.toml"));
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files.sort();
    let (articles, diags) = load_files::<T>(files, bounds);
    let all_there = ids.iter().all(|id| articles.iter().any(|a| &a.id().0 == id));
    (all_there && articles.len() == ids.iter().collect::<HashSet<_>>().len()).then_some((articles, diags))
}

/// `files`, listed before by [`load_dir`], read again (a batch of a run): one that became a
/// symbolic link leading outside the bounds since is refused, as [`load_dir`] refuses it.
pub(super) fn load_again<T: Kept>(files: Vec<PathBuf>, bounds: &Bounds) -> (Vec<T>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let files = files
        .into_iter()
        .filter(|path| {
            let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            match link.then(|| bounds.outside(path)).flatten() {
                Some(real) => {
                    diags.push(Diagnostic::error(
                        path,
                        None,
                        bounds.outside_message("this symbolic link", &real),
                    ));
                    false
                }
                None => true,
            }
        })
        .collect();
    let (articles, more) = load_files(files, bounds);
    diags.extend(more);
    (articles, diags)
}

/// Reads and parses `files` (sorted), checking ids and the `ignore` budget across them. A
/// file's text is dropped once it is parsed (only the line of its `id` is kept, for the
/// message of a duplicate), and each article is reduced to what `T` keeps of it right away:
/// the memory of a load is what it keeps, not the files.
pub(super) fn load_files<T: Kept>(files: Vec<PathBuf>, bounds: &Bounds) -> (Vec<T>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut articles: Vec<T> = Vec::new();
    // Files are read and parsed on every core (a watchlist of a thousand statements takes
    // a single core about 20 ms); ids are then checked in file order.
    let loaded = par_map(&files, |file| {
        let text = read_regular(file)?;
        let (article, d, patterns) = load_file_costed(file, &text, bounds);
        let id_line = article
            .as_ref()
            .map(|_| crate::error::find_key_line(&text, "id").unwrap_or(1));
        Ok::<_, ReadProblem>((id_line, article.map(T::keep), d, patterns))
    });
    // Article id → the first file that uses it.
    let mut ids: BTreeMap<ArticleId, PathBuf> = BTreeMap::new();
    // The memory of the distinct `ignore` patterns so far (run compiles each once).
    let mut seen_patterns: HashSet<String> = HashSet::new();
    let mut pattern_bytes = 0usize;
    let mut over_budget = false;
    for (file, loaded) in files.into_iter().zip(loaded) {
        let (id_line, article, d, patterns) = match loaded {
            Ok(l) => l,
            Err(e) => {
                diags.push(Diagnostic::error(&file, None, format!("cannot read: {e}")));
                continue;
            }
        };
        diags.extend(d);
        for p in patterns {
            if over_budget || !seen_patterns.insert(p.pattern) {
                continue;
            }
            pattern_bytes += p.bytes;
            if pattern_bytes > MAX_IGNORE_TOTAL_BYTES {
                over_budget = true;
                diags.push(
                    Diagnostic::error(
                        &file,
                        Some(p.line),
                        format!(
                            "the watchlist's ignore patterns take more than {} MiB compiled \
                             together with this one ({} KiB); use fewer or simpler patterns \
                             (ASCII classes such as `[0-9A-Za-z_]` instead of `\\w`)",
                            MAX_IGNORE_TOTAL_BYTES >> 20,
                            p.bytes.div_ceil(1024)
                        ),
                    )
                    .with_col(Some(p.col)),
                );
            }
        }
        let Some(a) = article else { continue };
        if let Some(first) = ids.get(a.id()) {
            diags.push(Diagnostic::error(
                &file,
                id_line,
                format!(
                    "article id `{}` is already used by {}; ids must be unique",
                    a.id(),
                    first.display()
                ),
            ));
            continue;
        }
        ids.insert(a.id().clone(), file.clone());
        articles.push(a);
    }
    articles.sort_by(|a, b| a.id().cmp(b.id()));
    articles.shrink_to_fit();
    (articles, diags)
}

/// `f` over `items` on up to one thread per core, results in the order of `items`.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if items.len() < 2 || cores < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Where the prose came from, to turn a byte offset in it into `FILE:LINE:COL`.
struct ProseMap<'a> {
    /// The file messages name: the `.md` file, or the watchlist file for inline prose.
    file: PathBuf,
    /// That file's text.
    file_text: &'a str,
    /// Byte offset of the prose's first character in `file_text`.
    start: usize,
    /// For prose written with escapes: the offset (from `start`) in the file of each byte of
    /// the prose. `None` when the prose appears verbatim.
    offsets: Option<Vec<usize>>,
}

impl ProseMap<'_> {
    /// 1-based (line, column) in the file of prose offset `at`.
    fn position(&self, at: usize) -> (usize, Option<usize>) {
        let raw = match &self.offsets {
            None => at,
            Some(map) => map.get(at).copied().unwrap_or(0),
        };
        let (l, c) = line_col(self.file_text, self.start + raw);
        (l, Some(c))
    }
}

/// The map for an inline `article = ...` string whose token spans `span`.
fn inline_map<'a>(path: &Path, text: &'a str, span: Range<usize>, value: &str) -> ProseMap<'a> {
    let raw = &text[span.clone()];
    let literal = raw.starts_with('\'');
    let delim = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        1
    };
    let mut start = span.start + delim;
    // TOML drops a newline right after the opening delimiter of a multi-line string.
    if delim == 3 {
        if text[start..].starts_with("\r\n") {
            start += 2;
        } else if text[start..].starts_with('\n') {
            start += 1;
        }
    }
    let end = span.end.saturating_sub(delim).max(start);
    let content = &text[start..end];
    let offsets = if literal || content == value {
        None
    } else {
        match unescape_with_offsets(content, delim == 3) {
            Some((unescaped, map)) if unescaped == value => Some(map),
            // Should not happen; point at the string's start rather than somewhere wrong.
            _ => Some(Vec::new()),
        }
    };
    ProseMap {
        file: path.to_path_buf(),
        file_text: text,
        start,
        offsets,
    }
}

/// Decodes the escapes of a TOML basic string, keeping for every output byte the offset of
/// the source text it came from. `None` on an escape TOML would have rejected.
fn unescape_with_offsets(raw: &str, multiline: bool) -> Option<(String, Vec<usize>)> {
    let mut out = String::with_capacity(raw.len());
    let mut map = Vec::with_capacity(raw.len());
    let mut push = |out: &mut String, c: char, at: usize| {
        out.push(c);
        map.resize(out.len(), at);
    };
    let mut it = raw.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            push(&mut out, c, i);
            continue;
        }
        let (_, e) = it.next()?;
        let simple = match e {
            'b' => Some('\u{8}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(ch) = simple {
            push(&mut out, ch, i);
            continue;
        }
        match e {
            'u' | 'U' | 'x' => {
                let n = match e {
                    'u' => 4,
                    'U' => 8,
                    _ => 2,
                };
                let mut hex = String::new();
                for _ in 0..n {
                    hex.push(it.next()?.1);
                }
                push(&mut out, char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?, i);
            }
            // A line-ending backslash eats the newline and the white space after it.
            w if multiline && w.is_whitespace() => {
                while it.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    it.next();
                }
            }
            _ => return None,
        }
    }
    Some((out, map))
}

/// Parses and checks one watchlist file. Returns the article when it has no errors.
#[cfg(test)]
pub fn load_file(path: &Path, text: &str) -> (Option<Article>, Vec<Diagnostic>) {
    let (article, diags, _) = load_file_costed(path, text, &Bounds::anywhere());
    (article, diags)
}

/// [`load_file`] within `bounds`, plus the `ignore` patterns that compiled with what each
/// costs.
fn load_file_costed(
    path: &Path,
    text: &str,
    bounds: &Bounds,
) -> (Option<Article>, Vec<Diagnostic>, Vec<PatternCost>) {
    let mut patterns = Vec::new();
    let (article, diags) = load_file_inner(path, text, bounds, &mut patterns);
    (article, diags, patterns)
}

fn load_file_inner(
    path: &Path,
    text: &str,
    bounds: &Bounds,
    patterns: &mut Vec<PatternCost>,
) -> (Option<Article>, Vec<Diagnostic>) {
    let problems = toml_problems(path, text, &article_schema());
    if !problems.is_empty() {
        // Unknown keys do not hide the file's other problems: the rest is checked too.
        let Some(rest) = crate::error::blank_unknown_keys(text, &article_schema()) else {
            return (None, problems);
        };
        let (_, more) = load_file_inner(path, &rest, bounds, patterns);
        let mut all = problems;
        all.extend(more);
        all.sort_by_key(|d| (d.line, d.col));
        return (None, all);
    }
    let raw: RawArticle = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let mut d = Diagnostic::from_toml(path, text, &e);
            if d.message == "missing field `title`" {
                d.message = "missing `title`: every watchlist file needs one, such as \
                             title = \"What is the current US military role in Kosovo?\""
                    .into();
            }
            return (None, vec![d]);
        }
    };
    let mut diags = Vec::new();
    let at = |span: Range<usize>| {
        let (l, c) = line_col(text, span.start);
        (Some(l), Some(c))
    };
    let err = |span: Range<usize>, msg: String| error_at(path, text, span, msg);

    let title = fold(raw.title.get_ref());
    if title.is_empty() {
        diags.push(err(raw.title.span(), "`title` is empty".into()));
    }
    let id = match &raw.id {
        Some(id) => {
            let v = id.get_ref();
            if let Some(why) = article_id_problem(v) {
                diags.push(err(
                    id.span(),
                    format!("id `{}` cannot be an article id: {why}; {ID_RULE}", shown(v)),
                ));
            }
            v.clone()
        }
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(why) = article_id_problem(&stem) {
                diags.push(Diagnostic::error(
                    path,
                    Some(1),
                    format!(
                        "the file name gives the article id `{}`, which cannot be one: {why}; \
                         {ID_RULE}; rename the file or give the article an `id = \"...\"`",
                        shown(&stem)
                    ),
                ));
            }
            stem
        }
    };
    let id = ArticleId(id);

    if let Some(s) = &raw.schedule
        && let Err(e) = crate::schedule::parse_cron(s.get_ref())
    {
        diags.push(err(s.span(), format!("schedule: {e}")));
    }
    let checked = match raw.checked.as_ref() {
        None => None,
        Some(v) => match v.get_ref() {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Datetime(d) => Some(d.to_string()),
            _ => {
                diags.push(err(
                    v.span(),
                    "`checked` must be a date such as \"2025-11-26\"".into(),
                ));
                None
            }
        },
    };

    let mut sources = check_sources(path, text, &raw.source, &mut diags, patterns);
    let has_source = |c: CiteNo| raw.source.iter().any(|s| *s.cite.get_ref() == c.0);

    // Statements from the prose.
    let mut statements = Vec::new();
    let mut unmarked = 0;
    let file_text;
    let prose: Option<(String, ProseMap<'_>)> = match (&raw.article, &raw.article_file) {
        (Some(_), Some(f)) => {
            diags.push(err(
                f.span(),
                "give either `article` or `article_file`, not both".into(),
            ));
            None
        }
        (Some(a), None) => Some((a.get_ref().clone(), inline_map(path, text, a.span(), a.get_ref()))),
        (None, Some(f)) => {
            let p = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
            let outside = p.exists().then(|| bounds.outside(&p)).flatten();
            let read = match outside {
                // Not a regular file is said first: it is the reason whatever the bounds.
                Some(real) if std::fs::metadata(&p).is_ok_and(|m| m.is_file()) => {
                    let what = format!("article_file `{}`", p.display());
                    diags.push(err(f.span(), bounds.outside_message(&what, &real)));
                    None
                }
                _ => Some(read_regular(&p)),
            };
            match read {
                None => None,
                Some(Ok(t)) => {
                    file_text = t;
                    Some((
                        file_text.clone(),
                        ProseMap {
                            file: p,
                            file_text: &file_text,
                            start: 0,
                            offsets: None,
                        },
                    ))
                }
                Some(Err(ReadProblem::Io(e))) if e.kind() == std::io::ErrorKind::NotFound => {
                    diags.push(err(f.span(), format!("article_file `{}` not found", p.display())));
                    None
                }
                Some(Err(e @ (ReadProblem::NotRegular(_) | ReadProblem::TooLarge(_)))) => {
                    diags.push(err(f.span(), format!("article_file `{}` {e}", p.display())));
                    None
                }
                Some(Err(e)) => {
                    diags.push(err(f.span(), format!("article_file `{}`: {e}", p.display())));
                    None
                }
            }
        }
        (None, None) => {
            if raw.statement.is_empty() {
                diags.push(Diagnostic::error(
                    path,
                    Some(1),
                    "nothing to check: give `article` (prose with [n] markers), `article_file`, \
                     or [[statement]] tables",
                ));
            }
            None
        }
    };
    if let Some((prose, map)) = &prose {
        for u in split::units(prose) {
            if u.is_unmarked_sentence() {
                unmarked += 1;
            }
            if !u.is_statement() {
                continue;
            }
            for m in &u.markers {
                for c in &m.cites {
                    if !has_source(*c) {
                        let (l, col) = map.position(m.offset);
                        diags.push(
                            Diagnostic::error(
                                &map.file,
                                Some(l),
                                format!("marker [{c}] has no [[source]] with cite = {c}"),
                            )
                            .with_col(col),
                        );
                    }
                }
            }
            statements.push(Statement {
                id: statement_id(&id, &u.text),
                text: u.text.clone(),
                cites: u.cites.clone(),
                quotes: Vec::new(),
                line: Some(map.position(u.offset).0),
            });
        }
    }

    // Explicit statements.
    for s in &raw.statement {
        let stext = fold(s.text.get_ref());
        if stext.is_empty() {
            diags.push(err(s.text.span(), "statement text is empty".into()));
            continue;
        }
        let mut cites: Vec<CiteNo> = s.cites.get_ref().iter().map(|c| CiteNo(*c)).collect();
        cites.sort();
        cites.dedup();
        if cites.is_empty() {
            diags.push(err(s.cites.span(), "a statement needs at least one cite".into()));
        }
        for c in &cites {
            if !has_source(*c) {
                diags.push(err(
                    s.cites.span(),
                    format!("cite {c} has no [[source]] with cite = {c}"),
                ));
            }
        }
        let mut quotes = Vec::new();
        for q in &s.evidence {
            let (cite, words) = match q.get_ref() {
                RawQuote::Plain(w) => (None, w),
                RawQuote::Cited(c) => (Some(CiteNo(c.cite)), &c.quote),
            };
            let norm = fold(words);
            if norm.is_empty() {
                diags.push(err(
                    q.span(),
                    "evidence quote is empty: give the exact words from the source, or remove it".into(),
                ));
                continue;
            }
            if let Some(c) = cite
                && !cites.contains(&c)
            {
                diags.push(err(
                    q.span(),
                    format!("evidence quote names cite {c}, which this statement does not cite"),
                ));
                continue;
            }
            quotes.push(Quote { cite, text: norm });
        }
        let (line, _) = line_col(text, s.text.span().start);
        let sid = statement_id(&id, &stext);
        // A table may restate a prose sentence to add quotes: merge instead of duplicating.
        if let Some(existing) = statements.iter_mut().find(|x: &&mut Statement| x.id == sid) {
            existing.quotes.extend(quotes);
            for c in cites {
                if !existing.cites.contains(&c) {
                    existing.cites.push(c);
                }
            }
            existing.cites.sort();
            continue;
        }
        statements.push(Statement {
            id: sid,
            text: stext,
            cites,
            quotes,
            line: Some(line),
        });
    }

    // The same sentence twice in one article: the second is `<id>-2`, and so on.
    let mut seen = std::collections::BTreeSet::new();
    for st in &mut statements {
        let mut n = 1;
        let base = st.id.0.clone();
        while !seen.insert(st.id.clone()) {
            n += 1;
            st.id.0 = format!("{base}-{n}");
        }
    }

    let mut warned = std::collections::BTreeSet::new();
    for s in &raw.source {
        let cite = CiteNo(*s.cite.get_ref());
        if sources.iter().any(|x| x.cite == cite)
            && !statements.iter().any(|st| st.cites.contains(&cite))
            && warned.insert(cite)
        {
            let (l, c) = at(s.cite.span());
            diags.push(
                Diagnostic::warning(path, l, format!("source [{cite}] is not cited by any statement"))
                    .with_col(c),
            );
        }
    }

    let ok = !diags.iter().any(Diagnostic::is_error);
    // (Pushed one by one, the lists hold up to twice what they need, for the whole run.)
    statements.shrink_to_fit();
    sources.shrink_to_fit();
    let article = Article {
        id,
        title,
        checked,
        schedule: raw.schedule.map(|s| s.into_inner()),
        file: path.to_path_buf(),
        statements,
        sources,
        unmarked_sentences: unmarked,
    };
    (ok.then_some(article), diags)
}

/// Longest article id, in bytes.
pub const MAX_ID_LEN: usize = 100;

/// What an article id may look like, for messages.
const ID_RULE: &str = "an id is a name such as `us-military-kosovo`: ASCII letters and digits, \
                       with `-`, `_` or `.` between them";

/// Why `id` cannot be an article id, or `None` when it can. An id names files and keys of
/// the store and is matched by `--only`, so it is a plain name: ASCII letters and digits,
/// with `-`, `_` and `.` inside (never first or last, never `..`). That rules out `:` (the
/// separator of statement ids, so `a:b` cannot collide with the statements of `a`), `/` and
/// `..` (paths), control and bidirectional-control characters, and every non-ASCII letter (a
/// Cyrillic `о` passing for a Latin `o`).
pub fn article_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("it is empty".to_owned());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !"-_.".contains(*c))
    {
        return Some(format!("{} is not allowed", describe_char(c)));
    }
    if id.len() > MAX_ID_LEN {
        return Some(format!(
            "it is {} characters long, more than {MAX_ID_LEN}",
            id.len()
        ));
    }
    if id.contains("..") {
        return Some("`..` is not allowed".to_owned());
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(id.chars().next()) || !alnum(id.chars().last()) {
        return Some("it must begin and end with a letter or a digit".to_owned());
    }
    None
}

/// A character an id may not hold, named so that an invisible or look-alike one is seen.
fn describe_char(c: char) -> String {
    let code = c as u32;
    match c {
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            format!("the bidirectional control character U+{code:04X}")
        }
        c if c.is_control() => format!("the control character U+{code:04X}"),
        c if c.is_whitespace() => format!("white space (U+{code:04X})"),
        c if !c.is_ascii() => format!(
            "the non-ASCII character U+{code:04X} (only ASCII letters, so that a look-alike \
             cannot pass for another id)"
        ),
        c => format!("`{c}`"),
    }
}

/// `s` for a message: characters that are not printable ASCII are written `\u{…}`, so a
/// bidirectional control cannot reorder the line it is printed on.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

/// An error at the position of `span` in `text`.
fn error_at(path: &Path, text: &str, span: Range<usize>, msg: String) -> Diagnostic {
    let (l, c) = line_col(text, span.start);
    Diagnostic::error(path, Some(l), msg).with_col(Some(c))
}

/// Checks every `[[source]]`; returns the usable ones (first of each cite number).
fn check_sources(
    path: &Path,
    text: &str,
    raw: &[RawSource],
    diags: &mut Vec<Diagnostic>,
    patterns: &mut Vec<PatternCost>,
) -> Vec<Source> {
    let err = |span: Range<usize>, msg: String| error_at(path, text, span, msg);
    let mut sources: Vec<Source> = Vec::new();
    let mut first_line: BTreeMap<u32, usize> = BTreeMap::new();
    for s in raw {
        let cite = CiteNo(*s.cite.get_ref());
        if let Some(first) = first_line.get(&cite.0) {
            diags.push(err(
                s.cite.span(),
                format!("duplicate cite number {cite}: the [[source]] at line {first} has it too"),
            ));
            continue;
        }
        first_line.insert(cite.0, line_col(text, s.cite.span().start).0);
        let mut ok = true;
        let url = match Url::parse(s.url.get_ref().trim()) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                diags.push(err(
                    s.url.span(),
                    format!("url `{u}`: only http and https are supported"),
                ));
                None
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                diags.push(err(s.url.span(), format!("url `{u}` has no host")));
                None
            }
            Ok(u) => Some(u),
            Err(e) => {
                diags.push(err(s.url.span(), format!("bad url `{}`: {e}", s.url.get_ref())));
                None
            }
        };
        if let Some(sel) = &s.selector {
            let v = sel.get_ref();
            let problem = if v.len() > MAX_SELECTOR_LEN {
                Some(format!(
                    "it is {} bytes long, more than {MAX_SELECTOR_LEN}: name the part of the page \
                     with a shorter selector",
                    v.len()
                ))
            } else {
                scraper::Selector::parse(v).err().map(|e| selector_error(&e))
            };
            if let Some(why) = problem {
                ok = false;
                diags.push(err(
                    sel.span(),
                    format!("bad CSS selector `{}`: {why}", abbreviated(v)),
                ));
            }
        }
        if s.ignore.len() > MAX_IGNORE_PER_SOURCE {
            ok = false;
            diags.push(err(
                s.ignore[MAX_IGNORE_PER_SOURCE].span(),
                format!(
                    "{} ignore patterns in one [[source]]: at most {MAX_IGNORE_PER_SOURCE}",
                    s.ignore.len()
                ),
            ));
        }
        for re in s.ignore.iter().take(MAX_IGNORE_PER_SOURCE) {
            match crate::extract::ignore_regex_cost(re.get_ref()) {
                Ok(bytes) => {
                    let (line, col) = line_col(text, re.span().start);
                    patterns.push(PatternCost {
                        pattern: re.get_ref().clone(),
                        bytes,
                        line,
                        col,
                    });
                }
                Err(why) => {
                    ok = false;
                    diags.push(err(
                        re.span(),
                        format!("bad ignore regex `{}`: {why}", abbreviated(re.get_ref())),
                    ));
                }
            }
        }
        if let (Some(url), true) = (url, ok) {
            sources.push(Source {
                cite,
                url,
                selector: s.selector.as_ref().map(|s| s.get_ref().clone()),
                ignore: s.ignore.iter().map(|s| s.get_ref().clone()).collect(),
                render: s.render,
            });
        }
    }
    sources
}

/// scraper's selector error in one short phrase (its catch-all variant asks the reader to
/// report a bug, which is not the user's problem here).
fn selector_error(e: &scraper::error::SelectorErrorKind) -> String {
    use scraper::error::SelectorErrorKind as K;
    match e {
        K::UnexpectedSelectorParseError(_) => "not valid CSS selector syntax".to_owned(),
        K::EndOfLine => "it ends too early".to_owned(),
        other => other.to_string().to_lowercase(),
    }
}

/// `s` for a message, cut after 80 characters.
fn abbreviated(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(80) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

/// White space folded to single spaces, trimmed.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Option<Article>, Vec<String>) {
        let (a, d) = load_file(Path::new("w/k.toml"), text);
        (a, d.iter().map(ToString::to_string).collect())
    }

    const SOURCES: &str = "\n[[source]]\ncite = 1\nurl = \"https://a.example/\"\n[[source]]\ncite = 2\nurl = \"https://b.example/\"\n";

    fn article(prose: &str) -> String {
        format!("title = \"T\"\narticle = \"\"\"\n{prose}\"\"\"\n{SOURCES}")
    }

    fn ids(a: &Article) -> Vec<(String, String)> {
        a.statements
            .iter()
            .map(|s| (s.text.clone(), s.id.0.clone()))
            .collect()
    }

    #[test]
    fn ids_are_stable_across_runs_and_edits_elsewhere() {
        let before = article("Troops serve in KFOR [1]. NATO leads it [2]. Camp Bondsteel is the base [1].");
        let (a1, d) = load(&before);
        assert!(d.is_empty(), "{d:?}");
        let a1 = a1.unwrap();
        let (a2, _) = load(&before);
        assert_eq!(ids(&a1), ids(&a2.unwrap()));
        // Edit the middle statement, add one in front, change cites and spacing elsewhere.
        let after = article(
            "New opening claim [2].\n\nTroops   serve in KFOR [2]. NATO commands it [2]. Camp Bondsteel is the base [1].",
        );
        let (a3, d) = load(&after);
        assert!(d.is_empty(), "{d:?}");
        let a3 = a3.unwrap();
        let id_of = |a: &Article, t: &str| a.statements.iter().find(|s| s.text == t).unwrap().id.clone();
        for kept in ["Troops serve in KFOR.", "Camp Bondsteel is the base."] {
            assert_eq!(id_of(&a1, kept), id_of(&a3, kept), "{kept}");
        }
        assert_ne!(id_of(&a1, "NATO leads it."), id_of(&a3, "NATO commands it."));
        assert!(a1.statements[0].id.0.starts_with("k:"), "id uses the file stem");
    }

    #[test]
    fn duplicate_statements_get_suffixes() {
        let (a, d) = load(&article(
            "KFOR keeps the peace [1]. Other text [2].\n\nKFOR keeps the peace [2].",
        ));
        assert!(d.is_empty(), "{d:?}");
        let a = a.unwrap();
        let first = &a.statements[0].id.0;
        assert_eq!(a.statements[2].id.0, format!("{first}-2"));
    }

    #[test]
    fn statement_table_restating_a_sentence_adds_quotes() {
        let text = format!(
            "title = \"T\"\narticle = \"Troops serve in KFOR [1].\"\n{SOURCES}\n[[statement]]\ntext = \"Troops serve in KFOR.\"\ncites = [2]\nevidence = [\"600 troops\"]\n"
        );
        let (a, d) = load(&text);
        assert!(d.is_empty(), "{d:?}");
        let a = a.unwrap();
        assert_eq!(a.statements.len(), 1);
        assert_eq!(a.statements[0].cites, [CiteNo(1), CiteNo(2)]);
        assert_eq!(a.statements[0].quotes, [Quote::plain("600 troops")]);
    }

    #[test]
    fn inline_markers_are_located_in_the_toml() {
        // Line 3 of the file is the first prose line (the newline after """ is dropped).
        let (a, d) = load(&article("Fine [1].\nTroops serve [2] and [7]."));
        assert!(a.is_none());
        assert_eq!(d, ["w/k.toml:4:22: marker [7] has no [[source]] with cite = 7"]);
        // Prose on the line of the opening quotes.
        let text = format!("title = \"T\"\narticle = \"\"\"Fine [1]. Bad [9][2].\"\"\"\n{SOURCES}");
        let (_, d) = load(&text);
        assert_eq!(d, ["w/k.toml:2:28: marker [9] has no [[source]] with cite = 9"]);
        // Escapes are decoded to find the place in the file.
        let text = format!("title = \"T\"\narticle = \"Fine [1]. \\u00e9\\nBad [9] [2].\"\n{SOURCES}");
        let (_, d) = load(&text);
        assert_eq!(d, ["w/k.toml:2:34: marker [9] has no [[source]] with cite = 9"]);
        let text = format!(
            "title = \"T\"\narticle = \"\"\"\nFine [1], \\\n   \\\"quoted\\\" [2].\n\\tBad [9].\"\"\"\n{SOURCES}"
        );
        let (_, d) = load(&text);
        assert_eq!(d, ["w/k.toml:5:7: marker [9] has no [[source]] with cite = 9"]);
    }

    #[test]
    fn article_ids_are_plain_names() {
        for ok in ["us-military-kosovo", "a", "A1", "k.2025", "fact_check-7.v2"] {
            assert_eq!(article_id_problem(ok), None, "{ok}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for (bad, why) in [
            ("", "empty"),
            ("a:b", "`:` is not allowed"),
            ("a/b", "`/` is not allowed"),
            ("a\\b", "`\\` is not allowed"),
            ("..", "`..` is not allowed"),
            ("a..b", "`..` is not allowed"),
            (".hidden", "begin and end"),
            ("trailing-", "begin and end"),
            ("a b", "white space"),
            ("a\u{7}b", "control character U+0007"),
            ("abc\u{202e}gpj", "bidirectional control character U+202E"),
            ("x\u{2067}", "bidirectional control character U+2067"),
            ("k\u{43e}sovo", "non-ASCII character U+043E"),
            ("caf\u{e9}", "non-ASCII"),
            (long.as_str(), "more than 100"),
        ] {
            let got = article_id_problem(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad:?}: {got}");
        }
    }

    #[test]
    fn bad_ids_are_errors_at_their_place() {
        let text = format!("id = \"a:b\"\n{}", article("Troops [1] [2]."));
        let (a, d) = load(&text);
        assert!(a.is_none());
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("w/k.toml:1:6: id `a:b` cannot be an article id: `:` is not allowed"),
            "{d:?}"
        );
        // From the file name; a bidi control is shown escaped.
        let (a, d) = load_file(Path::new("w/a\u{202e}b.toml"), &article("Troops [1] [2]."));
        assert!(a.is_none());
        let d: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
        assert!(
            d[0].starts_with("the file name gives the article id `a\\u{202e}b`, which cannot be one"),
            "{d:?}"
        );
        assert!(
            d[0].contains("rename the file or give the article an `id"),
            "{d:?}"
        );
        // An `id` makes the file name irrelevant.
        let text = format!("id = \"ab\"\n{}", article("Troops [1] [2]."));
        let (a, d) = load_file(Path::new("w/a:b.toml"), &text);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(a.unwrap().id.0, "ab");
    }

    #[test]
    fn counts_unmarked_sentences_not_headings() {
        let (a, _) = load(&article(
            "# Heading\n\nCited [1]. Not cited. Also cited [2].\n\n- A list item.\n",
        ));
        assert_eq!(a.unwrap().unmarked_sentences, 2);
    }

    #[test]
    fn a_catalog_keeps_what_a_run_plans_from_and_a_batch_reads_the_rest_again() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().join("watchlist");
        std::fs::create_dir(&w).unwrap();
        let file = |id: &str, url: &str| {
            format!(
                "title = \"{id}\"\nschedule = \"0 0 6 * * *\"\narticle = \"Troops numbered 600 [1].\"\n\
                 [[source]]\ncite = 1\nurl = \"{url}\"\n"
            )
        };
        std::fs::write(w.join("a.toml"), file("a", "http://one.test/p")).unwrap();
        std::fs::write(w.join("b.toml"), file("b", "http://one.test/p")).unwrap();
        // A duplicate id: the same message, at the same line, from both loads.
        std::fs::write(
            w.join("c.toml"),
            format!("id = \"a\"\n{}", file("c", "http://x.test/")),
        )
        .unwrap();
        let (wl, d1) = super::super::Watchlist::load_dir_in(d.path(), &w, false);
        let (cat, d2) = super::super::Catalog::load_dir_in(d.path(), &w, false);
        let msgs = |d: &[Diagnostic]| d.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(msgs(&d1), msgs(&d2));
        assert!(
            msgs(&d1)[0].contains("c.toml:1: article id `a` is already used by"),
            "{d1:?}"
        );
        let entries: Vec<Entry> = wl.articles.iter().map(Entry::of).collect();
        assert_eq!(cat.articles, entries);
        assert_eq!(cat.articles[0].urls, cat.articles[1].urls);
        assert_eq!(cat.article("b").map(|e| e.title.as_str()), Some("b"));
        assert!(cat.article("c").is_none());
        // A batch reads its articles whole, as they are now on disk; one that no longer
        // loads is left out.
        std::fs::write(w.join("b.toml"), "title = [").unwrap();
        let batch: Vec<&Entry> = cat.articles.iter().collect();
        let (again, problems) = super::super::Watchlist::load_entries(d.path(), &w, false, &batch);
        let ids: Vec<&str> = again.articles.iter().map(|a| a.id.0.as_str()).collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(again.articles[0].statements.len(), 1);
        assert!(
            problems
                .iter()
                .any(|p| p.is_error() && p.to_string().contains("b.toml")),
            "{problems:?}"
        );
        // One that became a link to a file outside the root since is refused, unread.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("a.toml"), file("a", "http://one.test/p")).unwrap();
        std::fs::remove_file(w.join("a.toml")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("a.toml"), w.join("a.toml")).unwrap();
        let (again, problems) = super::super::Watchlist::load_entries(d.path(), &w, false, &batch[..1]);
        assert!(again.articles.is_empty());
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains("outside the root folder")),
            "{problems:?}"
        );
    }
}
