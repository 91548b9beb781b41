//! `[archive]` end to end against a loopback fake of the Wayback Machine
//! ([`crate::support::archive::FakeArchive`]): baselines as the sources stood on the checked
//! date, captures of new and changed sources, an archive that is down. Every address is
//! 127.0.0.1.

use serde_json::Value;

use crate::support::archive::{FakeArchive, SAVED_TS};
use crate::support::{PageServer, Response, Workspace, workspace::show};

fn page(body: &str) -> String {
    format!("<html><head><title>t</title></head><body><article>{body}</article></body></html>")
}

const TROOPS: &str =
    "The United States contributes about 600 soldiers to KFOR as of 2025, most of them at Camp Bondsteel.";
const OTHER: &str =
    "The weather in Pristina was mild during the spring, with occasional rain in the valleys.";
const STATEMENT: &str = "About 600 U.S. soldiers serve in KFOR as of 2025 [1].";

fn troops(n: &str) -> String {
    page(&format!("<p>{}</p><p>{OTHER}</p>", TROOPS.replace("600", n)))
}

/// A root whose archive is `archive_url`, with `extra` lines in `[archive]`.
fn workspace(archive_url: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "citewatch.toml",
        &format!("[fetch]\nretries = 1\n\n[archive]\nenabled = true\nurl = \"{archive_url}\"\npace_secs = 0\n{extra}"),
    );
    ws
}

/// One article checked on 2025-11-26 citing `urls` (cites 1, 2, …), one statement each.
fn article(ws: &Workspace, urls: &[&str]) {
    let mut prose = String::new();
    let mut sources = String::new();
    for (i, u) in urls.iter().enumerate() {
        let n = i + 1;
        if n == 1 {
            prose.push_str(STATEMENT);
        } else {
            prose.push_str(&format!(
                " Camp Bondsteel number {n} hosts the soldiers of site {n} [{n}]."
            ));
        }
        sources.push_str(&format!("[[source]]\ncite = {n}\nurl = \"{u}\"\n"));
    }
    ws.watchlist(
        "k.toml",
        &format!("title = \"Kosovo\"\nchecked = \"2025-11-26\"\narticle = \"\"\"{prose}\"\"\"\n{sources}"),
    );
}

fn check(ws: &Workspace) -> Value {
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    v
}

fn ev(v: &Value) -> &Value {
    &v["statements"][0]["evidence"][0]
}

#[test]
fn a_change_between_the_check_and_the_first_run_is_flagged_at_once() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    // Before the check date (the one to use), and a year later (already 350).
    arch.capture(&url, "20251120101010", &troops("600"));
    arch.capture(&url, "20261130101010", &troops("350"));
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);

    let v = check(&ws);
    let st = &v["statements"][0];
    assert_eq!(st["status"], "evidence_changed", "{v:#}");
    assert_eq!(
        (st["flagged"].clone(), st["new"].clone()),
        (true.into(), true.into())
    );
    let e = ev(&v);
    assert_eq!(e["baseline_from"], "archive");
    assert_eq!(e["archived"], arch.replay("20251120101010", &url));
    assert!(e["before"].as_str().unwrap().contains("600"), "{e:#}");
    assert!(e["after"].as_str().unwrap().contains("350"), "{e:#}");
    let facts = e["facts"].to_string();
    assert!(facts.contains("600") && facts.contains("350"), "{facts}");
    // The raw capture was read (`id_`), never the rewritten replay page.
    let log = arch.log();
    assert!(
        log.iter().any(|l| l.starts_with("GET /web/20251120101010id_/")),
        "{log:#?}"
    );
    assert!(!e["before"].as_str().unwrap().contains("Wayback"), "{e:#}");
    assert!(
        !log.iter().any(|l| l.starts_with("POST /save")),
        "save = never: {log:#?}"
    );
    assert_eq!(v["sources"][0]["outcome"], "new");
    assert_eq!(v["sources"][0]["archived"], Value::Null);

    // The next run: the archive baseline stands, the flag is outstanding; nothing is looked
    // up again for a source already seen.
    arch.clear_log();
    let v = check(&ws);
    let st = &v["statements"][0];
    assert_eq!(st["status"], "evidence_changed");
    assert_eq!(
        (st["flagged"].clone(), st["new"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(ev(&v)["baseline_from"], "archive");
    assert!(arch.log().is_empty(), "{:#?}", arch.log());

    // The report, the mail and the page link the archived copy; Robust Links on the source.
    let dir = ws.root().join("reports").join(v["run_id"].as_str().unwrap());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("archived copy"), "{html}");
    assert!(
        html.contains(&format!(
            "data-versionurl=\"{}\"",
            arch.replay("20251120101010", &url)
        )),
        "{html}"
    );
    assert!(html.contains(&format!("data-originalurl=\"{url}\"")), "{html}");
    assert!(html.contains("data-versiondate=\"2025-11-20\""), "{html}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("archived copy"), "{md}");
    let mail = std::fs::read_dir(ws.root().join("reports/mail"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(mail.contains("archived copy"), "{mail}");
}

#[test]
fn a_live_page_equal_to_its_capture_is_unchanged_with_an_archive_baseline() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("600")));
    arch.capture(&url, "20251126080000", &troops("600"));
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], false);
    assert_eq!(ev(&v)["baseline_from"], "archive");
    assert_eq!(ev(&v)["archived"], arch.replay("20251126080000", &url));
    assert_eq!(v["sources"][0]["outcome"], "new");
}

