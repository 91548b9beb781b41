//! The `citewatch` binary: parse arguments, set up logging, call the library, map the
//! outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = citewatch::cli::Cli::parse();
    // The fault suite's crash points (`FAILPOINTS`), in test builds only.
    let _crash_points = fail::has_failpoints().then(fail::FailScenario::setup);
    // The PDF helper's stderr carries only its own failure, for the parent to read.
    if !matches!(cli.command, citewatch::cli::Command::PdfText) {
        citewatch::cli::init_tracing(&cli);
    }
    match citewatch::commands::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("citewatch: {err:#}");
            err.exit().into()
        }
    }
}
