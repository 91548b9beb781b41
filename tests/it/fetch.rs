//! `citewatch::fetch` against a real loopback server: redirects, conditional requests, retries,
//! timeouts, compression, size and type limits, concurrency limits; and fetch failures,
//! charsets and PDFs through `citewatch check`.

use std::time::{Duration, Instant};

use citewatch::fetch::{Conditional, FailureKind, FetchFailure, FetchOutcome, FetchedPage, Fetcher};
use citewatch::settings::FetchSettings;
use url::Url;

use crate::support::{PageServer, Response, Workspace, workspace::show};

/// Test settings: small limits, short timeout.
fn settings() -> FetchSettings {
    FetchSettings {
        concurrency: 8,
        per_host: 4,
        timeout_secs: 5,
        retries: 2,
        max_bytes: 1 << 20,
        user_agent: "citewatch-test".into(),
        allow_private_redirects: false,
        ..FetchSettings::default()
    }
}

/// A fetcher with a 50 ms backoff base, so retry tests stay fast.
fn fetcher(s: FetchSettings) -> Fetcher {
    Fetcher::new(&s)
        .expect("client")
        .with_backoff_base(Duration::from_millis(50))
}

fn url(srv: &PageServer, path: &str) -> Url {
    Url::parse(&srv.url(path)).expect("url")
}

async fn get(f: &Fetcher, srv: &PageServer, path: &str) -> FetchOutcome {
    f.fetch(&url(srv, path), &Conditional::default()).await
}

#[track_caller]
fn page(o: FetchOutcome) -> FetchedPage {
    match o {
        FetchOutcome::Fetched(p) => p,
        other => panic!("expected a page, got {other:?}"),
    }
}

#[track_caller]
fn failure(o: FetchOutcome) -> FetchFailure {
    match o {
        FetchOutcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

const HTML: &str = "<html><body><p>About 600 U.S. soldiers serve in KFOR.</p></body></html>";

#[tokio::test]
async fn redirects_are_followed_and_final_url_recorded() {
    let srv = PageServer::start();
    srv.set("/old", Response::redirect(301, "/mid"));
    srv.set("/mid", Response::redirect(302, &srv.url("/new")));
    srv.set("/new", Response::html(HTML));
    let p = page(get(&fetcher(settings()), &srv, "/old").await);
    assert_eq!(p.final_url, url(&srv, "/new"));
    assert_eq!(p.status, 200);
    assert_eq!(p.body, HTML.as_bytes());
    assert_eq!((srv.hits("/old"), srv.hits("/mid"), srv.hits("/new")), (1, 1, 1));
}

#[tokio::test]
async fn redirect_loop_is_a_redirect_failure_without_retry() {
    let srv = PageServer::start();
    srv.set("/a", Response::redirect(302, "/b"));
    srv.set("/b", Response::redirect(302, "/a"));
    let f = failure(get(&fetcher(settings()), &srv, "/a").await);
    assert_eq!(f.kind, FailureKind::Redirect);
    assert!(f.detail.starts_with("redirect loop: "), "{}", f.detail);
    assert!(
        f.detail.contains("/a → ") && f.detail.contains("/b"),
        "{}",
        f.detail
    );
    assert_eq!(f.attempts, 1);
    assert_eq!((srv.hits("/a"), srv.hits("/b")), (1, 1));
}

#[tokio::test]
async fn ten_redirects_are_followed_eleven_are_too_many() {
    let srv = PageServer::start();
    for i in 0..11 {
        srv.set(
            &format!("/r{i}"),
            Response::redirect(307, &format!("/r{}", i + 1)),
        );
    }
    srv.set("/r11", Response::html(HTML));
    let f = fetcher(settings());
    // /r1 → … → /r11: ten redirects.
    let p = page(get(&f, &srv, "/r1").await);
    assert_eq!(p.final_url, url(&srv, "/r11"));
    // /r0 → … → /r11: eleven.
    let e = failure(get(&f, &srv, "/r0").await);
    assert_eq!(e.kind, FailureKind::Redirect);
    assert!(e.detail.starts_with("more than 10 redirects"), "{}", e.detail);
}

/// Issue 17: 200 sources on 50 hosts that all redirected to one host had 16 requests in
/// flight there with `per_host = 2`. Every hop now holds a permit of its own host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_applies_to_redirect_targets() {
    let ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"];
    let sources = PageServer::start_on(&ips);
    let target = PageServer::start_on(&["127.0.0.7"]);
    let s = FetchSettings {
        concurrency: 16,
        per_host: 2,
        ..settings()
    };
    let f = fetcher(s);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let page = format!("/page{i}");
        target.set(&page, Response::html(HTML).delay(Duration::from_millis(200)));
        sources.set(&format!("/r{i}"), Response::redirect(302, &target.url(&page)));
        let u = Url::parse(&sources.url_at(i % ips.len(), &format!("/r{i}"))).unwrap();
        let f = f.clone();
        tasks.push(tokio::spawn(
            async move { f.fetch(&u, &Conditional::default()).await },
        ));
    }
    for t in tasks {
        page(t.await.expect("task"));
    }
    eprintln!("redirect target: at most {} in flight", target.max_in_flight());
    assert_eq!(target.max_in_flight(), 2);
}

