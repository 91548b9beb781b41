//! Per-stage CPU cost of one page, on one core: decode + parse + extract, the text hash, the raw
//! body's hash and LZ4 compression, and preparing the evidence index. Prints ms per page.
//!
//!     cargo run --release --example stages -- DIR_OF_HTML_PAGES [LIMIT] [WATCHLIST_DIR]
//!
//! With a watchlist folder (the bench's `citewatch-n1000/root/watchlist`), also the cost of the
//! first run's locating index: each page indexed for the statements that cite it (matched by
//! the URL's file name).
use citewatch::evidence::Prepared;
use citewatch::extract::{Rules, extract};
use citewatch::watchlist::{Statement, Watchlist};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: stages DIR [LIMIT]");
        std::process::exit(2);
    };
    let limit: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    // File name of the cited page → the statements citing it.
    let mut citing: HashMap<String, Vec<Statement>> = HashMap::new();
    if let Some(wl) = args.next() {
        let (wl, _) = Watchlist::load_dir(std::path::Path::new(&wl));
        for a in &wl.articles {
            for st in &a.statements {
                for &c in &st.cites {
                    if let Some(src) = a.source(c) {
                        let name = src.url.path().rsplit('/').next().unwrap_or("").to_owned();
                        citing.entry(name).or_default().push(st.clone());
                    }
                }
            }
        }
    }
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    paths.sort();
    paths.truncate(limit);
    let pages: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read page"))
        .collect();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let rules = Rules::default();
    let (mut t_extract, mut t_text_hash, mut t_raw_hash, mut t_lz4, mut t_prep) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut z_bytes = 0;
    let (mut t_locate, mut located) = (Duration::ZERO, 0usize);
    // Statements anchored alike by the locating index and the full one (they must all be).
    let (mut statements, mut same) = (0usize, 0usize);
    for (path, body) in paths.iter().zip(&pages) {
        let t = Instant::now();
        let text = extract(body, "text/html; charset=utf-8", &rules).expect("extract");
        t_extract += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(blake3::hash(text.to_text().as_bytes()));
        t_text_hash += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(blake3::hash(body));
        t_raw_hash += t.elapsed();
        let t = Instant::now();
        z_bytes += std::hint::black_box(lz4_flex::compress_prepend_size(body)).len();
        t_lz4 += t.elapsed();
        let t = Instant::now();
        let full = std::hint::black_box(Prepared::new(&text));
        t_prep += t.elapsed();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(sts) = citing.get(name) {
            let t = Instant::now();
            let refs: Vec<&Statement> = sts.iter().collect();
            let p = Prepared::for_locating(&text, &refs);
            let found: Vec<_> = sts
                .iter()
                .map(|st| citewatch::evidence::locate_in(st, st.cites[0], &p))
                .collect();
            t_locate += t.elapsed();
            located += 1;
            for (st, f) in sts.iter().zip(found) {
                statements += 1;
                same += usize::from(f == citewatch::evidence::locate_in(st, st.cites[0], &full));
            }
        }
    }
    let n = pages.len().max(1) as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
    println!(
        "{} pages, {:.1} KB each, LZ4 to {:.0}%",
        pages.len(),
        bytes as f64 / n / 1024.0,
        100.0 * z_bytes as f64 / bytes.max(1) as f64
    );
    println!(
        "ms/page: extract {:.3}  text hash {:.3}  raw hash {:.3}  lz4 {:.3}  prepare {:.3}",
        ms(t_extract),
        ms(t_text_hash),
        ms(t_raw_hash),
        ms(t_lz4),
        ms(t_prep)
    );
    if located > 0 {
        println!(
            "first run's locating index + locate, {located} cited pages: {:.3} ms/page",
            t_locate.as_secs_f64() * 1000.0 / located as f64
        );
        println!("anchors identical to the full index's: {same} of {statements} statements");
    }
}
