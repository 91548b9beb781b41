//! Issue 17, the fault suite: a run (and an ack) killed with SIGKILL at each durable step,
//! through the crash points of the binary `cargo test` builds (`crash_point!`, the `fail`
//! crate's `FAILPOINTS=NAME=return`); a cold run on a store folder that is read-only or
//! full from its first write. After each fault the next runs need no repair, lose no
//! baseline and mail every flag.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use crate::notify::Tmpfs;
use crate::support::smtp::SmtpServer;
use crate::support::{PageServer, Response, Workspace, workspace::show};

fn page(n: &str) -> Response {
    page_of("", n)
}

/// The page of source `path` (each its own text), stating `n` soldiers.
fn page_of(path: &str, n: &str) -> Response {
    Response::html(&format!(
        "<html><body><article><p>About {n} U.S. soldiers serve in KFOR as of 2025.</p>\
         <p>Camp Bondsteel is the main base.</p><p>Filed under {path}.</p></article></body></html>"
    ))
}

/// Two articles of two sources each, mail to `smtp`.
fn workspace(srv: &PageServer, smtp: &SmtpServer) -> Workspace {
    let ws = Workspace::new();
    for a in ["alpha", "beta"] {
        ws.watchlist(
            &format!("{a}.toml"),
            &format!(
                "title = \"{a}\"\narticle = \"\"\"About 600 U.S. soldiers serve in KFOR [1]. Camp Bondsteel is the main base [2].\"\"\"\n\
                 [[source]]\ncite = 1\nurl = \"{}\"\n[[source]]\ncite = 2\nurl = \"{}\"\n",
                srv.url(&format!("/{a}/1")),
                srv.url(&format!("/{a}/2")),
            ),
        );
        for i in 1..=2 {
            let path = format!("/{a}/{i}");
            srv.set(&path, page_of(&path, "600"));
        }
    }
    ws.write(
        "citewatch.toml",
        &format!(
            "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"cw@example.org\"\nto = [\"desk@example.org\"]\ntimeout_secs = 5\n",
            smtp.port()
        ),
    );
    ws
}

/// `citewatch ARGS` with the crash point `point` armed: it must die of SIGKILL there.
fn crash(ws: &Workspace, point: &str, args: &[&str]) {
    let out = ws
        .cmd(args)
        .env("FAILPOINTS", format!("{point}=return"))
        .output()
        .expect("run citewatch");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{args:?} should have been killed at {point}: {}",
        show(&out)
    );
}

fn check(ws: &Workspace, what: &str) -> serde_json::Value {
    let (out, v) = ws.check_json();
    assert!(out.status.success(), "{what}: {}", show(&out));
    v
}

