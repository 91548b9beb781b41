//! `citewatch demo`: the README's first command. Offline and in seconds: serves bundled,
//! realistic copies of the seed fact-check's ten sources on 127.0.0.1, runs a baseline check
//! in a fresh demo root, applies edits like those that happen in the wild, re-checks with the
//! same pipeline as `check`, and prints the summary and where the report and mail are.
//!
//! The edits: a troop figure revised in [1] (600 → 350), a paragraph deleted from [3], [10] gone 404, a
//! redesign of [4] that moves paragraphs and changes menus and timestamps only, and new
//! timestamps on every page. Only the first three must be flagged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::report::{RunReport, Trigger};
use crate::run::{self, RunRequest};

/// The watchlist entry the demo watches (the repository's own seed entry).
const SEED_TOML: &str = include_str!("../watchlist/us-military-kosovo.toml");
/// Its prose.
const SEED_MD: &str = include_str!("../watchlist/us-military-kosovo.md");

/// Bundled copies of the ten sources, by cite number.
const PAGES: [(u32, &str); 10] = [
    (1, include_str!("../demo/pages/1.html")),
    (2, include_str!("../demo/pages/2.html")),
    (3, include_str!("../demo/pages/3.html")),
    (4, include_str!("../demo/pages/4.html")),
    (5, include_str!("../demo/pages/5.html")),
    (6, include_str!("../demo/pages/6.html")),
    (7, include_str!("../demo/pages/7.html")),
    (8, include_str!("../demo/pages/8.html")),
    (9, include_str!("../demo/pages/9.html")),
    (10, include_str!("../demo/pages/10.html")),
];
/// [4] after a redesign: same text, new menus and order.
const PAGE_4_REDESIGN: &str = include_str!("../demo/pages/4-redesign.html");

const OLD_STAMP: &str = "2025-11-26 08:00:00 UTC";
const NEW_STAMP: &str = "2025-12-03 17:42:10 UTC";

type Pages = Arc<Mutex<HashMap<u32, Option<String>>>>;

/// What the demo did, for the caller to print or test.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The demo root.
    pub root: PathBuf,
    /// The baseline run.
    pub baseline: RunReport,
    /// The re-check after the edits.
    pub recheck: RunReport,
}

/// Runs the demo in `dir` (created; must be empty or absent).
pub async fn run_demo(dir: &Path) -> anyhow::Result<DemoOutcome> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!("{} is not empty: give a new folder with --dir", dir.display());
    }
    std::fs::create_dir_all(dir.join("watchlist"))?;

    let pages: Pages = Arc::new(Mutex::new(
        PAGES.iter().map(|(n, p)| (*n, Some((*p).to_owned()))).collect(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/source/{n}", axum::routing::get(serve_page))
        .with_state(pages.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    write_root(dir, &format!("http://{addr}"))?;
    let (ctx, _) = crate::workspace::load_context(dir).map_err(|d| {
        anyhow::anyhow!(
            "the bundled watchlist does not load: {}",
            d.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        )
    })?;

    let req = RunRequest {
        trigger: Trigger::Manual,
        ..RunRequest::manual()
    };
    let baseline = run::run_check(&ctx, req.clone(), None).await?;

    apply_edits(&pages);
    let recheck = run::run_check(&ctx, req, None).await?;
    server.abort();
    Ok(DemoOutcome {
        root: dir.to_path_buf(),
        baseline,
        recheck,
    })
}

/// Writes `citewatch.toml` and the seed watchlist entry pointing at the local server.
fn write_root(dir: &Path, base: &str) -> anyhow::Result<()> {
    std::fs::write(
        dir.join("citewatch.toml"),
        "# Written by `citewatch demo`: the bundled sources are served on 127.0.0.1.\n\
         [fetch]\ntimeout_secs = 5\nretries = 0\n",
    )?;
    let mut entry: toml::Table = toml::from_str(SEED_TOML)?;
    entry.insert(
        "article_file".into(),
        toml::Value::String("us-military-kosovo.md".into()),
    );
    if let Some(toml::Value::Array(sources)) = entry.get_mut("source") {
        for s in sources {
            if let Some(t) = s.as_table_mut() {
                let cite = t.get("cite").and_then(toml::Value::as_integer).unwrap_or(0);
                t.insert("url".into(), toml::Value::String(format!("{base}/source/{cite}")));
            }
        }
    }
    std::fs::write(
        dir.join("watchlist/us-military-kosovo.toml"),
        toml::to_string(&entry)?,
    )?;
    std::fs::write(dir.join("watchlist/us-military-kosovo.md"), SEED_MD)?;
    Ok(())
}

/// The edits of the demo, as they happen in the wild.
fn apply_edits(pages: &Pages) {
    let mut p = pages.lock().expect("demo pages");
    for page in p.values_mut().flatten() {
        *page = page.replace(OLD_STAMP, NEW_STAMP);
    }
    // [1] The troop figure is revised.
    if let Some(Some(page)) = p.get_mut(&1) {
        *page = page.replace("more than 600 troops", "more than 350 troops");
    }
    // [3] A paragraph is deleted.
    if let Some(Some(page)) = p.get_mut(&3) {
        let start = page.find("<p>In Kosovo, the exercise").unwrap_or(0);
        if start > 0
            && let Some(len) = page[start..].find("</p>")
        {
            page.replace_range(start..start + len + 4, "");
        }
    }
    // [4] A redesign: menus, order and timestamps change; the text does not.
    p.insert(4, Some(PAGE_4_REDESIGN.to_owned()));
    // [10] The page is gone.
    p.insert(10, None);
}

async fn serve_page(State(pages): State<Pages>, UrlPath(n): UrlPath<String>) -> impl IntoResponse {
    let n: u32 = n.trim_end_matches(".html").parse().unwrap_or(0);
    let page = pages.lock().expect("demo pages").get(&n).cloned().flatten();
    match page {
        Some(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
