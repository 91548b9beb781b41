//! The re-check report by email, end to end: the real binary, a loopback page server whose
//! page changes between runs, and a loopback SMTP server (plain or STARTTLS) that accepts,
//! refuses, or is absent.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::smtp::{Mail, Mode, SmtpServer, TestCa, free_port};
use crate::support::{PageServer, Response, Workspace, workspace::show};

const SUBJECT: &str = "citewatch: 1 statement needs re-check (us-military-kosovo)";

fn page(extra: &str, n: &str) -> Response {
    Response::html(&format!(
        "<html><head><title>t</title></head><body><nav>Menu Home About</nav><article>\
         <p>About {n} U.S. soldiers serve in KFOR{extra}.</p><p>Camp Bondsteel is the base.</p>\
         </article><footer>Generated 12:00</footer></body></html>"
    ))
}

/// A workspace citing the page server's `/a`, with `[email]` pointing at `smtp_url`.
fn workspace(srv: &PageServer, smtp_url: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.watchlist(
        "us-military-kosovo.toml",
        &format!(
            "title = \"U.S. troops in Kosovo <img src=x onerror=alert(1)>\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    settings(&ws, smtp_url, extra);
    ws
}

fn settings(ws: &Workspace, smtp_url: &str, extra: &str) {
    let timeout = if extra.contains("timeout_secs") {
        ""
    } else {
        "timeout_secs = 5\n"
    };
    ws.write(
        "citewatch.toml",
        &format!(
            "[email]\nsmtp_url = \"{smtp_url}\"\nfrom = \"citewatch <cw@example.org>\"\nto = [\"desk@example.org\"]\n{timeout}{extra}"
        ),
    );
}

/// `check --format json`, asserting exit 0.
fn check(ws: &Workspace) -> serde_json::Value {
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    v
}

/// A baseline run, then the page's number changes and a second run flags the statement.
fn baseline_then_flag(srv: &PageServer, ws: &Workspace, extra: &str) -> serde_json::Value {
    srv.set("/a", page(extra, "600"));
    let v = check(ws);
    assert_eq!(v["summary"]["flagged"], 0, "{v:#}");
    assert!(v["mail"].as_str().unwrap().starts_with("none"), "{v:#}");
    srv.set("/a", page(extra, "350"));
    let v = check(ws);
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    v
}

fn emls(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn outbox(ws: &Workspace, args: &[&str]) -> (Output, String) {
    let mut a = vec!["outbox"];
    a.extend_from_slice(args);
    let out = ws.run(&a);
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, s)
}

#[test]
fn flagged_run_delivers_text_and_html_parts() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let v = baseline_then_flag(&srv, &ws, "");
    let run_id = v["run_id"].as_str().unwrap();
    assert!(
        v["mail"]
            .as_str()
            .unwrap()
            .starts_with("sent to desk@example.org"),
        "{v:#}"
    );

    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].from, "cw@example.org");
    assert_eq!(got[0].to, vec!["desk@example.org".to_owned()]);
    let m = Mail::parse(&got[0].data);
    assert_eq!(m.header("subject").as_deref(), Some(SUBJECT));
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    assert_eq!(m.header("x-citewatch-run").as_deref(), Some(run_id));
    assert!(m.header("message-id").unwrap().contains(run_id));
    assert!(m.header("date").is_some());
    let text = m.part("text/plain").expect("text part");
    assert!(text.contains("About [-600-]{+350+} U.S. soldiers"), "{text}");
    assert!(text.contains("evidence_changed"), "{text}");
    assert!(text.contains(&srv.url("/a")), "{text}");
    let html = m.part("text/html").expect("html part");
    assert!(
        html.contains("<del style=") && html.contains(">600</del>"),
        "{html}"
    );
    assert!(
        html.contains("<ins style=") && html.contains(">350</ins>"),
        "{html}"
    );
    assert!(!html.contains("<img") && !html.contains("<script"), "{html}");
    assert!(html.contains("&lt;img src=x"), "the title is escaped: {html}");

    // Delivered means moved to sent/, nothing left in the outbox.
    let reports = ws.root().join("reports");
    assert!(reports.join("sent").join(format!("{run_id}.eml")).is_file());
    assert!(emls(&reports.join("outbox")).is_empty());

    // Nothing new to say: no message; the text summary says so.
    let out = ws.run(&["check"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 flagged (0 new)"), "{}", show(&out));
    assert!(
        stdout.contains("\nmail: none (no new flags in this run)\n"),
        "{}",
        show(&out)
    );
    assert_eq!(smtp.received().len(), 1);
}

#[test]
fn a_hostile_page_cannot_inject_markup() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let hostile = " &lt;script&gt;alert(document.cookie)&lt;/script&gt;&lt;b onclick=x&gt;";
    baseline_then_flag(&srv, &ws, hostile);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    let m = Mail::parse(&got[0].data);
    let text = m.part("text/plain").unwrap();
    assert!(
        text.contains("<script>alert(document.cookie)</script>"),
        "the source text reached the message: {text}"
    );
    let html = m.part("text/html").unwrap();
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("<script") && !lower.contains("<b onclick"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(document.cookie)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!lower.contains("<img"), "no images: {html}");
}

