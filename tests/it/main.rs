//! Integration tests: one binary, a fresh temp root per test, real loopback servers.

mod support;

/// `check` end to end.
mod check;

/// `daemon`, `trigger` and the control endpoint as real processes.
mod daemon;
