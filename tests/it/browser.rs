//! The daemon's page in a real browser: Debian's headless Chromium (`chromium-headless-shell`)
//! driven over the DevTools protocol (chromiumoxide) against the daemon on 127.0.0.1. It loads
//! the page, presses "Re-check now", acknowledges a flagged statement from the page, follows a
//! report link, and checks that a form on another origin is refused. Never skipped: without the
//! browser the tests fail and say how to install it (`.ci/run` does). See: issue 15.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures_util::StreamExt;

use crate::daemon::{Daemon, article, free_port, page, settings};
use crate::support::{PageServer, Response, Workspace};

/// The browser binary: `CITEWATCH_CHROMIUM`, else Debian's headless shell.
fn chromium() -> PathBuf {
    let p = std::env::var_os("CITEWATCH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium-headless-shell"));
    assert!(
        p.is_file(),
        "{} not found: the browser tests need Debian's headless Chromium (apt-get install chromium-headless-shell), or CITEWATCH_CHROMIUM=/path/to/chromium",
        p.display()
    );
    p
}

/// A headless browser with its own profile folder; closed when the test ends.
struct Chromium {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    async fn launch() -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium())
            .user_data_dir(profile.path())
            .no_sandbox()
            .window_size(1200, 1000)
            // Two cores shared with the rest of the suite: a cold start can be slow.
            .launch_timeout(Duration::from_secs(90))
            .request_timeout(Duration::from_secs(60))
            .arg("--disable-gpu")
            .arg("--disable-dev-shm-usage")
            .build()
            .expect("browser config");
        let (browser, mut events) = Browser::launch(config).await.expect("launch chromium");
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        Self {
            browser,
            handler,
            _profile: profile,
        }
    }

    async fn open(&self, url: &str) -> Page {
        let page = self.browser.new_page(url).await.expect("new page");
        page.wait_for_navigation().await.expect("navigation");
        page
    }

    async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// The page's HTML once it contains `needle` (a form post navigates; the run takes a moment).
