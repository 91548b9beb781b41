//! A real HTTP server on 127.0.0.1 (axum, port 0) serving pages a test can change between
//! runs, counting requests per path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;

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
}

impl Response {
    /// A 200 `text/html; charset=utf-8` page.
    pub fn html(body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    /// A bare status with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: vec![],
            body: vec![],
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Delays the answer.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct Inner {
    /// path → queue of responses; the last one repeats.
    routes: HashMap<String, Vec<Response>>,
    hits: HashMap<String, usize>,
    requests: Vec<(String, HeaderMap)>,
}

/// The server; dropped at the end of the test (the runtime thread ends with the process).
#[derive(Clone)]
pub struct PageServer {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl PageServer {
    /// Starts a server on 127.0.0.1 with a random port, on its own runtime thread.
    pub fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send addr");
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("server address");
        Self { addr, inner }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Serves `resp` at `path` from now on.
    pub fn set(&self, path: &str, resp: Response) {
        self.inner.lock().unwrap().routes.insert(path.into(), vec![resp]);
    }

    /// Serves these responses in turn at `path`; the last one repeats.
    pub fn set_sequence(&self, path: &str, resps: Vec<Response>) {
        self.inner.lock().unwrap().routes.insert(path.into(), resps);
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.inner.lock().unwrap().hits.get(path).copied().unwrap_or(0)
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
    let path = req.uri().path().to_owned();
    let resp = {
        let mut g = state.lock().unwrap();
        *g.hits.entry(path.clone()).or_default() += 1;
        g.requests.push((path.clone(), req.headers().clone()));
        match g.routes.get_mut(&path) {
            Some(q) if q.len() > 1 => Some(q.remove(0)),
            Some(q) => q.first().cloned(),
            None => None,
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
    (
        StatusCode::from_u16(r.status).expect("status"),
        headers,
        Body::from(r.body),
    )
        .into_response()
}
