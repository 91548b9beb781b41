//! Shared error types: [`Diagnostic`] (a problem in a user's file, `FILE:LINE[:COL]`) and
//! the one [`Exit`] enum that decides the process exit code.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth fixing; does not stop a run.
    Warning,
    /// The file cannot be used as it is.
    Error,
}

/// A problem in a settings or watchlist file, printed as `FILE:LINE[:COL]: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, and where possible what to do.
    pub message: String,
}

impl Diagnostic {
    /// An error at `line` (1-based) of `path`.
    pub fn error(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            col: None,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A warning at `line` (1-based) of `path`.
    pub fn warning(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(path, line, message)
        }
    }

    /// Adds a column.
    pub fn with_col(mut self, col: Option<usize>) -> Self {
        self.col = col;
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Turns a TOML parse error (which carries a byte span) into `FILE:LINE:COL`.
    pub fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> Self {
        let (line, col) = match err.span() {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let message = err.message().trim().to_owned();
        Self::error(path, line, message).with_col(col)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `./watchlist/x.toml` reads better as `watchlist/x.toml`.
        let path = self.path.strip_prefix(".").unwrap_or(&self.path);
        write!(f, "{}", path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        let tag = match self.severity {
            Severity::Warning => "warning: ",
            Severity::Error => "",
        };
        write!(f, ": {tag}{}", self.message)
    }
}

/// 1-based (line, column) of byte offset `at` in `text`; the column counts characters.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..floor_char_boundary(text, at)];
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let line_start = memchr::memrchr(b'\n', before.as_bytes()).map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The first line (1-based) where `key` is assigned (`key =`), for messages about values
/// whose span serde does not keep.
pub fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The keys a TOML table may hold, for [`toml_problems`]: each key with the schema of its
/// sub-table (or of each table of an array of tables), if it is checked too. Built from the
/// serde type itself ([`Schema::of`]), so a field added to a settings struct is known here
/// without a second list to keep in step.
#[derive(Debug, Clone)]
pub struct Schema {
    /// How the table is named in messages: `[fetch]`, `[[source]]`, `the top level`.
    pub name: String,
    /// Allowed keys.
    pub keys: Vec<(&'static str, Option<Schema>)>,
}

impl Schema {
    /// The fields of the serde struct `T` (as named in TOML), none with a sub-schema yet.
    /// A type that does not deserialize as a struct gives no keys, and then its table is not
    /// checked here (serde still is).
    pub fn of<T: serde::de::DeserializeOwned>(name: &str) -> Schema {
        Schema {
            name: name.to_owned(),
            keys: serde_fields::<T>().iter().map(|k| (*k, None)).collect(),
        }
    }

    /// Also checks the keys of the sub-table(s) under `key`.
    pub fn with(mut self, key: &str, sub: Schema) -> Schema {
        if let Some(slot) = self.keys.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = Some(sub);
        }
        self
    }
}

/// The field names serde expects for struct `T`, found by asking `T` to deserialize itself
/// from a deserializer that only records the names.
fn serde_fields<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    struct Recorder<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names recorded")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> serde::Deserializer<'de> for Recorder<'_> {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Recorder(&mut fields));
    fields
}

/// Parses `text` as TOML and checks every key against `schema`. Returns every syntax error
/// (the parser recovers and goes on) and every unknown key, each with its line and column,
/// sorted by position. An empty result means serde can deserialize the text without
/// stumbling over syntax or unknown keys; value errors are serde's to report.
pub fn toml_problems(path: &Path, text: &str, schema: &Schema) -> Vec<Diagnostic> {
    let (doc, errors) = toml::de::DeTable::parse_recoverable(text);
    let mut out: Vec<(usize, Diagnostic)> = errors
        .iter()
        .map(|e| {
            (
                e.span().map_or(0, |s| s.start),
                Diagnostic::from_toml(path, text, e),
            )
        })
        .collect();
    if out.is_empty() {
        unknown_keys(path, text, doc.get_ref(), schema, &mut out);
    }
    out.sort_by_key(|(at, _)| *at);
    out.dedup_by(|a, b| a.1.line == b.1.line && a.1.message == b.1.message);
    out.into_iter().map(|(_, d)| d).collect()
}

/// `text` with every key `schema` does not know blanked out (key and value replaced by
/// spaces, line breaks kept), so the rest of the file can still be read and checked with its
/// positions unchanged. `None` when that leaves no valid TOML (or there is a syntax error).
pub fn blank_unknown_keys(text: &str, schema: &Schema) -> Option<String> {
    let (doc, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return None;
    }
    let mut spans = Vec::new();
    unknown_spans(doc.get_ref(), schema, &mut spans);
    let mut bytes = text.as_bytes().to_vec();
    for (a, b) in spans {
        for c in bytes.get_mut(a..b)? {
            if *c != b'\n' && *c != b'\r' {
                *c = b' ';
            }
        }
    }
    let out = String::from_utf8(bytes).ok()?;
    out.parse::<toml::Table>().is_ok().then_some(out)
}

fn unknown_spans(table: &toml::de::DeTable<'_>, schema: &Schema, out: &mut Vec<(usize, usize)>) {
    if schema.keys.is_empty() {
        return;
    }
    for (key, value) in table.iter() {
        match schema.keys.iter().find(|(k, _)| *k == key.get_ref().as_ref()) {
            None => out.push((key.span().start, value.span().end.max(key.span().end))),
            Some((_, Some(sub))) => match value.get_ref() {
                toml::de::DeValue::Table(t) => unknown_spans(t, sub, out),
                toml::de::DeValue::Array(items) => {
                    for item in items.iter() {
                        if let toml::de::DeValue::Table(t) = item.get_ref() {
                            unknown_spans(t, sub, out);
                        }
                    }
                }
                _ => {}
            },
            Some((_, None)) => {}
        }
    }
}

fn unknown_keys(
    path: &Path,
    text: &str,
    table: &toml::de::DeTable<'_>,
    schema: &Schema,
    out: &mut Vec<(usize, Diagnostic)>,
) {
    // No field names known (a type serde reads as a map, e.g. with `flatten`): leave the
    // table to serde's own unknown-field check rather than reject every key.
    if schema.keys.is_empty() {
        return;
    }
    for (key, value) in table.iter() {
        let name: &str = key.get_ref();
        match schema.keys.iter().find(|(k, _)| *k == name) {
            None => {
                let span = key.span();
                let (line, col) = line_col(text, span.start);
                let known: Vec<&'static str> = schema.keys.iter().map(|(k, _)| *k).collect();
                let hint = match closest(name, &known) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of: {}", known.join(", ")),
                };
                out.push((
                    span.start,
                    Diagnostic::error(
                        path,
                        Some(line),
                        format!("unknown key `{name}` in {}; {hint}", schema.name),
                    )
                    .with_col(Some(col)),
                ));
            }
            Some((_, Some(sub))) => match value.get_ref() {
                toml::de::DeValue::Table(t) => unknown_keys(path, text, t, sub, out),
                toml::de::DeValue::Array(items) => {
                    for item in items.iter() {
                        if let toml::de::DeValue::Table(t) = item.get_ref() {
                            unknown_keys(path, text, t, sub, out);
                        }
                    }
                }
                _ => {}
            },
            Some((_, None)) => {}
        }
    }
}

/// The known key closest to a misspelt one (at most two edits away, or sharing a prefix of
/// three or more letters with it, as `retry` and `retries`).
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let common = |k: &str| name.chars().zip(k.chars()).take_while(|(a, b)| a == b).count();
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2 || common(k) >= 4.min(name.len().max(3)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// 1-based (line, column) of the value at `keys` (a path of table keys, e.g.
/// `["fetch", "per_host"]`), for messages about values that serde accepted but a check
/// rejected. `None` when the text does not parse or has no such key.
pub fn value_position(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let (first, rest) = keys.split_first()?;
    let mut value = doc.get_ref().get(*first)?;
    for k in rest {
        match value.get_ref() {
            toml::de::DeValue::Table(t) => value = t.get(*k)?,
            _ => return None,
        }
    }
    Some(line_col(text, value.span().start))
}

/// Process exit codes, decided in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did its job (a run completed, failed sources included).
    Ok = 0,
    /// `check --fail-on-flagged` and something is flagged; `ack` of a statement that is not
    /// flagged ([`Exit::NOT_FLAGGED`]).
    Flagged = 1,
    /// Usage or configuration error: bad flags, invalid settings or watchlist.
    Usage = 2,
    /// Could not run: the lock is held, the store is not writable, no daemon listening.
    CannotRun = 3,
}

impl Exit {
    /// `ack`: a statement named is not flagged, so there was nothing to acknowledge (the
    /// code `check --fail-on-flagged` uses for "look at this").
    pub const NOT_FLAGGED: Exit = Exit::Flagged;
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// An error that ends a command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Settings or watchlist problems, already formatted one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The run could not happen (lock held, store not writable, daemon absent).
    #[error("{0}")]
    CannotRun(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CommandError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Invalid(_) | CommandError::Usage(_) => Exit::Usage,
            CommandError::CannotRun(_) | CommandError::Other(_) => Exit::CannotRun,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 3));
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Top {
        title: String,
        source: Vec<Inner>,
        fetch: Fetch,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        cite: u32,
        url: String,
        selector: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Fetch {
        #[serde(default)]
        retries: u32,
    }

    fn top() -> Schema {
        Schema::of::<Top>("the top level")
            .with("source", Schema::of::<Inner>("[[source]]"))
            .with("fetch", Schema::of::<Fetch>("[fetch]"))
    }

    #[test]
    fn schema_from_serde_fields() {
        let s = top();
        let keys: Vec<&str> = s.keys.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["title", "source", "fetch"]);
        assert!(s.keys[1].1.is_some() && s.keys[0].1.is_none());
    }

