//! `citewatch add URL|FILE [--id ID] [--dry-run]`: imports a published fact-check as exactly one
//! new `watchlist/<id>.toml`. Reads the page (through [`crate::fetch`], with the root's
//! `[fetch]` settings) or the file, turns it into a [`Draft`] ([`crate::import`]), loads the
//! file it would write with the watchlist loader (so what is written passes `validate`),
//! prints what it found and writes it, refusing to overwrite.

use std::io::Write as _;
use std::path::Path;

use url::Url;

use crate::cli::AddArgs;
use crate::error::{CommandError, Exit};
use crate::fetch::{Conditional, FetchOutcome, Fetcher};
use crate::import::{self, Draft};
use crate::run::Paths;
use crate::settings::Settings;
use crate::watchlist::{Article, Watchlist, article_id_problem};

/// Imports `args.source` into `watchlist/<id>.toml` under `root`.
pub async fn add(root: &Path, args: &AddArgs) -> Result<Exit, CommandError> {
    let paths = Paths::new(root);
    let draft = read_source(&paths, &args.source).await?;

    let id = match &args.id {
        Some(id) => id.clone(),
        None => draft
            .slug
            .clone()
            .or_else(|| draft.title.as_deref().map(import::slugify))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CommandError::Usage(
                    "cannot make an id from the page's address or title; name one with --id".into(),
                )
            })?,
    };
    if let Some(problem) = article_id_problem(&id) {
        return Err(CommandError::Usage(format!("--id `{id}`: {problem}")));
    }
    let dir = paths.watchlist();
    let target = dir.join(format!("{id}.toml"));
    if target.exists() {
        return Err(CommandError::Usage(format!(
            "{} already exists; choose another id with --id",
            target.display()
        )));
    }
    let (wl, _) = Watchlist::load_dir(&dir);
    if wl.article(&id).is_some() {
        return Err(CommandError::Usage(format!(
            "the watchlist already has an article with id `{id}`; choose another with --id"
        )));
    }

    print_found(&draft);
    let statements = draft.statements();
    if statements.is_empty() || draft.sources.is_empty() {
        let markers = draft
            .unresolved
            .iter()
            .filter(|u| u.starts_with("marker ["))
            .count();
        let what = match (statements.is_empty(), draft.sources.is_empty()) {
            (true, true) if markers > 0 => "[n] markers but no source URL for any of them (no source list)",
            (true, true) => "no statements and no sources",
            (true, false) => "sources but no sentence citing them",
            _ => "no source URLs for its markers",
        };
        return Err(CommandError::Usage(format!(
            "nothing to import from {}: found {what}. A page needs sentences carrying links or [n] markers with a source list; a text needs [n] markers and a list of URLs",
            args.source
        )));
    }

    let toml = draft.to_toml(&id);
    let article = check_loads(&id, &toml)?;
    println!(
        "\n{} statement{}, {} cite{}, {} source{} ({} cited by no statement)",
        article.statements.len(),
        plural(article.statements.len()),
        article.statements.iter().map(|s| s.cites.len()).sum::<usize>(),
        plural(article.statements.iter().map(|s| s.cites.len()).sum::<usize>()),
        article.sources.len(),
        plural(article.sources.len()),
        article
            .sources
            .iter()
            .filter(|s| !article.statements.iter().any(|st| st.cites.contains(&s.cite)))
            .count(),
    );
    if args.dry_run {
        println!("dry run: nothing written; {} would be:\n", target.display());
        print!("{toml}");
        return Ok(Exit::Ok);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| CommandError::CannotRun(format!("cannot create {}: {e}", dir.display())))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| CommandError::CannotRun(format!("cannot create {}: {e}", target.display())))?;
    f.write_all(toml.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CommandError::CannotRun(format!("cannot write {}: {e}", target.display())))?;
    println!(
        "wrote {}: review it, then `citewatch validate` and `citewatch check --only {id}`",
        target.display()
    );
    Ok(Exit::Ok)
}

/// The page or file as a draft; an unreachable URL or unreadable file is exit 3 with the reason.
async fn read_source(paths: &Paths, source: &str) -> Result<Draft, CommandError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url = Url::parse(source)
            .map_err(|e| CommandError::Usage(format!("`{source}` is not a valid URL: {e}")))?;
        let settings = Settings::load(&paths.settings()).map_err(CommandError::Invalid)?;
        let fetcher = Fetcher::new(&settings.fetch).map_err(CommandError::Other)?;
        return match fetcher.fetch(&url, &Conditional::default()).await {
            FetchOutcome::Fetched(page) => {
                let is_text = page.content_type.trim_start().starts_with("text/plain");
                let d = if is_text {
                    let mut d =
                        import::from_text(&crate::extract::decode(&page.body, &page.content_type), source);
                    d.slug = None;
                    d
                } else {
                    import::from_html(&page.body, &page.content_type, Some(&page.final_url))
                };
                Ok(d)
            }
            FetchOutcome::NotModified { .. } => Err(CommandError::CannotRun(format!(
                "cannot read {source}: 304 Not Modified"
            ))),
            FetchOutcome::Failed(f) => Err(CommandError::CannotRun(format!(
                "cannot read {source}: {}{}",
                f.status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(),
                f.detail
            ))),
        };
    }
    let path = Path::new(source);
    let body =
        std::fs::read(path).map_err(|e| CommandError::CannotRun(format!("cannot read {source}: {e}")))?;
    let looks_html = {
        let head = String::from_utf8_lossy(&body[..body.len().min(2048)]).to_ascii_lowercase();
        matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("html" | "htm" | "xhtml")
        ) || head.contains("<html")
            || head.contains("<!doctype html")
    };
    Ok(if looks_html {
        let mut d = import::from_html(&body, "text/html", None);
        d.origin = source.to_owned();
        d.slug = None;
        d
    } else {
        import::from_text(&crate::extract::decode(&body, "text/plain"), source)
    })
}

/// Loads `toml` as the watchlist loader would; an error there is a bug of the import, reported
/// with the file's text so nothing invalid is written.
fn check_loads(id: &str, toml: &str) -> Result<Article, CommandError> {
    let tmp = tempfile::tempdir().map_err(|e| CommandError::CannotRun(format!("temporary folder: {e}")))?;
    std::fs::write(tmp.path().join(format!("{id}.toml")), toml)
        .map_err(|e| CommandError::CannotRun(format!("temporary file: {e}")))?;
    let (mut wl, diags) = Watchlist::load_dir(tmp.path());
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() || wl.articles.len() != 1 {
        return Err(CommandError::Other(anyhow::anyhow!(
            "the imported file does not validate (please report this):\n{}",
            errors.join("\n")
        )));
    }
    Ok(wl.articles.remove(0))
}

fn print_found(d: &Draft) {
    println!("title: {}", d.title.as_deref().unwrap_or("(none found)"));
    println!("checked: {}", d.checked.as_deref().unwrap_or("(no date found)"));
    if d.claim_review {
        println!("ClaimReview: found");
    }
    println!("sources:");
    for (n, (u, _)) in &d.sources {
        println!("  [{n}] {u}");
    }
    println!("statements:");
    for st in d.statements() {
        let cites: String = st.cites.iter().map(|c| format!("[{c}]")).collect();
        println!("  {cites} {}", st.text);
    }
    if !d.unresolved.is_empty() {
        println!("could not resolve:");
        for u in &d.unresolved {
            println!("  {u}");
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
