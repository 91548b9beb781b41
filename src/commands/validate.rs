//! `citewatch validate`: loads `citewatch.toml` and every watchlist file, lists each
//! article's statements with their cites, shows what each cron expression means (with its
//! next due times), and prints every problem as `FILE:LINE[:COL]: message` on stderr.
//! Exit 0 when there are no errors (warnings allowed), 2 otherwise. Reads files only.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::control::ListenPlan;
use crate::error::{CommandError, Diagnostic, Exit};
use crate::settings::Settings;
use crate::watchlist::{Article, Watchlist};
use crate::workspace::Paths;

/// How many due times are shown per cron expression.
const SHOW_DUE: usize = 3;

/// Checks settings and watchlist; lists statements; exit 2 on any error.
pub fn validate(root: &Path) -> Result<Exit, CommandError> {
    let paths = Paths::new(root);
    let mut diags: Vec<Diagnostic> = Vec::new();
    let settings_path = paths.settings();
    let settings = match Settings::load(&settings_path) {
        Ok(s) => Some(s),
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    if let Some(s) = &settings {
        diags.extend(daemon_problems(s, &settings_path));
    }
    let allow_outside = settings.as_ref().is_some_and(|s| s.watchlist.allow_outside);
    let (wl, d) = Watchlist::load_dir_in(&paths.root, &paths.watchlist(), allow_outside);
    diags.extend(d);

    let now = Utc::now();
    let mut out = String::new();
    match &settings {
        Some(s) => {
            let state = if settings_path.exists() {
                "loaded"
            } else {
                "not found, using the defaults"
            };
            let _ = writeln!(out, "settings: {} ({state})", shown(&settings_path));
            schedule_lines(&mut out, "", "[schedule].cron", &s.schedule.cron, now);
        }
        None => {
            let _ = writeln!(out, "settings: {} has errors (see below)", shown(&settings_path));
        }
    }
    // Printed article by article: the listing of a desk's archive is tens of megabytes.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for a in &wl.articles {
        out.push('\n');
        article_lines(&mut out, a, now);
        if out.len() > 64 << 10 {
            let _ = stdout.write_all(out.as_bytes());
            out.clear();
        }
    }
    let statements: usize = wl.articles.iter().map(|a| a.statements.len()).sum();
    let urls: BTreeSet<&str> = wl
        .articles
        .iter()
        .flat_map(|a| a.sources.iter().map(|s| s.url.as_str()))
        .collect();
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let _ = writeln!(
        out,
        "\n{} article{}, {statements} statement{}, {} distinct source URL{}; {errors} error{}, {warnings} warning{}",
        wl.articles.len(),
        plural(wl.articles.len()),
        plural(statements),
        urls.len(),
        plural(urls.len()),
        plural(errors),
        plural(warnings),
    );
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    for d in &diags {
        eprintln!("{d}");
    }
    Ok(if errors > 0 { Exit::Usage } else { Exit::Ok })
}

/// The daemon's own start-up checks of `[control]` ([`ListenPlan::from_settings`]): a
/// `listen` off loopback without `token_env` is an error, as `daemon` refuses it; a
/// `token_env` naming a variable unset here is a warning (the daemon's environment may have it).
fn daemon_problems(s: &Settings, path: &Path) -> Vec<Diagnostic> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let at = |keys: &[&str]| match crate::error::value_position(&text, keys) {
        Some((l, c)) => (Some(l), Some(c)),
        None => (
            keys.last().and_then(|k| crate::error::find_key_line(&text, k)),
            None,
        ),
    };
    let strip = |m: String| {
        let prefix = format!("{}: ", path.display());
        m.strip_prefix(&prefix).map(str::to_owned).unwrap_or(m)
    };
    let mut out = Vec::new();
    // With any token, only the address rules apply.
    if let Err(m) = ListenPlan::from_settings(&s.control, path, |_| Some("set".to_owned())) {
        let (line, col) = at(&["control", "listen"]);
        out.push(Diagnostic::error(path, line, strip(m)).with_col(col));
    } else if let Err(m) = ListenPlan::from_settings(&s.control, path, |k| std::env::var(k).ok()) {
        let (line, col) = at(&["control", "token_env"]);
        out.push(
            Diagnostic::warning(
                path,
                line,
                format!(
                    "{} here; `citewatch daemon` needs it in its environment",
                    strip(m)
                ),
            )
            .with_col(col),
        );
    }
    out
}

fn article_lines(out: &mut String, a: &Article, now: DateTime<Utc>) {
    let _ = writeln!(out, "{} — {}", a.id, a.title);
    let checked = a
        .checked
        .as_ref()
        .map(|c| format!(", checked {c}"))
        .unwrap_or_default();
    let _ = writeln!(out, "  file: {}{checked}", shown(&a.file));
    let _ = writeln!(
        out,
        "  {} statement{}, {} source{}, {} sentence{} without a marker",
        a.statements.len(),
        plural(a.statements.len()),
        a.sources.len(),
        plural(a.sources.len()),
        a.unmarked_sentences,
        plural(a.unmarked_sentences),
    );
    if let Some(s) = &a.schedule {
        schedule_lines(out, "  ", "schedule", s, now);
    }
    let _ = writeln!(out, "  sources:");
    for s in &a.sources {
        let _ = writeln!(out, "    [{}] {}", s.cite, s.url);
    }
    let _ = writeln!(out, "  statements:");
    for st in &a.statements {
        let cites: String = st.cites.iter().map(|c| format!("[{c}]")).collect();
        let _ = writeln!(out, "    {} {cites} {}", st.id, st.text);
        for q in &st.quotes {
            let _ = writeln!(out, "        evidence: {q}");
        }
    }
}

/// "schedule `EXPR`: what it means" and the next due times; nothing for an invalid
/// expression (its diagnostic says why).
fn schedule_lines(out: &mut String, indent: &str, what: &str, expr: &str, now: DateTime<Utc>) {
    let Ok(c) = crate::schedule::parse_cron(expr) else {
        return;
    };
    let _ = writeln!(out, "{indent}{what} `{expr}`: {}", c.describe());
    let next: Vec<String> = c
        .upcoming(now, SHOW_DUE)
        .iter()
        .map(|t| t.format("%a %Y-%m-%d %H:%M:%S UTC").to_string())
        .collect();
    let _ = writeln!(out, "{indent}  next due: {}", next.join(", "));
}

/// A path as shown to the user: without a leading `./`.
fn shown(p: &Path) -> String {
    p.strip_prefix(".").unwrap_or(p).display().to_string()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
