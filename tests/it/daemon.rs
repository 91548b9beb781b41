//! `citewatch daemon` and `citewatch trigger` as real processes: schedule, control endpoint,
//! signals, the lock shared with `check`, access rules.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PageServer, Response, Workspace, workspace::show};

pub(crate) fn page(body: &str) -> String {
    format!(
        "<html><head><title>t</title></head><body><nav>Menu Home About</nav><article>{body}</article><footer>f</footer></body></html>"
    )
}

/// A port that was free a moment ago, from below the ephemeral range (see
/// `support::smtp::free_port`), so no outgoing connection takes it before the daemon binds.
pub(crate) fn free_port() -> u16 {
    crate::support::smtp::free_port()
}

/// Settings with a control port and a schedule.
pub(crate) fn settings(ws: &Workspace, listen: &str, cron: &str, extra: &str) {
    ws.write(
        "citewatch.toml",
        &format!("[schedule]\ncron = \"{cron}\"\n{extra}\n[control]\nlisten = \"{listen}\"\n"),
    );
}

/// One article citing `url`.
pub(crate) fn article(ws: &Workspace, name: &str, url: &str) {
    ws.watchlist(
        &format!("{name}.toml"),
        &format!(
            "title = \"Kosovo {name}\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{url}\"\n"
        ),
    );
}

/// A running daemon, killed (SIGKILL) when dropped so no process outlives its test.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
    port: u16,
    _logdir: tempfile::TempDir,
}

impl Daemon {
    fn spawn(ws: &Workspace, port: u16, env: &[(&str, &str)]) -> Self {
        let logdir = tempfile::tempdir().expect("tempdir");
        let log = logdir.path().join("daemon.log");
        let mut cmd = ws.cmd(&["daemon"]);
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn daemon");
        Self {
            child,
            log,
            port,
            _logdir: logdir,
        }
    }

    /// Starts a daemon and waits until `/health` answers.
    pub(crate) fn start(ws: &Workspace, port: u16, env: &[(&str, &str)]) -> Self {
        let mut d = Self::spawn(ws, port, env);
        let token = env
            .iter()
            .find(|(k, _)| *k == TOKEN_VAR)
            .map(|(_, v)| format!("Bearer {v}"));
        let headers: Vec<(&str, &str)> = token.iter().map(|t| ("Authorization", t.as_str())).collect();
        d.wait_for("the control endpoint", || {
            try_http(port, "GET", "/health", &headers, "").is_some_and(|r| r.0 == 200)
        });
        d
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Polls `cond` for up to 30 s; fails with the daemon's log.
    pub(crate) fn wait_for(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if cond() {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("daemon exited ({st}) while waiting for {what}\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}\n{}", self.log());
    }

    pub(crate) fn wait_log(&mut self, needle: &str) {
        let log = self.log.clone();
        self.wait_for(&format!("`{needle}` in the log"), || {
            std::fs::read_to_string(&log).unwrap_or_default().contains(needle)
        });
    }

    pub(crate) fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon did not exit within {within:?}\n{}", self.log());
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String, String) {
        http(self.port, "GET", path, &[], "")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TOKEN_VAR: &str = "CITEWATCH_IT_CONTROL_TOKEN";

/// One HTTP/1.1 request over a plain socket: (status, head, body). `None` if no connection.
pub(crate) fn try_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let at = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    let body = &out[at + 4..];
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunked(body)?
    } else {
        body.to_vec()
    };
    Some((status, head, String::from_utf8_lossy(&body).into_owned()))
}

/// An HTTP/1.1 chunked body, decoded (a streamed answer: the JSON of a run's report).
fn dechunked(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let rest = &body[eol + 2..];
        out.extend_from_slice(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    try_http(port, method, path, headers, body).unwrap_or_else(|| panic!("{method} {path}: no answer"))
}

pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Report folders under reports/ with their report.json.
pub(crate) fn reports(root: &Path) -> Vec<serde_json::Value> {
    let Ok(rd) = std::fs::read_dir(root.join("reports")) else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| std::fs::read(e.path().join("report.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

fn index_parses(root: &Path) {
    crate::support::store::index(root);
}

#[test]
fn scheduled_run_happens_and_health_reports_it() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "* * * * * *", "");
    article(&ws, "k", &srv.url("/a"));
    let mut d = Daemon::start(&ws, port, &[]);
    let root = ws.root().to_path_buf();
    d.wait_for("a scheduled report", || {
        reports(&root).iter().any(|r| r["trigger"] == "schedule")
    });
    d.wait_log("run finished");
    let log = d.log();
    assert!(log.contains("run started: all articles"), "{log}");
    assert!(log.contains("next scheduled run due at"), "{log}");
    let h = json(&d.get("/health").2);
    assert!(h["last_run"]["run_id"].is_string(), "{h}");
    assert_eq!(h["last_run"]["summary"]["statements"], 1, "{h}");
    assert!(h["next_due"].is_string(), "{h}");
    assert_eq!(h["outbox"], 0);
    assert!(
        ["idle", "running"].contains(&h["status"].as_str().unwrap()),
        "{h}"
    );
}

#[test]
fn trigger_recheck_page_and_reports() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 600 U.S. soldiers serve in KFOR &lt;script&gt;alert(1)&lt;/script&gt;.</p><p>Camp Bondsteel is the base.</p>",
        )),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 1 1 *", "");
    article(&ws, "k", &srv.url("/a"));
    let d = Daemon::start(&ws, port, &[]);

