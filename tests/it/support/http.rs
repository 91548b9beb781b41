//! A real HTTP server on 127.0.0.1 (axum, port 0) serving pages a test can change between
//! runs, counting requests per path and the most requests it had in flight at once.
//!
//! Responses can be compressed (gzip, deflate, brotli), streamed in chunks without a
//! `Content-Length`, streamed forever, or cut off mid-body.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use futures_util::StreamExt;

/// What the server answers for one path.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Send the body in chunks of this size, without `Content-Length`.
    pub chunk_size: Option<usize>,
    /// Repeat the body forever (chunked).
    pub endless: bool,
    /// Send this many body bytes (chunked), then break the connection.
    pub abort_after: Option<usize>,
}

impl Response {
    /// A 200 `text/html; charset=utf-8` page.
    pub fn html(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            chunk_size: None,
            endless: false,
            abort_after: None,
        }
    }

    /// A 200 with this `Content-Type` and body.
    pub fn typed(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
            chunk_size: None,
            endless: false,
            abort_after: None,
        }
    }

    /// A redirect (`status` 301, 302, 303, 307 or 308) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::status(status).header("location", location)
    }

    /// A bare status with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: vec![],
            body: vec![],
            delay: Duration::ZERO,
            chunk_size: None,
            endless: false,
            abort_after: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// The same answer with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Delays the answer.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Gzip-compresses the body and says so in `Content-Encoding`.
    pub fn gzip(self) -> Self {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&self.body).expect("gzip");
        let body = e.finish().expect("gzip");
        self.encoded("gzip", body)
    }

    /// Deflate-compresses the body (HTTP `deflate` is the zlib format).
    pub fn deflate(self) -> Self {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&self.body).expect("deflate");
        let body = e.finish().expect("deflate");
        self.encoded("deflate", body)
    }

    /// Brotli-compresses the body.
    pub fn brotli(self) -> Self {
        let mut body = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut body, 4096, 5, 22);
            w.write_all(&self.body).expect("brotli");
        }
        self.encoded("br", body)
    }

    fn encoded(mut self, encoding: &str, body: Vec<u8>) -> Self {
        self.body = body;
        self.header("content-encoding", encoding)
    }

    /// Streams the body in chunks of `size` bytes, without `Content-Length`.
    pub fn chunked(mut self, size: usize) -> Self {
        self.chunk_size = Some(size.max(1));
        self
    }

    /// Streams the body again and again, never ending (chunked).
    pub fn endless(mut self) -> Self {
        self.endless = true;
        self
    }

    /// Sends the first `n` body bytes, then breaks the connection.
    pub fn abort_after(mut self, n: usize) -> Self {
        self.abort_after = Some(n);
        self
    }
}

#[derive(Default)]
struct Inner {
    /// path → queue of responses; the last one repeats.
    routes: HashMap<String, Vec<Response>>,
    hits: HashMap<String, usize>,
    requests: Vec<(String, HeaderMap)>,
    /// Path, headers and body of every request that is not a GET or HEAD.
    posted: Vec<(String, HeaderMap, Vec<u8>)>,
    /// Requests being answered now (until the handler returns, delay included).
    in_flight: usize,
    /// The most requests ever answered at once.
    max_in_flight: usize,
    /// What paths without a route get (default: a 404).
    fallback: Option<Response>,
}

/// Counts a request as in flight until dropped (also when the client goes away).
struct InFlight(Arc<Mutex<Inner>>);

impl InFlight {
    fn enter(state: &Arc<Mutex<Inner>>) -> Self {
        let mut g = state.lock().unwrap();
        g.in_flight += 1;
        g.max_in_flight = g.max_in_flight.max(g.in_flight);
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.in_flight -= 1;
    }
}

/// The server; dropped at the end of the test (the runtime thread ends with the process).
#[derive(Clone)]
pub struct PageServer {
    addrs: Vec<SocketAddr>,
    inner: Arc<Mutex<Inner>>,
}

impl PageServer {
    /// Starts a server on 127.0.0.1 with a random port, on its own runtime thread.
    pub fn start() -> Self {
        Self::start_on(&["127.0.0.1"])
    }

    /// One server listening on each of `ips` (a random port each; `127.0.0.2`, `127.0.0.3` …
    /// are loopback addresses too, and distinct hosts to the fetcher), with one set of routes
    /// and counters: [`PageServer::max_in_flight`] is over all of them.
    pub fn start_on(ips: &[&str]) -> Self {
        Self::bind(ips.iter().map(|ip| ((*ip).to_owned(), 0)).collect())
    }

