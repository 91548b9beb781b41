//! The labelled evidence corpus: loads `tests/accuracy/*/case.toml`, builds every edited
//! page, runs the real extractor, then `locate` on the base page and `judge` on each edit,
//! exactly like `run.rs` does, and compares with the labels.
//!
//! Shared by `examples/accuracy.rs` and `tests/it/evidence.rs` (included with `#[path]`).
//!
//! # Format (`case.toml`)
//! ```toml
//! title = "..."
//! split = "main"            # or "heldout"
//! base = "base.html"        # the source page as first seen
//! content_type = "text/html; charset=utf-8"   # optional
//! ignore = ["^Generated:"]  # optional: the source's ignore patterns
//!
//! [[statement]]
//! id = "troops"
//! text = "About 600 U.S. soldiers serve in KFOR."
//! evidence = ["..."]        # optional quotes
//! anchor = "600 U.S."       # optional: an anchor must contain this
//! located = false           # optional: expect "no evidence located"
//!
//! [[edit]]
//! name = "troop figure revised"
//! kind = "fact"             # free label, for the table
//! replace = [["600", "350"]]          # applied in order to the base page, each must match
//! move = [{ para = "text in a <p>", before = "text of an element it goes before" }]
//! file = "redesign.html"    # instead of / before replace: start from this page
//! others = "source_changed_elsewhere" # verdict of every statement not in `expect`
//!                                     # (`source_changed` for those with `located = false`)
//! expect = { troops = "evidence_changed" }
//! facts = { troops = ["600 → 350"] }  # optional: exact fact changes
//! known = { troops = "evidence_removed" } # a documented disagreement (held-out misses)
//! ```

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use citewatch::evidence::{self, Prepared, Verdict};
use citewatch::extract::{self, Rules};
use citewatch::watchlist::{Statement, StatementId};
use serde::Deserialize;

/// One fact-check with its source page and labelled edits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub title: String,
    #[serde(default = "main_split")]
    pub split: String,
    pub base: String,
    #[serde(default = "html")]
    pub content_type: String,
    /// The source's `ignore` patterns, as in the watchlist.
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(rename = "statement")]
    pub statements: Vec<StatementDef>,
    #[serde(rename = "edit")]
    pub edits: Vec<EditDef>,
    #[serde(skip)]
    pub dir: PathBuf,
}

fn main_split() -> String {
    "main".into()
}
fn html() -> String {
    "text/html; charset=utf-8".into()
}
fn elsewhere() -> String {
    "source_changed_elsewhere".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementDef {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub anchor: Option<String>,
    #[serde(default = "yes")]
    pub located: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditDef {
    pub name: String,
    #[serde(default)]
    pub kind: String,
    pub file: Option<String>,
    #[serde(default)]
    pub replace: Vec<[String; 2]>,
    #[serde(default, rename = "move")]
    pub moves: Vec<Move>,
    #[serde(default = "elsewhere")]
    pub others: String,
    #[serde(default)]
    pub expect: BTreeMap<String, String>,
    #[serde(default)]
    pub facts: BTreeMap<String, Vec<String>>,
    /// Known disagreements: statement → the verdict citewatch gives instead of the label.
    /// Still counted as mismatches; the test checks they stay exactly this (no drift).
    #[serde(default)]
    pub known: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    pub para: String,
    pub before: String,
}

/// One judged (edit, statement) pair.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: String,
    pub split: String,
    pub edit: String,
    pub kind: String,
    pub statement: String,
    pub expected: Verdict,
    pub actual: Verdict,
    pub facts_expected: Option<Vec<String>>,
    pub facts_actual: Vec<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// A documented disagreement: the verdict citewatch is known to give.
    pub known: Option<Verdict>,
}

impl Outcome {
    /// Verdict and (when labelled) facts as expected.
    pub fn exact(&self) -> bool {
        self.expected == self.actual
            && self
                .facts_expected
                .as_ref()
                .is_none_or(|f| *f == self.facts_actual)
    }
}

/// An anchoring expectation that did not hold.
#[derive(Debug, Clone)]
pub struct AnchorMiss {
    pub case: String,
    pub statement: String,
    pub problem: String,
}

/// Passages with their anchoring scores.
pub type ScoredPassages = Vec<(f32, String)>;

/// Everything a corpus run gives.
#[derive(Debug, Default)]
pub struct Results {
    pub outcomes: Vec<Outcome>,
    pub anchor_misses: Vec<AnchorMiss>,
    /// (case, statement, best anchoring score, expected located)
    pub scores: Vec<(String, String, f32, bool)>,
    /// (case, edit, statement, ratio, expected verdict) for every anchor not found verbatim.
    pub ratios: Vec<(String, String, String, f32, String)>,
    /// (case, statement, anchors with their scores)
    pub anchors: Vec<(String, String, ScoredPassages)>,
}

/// Precision, recall and exact share over some outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub pairs: usize,
    pub expected_flags: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub exact: f64,
}