    // `trigger` prints the same summary as `check`.
    let out = ws.run(&["trigger"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("run "), "{stdout}");
    assert!(stdout.contains("1 statements"), "{stdout}");
    assert!(stdout.contains("report: "), "{stdout}");
    let out = ws.run(&["trigger", "--only", "k", "--format", "json"]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["trigger"], "manual");
    let out = ws.run(&["trigger", "--only", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope"),
        "{}",
        show(&out)
    );

    // The daemon holds no lock while idle: `check` runs.
    let out = ws.run(&["check"]);
    assert!(out.status.success(), "{}", show(&out));

    // The source changes: the statement is flagged.
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 350 U.S. soldiers serve in KFOR &lt;script&gt;alert(1)&lt;/script&gt;.</p><p>Camp Bondsteel is the base.</p>",
        )),
    );
    let (status, _, body) = http(port, "POST", "/recheck", &[], "");
    assert_eq!(status, 200, "{body}");
    let r = json(&body);
    assert_eq!(r["trigger"], "manual");
    assert_eq!(r["summary"]["flagged"], 1, "{r}");
    let run_id = r["run_id"].as_str().unwrap().to_owned();
    let (status, _, body) = http(port, "POST", "/recheck?only=nope", &[], "");
    assert_eq!(status, 404, "{body}");
    assert_eq!(json(&body)["kind"], "unknown_article");

    // The page: the flagged statement (source text escaped), the runs, the button.
    let (status, head, body) = d.get("/");
    assert_eq!(status, 200);
    assert!(head.to_lowercase().contains("content-security-policy"), "{head}");
    assert!(body.contains("Re-check now"), "{body}");
    assert!(
        body.contains("<form method=\"post\" action=\"/recheck\">"),
        "{body}"
    );
    assert!(body.contains("Statements flagged now (1)"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert!(!body.contains("<script"), "{body}");
    assert!(body.contains(&format!("/reports/{run_id}")), "{body}");

    // The button: a form POST answers with the summary.
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    ];
    let (status, _, body) = http(port, "POST", "/recheck", &form, "only=");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Re-check finished"), "{body}");
    assert!(!body.contains("<script"), "{body}");
    // A script posting a form (curl -d '', python's urllib) gets JSON. See: issue 15.
    let script_form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "*/*"),
    ];
    let (status, head, body) = http(port, "POST", "/recheck", &script_form, "");
    assert_eq!(status, 200, "{body}");
    assert!(head.to_lowercase().contains("application/json"), "{head}");
    assert_eq!(json(&body)["trigger"], "manual");
    // A form posted from another site is refused; so is a foreign Host (DNS rebinding).
    let evil = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "http://evil.example"),
    ];
    assert_eq!(http(port, "POST", "/recheck", &evil, "").0, 403);
    assert_eq!(http(port, "GET", "/", &[("Host", "evil.example")], "").0, 403);
    // `Origin: null` (what Chromium sends for a page with `no-referrer`) passes only with the
    // browser's own `Sec-Fetch-Site: same-origin`; another port of 127.0.0.1 is same-site.
    fn form_from<'a>(origin: &'a str, site: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if !origin.is_empty() {
            h.push(("Origin", origin));
        }
        if !site.is_empty() {
            h.push(("Sec-Fetch-Site", site));
        }
        h
    }
    let own = format!("http://127.0.0.1:{port}");
    let own = own.as_str();
    for (origin, site, want) in [
        ("null", "same-origin", 200),
        (own, "same-origin", 200),
        ("null", "", 403),
        ("null", "cross-site", 403),
        ("", "same-site", 403),
        ("http://127.0.0.1:1", "same-site", 403),
        ("http://evil.example", "same-origin", 403),
    ] {
        let (status, _, body) = http(port, "POST", "/recheck", &form_from(origin, site), "");
        assert_eq!(status, want, "Origin {origin:?}, Sec-Fetch-Site {site:?}: {body}");
    }
    assert!(
        d.log().contains("control request refused: cross-site"),
        "{}",
        d.log()
    );
    assert!(d.log().contains("Origin: http://evil.example"), "{}", d.log());

    // `/ack`: the same origin rules; names a statement; one that is not flagged is a 409.
    let (status, _, body) = http(
        port,
        "POST",
        "/ack",
        &form_from("http://evil.example", ""),
        &format!("statement={}", r["statements"][0]["id"].as_str().unwrap()),
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = http(port, "POST", "/ack", &form_from("", ""), "");
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = http(port, "POST", "/ack", &form_from("", ""), "statement=k:nope");
    assert_eq!(status, 404, "{body}");
    let sid = r["statements"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, body) = http(
        port,
        "POST",
        "/ack",
        &form_from("", ""),
        &format!("statement={sid}&by=Script"),
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["acknowledged"][0]["statement"], sid.as_str(), "{v}");
    let (status, _, body) = http(
        port,
        "POST",
        "/ack",
        &form_from("", ""),
        &format!("statement={sid}"),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["not_flagged"][0], sid.as_str());
    let (_, _, page) = d.get("/");
    assert!(page.contains("Statements flagged now (0)"), "{page}");
    assert!(page.contains("Recently acknowledged"), "{page}");
    assert!(page.contains("Script"), "{page}");

    // Reports by id; nothing else.
    let (status, _, body) = d.get(&format!("/reports/{run_id}"));
    assert_eq!(status, 200);
    assert!(body.contains("citewatch re-check report"), "{body}");
    for bad in [
        "/reports/..%2F..%2Fcitewatch.toml",
        "/reports/../citewatch.toml",
        "/reports/20260101T000000Z-zzzz",
        "/reports/20260101T000000Z-0000",
    ] {
        assert_eq!(d.get(bad).0, 404, "{bad}");
    }
    let runs = reports(ws.root());
    assert!(
        runs.iter().all(|r| r["trigger"] == "manual"),
        "no scheduled run this year"
    );
}

