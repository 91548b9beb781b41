//! The daemon's HTTP control endpoint (axum): `GET /health`, `POST /recheck[?only=ID]`,
//! `POST /ack`, `GET /reports/<run-id>` and `GET /`, a small server-rendered page (maud, so
//! every piece of source text is escaped) with the statements flagged now (each with its
//! history and an "Acknowledge" form), the latest acknowledgements, the last runs with their
//! times and a "Re-check now" button.
//!
//! # Access
//! - It binds loopback by default; a non-loopback `[control].listen` is refused at start
//!   unless `[control].token_env` names an environment variable holding a token
//!   ([`ListenPlan::from_settings`]).
//! - With a token, every request needs `Authorization: Bearer <token>` (compared in
//!   constant time). The one exception is the page's forms: an HTML form cannot set a
//!   header, so a form `POST /recheck` or `POST /ack` may carry the token in a hidden `token`
//!   field instead. The field is only ever rendered into the page for a client that presented
//!   the token, it travels in the body (not the URL, so not in logs or history), the page is
//!   sent `Cache-Control: no-store`, and a cross-site page cannot know it, so it doubles as the
//!   CSRF token.
//! - Without a token (loopback only), requests whose `Host` is not a loopback name are
//!   refused (DNS rebinding), and a `POST` a browser marks as coming from another site is
//!   refused (`cross_site`: `Origin`, else `Sec-Fetch-Site`), so a page in the user's
//!   browser cannot trigger runs or acks (CSRF). The page is sent
//!   `Referrer-Policy: same-origin` so that its own form posts carry its origin.
//! - Every refusal is logged (warn) with its reason.
//! - `POST /recheck` and `POST /ack` answer JSON unless the request prefers `text/html`
//!   (`prefers_html`): a browser gets a page, `curl -d ''` and scripts get JSON.
//! - Every response carries a restrictive Content-Security-Policy (no scripts at all).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::daemon::{DaemonHandle, FailureKind, RunFailure, RunResult};
use crate::error::CommandError;
use crate::report::RunReport;
use crate::report::html::{UNANCHORED_HELP, card as statement_card, unanchored_items};
use crate::settings::ControlSettings;

/// How many runs the page lists.
const RUNS_ON_PAGE: usize = 20;
/// How many recent reports the page reads to find each article's latest verdicts.
const REPORTS_SCANNED: usize = 100;

/// Where the endpoint listens and the token it requires, decided from `[control]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenPlan {
    /// The address to bind.
    pub addr: SocketAddr,
    /// The bearer token every request must carry, if `[control].token_env` is set.
    pub token: Option<String>,
}

impl ListenPlan {
    /// Checks `[control]`: the address parses; a `token_env` names a set, non-empty
    /// variable (looked up with `env`); an address off loopback has a token. Messages name
    /// the settings file `settings_path`.
    pub fn from_settings(
        control: &ControlSettings,
        settings_path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let addr: SocketAddr = control.listen.parse().map_err(|_| {
            format!(
                "{}: [control].listen: `{}` is not an address such as 127.0.0.1:8787",
                settings_path.display(),
                control.listen
            )
        })?;
        let token = match &control.token_env {
            None => None,
            Some(name) => match env(name).filter(|t| !t.is_empty()) {
                Some(t) => Some(t),
                None => {
                    return Err(format!(
                        "{}: [control].token_env names the environment variable `{name}`, but it is not set or empty",
                        settings_path.display()
                    ));
                }
            },
        };
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(format!(
                "{}: [control].listen = \"{addr}\" is not a loopback address; refusing to serve the control endpoint without a token. \
                 Set [control].token_env to the name of an environment variable holding a secret token, \
                 or listen on 127.0.0.1",
                settings_path.display()
            ));
        }
        Ok(Self { addr, token })
    }
}

/// The address a client (`citewatch trigger`) connects to for `listen`: the same, except
/// that an unspecified address (`0.0.0.0`, `[::]`) becomes loopback.
pub fn client_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port()),
        _ => listen,
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ControlState {
    handle: DaemonHandle,
    /// blake3 of the token: comparing fixed-size hashes in constant time leaks neither the
    /// token nor its length.
    token: Option<Arc<[u8; 32]>>,
    token_plain: Option<Arc<str>>,
}

impl ControlState {
    /// State over the loop `handle`, requiring `token` when given.
    pub fn new(handle: DaemonHandle, token: Option<String>) -> Self {
        Self {
            handle,
            token: token
                .as_deref()
                .map(|t| Arc::new(*blake3::hash(t.as_bytes()).as_bytes())),
            token_plain: token.map(Arc::from),
        }
    }

