//! The cost of a rendered page: N script-built pages served on 127.0.0.1, read in the real
//! headless browser through `citewatch::fetch::render::Renderer`, C at a time. Prints pages/s,
//! the browser's start-up time and its peak memory (summed PSS of its processes).
//!
//!     cargo run --release --example render_bench -- [N=100] [C=4]

use std::time::Instant;

use citewatch::fetch::render::Renderer;
use citewatch::settings::BrowserSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAGE: &str = r#"<html><head><title>Bench</title></head><body><article id="story"></article>
<script>setTimeout(function () { document.getElementById("story").innerHTML =
"<p>The United States contributes about 600 soldiers to KFOR as of 2025.</p><p>Page NUM.</p>"; }, 50);</script>
</body></html>"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let c: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let len = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..len]);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = if let Some(num) = path.strip_prefix("/p/") {
                    ("200 OK", PAGE.replace("NUM", num))
                } else {
                    ("404 Not Found", "not found".to_owned())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    let settings = BrowserSettings::default();
    let r = std::sync::Arc::new(Renderer::new(&settings, "citewatch-bench", c));
    let t0 = Instant::now();
    let first = url::Url::parse(&format!("http://{addr}/p/0")).unwrap();
    r.render(&first, None).await.expect("first page");
    let startup = t0.elapsed();
    let t1 = Instant::now();
    let tasks: Vec<_> = (1..n)
        .map(|i| {
            let r = r.clone();
            let u = url::Url::parse(&format!("http://{addr}/p/{i}")).unwrap();
            tokio::spawn(async move {
                r.render(&u, None)
                    .await
                    .map(|h| h.contains(&format!("Page {i}.")))
            })
        })
        .collect();
    let mut ok = 1;
    for t in tasks {
        if matches!(t.await, Ok(Ok(true))) {
            ok += 1;
        }
    }
    let rest = t1.elapsed();
    let st = r.close().await;
    println!(
        "{ok}/{n} pages rendered; first page (browser start included) {:.2} s; then {:.2} pages/s at {c} at once; \
         browser peak memory {:.0} MiB (PSS, all its processes); {} launch(es)",
        startup.as_secs_f64(),
        (n - 1) as f64 / rest.as_secs_f64(),
        st.peak_bytes as f64 / (1024.0 * 1024.0),
        st.launches
    );
}