#[test]
fn sighup_with_a_broken_watchlist_keeps_the_last_good_one() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 1 1 *", "");
    article(&ws, "k", &srv.url("/a"));
    let mut d = Daemon::start(&ws, port, &[]);

    ws.watchlist("broken.toml", "title = \n");
    d.signal("HUP");
    d.wait_log("broken.toml");
    d.wait_log("keeping the last good one");
    d.wait_for("the error in /health", || {
        json(&http(port, "GET", "/health", &[], "").2)["config_errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("broken.toml"))
    });
    // A run now uses the last good watchlist.
    let (status, _, body) = http(port, "POST", "/recheck", &[], "");
    assert_eq!(status, 200, "{body}\n{}", d.log());
    assert_eq!(json(&body)["articles"].as_array().unwrap().len(), 1);
    assert!(d.get("/").2.contains("does not validate"));

    // Fixed, with a second article: picked up on SIGHUP.
    std::fs::remove_file(ws.root().join("watchlist/broken.toml")).unwrap();
    article(&ws, "k2", &srv.url("/a"));
    d.signal("HUP");
    d.wait_log("configuration reloaded");
    let (status, _, body) = http(port, "POST", "/recheck", &[], "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["articles"].as_array().unwrap().len(), 2);
    assert!(
        json(&d.get("/health").2)["config_errors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn sigterm_lets_a_slow_run_finish_then_exits_0() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")).delay(Duration::from_secs(10)),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 1 1 *", "");
    article(&ws, "k", &srv.url("/a"));
    let mut d = Daemon::start(&ws, port, &[]);
    let waiter = std::thread::spawn(move || http(port, "POST", "/recheck", &[], ""));
    d.wait_log("run started");
    d.signal("TERM");
    let st = d.wait_exit(Duration::from_secs(40));
    assert_eq!(st.code(), Some(0), "{}", d.log());
    let log = d.log();
    assert!(log.contains("stopping: waiting up to 30s"), "{log}");
    assert!(log.contains("run finished"), "{log}");
    let (status, _, body) = waiter.join().unwrap();
    assert_eq!(status, 200, "the waiting request got its report: {body}");
    index_parses(ws.root());
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        v["sources"][0]["outcome"], "unchanged",
        "the daemon's run was stored"
    );
}

