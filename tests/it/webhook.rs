//! `[[notify.webhook]]`: the report JSON and a Slack-compatible message POSTed to receivers on
//! loopback, queued in `reports/outbox/webhooks/` and retried like the mail; refusals kept
//! apart; a receiver that does not answer costs one timeout per run; a run killed after
//! queueing them still mails its flag once.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::smtp::SmtpServer;
use crate::support::{PageServer, Response, Workspace, workspace::show};

fn page(n: &str) -> Response {
    Response::html(&format!(
        "<html><body><article><p>About {n} U.S. soldiers serve in KFOR as of 2025 &lt;!channel&gt; &amp; co.</p>\
         <p>Camp Bondsteel is the main base.</p></article></body></html>"
    ))
}

/// One article citing `/src` of `srv`; `hooks` is the `[[notify.webhook]]` part of the
/// settings, `mail` the `[email]` part.
fn workspace(srv: &PageServer, hooks: &str, mail: &str) -> Workspace {
    let ws = Workspace::new();
    ws.watchlist(
        "kfor.toml",
        &format!(
            "title = \"KFOR <b>troops</b>\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n\
             [[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/src")
        ),
    );
    ws.write("citewatch.toml", &format!("{mail}\n{hooks}"));
    srv.set("/src", page("600"));
    ws
}

fn check(ws: &Workspace, what: &str) -> serde_json::Value {
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{what}: {}", show(&out));
    v
}

