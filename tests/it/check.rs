//! `citewatch check` end to end against a loopback server.

use crate::support::{PageServer, Response, Workspace, workspace::show};

fn page(body: &str) -> String {
    format!(
        "<html><head><title>t</title></head><body><nav>Menu Home About</nav><article>{body}</article><footer>Generated 12:00</footer></body></html>"
    )
}

#[test]
fn first_check_stores_and_reports_new() {
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 600 U.S. soldiers serve in KFOR.</p><p>Camp Bondsteel is the base.</p>",
        )),
    );
    let ws = Workspace::new();
    ws.watchlist(
        "k.toml",
        &format!(
            "title = \"Kosovo\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n",
            srv.url("/a")
        ),
    );
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "new");
    assert_eq!(v["sources"][0]["http_status"], 200);
    assert_eq!(v["statements"][0]["status"], "baseline");
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "unchanged");
    assert_eq!(v["statements"][0]["status"], "unchanged");
    assert_eq!(srv.hits("/a"), 2);
}
