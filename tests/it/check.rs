//! `citewatch check` end to end against a loopback server.

use crate::support::{PageServer, Response, Workspace, workspace::show};

fn page(body: &str) -> String {
    format!(
        "<html><head><title>t</title></head><body><nav>Menu Home About</nav><article>{body}</article><footer>Generated 12:00</footer></body></html>"
    )
}

#[test]
fn first_check_stores_and_reports_new() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 600 U.S. soldiers serve in KFOR.</p><p>Camp Bondsteel is the base.</p>",
        )),
    );
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "new");
    assert_eq!(v["sources"][0]["http_status"], 200);
    assert_eq!(v["statements"][0]["status"], "baseline");
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "unchanged");
    assert_eq!(v["statements"][0]["status"], "unchanged");
    assert_eq!(srv.hits("/a"), 2);
}

fn one_source(ws: &Workspace, url: &str, article: &str) {
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle = \"\"\"{article}\"\"\"\n[[source]]\ncite = 1\nurl = \"{url}\"\n"
        ),
    );
}

const TROOPS: &str =
    "The United States contributes about 600 soldiers to KFOR as of 2025, most of them at Camp Bondsteel.";
const OTHER: &str =
    "The weather in Pristina was mild during the spring, with occasional rain in the valleys.";

/// `/a` serving [`TROOPS`] and [`OTHER`], cited by one statement, checked once.
fn troops_checked_once() -> (PageServer, Workspace) {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{TROOPS}</p><p>{OTHER}</p>"))),
    );
    let ws = Workspace::new();
    one_source(
        &ws,
        &srv.url("/a"),
        "About 600 U.S. soldiers serve in KFOR as of 2025 [1].",
    );
    let (out, _) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    (srv, ws)
}