/// Temp files a killed process may leave where a person or a later run reads.
fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(temp_files(&p));
        } else if e.file_name().to_string_lossy().starts_with(".tmp-") {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Each durable step of a run that flags one statement, and how many messages the desk gets
/// in all once the runs after the kill are done.
const RUN_STEPS: &[(&str, usize)] = &[
    // Writing the changed page's text object: nothing of the run is kept.
    ("store-object", 1),
    // Objects synced, the database not committed.
    ("store-before-commit", 1),
    // Flags committed, no message yet: the flags stay new until one is queued.
    ("store-after-commit", 1),
    // The outbox's sidecar written, not the message.
    ("outbox-sidecar-only", 1),
    // The message queued, not sent, flags not announced.
    ("outbox-queued", 1),
    // The server accepted the message; not yet marked sent.
    ("smtp-accepted", 2),
    // Sent and moved to sent/, flags not announced.
    ("run-before-announce", 1),
    // Announced, the report not written.
    ("run-after-announce", 1),
];

#[test]
fn a_run_killed_at_each_durable_step_mails_its_flag_on_a_later_run() {
    let srv = PageServer::start();
    let mut misses = Vec::new();
    for &(point, mails) in RUN_STEPS {
        let smtp = SmtpServer::start();
        let ws = workspace(&srv, &smtp);
        srv.set("/alpha/1", page("600"));
        let v = check(&ws, "baseline");
        assert_eq!(v["summary"]["new_flags"], 0, "{v:#}");
        srv.set("/alpha/1", page("350"));
        crash(&ws, point, &["check"]);
        let v = check(&ws, &format!("the run after a kill at {point}"));
        assert_eq!(v["summary"]["flagged"], 1, "after {point}: {v:#}");
        let v = check(&ws, &format!("the second run after a kill at {point}"));
        assert_eq!(v["summary"]["flagged"], 1, "after {point}: {v:#}");
        assert_eq!(v["summary"]["new_flags"], 0, "after {point}: {v:#}");
        let got = smtp.received().len();
        if got != mails {
            misses.push(format!("{point}: {got} messages, expected {mails}"));
        }
        assert!(got >= 1, "kill at {point}: the flag was never mailed");
        assert_eq!(
            temp_files(ws.root()),
            Vec::<String>::new(),
            "kill at {point}: temp files left"
        );
    }
    assert!(misses.is_empty(), "{misses:#?}");
}

/// Makes every temp file under `dir` an hour old, as if the kill was long ago: a sweep takes
/// only files older than any write in progress.
fn age_temp_files(dir: &Path) {
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for f in temp_files(dir) {
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(hour_ago).unwrap();
    }
}

#[test]
fn a_run_killed_inside_each_file_write_mails_once_and_its_temp_file_is_swept() {
    let srv = PageServer::start();
    let mut misses = Vec::new();
    let mut killed = 0;
    for skip in 0.. {
        let smtp = SmtpServer::start();
        let ws = workspace(&srv, &smtp);
        srv.set("/alpha/1", page("600"));
        check(&ws, "baseline");
        srv.set("/alpha/1", page("350"));
        // The `skip`-th file a flagging run writes (outbox sidecar, message, reports) is cut
        // off after its temp file is synced, before the rename.
        let out = ws
            .cmd(&["check"])
            .env("FAILPOINTS", format!("durable-temp-written={skip}*off->return"))
            .output()
            .unwrap();
        if out.status.signal() != Some(9) {
            assert!(out.status.success(), "{}", show(&out));
            break;
        }
        killed += 1;
        let left = temp_files(ws.root());
        assert!(!left.is_empty(), "write {skip} was cut off and left no temp file");
        age_temp_files(ws.root());
        let v = check(&ws, &format!("the run after write {skip} was cut off"));
        assert_eq!(v["summary"]["flagged"], 1, "{v:#}");
        let still = temp_files(ws.root());
        if !still.is_empty() {
            misses.push(format!("write {skip}: left {still:?} (was {left:?})"));
        }
        // A write into `sent/` comes after the server accepted the message: delivery is at
        // least once there, as at `smtp-accepted`.
        let accepted = left.iter().any(|f| f.contains("/sent/"));
        let got = smtp.received().len();
        if got != 1 + usize::from(accepted) {
            misses.push(format!("write {skip} ({left:?}): {got} messages"));
        }
    }
    assert!(killed >= 5, "only {killed} writes in a flagging run");
    eprintln!("{killed} file writes in a flagging run, each cut off once");
    assert!(misses.is_empty(), "{misses:#?}");
}

/// Baseline keys and flagged keys of the store.
fn books(ws: &Workspace) -> (Vec<String>, Vec<String>) {
    let idx = crate::support::store::index(ws.root());
    let b = idx["baselines"].as_object().cloned().unwrap_or_default();
    let flagged = b
        .iter()
        .filter(|(_, v)| !v["flag"].is_null())
        .map(|(k, _)| k.clone())
        .collect();
    (b.keys().cloned().collect(), flagged)
}

#[test]
fn a_cold_run_killed_at_each_durable_step_is_taken_again_whole() {
    let srv = PageServer::start();
    let smtp = SmtpServer::start();
    let ws = workspace(&srv, &smtp);
    // The third object written, the commit not begun, the commit done.
    for point in ["2*off->return", "store-before-commit", "store-after-commit"] {
        let (point, arm) = match point.split_once("->") {
            Some((skip, _)) => ("store-object", format!("{skip}->return")),
            None => (point, "return".to_owned()),
        };
        let _ = std::fs::remove_dir_all(ws.root().join("snapshots"));
        let out = ws
            .cmd(&["check"])
            .env("FAILPOINTS", format!("{point}={arm}"))
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "{point}: {}", show(&out));
        let v = check(&ws, &format!("the run after a cold run killed at {point}"));
        assert_eq!(v["summary"]["flagged"], 0, "{point}: {v:#}");
        let (baselines, flagged) = books(&ws);
        assert_eq!(baselines.len(), 4, "{point}: {baselines:?}");
        assert!(flagged.is_empty(), "{point}: {flagged:?}");
    }
    assert!(smtp.received().is_empty(), "nothing was flagged");
}

