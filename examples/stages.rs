//! Per-stage CPU cost of one page, on one core: decode + parse + extract, the text hash, the raw
//! body's hash and LZ4 compression, and preparing the evidence index. Prints ms per page.
//!
//!     cargo run --release --example stages -- DIR_OF_HTML_PAGES [LIMIT]
use citewatch::evidence::Prepared;
use citewatch::extract::{Rules, extract};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: stages DIR [LIMIT]");
        std::process::exit(2);
    };
    let limit: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
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
    for body in &pages {
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
        std::hint::black_box(Prepared::new(&text));
        t_prep += t.elapsed();
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
}