fn files(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_new_flag_is_posted_as_the_report_json_and_as_a_slack_message() {
    let srv = PageServer::start();
    srv.set("/hook/json", Response::status(204));
    srv.set("/hook/slack", Response::html("ok"));
    let hooks = format!(
        "[[notify.webhook]]\nurl = \"{}\"\ntoken_env = \"CW_TEST_HOOK_TOKEN\"\n\n\
         [[notify.webhook]]\nurl_env = \"CW_TEST_SLACK_URL\"\nformat = \"slack\"\n\n\
         [control]\npublic_url = \"https://citewatch.example.org\"\n",
        srv.url("/hook/json")
    );
    let ws = workspace(&srv, &hooks, "");
    let run = |what: &str| {
        let out = ws
            .cmd(&["check", "--format", "json"])
            .env("CW_TEST_HOOK_TOKEN", "s3cret")
            .env("CW_TEST_SLACK_URL", srv.url("/hook/slack"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {}", show(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    run("baseline");
    assert!(srv.posted("/hook/json").is_empty(), "nothing new: nothing posted");
    srv.set("/src", page("350"));
    let v = run("the change");
    assert_eq!(v["summary"]["new_flags"], 1, "{v:#}");
    assert!(
        v["mail"]
            .as_str()
            .unwrap()
            .contains("webhooks: 2 delivered, 0 waiting"),
        "{}",
        v["mail"]
    );

    let json = srv.posted("/hook/json");
    assert_eq!(json.len(), 1);
    let (headers, body) = &json[0];
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert_eq!(headers["content-type"], "application/json");
    let report: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(report["run_id"], v["run_id"]);
    assert_eq!(report["summary"]["new_flags"], 1);
    let st = &report["statements"][0];
    assert_eq!(st["flagged"], true, "{report:#}");
    let ev = &st["evidence"][0];
    assert!(ev["before"].as_str().unwrap().contains("600"), "{ev:#}");
    assert!(ev["after"].as_str().unwrap().contains("350"), "{ev:#}");

    let slack = srv.posted("/hook/slack");
    assert_eq!(slack.len(), 1);
    assert!(
        slack[0].0.get("authorization").is_none(),
        "no token given to that one"
    );
    let msg: serde_json::Value = serde_json::from_slice(&slack[0].1).unwrap();
    let text = msg["text"].as_str().unwrap();
    assert!(text.contains("1 statement needs re-check"), "{text}");
    assert!(text.contains("KFOR &lt;b&gt;troops&lt;/b&gt;"), "{text}");
    assert!(
        text.contains("before: About 600") && text.contains("after: About 350"),
        "{text}"
    );
    // Source text cannot mention the channel or make a link.
    assert!(
        text.contains("&lt;!channel&gt; &amp; co.") && !text.contains("<!channel>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<{}|[1]>", srv.url("/src")))
            && text.contains(&format!(
                "<https://citewatch.example.org/reports/{}|full report>",
                v["run_id"].as_str().unwrap()
            )),
        "{text}"
    );
    let reports = ws.root().join("reports");
    assert_eq!(files(&reports.join("sent/webhooks"), "body"), 2);
    assert_eq!(files(&reports.join("outbox/webhooks"), "body"), 0);
    // The secret URL and the token are nowhere on disk.
    for e in std::fs::read_dir(reports.join("sent/webhooks"))
        .unwrap()
        .flatten()
    {
        let t = std::fs::read_to_string(e.path()).unwrap();
        assert!(!t.contains("/hook/slack") && !t.contains("s3cret"), "{t}");
    }

    run("nothing new");
    assert_eq!(srv.posted("/hook/json").len(), 1, "a flag is posted once");
    assert_eq!(srv.posted("/hook/slack").len(), 1);
}

#[test]
fn a_receiver_that_fails_keeps_its_message_queued_and_a_refusal_is_kept_apart() {
    let srv = PageServer::start();
    srv.set_sequence(
        "/hook/busy",
        vec![
            Response::status(503),
            Response::status(429),
            Response::status(200),
        ],
    );
    srv.set("/hook/gone", Response::status(404));
    let hooks = format!(
        "[[notify.webhook]]\nurl = \"{}\"\n[[notify.webhook]]\nurl = \"{}\"\n",
        srv.url("/hook/busy"),
        srv.url("/hook/gone")
    );
    let ws = workspace(&srv, &hooks, "");
    check(&ws, "baseline");
    srv.set("/src", page("350"));
    let v = check(&ws, "the change");
    let mail = v["mail"].as_str().unwrap();
    assert!(
        mail.contains("webhooks: 0 delivered, 1 waiting, 1 refused permanently"),
        "{mail}"
    );
    assert!(mail.contains("HTTP 404"), "{mail}");
    let reports = ws.root().join("reports");
    assert_eq!(files(&reports.join("outbox/webhooks"), "body"), 1);
    assert_eq!(files(&reports.join("outbox/webhooks/failed"), "body"), 1);

    let out = ws.run(&["outbox"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("waiting") && listing.contains("webhook 127.0.0.1"),
        "{listing}"
    );
    assert!(
        listing.contains("refused") && listing.contains("HTTP 404"),
        "{listing}"
    );

    // The next runs retry the waiting one (429, then 200), never the refused one.
    let v = check(&ws, "the first retry");
    assert_eq!(
        v["summary"]["new_flags"], 0,
        "the flag was announced: queued counts"
    );
    assert!(v["mail"].as_str().unwrap().contains("HTTP 429"), "{}", v["mail"]);
    let v = check(&ws, "the second retry");
    assert!(
        v["mail"]
            .as_str()
            .unwrap()
            .contains("webhooks: 1 delivered, 0 waiting, 1 refused permanently"),
        "{}",
        v["mail"]
    );
    let busy = srv.posted("/hook/busy");
    assert_eq!(busy.len(), 3);
    assert!(
        busy.iter().all(|(_, b)| *b == busy[0].1),
        "the same message each time"
    );
    assert_eq!(
        srv.posted("/hook/gone").len(),
        1,
        "a refusal is not retried by runs"
    );
    assert_eq!(files(&reports.join("sent/webhooks"), "body"), 1);
    // `outbox --send` retries the refused one too (a person fixed the receiver).
    srv.set("/hook/gone", Response::status(200));
    let out = ws.run(&["outbox", "--send"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(srv.posted("/hook/gone").len(), 2);
    assert_eq!(files(&reports.join("sent/webhooks"), "body"), 2);
}

#[test]
fn a_receiver_that_does_not_answer_costs_one_timeout_per_run() {
    let srv = PageServer::start();
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hooks = format!(
        "[[notify.webhook]]\nurl = \"http://{}/hook\"\ntimeout_secs = 2\nsend = \"always\"\n",
        silent.local_addr().unwrap()
    );
    let ws = workspace(&srv, &hooks, "");
    let v = check(&ws, "the first run");
    assert!(
        v["mail"].as_str().unwrap().contains("no answer within 2 s"),
        "{}",
        v["mail"]
    );
    let t = Instant::now();
    let v = check(&ws, "the second run");
    let took = t.elapsed();
    let mail = v["mail"].as_str().unwrap();
    assert!(mail.contains("webhooks: 0 delivered, 2 waiting"), "{mail}");
    // The queued message costs one timeout; the run's own is not tried after it.
    assert!(took < Duration::from_millis(3800), "{took:?}");
    let queued = ws.root().join("reports/outbox/webhooks");
    let notes: String = std::fs::read_dir(&queued)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        notes.contains("not tried, the receiver did not answer this pass"),
        "{notes}"
    );
    drop(silent);
}

#[test]
fn a_run_killed_after_queueing_its_webhooks_mails_once_and_posts_at_least_once() {
    let srv = PageServer::start();
    srv.set("/hook", Response::status(200));
    let smtp = SmtpServer::start();
    let mail = format!(
        "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"cw@example.org\"\nto = [\"desk@example.org\"]\ntimeout_secs = 5\n",
        smtp.port()
    );
    let hooks = format!("[[notify.webhook]]\nurl = \"{}\"\n", srv.url("/hook"));
    let ws = workspace(&srv, &hooks, &mail);
    check(&ws, "baseline");
    srv.set("/src", page("350"));
    let out = ws
        .cmd(&["check"])
        .env("FAILPOINTS", "webhook-queued=return")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(9), "{}", show(&out));
    let v = check(&ws, "the run after the kill");
    assert_eq!(v["summary"]["new_flags"], 1, "the flag stayed new: {v:#}");
    check(&ws, "the next run");
    assert_eq!(smtp.received().len(), 1, "the desk is mailed once");
    // The message queued before the kill is posted too: at least once, here twice.
    assert_eq!(srv.posted("/hook").len(), 2);
}

#[test]
fn webhook_settings_are_checked_with_their_lines() {
    let ws = Workspace::new();
    ws.watchlist(
        "a.toml",
        "title = \"a\"\narticle = \"\"\"About 600 soldiers [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"http://127.0.0.1:9/a\"\n",
    );
    ws.write(
        "citewatch.toml",
        "[[notify.webhook]]\nurl = \"ftp://hooks.example.org/x\"\n\n\
         [[notify.webhook]]\nurl = \"https://hooks.example.org/y\"\nurl_env = \"CW_URL\"\n\n\
         [[notify.webhook]]\nurl = \"https://hooks.example.org/z\"\ntoken_env = \"NOT-A-NAME\"\ntimeout_secs = 0\n\n\
         [[notify.webhook]]\nformat = \"slack\"\n",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "citewatch.toml:2:",
        "#1: url `ftp://hooks.example.org/x` is not an http(s) URL",
        "citewatch.toml:6:",
        "#2: give `url` or `url_env`, not both",
        "citewatch.toml:10:",
        "token_env `NOT-A-NAME` is not an environment variable name",
        "citewatch.toml:11:",
        "timeout_secs = 0 is outside 1-600",
        "#4: give the `url` to POST to",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    ws.write(
        "citewatch.toml",
        "[[notify.webhook]]\nurl = \"https://h.example.org/\"\nformat = \"teams\"\n",
    );
    let out = ws.run(&["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("citewatch.toml:3") && err.contains("teams"), "{err}");
}
