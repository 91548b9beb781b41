//! `citewatch validate`.

use std::path::Path;

use chrono::Utc;

use crate::error::{CommandError, Diagnostic, Exit};
use crate::run::Paths;
use crate::settings::Settings;
use crate::watchlist::Watchlist;

/// Checks settings and watchlist; lists statements; exit 2 on any error.
pub fn validate(root: &Path) -> Result<Exit, CommandError> {
    let paths = Paths::new(root);
    let mut diags: Vec<Diagnostic> = Vec::new();
    let settings = match Settings::load(&paths.settings()) {
        Ok(s) => Some(s),
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    let (wl, d) = Watchlist::load_dir(&paths.watchlist());
    diags.extend(d);
    if let Some(s) = &settings
        && let Ok(c) = crate::schedule::parse_cron(&s.schedule.cron)
    {
        let next: Vec<String> = c.upcoming(Utc::now(), 3).iter().map(|t| t.to_rfc3339()).collect();
        println!("schedule `{}`: next runs {}", s.schedule.cron, next.join(", "));
    }
    for a in &wl.articles {
        println!(
            "{} — {} ({} statements, {} sources, {} sentences without a marker)",
            a.id,
            a.title,
            a.statements.len(),
            a.sources.len(),
            a.unmarked_sentences
        );
        if let Some(s) = &a.schedule
            && let Ok(c) = crate::schedule::parse_cron(s)
        {
            let next: Vec<String> = c.upcoming(Utc::now(), 3).iter().map(|t| t.to_rfc3339()).collect();
            println!("  schedule `{s}`: next runs {}", next.join(", "));
        }
        for st in &a.statements {
            let cites: Vec<String> = st.cites.iter().map(|c| format!("[{c}]")).collect();
            println!("  {} {} {}", st.id, cites.join(""), st.text);
        }
    }
    for d in &diags {
        eprintln!("{d}");
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Ok(Exit::Usage);
    }
    Ok(Exit::Ok)
}