/// The retry policy applies per hop: a 503 on the redirect target retries the target, not
/// the chain from its start.
#[tokio::test]
async fn a_redirect_hop_is_retried_on_its_own() {
    let srv = PageServer::start();
    srv.set("/a", Response::redirect(302, "/b"));
    srv.set_sequence("/b", vec![Response::status(503), Response::html(HTML)]);
    let p = page(get(&fetcher(settings()), &srv, "/a").await);
    assert_eq!(p.final_url, url(&srv, "/b"));
    assert_eq!((srv.hits("/a"), srv.hits("/b")), (1, 2));
}

/// Issue 17: a redirect from a public site to a private, link-local or loopback address was
/// followed (a cloud metadata address would have ended up in the report and the mail). Here
/// 127.0.0.2 and 127.0.0.3 stand in for public sites.
#[tokio::test]
async fn a_redirect_from_a_public_to_a_private_address_is_refused() {
    let public = PageServer::start_on(&["127.0.0.2", "127.0.0.3"]);
    let private = PageServer::start();
    private.set("/secret", Response::html(HTML));
    let port = Url::parse(&private.url("/")).unwrap().port().unwrap();
    public.set("/to-ip", Response::redirect(302, &private.url("/secret")));
    public.set(
        "/to-name",
        Response::redirect(301, &format!("http://localhost:{port}/secret")),
    );
    public.set("/to-public", Response::redirect(302, &public.url_at(1, "/page")));
    public.set("/page", Response::html(HTML));
    let as_public: Vec<std::net::IpAddr> = vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
    let f = fetcher(settings()).with_public_addresses(&as_public);
    let go = |path: &str| Url::parse(&public.url_at(0, path)).unwrap();

    let e = failure(f.fetch(&go("/to-ip"), &Conditional::default()).await);
    assert_eq!((e.kind, e.attempts), (FailureKind::Redirect, 1));
    assert_eq!(
        e.detail,
        format!(
            "redirect from a public address to a loopback one refused: {} → {} (127.0.0.1 is loopback); \
             set [fetch] allow_private_redirects = true to follow such redirects",
            go("/to-ip"),
            private.url("/secret")
        )
    );
    assert_eq!(e.final_url.as_deref(), Some(go("/to-ip").as_str()));
    let e = failure(f.fetch(&go("/to-name"), &Conditional::default()).await);
    assert_eq!(e.kind, FailureKind::Redirect);
    assert!(
        e.detail.contains(&format!(
            "→ http://localhost:{port}/secret (localhost resolves to "
        )),
        "{}",
        e.detail
    );
    assert_eq!(private.hits("/secret"), 0, "never requested");

    // Public to public is followed; so is private to private (every other redirect test).
    let p = page(f.fetch(&go("/to-public"), &Conditional::default()).await);
    assert_eq!(p.final_url.as_str(), public.url_at(1, "/page"));

    // Allowed by the setting.
    let s = FetchSettings {
        allow_private_redirects: true,
        ..settings()
    };
    let f = fetcher(s).with_public_addresses(&as_public);
    let p = page(f.fetch(&go("/to-ip"), &Conditional::default()).await);
    assert_eq!(p.final_url.as_str(), private.url("/secret"));
    assert_eq!(private.hits("/secret"), 1);
}

