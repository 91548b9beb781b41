//! Integration tests: one binary, a fresh temp root per test, real loopback servers.

mod support;

/// `check` end to end.
mod check;

/// The re-check report by email: outbox, SMTP (plain, STARTTLS), refusals, `outbox`.
mod notify;
