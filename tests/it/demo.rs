//! `citewatch demo`, the README's first command: bundled sources, realistic edits, and only
//! the statements whose evidence changed are flagged.

use crate::support::workspace::show;

#[test]
fn demo_flags_the_edited_evidence_and_stays_quiet_on_noise() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_citewatch"))
        .args(["demo", "--dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("more than [-600-]{+350+} troops"), "{stdout}");
    assert!(stdout.contains("600 → 350"), "{stdout}");

    let reports = root.join("reports");
    let mut runs: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("report.json").exists())
        .map(|e| e.path())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2, "a baseline and a re-check");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[1].join("report.json")).unwrap()).unwrap();
    let statements = v["statements"].as_array().unwrap();
    let status_of = |needle: &str| {
        statements
            .iter()
            .find(|s| s["text"].as_str().unwrap().contains(needle))
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no statement containing {needle:?}"))
    };
    // [1] the troop figure is revised.
    assert_eq!(status_of("contributes more than 600 troops"), "evidence_changed");
    // [3] the paragraph with the 180 Guard personnel is deleted.
    assert_eq!(status_of("About 180 Pennsylvania"), "evidence_removed");
    // The seed's first statement (several claims, three cites) is anchored by the part [1]
    // backs, and the statement quoting "about 600 soldiers" by the sentence with the 600.
    assert_eq!(
        status_of("U.S. forces in Kosovo currently serve"),
        "evidence_changed"
    );
    assert_eq!(status_of("“about 600 soldiers”"), "evidence_changed");
    let first = statements
        .iter()
        .find(|s| {
            s["text"]
                .as_str()
                .unwrap()
                .contains("U.S. forces in Kosovo currently serve")
        })
        .unwrap();
    let e1 = &first["evidence"][0];
    assert_eq!(e1["cite"], 1);
    assert_eq!(e1["facts"][0]["before"], "600", "{e1:#}");
    assert_eq!(e1["facts"][0]["after"], "350", "{e1:#}");
    // [10] is gone.
    assert_eq!(status_of("no announcements of changes"), "source_unreachable");
    // Sources that only got new timestamps, menus or a redesign flag nothing.
    let noisy_only = [2, 4, 5, 6, 7, 8, 9];
    for s in statements {
        let cites: Vec<u64> = s["cites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        if cites.iter().all(|c| noisy_only.contains(c)) {
            assert_eq!(s["flagged"], false, "flagged by noise alone: {s:#}");
        }
    }
    // The baseline report shows the located passage as `before`, and lists the pairs
    // without one, with the closest sentence to paste; the summary counts them.
    let base: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].join("report.json")).unwrap()).unwrap();
    let mut anchored = 0;
    for e in base["statements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["evidence"].as_array().unwrap())
    {
        if e["anchored"] == true {
            anchored += 1;
            assert!(e["before"].is_string() && e["after"].is_null(), "{e:#}");
        }
    }
    assert!(
        stdout.contains(&format!(
            "{anchored} of 35 statement × source pairs anchored to a passage"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("paste:     evidence = [{cite = "), "{stdout}");
    let md = std::fs::read_to_string(runs[0].join("report.md")).unwrap();
    assert!(md.contains("## Not anchored to a passage ("), "{md}");
    // Every flag is new, and the mail was written beside the report.
    assert!(v["summary"]["new_flags"].as_u64().unwrap() >= 3);
    let run_id = v["run_id"].as_str().unwrap();
    assert!(reports.join("mail").join(format!("{run_id}.eml")).exists());
}

#[test]
fn demo_serve_keeps_the_sources_and_the_page_up_to_edit_and_recheck() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let port = crate::daemon::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_citewatch"))
        .args([
            "demo",
            "--serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--dir",
        ])
        .arg(&root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    let mut sources = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("the sources:") {
            sources = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let sources = sources.expect("the sources' address is printed");
    let sport: u16 = sources
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let up = |port: u16| crate::daemon::try_http(port, "GET", "/health", &[], "").is_some_and(|r| r.0 == 200);
    let t = std::time::Instant::now();
    while !up(port) {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "the daemon's page never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, _, page) = crate::daemon::http(port, "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(
        page.contains("Statements flagged now (") && page.contains("Re-check now"),
        "{page}"
    );
    assert!(
        page.contains(">600</del><ins style=") && page.contains(">350</ins>"),
        "{page}"
    );
    let (_, _, index) = crate::daemon::http(sport, "GET", "/", &[], "");
    assert!(
        index.contains("Source [10]") && index.contains("(gone: answers 404)"),
        "{index}"
    );
    assert!(
        index.contains(&root.join("demo-pages").display().to_string()),
        "{index}"
    );
    // Restore the pages, re-check from the page's button: the gone page is back.
    let (status, _, _) = crate::daemon::http(sport, "POST", "/restore", &[], "");
    assert_eq!(status, 303);
    let (_, _, index) = crate::daemon::http(sport, "GET", "/", &[], "");
    assert!(!index.contains("(gone"), "{index}");
    let (status, _, body) =
        crate::daemon::http(port, "POST", "/recheck", &[("Sec-Fetch-Site", "same-origin")], "");
    assert!(status == 200 || status == 202, "{status} {body}");
    let t = std::time::Instant::now();
    let last = loop {
        let mut runs = crate::daemon::reports(&root);
        if runs.len() == 3 {
            runs.sort_by_key(|r| r["run_id"].as_str().unwrap().to_owned());
            break runs.pop().unwrap();
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "no third run");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let ten = last["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["url"].as_str().unwrap().ends_with("/source/10"))
        .unwrap();
    assert_ne!(ten["outcome"], "error", "{ten:#}");
}