/// The rule is public → private only: a watchlist URL on a private address (every test's
/// 127.0.0.1) redirecting to another private one is followed, by `check` as by the fetcher.
#[test]
fn check_follows_redirects_between_private_addresses() {
    let first = PageServer::start_on(&["127.0.0.1", "127.0.0.2"]);
    let other = PageServer::start();
    other.set("/page", Response::html(HTML));
    first.set("/a", Response::redirect(302, &other.url("/page")));
    let ws = workspace(&[first.url_at(0, "/a"), first.url_at(1, "/a")]);
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    for s in v["sources"].as_array().unwrap() {
        assert_eq!(s["final_url"], other.url("/page"), "{v:#}");
        assert!(s["error"].is_null(), "{v:#}");
    }
    assert_eq!(other.hits("/page"), 2);
}

#[tokio::test]
async fn a_redirect_to_another_scheme_is_refused() {
    let srv = PageServer::start();
    srv.set("/ftp", Response::redirect(302, "ftp://127.0.0.1/file"));
    let f = failure(get(&fetcher(settings()), &srv, "/ftp").await);
    assert_eq!((f.kind, f.attempts), (FailureKind::Redirect, 1));
    assert_eq!(
        f.detail,
        "redirect to unsupported scheme `ftp`: ftp://127.0.0.1/file"
    );
}

#[tokio::test]
async fn stored_validators_are_sent_and_304_is_not_modified() {
    let srv = PageServer::start();
    let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
    srv.set_sequence(
        "/p",
        vec![
            Response::html(HTML)
                .header("etag", "\"v1\"")
                .header("last-modified", lm),
            Response::status(304),
        ],
    );
    let f = fetcher(settings());
    let first = page(get(&f, &srv, "/p").await);
    assert_eq!(first.etag.as_deref(), Some("\"v1\""));
    assert_eq!(first.last_modified.as_deref(), Some(lm));
    let cond = Conditional {
        etag: first.etag.clone(),
        last_modified: first.last_modified.clone(),
    };
    match f.fetch(&url(&srv, "/p"), &cond).await {
        FetchOutcome::NotModified { final_url } => assert_eq!(final_url, url(&srv, "/p")),
        other => panic!("expected 304, got {other:?}"),
    }
    let h = srv.request_headers("/p");
    assert_eq!(h.len(), 2);
    assert!(h[0].get("if-none-match").is_none());
    assert_eq!(h[1]["if-none-match"], "\"v1\"");
    assert_eq!(h[1]["if-modified-since"], lm);
}

#[tokio::test]
async fn a_304_to_an_unconditional_request_is_a_failure() {
    let srv = PageServer::start();
    srv.set("/p", Response::status(304));
    let f = failure(get(&fetcher(settings()), &srv, "/p").await);
    assert_eq!((f.kind, f.status), (FailureKind::HttpStatus, Some(304)));
    assert!(f.detail.contains("no validators"), "{}", f.detail);
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let srv = PageServer::start();
    let f = failure(get(&fetcher(settings()), &srv, "/missing").await);
    assert_eq!(
        (f.kind, f.status, f.attempts),
        (FailureKind::NotFound, Some(404), 1)
    );
    assert_eq!(f.detail, "HTTP 404 Not Found");
    assert_eq!(f.final_url.as_deref(), Some(srv.url("/missing").as_str()));
    assert_eq!(srv.hits("/missing"), 1);
}

#[tokio::test]
async fn service_unavailable_then_ok_is_retried() {
    let srv = PageServer::start();
    srv.set_sequence("/p", vec![Response::status(503), Response::html(HTML)]);
    let p = page(get(&fetcher(settings()), &srv, "/p").await);
    assert_eq!(p.body, HTML.as_bytes());
    assert_eq!(srv.hits("/p"), 2);
}

