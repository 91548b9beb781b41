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
    // Every flag is new, and the mail was written beside the report.
    assert!(v["summary"]["new_flags"].as_u64().unwrap() >= 3);
    let run_id = v["run_id"].as_str().unwrap();
    assert!(reports.join("mail").join(format!("{run_id}.eml")).exists());
}