    fn token_matches(&self, given: &str) -> bool {
        match &self.token {
            Some(want) => bool::from(blake3::hash(given.as_bytes()).as_bytes().ct_eq(&want[..])),
            None => true,
        }
    }
}

/// Marks a form `POST /recheck` that came without the bearer header: the handler checks the
/// hidden `token` field.
#[derive(Clone, Copy)]
struct FormTokenRequired;

/// The endpoint's routes.
pub fn router(state: ControlState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/recheck", post(recheck))
        .route("/ack", post(ack))
        .route("/reports/{run_id}", get(report))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn guard(State(st): State<ControlState>, mut req: Request, next: Next) -> Response {
    if st.token.is_some() {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match bearer {
            Some(t) if st.token_matches(t.trim()) => {}
            _ if req.method() == Method::POST
                && matches!(req.uri().path(), "/recheck" | "/ack")
                && is_form(req.headers()) =>
            {
                req.extensions_mut().insert(FormTokenRequired);
            }
            _ => {
                tracing::warn!(method = %req.method(), path = req.uri().path(), "control request refused: no valid bearer token");
                return unauthorized();
            }
        }
    } else if let Some(host) = req.headers().get(header::HOST)
        && !host.to_str().is_ok_and(is_loopback_host)
    {
        tracing::warn!(
            method = %req.method(),
            path = req.uri().path(),
            host = host.to_str().unwrap_or("(not text)"),
            "control request refused: Host is not a loopback name"
        );
        return (
            StatusCode::FORBIDDEN,
            "the control endpoint answers only to loopback host names\n",
        )
            .into_response();
    }
    if req.method() == Method::GET
        && let Some(why) = cross_site_read(req.headers())
    {
        tracing::warn!(path = req.uri().path(), "control GET refused: {why}");
        return (
            StatusCode::FORBIDDEN,
            "another site's page cannot load this endpoint; open it directly\n",
        )
            .into_response();
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // `same-origin`: the page's own form posts carry its origin (with `no-referrer` Chromium
    // sends `Origin: null`); other sites learn nothing. No URL here holds a secret.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required ([control].token_env)\n",
    )
        .into_response()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// `localhost`, `127.0.0.1`, `[::1]`, each with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a POST may have come from another site's page in the user's browser (CSRF), from
/// what the browser says about it:
/// - `Origin` naming another origin: cross-site, whatever else is sent.
/// - `Origin` naming this endpoint (`http(s)://<Host>`): same origin.
/// - `Origin: null` (a page sent with `Referrer-Policy: no-referrer`, a sandboxed frame, a
///   redirect) or no `Origin`: `Sec-Fetch-Site`, which browsers set themselves and a page
///   cannot forge, decides: `same-origin` (or `none`, a person's own action) is allowed,
///   `same-site` and `cross-site` are refused (another port of 127.0.0.1 is `same-site`).
/// - Neither header (curl, scripts, `citewatch trigger`) with no `Origin`: allowed; with
///   `Origin: null` and no `Sec-Fetch-Site`: refused (nothing vouches for it).
///
/// Returns why it is refused.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned())
    };
    let origin = text("origin");
    let fetch_site = text("sec-fetch-site");
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match origin.as_deref() {
        Some("null") | None => match fetch_site.as_deref() {
            Some("same-origin" | "none") => None,
            Some(other) => Some(format!("Sec-Fetch-Site: {other}")),
            None if origin.is_some() => Some("Origin: null without Sec-Fetch-Site".into()),
            None => None,
        },
        Some(o) => {
            let own = host.is_some_and(|h| o == format!("http://{h}") || o == format!("https://{h}"));
            if own { None } else { Some(format!("Origin: {o}")) }
        }
    }
}

/// Whether a GET is another site's page loading the endpoint as a sub-resource (an image, a
/// script, `fetch()`): each such load would cost the daemon a page. A person following a link
/// (a top-level navigation) is let through; so are curl and scripts (no such headers).
fn cross_site_read(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let navigation = text("sec-fetch-mode") == Some("navigate")
        && matches!(text("sec-fetch-dest"), Some("document") | None);
    match text("sec-fetch-site") {
        Some("cross-site" | "same-site") if !navigation => {
            return Some(format!(
                "Sec-Fetch-Site: {}, Sec-Fetch-Dest: {}",
                text("sec-fetch-site").unwrap_or(""),
                text("sec-fetch-dest").unwrap_or("(none)")
            ));
        }
        _ => {}
    }
    let host = text("host");
    match text("origin") {
        Some(o)
            if !navigation
                && !host.is_some_and(|h| o == format!("http://{h}") || o == format!("https://{h}")) =>
        {
            Some(format!("Origin: {o}"))
        }
        _ => None,
    }
}

