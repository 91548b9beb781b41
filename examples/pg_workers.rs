//! The shared store's throughput: 20,000 sources (2,000 articles of 10 sources each, pages of
//! about 2 KB on 10 loopback hosts) checked by 1, 2 and 3 workers on one PostgreSQL store,
//! each worker a scheduled run for the same due time (as daemons firing together), each
//! with a root of its own (as on separate machines) and one objects folder. For each count:
//! a cold run (every source new) and a warm one (every page unchanged); prints pages/s and the
//! database load per source: statements and the server's execution time (pg_stat_statements,
//! loaded in the server started here), and the workers' wall time in database calls (summed
//! over concurrent calls, waits for locks and for a core included).
//!
//!     cargo run --release --example pg_workers -- [SOURCES]
//!
//! PostgreSQL: `CITEWATCH_BENCH_PG=postgres://user:password@host:port/postgres` (a database
//! `citewatch_bench_<n>` is made per worker count), or else one started here as the tests
//! start theirs (Debian's `postgresql`: initdb in a temp folder as `nobody` when root, on a
//! free loopback port; stopped at the end). Only 127.0.0.0/8 is contacted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use citewatch::report::Trigger;
use citewatch::run::{RunRequest, run_check};

const HOSTS: usize = 10;
const SOURCES_PER_ARTICLE: usize = 10;

fn main() {
    let sources: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let articles = sources.div_ceil(SOURCES_PER_ARTICLE);
    let (admin_url, _server) = match std::env::var("CITEWATCH_BENCH_PG") {
        Ok(u) => (u, None),
        Err(_) => {
            let s = LocalPg::start();
            (s.url("postgres"), Some(s))
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let ports = rt.block_on(serve_pages());
    println!(
        "{sources} sources ({articles} articles × {SOURCES_PER_ARTICLE}), pages of ~2 KB on {HOSTS} loopback hosts, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "workers | run  | wall s | pages/s | statements/source | server ms/source | client ms/source | articles per worker"
    );
    for workers in 1..=3 {
        let db = format!("citewatch_bench_{workers}");
        let mut admin = connect(&admin_url);
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .expect("drop");
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .expect("create");
        let url = with_db(&admin_url, &db);
        // The server's own account of the statements (when the extension is loaded).
        let mut stats = connect(&url);
        let have_stats = stats
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .is_ok();
        let objects = tempfile::tempdir().expect("objects");
        let roots: Vec<tempfile::TempDir> = (0..workers)
            .map(|_| make_root(&url, objects.path(), &ports, articles))
            .collect();
        let due = chrono::Utc::now();
        for (pass, label) in [(0, "cold"), (1, "warm")] {
            let due = due + chrono::Duration::minutes(pass);
            if have_stats {
                stats
                    .batch_execute("SELECT pg_stat_statements_reset()")
                    .expect("reset");
            }
            let db0 = citewatch::snapshot::shared_db_time();
            let t = Instant::now();
            let done: Vec<usize> = std::thread::scope(|s| {
                let handles: Vec<_> = roots
                    .iter()
                    .map(|r| s.spawn(move || worker(r.path(), due)))
                    .collect();
                handles.into_iter().map(|h| h.join().expect("worker")).collect()
            });
            let wall = t.elapsed().as_secs_f64();
            let db = (citewatch::snapshot::shared_db_time() - db0).as_secs_f64();
            let total: usize = done.iter().sum();
            assert_eq!(total, articles, "every article run once: {done:?}");
            let (calls, exec_ms) = if have_stats {
                let r = stats
                    .query_one(
                        "SELECT coalesce(sum(calls), 0)::float8, coalesce(sum(total_exec_time), 0)::float8
                         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
                         WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'",
                        &[],
                    )
                    .expect("stats");
                (r.get::<_, f64>(0), r.get::<_, f64>(1))
            } else {
                (f64::NAN, f64::NAN)
            };
            let per = |x: f64| x / sources as f64;
            println!(
                "{workers:7} | {label} | {wall:6.1} | {:7.0} | {:17.2} | {:16.3} | {:16.3} | {done:?}",
                sources as f64 / wall,
                per(calls),
                per(exec_ms),
                per(db * 1000.0)
            );
        }
    }
}

/// One worker: a scheduled run for `due`; the articles it ran.
fn worker(root: &Path, due: chrono::DateTime<chrono::Utc>) -> usize {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ctx, _) = citewatch::run::load_context(root).expect("context");
    let req = RunRequest {
        trigger: Trigger::Schedule,
        email: false,
        due: Some(due),
        ..RunRequest::manual()
    };
    match rt.block_on(run_check(&ctx, req, None)) {
        Ok(report) => report.articles.len(),
        Err(citewatch::run::RunError::ClaimedElsewhere) => 0,
        Err(e) => panic!("run failed: {e:#}"),
    }
}

fn make_root(url: &str, objects: &Path, ports: &[(String, u16)], articles: usize) -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("citewatch-bench-")
        .tempdir()
        .expect("root");
    std::fs::write(
        root.path().join("citewatch.toml"),
        format!(
            "[fetch]\nconcurrency = 64\nper_host = 8\n[store]\nurl = \"{url}\"\nobjects = \"{}\"\nclaim_batch = 100\n",
            objects.display()
        ),
    )
    .expect("settings");
    let wl = root.path().join("watchlist");
    std::fs::create_dir_all(&wl).expect("watchlist");
    for a in 0..articles {
        let mut text = String::new();
        let mut srcs = String::new();
        for k in 0..SOURCES_PER_ARTICLE {
            let i = a * SOURCES_PER_ARTICLE + k;
            let (ip, port) = &ports[i % ports.len()];
            text.push_str(&format!(
                "Report {i} counted about {} soldiers in the mission [{}]. ",
                600 + i % 97,
                k + 1
            ));
            srcs.push_str(&format!(
                "[[source]]\ncite = {}\nurl = \"http://{ip}:{port}/p/{i}\"\n",
                k + 1
            ));
        }
        std::fs::write(
            wl.join(format!("a{a:05}.toml")),
            format!("title = \"Article {a}\"\narticle = \"\"\"{text}\"\"\"\n{srcs}"),
        )
        .expect("article");
    }
    root
}