#[test]
fn only_later_captures_leave_the_live_page_as_baseline() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    // Later than 2025-11-26, and an earlier one that was no 2xx: neither counts.
    arch.capture(&url, "20251127000000", &troops("600"));
    arch.capture_status(&url, "20251101000000", 404);
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    assert_eq!(ev(&v)["baseline_from"], "live");
    assert_eq!(ev(&v)["archived"], Value::Null);
    assert!(ev(&v)["before"].as_str().unwrap().contains("350"));
    // The redirect led to a later capture; the CDX API was asked for earlier 2xx ones.
    let log = arch.log();
    assert!(
        log.iter().any(|l| l.starts_with("GET /cdx/search/cdx?")),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("id_/")), "nothing read: {log:#?}");
}

#[test]
fn a_later_capture_served_without_a_redirect_is_told_by_its_memento_datetime() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    arch.set_no_redirect(true);
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    arch.capture(&url, "20251127000000", &troops("600"));
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    assert_eq!(ev(&v)["baseline_from"], "live");
    assert!(
        arch.log().iter().any(|l| l.starts_with("GET /cdx/")),
        "{:#?}",
        arch.log()
    );
}

#[test]
fn an_earlier_capture_is_found_through_cdx_when_a_later_one_is_nearer() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    arch.capture(&url, "20251101000000", &troops("600"));
    arch.capture(&url, "20251127000000", &troops("350"));
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "evidence_changed", "{v:#}");
    assert_eq!(ev(&v)["archived"], arch.replay("20251101000000", &url));
}

#[test]
fn the_availability_api_answers_when_the_redirect_fails() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    arch.capture(&url, "20251120101010", &troops("600"));
    arch.set_redirect_broken(true);
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "evidence_changed", "{v:#}");
    assert_eq!(ev(&v)["baseline_from"], "archive");
    let log = arch.log();
    assert!(
        log.iter().any(|l| l.starts_with("GET /wayback/available?")),
        "{log:#?}"
    );
}

#[test]
fn a_url_never_archived_takes_a_live_baseline() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("600")));
    let ws = workspace(&arch.base(), "save = \"never\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    assert_eq!(ev(&v)["baseline_from"], "live");
    // The redirect form answered 404, the availability and CDX APIs confirmed; nothing read.
    let log = arch.log();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert!(log[0].starts_with("GET /web/20251126235959/"), "{log:#?}");
    assert!(!log.iter().any(|l| l.contains("id_/")), "{log:#?}");
}

#[test]
fn a_live_404_with_an_archived_copy_is_unreachable_with_the_copy_linked() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/gone");
    srv.set("/gone", Response::status(404));
    arch.capture(&url, "20251120101010", &troops("600"));
    let ws = workspace(&arch.base(), "");
    article(&ws, &[&url]);
    let v = check(&ws);
    let st = &v["statements"][0];
    assert_eq!(st["status"], "source_unreachable", "{v:#}");
    assert_eq!(st["flagged"], true);
    assert_eq!(ev(&v)["archived"], arch.replay("20251120101010", &url));
    assert_eq!(ev(&v)["baseline_from"], "archive");
    assert!(
        ev(&v)["before"].as_str().unwrap().contains("600"),
        "last good copy: {v:#}"
    );
    // No capture is asked for a failed fetch.
    assert!(arch.saves().is_empty(), "{:#?}", arch.log());
    assert_eq!(v["sources"][0]["archived"], Value::Null);

    // Back, still saying 600: unchanged against the archive's copy, the flag cleared.
    srv.set("/gone", Response::html(&troops("600")));
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
    assert_eq!(ev(&v)["baseline_from"], "archive");
}

