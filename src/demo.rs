//! `citewatch demo`: the README's first command. Offline and in seconds: serves bundled,
//! realistic copies of the seed fact-check's ten sources on 127.0.0.1, runs a baseline check
//! in a fresh demo root, applies edits like those that happen in the wild, re-checks with the
//! same pipeline as `check`, and prints the summary and where the report and mail are.
//!
//! With `--serve` ([`start_sources`] then the daemon on the demo root) the sources stay up:
//! they are files under `<root>/demo-pages/` a person may edit, and the sources' own page on
//! 127.0.0.1 has buttons that apply the demo's edits again or restore the originals.
//!
//! The edits: a troop figure revised in [1] (600 → 350), a paragraph deleted from [3], [10] gone 404, a
//! redesign of [4] that moves paragraphs and changes menus and timestamps only, and new
//! timestamps on every page. Only the first three must be flagged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};

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

/// The folder of the source pages, `<root>/demo-pages/` (`N.html`; a missing file is a 404).
type Pages = Arc<PathBuf>;

fn page_file(pages: &Path, n: u32) -> PathBuf {
    pages.join(format!("{n}.html"))
}

fn read_page(pages: &Path, n: u32) -> Option<String> {
    std::fs::read_to_string(page_file(pages, n)).ok()
}

/// Writes the bundled pages as they were before the edits.
fn restore(pages: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(pages)?;
    for (n, p) in PAGES {
        std::fs::write(page_file(pages, n), p)?;
    }
    Ok(())
}

/// Serves the demo's sources from `<root>/demo-pages/` on 127.0.0.1 (a random port) on a
/// thread of its own, for as long as the process lives; writes the bundled pages there
/// first. Returns the address.
pub fn start_sources(root: &Path) -> anyhow::Result<SocketAddr> {
    let pages: Pages = Arc::new(root.join("demo-pages"));
    restore(&pages)?;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    std::thread::Builder::new()
        .name("demo-sources".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::error!("demo sources: cannot start a runtime: {e}"),
            };
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/", axum::routing::get(index))
                    .route("/edits", axum::routing::post(post_edits))
                    .route("/restore", axum::routing::post(post_restore))
                    .route("/source/{n}", axum::routing::get(serve_page))
                    .with_state(pages);
                match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, app).await {
                            tracing::error!("demo sources: {e}");
                        }
                    }
                    Err(e) => tracing::error!("demo sources: {e}"),
                }
            });
        })?;
    Ok(addr)
}

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

/// Runs the demo in `dir` (created; must be empty or absent), its sources served from
/// [`start_sources`] at `addr`.
pub async fn run_demo(dir: &Path, addr: SocketAddr) -> anyhow::Result<DemoOutcome> {
    std::fs::create_dir_all(dir.join("watchlist"))?;
    let pages = dir.join("demo-pages");
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

    apply_edits(&pages)?;
    let recheck = run::run_check(&ctx, req, None).await?;
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

/// The edits of the demo, as they happen in the wild, made to the files of `pages`.
fn apply_edits(pages: &Path) -> std::io::Result<()> {
    for (n, _) in PAGES {
        let Some(mut page) = read_page(pages, n) else {
            continue;
        };
        page = page.replace(OLD_STAMP, NEW_STAMP);
        match n {
            // [1] The troop figure is revised.
            1 => page = page.replace("more than 600 troops", "more than 350 troops"),
            // [3] A paragraph is deleted.
            3 => {
                let start = page.find("<p>In Kosovo, the exercise").unwrap_or(0);
                if start > 0
                    && let Some(len) = page[start..].find("</p>")
                {
                    page.replace_range(start..start + len + 4, "");
                }
            }
            // [4] A redesign: menus, order and timestamps change; the text does not.
            4 => page = PAGE_4_REDESIGN.to_owned(),
            _ => {}
        }
        std::fs::write(page_file(pages, n), page)?;
    }
    // [10] The page is gone.
    match std::fs::remove_file(page_file(pages, 10)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn serve_page(State(pages): State<Pages>, UrlPath(n): UrlPath<String>) -> impl IntoResponse {
    let n: u32 = n.trim_end_matches(".html").parse().unwrap_or(0);
    match read_page(&pages, n) {
        Some(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The sources' own page: the ten pages, where their files are, and the two buttons.
async fn index(State(pages): State<Pages>) -> impl IntoResponse {
    let folder = pages.display().to_string();
    maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "citewatch demo: the sources" }
                style { "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;line-height:1.5;padding:0 1rem}button{font-size:1rem;padding:.4rem .9rem;margin-right:.5rem}code{background:#f3f3f3;padding:0 .2rem}" }
            }
            body {
                h1 { "The demo's ten sources" }
                p {
                    "These pages stand in for the sources of the fact-check "
                    em { "us-military-kosovo" } ". Each is a file in " code { (folder) }
                    ": edit one (change a figure, delete a paragraph), then press "
                    strong { "Re-check now" } " on citewatch's page."
                }
                form method="post" action="/edits" style="display:inline" {
                    button type="submit" { "Apply the demo's edits" }
                }
                form method="post" action="/restore" style="display:inline" {
                    button type="submit" { "Restore the original pages" }
                }
                ol {
                    @for (n, _) in PAGES {
                        li {
                            a href={ "/source/" (n) } { "Source [" (n) "]" }
                            @if read_page(&pages, n).is_none() { " (gone: answers 404)" }
                        }
                    }
                }
            }
        }
    }
}

async fn post_edits(State(pages): State<Pages>) -> impl IntoResponse {
    match apply_edits(&pages) {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot edit the pages: {e}"),
        )
            .into_response(),
    }
}

async fn post_restore(State(pages): State<Pages>) -> impl IntoResponse {
    match restore(&pages) {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot restore the pages: {e}"),
        )
            .into_response(),
    }
}