/// Serves `/p/<i>` on 127.0.0.1..=127.0.0.10: a page whose paragraph backs statement `i`.
async fn serve_pages() -> Vec<(String, u16)> {
    async fn page(axum::extract::Path(i): axum::extract::Path<usize>) -> axum::response::Html<String> {
        let filler = "The committee met on Tuesday and heard from several witnesses about logistics, budgets and the rotation schedule of the units deployed abroad. ".repeat(8);
        axum::response::Html(format!(
            "<html><head><title>Report {i}</title></head><body><nav>Home News About</nav><article><h1>Report {i}</h1><p>Report {i} counted about {} soldiers in the mission, officials said.</p><p>{filler}</p></article><footer>f</footer></body></html>",
            600 + i % 97
        ))
    }
    let app = Arc::new(axum::Router::new().route("/p/{i}", axum::routing::get(page)));
    let mut out = Vec::new();
    for h in 1..=HOSTS {
        let ip = format!("127.0.0.{h}");
        let l = tokio::net::TcpListener::bind((ip.as_str(), 0))
            .await
            .expect("bind");
        out.push((ip, l.local_addr().expect("addr").port()));
        let app = (*app).clone();
        tokio::spawn(async move { axum::serve(l, app).await });
    }
    out
}

fn connect(url: &str) -> postgres::Client {
    url.parse::<postgres::Config>()
        .expect("url")
        .connect(postgres::NoTls)
        .expect("connect")
}

/// `url` naming database `db` instead.
fn with_db(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("url");
    u.set_path(db);
    u.to_string()
}

/// A PostgreSQL server of this process, stopped (and its folder removed) when the pipe to
/// its shell closes, at exit.
struct LocalPg {
    port: u16,
    _guard: Child,
}

impl LocalPg {
    fn start() -> Self {
        let bin = pg_bin();
        let root = rustix::process::geteuid().is_root();
        // As root, in /tmp itself: `nobody` must reach the folder.
        let mut builder = tempfile::Builder::new();
        builder.prefix("citewatch-bench-pg-");
        let dir: PathBuf = if root {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .expect("tempdir")
        .keep();
        let run_as = if root { "runuser -u nobody --" } else { "" };
        std::fs::write(dir.join("pw"), "bench").expect("pw");
        if root {
            for p in [dir.clone(), dir.join("pw")] {
                std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown");
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let (d, b) = (dir.display(), bin.display());
        let script = format!(
            "set -e
{run_as} {b}/initdb -D {d}/data -U bench --pwfile={d}/pw --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >{d}/initdb.log 2>&1
{run_as} {b}/pg_ctl -D {d}/data -l {d}/server.log -w -t 60 -o \"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements\" start >/dev/null
echo ready
read _ || true
{run_as} {b}/pg_ctl -D {d}/data -m fast -w stop >/dev/null 2>&1 || true
rm -rf {d}
"
        );
        let mut guard = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(guard.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read");
        assert_eq!(line.trim(), "ready", "PostgreSQL did not start (see {d})");
        LocalPg { port, _guard: guard }
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://bench:bench@127.0.0.1:{}/{db}", self.port)
    }
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL's initdb (Debian: apt-get install postgresql), or set CITEWATCH_BENCH_PG")
}
