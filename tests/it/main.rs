//! Integration tests: one binary, a fresh temp root per test, real loopback servers.

mod support;

/// `check` end to end.
mod check;

/// The labelled evidence corpus: precision, recall, exact verdicts.
mod evidence;
