//! The cost the new page checks add to a page that needs no browser: `judge_page` (bot wall,
//! soft-404 redirect, title and heading) and the `render = "auto"` scans (`<script`, visible
//! words up to 400). Prints µs per page over a folder of HTML pages (the bench's pages-1000-A).
//!
//!     cargo run --release --example signs_cost -- DIR_OF_HTML_PAGES

use std::time::Instant;

use citewatch::fetch::{FetchedPage, judge_page, signs};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: signs_cost DIR");
    let mut pages = Vec::new();
    let mut todo = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "html") {
                pages.push(std::fs::read(&p).expect("read"));
            }
        }
    }
    let url = url::Url::parse("http://127.0.0.1/p/page.html").unwrap();
    let pages: Vec<FetchedPage> = pages
        .into_iter()
        .map(|body| FetchedPage {
            final_url: url.clone(),
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            etag: None,
            last_modified: None,
            body,
        })
        .collect();
    let n = pages.len().max(1) as f64;
    let t = Instant::now();
    let flagged = pages.iter().filter(|p| judge_page(&url, p).is_some()).count();
    let judge = t.elapsed().as_secs_f64() * 1e6 / n;
    let t = Instant::now();
    let auto = pages
        .iter()
        .filter(|p| signs::has_scripts(&p.body) && signs::visible_words(&p.body, 400) < 400)
        .count();
    let scan = t.elapsed().as_secs_f64() * 1e6 / n;
    println!(
        "{} pages: judge_page {judge:.1} µs, render = auto scans {scan:.1} µs per page; {flagged} judged not a page, {auto} would be extracted for render = auto",
        pages.len()
    );
}
