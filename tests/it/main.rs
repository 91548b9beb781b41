//! Integration tests: one binary, a fresh temp root per test, real loopback servers.

mod support;

/// `check` end to end.
mod check;

/// `fetch`: retries, limits, redirects, compression, conditional requests.
mod fetch;

/// `validate`: every settings and watchlist problem with its file, line and column.
mod validate;

/// The re-check report by email: outbox, SMTP (plain, STARTTLS), refusals, `outbox`; read-only
/// and full file systems (real tmpfs mounts) under `reports/` and `snapshots/`.
mod notify;

/// `[[notify.webhook]]`: JSON and Slack receivers on loopback, queued and retried like mail.
mod webhook;

/// `daemon`, `trigger` and the control endpoint as real processes.
mod daemon;

/// The labelled evidence corpus: precision, recall, exact verdicts.
mod evidence;

/// `demo`: the README's first command end to end.
mod demo;

/// The fault suite: SIGKILL at each durable step (crash points), read-only and full stores.
mod faults;

/// The store: the upgrade of a format-1 store, SIGKILL at many points.
mod store;

/// The daemon's page in headless Chromium: the button, ack, report links, cross-site refusal.
mod browser;

/// `add`: importing a published fact-check from four publishers' page shapes and the seed text.
mod add;

/// Sources as the real web serves them: failure kinds, bot walls, soft 404s, rendering in
/// the real headless browser.
mod web;

/// `[archive]`: baselines as of the checked date from a loopback fake of the Wayback
/// Machine, captures of new and changed sources, an archive that is down.
mod archive;

/// The shared store on a real PostgreSQL server: several daemons on one store, a worker
/// killed mid-run, the same reports as the embedded store.
mod pg;
