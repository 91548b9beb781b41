//! Integration tests: one binary, a fresh temp root per test, real loopback servers.

mod support;

/// `check` end to end.
mod check;

/// `fetch`: retries, limits, redirects, compression, conditional requests.
mod fetch;
