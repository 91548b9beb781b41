//! The store: the upgrade of a format-1 store (the committed fixture), and SIGKILL at many
//! points of a run and of an `ack`.

use std::path::Path;

use crate::support::store::index;
use crate::support::{PageServer, Response, Workspace, workspace::show};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Serves `pages/a` overlaid with `pages/b` of the fixture at its URL paths, the annual report
/// gone (as its make.sh leaves them).
fn serve_fixture_pages(fixture: &Path) -> PageServer {
    // The URLs in the fixture's watchlist and store name this port.
    let srv = PageServer::start_at_port(18765);
    for (version, modified) in [
        ("a", "Sat, 21 Nov 2026 09:15:00 GMT"),
        ("b", "Wed, 25 Nov 2026 12:00:00 GMT"),
    ] {
        let root = fixture.join("pages").join(version);
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("pages").flatten() {
                if e.file_type().expect("type").is_dir() {
                    stack.push(e.path());
                    continue;
                }
                let rel = e.path().strip_prefix(&root).expect("under root").to_owned();
                let path = format!("/{}", rel.to_string_lossy());
                let body = std::fs::read(e.path()).expect("page");
                srv.set(
                    &path,
                    Response::typed("text/html", body).header("last-modified", modified),
                );
            }
        }
    }
    srv.set("/about/annual-report-2025.html", Response::status(404));
    srv
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// See: issue 12.
#[test]
fn a_format_1_store_upgrades_itself_and_the_next_run_reports_nothing_new() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let ws = Workspace::new();
    copy_dir(&fixture.join("watchlist"), &ws.root().join("watchlist"));
    copy_dir(&fixture.join("snapshots"), &ws.root().join("snapshots"));
    let before = index(ws.root());
    assert_eq!(before["format"], 1);
    assert_eq!(before["baselines"].as_object().unwrap().len(), 10);
    let objects = (
        names_in(&ws.root().join("snapshots/text")),
        names_in(&ws.root().join("snapshots/raw")),
    );
    let _srv = serve_fixture_pages(&fixture);

    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let s = &v["summary"];
    assert_eq!(
        (
            &s["statements"],
            &s["flagged"],
            &s["new_flags"],
            &s["sources"],
            &s["sources_changed"],
            &s["sources_failed"]
        ),
        (&8.into(), &2.into(), &0.into(), &4.into(), &0.into(), &1.into()),
        "{v:#}"
    );
    let want = [
        ("harwick-bus-budget:9e0b4eaf", "unchanged", false),
        ("harwick-bus-budget:1eac773b", "source_changed_elsewhere", false),
        ("harwick-bus-budget:526b451c", "source_changed_elsewhere", false),
        ("harwick-bus-budget:fb9e6e90", "source_changed_elsewhere", false),
        ("harwick-bus-budget:4a235300", "unchanged", false),
        ("harwick-bus-ridership:0d44e2a5", "evidence_changed", true),
        (
            "harwick-bus-ridership:df536d16",
            "source_changed_elsewhere",
            false,
        ),
        ("harwick-bus-ridership:c196f035", "source_unreachable", true),
    ];
    for (id, status, flagged) in want {
        let st = v["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the report: {v:#}"));
        assert_eq!(
            (st["status"].as_str(), st["flagged"].as_bool()),
            (Some(status), Some(flagged)),
            "{id}: {st:#}"
        );
        assert_eq!(st["new"], false, "{id}: {st:#}");
    }

    // The old file is kept aside, the database holds everything it held.
    let snap = ws.root().join("snapshots");
    assert!(!snap.join("index.json").exists());
    let aside: Vec<String> = names_in(&snap)
        .into_iter()
        .filter(|n| n.starts_with("index.json.imported-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", names_in(&snap));
    let after = index(ws.root());
    assert_eq!(after["format"], 2);
    // Every baseline and flag is there. The fixture was written by extractor x4: this run
    // read its stored pages again with today's extractor, which only notes itself in `set_by`
    // and adds the re-extracted versions after the ones they were made from.
    for (key, b) in before["baselines"].as_object().unwrap() {
        let a = &after["baselines"][key];
        for field in ["flag", "source", "set_at", "statement", "cite"] {
            assert_eq!(a[field], b[field], "{key}.{field}");
        }
        let (was, is) = (b["set_by"].as_str().unwrap(), a["set_by"].as_str().unwrap());
        assert!(is.starts_with(was), "{key}: set_by {was:?} became {is:?}");
    }
    assert_eq!(after["baselines"].as_object().unwrap().len(), 10);
    let flags: Vec<&String> = after["baselines"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, b)| !b["flag"].is_null())
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        flags,
        [
            "harwick-bus-ridership:0d44e2a5#1",
            "harwick-bus-ridership:c196f035#2"
        ]
    );
    for (key, s) in before["sources"].as_object().unwrap() {
        let a = &after["sources"][key];
        let texts = |s: &serde_json::Value| -> Vec<serde_json::Value> {
            s["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["text"].clone())
                .collect()
        };
        let (was, is) = (texts(s), texts(a));
        assert!(
            was.iter().all(|t| is.contains(t)),
            "{key}: versions {was:?} became {is:?}"
        );
        assert_eq!(
            a["versions"][0]["first_seen"], s["versions"][0]["first_seen"],
            "{key}"
        );
    }
    let acks = after["acks"].as_array().expect("acks");
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["baseline"], "harwick-bus-budget:4a235300#3");
    assert_eq!(acks[0]["by"], "fixture");
    // No object is lost.
    let (text, raw) = (names_in(&snap.join("text")), names_in(&snap.join("raw")));
    assert!(objects.0.iter().all(|o| text.contains(o)), "{text:?}");
    assert_eq!(raw, objects.1);

    // And the run after that reads the database alone, with the same verdicts.
    let (out, v2) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v2["summary"], v["summary"]);
    assert_eq!(index(ws.root())["baselines"], after["baselines"]);
}

