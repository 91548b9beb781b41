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
        write!(f, "{}", self.path.display())?;
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
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
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

/// Process exit codes, decided in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did its job (a run completed, failed sources included).
    Ok = 0,
    /// `check --fail-on-flagged` and something is flagged.
    Flagged = 1,
    /// Usage or configuration error: bad flags, invalid settings or watchlist.
    Usage = 2,
    /// Could not run: the lock is held, the store is not writable, no daemon listening.
    CannotRun = 3,
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

    #[test]
    fn finds_assigned_key() {
        let t = "[schedule]\n  cron = \"x\"\n";
        assert_eq!(find_key_line(t, "cron"), Some(2));
        assert_eq!(find_key_line(t, "crontab"), None);
    }
}
