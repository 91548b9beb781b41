//! A loopback fake of a Wayback-compatible archive: the `/web/<ts>/<url>` redirect to the
//! nearest capture (earlier or later, as the Wayback Machine does), the raw `id_` form, the
//! availability and CDX APIs, Save Page Now 2 (`POST /save`, then pending, then success on
//! `/save/status/<job>`) and the plain `GET /save/<url>`; 404 for a URL never archived,
//! 429 (with `Retry-After`) or 500 on demand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One capture.
#[derive(Clone)]
pub struct Cap {
    pub original: String,
    pub ts: String,
    pub status: u16,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    caps: Vec<Cap>,
    /// Every request: method, path and query.
    log: Vec<String>,
    /// Headers of the save requests.
    save_headers: Vec<HeaderMap>,
    /// Every URL a capture was requested of.
    saves: Vec<String>,
    /// Save Page Now jobs: (url, polls still answered "pending").
    jobs: Vec<(String, usize)>,
    /// Polls answered "pending" before success.
    pending_polls: usize,
    /// The next this many requests are answered 429 with `Retry-After: 1`.
    throttle: usize,
    /// Every request answered 500.
    broken: bool,
    /// `/web/<ts>/<url>` answered 503 (the redirect lookup fails: the APIs must answer).
    redirect_broken: bool,
    /// No Save Page Now 2 (`POST /save` is 404): the plain `GET /save/<url>` must be used.
    no_spn2: bool,
    /// `/web/<ts>/<url>` serves the nearest capture itself (with its `Memento-Datetime`)
    /// instead of redirecting to it.
    no_redirect: bool,
}

/// The fake archive, on 127.0.0.1.
pub struct FakeArchive {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// The timestamp every capture the fake makes carries.
pub const SAVED_TS: &str = "20261202120000";

impl FakeArchive {
    pub fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            pending_polls: 1,
            ..Inner::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Self {
            addr: rx.recv().expect("address"),
            inner,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The replay URL of a capture.
    pub fn replay(&self, ts: &str, original: &str) -> String {
        format!("{}/web/{ts}/{original}", self.base())
    }

    pub fn capture(&self, original: &str, ts: &str, body: &str) {
        self.inner.lock().unwrap().caps.push(Cap {
            original: original.into(),
            ts: ts.into(),
            status: 200,
            body: body.into(),
        });
    }

    pub fn capture_status(&self, original: &str, ts: &str, status: u16) {
        self.inner.lock().unwrap().caps.push(Cap {
            original: original.into(),
            ts: ts.into(),
            status,
            body: String::new(),
        });
    }

    pub fn set_pending_polls(&self, n: usize) {
        self.inner.lock().unwrap().pending_polls = n;
    }

    /// Every Save Page Now job answers "success" from now on.
    pub fn finish_jobs(&self) {
        for j in &mut self.inner.lock().unwrap().jobs {
            j.1 = 0;
        }
    }

    pub fn throttle(&self, n: usize) {
        self.inner.lock().unwrap().throttle = n;
    }

    pub fn set_broken(&self, on: bool) {
        self.inner.lock().unwrap().broken = on;
    }

    pub fn set_redirect_broken(&self, on: bool) {
        self.inner.lock().unwrap().redirect_broken = on;
    }

    pub fn set_no_redirect(&self, on: bool) {
        self.inner.lock().unwrap().no_redirect = on;
    }

    pub fn set_no_spn2(&self, on: bool) {
        self.inner.lock().unwrap().no_spn2 = on;
    }

    /// Every request so far (`GET /path?query`).
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }

    /// The URLs captures were requested of, in order.
    pub fn saves(&self) -> Vec<String> {
        self.inner.lock().unwrap().saves.clone()
    }

    pub fn save_headers(&self) -> Vec<HeaderMap> {
        self.inner.lock().unwrap().save_headers.clone()
    }

