//! The typed keys and ids every stage passes around: a source's store key, a baseline's key,
//! a text's hash, a run's id. A leaf module (it knows only the watchlist's ids), so the store,
//! the pipeline, the report and the control endpoint agree on one format each.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::watchlist::{CiteNo, StatementId};

macro_rules! string_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The key as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_key!(
    /// The store key of a source: its URL, plus `#rules=<fingerprint>` of its extraction rules
    /// when it has any (two articles may watch different parts of one page).
    SourceKey
);
string_key!(
    /// The key of a baseline: `<statement id>#<cite>`.
    BaselineKey
);
string_key!(
    /// The blake3 (hex) of an extracted text, naming `text/<hash>.txt`; empty in a baseline
    /// taken while its source was unreachable.
    TextHash
);
string_key!(
    /// A run's id (`YYYYMMDDTHHMMSSZ-mmmr`, sortable).
    RunId
);

impl SourceKey {
    /// The key of `url` watched with these extraction rules (fingerprint empty: none).
    pub fn new(url: &str, rules_fingerprint: &str) -> Self {
        if rules_fingerprint.is_empty() {
            Self(url.to_owned())
        } else {
            Self(format!("{url}#rules={rules_fingerprint}"))
        }
    }
}

impl BaselineKey {
    /// The key of `statement`'s baseline for `cite`.
    pub fn new(statement: &StatementId, cite: CiteNo) -> Self {
        Self(format!("{statement}#{cite}"))
    }
}

impl TextHash {
    /// No version (a baseline of a source never reached).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl RunId {
    /// A new id for a run started `at` (see [`new_run_id`]).
    pub fn new_at(at: chrono::DateTime<Utc>) -> Self {
        Self(new_run_id(at))
    }

    /// True for `YYYYMMDDTHHMMSSZ-xxxx` as [`new_run_id`] makes them; nothing else names a
    /// report, so no path built from a valid id can escape `reports/`.
    pub fn is_valid(id: &str) -> bool {
        let b = id.as_bytes();
        b.len() == 21
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'T'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'Z'
            && b[16] == b'-'
            && b[17..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    }
}

/// The store key of a watchlist source: its URL plus its extraction rules.
pub fn source_key_of(src: &crate::watchlist::Source) -> SourceKey {
    SourceKey::new(
        src.url.as_str(),
        &rules_fingerprint(src.selector.as_deref(), &src.ignore),
    )
}

/// Fingerprint of a source's extraction rules (empty when it has none).
pub fn rules_fingerprint(selector: Option<&str>, ignore: &[String]) -> String {
    if selector.is_none() && ignore.is_empty() {
        return String::new();
    }
    let mut h = blake3::Hasher::new();
    h.update(selector.unwrap_or("").as_bytes());
    for i in ignore {
        h.update(b"\0");
        h.update(i.as_bytes());
    }
    h.finalize().to_hex()[..12].to_owned()
}

/// A sortable run id: `YYYYMMDDTHHMMSSZ-mmmr` (hex: millisecond, random digit).
pub fn new_run_id(at: chrono::DateTime<Utc>) -> String {
    // The suffix is the millisecond (3 hex digits) and a random digit, so ids sort in the
    // order runs started even within one second.
    format!(
        "{}-{:03x}{:x}",
        at.format("%Y%m%dT%H%M%SZ"),
        at.timestamp_subsec_millis(),
        rand::random::<u8>() & 0xf
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_run_ids_are_valid_and_sort_by_start() {
        let a = chrono::DateTime::parse_from_rfc3339("2026-11-27T23:04:34.001Z")
            .unwrap()
            .to_utc();
        let b = chrono::DateTime::parse_from_rfc3339("2026-11-27T23:04:34.900Z")
            .unwrap()
            .to_utc();
        let (ia, ib) = (new_run_id(a), new_run_id(b));
        assert!(RunId::is_valid(&ia) && RunId::is_valid(&ib), "{ia} {ib}");
        assert!(ia < ib);
        assert!(ia.starts_with("20261127T230434Z-001"));
    }

    #[test]
    fn run_ids_are_strict() {
        assert!(RunId::is_valid("20261127T230434Z-ab12"));
        for bad in [
            "../etc/passwd",
            "20261127T230434Z-ab1",
            "20261127T230434Z-AB12",
            "20261127T230434Z/ab12",
            "20261127T230434Z-ab12/../x",
            "2026112xT230434Z-ab12",
            "",
        ] {
            assert!(!RunId::is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn source_keys_carry_the_rules_only_when_there_are_some() {
        assert_eq!(SourceKey::new("http://a/", "").as_str(), "http://a/");
        assert_eq!(SourceKey::new("http://a/", "abc").as_str(), "http://a/#rules=abc");
        assert_eq!(rules_fingerprint(None, &[]), "");
        assert_eq!(rules_fingerprint(Some("main"), &[]).len(), 12);
        assert_ne!(
            rules_fingerprint(Some("main"), &[]),
            rules_fingerprint(None, &["main".into()])
        );
        assert_eq!(
            BaselineKey::new(&StatementId("a:1".into()), CiteNo(2)).as_str(),
            "a:1#2"
        );
    }
}