async fn wait_for_text(page: &Page, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let html = page.content().await.unwrap_or_default();
        if html.contains(needle) {
            return html;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "page never showed {needle:?}; it shows:\n{html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

/// A full-page PNG under the test target folder, for a person to look at.
async fn screenshot(page: &Page, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let params = ScreenshotParams::builder()
        .format(CaptureScreenshotFormat::Png)
        .full_page(true)
        .build();
    let png = page.screenshot(params).await.expect("screenshot");
    std::fs::write(dir.join(name), png).expect("write screenshot");
}

/// `<a href="/reports/ID">` after "Run ": the run id the result page names.
fn run_id_in(html: &str) -> String {
    let at = html.find("href=\"/reports/").expect("a report link");
    html[at + 15..at + 36].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_button_ack_and_report_link_in_chromium() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 600 U.S. soldiers serve in KFOR.</p><p>Camp Bondsteel is the base.</p>",
        )),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 1 1 *", "");
    article(&ws, "k", &srv.url("/a"));
    let mut d = tokio::task::block_in_place(|| Daemon::start(&ws, port, &[]));
    let home = format!("http://127.0.0.1:{port}/");
    let chrome = Chromium::launch().await;

    // First visit: nothing run yet; the button takes the baseline.
    let tab = chrome.open(&home).await;
    let html = wait_for_text(&tab, "Re-check now").await;
    assert!(html.contains("No runs yet."), "{html}");
    click(&tab, "form[action='/recheck'] button[type=submit]").await;
    let html = wait_for_text(&tab, "Re-check finished").await;
    let first = run_id_in(&html);
    assert!(
        ws.root()
            .join("reports")
            .join(&first)
            .join("report.json")
            .is_file(),
        "{first}"
    );

    // The source is revised; the button re-checks and the statement is flagged.
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 350 U.S. soldiers serve in KFOR.</p><p>Camp Bondsteel is the base.</p>",
        )),
    );
    tab.goto(home.as_str()).await.expect("goto");
    wait_for_text(&tab, &first).await;
    click(&tab, "form[action='/recheck'] button[type=submit]").await;
    let html = wait_for_text(&tab, "Re-check finished").await;
    assert!(html.contains("1 flagged"), "{html}");
    let second = run_id_in(&html);
    assert_ne!(first, second);

    // The page lists it with its history and an ack control; the last runs carry times.
    tab.goto(home.as_str()).await.expect("goto");
    let html = wait_for_text(&tab, "Statements flagged now (1)").await;
    assert!(html.contains("Flagged since "), "{html}");
    assert!(html.contains("Baseline set "), "{html}");
    let stamp = regex::Regex::new(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>").unwrap();
    assert_eq!(stamp.find_iter(&html).count(), 2, "two runs with times: {html}");
    screenshot(&tab, "page-flagged.png").await;

    // Acknowledge from the page, with a name.
    tab.find_element("form.ack input[name=by]")
        .await
        .expect("name field")
        .click()
        .await
        .expect("focus")
        .type_str("Desk editor")
        .await
        .expect("type");
    click(&tab, "form.ack button[type=submit]").await;
    let html = wait_for_text(&tab, "<h1>Acknowledged</h1>").await;
    assert!(html.contains("acknowledged by Desk editor"), "{html}");
    assert!(html.contains("About 600 U.S. soldiers serve in KFOR."), "{html}");
    screenshot(&tab, "acknowledged.png").await;

    // Back on the page: no longer flagged; who acked is shown.
    tab.goto(home.as_str()).await.expect("goto");
    let html = wait_for_text(&tab, "Statements flagged now (0)").await;
    assert!(html.contains("Recently acknowledged"), "{html}");
    assert!(html.contains("Desk editor"), "{html}");
    let index = crate::support::store::index(ws.root()).to_string();
    assert!(index.contains("ack by Desk editor"), "{index}");

    // The report link of the last run opens its report.
    click(&tab, &format!("a[href='/reports/{second}']")).await;
    wait_for_text(&tab, "citewatch re-check report").await;
    screenshot(&tab, "report.png").await;

    // The next re-check agrees: nothing flagged.
    tab.goto(home.as_str()).await.expect("goto");
    wait_for_text(&tab, "Re-check now").await;
    click(&tab, "form[action='/recheck'] button[type=submit]").await;
    let html = wait_for_text(&tab, "Re-check finished").await;
    assert!(html.contains("0 flagged"), "{html}");

    // Nothing the browser did was refused.
    let log = d.log();
    assert!(!log.contains("refused"), "{log}");
    chrome.close().await;
    tokio::task::block_in_place(|| d.wait_for("nothing", || true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_on_another_origin_is_refused_in_chromium() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 1 1 *", "");
    article(&ws, "k", &srv.url("/a"));
    let mut d = tokio::task::block_in_place(|| Daemon::start(&ws, port, &[]));
    // Another port of 127.0.0.1: same site, another origin.
    srv.set(
        "/evil",
        Response::html(&format!(
            "<html><body><h1>Win a prize</h1>\
             <form method=post action=\"http://127.0.0.1:{port}/recheck\"><button id=r type=submit>Claim</button></form>\
             <form method=post action=\"http://127.0.0.1:{port}/ack\"><input type=hidden name=statement value=\"k:00000000\"><button id=a type=submit>Ack</button></form>\
             </body></html>"
        )),
    );
    let chrome = Chromium::launch().await;
    for button in ["#r", "#a"] {
        let tab = chrome.open(&srv.url("/evil")).await;
        wait_for_text(&tab, "Win a prize").await;
        click(&tab, button).await;
        wait_for_text(&tab, "cross-site request refused").await;
    }
    chrome.close().await;
    assert!(!ws.root().join("reports").exists(), "no run happened");
    tokio::task::block_in_place(|| d.wait_log("control request refused: cross-site"));
}
