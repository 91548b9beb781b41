//! The labelled evidence corpus (`tests/accuracy/`): every case through the real extractor,
//! `locate` and `judge`; flags must be exact.

#[path = "../accuracy/harness.rs"]
mod harness;

#[test]
fn corpus_precision_recall_and_exact_verdicts() {
    let cases = harness::load(&harness::corpus_dir()).expect("corpus loads");
    assert!(cases.len() >= 4, "corpus has {} cases", cases.len());
    // `limits` cases document known failures; they are reported, not asserted.
    // The compound splits (multi-source fact-checks) are measured by the accuracy example;
    // their remaining misses are listed in tests/accuracy/README.md and not yet asserted.
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| c.split == "main" || c.split == "heldout")
        .collect();
    let r = harness::run(&cases).expect("corpus runs");
    let misses: Vec<String> = r
        .outcomes
        .iter()
        // Documented held-out disagreements must stay exactly as documented.
        .filter(|o| !o.exact() && o.known != Some(o.actual))
        .map(|o| {
            format!(
                "{} / {} / {}: expected {} {:?}, got {} {:?}",
                o.case,
                o.edit,
                o.statement,
                o.expected.as_str(),
                o.facts_expected,
                o.actual.as_str(),
                o.facts_actual
            )
        })
        .collect();
    let f = harness::figures(&r.outcomes);
    assert!(
        misses.is_empty(),
        "{} mismatches:\n{}",
        misses.len(),
        misses.join("\n")
    );
    assert_eq!((f.precision, f.recall), (1.0, 1.0));
    // Every verdict is exact or a documented `known` disagreement (checked above); the flags
    // themselves are exact everywhere.
    let main = harness::figures(r.outcomes.iter().filter(|o| o.split == "main"));
    assert_eq!((main.precision, main.recall), (1.0, 1.0));
    let anchors: Vec<String> = r
        .anchor_misses
        .iter()
        .map(|m| format!("{} / {}: {}", m.case, m.statement, m.problem))
        .collect();
    assert!(anchors.is_empty(), "anchoring:\n{}", anchors.join("\n"));
    assert!(f.expected_flags > 0 && f.pairs > f.expected_flags);
}

/// The compound splits (several sources per statement): every verdict is exact or a
/// documented `known` miss, so nothing drifts unnoticed; flags are exact on the development
/// split; backed pairs without a passage stay at most where they were measured
/// (tests/accuracy/README.md has the figures and the misses).
#[test]
fn compound_splits_hold_their_documented_figures() {
    let cases = harness::load(&harness::corpus_dir()).expect("corpus loads");
    let compound = [
        "compound",
        "heldout-compound",
        "heldout2-compound",
        "heldout3-compound",
        "heldout4-compound",
        "heldout5-compound",
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| compound.contains(&c.split.as_str()))
        .collect();
    assert_eq!(cases.len(), 18, "three cases per compound split");
    let r = harness::run(&cases).expect("corpus runs");
    let drift: Vec<String> = r
        .outcomes
        .iter()
        .filter(|o| !o.exact() && o.known != Some(o.actual))
        .map(|o| {
            format!(
                "{} / {} / {} [{}]: expected {}, got {} (known: {:?})",
                o.case,
                o.edit,
                o.statement,
                o.cite,
                o.expected.as_str(),
                o.actual.as_str(),
                o.known
            )
        })
        .collect();
    assert!(drift.is_empty(), "undocumented:\n{}", drift.join("\n"));
    let dev = harness::figures(r.outcomes.iter().filter(|o| o.split == "compound"));
    assert_eq!((dev.precision, dev.recall), (1.0, 1.0));
    assert!(dev.exact >= 0.97, "{dev:?}");
    // (split, most backed pairs without a passage as measured).
    for (split, most) in [
        ("compound", 4),
        ("heldout-compound", 15),
        ("heldout2-compound", 9),
        ("heldout3-compound", 6),
        ("heldout4-compound", 9),
        ("heldout5-compound", 2),
    ] {
        let unanchored: usize = r.pairs.iter().filter(|p| p.1 == split).map(|p| p.4).sum();
        assert!(
            unanchored <= most,
            "{split}: {unanchored} backed pairs without a passage"
        );
    }
}