#[test]
fn captures_are_requested_for_new_and_changed_sources_only() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    // Save Page Now 2 answers "pending" twice, then "success"; the first request is a 429.
    arch.set_pending_polls(2);
    arch.throttle(1);
    let (a, b) = (srv.url("/a"), srv.url("/b"));
    srv.set("/a", Response::html(&troops("600")));
    srv.set(
        "/b",
        Response::html(&page(
            "<p>Camp Bondsteel number 2 hosts the soldiers of site 2.</p>",
        )),
    );
    let ws = workspace(
        &arch.base(),
        "baseline = \"live\"\naccess_key_env = \"CW_TEST_ARCHIVE_KEY\"\nsecret_key_env = \"CW_TEST_ARCHIVE_SECRET\"\n",
    );
    article(&ws, &[&a, &b]);
    let run = |ws: &Workspace| {
        let out = ws
            .cmd(&["check", "--format", "json"])
            .env("CW_TEST_ARCHIVE_KEY", "k3y")
            .env("CW_TEST_ARCHIVE_SECRET", "s3cret")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v = run(&ws);
    let mut saves = arch.saves();
    saves.sort();
    assert_eq!(saves, [a.clone(), b.clone()], "both new: {:#?}", arch.log());
    assert!(
        arch.log()[0].starts_with("POST /save"),
        "the 429 was retried: {:#?}",
        arch.log()
    );
    for s in v["sources"].as_array().unwrap() {
        let u = s["url"].as_str().unwrap();
        assert_eq!(s["archived"], arch.replay(SAVED_TS, u), "{v:#}");
    }
    // The baseline version was captured when first seen: the evidence links it.
    assert_eq!(ev(&v)["baseline_from"], "live");
    assert_eq!(ev(&v)["archived"], arch.replay(SAVED_TS, &a));
    let auth = arch.save_headers()[0]["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(auth, "LOW k3y:s3cret");

    // Only /a changes: one capture, of /a.
    arch.clear_log();
    srv.set("/a", Response::html(&troops("350")));
    let v = run(&ws);
    assert_eq!(arch.saves(), std::slice::from_ref(&a));
    let line = |v: &Value, u: &str| {
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["url"] == u)
            .unwrap()
            .clone()
    };
    assert_eq!(line(&v, &a)["archived"], arch.replay(SAVED_TS, &a));
    assert_eq!(line(&v, &b)["archived"], Value::Null);
    // The flagged statement's baseline (the first version) keeps its capture.
    assert_eq!(v["statements"][0]["status"], "evidence_changed");
    assert_eq!(ev(&v)["archived"], arch.replay(SAVED_TS, &a));

    // Nothing changes: no capture.
    arch.clear_log();
    let _ = run(&ws);
    assert!(arch.saves().is_empty(), "{:#?}", arch.log());
}

#[test]
fn a_capture_still_pending_at_the_end_of_a_run_is_resolved_by_the_next() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    arch.set_pending_polls(1000);
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("600")));
    let ws = workspace(&arch.base(), "save_wait_secs = 1\n");
    article(&ws, &[&url]);
    let t = std::time::Instant::now();
    let v = check(&ws);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(arch.saves(), std::slice::from_ref(&url));
    assert_eq!(v["sources"][0]["archived"], Value::Null, "still pending");
    assert_eq!(ev(&v)["archived"], Value::Null);
    let polls = |log: Vec<String>| {
        log.iter()
            .filter(|l| l.starts_with("GET /save/status/spn2-1"))
            .count()
    };
    assert!(polls(arch.log()) >= 1, "{:#?}", arch.log());

    // The job finishes; the next run (nothing changed, so nothing new to capture) asks about
    // it once and stores the capture with the version.
    arch.finish_jobs();
    arch.clear_log();
    let v = check(&ws);
    assert!(arch.saves().is_empty(), "{:#?}", arch.log());
    assert_eq!(polls(arch.log()), 1, "{:#?}", arch.log());
    assert_eq!(v["sources"][0]["archived"], Value::Null, "not made in this run");
    assert_eq!(ev(&v)["archived"], arch.replay(SAVED_TS, &url));
    // Resolved: not asked about again.
    arch.clear_log();
    let v = check(&ws);
    assert_eq!(polls(arch.log()), 0, "{:#?}", arch.log());
    assert_eq!(ev(&v)["archived"], arch.replay(SAVED_TS, &url));
}

#[test]
fn the_plain_save_form_is_used_without_save_page_now_2() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    arch.set_no_spn2(true);
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("600")));
    let ws = workspace(&arch.base(), "save = \"always\"\n");
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(
        v["sources"][0]["archived"],
        arch.replay(SAVED_TS, &url),
        "{:#?}",
        arch.log()
    );
    // `always`: the unchanged page is captured again.
    let v = check(&ws);
    assert_eq!(v["sources"][0]["outcome"], "unchanged");
    assert_eq!(v["sources"][0]["archived"], arch.replay(SAVED_TS, &url));
    assert_eq!(arch.saves().len(), 2);
}

