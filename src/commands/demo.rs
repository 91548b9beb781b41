//! `citewatch demo`.

use std::path::PathBuf;

use crate::cli::DemoArgs;
use crate::error::{CommandError, Exit};
use crate::report::RunReport;

/// Runs the offline demonstration and prints what it found; with `--serve`, then runs the
/// daemon on the demo root (its sources still served) until SIGTERM or Ctrl-C.
pub fn demo(args: &DemoArgs) -> Result<Exit, CommandError> {
    let listen: std::net::SocketAddr = args.listen.parse().map_err(|e| {
        CommandError::Usage(format!(
            "--listen {}: not an address such as 127.0.0.1:8787 ({e})",
            args.listen
        ))
    })?;
    if args.serve && !listen.ip().is_loopback() {
        return Err(CommandError::Usage(format!(
            "--listen {listen}: the demo's page serves on a loopback address only"
        )));
    }
    let (dir, sources) = super::runtime()?.block_on(show(args))?;
    if !args.serve {
        return Ok(Exit::Ok);
    }
    let settings = dir.join("citewatch.toml");
    let mut text = std::fs::read_to_string(&settings)
        .map_err(|e| CommandError::CannotRun(format!("cannot read {}: {e}", settings.display())))?;
    text.push_str(&format!("\n[control]\nlisten = \"{listen}\"\n"));
    std::fs::write(&settings, text)
        .map_err(|e| CommandError::CannotRun(format!("cannot write {}: {e}", settings.display())))?;
    println!(
        "\nServing the demo until Ctrl-C:\n  citewatch's page: http://{listen}/  (\"Re-check now\", ack, the report)\n  \
         the sources:      http://{sources}/  (edit the files in {}, or press \"Restore the original pages\"\n                    \
         or \"Apply the demo's edits\", then re-check)",
        dir.join("demo-pages").display()
    );
    super::daemon::daemon(&dir)
}

/// The demo itself: its root and the address of its sources.
async fn show(args: &DemoArgs) -> Result<(PathBuf, std::net::SocketAddr), CommandError> {
    let dir: PathBuf = match &args.dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("citewatch-demo-")
            .tempdir()
            .map_err(|e| CommandError::CannotRun(format!("cannot create a demo folder: {e}")))?
            .keep(),
    };
    if std::fs::read_dir(&dir).is_ok_and(|mut rd| rd.next().is_some()) {
        return Err(CommandError::Usage(format!(
            "{} is not empty: give a new folder with --dir",
            dir.display()
        )));
    }
    println!("citewatch demo in {}", dir.display());
    println!("Serving bundled copies of the ten sources of `us-military-kosovo` on 127.0.0.1.\n");
    let addr = crate::demo::start_sources(&dir).map_err(|e| CommandError::CannotRun(format!("{e:#}")))?;
    let out = crate::demo::run_demo(&dir, addr)
        .await
        .map_err(|e| CommandError::CannotRun(format!("{e:#}")))?;
    let b = &out.baseline.summary;
    let c = out.baseline.anchor_counts();
    println!(
        "1. Baseline check: {} sources fetched, {} statements; {} of {} statement × source pairs anchored to a passage.",
        b.sources, b.statements, c.anchored, c.pairs
    );
    if c.anchored < c.pairs {
        print!(
            "{}",
            out.baseline.unanchored_text(crate::report::TEXT_LISTED, true)
        );
        println!();
    }
    println!(
        "2. Edits, as they happen in the wild:\n   \
         [1] the troop figure is revised (more than 600 → more than 350 troops)\n   \
         [3] the paragraph on the 180 Pennsylvania Guard personnel is deleted\n   \
         [4] a redesign: new menus, paragraphs moved, new timestamps (the text is the same)\n   \
         [10] the page is gone (404)\n   \
         and every page gets new \"generated\" / \"last updated\" timestamps.\n"
    );
    println!("3. Re-check:\n");
    print!("{}", out.recheck.to_text());
    let reports = out.root.join("reports");
    println!(
        "\nreport: {}",
        out.recheck.dir(&reports).join("report.html").display()
    );
    if let Some(mail) = mail_of(&reports, &out.recheck) {
        println!("mail:   {}", mail.display());
    }
    if !args.serve {
        println!(
            "\nThe demo root stays in {}: `citewatch --root {} validate` lists the statements;\n\
             `citewatch --root {} ack --all` accepts the new wording. `citewatch demo --serve`\n\
             keeps the sources and citewatch's page up, to edit a page and re-check.",
            dir.display(),
            dir.display(),
            dir.display()
        );
    }
    Ok((dir, addr))
}

/// The message written for a run, when there is one.
fn mail_of(reports: &std::path::Path, report: &RunReport) -> Option<PathBuf> {
    for sub in ["mail", "sent", "outbox"] {
        let Ok(rd) = std::fs::read_dir(reports.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&report.run_id) && name.ends_with(".eml") {
                return Some(e.path());
            }
        }
    }
    None
}