#[test]
fn sigterm_abandons_a_run_past_the_grace_and_check_waits_for_the_lock() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")).delay(Duration::from_secs(20)),
    );
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 1 1 *", "grace_secs = 1");
    article(&ws, "k", &srv.url("/a"));
    let mut d = Daemon::start(&ws, port, &[]);
    let waiter = std::thread::spawn(move || http(port, "POST", "/recheck", &[], ""));
    d.wait_log("run started");

    // One run at a time per root: `check` waits for the lock, then exits 3.
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lock"),
        "{}",
        show(&out)
    );

    d.signal("TERM");
    let st = d.wait_exit(Duration::from_secs(15));
    assert_eq!(st.code(), Some(0), "{}", d.log());
    assert!(d.log().contains("abandoning the run in progress"), "{}", d.log());
    let (status, _, body) = waiter.join().unwrap();
    assert_eq!(status, 503, "{body}");
    index_parses(ws.root());
    assert!(reports(ws.root()).is_empty(), "the abandoned run wrote no report");

    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "new");
}

#[test]
fn off_loopback_listen_needs_a_token() {
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("0.0.0.0:{port}"), "0 0 6 1 1 *", "");
    let mut d = Daemon::spawn(&ws, port, &[]);
    let st = d.wait_exit(Duration::from_secs(20));
    assert_eq!(st.code(), Some(2), "{}", d.log());
    assert!(d.log().contains("not a loopback address"), "{}", d.log());

    // token_env set but the variable missing: refused too.
    ws.write(
        "citewatch.toml",
        &format!("[schedule]\ncron = \"0 0 6 1 1 *\"\n[control]\nlisten = \"0.0.0.0:{port}\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
    );
    let mut d = Daemon::spawn(&ws, port, &[]);
    assert_eq!(
        d.wait_exit(Duration::from_secs(20)).code(),
        Some(2),
        "{}",
        d.log()
    );
    assert!(d.log().contains(TOKEN_VAR), "{}", d.log());
}

#[test]
fn with_a_token_every_request_needs_it() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let ws = Workspace::new();
    let port = free_port();
    ws.write(
        "citewatch.toml",
        &format!("[schedule]\ncron = \"0 0 6 1 1 *\"\n[control]\nlisten = \"0.0.0.0:{port}\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
    );
    article(&ws, "k", &srv.url("/a"));
    let token = "s3cret-\"<tok>";
    let _d = Daemon::start(&ws, port, &[(TOKEN_VAR, token)]);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    for (method, path) in [
        ("GET", "/health"),
        ("GET", "/"),
        ("POST", "/recheck"),
        ("POST", "/ack"),
    ] {
        let (status, head, _) = http(port, method, path, &[], "");
        assert_eq!(status, 401, "{method} {path}");
        assert!(head.to_lowercase().contains("www-authenticate: bearer"), "{head}");
        let wrong = [("Authorization", "Bearer s3cret")];
        assert_eq!(http(port, method, path, &wrong, "").0, 401, "{method} {path}");
    }
    assert_eq!(http(port, "GET", "/health", &auth, "").0, 200);
    let (status, _, page) = http(port, "GET", "/", &auth, "");
    assert_eq!(status, 200);
    // The button carries the token (escaped) in a hidden field.
    assert!(
        page.contains("name=\"token\" value=\"s3cret-&quot;&lt;tok&gt;\""),
        "{page}"
    );
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "text/html"),
    ];
    let body = format!(
        "token={}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let (status, _, resp) = http(port, "POST", "/recheck", &form, &body);
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains("Re-check finished"), "{resp}");
    assert_eq!(http(port, "POST", "/recheck", &form, "token=nope").0, 401);
    // The page's ack form follows the same rule.
    assert_eq!(
        http(port, "POST", "/ack", &form, "token=nope&statement=k:0").0,
        401
    );
    assert_eq!(
        http(port, "POST", "/ack", &form, &format!("{body}&statement=k:0")).0,
        404
    );

    // `trigger` sends the token from the same variable.
    let out = ws.cmd(&["trigger"]).env(TOKEN_VAR, token).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let out = ws.cmd(&["trigger"]).env_remove(TOKEN_VAR).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        show(&out)
    );
}

