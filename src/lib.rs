//! citewatch re-fetches every source cited by a published fact-check on a schedule, diffs it
//! against the stored snapshot, works out which *statements* lost or changed their backing
//! passage, and mails the desk a re-check report.
//!
//! # Layout, in pipeline order
//! Data flows one way: watchlist → statements and sources → fetch → extracted text →
//! snapshot store → diff → evidence verdicts → report → email.
//!
//! - [`ids`], [`workspace`], [`durable`]: leaves every stage may use: typed keys and run ids,
//!   the root's layout and loaded context, durable file replacement; [`cpu`]: the threads
//!   the CPU-bound work of a run runs on.
//! - [`settings`]: `citewatch.toml` → [`settings::Settings`] (all value checks, `[email]` too).
//! - [`watchlist`]: `watchlist/*.toml` → articles with statements and sources.
//! - [`fetch`]: URL → [`fetch::FetchOutcome`] (network I/O).
//! - [`extract`]: bytes → [`extract::ExtractedText`] (pure).
//! - [`snapshot`]: the on-disk store of versions and baselines (disk I/O, lock).
//! - [`diff`]: word-level differences and their markings (pure).
//! - [`evidence`]: anchoring and verdicts (pure).
//! - [`record`]: the baseline, flag and ack lifecycle (pure).
//! - [`run`]: the pipeline written once, one module per stage (plan, work, record, report,
//!   notify): [`run::run_check`].
//! - [`report`]: [`report::RunReport`] → JSON, Markdown, HTML.
//! - [`notify`]: report → email, outbox, SMTP (disk and network I/O).
//! - [`schedule`], [`control`], [`daemon`]: the service (cron loop, HTTP endpoint).
//! - [`import`]: a published fact-check (HTML or text) → a draft watchlist file (pure).
//! - [`demo`]: the offline demonstration.
//! - [`cli`], [`commands`]: the command line over all of the above.

#![warn(missing_docs)]

pub mod archive;
pub mod cli;
pub mod commands;
pub mod control;
pub mod cpu;
pub mod daemon;
pub mod demo;
pub mod diff;
pub mod durable;
pub mod error;
pub mod evidence;
pub mod extract;
pub mod fetch;
pub mod ids;
pub mod import;
pub mod notify;
pub mod record;
pub mod report;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod snapshot;
pub mod watchlist;
pub mod workspace;
