//! Accuracy of the evidence stage on the labelled corpus in `tests/accuracy/`, and its speed.
//!
//! ```text
//! cargo run --release --example accuracy                 # figures + mismatches, main and held-out
//! cargo run --release --example accuracy -- --scores     # anchoring scores and judge ratios
//! cargo run --release --example accuracy -- --speed      # 1 MB page, 50 statements
//! cargo run --release --example accuracy -- --skip heldout-compound   # leave a split out
//! ```

#[path = "../tests/accuracy/harness.rs"]
mod harness;

use std::time::Instant;

use citewatch::evidence::{self, Prepared};
use citewatch::extract::ExtractedText;
use citewatch::watchlist::{Statement, StatementId};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--speed") {
        speed();
        return;
    }
    let skip: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "--skip")
        .map(|w| w[1].as_str())
        .collect();
    let cases = match harness::load(&harness::corpus_dir()) {
        Ok(c) => c
            .into_iter()
            .filter(|c| !skip.contains(&c.split.as_str()))
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let r = match harness::run(&cases) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Some(w) = args.windows(3).find(|w| w[0] == "--explain") {
        explain(&cases, &w[1], &w[2]);
        return;
    }
    if args.iter().any(|a| a == "--scores") {
        println!(
            "anchoring: best sentence score per statement (threshold {})",
            evidence::ANCHOR_MIN_SCORE
        );
        let mut s = r.scores.clone();
        s.sort_by(|a, b| a.2.total_cmp(&b.2));
        for (case, st, score, located) in &s {
            println!(
                "  {score:.3}  {}  {case}/{st}",
                if *located { "anchor " } else { "none   " }
            );
        }
        println!("anchors:");
        for (case, st, anchors) in &r.anchors {
            println!("  {case}/{st}");
            for (score, passage) in anchors {
                println!("      {score:.3}  {passage}");
            }
        }
        println!(
            "judging: local ratio of anchors not found verbatim (threshold {})",
            evidence::CHANGED_MIN_RATIO
        );
        let mut q = r.ratios.clone();
        q.sort_by(|a, b| a.3.total_cmp(&b.3));
        for (case, edit, st, ratio, want) in &q {
            println!("  {ratio:.3}  {want:<24} {case}/{st}  ({edit})");
        }
        println!();
    }
    let cases_in = |split: &str| cases.iter().filter(|c| c.split == split).count();
    let edits_in = |split: &str| {
        cases
            .iter()
            .filter(|c| c.split == split)
            .map(|c| c.edits.len())
            .sum::<usize>()
    };
    println!(
        "{:<16} {:>5} {:>5} {:>6} {:>6} {:>4} {:>4} {:>4} {:>9} {:>7} {:>7}",
        "split", "cases", "edits", "pairs", "flags", "tp", "fp", "fn", "precision", "recall", "exact"
    );
    let mut splits: Vec<&str> = cases.iter().map(|c| c.split.as_str()).collect();
    splits.sort();
    splits.dedup();
    for split in splits.iter().copied() {
        let f = harness::figures(r.outcomes.iter().filter(|o| o.split == split));
        println!(
            "{:<16} {:>5} {:>5} {:>6} {:>6} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>7.3}",
            split,
            cases_in(split),
            edits_in(split),
            f.pairs,
            f.expected_flags,
            f.tp,
            f.fp,
            f.fn_,
            f.precision,
            f.recall,
            f.exact
        );
    }
    println!(
        "\nstatement × source pairs at baseline: pairs / backed / backed without a passage / unbacked with one"
    );
    for split in splits.iter().copied() {
        let rows: Vec<_> = r.pairs.iter().filter(|p| p.1 == split).collect();
        let sum = |f: fn(&harness::PairCounts) -> usize| rows.iter().map(|p| f(p)).sum::<usize>();
        println!(
            "  {split:<16} {:>5} {:>6} {:>4} {:>4}",
            sum(|p| p.2),
            sum(|p| p.3),
            sum(|p| p.4),
            sum(|p| p.5)
        );
    }
    let mut kinds: Vec<&str> = r.outcomes.iter().map(|o| o.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    println!("\nby kind of edit (all splits): pairs / exact");
    for k in kinds {
        let f = harness::figures(r.outcomes.iter().filter(|o| o.kind == k));
        println!("  {k:<12} {:>4} {:>7.3}", f.pairs, f.exact);
    }
    let misses: Vec<&harness::Outcome> = r.outcomes.iter().filter(|o| !o.exact()).collect();
    println!("\nmismatches: {}", misses.len());
    for o in misses {
        println!(
            "  [{}] {} / {} / {} [{}]: expected {}{}, got {}{}{}",
            o.split,
            o.case,
            o.edit,
            o.statement,
            o.cite,
            o.expected.as_str(),
            o.facts_expected
                .as_ref()
                .map(|f| format!(" {f:?}"))
                .unwrap_or_default(),
            o.actual.as_str(),
            if o.facts_expected.is_some() {
                format!(" {:?}", o.facts_actual)
            } else {
                String::new()
            },
            if o.known == Some(o.actual) {
                " (documented)"
            } else {
                ""
            }
        );
        if let Some(b) = &o.before {
            println!("      before: {b}");
        }
        if let Some(a) = &o.after {
            println!("      after:  {a}");
        }
    }
    println!("anchoring problems: {}", r.anchor_misses.len());
    for m in &r.anchor_misses {
        println!("  {} / {} [{}]: {}", m.case, m.statement, m.cite, m.problem);
    }
}

/// A deterministic pseudo-random stream (no dependency needed for a benchmark page).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

const WORDS: &[&str] = &[
    "the",
    "ministry",
    "said",
    "troops",
    "report",
    "budget",
    "of",
    "in",
    "council",
    "mission",
    "border",
    "river",
    "annual",
    "figures",
    "increase",
    "decline",
    "region",
    "officials",
    "program",
    "vaccination",
    "coverage",
    "school",
    "district",
    "court",
    "ruling",
    "appeal",
    "and",
    "with",
    "for",
    "data",
    "estimate",
    "survey",
    "households",
    "income",
    "inflation",
    "northern",
    "southern",
    "agency",
    "spokesperson",
    "confirmed",
];
const NAMES: &[&str] = &[
    "Pristina",
    "Bondsteel",
    "Rhine",
    "Geneva",
    "Ortiz",
    "Nakamura",
    "Lagos",
    "Helsinki",
    "Quito",
    "Kaunas",
];

fn sentence(rng: &mut Lcg) -> String {
    let n = 12 + rng.next(14);
    let mut w: Vec<String> = Vec::with_capacity(n);
    for i in 0..n {
        let word = match rng.next(10) {
            0 => NAMES[rng.next(NAMES.len())].to_owned(),
            1 => format!("{}", rng.next(100_000)),
            _ => WORDS[rng.next(WORDS.len())].to_owned(),
        };
        w.push(if i == 0 {
            let mut c = word.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        } else {
            word
        });
    }
    format!("{}.", w.join(" "))
}

/// A page of about `bytes` bytes of extracted text.
fn page(rng: &mut Lcg, bytes: usize) -> ExtractedText {
    let mut blocks = Vec::new();
    let mut size = 0;
    while size < bytes {
        let b = (0..1 + rng.next(4))
            .map(|_| sentence(rng))
            .collect::<Vec<_>>()
            .join(" ");
        size += b.len() + 1;
        blocks.push(b);
    }
    ExtractedText { blocks }
}

fn speed() {
    let mut rng = Lcg(7);
    let base = page(&mut rng, 1_000_000);
    // 50 statements, each a reworded sentence of the page (some words dropped).
    let statements: Vec<Statement> = (0..50)
        .map(|i| {
            let b = &base.blocks[rng.next(base.blocks.len())];
            let s = b.split(". ").next().unwrap_or(b);
            let text: Vec<&str> = s.split(' ').filter(|_| rng.next(4) != 0).collect();
            Statement {
                id: StatementId(format!("bench:{i}")),
                text: text.join(" "),
                cites: vec![],
                quotes: vec![],
                line: None,
            }
        })
        .collect();
    // The later version: 5% of blocks edited, 2% removed, some added, the rest reordered a bit.
    let mut latest = base.clone();
    for _ in 0..latest.blocks.len() / 20 {
        let i = rng.next(latest.blocks.len());
        latest.blocks[i] = latest.blocks[i].replacen(' ', " new ", 1);
    }
    for _ in 0..latest.blocks.len() / 50 {
        let i = rng.next(latest.blocks.len());
        latest.blocks.remove(i);
    }
    for _ in 0..100 {
        let s = sentence(&mut rng);
        let i = rng.next(latest.blocks.len());
        latest.blocks.insert(i, s);
    }
    let bytes: usize = base.blocks.iter().map(|b| b.len() + 1).sum();
    println!(
        "page: {bytes} bytes, {} blocks; {} statements citing it",
        base.blocks.len(),
        statements.len()
    );
    for round in 0..3 {
        let t0 = Instant::now();
        let bp = Prepared::new(&base);
        let t1 = Instant::now();
        let located: Vec<_> = statements
            .iter()
            .map(|s| evidence::locate_in(s, citewatch::watchlist::CiteNo(1), &bp))
            .collect();
        let t2 = Instant::now();
        let lp = Prepared::new(&latest);
        let t3 = Instant::now();
        let verdicts: Vec<_> = located
            .iter()
            .zip(&statements)
            .map(|(l, s)| evidence::judge_in(s, &l.anchors, &bp, &lp).verdict)
            .collect();
        let t4 = Instant::now();
        let anchored = located.iter().filter(|l| !l.anchors.is_empty()).count();
        let flagged = verdicts.iter().filter(|v| v.flagged()).count();
        println!(
            "round {round}: prepare base {:.1} ms, locate x50 {:.1} ms, prepare latest {:.1} ms, judge x50 {:.1} ms, total {:.1} ms ({anchored} anchored, {flagged} flagged)",
            ms(t1 - t0),
            ms(t2 - t1),
            ms(t3 - t2),
            ms(t4 - t3),
            ms(t4 - t0)
        );
    }
    let t = Instant::now();
    let bp = Prepared::new(&base);
    let one = evidence::judge(
        &statements[0],
        &evidence::locate_in(&statements[0], citewatch::watchlist::CiteNo(1), &bp).anchors,
        &base,
        &latest,
    );
    println!(
        "for comparison, one statement through the convenience wrappers (re-prepares both texts): {:.1} ms ({})",
        ms(t.elapsed()),
        one.verdict.as_str()
    );
    // Many ordinary pages: 1000 sources of ~20 kB of text, 3 statements each, every page
    // changed (the worst case: both versions prepared).
    let pages: Vec<(ExtractedText, ExtractedText, Vec<Statement>)> = (0..1000)
        .map(|p| {
            let base = page(&mut rng, 20_000);
            let mut latest = base.clone();
            let i = rng.next(latest.blocks.len());
            latest.blocks[i] = latest.blocks[i].replacen(' ', " edited ", 1);
            let statements = (0..3)
                .map(|k| {
                    let b = &base.blocks[rng.next(base.blocks.len())];
                    Statement {
                        id: StatementId(format!("p{p}:{k}")),
                        text: b.split(". ").next().unwrap_or(b).to_owned(),
                        cites: vec![],
                        quotes: vec![],
                        line: None,
                    }
                })
                .collect();
            (base, latest, statements)
        })
        .collect();
    let t = Instant::now();
    let mut flagged = 0;
    for (base, latest, statements) in &pages {
        let bp = Prepared::new(base);
        let lp = Prepared::new(latest);
        for s in statements {
            let loc = evidence::locate_in(s, citewatch::watchlist::CiteNo(1), &bp);
            flagged += evidence::judge_in(s, &loc.anchors, &bp, &lp).verdict.flagged() as usize;
        }
    }
    println!(
        "1000 pages of ~20 kB text, 3 statements each, every page changed: {:.0} ms for the evidence stage ({flagged} flagged)",
        ms(t.elapsed())
    );
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `--explain CASE STATEMENT`: the statement's parts and best sentences in each cited source.
fn explain(cases: &[harness::Case], case: &str, statement: &str) {
    let Some(c) = cases.iter().find(|c| c.dir.ends_with(case)) else {
        eprintln!("no case {case}");
        return;
    };
    let Some(s) = c.statements.iter().find(|s| s.id == statement) else {
        eprintln!("no statement {statement}");
        return;
    };
    let st = Statement {
        id: StatementId(format!("{case}:{statement}")),
        text: s.text.clone(),
        cites: s.cites().into_iter().map(citewatch::watchlist::CiteNo).collect(),
        quotes: vec![],
        line: None,
    };
    println!("{}", s.text);
    for src in c.sources() {
        if !s.cites().contains(&src.cite) {
            continue;
        }
        let html = std::fs::read(c.dir.join(&src.base)).expect("page");
        let rules = citewatch::extract::Rules::compile(None, &src.ignore).expect("rules");
        let text = citewatch::extract::extract(&html, &src.content_type, &rules).expect("extract");
        let p = Prepared::new(&text);
        println!("[{}] {} (backed: {})", src.cite, src.base, s.backed(src.cite));
        print!("{}", evidence::explain(&st, &p));
        let loc = evidence::locate_in(&st, citewatch::watchlist::CiteNo(src.cite), &p);
        for a in &loc.anchors {
            println!("  => anchor part {} {:.3}: {}", a.part, a.score, a.passage);
        }
    }
}