/// The report of a run with the run's times and ids taken out, to compare runs.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    for k in ["run_id", "started_at", "finished_at", "mail"] {
        v[k] = Value::Null;
    }
    v
}

#[test]
fn an_archive_that_is_down_changes_nothing_else() {
    let srv = PageServer::start();
    let (a, b) = (srv.url("/a"), srv.url("/gone"));
    srv.set("/a", Response::html(&troops("600")));
    srv.set("/gone", Response::status(404));
    // A port nothing listens on (bound, then closed): connections are refused.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let broken = FakeArchive::start();
    broken.set_broken(true);
    let plain = Workspace::new();
    article(&plain, &[&a, &b]);
    let expected = comparable(&check(&plain));
    for (what, base) in [("refused", refused), ("500", broken.base())] {
        let ws = workspace(&base, "save = \"always\"\n");
        article(&ws, &[&a, &b]);
        let t = std::time::Instant::now();
        let v = check(&ws);
        assert_eq!(comparable(&v), expected, "archive {what}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "archive {what}: {:?}",
            t.elapsed()
        );
        // Three requests in a row failed (each tried twice): after those, and the ones then in
        // flight for the other source, nothing more was sent that run (no save either).
        assert!(broken.log().len() <= 8, "{:#?}", broken.log());
        assert!(
            !broken.log().iter().any(|l| l.contains("/save")),
            "{:#?}",
            broken.log()
        );
        broken.clear_log();
        // And the next run goes on as usual.
        srv.set("/a", Response::html(&troops("350")));
        let v = check(&ws);
        assert_eq!(
            v["statements"][0]["status"], "evidence_changed",
            "archive {what}: {v:#}"
        );
        srv.set("/a", Response::html(&troops("600")));
    }
    assert!(!broken.log().is_empty(), "the broken archive was asked");
}

#[test]
fn the_archive_command_takes_a_watched_articles_baselines_again() {
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    arch.capture(&url, "20251120101010", &troops("600"));
    // Watched before the archive was used: the live page (350) is the baseline.
    let ws = Workspace::new();
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "baseline");
    assert_eq!(ev(&v)["baseline_from"], "live");

    let help = ws.run(&["archive", "--help"]);
    assert!(help.status.success(), "{}", show(&help));
    assert!(String::from_utf8_lossy(&help.stdout).contains("ARTICLE_ID"));
    // Not enabled: refused, nothing sent.
    let out = ws.run(&["archive", "k"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[archive]"),
        "{}",
        show(&out)
    );
    assert!(arch.log().is_empty());

    ws.write(
        "citewatch.toml",
        &format!(
            "[archive]\nenabled = true\nurl = \"{}\"\npace_secs = 0\nsave = \"never\"\n",
            arch.base()
        ),
    );
    let out = ws.run(&["archive", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = ws.run(&["archive", "k"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("baseline from {}", arch.replay("20251120101010", &url))),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 of 1 baselines taken from the archive"),
        "{stdout}"
    );

    // The next run judges the live page against the capture.
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "evidence_changed", "{v:#}");
    assert_eq!(v["statements"][0]["new"], true);
    assert_eq!(ev(&v)["baseline_from"], "archive");
    assert_eq!(ev(&v)["archived"], arch.replay("20251120101010", &url));
    assert!(ev(&v)["before"].as_str().unwrap().contains("600"));
    assert!(ev(&v)["after"].as_str().unwrap().contains("350"));
}

#[test]
fn the_daemons_page_links_the_archived_copy_of_a_flagged_statement() {
    use crate::daemon::{Daemon, free_port};
    let srv = PageServer::start();
    let arch = FakeArchive::start();
    let url = srv.url("/a");
    srv.set("/a", Response::html(&troops("350")));
    arch.capture(&url, "20251120101010", &troops("600"));
    let port = free_port();
    let ws = Workspace::new();
    ws.write(
        "citewatch.toml",
        &format!(
            "[schedule]\ncron = \"0 0 6 1 1 *\"\n\n[archive]\nenabled = true\nurl = \"{}\"\npace_secs = 0\nsave = \"never\"\n\n[control]\nlisten = \"127.0.0.1:{port}\"\n",
            arch.base()
        ),
    );
    article(&ws, &[&url]);
    let v = check(&ws);
    assert_eq!(v["statements"][0]["status"], "evidence_changed", "{v:#}");
    let d = Daemon::start(&ws, port, &[]);
    let (status, _, page) = d.get("/");
    assert_eq!(status, 200);
    let capture = arch.replay("20251120101010", &url);
    assert!(
        page.contains(&format!(
            "<a href=\"{capture}\" rel=\"nofollow\" style=\"color:#1a5fb4\">archived copy</a>"
        )),
        "{page}"
    );
    assert!(page.contains(&format!("data-versionurl=\"{capture}\"")), "{page}");
}
