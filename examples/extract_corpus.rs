//! Runs citewatch's extractor over an extraction corpus or the benchmark page sets.
//!
//! ```text
//! # accuracy: write <outdir>/<id>.txt for every page of a corpus, then score it
//! cargo run --release --example extract_corpus -- CORPUS_DIR OUTDIR
//! python3 ../shared/corpora/score_extraction.py score CORPUS_DIR OUTDIR
//! # speed and signal/noise: gen_pages.py version A and B directories
//! cargo run --release --example extract_corpus -- --bench DIR_A DIR_B [--reps N]
//! # the fast parse against scraper's (html5ever) on the same pages: how many differ
//! cargo run --release --example extract_corpus -- --compare DIR...
//! ```
//!
//! A corpus directory holds either `html/<id>.html.gz` (article-extraction-benchmark) or
//! `pages/<id>/source.html.gz` (readability-test-pages). Pages are extracted with default
//! [`Rules`] and content type `text/html`, as `citewatch check` does for a source without a
//! selector.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use citewatch::extract::{ExtractedText, Rules, extract};

fn main() -> anyhow::Result<()> {
    let mut reps = 5usize;
    let mut pos = Vec::new();
    let mut bench = false;
    let mut compare = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => bench = true,
            "--compare" => compare = true,
            "--reps" => reps = it.next().context("--reps needs a number")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "usage: extract_corpus CORPUS_DIR OUTDIR\n       extract_corpus --bench DIR_A DIR_B [--reps N]"
                );
                return Ok(());
            }
            _ => pos.push(a),
        }
    }
    if compare {
        return run_compare(&pos);
    }
    match (bench, pos.as_slice()) {
        (false, [corpus, out]) => run_corpus(Path::new(corpus), Path::new(out)),
        (true, [a, b]) => run_bench(Path::new(a), Path::new(b), reps),
        _ => bail!("usage: extract_corpus CORPUS_DIR OUTDIR | --bench DIR_A DIR_B [--reps N]"),
    }
}

/// What `citewatch check` does with a fetched HTML page of a source without a selector.
fn run(body: &[u8]) -> ExtractedText {
    extract(body, "text/html", &Rules::default()).unwrap_or_default()
}

/// The floor under any tree-based extractor: decode and parse only.
fn parse_only(body: &[u8]) -> usize {
    let html = citewatch::extract::decode(body, "text/html");
    scraper::Html::parse_document(&html).tree.nodes().count()
}

/// `(id, gzip path)` for every page of a corpus, sorted by id.
fn corpus_pages(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut pages = Vec::new();
    if dir.join("html").is_dir() {
        for e in std::fs::read_dir(dir.join("html"))? {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(id) = name.strip_suffix(".html.gz") {
                pages.push((id.to_owned(), p.clone()));
            }
        }
    } else if dir.join("pages").is_dir() {
        for e in std::fs::read_dir(dir.join("pages"))? {
            let d = e?.path();
            let src = d.join("source.html.gz");
            if src.is_file() {
                let id = d.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
                pages.push((id, src));
            }
        }
    } else {
        bail!("{}: neither html/ nor pages/ found", dir.display());
    }
    pages.sort();
    Ok(pages)
}

fn gunzip(path: &Path) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .with_context(|| format!("gunzip {}", path.display()))?;
    Ok(out)
}

/// Every page of a corpus, or every `.html` file of a folder (the bench page sets).
fn any_pages(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    if dir.join("html").is_dir() || dir.join("pages").is_dir() {
        return corpus_pages(dir)?
            .into_iter()
            .map(|(id, p)| Ok((id, gunzip(&p)?)))
            .collect();
    }
    let mut pages = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "html") {
            let id = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
            pages.push((id, std::fs::read(&p)?));
        }
    }
    pages.sort();
    Ok(pages)
}

/// Compares the main text of the fast parse with the one of scraper's parse, page by page.
fn run_compare(dirs: &[String]) -> anyhow::Result<()> {
    for d in dirs {
        let pages = any_pages(Path::new(d))?;
        let mut same = 0;
        let mut shown = 0;
        for (id, body) in &pages {
            let fast = run(body).blocks;
            let slow = citewatch::extract::main_text_via_scraper(body, "text/html");
            if fast == slow {
                same += 1;
                continue;
            }
            let (f, s) = (fast.join("\n"), slow.join("\n"));
            let diff = similar::TextDiff::from_lines(&s, &f);
            let changed = diff
                .ops()
                .iter()
                .filter(|o| o.tag() != similar::DiffTag::Equal)
                .count();
            println!(
                "{d}/{id}: differs ({} vs {} bytes, {changed} changed runs)",
                f.len(),
                s.len()
            );
            if shown < 5 && std::env::var_os("SHOW").is_some() {
                shown += 1;
                print!("{}", diff.unified_diff().context_radius(1));
            }
        }
        println!("{d}: {same} of {} pages identical", pages.len());
    }
    Ok(())
}

