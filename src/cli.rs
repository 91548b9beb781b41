//! Command-line types (clap) and tracing set-up. No logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// citewatch: re-checks the sources cited by published fact-checks and reports which
/// statements lost or changed their backing passage.
#[derive(Debug, Parser)]
#[command(name = "citewatch", version, about, long_about = None)]
pub struct Cli {
    /// The root folder holding citewatch.toml, watchlist/, snapshots/ and reports/.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,

    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Re-check every cited source now and report which statements need a person.
    ///
    /// Fetches every cited source, stores new versions, judges every statement, writes
    /// `reports/<run-id>/` and mails the report. Exit 0 when the run completed (failed
    /// sources included), 1 with --fail-on-flagged and flags, 2 on a usage or config
    /// error, 3 when it could not run (lock held, store not writable).
    Check(CheckArgs),
    /// Check citewatch.toml and the watchlist; list each article's statements.
    ///
    /// Exit 0, or 2 with one `FILE:LINE[:COL]: message` line per problem.
    Validate,
    /// Accept the current wording of flagged statements.
    ///
    /// Moves their baseline to the latest snapshot (passages located again there), clears
    /// the flag and records who and when in the store.
    Ack(AckArgs),
    /// Offline demonstration on bundled copies of the seed's ten sources.
    ///
    /// Serves them on 127.0.0.1, checks, applies realistic edits (a figure revised, a
    /// paragraph deleted, a page gone, a redesign), re-checks and prints the summary.
    Demo(DemoArgs),
    /// Import a published fact-check (a URL, an HTML file or a text file) as a new watchlist file.
    ///
    /// Reads its ClaimReview JSON-LD, headline and date, the sentences carrying links or
    /// `[n]` markers (resolved through the page's source list) and writes
    /// `watchlist/<id>.toml` for a person to review. Exit 0; 2 when nothing could be imported
    /// (no statements or no sources), the id is taken or invalid; 3 when the URL or file cannot
    /// be read.
    Add(AddArgs),
    /// Take an article's baselines again from the web archive, as of its `checked` date.
    ///
    /// For an article already watched (whose sources first took live baselines): each
    /// statement × cite whose source has a 2xx capture at or before the end (23:59:59 UTC)
    /// of the article's `checked` date gets that capture as its baseline, its flag cleared;
    /// the others keep theirs. Nothing is judged here: the next run (`check --only
    /// ARTICLE_ID`, or the daemon's) judges the live pages against the new baselines and
    /// flags what changed since the check. Needs `[archive] enabled = true`. Exit 0; 2 for
    /// an unknown article, one without a `checked` date or the archive not enabled; 3 when
    /// the store is locked or not writable.
    Archive(ArchiveArgs),
    /// Run as a service: re-check on the schedule, serve the control endpoint.
    Daemon,
    /// Ask the running daemon for a re-check now and print its summary.
    ///
    /// Exit 3 if no daemon is listening.
    Trigger(TriggerArgs),
    /// List the messages waiting in the outbox; --send retries delivery now.
    Outbox(OutboxArgs),
    /// Internal: read a PDF on stdin within memory and CPU limits, write its text to stdout.
    /// `check` and the daemon run it as a child process for each PDF source.
    #[command(name = "pdf-text", hide = true)]
    PdfText,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// A short human summary.
    #[default]
    Text,
    /// The report JSON.
    Json,
}

/// `check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this article (repeatable).
    #[arg(long = "only", value_name = "ARTICLE_ID")]
    pub only: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 1 when any statement is flagged.
    #[arg(long)]
    pub fail_on_flagged: bool,
    /// Mail nothing this run (and leave the outbox alone). The report is written as usual;
    /// flags it raises are not new on the next run, so they are not mailed later either.
    #[arg(long)]
    pub no_email: bool,
}

/// `ack` arguments.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// Statement ids to acknowledge.
    #[arg(value_name = "STATEMENT_ID")]
    pub statements: Vec<String>,
    /// Acknowledge every flagged statement.
    #[arg(long, conflicts_with_all = ["statements", "article"])]
    pub all: bool,
    /// Acknowledge every flagged statement of this article.
    #[arg(long, value_name = "ARTICLE_ID", conflicts_with = "statements")]
    pub article: Option<String>,
    /// Who acknowledges (default: $USER, else "unknown").
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// `add` arguments.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The fact-check: an http(s) URL, or a saved HTML page or plain-text file.
    #[arg(value_name = "URL|FILE")]
    pub source: String,
    /// The article id (default: from the page's URL slug, else its title).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Print what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `archive` arguments.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The article whose baselines to take from the archive.
    #[arg(value_name = "ARTICLE_ID")]
    pub article: String,
}

/// `demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the demo root (default: a new temporary folder, kept).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Then keep going: the sources stay up on 127.0.0.1 (files under DIR/demo-pages/ to
    /// edit, and a page with "apply the edits" and "restore" buttons), and the daemon runs on
    /// the demo root with its page at --listen, until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// With --serve: the address of the daemon's page.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8787",
        requires = "serve"
    )]
    pub listen: String,
}

/// `trigger` arguments.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Only this article.
    #[arg(long = "only", value_name = "ARTICLE_ID")]
    pub only: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `outbox` arguments.
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Retry delivery now.
    #[arg(long)]
    pub send: bool,
}

/// Logs to stderr; `RUST_LOG` wins over the flags.
pub fn init_tracing(cli: &Cli) {
    let level = if cli.quiet {
        "warn"
    } else {
        match cli.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("citewatch={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