    /// Forgets the log and the save requests.
    pub fn clear_log(&self) {
        let mut g = self.inner.lock().unwrap();
        g.log.clear();
        g.saves.clear();
        g.save_headers.clear();
    }
}

fn json(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn query_param(q: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The nearest capture of `original` to `ts` in time (either side).
fn nearest<'a>(caps: &'a [Cap], original: &str, ts: &str) -> Option<&'a Cap> {
    let n = |t: &str| t.parse::<i128>().unwrap_or(0);
    // Timestamps as numbers are not times, but keep their order; good enough to be "nearest"
    // in the tests' spreads (days apart against a year apart).
    caps.iter()
        .filter(|c| c.original == original)
        .min_by_key(|c| (n(&c.ts) - n(ts)).abs())
}

async fn handle(State(state): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut g = state.lock().unwrap();
    g.log.push(format!(
        "{method} {path}{}",
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    ));
    if g.broken {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    if g.throttle > 0 {
        g.throttle -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "slow down",
        )
            .into_response();
    }
    if method == "POST" && path == "/save" {
        if g.no_spn2 {
            return StatusCode::NOT_FOUND.into_response();
        }
        let url = query_param(std::str::from_utf8(&body).unwrap_or(""), "url").unwrap_or_default();
        g.saves.push(url.clone());
        g.save_headers.push(headers);
        let polls = g.pending_polls;
        g.jobs.push((url.clone(), polls));
        let id = format!("spn2-{}", g.jobs.len());
        return json(serde_json::json!({"url": url, "job_id": id}));
    }
    if let Some(id) = path.strip_prefix("/save/status/") {
        let Some(n) = id.strip_prefix("spn2-").and_then(|n| n.parse::<usize>().ok()) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Some(job) = g.jobs.get_mut(n - 1) else {
            return json(serde_json::json!({"status": "error", "message": "no such job"}));
        };
        if job.1 > 0 {
            job.1 -= 1;
            return json(serde_json::json!({"status": "pending", "job_id": id}));
        }
        let url = job.0.clone();
        return json(
            serde_json::json!({"status": "success", "job_id": id, "timestamp": SAVED_TS, "original_url": url}),
        );
    }
    if let Some(url) = path.strip_prefix("/save/") {
        let url = format!(
            "{url}{}",
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        g.saves.push(url.clone());
        g.save_headers.push(headers);
        return (
            StatusCode::FOUND,
            [(header::LOCATION, format!("/web/{SAVED_TS}/{url}"))],
            "",
        )
            .into_response();
    }
    if path == "/wayback/available" {
        let url = query_param(&query, "url").unwrap_or_default();
        let ts = query_param(&query, "timestamp").unwrap_or_default();
        let closest = nearest(&g.caps, &url, &ts).map(|c| {
            serde_json::json!({"available": true, "url": format!("http://archive.invalid/web/{}/{}", c.ts, c.original),
                "timestamp": c.ts, "status": c.status.to_string()})
        });
        return json(match closest {
            Some(c) => serde_json::json!({"url": url, "archived_snapshots": {"closest": c}}),
            None => serde_json::json!({"url": url, "archived_snapshots": {}}),
        });
    }
    if path == "/cdx/search/cdx" {
        let url = query_param(&query, "url").unwrap_or_default();
        let to = query_param(&query, "to").unwrap_or_else(|| "99999999999999".into());
        let only_2xx = query_param(&query, "filter").as_deref() == Some("statuscode:2..");
        let mut rows: Vec<&Cap> = g
            .caps
            .iter()
            .filter(|c| c.original == url && c.ts <= to && (!only_2xx || (200..300).contains(&c.status)))
            .collect();
        rows.sort_by(|a, b| a.ts.cmp(&b.ts));
        if query_param(&query, "limit").as_deref() == Some("-1") && rows.len() > 1 {
            rows.drain(..rows.len() - 1);
        }
        let mut out = vec![serde_json::json!([
            "urlkey",
            "timestamp",
            "original",
            "mimetype",
            "statuscode",
            "digest",
            "length"
        ])];
        for c in rows {
            out.push(serde_json::json!([
                "k",
                c.ts,
                c.original,
                "text/html",
                c.status.to_string(),
                "D",
                "1"
            ]));
        }
        if out.len() == 1 {
            out.clear();
        }
        return json(serde_json::Value::Array(out));
    }
    if let Some(rest) = path.strip_prefix("/web/") {
        let full = format!(
            "{rest}{}",
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        let Some((stamp, original)) = full.split_once('/') else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let raw = stamp.ends_with("id_");
        let ts = stamp.trim_end_matches("id_");
        if !raw && g.redirect_broken {
            return (StatusCode::SERVICE_UNAVAILABLE, "lookup broken").into_response();
        }
        let Some(c) = nearest(&g.caps, original, ts).cloned() else {
            return (
                StatusCode::NOT_FOUND,
                "Wayback Machine has not archived that URL.",
            )
                .into_response();
        };
        if c.ts != ts && (raw || !g.no_redirect) {
            let flags = if raw { "id_" } else { "" };
            return (
                StatusCode::FOUND,
                [(header::LOCATION, format!("/web/{}{flags}/{}", c.ts, c.original))],
                "",
            )
                .into_response();
        }
        let status = StatusCode::from_u16(c.status).unwrap();
        if raw {
            return (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                Body::from(c.body),
            )
                .into_response();
        }
        // The rewritten replay page: a toolbar with figures of its own, which a reader of
        // this page (instead of `id_`) would take for the source's text.
        let page = c.body.replace(
            "<body>",
            "<body><div id=\"wm-ipp\"><p>Wayback Machine: 9999 captures, 17 Nov 2025 - 999 soldiers.</p></div>",
        );
        let memento = chrono::NaiveDateTime::parse_from_str(&c.ts, "%Y%m%d%H%M%S")
            .map(|t| t.and_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_default();
        return (
            status,
            [
                (header::CONTENT_TYPE, "text/html".to_owned()),
                (header::HeaderName::from_static("memento-datetime"), memento),
            ],
            page,
        )
            .into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}
