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
