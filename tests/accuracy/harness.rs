//! The labelled evidence corpus: loads `tests/accuracy/*/case.toml`, builds every edited
//! page, runs the real extractor, then `locate` on the base page and `judge` on each edit,
//! exactly like `run.rs` does, and compares with the labels.
//!
//! Shared by `examples/accuracy.rs` and `tests/it/evidence.rs` (included with `#[path]`).
//!
//! # Format (`case.toml`)
//! A case is one fact-check with one source page (`base = …`) or several (`[[source]]`):
//! ```toml
//! title = "..."
//! split = "main"            # or "heldout", "compound", "heldout-compound", "limits"
//! base = "base.html"        # one source (cite 1): the page as first seen
//! content_type = "text/html; charset=utf-8"   # optional
//! ignore = ["^Generated:"]  # optional: the source's ignore patterns
//!
//! [[source]]                # or several sources, each with its own page
//! cite = 2
//! base = "release.html"
//! style = "press-release"   # free label
//! # content_type, ignore as above
//!
//! [[statement]]
//! id = "troops"
//! text = "About 600 U.S. soldiers serve in KFOR."
//! cites = [1, 2]            # default [1]
//! evidence = ["...", { cite = 2, quote = "..." }]   # optional quotes
//! anchor = "600 U.S."       # optional: an anchor (of cite 1) must contain this
//! anchor = { 1 = "600 U.S.", 2 = "..." }            # or per cite
//! located = false           # optional: expect "no evidence located" (cite 1)
//! unbacked = [2]            # or: the cites that do not back it (no passage expected)
//!
//! [[edit]]
//! name = "troop figure revised"
//! source = 1                # the source edited (default 1)
//! kind = "fact"             # free label, for the table
//! replace = [["600", "350"]]          # applied in order to the base page, each must match
//! move = [{ para = "text in a <p>", before = "text of an element it goes before" }]
//! file = "redesign.html"    # instead of / before replace: start from this page
//! others = "source_changed_elsewhere" # verdict of every statement citing it not in `expect`
//! expect = { troops = "evidence_changed" }
//! facts = { troops = ["600 → 350"] }  # optional: exact fact changes
//! known = { troops = "evidence_removed" } # a documented disagreement (held-out misses)
//! ```
//! A pair with no passage is `source_changed` only when the edit touches its statement's
//! distinctive words; label that in `expect`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use citewatch::evidence::{self, Prepared, Verdict};
use citewatch::extract::{self, Rules};
use citewatch::watchlist::{CiteNo, Quote, Statement, StatementId};
use serde::Deserialize;

/// One fact-check with its source pages and labelled edits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub title: String,
    #[serde(default = "main_split")]
    pub split: String,
    /// A one-source case: its page (cite 1).
    pub base: Option<String>,
    #[serde(default = "html")]
    pub content_type: String,
    /// The one source's `ignore` patterns, as in the watchlist.
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceDef>,
    #[serde(rename = "statement")]
    pub statements: Vec<StatementDef>,
    #[serde(rename = "edit")]
    pub edits: Vec<EditDef>,
    #[serde(skip)]
    pub dir: PathBuf,
}

/// One cited source of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    pub cite: u32,
    pub base: String,
    #[serde(default = "html")]
    pub content_type: String,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub style: String,
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
fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementDef {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub cites: Vec<u32>,
    #[serde(default)]
    pub evidence: Vec<QuoteDef>,
    pub anchor: Option<AnchorDef>,
    #[serde(default = "yes")]
    pub located: bool,
    #[serde(default)]
    pub unbacked: Vec<u32>,
}

impl StatementDef {
    /// The cites it names (cite 1 when none are given).
    pub fn cites(&self) -> Vec<u32> {
        if self.cites.is_empty() {
            vec![1]
        } else {
            self.cites.clone()
        }
    }

    /// Whether source `cite` backs it (a passage is expected there).
    pub fn backed(&self, cite: u32) -> bool {
        !(self.unbacked.contains(&cite) || (!self.located && cite == 1))
    }

