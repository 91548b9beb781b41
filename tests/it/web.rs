//! Sources as the real web serves them: failure kinds, bot walls, soft 404s, and pages whose
//! text a script inserts, read in the real headless browser (Debian's
//! chromium-headless-shell; `.ci/run` installs it). See: issue 13.

use std::time::{Duration, Instant};

use crate::support::{PageServer, Response, Workspace, workspace::show};

const TROOPS: &str =
    "The United States contributes about 600 soldiers to KFOR as of 2025, most of them at Camp Bondsteel.";
const OTHER: &str =
    "The weather in Pristina was mild during the spring, with occasional rain in the valleys.";
const STATEMENT: &str = "About 600 U.S. soldiers serve in KFOR as of 2025 [1].";

fn page(title: &str, body: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><nav>Menu Home About</nav><article>{body}</article><footer>Generated 12:00</footer></body></html>"
    )
}

fn troops_page() -> String {
    page("KFOR", &format!("<p>{TROOPS}</p><p>{OTHER}</p>"))
}

/// One article citing `url` as [1]; `extra` goes into its `[[source]]`.
fn watch(ws: &Workspace, url: &str, extra: &str) {
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle = \"\"\"{STATEMENT}\"\"\"\n[[source]]\ncite = 1\nurl = \"{url}\"\n{extra}\n"
        ),
    );
}

fn check(ws: &Workspace) -> serde_json::Value {
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    v
}

/// `/a` anchored once; then `change` is applied and the source checked again.
fn anchored_then(change: impl FnOnce(&PageServer)) -> (PageServer, Workspace, serde_json::Value) {
    let srv = PageServer::start();
    srv.set("/news/kfor", Response::html(&troops_page()));
    let ws = Workspace::new();
    watch(&ws, &srv.url("/news/kfor"), "");
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    change(&srv);
    let v = check(&ws);
    (srv, ws, v)
}

fn assert_unreachable_as(v: &serde_json::Value, failure: &str) {
    let src = &v["sources"][0];
    assert_eq!(src["outcome"], "error", "{v:#}");
    assert_eq!(src["failure"], failure, "{v:#}");
    assert_eq!(src["rendered"], false, "{v:#}");
    let st = &v["statements"][0];
    assert_eq!(st["status"], "source_unreachable", "{v:#}");
    assert_eq!(st["flagged"], true, "{v:#}");
}

/// A transient failure (`[fetch] fail_after = 2`, the default): the first failed run keeps
/// the previous verdict, unflagged, and says "failing 1 of 2"; the second flags it.
fn assert_waits_then_unreachable_as(ws: &Workspace, v: &serde_json::Value, failure: &str) {
    let src = &v["sources"][0];
    assert_eq!(src["outcome"], "error", "{v:#}");
    assert_eq!(src["failure"], failure, "{v:#}");
    let st = &v["statements"][0];
    assert_eq!(st["status"], "unchanged", "{v:#}");
    assert_eq!(st["flagged"], false, "{v:#}");
    let note = st["evidence"][0]["note"].as_str().unwrap();
    assert!(note.starts_with("failing 1 of 2"), "{note}");
    let v = check(ws);
    assert_unreachable_as(&v, failure);
    assert_eq!(v["statements"][0]["new"], true, "{v:#}");
}

#[test]
fn plain_failures_have_their_kind() {
    let (_srv, _ws, v) = anchored_then(|srv| srv.set("/news/kfor", Response::status(410)));
    assert_unreachable_as(&v, "not_found");
    let (_srv, ws, v) = anchored_then(|srv| srv.set("/news/kfor", Response::status(500)));
    assert_eq!(v["sources"][0]["http_status"], 500);
    assert_waits_then_unreachable_as(&ws, &v, "http_status");
    // `fail_after = 1` flags at the first failure, as before.
    let (srv, ws, _) = anchored_then(|_| {});
    ws.write("citewatch.toml", "[fetch]\nfail_after = 1\nretries = 0\n");
    srv.set("/news/kfor", Response::status(503));
    let v = check(&ws);
    assert_unreachable_as(&v, "http_status");
}