fn run_corpus(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let pages = corpus_pages(dir)?;
    let bodies: Vec<(String, Vec<u8>)> = pages
        .into_iter()
        .map(|(id, p)| Ok((id, gunzip(&p)?)))
        .collect::<anyhow::Result<_>>()?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    let t = Instant::now();
    let texts: Vec<ExtractedText> = bodies.iter().map(|(_, b)| run(b)).collect();
    let secs = t.elapsed().as_secs_f64();
    for ((id, _), text) in bodies.iter().zip(&texts) {
        std::fs::write(out.join(format!("{id}.txt")), text.to_text())?;
    }
    let empty = texts.iter().filter(|t| t.blocks.is_empty()).count();
    println!(
        "{} pages, {:.1} MB: {:.1} pages/s, {:.3} ms/page (one thread); {} empty; written to {}",
        bodies.len(),
        bytes as f64 / 1e6,
        bodies.len() as f64 / secs,
        secs * 1e3 / bodies.len() as f64,
        empty,
        out.display()
    );
    Ok(())
}

fn load_pages(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("p"))
        .with_context(|| format!("read {}/p", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("read {}", p.display())))
        .collect()
}

fn run_bench(da: &Path, db: &Path, reps: usize) -> anyhow::Result<()> {
    let a = load_pages(da)?;
    let b = load_pages(db)?;
    if a.len() != b.len() || a.is_empty() {
        bail!(
            "page sets differ in size ({} vs {}) or are empty",
            a.len(),
            b.len()
        );
    }
    let n = a.len();
    let bytes: usize = a.iter().map(Vec::len).sum();
    // Alternate the two measurements so that load from other processes hits both alike.
    let (mut parse_secs, mut secs) = (Vec::new(), Vec::new());
    let mut ta = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let nodes: usize = a.iter().map(|p| parse_only(p)).sum();
        std::hint::black_box(nodes);
        parse_secs.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        ta = a.iter().map(|p| run(p)).collect::<Vec<_>>();
        secs.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (pmed, med) = (median(&mut parse_secs), median(&mut secs));
    println!(
        "{n} pages, {:.1} MB (mean {:.1} KB), one thread, median of {} runs:",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64 / 1e3,
        secs.len()
    );
    println!(
        "  decode + scraper parse only: {:.3} ms/page, {:.0} pages/s",
        pmed * 1e3 / n as f64,
        n as f64 / pmed
    );
    println!(
        "  extract (decode, parse, main text): {:.3} ms/page, {:.0} pages/s, {:.1} MB/s ({:.2}x parse only)",
        med * 1e3 / n as f64,
        n as f64 / med,
        bytes as f64 / med / 1e6,
        med / pmed
    );
    let tb: Vec<ExtractedText> = b.iter().map(|p| run(p)).collect();
    let differ: Vec<usize> = (0..n).filter(|&i| ta[i] != tb[i]).collect();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(db.join("manifest.json"))?)?;
    let listed: Vec<usize> = manifest["changed_pages"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect())
        .unwrap_or_default();
    let missed = listed.iter().filter(|i| !differ.contains(i)).count();
    let extra = differ.iter().filter(|i| !listed.contains(i)).count();
    println!(
        "main text differs A->B on {} / {n} pages; B's manifest lists {} changed; missed {missed}, extra {extra}{}",
        differ.len(),
        listed.len(),
        if missed == 0 && extra == 0 {
            " (exact match)"
        } else {
            ""
        }
    );
    let noise = [
        "Related links",
        "Most read",
        "Page generated",
        "cookies",
        "Advertisement",
        "Sign in",
    ];
    for word in noise {
        let hits = ta
            .iter()
            .filter(|t| t.blocks.iter().any(|b| b.contains(word)))
            .count();
        println!("  pages whose text contains {word:?}: {hits}");
    }
    let words: usize = ta
        .iter()
        .map(|t| t.blocks.iter().map(|b| b.split(' ').count()).sum::<usize>())
        .sum();
    println!("  mean words per page (A): {:.0}", words as f64 / n as f64);
    if let Some(&i) = differ.first() {
        let (x, y) = (&ta[i].blocks, &tb[i].blocks);
        for (p, q) in x.iter().zip(y) {
            if p != q {
                println!("  e.g. page {i}:\n    - {p}\n    + {q}");
                break;
            }
        }
    }
    Ok(())
}
