//! `citewatch trigger`: asks the running daemon for a re-check through its control endpoint.

use std::path::Path;
use std::time::Duration;

use crate::cli::{Format, TriggerArgs};
use crate::error::{CommandError, Exit};
use crate::report::RunReport;
use crate::settings::Settings;
use crate::workspace::Paths;

/// Posts `/recheck` to the daemon of `root`, waits for the run and prints its summary (or
/// the report JSON). Exit 3 when no daemon is listening.
pub async fn trigger(root: &Path, args: &TriggerArgs) -> Result<Exit, CommandError> {
    let paths = Paths::new(root);
    let settings = Settings::load(&paths.settings()).map_err(CommandError::Invalid)?;
    let listen = settings.control.listen.parse().map_err(|_| {
        CommandError::Usage(format!(
            "{}: [control].listen: `{}` is not an address",
            paths.settings().display(),
            settings.control.listen
        ))
    })?;
    let addr = crate::control::client_addr(listen);
    let mut url = url::Url::parse(&format!("http://{addr}/recheck")).map_err(anyhow::Error::from)?;
    if let Some(only) = &args.only {
        url.query_pairs_mut().append_pair("only", only);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(anyhow::Error::from)?;
    let accept = match args.format {
        Format::Text => "text/plain",
        Format::Json => "application/json",
    };
    let mut req = client.post(url).header(reqwest::header::ACCEPT, accept);
    if let Some(name) = &settings.control.token_env
        && let Ok(token) = std::env::var(name)
        && !token.is_empty()
    {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_connect() {
            CommandError::CannotRun(format!(
                "no citewatch daemon is listening on {addr} ([control].listen in {}); start one with `citewatch daemon`",
                paths.settings().display()
            ))
        } else {
            CommandError::CannotRun(format!("the daemon on {addr} did not answer: {e}"))
        }
    })?;
    let status = resp.status();
    let failed = |e: &dyn std::fmt::Display| {
        CommandError::CannotRun(format!("the daemon on {addr} did not answer: {e}"))
    };
    if !status.is_success() {
        let body = resp.bytes().await.map_err(|e| failed(&e))?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let message = v["error"]
            .as_str()
            .map(ToOwned::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        return Err(match (status.as_u16(), v["kind"].as_str()) {
            (401, _) => CommandError::CannotRun(format!(
                "the daemon on {addr} refused the request: {message} (set the token in the variable named by [control].token_env)"
            )),
            (_, Some("unknown_article")) => CommandError::Usage(message),
            _ => CommandError::CannotRun(format!("the daemon on {addr}: {message}")),
        });
    }
    let unreadable = |e: &dyn std::fmt::Display| {
        CommandError::CannotRun(format!("the daemon on {addr} sent an unreadable report: {e}"))
    };
    match args.format {
        // The daemon made the summary from the run's rows; the report's folder is named by
        // the run id on its first line.
        Format::Text => {
            let text = resp.text().await.map_err(|e| failed(&e))?;
            let run_id = text
                .split_whitespace()
                .nth(1)
                .map(|id| id.trim_end_matches(':'))
                .filter(|id| id.starts_with(|c: char| c.is_ascii_digit()))
                .ok_or_else(|| unreadable(&"no run id on its first line"))?;
            print!("{text}");
            println!(
                "report: {}",
                paths.reports().join(run_id).join("report.html").display()
            );
        }
        // The whole report, read from a temp file it is written to as it comes.
        Format::Json => {
            let mut body = tempfile::tempfile().map_err(|e| failed(&e))?;
            let mut resp = resp;
            while let Some(chunk) = resp.chunk().await.map_err(|e| failed(&e))? {
                std::io::Write::write_all(&mut body, &chunk).map_err(|e| failed(&e))?;
            }
            std::io::Seek::rewind(&mut body).map_err(|e| failed(&e))?;
            let report: RunReport =
                serde_json::from_reader(std::io::BufReader::new(body)).map_err(|e| unreadable(&e))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
            );
        }
    }
    Ok(Exit::Ok)
}
