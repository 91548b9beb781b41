//! The shared store on a real PostgreSQL server: several `citewatch daemon` processes on one
//! store, each due article run exactly once, a worker killed mid-run, the embedded and the
//! PostgreSQL stores giving the same reports.
//!
//! One server per test binary (Debian's `postgresql`: `initdb` in a temp folder as an
//! unprivileged user when the tests run as root, on a free loopback port, its socket in the
//! temp folder), each test in a database of its own. The server is started by a small shell
//! that holds a pipe from this process: when the test binary exits, however it exits, the
//! pipe closes and the shell stops the server and removes its folder.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::daemon::{Daemon, free_port, page};
use crate::support::{PageServer, Response, Workspace, workspace::show};

const PASSWORD_VAR: &str = "CITEWATCH_PG_PASSWORD";
const PASSWORD: &str = "it-secret";
const USER: &str = "citewatch";

/// The test binary's server.
struct PgServer {
    port: u16,
    /// The shell that stops the server when this pipe closes (kept open until exit).
    _guard: Child,
}

/// The folder of `initdb`, `pg_ctl` and `postgres`: Debian's versioned one, or `PATH`.
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    if let Some(b) = found.pop() {
        return b;
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("sh");
    let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !p.is_empty(),
        "PostgreSQL's initdb is not installed (Debian: apt-get install postgresql; .ci/run does)"
    );
    Path::new(&p).parent().expect("bin folder").to_path_buf()
}

fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(start_server)
}