pub fn figures<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Figures {
    let (mut pairs, mut tp, mut fp, mut fn_, mut exact, mut expected_flags) = (0, 0, 0, 0, 0, 0);
    for o in outcomes {
        pairs += 1;
        let (e, a) = (o.expected.flagged(), o.actual.flagged());
        expected_flags += e as usize;
        tp += (e && a) as usize;
        fp += (!e && a) as usize;
        fn_ += (e && !a) as usize;
        exact += o.exact() as usize;
    }
    let ratio = |n: usize, d: usize| if d == 0 { 1.0 } else { n as f64 / d as f64 };
    Figures {
        pairs,
        expected_flags,
        tp,
        fp,
        fn_,
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        exact: ratio(exact, pairs),
    }
}

/// The corpus folder.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/accuracy")
}

/// Loads every case, sorted by folder name.
pub fn load(dir: &Path) -> Result<Vec<Case>, String> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let f = d.join("case.toml");
            let s = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let mut c: Case = toml::from_str(&s).map_err(|e| format!("{}: {e}", f.display()))?;
            c.dir = d;
            Ok(c)
        })
        .collect()
}

fn read(case: &Case, file: &str) -> Result<String, String> {
    let p = case.dir.join(file);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
}

/// The edited page of `edit`.
pub fn edited_page(case: &Case, edit: &EditDef) -> Result<String, String> {
    let mut page = match &edit.file {
        Some(f) => read(case, f)?,
        None => read(case, &case.base)?,
    };
    let here = |what: &str| format!("{}: edit `{}`: {what}", case.dir.display(), edit.name);
    for [from, to] in &edit.replace {
        if !page.contains(from.as_str()) {
            return Err(here(&format!("replace: {from:?} not in the page")));
        }
        page = page.replacen(from.as_str(), to, 1);
    }
    for m in &edit.moves {
        let at = page
            .find(&m.para)
            .ok_or_else(|| here(&format!("move: {:?} not in the page", m.para)))?;
        let start = page[..at].rfind("<p").ok_or_else(|| here("move: no <p before"))?;
        let end = at
            + page[at..]
                .find("</p>")
                .ok_or_else(|| here("move: no </p> after"))?
            + 4;
        let para = page[start..end].to_owned();
        page.replace_range(start..end, "");
        let to = page
            .find(&m.before)
            .ok_or_else(|| here(&format!("move: {:?} not in the page", m.before)))?;
        let to = page[..to]
            .rfind('<')
            .ok_or_else(|| here("move: no element before target"))?;
        page.insert_str(to, &para);
    }
    Ok(page)
}

fn statement(case: &Case, s: &StatementDef) -> Statement {
    Statement {
        id: StatementId(format!(
            "{}:{}",
            case.dir.file_name().unwrap_or_default().to_string_lossy(),
            s.id
        )),
        text: s.text.clone(),
        cites: vec![],
        quotes: s.evidence.clone(),
        line: None,
    }
}

