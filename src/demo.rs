//! `citewatch demo`: bundled copies of the seed's sources served on 127.0.0.1, a baseline
//! check, realistic edits, a re-check.