/// Refuses a cross-site POST, logging it.
fn refuse_cross_site(path: &str, why: &str) -> Response {
    tracing::warn!(path, reason = why, "control request refused: cross-site");
    (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response()
}

/// True when the client prefers HTML to JSON (a browser's form post); scripts (curl, python's
/// urllib, `Accept: */*` or none) get JSON.
fn prefers_html(headers: &HeaderMap) -> bool {
    let (html, json, _) = accept_weights(headers);
    html > 0.0 && html > json
}

/// Whether the request asks for plain text above JSON and HTML (`citewatch trigger` does:
/// the text summary, made here from the run's rows, instead of a whole run's JSON).
fn prefers_text(headers: &HeaderMap) -> bool {
    let (html, json, text) = accept_weights(headers);
    text > 0.0 && text > json && text > html
}

/// The `Accept` header's weights of HTML, JSON and plain text.
fn accept_weights(headers: &HeaderMap) -> (f32, f32, f32) {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return (0.0, 0.0, 0.0);
    };
    let (mut html, mut json, mut text) = (0.0_f32, 0.0_f32, 0.0_f32);
    for part in accept.split(',') {
        let mut it = part.split(';');
        let mime = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match mime.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            "text/plain" => text = text.max(q),
            _ => {}
        }
    }
    (html, json, text)
}