/// Runs every case: extract → locate (base) → judge (each edit).
pub fn run(cases: &[Case]) -> Result<Results, String> {
    let mut r = Results::default();
    for case in cases {
        let name = case
            .dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let rules = Rules::compile(None, &case.ignore).map_err(|e| format!("{name}: ignore: {e}"))?;
        let base_html = read(case, &case.base)?;
        let base = extract::extract(base_html.as_bytes(), &case.content_type, &rules)
            .map_err(|e| format!("{name}: base: {e}"))?;
        let base_p = Prepared::new(&base);
        // A first run indexes only what locating needs: it must anchor exactly the same.
        let all: Vec<_> = case.statements.iter().map(|s| statement(case, s)).collect();
        let lean = Prepared::for_locating(&base, &all.iter().collect::<Vec<_>>());
        let mut located = Vec::new();
        for s in &case.statements {
            let st = statement(case, s);
            let loc = evidence::locate_in(&st, &base_p);
            assert_eq!(
                evidence::locate_in(&st, &lean),
                loc,
                "{name}/{}: anchors differ with the index for locating (all statements)",
                s.id
            );
            assert_eq!(
                evidence::locate_in(&st, &Prepared::for_locating(&base, &[&st])),
                loc,
                "{name}/{}: anchors differ with the index for locating (this statement)",
                s.id
            );
            r.scores.push((
                name.clone(),
                s.id.clone(),
                evidence::best_score(&st, &base_p),
                s.located,
            ));
            let miss = |problem: String| AnchorMiss {
                case: name.clone(),
                statement: s.id.clone(),
                problem,
            };
            if loc.anchors.is_empty() == s.located {
                r.anchor_misses.push(miss(format!(
                    "expected {}, got {:?}",
                    if s.located {
                        "anchors"
                    } else {
                        "no evidence located"
                    },
                    loc.anchors.iter().map(|a| &a.passage).collect::<Vec<_>>()
                )));
            }
            if let Some(want) = &s.anchor
                && !loc.anchors.iter().any(|a| a.passage.contains(want.as_str()))
            {
                r.anchor_misses.push(miss(format!(
                    "an anchor should contain {want:?}, got {:?}",
                    loc.anchors.iter().map(|a| &a.passage).collect::<Vec<_>>()
                )));
            }
            if !loc.missing_quotes.is_empty() {
                r.anchor_misses
                    .push(miss(format!("quotes not found: {:?}", loc.missing_quotes)));
            }
            r.anchors.push((
                name.clone(),
                s.id.clone(),
                loc.anchors.iter().map(|a| (a.score, a.passage.clone())).collect(),
            ));
            located.push(loc);
        }
        for edit in &case.edits {
            for k in edit.expect.keys().chain(edit.facts.keys()) {
                if !case.statements.iter().any(|s| &s.id == k) {
                    return Err(format!(
                        "{name}: edit `{}` names unknown statement `{k}`",
                        edit.name
                    ));
                }
            }
            let page = edited_page(case, edit)?;
            let latest = extract::extract(page.as_bytes(), &case.content_type, &rules)
                .map_err(|e| format!("{name}: {}: {e}", edit.name))?;
            let latest_p = Prepared::new(&latest);
            for (s, loc) in case.statements.iter().zip(&located) {
                // A statement with no evidence located is `source_changed` wherever the
                // others are `source_changed_elsewhere`.
                let others = if !s.located && edit.others == "source_changed_elsewhere" {
                    "source_changed".to_owned()
                } else {
                    edit.others.clone()
                };
                let want = edit.expect.get(&s.id).unwrap_or(&others);
                let mut expected = Verdict::parse(want)
                    .ok_or_else(|| format!("{name}: edit `{}`: unknown verdict `{want}`", edit.name))?;
                // Noise the extractor removes entirely (a byline, an ad, a footer) leaves the
                // extracted text identical: then nothing changed, and `unchanged` is the right
                // verdict for a statement labelled "changed elsewhere" (or, with no evidence
                // located, "source changed" only by that noise).
                let noise_only = expected == Verdict::SourceChangedElsewhere
                    || (expected == Verdict::SourceChanged && !edit.expect.contains_key(&s.id));
                if noise_only && latest == base {
                    expected = Verdict::Unchanged;
                }
                let j = evidence::judge_in(&loc.anchors, &base_p, &latest_p);
                for a in &loc.anchors {
                    let ratio = match evidence::find_again(a, &base_p, &latest_p) {
                        evidence::Found::Same => continue,
                        evidence::Found::Changed { ratio, .. } | evidence::Found::Gone { ratio } => ratio,
                    };
                    r.ratios
                        .push((name.clone(), edit.name.clone(), s.id.clone(), ratio, want.clone()));
                }
                r.outcomes.push(Outcome {
                    case: name.clone(),
                    split: case.split.clone(),
                    edit: edit.name.clone(),
                    kind: edit.kind.clone(),
                    statement: s.id.clone(),
                    expected,
                    actual: j.verdict,
                    facts_expected: edit.facts.get(&s.id).cloned(),
                    facts_actual: j.facts.iter().map(|f| f.to_string()).collect(),
                    before: j.before,
                    after: j.after,
                    known: match edit.known.get(&s.id) {
                        Some(k) => {
                            Some(Verdict::parse(k).ok_or_else(|| {
                                format!("{name}: edit `{}`: unknown verdict `{k}`", edit.name)
                            })?)
                        }
                        None => None,
                    },
                });
            }
        }
    }
    Ok(r)
}