#[tokio::test]
async fn server_errors_exhaust_the_retries() {
    let srv = PageServer::start();
    srv.set("/p", Response::status(500));
    let f = failure(get(&fetcher(settings()), &srv, "/p").await);
    assert_eq!(
        (f.kind, f.status, f.attempts),
        (FailureKind::HttpStatus, Some(500), 3)
    );
    assert!(f.detail.ends_with("(after 3 attempts)"), "{}", f.detail);
    assert_eq!(srv.hits("/p"), 3);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let srv = PageServer::start();
    srv.set_sequence(
        "/p",
        vec![
            Response::status(429).header("retry-after", "1"),
            Response::html(HTML),
        ],
    );
    let t = Instant::now();
    page(get(&fetcher(settings()), &srv, "/p").await);
    // The backoff base is 50 ms: only Retry-After explains a wait of a second.
    assert!(t.elapsed() >= Duration::from_millis(950), "{:?}", t.elapsed());
    assert_eq!(srv.hits("/p"), 2);
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_not_waited_for() {
    let srv = PageServer::start();
    srv.set("/p", Response::status(429).header("retry-after", "3600"));
    let t = Instant::now();
    let f = failure(get(&fetcher(settings()), &srv, "/p").await);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!((f.status, f.attempts), (Some(429), 1));
    assert!(f.detail.contains("retry after 3600 s"), "{}", f.detail);
    assert_eq!(srv.hits("/p"), 1);
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_a_timeout() {
    let srv = PageServer::start();
    srv.set("/slow", Response::html(HTML).delay(Duration::from_secs(4)));
    let s = FetchSettings {
        timeout_secs: 1,
        retries: 1,
        ..settings()
    };
    let t = Instant::now();
    let f = failure(get(&fetcher(s), &srv, "/slow").await);
    let took = t.elapsed();
    assert_eq!((f.kind, f.attempts), (FailureKind::Timeout, 2));
    assert!(f.detail.contains("timeout_secs = 1"), "{}", f.detail);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(srv.hits("/slow"), 2);
}

#[tokio::test]
async fn gzip_deflate_and_brotli_bodies_are_decompressed() {
    let srv = PageServer::start();
    let long = HTML.repeat(50);
    srv.set("/gz", Response::html(&long).gzip());
    srv.set("/zz", Response::html(&long).deflate());
    srv.set("/br", Response::html(&long).brotli().chunked(100));
    let f = fetcher(settings());
    for path in ["/gz", "/zz", "/br"] {
        let p = page(get(&f, &srv, path).await);
        assert_eq!(p.body, long.as_bytes(), "{path}");
        let ae = srv.request_headers(path)[0]["accept-encoding"]
            .to_str()
            .unwrap()
            .to_owned();
        for enc in ["gzip", "br", "deflate"] {
            assert!(ae.contains(enc), "{path}: accept-encoding {ae}");
        }
    }
}

#[tokio::test]
async fn a_corrupt_compressed_body_is_a_decode_failure() {
    let srv = PageServer::start();
    srv.set(
        "/bad",
        Response::html("this is not gzip at all").header("content-encoding", "gzip"),
    );
    let f = failure(get(&fetcher(settings()), &srv, "/bad").await);
    assert_eq!((f.kind, f.attempts), (FailureKind::Decode, 1), "{}", f.detail);
    assert_eq!(srv.hits("/bad"), 1);
}

#[tokio::test]
async fn a_connection_cut_mid_body_is_retried() {
    let srv = PageServer::start();
    srv.set_sequence(
        "/p",
        vec![Response::html(HTML).abort_after(10), Response::html(HTML)],
    );
    let p = page(get(&fetcher(settings()), &srv, "/p").await);
    assert_eq!(p.body, HTML.as_bytes());
    assert_eq!(srv.hits("/p"), 2);
}

#[tokio::test]
async fn a_body_over_max_bytes_is_too_large() {
    let srv = PageServer::start();
    let big = "x".repeat(5000);
    srv.set("/len", Response::html(&big));
    srv.set("/chunked", Response::html(&big).chunked(256));
    srv.set("/exact", Response::html(&big[..1000]).chunked(256));
    srv.set("/gz", Response::html(&big).gzip());
    let s = FetchSettings {
        max_bytes: 1000,
        ..settings()
    };
    let f = fetcher(s);
    for path in ["/len", "/chunked", "/gz"] {
        let e = failure(get(&f, &srv, path).await);
        assert_eq!((e.kind, e.attempts), (FailureKind::TooLarge, 1), "{path}");
        assert!(
            e.detail.starts_with("body exceeds max_bytes = 1000"),
            "{path}: {}",
            e.detail
        );
        assert_eq!(srv.hits(path), 1);
    }
    // With Content-Length the refusal comes before reading and says so.
    let e = failure(get(&f, &srv, "/len").await);
    assert!(e.detail.contains("Content-Length: 5000"), "{}", e.detail);
    // Exactly max_bytes is fine.
    assert_eq!(page(get(&f, &srv, "/exact").await).body.len(), 1000);
}

#[tokio::test]
async fn an_endless_body_stops_at_max_bytes() {
    let srv = PageServer::start();
    srv.set("/endless", Response::html(&"y".repeat(8192)).endless());
    let s = FetchSettings {
        max_bytes: 2 << 20,
        timeout_secs: 20,
        ..settings()
    };
    let t = Instant::now();
    let e = failure(get(&fetcher(s), &srv, "/endless").await);
    // Reading stopped at the cap: a fetcher that kept reading would time out instead.
    assert_eq!(e.kind, FailureKind::TooLarge, "{}", e.detail);
    assert_eq!(e.detail, format!("body exceeds max_bytes = {}", 2 << 20));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[tokio::test]
async fn unsupported_content_types_fail_before_the_body_is_read() {
    let srv = PageServer::start();
    srv.set("/png", Response::typed("image/png", vec![0x89, b'P', b'N', b'G']));
    srv.set(
        "/zip",
        Response::typed("application/zip; name=x.zip", b"PK\x03\x04".to_vec()),
    );
    srv.set("/pdf", Response::typed("application/pdf", b"%PDF-1.4".to_vec()));
    srv.set(
        "/txt",
        Response::typed("text/plain; charset=utf-8", b"plain".to_vec()),
    );
    srv.set(
        "/xhtml",
        Response::typed("application/xhtml+xml", HTML.as_bytes().to_vec()),
    );
    let f = fetcher(settings());
    for (path, mime) in [("/png", "image/png"), ("/zip", "application/zip")] {
        let e = failure(get(&f, &srv, path).await);
        assert_eq!(
            (e.kind, e.status, e.attempts),
            (FailureKind::UnsupportedType, Some(200), 1)
        );
        assert_eq!(e.detail, format!("unsupported content type `{mime}`"));
    }
    for path in ["/pdf", "/txt", "/xhtml"] {
        page(get(&f, &srv, path).await);
    }
}

/// Fetches `n` slow pages at once through clones of one fetcher; returns the server's peak.
async fn peak_in_flight(s: FetchSettings, n: usize) -> usize {
    let srv = PageServer::start();
    let f = fetcher(s);
    let mut tasks = Vec::new();
    for i in 0..n {
        let path = format!("/p{i}");
        srv.set(&path, Response::html(HTML).delay(Duration::from_millis(300)));
        let (f, u) = (f.clone(), url(&srv, &path));
        tasks.push(tokio::spawn(
            async move { f.fetch(&u, &Conditional::default()).await },
        ));
    }
    for t in tasks {
        page(t.await.expect("task"));
    }
    srv.max_in_flight()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_limit_holds_across_tasks() {
    let s = FetchSettings {
        concurrency: 16,
        per_host: 2,
        ..settings()
    };
    assert_eq!(peak_in_flight(s, 8).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_limit_holds_across_tasks() {
    let s = FetchSettings {
        concurrency: 3,
        per_host: 10,
        ..settings()
    };
    assert_eq!(peak_in_flight(s, 9).await, 3);
}

#[tokio::test]
async fn connection_refused_is_a_network_failure_after_retries() {
    // Free a moment ago, and below the ephemeral range, so nothing else takes it meanwhile.
    let port = crate::support::smtp::free_port();
    let s = FetchSettings {
        retries: 1,
        ..settings()
    };
    let u = Url::parse(&format!("http://127.0.0.1:{port}/gone")).unwrap();
    let f = failure(fetcher(s).fetch(&u, &Conditional::default()).await);
    assert_eq!((f.kind, f.status, f.attempts), (FailureKind::Network, None, 2));
    assert!(f.detail.to_lowercase().contains("refused"), "{}", f.detail);
}

#[tokio::test]
async fn a_non_http_url_fails_without_a_request() {
    let u = Url::parse("ftp://127.0.0.1/file.txt").unwrap();
    let f = failure(fetcher(settings()).fetch(&u, &Conditional::default()).await);
    assert_eq!((f.kind, f.attempts), (FailureKind::Network, 0));
    assert_eq!(f.detail, "unsupported URL scheme `ftp` (only http and https)");
}

/// A watchlist citing `urls` as [1], [2], …, with fast fetch settings.
fn workspace(urls: &[String]) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "citewatch.toml",
        "[fetch]\ntimeout_secs = 5\nretries = 1\nmax_bytes = 100000\n",
    );
    let mut toml = String::from("title = \"Sources\"\narticle = \"\"\"\n");
    for i in 1..=urls.len() {
        toml.push_str(&format!("Claim number {i} holds [{i}].\n\n"));
    }
    toml.push_str("\"\"\"\n");
    for (i, u) in urls.iter().enumerate() {
        toml.push_str(&format!("[[source]]\ncite = {}\nurl = \"{u}\"\n", i + 1));
    }
    ws.watchlist("s.toml", &toml);
    ws
}

/// The extracted text the store holds for `url`'s latest version.
fn snapshot_text(ws: &Workspace, url: &str) -> String {
    let index = crate::support::store::index(ws.root());
    let src = index["sources"]
        .as_object()
        .expect("sources")
        .values()
        .find(|s| s["url"] == url)
        .unwrap_or_else(|| panic!("{url} not in index: {index}"));
    let hash = src["versions"]
        .as_array()
        .and_then(|v| v.last())
        .expect("a version")["text"]
        .as_str()
        .expect("text hash")
        .to_owned();
    std::fs::read_to_string(ws.root().join(format!("snapshots/text/{hash}.txt"))).expect("text file")
}

#[test]
fn check_reports_failed_sources_as_errors_and_exits_zero() {
    let srv = PageServer::start();
    srv.set("/ok", Response::html(HTML));
    srv.set("/png", Response::typed("image/png", vec![0x89, b'P', b'N', b'G']));
    srv.set("/big", Response::html(&"z".repeat(200_000)).chunked(4096));
    let urls: Vec<String> = ["/ok", "/missing", "/png", "/big"]
        .iter()
        .map(|p| srv.url(p))
        .collect();
    let ws = workspace(&urls);
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    // The report file on disk says the same as stdout.
    let dir = ws
        .root()
        .join("reports")
        .join(v["run_id"].as_str().expect("run_id"));
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json")).expect("json");
    assert_eq!(on_disk["sources"], v["sources"]);
    let source = |u: &str| {
        v["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .find(|s| s["url"] == u)
            .unwrap_or_else(|| panic!("{u} missing: {v}"))
            .clone()
    };
    let ok = source(&urls[0]);
    assert_eq!(
        (ok["outcome"].as_str(), ok["error"].as_str()),
        (Some("new"), None)
    );
    assert_eq!(ok["failure"], serde_json::Value::Null);
    assert_eq!(ok["rendered"], false);
    let missing = source(&urls[1]);
    assert_eq!(missing["failure"], "not_found");
    assert_eq!(missing["outcome"], "error");
    assert_eq!(missing["http_status"], 404);
    assert_eq!(missing["error"], "HTTP 404 Not Found");
    let png = source(&urls[2]);
    assert_eq!(png["outcome"], "error");
    assert_eq!(png["error"], "unsupported content type `image/png`");
    assert_eq!(png["failure"], "unsupported_type");
    let big = source(&urls[3]);
    assert_eq!(big["outcome"], "error");
    assert_eq!(big["error"], "body exceeds max_bytes = 100000");
    assert_eq!(big["failure"], "too_large");
    assert_eq!(srv.hits("/missing"), 1, "a 404 is not retried");
}

#[test]
fn check_reaches_loopback_directly_despite_proxy_variables() {
    let srv = PageServer::start();
    srv.set("/ok", Response::html(HTML));
    let ws = workspace(&[srv.url("/ok")]);
    // A proxy that refuses every connection: using it would make the source fail.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let out = ws
        .cmd(&["check", "--format", "json"])
        .env("HTTP_PROXY", &dead)
        .env("http_proxy", &dead)
        .env("ALL_PROXY", &dead)
        .env("all_proxy", &dead)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["sources"][0]["outcome"], "new", "{v}");
    assert_eq!(srv.hits("/ok"), 1);
}

#[test]
fn check_decodes_an_iso_8859_1_page() {
    let srv = PageServer::start();
    let html = "<html><body><p>Le caf\u{e9} de la r\u{e9}gion co\u{fb}te 2 \u{a3}, na\u{ef}ve \u{c0} l'ann\u{e9}e.</p></body></html>";
    let latin1: Vec<u8> = html
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
        .collect();
    assert!(
        std::str::from_utf8(&latin1).is_err(),
        "the body must not be valid UTF-8"
    );
    srv.set(
        "/latin1",
        Response::typed("text/html; charset=iso-8859-1", latin1),
    );
    let ws = workspace(&[srv.url("/latin1")]);
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "new", "{v}");
    let text = snapshot_text(&ws, &srv.url("/latin1"));
    assert!(
        text.contains("Le caf\u{e9} de la r\u{e9}gion co\u{fb}te 2 \u{a3}, na\u{ef}ve \u{c0} l'ann\u{e9}e."),
        "{text}"
    );
}

/// A one-page PDF showing `text` in Helvetica, with a correct cross-reference table.
fn pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    pdf_with_contents(b"", content.as_bytes())
}

/// A one-page PDF whose content stream is `content`, with `dict` added to the stream's
/// dictionary (e.g. `/Filter /FlateDecode`).
fn pdf_with_contents(dict: &[u8], content: &[u8]) -> Vec<u8> {
    let mut stream = format!("<< /Length {} ", content.len()).into_bytes();
    stream.extend_from_slice(dict);
    stream.extend_from_slice(b" >>\nstream\n");
    stream.extend_from_slice(content);
    stream.extend_from_slice(b"\nendstream");
    let objects: [Vec<u8>; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A zlib stream that inflates to `n` zero bytes (n = 1 + 258·k): one literal, then
/// back-references of 258 bytes at distance 1, in one fixed-Huffman block (about 160:1).
fn zlib_zeros(n: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        len: u32,
    }
    impl Bits {
        /// `n` bits of `v`, least significant first (header fields).
        fn put(&mut self, v: u64, n: u32) {
            self.acc |= v << self.len;
            self.len += n;
            while self.len >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.len -= 8;
            }
        }
        /// A Huffman code of `n` bits, most significant first.
        fn code(&mut self, c: u64, n: u32) {
            let r = (0..n).fold(0, |r, i| r | (((c >> i) & 1) << (n - 1 - i)));
            self.put(r, n);
        }
    }
    assert_eq!((n - 1) % 258, 0);
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        len: 0,
    };
    b.put(1, 1); // final block
    b.put(1, 2); // fixed Huffman codes
    b.code(0b0011_0000, 8); // literal 0
    for _ in 0..(n - 1) / 258 {
        b.code(0b1100_0101, 8); // length 258 (code 285)
        b.code(0, 5); // distance 1 (code 0)
    }
    b.code(0, 7); // end of block
    b.put(0, 7); // pad to a byte
    // Adler-32 of n zeros: a stays 1, b adds 1 per byte.
    let adler = (((n % 65521) as u32) << 16) | 1;
    b.out.extend_from_slice(&adler.to_be_bytes());
    b.out
}

#[test]
fn a_pdf_bomb_fails_its_source_within_the_reader_limits() {
    // 4 MB that inflate to 640 MiB: read in-process, that much memory (or twice, as it grows).
    let bomb = pdf_with_contents(b"/Filter /FlateDecode", &zlib_zeros(1 + 258 * 2_601_000));
    assert!(bomb.len() < 5 << 20, "{}", bomb.len());
    let srv = PageServer::start();
    srv.set("/bomb.pdf", Response::typed("application/pdf", bomb));
    srv.set(
        "/res.pdf",
        Response::typed("application/pdf", pdf("Resolution 1244 establishes KFOR.")),
    );
    let ws = workspace(&[srv.url("/bomb.pdf"), srv.url("/res.pdf")]);
    ws.write("citewatch.toml", "[fetch]\ntimeout_secs = 30\nretries = 0\n");
    let started = std::time::Instant::now();
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    let src = |path: &str| {
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["url"].as_str().unwrap().ends_with(path))
            .cloned()
            .unwrap()
    };
    let bomb = src("/bomb.pdf");
    assert_eq!(bomb["outcome"], "error", "{v}");
    let err = bomb["error"].as_str().unwrap();
    assert!(err.contains("512 MiB memory limit"), "{err}");
    // The other PDF of the run is read as usual.
    assert_eq!(src("/res.pdf")["outcome"], "new", "{v}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn check_extracts_the_text_of_a_pdf() {
    let srv = PageServer::start();
    srv.set(
        "/res.pdf",
        Response::typed("application/pdf", pdf("Resolution 1244 establishes KFOR.")),
    );
    let ws = workspace(&[srv.url("/res.pdf")]);
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["sources"][0]["outcome"], "new", "{v}");
    let text = snapshot_text(&ws, &srv.url("/res.pdf"));
    assert!(text.contains("Resolution 1244 establishes KFOR."), "{text:?}");
}