#[test]
fn server_absent_keeps_the_message_and_a_later_run_delivers_it() {
    let port = free_port();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{port}"), "");
    let v = baseline_then_flag(&srv, &ws, "");
    let run_id = v["run_id"].as_str().unwrap().to_owned();
    let mail = v["mail"].as_str().unwrap();
    assert!(mail.starts_with("queued in "), "{v:#}");
    let outbox_dir = ws.root().join("reports").join("outbox");
    assert_eq!(emls(&outbox_dir), vec![outbox_dir.join(format!("{run_id}.eml"))]);

    let (out, listing) = outbox(&ws, &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        listing.contains(&format!("waiting  run {run_id}  attempts 1  {SUBJECT}")),
        "{listing}"
    );
    assert!(listing.contains("last error: "), "{listing}");

    // The server comes up; a new process (the next run) delivers the waiting message first.
    let smtp = SmtpServer::start_with(port, None);
    let v = check(&ws);
    assert!(
        v["mail"]
            .as_str()
            .unwrap()
            .contains("outbox: 1 delivered, 0 waiting"),
        "{v:#}"
    );
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    let m = Mail::parse(&got[0].data);
    assert_eq!(m.header("x-citewatch-run").as_deref(), Some(run_id.as_str()));
    assert!(emls(&outbox_dir).is_empty());
    assert!(
        ws.root()
            .join("reports/sent")
            .join(format!("{run_id}.eml"))
            .is_file()
    );
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.root().join("reports/sent").join(format!("{run_id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["attempts"], 2);
    assert!(sidecar["delivered_at"].is_string());
    let (out, listing) = outbox(&ws, &[]);
    assert!(out.status.success());
    assert!(listing.contains("nothing waits"), "{listing}");
}

#[test]
fn a_4xx_leaves_it_waiting_until_outbox_send() {
    let smtp = SmtpServer::start();
    smtp.set_mode(Mode::Refuse4xx);
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let v = baseline_then_flag(&srv, &ws, "");
    let mail = v["mail"].as_str().unwrap();
    assert!(mail.starts_with("queued in ") && mail.contains("451"), "{mail}");
    assert!(smtp.mail_commands() >= 1);
    assert!(smtp.received().is_empty());

    // Still refusing: `outbox --send` says so with exit 3.
    let (out, s) = outbox(&ws, &["--send"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(s.contains("0 delivered, 1 waiting"), "{s}");

    smtp.set_mode(Mode::Accept);
    let (out, s) = outbox(&ws, &["--send"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        s.contains("1 delivered, 0 waiting") && s.contains("nothing waits"),
        "{s}"
    );
    assert_eq!(smtp.received().len(), 1);
}

#[test]
fn a_5xx_is_kept_reported_and_not_retried_by_runs() {
    let smtp = SmtpServer::start();
    smtp.set_mode(Mode::Refuse5xx);
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let v = baseline_then_flag(&srv, &ws, "");
    let run_id = v["run_id"].as_str().unwrap().to_owned();
    let mail = v["mail"].as_str().unwrap();
    assert!(
        mail.starts_with("refused permanently") && mail.contains("550"),
        "{mail}"
    );
    let failed = ws.root().join("reports/outbox/failed");
    assert_eq!(emls(&failed), vec![failed.join(format!("{run_id}.eml"))]);
    let attempts = smtp.mail_commands();

    // Later runs report it but do not try again.
    let v = check(&ws);
    assert!(
        v["mail"].as_str().unwrap().contains("1 refused permanently"),
        "{v:#}"
    );
    assert_eq!(smtp.mail_commands(), attempts);
    let (out, listing) = outbox(&ws, &[]);
    assert!(out.status.success());
    assert!(
        listing.contains(&format!("refused  run {run_id}  attempts 1")),
        "{listing}"
    );
    assert!(listing.contains("550"), "{listing}");

    // A person retries after the server was fixed.
    smtp.set_mode(Mode::Accept);
    let (out, s) = outbox(&ws, &["--send"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(s.contains("1 delivered"), "{s}");
    assert_eq!(smtp.received().len(), 1);
    assert!(emls(&failed).is_empty());
}

#[test]
fn starttls_to_a_self_signed_server_trusting_the_ca_file() {
    let ca = TestCa::new();
    let smtp = SmtpServer::start_with(0, Some(&ca));
    let srv = PageServer::start();
    let url = format!("smtp://127.0.0.1:{}?tls=required", smtp.port());
    let ws = workspace(&srv, &url, "");

    // Without the CA the certificate is not trusted: the message waits.
    let v = baseline_then_flag(&srv, &ws, "");
    let mail = v["mail"].as_str().unwrap();
    assert!(mail.starts_with("queued in "), "{mail}");
    assert!(
        mail.to_ascii_lowercase().contains("certificate") || mail.contains("tls"),
        "{mail}"
    );
    assert!(smtp.received().is_empty());

    ws.write("ca.pem", &ca.ca_pem);
    settings(&ws, &url, "ca_file = \"ca.pem\"\n");
    let (out, s) = outbox(&ws, &["--send"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(s.contains("1 delivered"), "{s}");
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "delivered over TLS");
    assert_eq!(
        Mail::parse(&got[0].data).header("subject").as_deref(),
        Some(SUBJECT)
    );
}

#[test]
fn implicit_tls_smtps_with_the_ca_file() {
    let ca = TestCa::new();
    let smtp = SmtpServer::start_implicit_tls(&ca);
    let srv = PageServer::start();
    let ws = workspace(
        &srv,
        &format!("smtps://127.0.0.1:{}", smtp.port()),
        "ca_file = \"ca.pem\"\n",
    );
    ws.write("ca.pem", &ca.ca_pem);
    let v = baseline_then_flag(&srv, &ws, "");
    assert!(v["mail"].as_str().unwrap().starts_with("sent to "), "{v:#}");
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
}

#[test]
fn a_silent_server_times_out_and_the_message_waits() {
    let smtp = SmtpServer::start();
    smtp.set_mode(Mode::Silent);
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    settings(
        &ws,
        &format!("smtp://127.0.0.1:{}", smtp.port()),
        "timeout_secs = 1\n",
    );
    let started = std::time::Instant::now();
    let v = baseline_then_flag(&srv, &ws, "");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let mail = v["mail"].as_str().unwrap();
    assert!(
        mail.starts_with("queued in ") && mail.contains("no answer within 1 s"),
        "{mail}"
    );
    assert_eq!(emls(&ws.root().join("reports/outbox")).len(), 1);
}

#[test]
fn send_always_mails_a_run_without_flags() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(
        &srv,
        &format!("smtp://127.0.0.1:{}", smtp.port()),
        "send = \"always\"\n",
    );
    srv.set("/a", page("", "600"));
    let v = check(&ws);
    assert!(v["mail"].as_str().unwrap().starts_with("sent to "), "{v:#}");
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    let subject = Mail::parse(&got[0].data).header("subject").unwrap();
    assert!(
        subject.starts_with("citewatch: no statements need re-check (1 checked"),
        "{subject}"
    );
}

#[test]
fn smtp_auth_with_the_password_from_the_environment() {
    const VAR: &str = "CITEWATCH_IT_SMTP_PASSWORD";
    let smtp = SmtpServer::start();
    smtp.require_auth("desk-bot", "s3cret pass");
    let srv = PageServer::start();
    let ws = workspace(
        &srv,
        &format!("smtp://127.0.0.1:{}", smtp.port()),
        &format!("username = \"desk-bot\"\npassword_env = \"{VAR}\"\n"),
    );
    // The variable is not set for this run: queued, saying which variable is missing.
    let v = baseline_then_flag(&srv, &ws, "");
    let mail = v["mail"].as_str().unwrap();
    assert!(mail.starts_with("queued in ") && mail.contains(VAR), "{mail}");
    assert_eq!(smtp.connections(), 0);

    // A wrong password is a permanent refusal (535).
    let out = ws.cmd(&["outbox", "--send"]).env(VAR, "wrong").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("535"),
        "{}",
        show(&out)
    );
    assert!(smtp.received().is_empty());

    let out = ws
        .cmd(&["outbox", "--send"])
        .env(VAR, "s3cret pass")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].user.as_deref(), Some("desk-bot"));
}

#[test]
fn bad_email_settings_are_reported_with_file_and_line() {
    let ws = Workspace::new();
    ws.write(
        "citewatch.toml",
        "[email]\nsmtp_url = \"smtp://127.0.0.1:25?tls=maybe\"\nfrom = \"citewatch\"\nto = []\n",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = ws.root().join("citewatch.toml");
    for line in [2, 3, 4] {
        assert!(
            err.contains(&format!("{}:{line}: [email].", file.display())),
            "{err}"
        );
    }
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn without_email_settings_the_message_is_an_eml_file() {
    let srv = PageServer::start();
    let ws = workspace(&srv, "smtp://127.0.0.1:1", "");
    std::fs::remove_file(ws.root().join("citewatch.toml")).unwrap();
    let v = baseline_then_flag(&srv, &ws, "");
    let run_id = v["run_id"].as_str().unwrap();
    let path = ws.root().join("reports/mail").join(format!("{run_id}.eml"));
    assert!(v["mail"].as_str().unwrap().starts_with("written to "), "{v:#}");
    let data = std::fs::read_to_string(&path).unwrap();
    let m = Mail::parse(&data);
    assert_eq!(m.header("subject").as_deref(), Some(SUBJECT));
    assert!(m.part("text/html").is_some() && m.part("text/plain").is_some());
}

/// `check --format json` with its wall time, asserting exit 0.
fn timed_check(ws: &Workspace) -> (serde_json::Value, std::time::Duration) {
    let t = std::time::Instant::now();
    let v = check(ws);
    (v, t.elapsed())
}

/// Issue 17: with `timeout_secs = 5` a hung server made one delivery take 10 s, and a run that
/// also retried a queued message 20 s. `timeout_secs` bounds one message's delivery from
/// connecting to QUIT now: one deadline per message, so a run with one queued and one new
/// message waits at most twice the deadline.
#[test]
fn a_server_that_stops_answering_costs_one_deadline_per_message() {
    use crate::support::smtp::Hang;
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let url = format!("smtp://127.0.0.1:{}", smtp.port());
    let ws = workspace(&srv, &url, "timeout_secs = 2\nsend = \"always\"\n");
    srv.set("/a", page("", "600"));
    let (v, _) = timed_check(&ws);
    assert!(v["mail"].as_str().unwrap().starts_with("sent to "), "{v:#}");
    let deadline = std::time::Duration::from_secs(2);
    let slack = std::time::Duration::from_millis(1500);
    for hang in [Hang::AtMail, Hang::AfterData] {
        smtp.set_hang(hang);
        let (v, took) = timed_check(&ws);
        eprintln!("{hang:?}: one new message, run {took:?}");
        let mail = v["mail"].as_str().unwrap();
        assert!(
            mail.starts_with("queued in ") && mail.contains("no answer within 2 s"),
            "{mail}"
        );
        assert!(took < deadline + slack, "{hang:?}: {took:?}");
        // The next run retries the queued message first; the server not answering, its own
        // message is queued without another attempt: one deadline for the run's delivery.
        let (v, took) = timed_check(&ws);
        eprintln!("{hang:?}: one queued and one new message, run {took:?}");
        let mail = v["mail"].as_str().unwrap();
        assert!(
            mail.starts_with("queued in ") && mail.contains("not tried, the server did not answer"),
            "{mail}"
        );
        assert!(took < deadline + slack, "{hang:?}: {took:?}");
        // Back to normal: everything waiting goes out.
        smtp.set_hang(Hang::Never);
        let (out, s) = outbox(&ws, &["--send"]);
        assert!(out.status.success(), "{}", show(&out));
        assert!(s.contains("2 delivered, 0 waiting"), "{s}");
    }
}

/// A message the server accepted (250 after its data) is in `sent/` and never delivered again,
/// even when the QUIT that follows hangs or the server drops the connection right after.
#[test]
fn an_accepted_message_is_never_delivered_twice() {
    use crate::support::smtp::Hang;
    for hang in [Hang::AtQuit, Hang::DropAfterAccept] {
        let smtp = SmtpServer::start();
        smtp.set_hang(hang);
        let srv = PageServer::start();
        let url = format!("smtp://127.0.0.1:{}", smtp.port());
        let ws = workspace(&srv, &url, "timeout_secs = 2\n");
        srv.set("/a", page("", "600"));
        check(&ws);
        srv.set("/a", page("", "350"));
        let (v, took) = timed_check(&ws);
        eprintln!("{hang:?}: run {took:?}");
        let mail = v["mail"].as_str().unwrap();
        assert!(mail.starts_with("sent to desk@example.org"), "{hang:?}: {mail}");
        assert!(
            took < std::time::Duration::from_millis(3500),
            "{hang:?}: {took:?}"
        );
        assert_eq!(smtp.received().len(), 1);
        assert!(emls(&ws.root().join("reports/outbox")).is_empty());
        assert_eq!(emls(&ws.root().join("reports/sent")).len(), 1);
        // Later runs and `outbox --send` have nothing to send again.
        let v = check(&ws);
        assert!(v["mail"].as_str().unwrap().starts_with("none"), "{v:#}");
        let (out, s) = outbox(&ws, &["--send"]);
        assert!(out.status.success() && s.contains("nothing waits"), "{s}");
        assert_eq!(smtp.received().len(), 1, "{hang:?}: delivered once");
    }
}

/// `check --no-email` mails nothing and leaves the outbox alone, with `send = "always"` and a
/// message already waiting; the next plain run delivers both. See: issue 15.
#[test]
fn no_email_runs_a_check_without_mailing() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    srv.set("/a", page("", "600"));
    let ws = workspace(
        &srv,
        &format!("smtp://127.0.0.1:{}", smtp.port()),
        "send = \"always\"\n",
    );
    // A message waiting in the outbox (the server said "try later" to the first run).
    smtp.set_mode(Mode::Refuse4xx);
    let v = check(&ws);
    assert!(v["mail"].as_str().unwrap().contains("outbox"), "{v:#}");
    smtp.set_mode(Mode::Accept);

    srv.set("/a", page("", "350"));
    let out = ws.run(&["check", "--no-email", "--format", "json"]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert_eq!(v["mail"], "none (--no-email)", "{v:#}");
    assert_eq!(smtp.received().len(), 0, "nothing mailed");
    let (_, listed) = outbox(&ws, &[]);
    assert!(
        !listed.contains("nothing waits"),
        "the earlier message still waits: {listed}"
    );

    let v = check(&ws);
    assert!(v["mail"].as_str().unwrap().starts_with("sent"), "{v:#}");
    assert_eq!(smtp.received().len(), 2, "the waiting message and this run's");
}

/// See: issue 12. The outbox is flushed by the run's last stage, after its sources were
/// fetched (not before), and the report on disk is written once, with the mail line that
/// says what became of the waiting message.
#[test]
fn the_outbox_is_flushed_after_fetching_and_the_report_on_disk_has_the_mail_line() {
    let port = free_port();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{port}"), "");
    let v = baseline_then_flag(&srv, &ws, "");
    assert!(v["mail"].as_str().unwrap().starts_with("queued in "), "{v:#}");

    let smtp = SmtpServer::start_with(port, None);
    srv.set(
        "/a",
        page("", "350").delay(std::time::Duration::from_millis(1500)),
    );
    let hits = srv.hits("/a");
    let child = ws
        .cmd(&["check", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run citewatch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while srv.hits("/a") == hits {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never fetched its source"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The fetch is in flight (the page answers late): nothing was delivered before it.
    assert!(
        smtp.received().is_empty(),
        "the outbox was flushed before fetching"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        smtp.received().len(),
        1,
        "the waiting message, delivered at the end"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = v["run_id"].as_str().unwrap();
    let dir = ws.root().join("reports").join(run_id);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(on_disk["mail"], v["mail"], "{on_disk:#}");
    assert!(
        on_disk["mail"]
            .as_str()
            .unwrap()
            .contains("outbox: 1 delivered, 0 waiting"),
        "{on_disk:#}"
    );
    assert!(dir.join("report.md").exists() && dir.join("report.html").exists());
}

/// Issue 17 (1): a run that stores a flag but cannot queue its message leaves the flag new,
/// and a later run mails it. Here the outbox is a file, so nothing can be queued in it.
#[test]
fn a_flag_whose_message_was_not_queued_is_mailed_by_the_next_run() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    srv.set("/a", page("", "600"));
    check(&ws);
    let outbox_dir = ws.root().join("reports").join("outbox");
    let _ = std::fs::remove_dir_all(&outbox_dir);
    std::fs::write(&outbox_dir, "not a folder").unwrap();
    srv.set("/a", page("", "350"));
    let (out, v) = ws.check_json();
    assert_eq!(v["summary"]["new_flags"], 1, "{}", show(&out));
    assert!(v["mail"].as_str().unwrap().starts_with("not written"), "{v:#}");
    assert!(smtp.received().is_empty());
    // The outbox is back: the next run mails the flag as new, and the one after is quiet.
    std::fs::remove_file(&outbox_dir).unwrap();
    let v = check(&ws);
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert!(v["mail"].as_str().unwrap().starts_with("sent to"), "{v:#}");
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    let m = Mail::parse(&got[0].data);
    assert!(m.parts[0].1.contains("NEW"), "{:?}", m.parts);
    let v = check(&ws);
    assert_eq!(v["summary"]["new_flags"], 0, "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], true, "{v:#}");
    assert_eq!(smtp.received().len(), 1, "flagged but not new: no second message");
}

/// The same without `[email]`: the `.eml` could not be written (reports/mail is a file).
#[test]
fn a_flag_whose_eml_was_not_written_stays_new() {
    let srv = PageServer::start();
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"K\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    srv.set("/a", page("", "600"));
    check(&ws);
    let mail_dir = ws.root().join("reports").join("mail");
    let _ = std::fs::remove_dir_all(&mail_dir);
    std::fs::write(&mail_dir, "not a folder").unwrap();
    srv.set("/a", page("", "350"));
    let (_, v) = ws.check_json();
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert!(v["mail"].as_str().unwrap().starts_with("not written"), "{v:#}");
    // `--no-email` does not announce it either.
    std::fs::remove_file(&mail_dir).unwrap();
    let out = ws.run(&["check", "--no-email", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    let v = check(&ws);
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert_eq!(
        emls(&mail_dir).len(),
        1,
        "the message of the run that could write it"
    );
    let v = check(&ws);
    assert_eq!(v["summary"]["new_flags"], 0, "{v:#}");
}

/// A small tmpfs mounted on a folder of the workspace, unmounted when dropped (also when the
/// test panics). `None` where mounting is not permitted (not root, no `CAP_SYS_ADMIN`): CI
/// runs as root, where it is.
pub(crate) struct Tmpfs(PathBuf);

impl Tmpfs {
    pub(crate) fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs on {} (needs root)", dir.display());
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    pub(crate) fn remount(&self, mode: &str) {
        let s = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(s.success(), "remount {mode} {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// After a fault is cleared: the next run mails the flag the faulty run committed (still new),
/// and the one after sends nothing (flagged, not new).
fn mails_the_flag_once(ws: &Workspace, smtp: &SmtpServer) {
    let v = check(ws);
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert!(v["mail"].as_str().unwrap().starts_with("sent to"), "{v:#}");
    assert_eq!(smtp.received().len(), 1);
    let v = check(ws);
    assert_eq!(v["summary"]["new_flags"], 0, "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], true, "{v:#}");
    assert_eq!(smtp.received().len(), 1, "flagged but not new: no second message");
}

/// Issue 17, item 1, on a real read-only file system: `reports/` read-only when a run has
/// committed its flags. The run fails (exit 3) and its flags stay new; once `reports/` is
/// writable again the next run mails them, and the one after is quiet.
#[test]
fn reports_read_only_after_the_flags_were_committed_the_next_run_mails_them() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let Some(fs) = Tmpfs::mount(&ws.root().join("reports"), "8m") else {
        return;
    };
    srv.set("/a", page("", "600"));
    check(&ws);
    fs.remount("ro");
    srv.set("/a", page("", "350"));
    let (out, _) = ws.check_json();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{}",
        show(&out)
    );
    assert!(smtp.received().is_empty());
    fs.remount("rw");
    mails_the_flag_once(&ws, &smtp);
}

/// Issue 17, item 1: the disk full when the outbox file is written (a full tmpfs on
/// `reports/outbox`). The run says the mail was not written and its flag stays new; with the
/// space back, the next run mails it, exactly once.
#[test]
fn outbox_disk_full_the_flag_stays_new_and_the_next_run_mails_it() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let outbox_dir = ws.root().join("reports").join("outbox");
    let Some(_fs) = Tmpfs::mount(&outbox_dir, "256k") else {
        return;
    };
    srv.set("/a", page("", "600"));
    check(&ws);
    // Fill the file system to the last byte.
    let filler = outbox_dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
    }
    srv.set("/a", page("", "350"));
    let (out, v) = ws.check_json();
    assert_eq!(v["summary"]["new_flags"], 1, "{}", show(&out));
    let mail = v["mail"].as_str().unwrap_or_default();
    assert!(
        mail.starts_with("not written") && mail.contains("No space left"),
        "{}",
        show(&out)
    );
    assert!(smtp.received().is_empty());
    std::fs::remove_file(&filler).unwrap();
    mails_the_flag_once(&ws, &smtp);
}

/// Issue 17, item 1: the store's folder read-only (or its disk full) when a run commits. The
/// run fails with a message naming the store, writes no report and sends nothing; once the
/// fault is cleared the next run needs no repair, keeps the baseline and flags the change.
#[test]
fn snapshots_read_only_the_run_fails_cleanly_and_the_next_one_goes_on() {
    let smtp = SmtpServer::start();
    let srv = PageServer::start();
    let ws = workspace(&srv, &format!("smtp://127.0.0.1:{}", smtp.port()), "");
    let Some(fs) = Tmpfs::mount(&ws.root().join("snapshots"), "16m") else {
        return;
    };
    srv.set("/a", page("", "600"));
    check(&ws);
    fs.remount("ro");
    srv.set("/a", page("", "350"));
    let (out, _) = ws.check_json();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("snapshots") && err.contains("Read-only"),
        "{}",
        show(&out)
    );
    assert!(smtp.received().is_empty());
    fs.remount("rw");
    let v = check(&ws);
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], true, "{v:#}");
    assert!(v["mail"].as_str().unwrap().starts_with("sent to"), "{v:#}");
    assert_eq!(smtp.received().len(), 1);
}