async fn health(State(st): State<ControlState>) -> Response {
    let s = st.handle.status();
    let ctx = st.handle.context();
    let outbox = crate::notify::outbox_size(&ctx.paths);
    axum::Json(serde_json::json!({
        "status": s.state,
        "current": s.current,
        "queued": s.queued,
        "last_run": s.last_run,
        "last_error": s.last_error,
        "next_due": s.next_due,
        "outbox": outbox,
        "articles": ctx.watchlist.articles.len(),
        "config_errors": s.config_errors,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct RecheckQuery {
    only: Option<String>,
}

async fn recheck(
    State(st): State<ControlState>,
    Query(q): Query<RecheckQuery>,
    form_token: Option<axum::Extension<FormTokenRequired>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(why) = cross_site(&headers) {
        return refuse_cross_site("/recheck", &why);
    }
    let form = is_form(&headers);
    let mut only = q.only;
    let mut token = None;
    if form {
        for (k, v) in url::form_urlencoded::parse(&body) {
            match k.as_ref() {
                "only" if !v.is_empty() => only = Some(v.into_owned()),
                "token" => token = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    if form_token.is_some() && !token.as_deref().is_some_and(|t| st.token_matches(t)) {
        tracing::warn!(
            path = "/recheck",
            "control request refused: the form's token is missing or wrong"
        );
        return unauthorized();
    }
    let only: Vec<String> = only.into_iter().filter(|o| !o.is_empty()).collect();
    let result = st.handle.recheck(only).await;
    if prefers_html(&headers) {
        result_page(&result)
    } else {
        match result {
            Ok(report) if prefers_text(&headers) => {
                let text = tokio::task::spawn_blocking(move || report.to_text())
                    .await
                    .unwrap_or_else(|e| format!("the summary could not be made: {e}\n"));
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
            }
            Ok(report) => streamed_json(report),
            Err(f) => (
                failure_status(&f),
                axum::Json(serde_json::json!({ "error": f.message, "kind": f.kind })),
            )
                .into_response(),
        }
    }
}

/// A run's report as the JSON answer, written as it is sent: the statements and sources are
/// read from the run's rows on disk ([`RunReport::rows`]) on a blocking thread, a chunk at a
/// time, so the answer of a 100,000-statement run is never held whole. A failure once the
/// answer has begun cuts it off (the client sees an incomplete body, not a complete wrong
/// one).
fn streamed_json(report: Arc<RunReport>) -> Response {
    use std::io::Write;
    type Chunk = Result<Bytes, std::io::Error>;
    struct Sender(tokio::sync::mpsc::Sender<Chunk>);
    impl Write for Sender {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .blocking_send(Ok(Bytes::copy_from_slice(b)))
                .map_err(|_| std::io::Error::other("the client went away"))?;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    tokio::task::spawn_blocking(move || {
        let mut w = std::io::BufWriter::with_capacity(64 << 10, Sender(tx.clone()));
        let done = serde_json::to_writer(&mut w, &*report)
            .map_err(std::io::Error::other)
            .and_then(|()| w.flush());
        if let Err(e) = done {
            tracing::warn!(
                "the report of run {} was cut off in the answer: {e}",
                report.run_id
            );
            let _ = tx.blocking_send(Err(e));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// Longest `by` name kept from the page's ack form.
const MAX_BY_CHARS: usize = 80;

/// `POST /ack` (a form or query naming `statement=ID`, repeatable; optional `by`): the page's
/// "Acknowledge" control. Same access rules as `/recheck`; the store is written by
/// [`crate::commands::ack::acknowledge`], the function `citewatch ack` uses.
async fn ack(
    State(st): State<ControlState>,
    form_token: Option<axum::Extension<FormTokenRequired>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    if let Some(why) = cross_site(&headers) {
        return refuse_cross_site("/ack", &why);
    }
    let mut statements = Vec::new();
    let mut token = None;
    let mut by = None;
    let query = uri.query().unwrap_or("").as_bytes().to_vec();
    let form_body = if is_form(&headers) {
        body.to_vec()
    } else {
        Vec::new()
    };
    for (k, v) in url::form_urlencoded::parse(&query).chain(url::form_urlencoded::parse(&form_body)) {
        match k.as_ref() {
            "statement" if !v.trim().is_empty() => statements.push(v.trim().to_owned()),
            "token" => token = Some(v.into_owned()),
            "by" => by = Some(v.into_owned()),
            _ => {}
        }
    }
    if form_token.is_some() && !token.as_deref().is_some_and(|t| st.token_matches(t)) {
        tracing::warn!(
            path = "/ack",
            "control request refused: the form's token is missing or wrong"
        );
        return unauthorized();
    }
    let html = prefers_html(&headers);
    if statements.is_empty() {
        return ack_answer(
            html,
            StatusCode::BAD_REQUEST,
            "name the statement to acknowledge (statement=ID)",
            None,
        );
    }
    let by: String = by
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_BY_CHARS)
        .collect::<String>()
        .trim()
        .to_owned();
    let by = if by.is_empty() { "the page".to_owned() } else { by };
    let root = st.handle.context().paths.root.clone();
    let selection = crate::commands::ack::AckSelection::Statements(statements);
    let who = by.clone();
    let result =
        tokio::task::spawn_blocking(move || crate::commands::ack::acknowledge(&root, &selection, &who)).await;
    match result {
        Ok(Ok(out)) => {
            tracing::info!(by = %by, acknowledged = out.acked.len(), not_flagged = out.not_flagged.len(), "acknowledged from the page");
            let status = if out.acked.is_empty() {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            };
            let message = if out.acked.is_empty() {
                format!(
                    "{} is not flagged: nothing to acknowledge",
                    out.not_flagged.join(", ")
                )
            } else {
                format!("acknowledged by {by}")
            };
            ack_answer(html, status, &message, Some(&out))
        }
        Ok(Err(e)) => {
            let status = match &e {
                CommandError::Usage(_) => StatusCode::NOT_FOUND,
                CommandError::CannotRun(_) => StatusCode::SERVICE_UNAVAILABLE,
                CommandError::Invalid(_) => StatusCode::CONFLICT,
                CommandError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(error = %e, "acknowledge from the page failed");
            ack_answer(html, status, &e.to_string(), None)
        }
        Err(e) => ack_answer(
            html,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("acknowledge: {e}"),
            None,
        ),
    }
}

fn ack_answer(
    html: bool,
    status: StatusCode,
    message: &str,
    out: Option<&crate::commands::ack::AckOutcome>,
) -> Response {
    let mut resp = if html {
        let body = maud::html! {
            h1 { @if status.is_success() { "Acknowledged" } @else { "Not acknowledged" } }
            p class=(if status.is_success() { "ok" } else { "err" }) { (message) }
            @if let Some(out) = out {
                @if !out.acked.is_empty() {
                    p { "The sources' current wording is now the baseline of these statements and their flags are cleared. If the article itself needs a correction, that is yours to make." }
                    ul.acked {
                        @for a in &out.acked {
                            li { (a.text) " " small { "[" (a.cite) "] " code { (a.statement) } } }
                        }
                    }
                }
                @for id in &out.not_flagged {
                    p.err { code { (id) } " is not flagged: nothing to acknowledge." }
                }
            }
            p { a href="/" { "Back to the page" } }
        };
        layout("citewatch: acknowledge", body).into_response()
    } else {
        let acked: Vec<serde_json::Value> = out
            .map(|o| {
                o.acked
                    .iter()
                    .map(|a| serde_json::json!({ "statement": a.statement, "cite": a.cite, "text": a.text }))
                    .collect()
            })
            .unwrap_or_default();
        let not_flagged = out.map(|o| o.not_flagged.clone()).unwrap_or_default();
        let mut v = serde_json::json!({ "acknowledged": acked, "not_flagged": not_flagged });
        if !status.is_success() {
            v["error"] = serde_json::Value::String(message.to_owned());
        }
        axum::Json(v).into_response()
    };
    *resp.status_mut() = status;
    resp
}

fn failure_status(f: &RunFailure) -> StatusCode {
    match f.kind {
        FailureKind::UnknownArticle => StatusCode::NOT_FOUND,
        FailureKind::Locked => StatusCode::CONFLICT,
        FailureKind::Stopping => StatusCode::SERVICE_UNAVAILABLE,
        FailureKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// True for a run id (see [`crate::ids::RunId::is_valid`]).
pub fn valid_run_id(id: &str) -> bool {
    crate::ids::RunId::is_valid(id)
}

async fn report(State(st): State<ControlState>, UrlPath(run_id): UrlPath<String>) -> Response {
    if !valid_run_id(&run_id) {
        return (StatusCode::NOT_FOUND, "no such report\n").into_response();
    }
    let path = st
        .handle
        .context()
        .paths
        .reports()
        .join(&run_id)
        .join("report.html");
    match tokio::fs::read_to_string(&path).await {
        Ok(html) => Html(html).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such report\n").into_response(),
    }
}

/// How many recent acknowledgements the page lists.
const ACKS_ON_PAGE: usize = 10;

/// A statement flagged now, as the page shows it.
struct FlaggedCard {
    /// The report that judged it last (shared by the cards of one run).
    report: std::sync::Arc<RunReport>,
    /// Its place in `report.statements`.
    index: usize,
    /// The run that judged it last.
    run_id: String,
    /// Its id, for the ack form.
    statement: String,
    /// When it was first flagged and by which run (from the store).
    since: Option<(chrono::DateTime<chrono::Utc>, String)>,
    /// Its baseline's last setting: when and by whom (`first-seen`, `ack by …`).
    baseline: Option<(chrono::DateTime<chrono::Utc>, String)>,
}

/// A recent acknowledgement: statement text, who, when.
struct AckedLine {
    text: String,
    by: String,
    at: chrono::DateTime<chrono::Utc>,
}

/// What the page shows, read from disk off the async threads.
struct PageData {
    runs: Vec<(String, Option<std::sync::Arc<RunReport>>)>,
    /// Statements flagged now: flagged by their latest run and not acked since.
    flagged: Vec<FlaggedCard>,
    /// Flagged statements of those runs past what their page summaries keep.
    more_flagged: usize,
    /// The latest acknowledgements, newest first.
    acked: Vec<AckedLine>,
    /// Statement × source pairs without a passage, as `<li>` items, and the pairs with a
    /// baseline.
    unanchored: (Markup, usize, usize),
    articles: Vec<(String, String)>,
}

fn page_data(ctx: &crate::workspace::Context) -> PageData {
    let reports: Vec<(String, Option<std::sync::Arc<RunReport>>)> =
        crate::report::recent_reports(&ctx.paths.reports(), REPORTS_SCANNED)
            .into_iter()
            .map(|(id, r)| (id, r.map(std::sync::Arc::new)))
            .collect();
    // The store says what is flagged now: an ack since the last run cleared the flag.
    // Read without the run's lock (SQLite keeps a reader consistent); a store not yet
    // upgraded from format 1 is left to the next run to import.
    let index = (ctx.settings.store.url.is_some() || ctx.paths.snapshots().join("store.db").exists())
        .then(|| {
            crate::snapshot::Store::open_configured(
                &ctx.paths.snapshots(),
                &ctx.paths.root,
                &ctx.settings.store,
            )
            .ok()
        })
        .flatten()
        .and_then(|store| {
            // Only the baselines of the articles with a flagged statement in these reports
            // (what the cards are checked against), not the whole archive's.
            let flagged: std::collections::BTreeSet<&str> = reports
                .iter()
                .filter_map(|(_, r)| r.as_deref())
                .flat_map(|r| r.flagged().into_iter().map(|s| s.article.as_str()))
                .filter(|a| ctx.watchlist.article(a).is_some())
                .collect();
            store.load(std::iter::empty(), flagged).ok()
        });
    let baselines_of = |st: &crate::report::StatementReport| -> Vec<&crate::snapshot::Baseline> {
        index
            .as_ref()
            .map(|ix| {
                st.cites
                    .iter()
                    .filter_map(|&c| {
                        ix.baselines.get(&crate::snapshot::BaselineKey::new(
                            &crate::watchlist::StatementId(st.id.clone()),
                            crate::watchlist::CiteNo(c),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // Each article's statements as judged by the newest run that checked it.
    let mut seen = std::collections::HashSet::new();
    let mut flagged = Vec::new();
    let mut more_flagged = 0;
    let mut unanchored = (String::new(), 0, 0);
    for (id, report) in &reports {
        let Some(r) = report else { continue };

        for a in &r.articles {
            if ctx.watchlist.article(&a.id).is_none() || !seen.insert(a.id.clone()) {
                continue;
            }
            let counts = r.page.as_ref();
            let shown = r.flagged().into_iter().filter(|s| s.article == a.id).count();
            more_flagged += counts
                .and_then(|c| c.flagged.get(&a.id))
                .map_or(0, |&n| n.saturating_sub(shown));
            for st in r.flagged().into_iter().filter(|s| s.article == a.id) {
                let bs = baselines_of(st);
                if index.is_some() && !bs.iter().any(|b| b.flag.is_some()) {
                    continue;
                }
                flagged.push(FlaggedCard {
                    report: r.clone(),
                    index: r
                        .statements
                        .iter()
                        .position(|s| std::ptr::eq(s, st))
                        .unwrap_or_default(),
                    run_id: id.clone(),
                    statement: st.id.clone(),
                    since: bs
                        .iter()
                        .filter_map(|b| b.flag.as_ref())
                        .min_by_key(|f| f.since)
                        .map(|f| (f.since, f.since_run.to_string())),
                    baseline: bs
                        .iter()
                        .max_by_key(|b| b.set_at)
                        .map(|b| (b.set_at, b.set_by.clone())),
                });
            }
            let list: Vec<_> = r
                .unanchored()
                .into_iter()
                .filter(|(s, _)| s.article == a.id)
                .collect();
            unanchored.0.push_str(&unanchored_items(&list).into_string());
            match counts {
                Some(c) => {
                    unanchored.1 += c.unanchored.get(&a.id).copied().unwrap_or(0);
                    unanchored.2 += c.pairs.get(&a.id).copied().unwrap_or(0);
                }
                None => {
                    unanchored.1 += list.len();
                    unanchored.2 += r
                        .statements
                        .iter()
                        .filter(|s| s.article == a.id)
                        .flat_map(|s| &s.evidence)
                        .filter(|e| e.anchored || e.status != crate::evidence::Verdict::SourceUnreachable)
                        .count();
                }
            }
        }
    }
    let mut acked: Vec<AckedLine> = Vec::new();
    if let Some(ix) = &index {
        let mut all: Vec<&crate::snapshot::Baseline> = ix
            .baselines
            .values()
            .filter(|b| b.set_by.starts_with("ack by "))
            .collect();
        all.sort_by_key(|b| std::cmp::Reverse(b.set_at));
        for b in all {
            if acked.len() >= ACKS_ON_PAGE {
                break;
            }
            let by = b.set_by.trim_start_matches("ack by ").to_owned();
            if acked
                .iter()
                .any(|l| l.text == b.statement_text && l.at == b.set_at)
            {
                continue;
            }
            acked.push(AckedLine {
                text: b.statement_text.clone(),
                by,
                at: b.set_at,
            });
        }
    }
    PageData {
        runs: reports.into_iter().take(RUNS_ON_PAGE).collect(),
        flagged,
        more_flagged,
        acked,
        unanchored: (PreEscaped(unanchored.0), unanchored.1, unanchored.2),
        articles: ctx
            .watchlist
            .articles
            .iter()
            .map(|a| (a.id.0.clone(), a.title.clone()))
            .collect(),
    }
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}\
code{background:#f4f4f4}.err{color:#c0392b}.ok{color:#1e7e34}\
.hist{color:#555;font-size:.9em;margin:.2rem 0}form.ack{margin:.4rem 0 0}form.ack input[type=text]{width:10rem}\
button{font:inherit;padding:.25rem .8rem;cursor:pointer}";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

fn recheck_form(st: &ControlState, articles: &[(String, String)]) -> Markup {
    html! {
        form method="post" action="/recheck" {
            @if let Some(t) = &st.token_plain {
                input type="hidden" name="token" value=(t);
            }
            label { "Articles: "
                select name="only" {
                    option value="" { "all" }
                    @for (id, title) in articles {
                        option value=(id) { (title) " (" (id) ")" }
                    }
                }
            }
            " "
            button type="submit" { "Re-check now" }
        }
    }
}

/// A run's duration, to the tenth of a second.
fn took(r: &RunReport) -> String {
    let ms = (r.finished_at - r.started_at).num_milliseconds().max(0);
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn ack_form(st: &ControlState, statement: &str) -> Markup {
    html! {
        form.ack method="post" action="/ack" {
            @if let Some(t) = &st.token_plain {
                input type="hidden" name="token" value=(t);
            }
            input type="hidden" name="statement" value=(statement);
            label { "Your name " input type="text" name="by" autocomplete="name"; }
            " "
            button type="submit" name="ack" value="1" { "Acknowledge the new wording" }
        }
    }
}

async fn index(State(st): State<ControlState>) -> Response {
    let ctx = st.handle.context();
    let view = crate::report::View::of(&ctx.settings);
    let when = |t: chrono::DateTime<chrono::Utc>| view.time(t);
    let status = st.handle.status();
    let outbox = crate::notify::outbox_size(&ctx.paths);
    // At most two pages are built at a time; more requests wait their turn (briefly).
    static BUILDING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let Ok(Ok(_permit)) = tokio::time::timeout(std::time::Duration::from_secs(20), BUILDING.acquire()).await
    else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the page is busy; try again\n").into_response();
    };
    let data = match tokio::task::spawn_blocking(move || page_data(&ctx)).await {
        Ok(d) => d,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("page: {e}")).into_response(),
    };
    let body = html! {
        h1 { "citewatch" }
        p {
            "Status: " strong { (format!("{:?}", status.state).to_lowercase()) }
            @if let Some(c) = &status.current {
                " (run started " (when(c.started_at)) ")"
            }
            @if let Some(t) = status.next_due {
                ". Next scheduled run: " (when(t))
            }
            ". Outbox: " (outbox) " message(s) waiting."
        }
        @if let Some(e) = &status.last_error {
            p.err { "Last run failed at " (when(e.at)) ": " (e.message) }
        }
        @if !status.config_errors.is_empty() {
            div.err {
                p { "The configuration on disk does not validate; the last good one stays in force:" }
                ul { @for e in &status.config_errors { li { code { (e) } } } }
            }
        }
        (recheck_form(&st, &data.articles))
        h2 { "Statements flagged now (" (data.flagged.len() + data.more_flagged) ")" }
        @if data.flagged.is_empty() && data.more_flagged == 0 {
            p { "None." }
        }
        @if data.more_flagged > 0 {
            p { "The first " (data.flagged.len()) " are shown here; the other " (data.more_flagged) " are in each run's full report (linked below)." }
        }
        @for card in &data.flagged {
            (statement_card(&card.report, &card.report.statements[card.index], html! {
                p.hist {
                    @if let Some((at, run)) = &card.since {
                        "Flagged since " (when(*at)) " (run " a href={ "/reports/" (run) } { (run) } "). "
                    }
                    @if let Some((at, by)) = &card.baseline {
                        "Baseline set " (when(*at)) " (" (by) "). "
                    }
                    "As of run " a href={ "/reports/" (card.run_id) } { (card.run_id) } "."
                }
                (ack_form(&st, &card.statement))
            }))
        }
        @if !data.acked.is_empty() {
            h2 { "Recently acknowledged" }
            ul.acks {
                @for l in &data.acked {
                    li { (l.text) " " small { "— " (l.by) ", " (when(l.at)) } }
                }
            }
        }
        @if data.unanchored.1 > 0 {
            h2 { "Not anchored to a passage (" (data.unanchored.1) " of " (data.unanchored.2) " statement × source pairs)" }
            p { (UNANCHORED_HELP) }
            ul.unanchored { (data.unanchored.0) }
        }
        h2 { "Last runs" }
        @if data.runs.is_empty() {
            p { "No runs yet." }
        } @else {
            table {
                tr { th { "finished" } th { "run" } th { "trigger" } th { "took" } th { "statements" } th { "flagged (new)" } th { "sources changed / failed" } }
                @for (id, r) in &data.runs {
                    tr {
                        td { @if let Some(r) = r { (when(r.finished_at)) } }
                        td { a href={ "/reports/" (id) } { (id) } }
                        @if let Some(r) = r {
                            td { (format!("{:?}", r.trigger).to_lowercase()) }
                            td { (took(r)) }
                            td { (r.summary.statements) }
                            td { (r.summary.flagged) " (" (r.summary.new_flags) ")" }
                            td { (r.summary.sources_changed) " / " (r.summary.sources_failed) }
                        } @else {
                            td colspan="5" { "report.json unreadable" }
                        }
                    }
                }
            }
        }
    };
    layout("citewatch", body).into_response()
}

/// The answer to the page's button: the run's summary and flagged statements.
fn result_page(result: &RunResult) -> Response {
    match result {
        Ok(r) => {
            let s = &r.summary;
            let body = html! {
                h1 { "Re-check finished" }
                p {
                    "Run " a href={ "/reports/" (r.run_id) } { code { (r.run_id) } } ": "
                    (s.statements) " statements, " strong { (s.flagged) " flagged" } " (" (s.new_flags) " new); "
                    (s.sources) " sources, " (s.sources_changed) " changed, " (s.sources_failed) " failed."
                }
                @for stmt in r.flagged() {
                    (statement_card(r, stmt, html! {}))
                }
                p { a href="/" { "Back" } }
            };
            layout("citewatch: re-check finished", body).into_response()
        }
        Err(f) => {
            let body = html! {
                h1 { "Re-check failed" }
                p.err { (f.message) }
                p { a href="/" { "Back" } }
            };
            let mut resp = layout("citewatch: re-check failed", body).into_response();
            *resp.status_mut() = failure_status(f);
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn html_only_for_clients_that_prefer_it() {
        let chromium =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert!(prefers_html(&headers(&[("accept", chromium)])));
        assert!(prefers_html(&headers(&[("accept", "text/html")])));
        assert!(!prefers_html(&headers(&[])));
        assert!(!prefers_html(&headers(&[("accept", "*/*")])));
        assert!(!prefers_html(&headers(&[(
            "accept",
            "application/json, text/html;q=0.5"
        )])));
        assert!(!prefers_html(&headers(&[("accept", "text/html;q=0")])));
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        let host = ("host", "127.0.0.1:8787");
        assert_eq!(cross_site(&headers(&[host])), None);
        assert_eq!(
            cross_site(&headers(&[host, ("origin", "http://127.0.0.1:8787")])),
            None
        );
        assert_eq!(
            cross_site(&headers(&[
                host,
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ])),
            None
        );
        assert_eq!(cross_site(&headers(&[host, ("sec-fetch-site", "none")])), None);
        for bad in [
            vec![host, ("origin", "null")],
            vec![host, ("origin", "null"), ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![
                host,
                ("origin", "http://127.0.0.1:9999"),
                ("sec-fetch-site", "same-site"),
            ],
            vec![
                host,
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            assert!(cross_site(&headers(&bad)).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "127.0.0.1:8787",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8787",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "10.0.0.1:8787",
            "[::2]:1",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    fn control(listen: &str, token_env: Option<&str>) -> ControlSettings {
        ControlSettings {
            listen: listen.into(),
            token_env: token_env.map(Into::into),
            public_url: None,
        }
    }

    #[test]
    fn off_loopback_needs_a_token() {
        let p = Path::new("citewatch.toml");
        let none = |_: &str| None;
        let some = |_: &str| Some("s3cret".to_owned());
        let plan = ListenPlan::from_settings(&control("127.0.0.1:1", None), p, none).unwrap();
        assert_eq!(plan.token, None);
        let err = ListenPlan::from_settings(&control("0.0.0.0:1", None), p, none).unwrap_err();
        assert!(err.contains("not a loopback address"), "{err}");
        let err = ListenPlan::from_settings(&control("0.0.0.0:1", Some("TOK")), p, none).unwrap_err();
        assert!(err.contains("`TOK`"), "{err}");
        let plan = ListenPlan::from_settings(&control("0.0.0.0:1", Some("TOK")), p, some).unwrap();
        assert_eq!(plan.token.as_deref(), Some("s3cret"));
        assert_eq!(client_addr(plan.addr), "127.0.0.1:1".parse().unwrap());
    }
}