    /// A server on `127.0.0.1:port` (for a fixture whose URLs name the port).
    pub fn start_at_port(port: u16) -> Self {
        Self::bind(vec![("127.0.0.1".to_owned(), port)])
    }

    fn bind(ips: Vec<(String, u16)>) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = inner.clone();
        let n = ips.len();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut serving = Vec::new();
                for (ip, port) in ips {
                    let listener = tokio::net::TcpListener::bind((ip.as_str(), port))
                        .await
                        .expect("bind");
                    tx.send(listener.local_addr().expect("addr")).expect("send addr");
                    let app = axum::Router::new().fallback(handle).with_state(state.clone());
                    serving.push(tokio::spawn(async move { axum::serve(listener, app).await }));
                }
                for s in serving {
                    s.await.expect("task").expect("serve");
                }
            });
        });
        let addrs = (0..n).map(|_| rx.recv().expect("server address")).collect();
        Self { addrs, inner }
    }

    /// `http://127.0.0.1:PORT{path}` (the first address).
    pub fn url(&self, path: &str) -> String {
        self.url_at(0, path)
    }

    /// `http://IP:PORT{path}` for the `i`-th address given to [`PageServer::start_on`].
    pub fn url_at(&self, i: usize, path: &str) -> String {
        format!("http://{}{}", self.addrs[i], path)
    }

    /// Serves `resp` at `path` from now on.
    pub fn set(&self, path: &str, resp: Response) {
        self.inner.lock().unwrap().routes.insert(path.into(), vec![resp]);
    }

    /// Serves `resp` at every path without a route of its own (a site that answers any URL
    /// with one page).
    pub fn set_fallback(&self, resp: Response) {
        self.inner.lock().unwrap().fallback = Some(resp);
    }

    /// Serves these responses in turn at `path`; the last one repeats.
    pub fn set_sequence(&self, path: &str, resps: Vec<Response>) {
        self.inner.lock().unwrap().routes.insert(path.into(), resps);
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.inner.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    /// The most requests the server was answering at once (a request counts from arrival
    /// until its handler returns, so a `delay` keeps it in flight).
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    /// Headers and body of every POST (any method but GET and HEAD) to `path`, in order.
    pub fn posted(&self, path: &str) -> Vec<(HeaderMap, Vec<u8>)> {
        let g = self.inner.lock().unwrap();
        g.posted
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .collect()
    }

    /// Headers of every request to `path`, in order.
    pub fn request_headers(&self, path: &str) -> Vec<HeaderMap> {
        let g = self.inner.lock().unwrap();
        g.requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

async fn handle(State(state): State<Arc<Mutex<Inner>>>, req: Request) -> impl IntoResponse {
    let _in_flight = InFlight::enter(&state);
    let path = req.uri().path().to_owned();
    let (method, headers) = (req.method().clone(), req.headers().clone());
    let sent = if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        None
    } else {
        axum::body::to_bytes(req.into_body(), 1 << 26).await.ok()
    };
    let resp = {
        let mut g = state.lock().unwrap();
        *g.hits.entry(path.clone()).or_default() += 1;
        g.requests.push((path.clone(), headers.clone()));
        if let Some(b) = sent {
            g.posted.push((path.clone(), headers, b.to_vec()));
        }
        match g.routes.get_mut(&path) {
            Some(q) if q.len() > 1 => Some(q.remove(0)),
            Some(q) => q.first().cloned(),
            None => g.fallback.clone(),
        }
    };
    let Some(r) = resp else {
        return (StatusCode::NOT_FOUND, HeaderMap::new(), Body::from("not found")).into_response();
    };
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    let status = StatusCode::from_u16(r.status).expect("status");
    (status, headers, body(r)).into_response()
}

fn body(r: Response) -> Body {
    type Chunk = Result<axum::body::Bytes, std::io::Error>;
    let data = axum::body::Bytes::from(r.body);
    if r.endless {
        let s = futures_util::stream::repeat(data).map(Ok::<_, std::io::Error>);
        return Body::from_stream(s);
    }
    if let Some(n) = r.abort_after {
        let n = n.min(data.len());
        let chunks: Vec<Chunk> = vec![
            Ok(data.slice(..n)),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "test: cut off",
            )),
        ];
        return Body::from_stream(futures_util::stream::iter(chunks));
    }
    if let Some(size) = r.chunk_size {
        let chunks: Vec<Chunk> = (0..data.len())
            .step_by(size)
            .map(|i| Ok(data.slice(i..(i + size).min(data.len()))))
            .collect();
        return Body::from_stream(futures_util::stream::iter(chunks));
    }
    Body::from(data)
}