    /// The text an anchor of `cite` must contain, if labelled.
    pub fn anchor_for(&self, cite: u32) -> Option<&str> {
        match &self.anchor {
            Some(AnchorDef::One(a)) if cite == 1 => Some(a),
            Some(AnchorDef::PerCite(m)) => m.get(&cite.to_string()).map(String::as_str),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum QuoteDef {
    Plain(String),
    Cited { cite: u32, quote: String },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AnchorDef {
    One(String),
    PerCite(BTreeMap<String, String>),
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditDef {
    pub name: String,
    #[serde(default = "one")]
    pub source: u32,
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

impl Case {
    /// Its sources: the `[[source]]` tables, or the one `base` page as cite 1.
    pub fn sources(&self) -> Vec<SourceDef> {
        let mut v = self.sources.clone();
        if let Some(base) = &self.base {
            v.insert(
                0,
                SourceDef {
                    cite: 1,
                    base: base.clone(),
                    content_type: self.content_type.clone(),
                    ignore: self.ignore.clone(),
                    style: String::new(),
                },
            );
        }
        v
    }
}

/// One judged (edit, statement) pair.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: String,
    pub split: String,
    pub edit: String,
    pub kind: String,
    pub statement: String,
    pub cite: u32,
    /// Whether the source backs the statement (a passage is expected).
    pub backed: bool,
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
    pub split: String,
    pub statement: String,
    pub cite: u32,
    pub problem: String,
}

/// (case, split, pairs, backed, backed without a passage, unbacked with one).
pub type PairCounts = (String, String, usize, usize, usize, usize);

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
    /// (case, split, statement × source pairs, of which backed, backed without a passage,
    /// unbacked with a passage)
    pub pairs: Vec<PairCounts>,
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
            if c.sources().is_empty() {
                return Err(format!("{}: no `base` and no [[source]]", f.display()));
            }
            Ok(c)
        })
        .collect()
}

fn read(case: &Case, file: &str) -> Result<String, String> {
    let p = case.dir.join(file);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
}

/// The edited page of `edit`.
pub fn edited_page(case: &Case, base: &str, edit: &EditDef) -> Result<String, String> {
    let mut page = match &edit.file {
        Some(f) => read(case, f)?,
        None => read(case, base)?,
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
        cites: s.cites().into_iter().map(CiteNo).collect(),
        quotes: s
            .evidence
            .iter()
            .map(|q| match q {
                QuoteDef::Plain(t) => Quote::plain(t.clone()),
                QuoteDef::Cited { cite, quote } => Quote {
                    cite: Some(CiteNo(*cite)),
                    text: quote.clone(),
                },
            })
            .collect(),
        line: None,
    }
}

/// Runs every case: extract → locate (base) → judge (each edit), per source.
pub fn run(cases: &[Case]) -> Result<Results, String> {
    let mut r = Results::default();
    for case in cases {
        run_case(case, &mut r)?;
    }
    Ok(r)
}

fn run_case(case: &Case, r: &mut Results) -> Result<(), String> {
    let name = case
        .dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let sources = case.sources();
    for s in &case.statements {
        for c in s.cites().iter().chain(&s.unbacked) {
            if !sources.iter().any(|src| src.cite == *c) {
                return Err(format!(
                    "{name}: statement `{}` cites [{c}], which has no source",
                    s.id
                ));
            }
        }
    }
    for edit in &case.edits {
        if !sources.iter().any(|src| src.cite == edit.source) {
            return Err(format!(
                "{name}: edit `{}` edits source {}, which is not there",
                edit.name, edit.source
            ));
        }
        for k in edit
            .expect
            .keys()
            .chain(edit.facts.keys())
            .chain(edit.known.keys())
        {
            match case.statements.iter().find(|s| &s.id == k) {
                None => {
                    return Err(format!(
                        "{name}: edit `{}` names unknown statement `{k}`",
                        edit.name
                    ));
                }
                Some(s) if !s.cites().contains(&edit.source) => {
                    return Err(format!(
                        "{name}: edit `{}` labels `{k}`, which does not cite source {}",
                        edit.name, edit.source
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let all: Vec<Statement> = case.statements.iter().map(|s| statement(case, s)).collect();
    // Per statement: the plain quotes found in some cited source.
    let mut plain_found: BTreeMap<(usize, String), bool> = BTreeMap::new();
    let (mut pairs, mut backed_pairs, mut backed_unanchored, mut unbacked_anchored) = (0, 0, 0, 0);
    for src in &sources {
        let cite = CiteNo(src.cite);
        let rules = Rules::compile(None, &src.ignore).map_err(|e| format!("{name}: ignore: {e}"))?;
        let base_html = read(case, &src.base)?;
        let base = extract::extract(base_html.as_bytes(), &src.content_type, &rules)
            .map_err(|e| format!("{name}: {}: {e}", src.base))?;
        let base_p = Prepared::new(&base);
        let citing: Vec<usize> = (0..case.statements.len())
            .filter(|&i| case.statements[i].cites().contains(&src.cite))
            .collect();
        // A first run indexes only what locating needs: it must anchor exactly the same.
        let lean = Prepared::for_locating(&base, &citing.iter().map(|&i| &all[i]).collect::<Vec<_>>());
        let mut located = Vec::new();
        for &i in &citing {
            let (s, st) = (&case.statements[i], &all[i]);
            let loc = evidence::locate_in(st, cite, &base_p);
            assert_eq!(
                evidence::locate_in(st, cite, &lean),
                loc,
                "{name}/{} [{cite}]: anchors differ with the index for locating (all statements)",
                s.id
            );
            assert_eq!(
                evidence::locate_in(st, cite, &Prepared::for_locating(&base, &[st])),
                loc,
                "{name}/{} [{cite}]: anchors differ with the index for locating (this statement)",
                s.id
            );
            r.scores.push((
                name.clone(),
                format!("{} [{cite}]", s.id),
                evidence::best_score(st, &base_p),
                s.backed(src.cite),
            ));
            let miss = |problem: String| AnchorMiss {
                case: name.clone(),
                split: case.split.clone(),
                statement: s.id.clone(),
                cite: src.cite,
                problem,
            };
            let backed = s.backed(src.cite);
            pairs += 1;
            backed_pairs += backed as usize;
            if loc.anchors.is_empty() && backed {
                backed_unanchored += 1;
            }
            if !loc.anchors.is_empty() && !backed {
                unbacked_anchored += 1;
            }
            if loc.anchors.is_empty() == backed {
                r.anchor_misses.push(miss(format!(
                    "expected {}, got {:?}{}",
                    if backed { "anchors" } else { "no evidence located" },
                    loc.anchors.iter().map(|a| &a.passage).collect::<Vec<_>>(),
                    loc.candidate
                        .as_ref()
                        .map(|c| format!(" (closest: {c:?})"))
                        .unwrap_or_default()
                )));
            }
            if let Some(want) = s.anchor_for(src.cite)
                && !loc.anchors.iter().any(|a| a.passage.contains(want))
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
            for q in st.quotes.iter().filter(|q| q.cite.is_none()) {
                *plain_found.entry((i, q.text.clone())).or_default() |= !loc.unfound_quotes.contains(&q.text);
            }
            r.anchors.push((
                name.clone(),
                format!("{} [{cite}]", s.id),
                loc.anchors.iter().map(|a| (a.score, a.passage.clone())).collect(),
            ));
            located.push((i, loc));
        }
        for edit in case.edits.iter().filter(|e| e.source == src.cite) {
            let page = edited_page(case, &src.base, edit)?;
            let latest = extract::extract(page.as_bytes(), &src.content_type, &rules)
                .map_err(|e| format!("{name}: {}: {e}", edit.name))?;
            let latest_p = Prepared::new(&latest);
            for (i, loc) in &located {
                let (s, st) = (&case.statements[*i], &all[*i]);
                let want = edit.expect.get(&s.id).unwrap_or(&edit.others);
                let mut expected = Verdict::parse(want)
                    .ok_or_else(|| format!("{name}: edit `{}`: unknown verdict `{want}`", edit.name))?;
                // Noise the extractor removes entirely (a byline, an ad, a footer) leaves the
                // extracted text identical: then nothing changed, and `unchanged` is the right
                // verdict for a statement labelled "changed elsewhere".
                if expected == Verdict::SourceChangedElsewhere && latest == base {
                    expected = Verdict::Unchanged;
                }
                let j = evidence::judge_in(st, &loc.anchors, &base_p, &latest_p);
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
                    cite: src.cite,
                    backed: s.backed(src.cite),
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
    for ((i, q), found) in plain_found {
        if !found {
            r.anchor_misses.push(AnchorMiss {
                case: name.clone(),
                split: case.split.clone(),
                statement: case.statements[i].id.clone(),
                cite: 0,
                problem: format!("plain quote in no cited source: {q:?}"),
            });
        }
    }
    r.pairs.push((
        name,
        case.split.clone(),
        pairs,
        backed_pairs,
        backed_unanchored,
        unbacked_anchored,
    ));
    Ok(())
}