/// Issue 17: with the watchlist listing its sources host by host, a run had at most 4 requests
/// in flight out of 16 (5,000 sources on 50 hosts: 120.6 s, against 27.6 s interleaved). Fetches
/// now start round-robin over the hosts with a free slot, so `concurrency` is used whatever
/// the order, and a slow host holds only its own `per_host` slots.
#[test]
fn concurrency_is_used_whatever_the_watchlist_order() {
    let ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
    let srv = PageServer::start_on(&ips);
    let mut urls = Vec::new();
    for (h, _) in ips.iter().enumerate() {
        // The last host is slow.
        let (delay, pages) = if h == 3 { (1000, 8) } else { (200, 16) };
        let delay = Duration::from_millis(delay);
        for i in 0..pages {
            let path = format!("/h{h}/p{i}");
            srv.set(
                &path,
                Response::html(&format!("<p>Page {h} {i} of the test.</p>")).delay(delay),
            );
            urls.push(srv.url_at(h, &path));
        }
    }
    let ws = workspace(&urls);
    ws.write(
        "citewatch.toml",
        "[fetch]\nconcurrency = 8\nper_host = 2\ntimeout_secs = 10\nretries = 0\n",
    );
    let t = Instant::now();
    let (out, v) = ws.check_json();
    let took = t.elapsed();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(v["summary"]["sources"], 56, "{v:#}");
    assert_eq!(v["summary"]["sources_failed"], 0, "{v:#}");
    eprintln!(
        "host by host: at most {} requests in flight (concurrency 8), run {took:?}",
        srv.max_in_flight()
    );
    // The slow host alone needs 4 × 1 s, and the others (8 × 0.2 s each) fit beside it.
    assert_eq!(srv.max_in_flight(), 8);
}
