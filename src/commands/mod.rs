//! One function per subcommand, each taking parsed arguments; [`run`] dispatches.

use crate::cli::{Cli, Command};
use crate::error::{CommandError, Exit};

pub mod ack;
mod add;
mod archive;
mod check;
mod daemon;
mod demo;
mod outbox;
mod trigger;
mod validate;

pub use check::check;

/// Runs one command; the returned [`Exit`] is the process exit code.
pub fn run(cli: Cli) -> Result<Exit, CommandError> {
    let root = cli.root.clone();
    // PDFs are read in a child process of this binary, within limits.
    if let Some(exe) = crate::extract::pdf::this_binary() {
        crate::extract::pdf::use_helper(exe);
    }
    match cli.command {
        Command::Check(args) => runtime()?.block_on(check::check(&root, &args)),
        Command::Validate => validate::validate(&root),
        Command::Ack(args) => ack::ack(&root, &args),
        Command::Demo(args) => demo::demo(&args),
        Command::Outbox(args) => runtime()?.block_on(outbox::outbox(&root, &args)),
        Command::Add(args) => runtime()?.block_on(add::add(&root, &args)),
        Command::Archive(args) => runtime()?.block_on(archive::archive(&root, &args)),
        Command::Daemon => daemon::daemon(&root),
        Command::Trigger(args) => runtime()?.block_on(trigger::trigger(&root, &args)),
        Command::PdfText => std::process::exit(crate::extract::pdf::helper_main()),
    }
}

/// The tokio runtime commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Other(anyhow::anyhow!("cannot start the async runtime: {e}")))
}