    #[test]
    fn every_unknown_key_with_its_position() {
        let t = "title = \"x\"\nbogus = 1\n[[source]]\ncite = 1\nurl = \"u\"\n  selectr = \"a\"\n[fetch]\nretries = 1\nretry = 2\n";
        let d = toml_problems(Path::new("w.toml"), t, &top());
        let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "w.toml:2:1: unknown key `bogus` in the top level; expected one of: title, source, fetch",
                "w.toml:6:3: unknown key `selectr` in [[source]]; did you mean `selector`?",
                "w.toml:9:1: unknown key `retry` in [fetch]; did you mean `retries`?",
            ]
        );
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let t = "title = \"x\"\nfoo = [1,\n";
        let d = toml_problems(Path::new("w.toml"), t, &top());
        assert!(!d.is_empty());
        assert_eq!((d[0].line, d[0].col), (Some(2), Some(10)), "{d:?}");
    }

    #[test]
    fn finds_value_position() {
        let t = "[fetch]\n# c\nretries = 0\n";
        assert_eq!(value_position(t, &["fetch", "retries"]), Some((3, 11)));
        assert_eq!(value_position(t, &["fetch", "nope"]), None);
        let dotted = "fetch.retries = 0\n";
        assert_eq!(value_position(dotted, &["fetch", "retries"]), Some((1, 17)));
    }

    #[test]
    fn finds_assigned_key() {
        let t = "[schedule]\n  cron = \"x\"\n";
        assert_eq!(find_key_line(t, "cron"), Some(2));
        assert_eq!(find_key_line(t, "crontab"), None);
    }
}
