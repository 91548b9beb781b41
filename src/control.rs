//! The daemon's HTTP control endpoint (axum): `GET /health`, `POST /recheck[?only=ID]`,
//! `GET /reports/<run-id>` and `GET /`, a small server-rendered page (maud, so every piece
//! of source text is escaped) with the statements flagged now, the last runs and a
//! "Re-check now" button.
//!
//! # Access
//! - It binds loopback by default; a non-loopback `[control].listen` is refused at start
//!   unless `[control].token_env` names an environment variable holding a token
//!   ([`ListenPlan::from_settings`]).
//! - With a token, every request needs `Authorization: Bearer <token>` (compared in
//!   constant time). The one exception is the page's button: an HTML form cannot set a
//!   header, so a form `POST /recheck` may carry the token in a hidden `token` field
//!   instead. The field is only ever rendered into the page for a client that presented the
//!   token, it travels in the body (not the URL, so not in logs or history), the page is
//!   sent `Cache-Control: no-store` and `Referrer-Policy: no-referrer`, and a cross-site page
//!   cannot know it, so it doubles as the CSRF token.
//! - Without a token (loopback only), requests whose `Host` is not a loopback name are
//!   refused (DNS rebinding), and a `POST` whose `Origin` is another site is refused
//!   (CSRF from a page in the user's browser).
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
use crate::report::{RunReport, statement_html, unanchored_items_html};
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
            _ if req.method() == Method::POST && req.uri().path() == "/recheck" && is_form(req.headers()) => {
                req.extensions_mut().insert(FormTokenRequired);
            }
            _ => return unauthorized(),
        }
    } else if let Some(host) = req.headers().get(header::HOST)
        && !host.to_str().is_ok_and(is_loopback_host)
    {
        return (
            StatusCode::FORBIDDEN,
            "the control endpoint answers only to loopback host names\n",
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
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
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

/// A browser sends `Origin` with a cross-site POST; it must be this endpoint's own origin.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) => o == format!("http://{h}") || o == format!("https://{h}"),
        _ => false,
    }
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
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
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
        return unauthorized();
    }
    let only: Vec<String> = only.into_iter().filter(|o| !o.is_empty()).collect();
    let result = st.handle.recheck(only).await;
    if form {
        result_page(&result)
    } else {
        match result {
            Ok(report) => axum::Json(&*report).into_response(),
            Err(f) => (
                failure_status(&f),
                axum::Json(serde_json::json!({ "error": f.message, "kind": f.kind })),
            )
                .into_response(),
        }
    }
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

/// What the page shows, read from disk off the async threads.
struct PageData {
    runs: Vec<(String, Option<RunReport>)>,
    /// Flagged statements as escaped HTML, with the run that judged them.
    flagged: Vec<(String, String)>,
    /// Statement × source pairs without a passage, as escaped `<li>` items, and the pairs
    /// with a baseline.
    unanchored: (String, usize, usize),
    articles: Vec<(String, String)>,
}

fn page_data(ctx: &crate::workspace::Context) -> PageData {
    let reports = crate::report::recent_reports(&ctx.paths.reports(), REPORTS_SCANNED);
    // Each article's statements as judged by the newest run that checked it.
    let mut seen = std::collections::HashSet::new();
    let mut flagged = Vec::new();
    let mut unanchored = (String::new(), 0, 0);
    for (id, report) in &reports {
        let Some(r) = report else { continue };
        for a in &r.articles {
            if ctx.watchlist.article(&a.id).is_none() || !seen.insert(a.id.clone()) {
                continue;
            }
            for st in r.flagged().into_iter().filter(|s| s.article == a.id) {
                flagged.push((statement_html(r, st), id.clone()));
            }
            let list: Vec<_> = r
                .unanchored()
                .into_iter()
                .filter(|(s, _)| s.article == a.id)
                .collect();
            unanchored.0.push_str(&unanchored_items_html(&list));
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
    PageData {
        runs: reports.into_iter().take(RUNS_ON_PAGE).collect(),
        flagged,
        unanchored,
        articles: ctx
            .watchlist
            .articles
            .iter()
            .map(|a| (a.id.0.clone(), a.title.clone()))
            .collect(),
    }
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
.st{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}\
.new{border-left:6px solid #c0392b}.old{border-left:6px solid #e67e22}\
del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}\
code{background:#f4f4f4}.err{color:#c0392b}";

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

async fn index(State(st): State<ControlState>) -> Response {
    let ctx = st.handle.context();
    let status = st.handle.status();
    let outbox = crate::notify::outbox_size(&ctx.paths);
    let data = match tokio::task::spawn_blocking(move || page_data(&ctx)).await {
        Ok(d) => d,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("page: {e}")).into_response(),
    };
    let body = html! {
        h1 { "citewatch" }
        p {
            "Status: " strong { (format!("{:?}", status.state).to_lowercase()) }
            @if let Some(c) = &status.current {
                " (run started " (c.started_at.to_rfc3339()) ")"
            }
            @if let Some(t) = status.next_due {
                ". Next scheduled run: " (t.to_rfc3339())
            }
            ". Outbox: " (outbox) " message(s) waiting."
        }
        @if let Some(e) = &status.last_error {
            p.err { "Last run failed at " (e.at.to_rfc3339()) ": " (e.message) }
        }
        @if !status.config_errors.is_empty() {
            div.err {
                p { "The configuration on disk does not validate; the last good one stays in force:" }
                ul { @for e in &status.config_errors { li { code { (e) } } } }
            }
        }
        (recheck_form(&st, &data.articles))
        h2 { "Statements flagged now (" (data.flagged.len()) ")" }
        @if data.flagged.is_empty() {
            p { "None." }
        }
        @for (fragment, run_id) in &data.flagged {
            // `statement_html` escapes every piece of source text it renders.
            (PreEscaped(fragment))
            p { small { "as of run " a href={ "/reports/" (run_id) } { (run_id) } } }
        }
        @if data.unanchored.1 > 0 {
            h2 { "Not anchored to a passage (" (data.unanchored.1) " of " (data.unanchored.2) " statement × source pairs)" }
            p { "A later edit of these sources is judged only on the statement's words. Where the closest sentence backs the statement, paste the line shown into the article's watchlist file." }
            // `unanchored_items_html` escapes every piece of source text it renders.
            ul.unanchored { (PreEscaped(&data.unanchored.0)) }
        }
        h2 { "Last runs" }
        @if data.runs.is_empty() {
            p { "No runs yet." }
        } @else {
            table {
                tr { th { "run" } th { "trigger" } th { "statements" } th { "flagged (new)" } th { "sources changed / failed" } }
                @for (id, r) in &data.runs {
                    tr {
                        td { a href={ "/reports/" (id) } { (id) } }
                        @if let Some(r) = r {
                            td { (format!("{:?}", r.trigger).to_lowercase()) }
                            td { (r.summary.statements) }
                            td { (r.summary.flagged) " (" (r.summary.new_flags) ")" }
                            td { (r.summary.sources_changed) " / " (r.summary.sources_failed) }
                        } @else {
                            td colspan="4" { "report.json unreadable" }
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
                    (PreEscaped(statement_html(r, stmt)))
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
