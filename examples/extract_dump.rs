//! Prints the blocks `citewatch::extract` keeps from an HTML file, one per line.
//!
//!     cargo run --release --example extract_dump -- page.html [content-type]
use citewatch::extract::{Rules, extract};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: extract_dump FILE [CONTENT-TYPE]");
        std::process::exit(2);
    };
    let ct = args.next().unwrap_or_else(|| "text/html; charset=utf-8".into());
    let body = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    match extract(&body, &ct, &Rules::default()) {
        Ok(t) => print!("{}", t.to_text()),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        }
    }
}