#[test]
fn an_ack_killed_before_or_after_its_commit_is_all_or_nothing() {
    let srv = PageServer::start();
    let smtp = SmtpServer::start();
    let ws = workspace(&srv, &smtp);
    check(&ws, "baseline");
    srv.set("/alpha/1", page("350"));
    srv.set("/beta/1", page("350"));
    let v = check(&ws, "the run raising two flags");
    assert_eq!(v["summary"]["flagged"], 2, "{v:#}");
    crash(&ws, "store-before-commit", &["ack", "--all", "--by", "desk"]);
    assert_eq!(
        books(&ws).1.len(),
        2,
        "an ack killed before its commit acks nothing"
    );
    crash(&ws, "store-after-commit", &["ack", "--all", "--by", "desk"]);
    assert!(
        books(&ws).1.is_empty(),
        "an ack killed after its commit is recorded"
    );
    let v = check(&ws, "the run after the acks");
    assert_eq!(v["summary"]["flagged"], 0, "{v:#}");
    assert_eq!(smtp.received().len(), 1, "the one message of the flagging run");
}

/// Issue 17: a first run whose store folder is read-only, then one whose store fills up
/// while its first objects are written (real tmpfs mounts). Each fails with a message naming
/// the store and leaves nothing a later run must repair; with the fault cleared, the next
/// run takes every baseline.
#[test]
fn a_cold_run_on_a_read_only_or_full_store_fails_cleanly_and_the_next_takes_every_baseline() {
    let srv = PageServer::start();
    let smtp = SmtpServer::start();
    let ws = workspace(&srv, &smtp);
    // Pages of 200 kB of distinct text: four of them do not fit in 256 kB.
    for a in ["alpha", "beta"] {
        for i in 1..=2 {
            let filler: String = (0..6000).map(|k| format!("Item {a}{i} number {k}. ")).collect();
            srv.set(
                &format!("/{a}/{i}"),
                Response::html(&format!(
                    "<html><body><article><p>About 600 U.S. soldiers serve in KFOR as of 2025.</p>\
                     <p>Camp Bondsteel is the main base.</p><p>{filler}</p></article></body></html>"
                )),
            );
        }
    }
    let snap = ws.root().join("snapshots");
    let Some(fs) = Tmpfs::mount(&snap, "256k") else {
        return;
    };
    fs.remount("ro");
    let (out, _) = ws.check_json();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("snapshots") && err.contains("Read-only"),
        "{}",
        show(&out)
    );
    fs.remount("rw");
    let (out, _) = ws.check_json();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left"), "{}", show(&out));
    fs.remount("size=64m");
    let v = check(&ws, "the run after the faults");
    assert_eq!(v["summary"]["flagged"], 0, "{v:#}");
    assert_eq!(books(&ws).0.len(), 4);
    assert!(smtp.received().is_empty());
    assert_eq!(temp_files(ws.root()), Vec::<String>::new());
}

#[test]
fn without_email_a_run_killed_after_writing_its_eml_does_not_write_it_again() {
    let srv = PageServer::start();
    let smtp = SmtpServer::start();
    let ws = workspace(&srv, &smtp);
    // No [email]: messages are .eml files under reports/mail/.
    ws.write("citewatch.toml", "");
    for point in ["run-before-announce", "durable-temp-written"] {
        let _ = std::fs::remove_dir_all(ws.root().join("snapshots"));
        let _ = std::fs::remove_dir_all(ws.root().join("reports"));
        srv.set("/alpha/1", page("600"));
        check(&ws, "baseline");
        srv.set("/alpha/1", page("350"));
        crash(&ws, point, &["check"]);
        age_temp_files(ws.root());
        let v = check(&ws, &format!("the run after a kill at {point}"));
        assert_eq!(v["summary"]["flagged"], 1, "{v:#}");
        check(&ws, "the next run");
        let emls: Vec<_> = std::fs::read_dir(ws.root().join("reports/mail"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| e.file_name())
            .collect();
        // Killed after the message: that one stands. Killed writing its sidecar (the first
        // write): the next run writes it.
        assert_eq!(emls.len(), 1, "kill at {point}: {emls:?}");
        assert_eq!(temp_files(ws.root()), Vec::<String>::new());
    }
}