fn start_server() -> PgServer {
    let bin = pg_bin();
    let root = rustix::process::geteuid().is_root();
    // As root, in /tmp itself: `nobody` must reach the folder (TMPDIR may be one it cannot).
    let mut builder = tempfile::Builder::new();
    builder.prefix("citewatch-pg-");
    let dir = if root {
        builder.tempdir_in("/tmp")
    } else {
        builder.tempdir()
    }
    .expect("tempdir")
    .keep();
    // initdb refuses root: the server runs as `nobody`, owner of its folder.
    let run_as = if root { "runuser -u nobody --" } else { "" };
    if root {
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
    }
    std::fs::write(dir.join("pw"), PASSWORD).expect("pwfile");
    if root {
        std::os::unix::fs::chown(dir.join("pw"), Some(65534), Some(65534)).expect("chown");
    }
    let port = free_port();
    let d = dir.display();
    let b = bin.display();
    let script = format!(
        "set -e
{run_as} {b}/initdb -D {d}/data -U {USER} --pwfile={d}/pw --auth-local=trust \
  --auth-host=scram-sha-256 -E UTF8 --no-sync >{d}/initdb.log 2>&1
{run_as} {b}/pg_ctl -D {d}/data -l {d}/server.log -w -t 60 \
  -o \"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" \
  start >/dev/null
echo ready
read _ || true
{run_as} {b}/pg_ctl -D {d}/data -m immediate -w stop >/dev/null 2>&1 || true
rm -rf {d}
"
    );
    let mut guard = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the PostgreSQL shell");
    let mut line = String::new();
    BufReader::new(guard.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(
        line.trim(),
        "ready",
        "PostgreSQL did not start: {}\n{}",
        std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
    );
    PgServer { port, _guard: guard }
}

/// A database of its own for one test: its URL (no password: that comes from the
/// environment, as `[store] password_env` says).
fn database(name: &str) -> String {
    let s = server();
    let mut c = postgres::Config::new()
        .host("127.0.0.1")
        .port(s.port)
        .user(USER)
        .password(PASSWORD)
        .dbname("postgres")
        .connect(postgres::NoTls)
        .expect("connect to the test server");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .expect("drop database");
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    format!("postgres://{USER}@127.0.0.1:{}/{name}", s.port)
}

fn connect(url: &str) -> postgres::Client {
    let mut cfg: postgres::Config = url.parse().expect("url");
    cfg.password(PASSWORD).connect(postgres::NoTls).expect("connect")
}

/// Settings of one worker on the shared store.
fn worker_settings(ws: &Workspace, url: &str, objects: &Path, listen: Option<u16>, extra: &str) {
    let control = listen
        .map(|p| format!("[control]\nlisten = \"127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    ws.write(
        "citewatch.toml",
        &format!(
            "[schedule]\ncron = \"0 0 6 * * *\"\n[store]\nurl = \"{url}\"\npassword_env = \"{PASSWORD_VAR}\"\nobjects = \"{}\"\nlease_secs = 3\n{extra}\n{control}",
            objects.display()
        ),
    );
}

/// An article citing `url`, checked on `cron`.
fn article(ws: &Workspace, name: &str, url: &str, cron: &str) {
    ws.watchlist(
        &format!("{name}.toml"),
        &format!(
            "schedule = \"{cron}\"\ntitle = \"Kosovo {name}\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1].\"\"\"\n[[source]]\ncite = 1\nurl = \"{url}\"\n"
        ),
    );
}

const ENV: &[(&str, &str)] = &[(PASSWORD_VAR, PASSWORD), ("RUST_LOG", "info")];

/// (article, due) → (run id, worker) of every scheduled run committed.
fn article_runs(url: &str) -> BTreeMap<(String, i64), (String, String)> {
    let mut c = connect(url);
    c.query(
        "SELECT article, extract(epoch FROM due)::bigint, run, worker FROM article_runs",
        &[],
    )
    .expect("article_runs")
    .iter()
    .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
    .collect()
}

fn runs_table(url: &str) -> BTreeSet<String> {
    let mut c = connect(url);
    c.query("SELECT id FROM runs", &[])
        .expect("runs")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < within {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// `n` daemons (separate roots, as on separate machines, one objects folder) on one store,
/// articles on schedules every 2 and 3 seconds: each (article, due) is run once, by one
/// worker, and fetched once for it.
fn workers_share_the_schedule(n: usize, db: &str) {
    let url = database(db);
    let srv = PageServer::start();
    let objects = tempfile::tempdir().expect("objects");
    let articles: Vec<(String, &str)> = (0..6)
        .map(|i| {
            (
                format!("a{i}"),
                if i % 2 == 0 {
                    "*/2 * * * * *"
                } else {
                    "*/3 * * * * *"
                },
            )
        })
        .collect();
    for (id, _) in &articles {
        srv.set(
            &format!("/{id}"),
            Response::html(&page(&format!(
                "<p>About 600 U.S. soldiers serve in KFOR, says {id}.</p>"
            ))),
        );
    }
    // Two more articles citing one source: run together, the source fetched once per due.
    srv.set(
        "/shared",
        Response::html(&page("<p>About 600 U.S. soldiers serve in KFOR, both say.</p>")),
    );
    let mut roots = Vec::new();
    let mut daemons = Vec::new();
    for _ in 0..n {
        let ws = Workspace::new();
        let port = free_port();
        // Claimed two at a time: workers firing together share a due time's articles.
        worker_settings(&ws, &url, objects.path(), Some(port), "claim_batch = 2");
        for (id, cron) in &articles {
            article(&ws, id, &srv.url(&format!("/{id}")), cron);
        }
        for id in ["s0", "s1"] {
            article(&ws, id, &srv.url("/shared"), "*/2 * * * * *");
        }
        daemons.push(Daemon::start(&ws, port, ENV));
        roots.push(ws);
    }
    // Every article run at least three times.
    wait_until("three runs of every article", Duration::from_secs(60), || {
        let runs = article_runs(&url);
        articles
            .iter()
            .all(|(id, _)| runs.keys().filter(|(a, _)| a == id).count() >= 3)
    });
    for d in &mut daemons {
        d.signal("TERM");
    }
    for d in &mut daemons {
        d.wait_exit(Duration::from_secs(30));
    }
    let runs = article_runs(&url);
    let logs: String = daemons.iter().map(Daemon::log).collect();
    for (id, cron) in &articles {
        let period = if cron.starts_with("*/2") { 2 } else { 3 };
        let dues: Vec<i64> = runs.keys().filter(|(a, _)| a == id).map(|(_, d)| *d).collect();
        // Once per due time (the table's key), on its schedule, and no due time missed
        // between the first and the last while every worker was up.
        for w in dues.windows(2) {
            assert_eq!(w[1] - w[0], period, "{id}: due times {dues:?} skip one\n{logs}");
        }
        assert!(dues.iter().all(|d| d % period == 0), "{id}: {dues:?}");
        // Fetched once per run: the fixture server's log.
        assert_eq!(
            srv.hits(&format!("/{id}")),
            dues.len(),
            "{id}: requests vs runs {dues:?}\n{logs}"
        );
    }
    // The shared source: both articles in the same run at each due time, one request each.
    let shared: Vec<(&i64, &String)> = runs
        .iter()
        .filter(|((a, _), _)| a == "s0")
        .map(|((_, d), (r, _))| (d, r))
        .collect();
    let partner: Vec<(&i64, &String)> = runs
        .iter()
        .filter(|((a, _), _)| a == "s1")
        .map(|((_, d), (r, _))| (d, r))
        .collect();
    assert_eq!(shared, partner, "s0 and s1 run apart\n{logs}");
    assert!(shared.len() >= 2, "{shared:?}");
    assert_eq!(srv.hits("/shared"), shared.len(), "{shared:?}\n{logs}");
    // Every run id named by an article's run is in the runs table, and each run wrote one
    // report, on the worker that ran it.
    let run_ids: BTreeSet<String> = runs.values().map(|(r, _)| r.clone()).collect();
    let table = runs_table(&url);
    assert!(run_ids.is_subset(&table), "{run_ids:?} vs {table:?}");
    let reports: Vec<serde_json::Value> = roots
        .iter()
        .flat_map(|ws| crate::daemon::reports(ws.root()))
        .collect();
    let report_ids: BTreeSet<String> = reports
        .iter()
        .map(|r| r["run_id"].as_str().expect("run id").to_owned())
        .collect();
    assert_eq!(report_ids.len(), reports.len(), "one report per run");
    assert_eq!(
        report_ids, table,
        "a report for every run, a run for every report"
    );
    // The work was shared: more than one worker ran something.
    let workers: BTreeSet<String> = runs
        .values()
        .map(|(_, w)| w.split(':').nth(1).expect("pid").to_owned())
        .collect();
    assert!(workers.len() >= 2, "only {workers:?} worked\n{logs}");
}

#[test]
fn two_workers_run_every_due_article_exactly_once() {
    workers_share_the_schedule(2, "two_workers");
}

#[test]
fn three_workers_run_every_due_article_exactly_once() {
    workers_share_the_schedule(3, "three_workers");
}

#[test]
fn a_worker_killed_mid_run_hands_its_articles_on_after_the_lease() {
    let url = database("killed_worker");
    let srv = PageServer::start();
    let objects = tempfile::tempdir().expect("objects");
    let body = page("<p>About 600 U.S. soldiers serve in KFOR, the mission says.</p>");
    srv.set("/slow", Response::html(&body));
    let make = || {
        let ws = Workspace::new();
        let port = free_port();
        worker_settings(&ws, &url, objects.path(), Some(port), "");
        article(&ws, "k", &srv.url("/slow"), "*/2 * * * * *");
        (ws, port)
    };
    let (first, p1) = make();
    // A baseline committed before the kill: it must survive it.
    let out = first
        .cmd(&["check", "--no-email"])
        .env(PASSWORD_VAR, PASSWORD)
        .output()
        .expect("check");
    assert!(out.status.success(), "{}", show(&out));
    let baselines = |url: &str| -> i64 {
        connect(url)
            .query_one("SELECT count(*) FROM baselines", &[])
            .expect("count")
            .get(0)
    };
    assert_eq!(baselines(&url), 1);
    // From now on the page takes 4 s: the first worker is killed while fetching it.
    srv.set("/slow", Response::html(&body).delay(Duration::from_secs(4)));
    let mut a = Daemon::start(&first, p1, ENV);
    let pid = a.pid();
    let held = || -> Option<String> {
        connect(&url)
            .query_opt(
                "SELECT worker FROM claims WHERE article = 'k' AND lease_until > now()",
                &[],
            )
            .expect("claims")
            .map(|r| r.get(0))
    };
    wait_until("the first worker's claim", Duration::from_secs(20), || {
        held().is_some_and(|w: String| w.contains(&format!(":{pid}:")))
    });
    a.signal("KILL");
    a.wait_exit(Duration::from_secs(10));
    let killed_at = chrono::Utc::now().timestamp();
    let before = article_runs(&url);
    assert!(
        before.values().all(|(_, w)| !w.contains(&format!(":{pid}:"))),
        "the killed run committed: {before:?}"
    );
    // Another worker takes the article over once the lease (3 s) has passed.
    let (second, p2) = make();
    let b = Daemon::start(&second, p2, ENV);
    let bpid = b.pid();
    wait_until("the second worker's run of k", Duration::from_secs(40), || {
        article_runs(&url)
            .iter()
            .any(|((a, due), (_, w))| a == "k" && *due >= killed_at && w.contains(&format!(":{bpid}:")))
    });
    let runs = article_runs(&url);
    let taken = runs
        .iter()
        .find(|((a, due), (_, w))| a == "k" && *due >= killed_at && w.contains(&format!(":{bpid}:")))
        .expect("taken over");
    // Nothing was lost: the baseline stands, the report of the new run says no change.
    assert_eq!(baselines(&url), 1);
    let report = crate::daemon::reports(second.root())
        .into_iter()
        .find(|r| r["run_id"] == taken.1.0.as_str())
        .expect("the second worker's report");
    assert_eq!(report["summary"]["statements"], 1, "{report}");
    assert_eq!(report["summary"]["flagged"], 0, "{report}");
    // `trigger` asks the surviving worker for a manual run of the shared store.
    let hits = srv.hits("/slow");
    let out = second
        .cmd(&["trigger", "--format", "json"])
        .env(PASSWORD_VAR, PASSWORD)
        .output()
        .expect("trigger");
    assert!(out.status.success(), "{}", show(&out));
    let manual: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(manual["trigger"], "manual", "{manual}");
    assert_eq!(manual["summary"]["flagged"], 0, "{manual}");
    assert!(srv.hits("/slow") > hits);
    drop(b);
}

/// The JSON report without what differs between two runs of the same check (ids, times).
fn comparable(mut r: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in [
                    "run_id",
                    "started_at",
                    "finished_at",
                    "since",
                    "since_run",
                    "set_at",
                    "fetched_at",
                    "elapsed_ms",
                    "mail",
                    "duration_ms",
                ] {
                    m.remove(k);
                }
                for x in m.values_mut() {
                    strip(x);
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut r);
    r
}

#[test]
fn the_embedded_and_the_postgresql_stores_give_the_same_reports() {
    let url = database("same_reports");
    let srv = PageServer::start();
    srv.set(
        "/a",
        Response::html(&page(
            "<p>About 600 U.S. soldiers serve in KFOR.</p><p>Other news of the day.</p>",
        )),
    );
    srv.set("/b", Response::html(&page("<p>Unrelated page.</p>")));
    let objects = tempfile::tempdir().expect("objects");
    let embedded = Workspace::new();
    let shared = Workspace::new();
    worker_settings(&shared, &url, objects.path(), None, "");
    for ws in [&embedded, &shared] {
        ws.watchlist(
            "k.toml",
            &format!(
                "title = \"Kosovo\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1]. The mission began in 1999 [2].\"\"\"\n[[source]]\ncite = 1\nurl = \"{}\"\n[[source]]\ncite = 2\nurl = \"{}\"\n",
                srv.url("/a"),
                srv.url("/b")
            ),
        );
    }
    let check = |ws: &Workspace| -> serde_json::Value {
        let out = ws
            .cmd(&["check", "--format", "json", "--no-email"])
            .env(PASSWORD_VAR, PASSWORD)
            .output()
            .expect("check");
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", show(&out));
        comparable(serde_json::from_slice(&out.stdout).expect("json report"))
    };
    let first = (check(&embedded), check(&shared));
    assert_eq!(first.0, first.1);
    assert_eq!(first.0["summary"]["statements"], 2, "{}", first.0);
    // The passage goes: both flag it.
    srv.set(
        "/a",
        Response::html(&page(
            "<p>Troop numbers were not disclosed.</p><p>Other news of the day.</p>",
        )),
    );
    let second = (check(&embedded), check(&shared));
    assert_eq!(second.0, second.1);
    assert!(second.0["summary"]["flagged"].as_u64() >= Some(1), "{}", second.0);
    // `ack` against either store, then a third run: the same again.
    for ws in [&embedded, &shared] {
        let out = ws
            .cmd(&["ack", "--all", "--by", "ed"])
            .env(PASSWORD_VAR, PASSWORD)
            .output()
            .expect("ack");
        assert!(out.status.success(), "{}", show(&out));
    }
    let third = (check(&embedded), check(&shared));
    assert_eq!(third.0, third.1);
    assert_eq!(third.0["summary"]["flagged"], 0, "{}", third.0);
    // And the records themselves.
    let a = citewatch::snapshot::Store::export(&embedded.root().join("snapshots")).expect("export");
    let mut store = citewatch::settings::Settings::load(&shared.root().join("citewatch.toml"))
        .expect("settings")
        .store;
    // The password in the URL here, not the environment (tests run in threads).
    store.url = Some(url.replacen(USER, &format!("{USER}:{PASSWORD}"), 1));
    store.password_env = None;
    let b =
        citewatch::snapshot::Store::open_configured(&shared.root().join("snapshots"), shared.root(), &store)
            .expect("open shared")
            .export_records()
            .expect("export shared");
    assert_eq!(
        comparable(serde_json::to_value(&a.baselines).expect("json")),
        comparable(serde_json::to_value(&b.baselines).expect("json"))
    );
    let versions = |i: &citewatch::snapshot::Index| -> Vec<Vec<String>> {
        i.sources
            .values()
            .map(|s| s.versions.iter().map(|v| v.text.as_str().to_owned()).collect())
            .collect()
    };
    assert_eq!(versions(&a), versions(&b));
}

/// A store handle on `url` (the password in the URL: tests run in threads, and the library
/// reads `password_env` from the environment).
fn open_store(url: &str, objects: &Path) -> citewatch::snapshot::Store {
    let settings = citewatch::settings::StoreSettings {
        url: Some(url.replacen(USER, &format!("{USER}:{PASSWORD}"), 1)),
        objects: Some(objects.to_path_buf()),
        ..Default::default()
    };
    citewatch::snapshot::Store::open_configured(objects, objects, &settings).expect("open shared store")
}

#[test]
fn two_workers_committing_one_source_at_once_keep_both_versions() {
    use citewatch::snapshot::{SourceKey, SourceRecord, TextHash, Version};
    let url = database("merged_source");
    let objects = tempfile::tempdir().expect("objects");
    let (a, b) = (open_store(&url, objects.path()), open_store(&url, objects.path()));
    let key = SourceKey("http://127.0.0.1:1/s".into());
    let version = |t: &str, at: chrono::DateTime<chrono::Utc>| Version {
        text: TextHash(t.into()),
        raw: None,
        first_seen: at,
        last_seen: at,
        status: 200,
        final_url: key.0.clone(),
        content_type: "text/html".into(),
        etag: None,
        last_modified: None,
        extractor: None,
        archived: Some("https://web.archive.org/web/20260101000000/x".into()),
        archive_job: None,
    };
    let t0 = chrono::Utc::now();
    // Both load the source before either commits (two runs at once), each adds its version.
    let mut ia = a.load([&key], []).expect("load a");
    let mut ib = b.load([&key], []).expect("load b");
    for (idx, text, secs) in [(&mut ia, "first", 0), (&mut ib, "second", 1)] {
        idx.sources.insert(
            key.clone(),
            SourceRecord {
                url: key.0.clone(),
                versions: vec![version(text, t0 + chrono::Duration::seconds(secs))],
                last: None,
            },
        );
    }
    a.commit(ia, 0, None).expect("commit a");
    b.commit(ib, 0, None).expect("commit b");
    let all = a.export_records().expect("export");
    let texts: Vec<&str> = all.sources[&key]
        .versions
        .iter()
        .map(|v| v.text.as_str())
        .collect();
    assert_eq!(texts, ["first", "second"]);
    // The same text seen by both: one version, seen until the later sighting.
    let mut ia = a.load([&key], []).expect("load a");
    let mut ib = b.load([&key], []).expect("load b");
    let later = t0 + chrono::Duration::seconds(60);
    ia.sources.get_mut(&key).unwrap().versions[1].last_seen = t0 + chrono::Duration::seconds(30);
    ib.sources.get_mut(&key).unwrap().versions[1].last_seen = later;
    b.commit(ib, 0, None).expect("commit b");
    a.commit(ia, 0, None).expect("commit a");
    let all = a.export_records().expect("export");
    let v = &all.sources[&key].versions;
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].last_seen, later);
}

#[test]
fn per_host_holds_across_workers() {
    let url = database("per_host");
    let srv = PageServer::start();
    let objects = tempfile::tempdir().expect("objects");
    let ids: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    for id in &ids {
        srv.set(
            &format!("/{id}"),
            Response::html(&page(&format!(
                "<p>About 600 U.S. soldiers serve in KFOR, {id}.</p>"
            )))
            .delay(Duration::from_millis(400)),
        );
    }
    // Two workers (two machines' roots), each running half the articles at the same time,
    // each allowed two requests at once to the one host: two in all.
    let workers: Vec<Workspace> = (0..2)
        .map(|_| {
            let ws = Workspace::new();
            worker_settings(&ws, &url, objects.path(), None, "[fetch]\nper_host = 2\n");
            for id in &ids {
                article(&ws, id, &srv.url(&format!("/{id}")), "0 0 6 * * *");
            }
            ws
        })
        .collect();
    let children: Vec<Child> = workers
        .iter()
        .zip([&ids[..4], &ids[4..]])
        .map(|(ws, half)| {
            let mut args = vec!["check", "--no-email"];
            for id in half {
                args.extend(["--only", id.as_str()]);
            }
            ws.cmd(&args)
                .env(PASSWORD_VAR, PASSWORD)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("check")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", show(&out));
    }
    for id in &ids {
        assert_eq!(srv.hits(&format!("/{id}")), 1, "{id}");
    }
    assert_eq!(srv.max_in_flight(), 2, "per_host = 2 across both workers");
}