#[test]
fn trigger_without_a_daemon_exits_3() {
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 6 * * *", "");
    let out = ws.run(&["trigger"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no citewatch daemon is listening"),
        "{}",
        show(&out)
    );
}

#[test]
fn daemon_with_an_invalid_configuration_exits_2() {
    let ws = Workspace::new();
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "not a cron", "");
    let mut d = Daemon::spawn(&ws, port, &[]);
    assert_eq!(
        d.wait_exit(Duration::from_secs(20)).code(),
        Some(2),
        "{}",
        d.log()
    );
    assert!(
        d.log().contains("citewatch.toml:2"),
        "names the file and line: {}",
        d.log()
    );
}

/// Issue 17 (2): the page reads each run's bounded summary (`page.json`), not its whole
/// report, and another site's page cannot make the daemon build it (an `<img>` or `fetch()`).
#[test]
fn the_page_reads_bounded_summaries_and_refuses_cross_site_loads() {
    const N: usize = 260;
    let srv = PageServer::start();
    let sentences = |k: usize| -> String {
        (0..N)
            .map(|i| {
                format!(
                    "<p>The depot of town{i} keeps {} buses for its routes.</p>",
                    100 + i + k
                )
            })
            .collect()
    };
    srv.set(
        "/a",
        Response::html(&format!(
            "<html><body><article>{}</article></body></html>",
            sentences(0)
        )),
    );
    let ws = Workspace::new();
    let article: String = (0..N)
        .map(|i| format!("The depot of town{i} keeps {} buses [1]. ", 100 + i))
        .collect();
    ws.watchlist(
        "buses.toml",
        &format!(
            "title = \"Buses\"\narticle = \"\"\"{article}\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    let port = free_port();
    settings(&ws, &format!("127.0.0.1:{port}"), "0 0 0 1 1 *", "");
    assert!(ws.run(&["check"]).status.success());
    srv.set(
        "/a",
        Response::html(&format!(
            "<html><body><article>{}</article></body></html>",
            sentences(1)
        )),
    );
    let out = ws.run(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["flagged"], N, "{}", show(&out));
    let run_dir = ws.root().join("reports").join(v["run_id"].as_str().unwrap());
    let page: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("page.json")).unwrap()).unwrap();
    assert_eq!(page["statements"].as_array().unwrap().len(), 200);
    assert_eq!(page["page"]["flagged"]["buses"], N);
    let full = std::fs::metadata(run_dir.join("report.json")).unwrap().len();
    let small = std::fs::metadata(run_dir.join("page.json")).unwrap().len();
    assert!(small < full / 2, "page.json {small} bytes, report.json {full}");

    let d = Daemon::start(&ws, port, &[]);
    let (status, _, body) = d.get("/");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("Statements flagged now ({N})")), "{body}");
    assert!(
        body.contains("The first 200 are shown here; the other 60"),
        "{body}"
    );
    // Another site's <img> and fetch(): refused before any work; a person's click: served.
    let img = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Sec-Fetch-Dest", "image"),
    ];
    let (status, _, _) = http(port, "GET", "/", &img, "");
    assert_eq!(status, 403);
    let cors = [("Origin", "https://evil.example"), ("Sec-Fetch-Mode", "cors")];
    assert_eq!(http(port, "GET", "/", &cors, "").0, 403);
    let click = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Dest", "document"),
    ];
    assert_eq!(http(port, "GET", "/", &click, "").0, 200);
    let own = [
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Dest", "empty"),
    ];
    assert_eq!(http(port, "GET", "/health", &own, "").0, 200);
    assert!(d.log().contains("control GET refused"), "{}", d.log());
}