#[test]
fn a_store_of_an_unknown_format_is_refused_and_left_as_it_is() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html("<p>About 600 U.S. soldiers serve in KFOR.</p>"),
    );
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"K\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    let newer = r#"{"format": 3, "sources": {}, "baselines": {}, "shards": []}"#;
    let p = ws.write("snapshots/index.json", newer);
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store format 3") && err.contains("left untouched"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), newer);
    assert!(!ws.root().join("snapshots/store.db").exists());
    assert_eq!(srv.hits("/a"), 0);
}

/// Sources per article in the kill tests, and articles.
const KILL_SOURCES: usize = 8;
const KILL_ARTICLES: usize = 2;
/// How long the page server takes per page: a run of the kill tests lasts a few hundred ms,
/// so the kill delays land in the fetches, the processing, the commit and after.
const PAGE_DELAY: std::time::Duration = std::time::Duration::from_millis(15);
/// Kill delays after the start of the process (ms).
const KILL_AT: [u64; 9] = [0, 8, 20, 40, 70, 110, 160, 230, 330];

fn town(a: usize, i: usize) -> String {
    format!("Town{}x{}", a, i)
}

/// The page of source `i` of article `a`, stating `buses`.
fn bus_page(a: usize, i: usize, buses: usize) -> Response {
    Response::html(&format!(
        "<html><body><article><p>In 2025 the council of {} counted {buses} buses on its routes, \
         the transport office said in its yearly report.</p><p>Other news of the day: a fair \
         opened in the old market hall.</p></article></body></html>",
        town(a, i)
    ))
    .delay(PAGE_DELAY)
}

fn kill_workspace(srv: &PageServer) -> Workspace {
    let ws = Workspace::new();
    for a in 0..KILL_ARTICLES {
        let mut toml = format!("title = \"Buses {a}\"\narticle = \"\"\"\n");
        for i in 0..KILL_SOURCES {
            toml.push_str(&format!(
                "In 2025 the council of {} counted {} buses on its routes. [{}]\n",
                town(a, i),
                40 + i,
                i + 1
            ));
        }
        toml.push_str("\"\"\"\n");
        for i in 0..KILL_SOURCES {
            toml.push_str(&format!(
                "[[source]]\ncite = {}\nurl = \"{}\"\n",
                i + 1,
                srv.url(&format!("/{a}/{i}"))
            ));
        }
        ws.watchlist(&format!("buses-{a}.toml"), &toml);
    }
    ws
}