#[test]
fn challenge_pages_are_blocked_never_judged() {
    let cloudflare = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><noscript>Enable JavaScript and cookies to continue</noscript><script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1\"></script></body></html>";
    let (srv, ws, v) = anchored_then(|srv| {
        srv.set(
            "/news/kfor",
            Response::html(cloudflare)
                .with_status(403)
                .header("cf-mitigated", "challenge"),
        )
    });
    assert_waits_then_unreachable_as(&ws, &v, "blocked");
    let err = v["sources"][0]["error"].as_str().unwrap();
    assert!(err.contains("cf-mitigated: challenge"), "{err}");
    assert_eq!(srv.hits("/news/kfor"), 3, "a challenge is not retried");
    // A 200 answer that is a challenge all the same, and an "Access denied" 503.
    let (_srv, ws, v) = anchored_then(|srv| srv.set("/news/kfor", Response::html(cloudflare)));
    assert_waits_then_unreachable_as(&ws, &v, "blocked");
    assert!(
        v["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("Just a moment"),
        "{v:#}"
    );
    let akamai = "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>You don't have permission to access this page. Reference #18.2f</BODY></HTML>";
    let (_srv, ws, v) = anchored_then(|srv| srv.set("/news/kfor", Response::html(akamai).with_status(503)));
    assert_waits_then_unreachable_as(&ws, &v, "blocked");
}

#[test]
fn three_kinds_of_soft_404() {
    // A redirect to the site's home page: the landing page is the final URL.
    let (srv, _ws, v) = anchored_then(|srv| {
        srv.set(
            "/",
            Response::html(&page("Example News", "<p>Welcome to our news site.</p>")),
        );
        srv.set("/news/kfor", Response::redirect(301, "/"));
    });
    assert_unreachable_as(&v, "soft_404");
    assert_eq!(v["sources"][0]["final_url"], srv.url("/"), "{v:#}");
    assert_eq!(v["sources"][0]["http_status"], 200, "{v:#}");
    // A redirect to a 404-like path.
    let (_srv, _ws, v) = anchored_then(|srv| {
        srv.set(
            "/errors/notfound",
            Response::html(&page("Example News", "<p>Sorry.</p>")),
        );
        srv.set("/news/kfor", Response::redirect(302, "/errors/notfound"));
    });
    assert_unreachable_as(&v, "soft_404");
    // A 200 page whose title says not found (German here), and one whose heading does.
    let (_srv, _ws, v) = anchored_then(|srv| {
        srv.set(
            "/news/kfor",
            Response::html(&page(
                "Seite nicht gefunden | Beispiel",
                "<p>Die Seite gibt es nicht mehr.</p>",
            )),
        )
    });
    assert_unreachable_as(&v, "soft_404");
    let (_srv, _ws, v) = anchored_then(|srv| {
        srv.set(
            "/news/kfor",
            Response::html(&page(
                "Example News",
                "<h1>Oops! Page not found</h1><p>Try the search.</p>",
            )),
        )
    });
    assert_unreachable_as(&v, "soft_404");
    // A site that answers every URL with one page: the random sibling gets the same page.
    let (srv, _ws, v) = anchored_then(|srv| {
        let one = Response::html(&page(
            "Example News",
            &format!("<p>{OTHER}</p><p>Browse our latest stories.</p>"),
        ));
        srv.set_fallback(one.clone());
        srv.set("/news/kfor", one);
    });
    assert_unreachable_as(&v, "soft_404");
    assert!(
        v["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("citewatch-probe-"),
        "{v:#}"
    );
    assert_eq!(srv.hits("/news/kfor"), 2);
}

#[test]
fn removed_evidence_stands_when_the_site_answers_a_real_404() {
    let (_srv, _ws, v) = anchored_then(|srv| {
        srv.set(
            "/news/kfor",
            Response::html(&page("KFOR", &format!("<p>{OTHER}</p>"))),
        )
    });
    assert_eq!(v["statements"][0]["status"], "evidence_removed", "{v:#}");
    assert_eq!(v["sources"][0]["failure"], serde_json::Value::Null);
}

/// A page whose article a script writes in; `n` is the troop figure in the script.
fn scripted(n: u32, extra_script: &str) -> String {
    format!(
        r#"<html><head><title>KFOR</title></head><body><nav>Menu Home About</nav><article id="story"></article>
<script>
setTimeout(function () {{
  var a = document.getElementById("story");
  a.innerHTML = "<p>The United States contributes about {n} soldiers to KFOR as of 2025, most of them at Camp Bondsteel.</p><p>{OTHER}</p>";
}}, 150);
{extra_script}
</script></body></html>"#
    )
}

fn browser_settings(ws: &Workspace, extra: &str) {
    ws.write(
        "citewatch.toml",
        &format!("[fetch]\ntimeout_secs = 10\nretries = 0\n{extra}\n[browser]\nwait_secs = 5\n"),
    );
}

fn rendered_page_is_anchored_then_judged(render_line: &str) {
    let srv = PageServer::start();
    srv.set("/live", Response::html(&scripted(600, "")));
    let ws = Workspace::new();
    browser_settings(&ws, "");
    watch(&ws, &srv.url("/live"), render_line);
    let v = check(&ws);
    assert_eq!(v["sources"][0]["rendered"], true, "{v:#}");
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    assert_eq!(v["statements"][0]["evidence"][0]["anchored"], true, "{v:#}");
    // The HTTP fetch, then the browser's, both with the run's User-Agent.
    let agents: Vec<String> = srv
        .request_headers("/live")
        .iter()
        .map(|h| {
            h.get("user-agent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(agents.len(), 2, "{agents:?}");
    assert!(agents.iter().all(|a| a.starts_with("citewatch/")), "{agents:?}");
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
    srv.set("/live", Response::html(&scripted(350, "")));
    let v = check(&ws);
    let st = &v["statements"][0];
    assert_eq!(st["status"], "evidence_changed", "{v:#}");
    assert!(
        st["evidence"][0]["after"].as_str().unwrap().contains("350"),
        "{v:#}"
    );
    assert_eq!(v["sources"][0]["rendered"], true);
}

#[test]
fn script_rendered_page_in_the_browser_explicitly() {
    rendered_page_is_anchored_then_judged("render = \"browser\"");
}

#[test]
fn script_rendered_page_found_by_auto() {
    rendered_page_is_anchored_then_judged("");
}

#[test]
fn render_never_and_http_sources_stay_static() {
    let srv = PageServer::start();
    srv.set("/live", Response::html(&scripted(600, "")));
    let ws = Workspace::new();
    browser_settings(&ws, "render = \"never\"");
    watch(&ws, &srv.url("/live"), "");
    let v = check(&ws);
    assert_eq!(v["sources"][0]["rendered"], false, "{v:#}");
    let ws = Workspace::new();
    browser_settings(&ws, "");
    watch(&ws, &srv.url("/live"), "render = \"http\"");
    let v = check(&ws);
    assert_eq!(v["sources"][0]["rendered"], false, "{v:#}");
    // A page with its text in the HTML needs no browser, scripts or not.
    srv.set(
        "/static",
        Response::html(&troops_page().replace("</body>", "<script>var x = 1;</script></body>")),
    );
    let ws = Workspace::new();
    browser_settings(&ws, "");
    watch(&ws, &srv.url("/static"), "");
    let out = ws.run(&["-v", "check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["rendered"], false, "{v:#}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("headless browser started"),
        "no browser for a run that needs none: {}",
        show(&out)
    );
}

#[test]
fn a_page_that_never_settles_ends_within_wait_secs() {
    let srv = PageServer::start();
    // Changes its DOM every 50 ms, forever.
    let ticking = "var i = 0; setInterval(function () { document.title = 'x'; var s = document.getElementById('tick') || document.body.appendChild(document.createElement('span')); s.id = 'tick'; s.textContent = 'tick ' + (i++); }, 50);";
    srv.set("/ticking", Response::html(&scripted(600, ticking)));
    let ws = Workspace::new();
    browser_settings(&ws, "");
    watch(&ws, &srv.url("/ticking"), "render = \"browser\"");
    let started = Instant::now();
    let v = check(&ws);
    let took = started.elapsed();
    // wait_secs = 5, plus starting the browser and the run itself on a busy machine (well
    // under the 15 s the browser would be given before it counts as hung).
    assert!(took < Duration::from_secs(5 + 12), "took {took:?}");
    assert!(
        took >= Duration::from_secs(4),
        "waited for the page to settle: {took:?}"
    );
    assert_eq!(v["sources"][0]["rendered"], true, "read as it was: {v:#}");
    assert_eq!(v["statements"][0]["evidence"][0]["anchored"], true, "{v:#}");
}

#[test]
fn a_missing_browser_fails_only_the_sources_that_need_it() {
    let srv = PageServer::start();
    srv.set("/live", Response::html(&scripted(600, "")));
    srv.set("/static", Response::html(&troops_page()));
    let ws = Workspace::new();
    ws.write(
        "citewatch.toml",
        "[fetch]\nretries = 0\n[browser]\npath = \"/nonexistent/chromium\"\n",
    );
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle = \"\"\"{STATEMENT}\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\nrender = \"browser\"\n\n[[source]]\ncite = 2\nurl = \"{}\"\n",
            srv.url("/live"),
            srv.url("/static")
        ),
    );
    let v = check(&ws);
    let live = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["url"] == srv.url("/live"))
        .unwrap();
    assert_eq!(live["failure"], "render", "{v:#}");
    assert!(
        live["error"].as_str().unwrap().contains("/nonexistent/chromium"),
        "{v:#}"
    );
    let stat = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["url"] == srv.url("/static"))
        .unwrap();
    assert_eq!(stat["outcome"], "new", "{v:#}");
}