#[test]
fn changed_number_is_flagged_until_acked() {
    let (srv, ws) = troops_checked_once();

    // An unrelated paragraph changes: quiet.
    srv.set(
        "/a",
        Response::html(&page(&format!(
            "<p>{TROOPS}</p><p>It snowed in Pristina in March.</p>"
        ))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "changed");
    assert_eq!(v["statements"][0]["status"], "source_changed_elsewhere", "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], false);

    // The number in the backing sentence changes: flagged, with before and after.
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{}</p>", TROOPS.replace("600", "350")))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let st = &v["statements"][0];
    assert_eq!(st["status"], "evidence_changed", "{v:#}");
    assert_eq!(st["flagged"], true);
    assert_eq!(st["new"], true);
    assert!(st["evidence"][0]["before"].as_str().unwrap().contains("600"));
    assert!(st["evidence"][0]["after"].as_str().unwrap().contains("350"));
    assert_eq!(v["summary"]["new_flags"], 1);

    // Still flagged on the next run, but no longer new; --fail-on-flagged exits 1.
    let out = ws.run(&["check", "--fail-on-flagged"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["flagged"], true);
    assert_eq!(v["statements"][0]["new"], false);

    // A person acknowledges it: the baseline moves and the flag clears.
    let id = v["statements"][0]["id"].as_str().unwrap().to_owned();
    let out = ws.run(&["ack", &id, "--by", "tester"]);
    assert!(out.status.success(), "{}", show(&out));
    // Again: it is no longer flagged, so nothing happens and ack says so (exit 1). See: issue 15.
    let out = ws.run(&["ack", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("{id} is not flagged: nothing to acknowledge")),
        "{}",
        show(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("acknowledged"),
        "{}",
        show(&out)
    );
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], false);
    let index = crate::support::store::index(ws.root()).to_string();
    assert!(index.contains("ack by tester"));
    assert!(index.contains(r#""by":"tester""#), "the ack is recorded: {index}");
}

#[test]
fn reports_are_written_and_escape_source_text() {
    let srv = PageServer::start();
    let hostile = "The force counts 600 soldiers &lt;script&gt;alert(1)&lt;/script&gt; at Camp Bondsteel.";
    srv.set("/a", Response::html(&page(&format!("<p>{hostile}</p>"))));
    let ws = Workspace::new();
    one_source(
        &ws,
        &srv.url("/a"),
        "The force counts 600 soldiers at Camp Bondsteel [1].",
    );
    let (out, _) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{}</p>", hostile.replace("600", "350")))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let dir = ws.root().join("reports").join(v["run_id"].as_str().unwrap());
    for f in ["report.json", "report.md", "report.html"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("evidence_changed"));
    assert!(!html.contains("<script>"), "source text must be escaped");
}

#[test]
fn unknown_only_is_a_usage_error() {
    let ws = Workspace::new();
    one_source(&ws, "http://127.0.0.1:9/x", "A claim [1].");
    let out = ws.run(&["check", "--only", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn second_concurrent_check_exits_3() {
    let srv = PageServer::start();
    srv.set(
        "/slow",
        Response::html(&page("<p>A slow page about 600 soldiers.</p>"))
            .delay(std::time::Duration::from_secs(60)),
    );
    let ws = Workspace::new();
    one_source(&ws, &srv.url("/slow"), "A slow page about 600 soldiers [1].");
    let mut first = ws
        .cmd(&["check"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (its request has reached the server).
    let t0 = std::time::Instant::now();
    while srv.hits("/slow") == 0 && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = ws.run(&["check"]);
    assert_eq!(second.status.code(), Some(3), "{}", show(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("holds the lock"),
        "{}",
        show(&second)
    );
    // The first run would wait a minute for its page: stop it here.
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn run_killed_midway_leaves_a_usable_store() {
    let srv = PageServer::start();
    srv.set("/a", Response::html(&page(&format!("<p>{TROOPS}</p>"))));
    let ws = Workspace::new();
    one_source(
        &ws,
        &srv.url("/a"),
        "About 600 U.S. soldiers serve in KFOR as of 2025 [1].",
    );
    let (out, _) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let before = crate::support::store::index(ws.root());

    // Kill a second run while it waits for the page.
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{}</p>", TROOPS.replace("600", "350"))))
            .delay(std::time::Duration::from_secs(5)),
    );
    let mut child = ws
        .cmd(&["check"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while srv.hits("/a") < 2 && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(crate::support::store::index(ws.root()), before);

    // The next run works without repair and sees the change.
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{}</p>", TROOPS.replace("600", "350")))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["statements"][0]["status"], "evidence_changed", "{v:#}");
}

#[test]
fn unwritable_store_exits_3() {
    let ws = Workspace::new();
    one_source(&ws, "http://127.0.0.1:9/x", "A claim [1].");
    // A file where the store folder should be (permissions do not stop root).
    ws.write("snapshots", "not a folder");
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("snapshot store"),
        "{}",
        show(&out)
    );
}

#[test]
fn unreachable_source_is_flagged_once_as_new_then_recovers() {
    let srv = PageServer::start();
    let ws = Workspace::new();
    one_source(
        &ws,
        &srv.url("/gone"),
        "About 600 U.S. soldiers serve in KFOR as of 2025 [1].",
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "error");
    assert_eq!(v["statements"][0]["status"], "source_unreachable");
    assert_eq!(v["statements"][0]["new"], true);
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["flagged"], true);
    assert_eq!(
        v["statements"][0]["new"], false,
        "an outstanding flag is not new again"
    );
    srv.set("/gone", Response::html(&page(&format!("<p>{TROOPS}</p>"))));
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], false);
}

#[test]
fn pointing_a_cite_at_another_url_takes_a_new_baseline() {
    let srv = PageServer::start();
    srv.set("/old", Response::html(&page(&format!("<p>{TROOPS}</p>"))));
    srv.set(
        "/new",
        Response::html(&page("<p>KFOR counts about 600 U.S. soldiers as of 2025.</p>")),
    );
    let ws = Workspace::new();
    let claim = "About 600 U.S. soldiers serve in KFOR as of 2025 [1].";
    one_source(&ws, &srv.url("/old"), claim);
    let (out, _) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    // The editor replaces the source: judged against the new page's own baseline, not the old one.
    one_source(&ws, &srv.url("/new"), claim);
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "baseline", "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], false);
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
}

#[test]
fn a_change_found_after_an_outage_is_a_new_flag() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{TROOPS}</p><p>{OTHER}</p>"))),
    );
    let ws = Workspace::new();
    one_source(
        &ws,
        &srv.url("/a"),
        "About 600 U.S. soldiers serve in KFOR as of 2025 [1].",
    );
    ws.check_json();
    srv.set("/a", Response::status(404));
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "source_unreachable");
    assert_eq!(v["statements"][0]["new"], true);
    // Back, with the figure revised: the desk must hear about it even though it was flagged.
    srv.set(
        "/a",
        Response::html(&page(&format!(
            "<p>{}</p><p>{OTHER}</p>",
            TROOPS.replace("600", "350")
        ))),
    );
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "evidence_changed", "{v:#}");
    assert_eq!(v["statements"][0]["new"], true);
    assert_eq!(v["summary"]["new_flags"], 1);
}

#[test]
fn baselines_of_reworded_statements_are_dropped() {
    let srv = PageServer::start();
    srv.set("/a", Response::html(&page(&format!("<p>{TROOPS}</p>"))));
    let ws = Workspace::new();
    one_source(
        &ws,
        &srv.url("/a"),
        "About 600 U.S. soldiers serve in KFOR as of 2025 [1].",
    );
    ws.check_json();
    one_source(
        &ws,
        &srv.url("/a"),
        "Roughly 600 U.S. soldiers serve in KFOR in 2025 [1].",
    );
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "baseline");
    let index = crate::support::store::index(ws.root());
    assert_eq!(index["baselines"].as_object().unwrap().len(), 1, "{index:#}");
}

/// Makes the store look as if an older extractor ("x0") had read the page: the stored text of
/// the only source gets the anchored sentence as `old_sentence` (the way that extractor wrote
/// it), and its version and baseline point at that text.
fn pretend_older_extractor(ws: &Workspace, old_sentence: &str) {
    let mut index = crate::support::store::index(ws.root());
    let (_, src) = index["sources"]
        .as_object_mut()
        .unwrap()
        .iter_mut()
        .next()
        .unwrap();
    let version = &mut src["versions"][0];
    let text_path = ws.root().join(format!(
        "snapshots/text/{}.txt",
        version["text"].as_str().unwrap()
    ));
    let old_text = std::fs::read_to_string(&text_path)
        .unwrap()
        .replace(TROOPS, old_sentence);
    assert!(old_text.contains(old_sentence));
    let hash = blake3::hash(old_text.as_bytes()).to_hex().to_string();
    std::fs::write(ws.root().join(format!("snapshots/text/{hash}.txt")), &old_text).unwrap();
    version["text"] = hash.clone().into();
    version["extractor"] = "x0".into();
    src["last"]["rules"] = "x0:".into();
    for (_, b) in index["baselines"].as_object_mut().unwrap().iter_mut() {
        b["version"] = hash.clone().into();
        b["anchors"][0]["passage"] = old_sentence.into();
    }
    crate::support::store::replace(ws.root(), &index);
}

/// A workspace whose one statement was checked against `/a` ([`TROOPS`] and [`OTHER`]) by an
/// older extractor, which kept a footnote link inside the sentence; returns that sentence.
fn checked_by_an_older_extractor() -> (PageServer, Workspace, String) {
    let (srv, ws) = troops_checked_once();
    let old = TROOPS.replace("2025,", "2025 [source: Army.mil],");
    pretend_older_extractor(&ws, &old);
    (srv, ws, old)
}

#[test]
fn an_extractor_upgrade_is_not_reported_as_a_change() {
    let (_srv, ws, _) = checked_by_an_older_extractor();

    // The page did not change: the stored page is read again by this extractor, nothing is
    // flagged, and the baseline says so.
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "unchanged", "{v:#}");
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
    assert_eq!(v["statements"][0]["flagged"], false);
    let index = crate::support::store::index(ws.root()).to_string();
    assert!(index.contains("re-extracted (x"), "{index}");
    // Once re-read, later runs compare as usual.
    let (_, v) = ws.check_json();
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
}

#[test]
fn a_change_made_across_an_extractor_upgrade_is_still_flagged() {
    let (srv, ws, _) = checked_by_an_older_extractor();
    // The figure changes in the same run that first uses the new extractor.
    srv.set(
        "/a",
        Response::html(&page(&format!(
            "<p>{}</p><p>{OTHER}</p>",
            TROOPS.replace("600", "350")
        ))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let st = &v["statements"][0];
    assert_eq!(st["status"], "evidence_changed", "{v:#}");
    assert_eq!(st["evidence"][0]["before"].as_str().unwrap(), TROOPS, "{v:#}");
    assert!(
        st["evidence"][0]["after"].as_str().unwrap().contains("350"),
        "{v:#}"
    );
}

#[test]
fn a_page_that_now_reads_like_the_old_extractor_output_is_judged() {
    // Today's page, read by this extractor, is word for word what the older one had stored,
    // while the stored page read again differs: the baseline is judged, not merely located.
    let (srv, ws, old) = checked_by_an_older_extractor();
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{old}</p><p>{OTHER}</p>"))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_ne!(v["sources"][0]["outcome"], "error", "{v:#}");
    assert_eq!(
        v["statements"][0]["evidence"][0]["before"].as_str().unwrap(),
        TROOPS,
        "{v:#}"
    );
    assert_eq!(
        v["statements"][0]["evidence"][0]["after"].as_str().unwrap(),
        old,
        "{v:#}"
    );
}

#[test]
fn articles_checked_later_are_compared_with_their_page_read_again_too() {
    // Two articles cite one page; after the upgrade only one is checked (`--only`), then all:
    // the other's baseline is read again even though the page's body is byte-identical.
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{TROOPS}</p><p>{OTHER}</p>"))),
    );
    let ws = Workspace::new();
    for id in ["a", "b"] {
        ws.watchlist(
            &format!("{id}.toml"),
            &format!(
                "title = \"{id}\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR as of 2025 [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
                srv.url("/a")
            ),
        );
    }
    let (out, _) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    pretend_older_extractor(&ws, &TROOPS.replace("2025,", "2025 [source: Army.mil],"));
    let out = ws.run(&["check", "--only", "a"]);
    assert!(out.status.success(), "{}", show(&out));
    for _ in 0..2 {
        let (out, v) = ws.check_json();
        assert!(out.status.success(), "{}", show(&out));
        for st in v["statements"].as_array().unwrap() {
            assert_eq!(st["status"], "unchanged", "{v:#}");
        }
    }
}

/// A body that is not text, with or without a text content type, is `source_unreachable`
/// ("unsupported content type"), never `evidence_removed` against decoded garbage; the
/// baseline stays and the next good answer is judged against it.
#[test]
fn a_binary_body_is_unreachable_not_evidence_removed() {
    let (srv, ws) = troops_checked_once();
    let mut garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    garbage[10] = 0;
    for resp in [
        Response::typed("application/octet-stream", garbage.clone()),
        Response::typed("text/html; charset=utf-8", garbage.clone()),
    ] {
        srv.set("/a", resp);
        let (out, v) = ws.check_json();
        assert!(out.status.success(), "{}", show(&out));
        let e = &v["statements"][0]["evidence"][0];
        assert_eq!(e["status"], "source_unreachable", "{v:#}");
        assert!(
            e["note"].as_str().unwrap().contains("unsupported content type"),
            "{e:#}"
        );
        assert!(e["before"].as_str().unwrap().contains("600"), "{e:#}");
    }
    srv.set(
        "/a",
        Response::html(&page(&format!("<p>{TROOPS}</p><p>{OTHER}</p>"))),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["statements"][0]["status"], "unchanged", "{v:#}");
}

/// `evidence` quotes tied to one cite, plain quotes found in whichever cited source has them,
/// and the pairs without a passage listed in check's summary with the sentence to paste.
#[test]
fn per_cite_quotes_and_the_unanchored_list() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(
            "<p>The United States contributes more than 600 troops to KFOR.</p><p>The weather in Pristina was mild.</p>",
        )),
    );
    srv.set(
        "/b",
        Response::html(&page(
            "<p>Most U.S. soldiers are based at Camp Bondsteel near Ferizaj.</p><p>Officials said no changes were planned.</p>",
        )),
    );
    srv.set(
        "/c",
        Response::html(&page(
            "<p>The ministry publishes an annual report on regional cooperation.</p>",
        )),
    );
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!(
            r#"title = "Kosovo"
article = """U.S. forces contribute some 600 troops to KFOR, most of them at Camp Bondsteel [1][2][3]."""
[[source]]
cite = 1
url = "{a}"
[[source]]
cite = 2
url = "{b}"
[[source]]
cite = 3
url = "{c}"
[[statement]]
text = "U.S. forces contribute some 600 troops to KFOR, most of them at Camp Bondsteel."
cites = [1, 2, 3]
evidence = [{{cite = 1, quote = "more than 600 troops"}}, {{cite = 2, quote = "based at Camp Bondsteel"}}, "no changes were planned", {{cite = 3, quote = "not on this page"}}]
"#,
            a = srv.url("/a"),
            b = srv.url("/b"),
            c = srv.url("/c")
        ),
    );
    let out = ws.run(&["check"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // [1] and [2] are anchored by their own quotes; the plain quote is in [2], so it is not
    // "not found"; [3]'s own quote is missing and listed, with its closest sentence.
    assert!(
        text.contains("Not anchored: 1 of 3 statement × source pairs"),
        "{text}"
    );
    assert!(
        text.contains("evidence quote not found: “not on this page”"),
        "{text}"
    );
    assert!(!text.contains("no changes were planned”"), "{text}");
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let ev = v["statements"][0]["evidence"].as_array().unwrap().clone();
    assert_eq!(ev[0]["anchored"], true, "{ev:#?}");
    assert_eq!(ev[1]["anchored"], true, "{ev:#?}");
    assert!(ev[0].get("missing_quotes").is_none(), "{ev:#?}");
    assert_eq!(ev[2]["missing_quotes"][0], "not on this page", "{ev:#?}");

    // The figure in [1]'s quoted passage changes: flagged with before and after, while [2]
    // and [3] stay as they were.
    srv.set(
        "/a",
        Response::html(&page(
            "<p>The United States contributes more than 350 troops to KFOR.</p><p>The weather in Pristina was mild.</p>",
        )),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let st = &v["statements"][0];
    assert_eq!(st["status"], "evidence_changed", "{v:#}");
    assert_eq!(st["evidence"][0]["facts"][0]["after"], "350", "{v:#}");
    assert_eq!(st["evidence"][1]["status"], "unchanged", "{v:#}");
}

#[test]
fn a_page_that_is_one_huge_paragraph_gives_bounded_passages() {
    let srv = PageServer::start();
    // 2.5 MB of prose without a full stop, the statement's figure in the middle.
    let filler = "the depot keeps its buses on the routes of the town and ".repeat(22_000);
    let huge = |n: &str| {
        page(&format!(
            "<p>{filler} about {n} U.S. soldiers serve in KFOR {filler}</p>"
        ))
    };
    srv.set("/a", Response::html(&huge("600")));
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"K\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    let (out, _) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    srv.set("/a", Response::html(&huge("350")));
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let ev = &v["statements"][0]["evidence"][0];
    assert_eq!(ev["status"], "evidence_changed", "{ev:#}");
    for side in ["before", "after"] {
        let p = ev[side].as_str().unwrap();
        assert!(p.len() <= 3000, "{side}: a passage of {} bytes", p.len());
    }
    assert!(ev["before"].as_str().unwrap().contains("600") && ev["after"].as_str().unwrap().contains("350"));
    let report = std::fs::read(
        ws.root()
            .join("reports")
            .join(v["run_id"].as_str().unwrap())
            .join("report.json"),
    )
    .unwrap();
    assert!(report.len() < 100_000, "report.json {} bytes", report.len());
}

#[test]
fn a_local_run_goes_batch_by_batch_and_reports_as_one_run() {
    let srv = PageServer::start();
    let ws = Workspace::new();
    // Five articles; `a1` and `a2` share the page /shared, so they are in one batch.
    for i in 0..5 {
        let own = format!("/own{i}");
        srv.set(
            &own,
            Response::html(&page(&format!(
                "<p>The depot of town{i} keeps {} buses.</p>",
                40 + i
            ))),
        );
        let shared = if i == 1 || i == 2 {
            format!("[[source]]\ncite = 2\nurl = \"{}\"\n", srv.url("/shared"))
        } else {
            String::new()
        };
        let cite2 = if shared.is_empty() {
            ""
        } else {
            " Camp Bondsteel has 600 soldiers [2]."
        };
        ws.watchlist(
            &format!("a{i}.toml"),
            &format!(
                "title = \"A{i}\"\narticle = \"\"\"The depot of town{i} keeps {} buses [1].{cite2}\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n{shared}",
                40 + i,
                srv.url(&own)
            ),
        );
    }
    srv.set(
        "/shared",
        Response::html(&page("<p>Camp Bondsteel has 600 soldiers.</p>")),
    );
    ws.write("citewatch.toml", "[store]\nclaim_batch = 2\n");
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["summary"]["statements"], 7, "{v:#}");
    assert_eq!(v["articles"].as_array().unwrap().len(), 5);
    assert_eq!(
        srv.hits("/shared"),
        1,
        "a source shared by two articles is fetched once"
    );
    srv.set(
        "/shared",
        Response::html(&page("<p>Camp Bondsteel has 350 soldiers.</p>")),
    );
    srv.set(
        "/own4",
        Response::html(&page("<p>The depot of town4 keeps 9 buses.</p>")),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(srv.hits("/shared"), 2);
    assert_eq!(v["summary"]["flagged"], 3, "{v:#}");
    assert_eq!(v["summary"]["sources"], 6, "{v:#}");
    let flagged: Vec<&str> = v["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["flagged"] == true)
        .map(|s| s["article"].as_str().unwrap())
        .collect();
    assert_eq!(flagged.len(), 3);
    for a in ["a1", "a2", "a4"] {
        assert!(flagged.contains(&a), "{flagged:?}");
    }
    let idx = crate::support::store::index(ws.root());
    assert_eq!(
        idx["baselines"].as_object().unwrap().len(),
        7,
        "no baseline lost between batches"
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["summary"]["flagged"], 3);
    assert_eq!(v["summary"]["new_flags"], 0, "announced once, across batches");
}

/// `check --only A` reads `watchlist/A.toml` alone (a run costs what it checks): a broken
/// file elsewhere does not stop it, while a full run and an id declared in another file
/// still go through the whole folder.
#[test]
fn only_reads_the_articles_own_file() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR.</p>")),
    );
    let ws = Workspace::new();
    let toml = |t: &str| {
        format!(
            "title = \"{t}\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        )
    };
    ws.watchlist("a.toml", &toml("A"));
    ws.watchlist("elsewhere.toml", &format!("id = \"b\"\n{}", toml("B")));
    ws.watchlist("broken.toml", "title = \"x\"\n[[source]\n");
    let out = ws.run(&["check", "--only", "a", "--format", "json"]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["statements"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["statements"][0]["article"], "a", "{v:#}");
    // `b` lives in another file: the whole folder is read, and its broken file named.
    let out = ws.run(&["check", "--only", "b"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.toml"),
        "{}",
        show(&out)
    );
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.toml"),
        "{}",
        show(&out)
    );
}