/// Every page as first published; `changed` pages (article, source) with another figure.
fn serve_buses(srv: &PageServer, changed: &[(usize, usize)]) {
    for a in 0..KILL_ARTICLES {
        for i in 0..KILL_SOURCES {
            let buses = if changed.contains(&(a, i)) { 10 + i } else { 40 + i };
            srv.set(&format!("/{a}/{i}"), bus_page(a, i, buses));
        }
    }
}

/// Baseline keys, flagged keys, acked keys.
type Books = (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
);

fn books(root: &Path) -> Books {
    let idx = index(root);
    let baselines = idx["baselines"].as_object().cloned().unwrap_or_default();
    let flagged = baselines
        .iter()
        .filter(|(_, b)| !b["flag"].is_null())
        .map(|(k, _)| k.clone())
        .collect();
    let acked = idx["acks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["baseline"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (baselines.keys().cloned().collect(), flagged, acked)
}

/// Starts `citewatch ARGS`, SIGKILLs it `ms` after the start (if it is still running).
fn kill_after(ws: &Workspace, args: &[&str], ms: u64) {
    let mut child = ws
        .cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn citewatch");
    std::thread::sleep(std::time::Duration::from_millis(ms));
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

fn run_ok(ws: &Workspace, what: &str) -> serde_json::Value {
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{what}: {}", show(&out));
    v
}

fn replace_store(ws: &Workspace, from: &Path) {
    let snap = ws.root().join("snapshots");
    std::fs::remove_dir_all(&snap).expect("remove store");
    copy_dir(from, &snap);
}

// See: issue 12.
#[test]
fn sigkill_anywhere_in_a_run_or_an_ack_loses_nothing() {
    let srv = PageServer::start();
    let ws = kill_workspace(&srv);
    let all_pairs = KILL_SOURCES * KILL_ARTICLES;

    // A cold run, killed at each delay: the next run completes and has every baseline.
    serve_buses(&srv, &[]);
    for ms in KILL_AT {
        let _ = std::fs::remove_dir_all(ws.root().join("snapshots"));
        kill_after(&ws, &["check"], ms);
        run_ok(&ws, &format!("the run after a cold run killed at {ms} ms"));
        let (baselines, flagged, _) = books(ws.root());
        assert_eq!(baselines.len(), all_pairs, "cold run killed at {ms} ms");
        assert!(flagged.is_empty(), "cold run killed at {ms} ms: {flagged:?}");
    }

    // A store with outstanding flags (two passages changed), kept aside.
    let first = [(0, 1), (1, 2)];
    serve_buses(&srv, &first);
    run_ok(&ws, "the run raising the first flags");
    let (baselines, flags, _) = books(ws.root());
    assert_eq!(flags.len(), 2, "{flags:?}");
    let kept = tempfile::tempdir().expect("tempdir");
    copy_dir(&ws.root().join("snapshots"), kept.path());

    // A changed run (two more passages changed), killed at each delay: no baseline and no
    // flag is lost, and the next run flags all four.
    let more = [(0, 1), (1, 2), (0, 5), (1, 6)];
    serve_buses(&srv, &more);
    for ms in KILL_AT {
        replace_store(&ws, kept.path());
        kill_after(&ws, &["check"], ms);
        let (b, f, _) = books(ws.root());
        assert_eq!(b, baselines, "changed run killed at {ms} ms");
        assert!(
            f.is_superset(&flags),
            "changed run killed at {ms} ms: flags {f:?}"
        );
        let v = run_ok(&ws, &format!("the run after a changed run killed at {ms} ms"));
        assert_eq!(
            v["summary"]["flagged"], 4,
            "after a changed run killed at {ms} ms: {v:#}"
        );
        let (b, f, _) = books(ws.root());
        assert_eq!(b, baselines, "after a changed run killed at {ms} ms");
        assert_eq!(f.len(), 4, "after a changed run killed at {ms} ms: {f:?}");
    }

    // An ack of everything, killed at each delay: a flag is gone only with its ack recorded,
    // and the next run exits 0 with the same books.
    serve_buses(&srv, &first);
    for ms in [0, 3, 6, 10, 15, 22, 30, 45, 70] {
        replace_store(&ws, kept.path());
        kill_after(&ws, &["ack", "--all", "--by", "killer"], ms);
        let (b, f, acked) = books(ws.root());
        assert_eq!(b, baselines, "ack killed at {ms} ms");
        for gone in flags.difference(&f) {
            assert!(
                acked.contains(gone),
                "ack killed at {ms} ms: {gone} unflagged without an ack"
            );
        }
        run_ok(&ws, &format!("the run after an ack killed at {ms} ms"));
        let (b, f2, acked2) = books(ws.root());
        assert_eq!(b, baselines, "after an ack killed at {ms} ms");
        assert_eq!(f2, f, "after an ack killed at {ms} ms");
        assert_eq!(acked2, acked, "after an ack killed at {ms} ms");
    }
}

/// Issue 17 (4): a baseline's text object deleted or overwritten is made again from its raw
/// body and the run goes on; with the raw body gone too, that source alone fails with the
/// reason and every other source is judged as usual.
#[test]
fn a_missing_or_damaged_text_object_is_healed_or_fails_its_source_alone() {
    let srv = PageServer::start();
    let page = |name: &str, n: &str| {
        Response::html(&format!(
            "<html><body><article><p>About {n} U.S. soldiers serve in KFOR as of 2025.</p><p>Camp Bondsteel is the main base of page {name}.</p></article></body></html>"
        ))
    };
    let ws = Workspace::new();
    for name in ["a", "b"] {
        ws.watchlist(
            &format!("{name}.toml"),
            &format!(
                "title = \"{name}\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR as of 2025 [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
                srv.url(&format!("/{name}"))
            ),
        );
        srv.set(&format!("/{name}"), page(name, "600"));
    }
    run_ok(&ws, "the baseline run");
    let snapshots = ws.root().join("snapshots");
    let index = citewatch::snapshot::Store::export(&snapshots).unwrap();
    let version_of = |name: &str| {
        let url = srv.url(&format!("/{name}"));
        let rec = index.sources.values().find(|r| r.url == url).unwrap();
        rec.versions.last().unwrap().clone()
    };
    let (va, vb) = (version_of("a"), version_of("b"));
    assert_ne!(va.text, vb.text);
    let text_of =
        |v: &citewatch::snapshot::Version| snapshots.join("text").join(format!("{}.txt", v.text.as_str()));
    // a: the text deleted; b: the text overwritten with garbage and its raw body deleted.
    std::fs::remove_file(text_of(&va)).unwrap();
    std::fs::write(text_of(&vb), "garbage").unwrap();
    std::fs::remove_file(
        snapshots
            .join("raw")
            .join(format!("{}.lz4", vb.raw.clone().unwrap())),
    )
    .unwrap();
    for name in ["a", "b"] {
        srv.set(&format!("/{name}"), page(name, "350"));
    }
    let v = run_ok(&ws, "the run after the objects were lost");
    let st = |article: &str| {
        v["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["article"] == article)
            .unwrap()
            .clone()
    };
    assert_eq!(st("a")["status"], "evidence_changed", "{v:#}");
    assert_eq!(
        std::fs::read_to_string(text_of(&va))
            .map(|t| citewatch::snapshot::Store::text_hash(&t))
            .ok(),
        Some(va.text.clone()),
        "made again under its own name"
    );
    assert_eq!(st("b")["status"], "source_unreachable", "{v:#}");
    let note = st("b")["evidence"][0]["note"].as_str().unwrap().to_owned();
    assert!(
        note.contains("is damaged") && note.contains("citewatch ack"),
        "{note}"
    );
}
