//! The record stage: a statement's baseline and flag, per cited source, from first sight to
//! ack. The one place that decides
//!
//! - when a stored baseline still stands ([`current`]) and when it is taken again,
//! - what a first sight records ([`first_seen`], and [`unreachable_first_sight`] for a source
//!   never reached),
//! - how an extractor upgrade moves it without moving its page ([`rebase`]),
//! - when a flag is raised, re-raised after an outage, or cleared ([`apply_verdict`],
//!   [`record_verdict`]),
//! - what a person's acknowledgement changes ([`ack`]),
//! - which baselines outlive their statements ([`retain_live`]).
//!
//! The pipeline (`run`) and `citewatch ack` both go through here. Pure: no I/O; the
//! callers load and commit the store.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::evidence::{Anchor, Located, Verdict};
use crate::ids::{BaselineKey, RunId, SourceKey, TextHash};
use crate::snapshot::{Ack, Baseline, Flag};
use crate::watchlist::{Article, CiteNo, Statement};

/// The baselines of a run's articles, by key.
pub type Baselines = BTreeMap<BaselineKey, Baseline>;

/// Who sets a baseline on first sight.
pub const FIRST_SEEN: &str = "first-seen";

/// The text version and passages `statement` is judged against for a cite of `source`, or
/// `None` when a baseline must be (re)taken: on first sight, after a source that was never
/// reachable comes back (empty version), when the statement was reworded, and when the cite
/// now points at another URL or other extraction rules.
pub fn current(
    baseline: Option<&Baseline>,
    source: &SourceKey,
    statement: &Statement,
) -> Option<(TextHash, Vec<Anchor>)> {
    let b = baseline?;
    let stale = b.version.is_empty()
        || b.source != *source
        || (!b.statement_text.is_empty() && b.statement_text != statement.text);
    (!stale).then(|| (b.version.clone(), b.anchors.clone()))
}

/// A new baseline: `statement`'s passages located in `version` of `source`, no flag.
pub fn first_seen(
    statement: &Statement,
    cite: CiteNo,
    source: SourceKey,
    version: TextHash,
    located: Located,
    now: DateTime<Utc>,
) -> Baseline {
    Baseline {
        statement: statement.id.clone(),
        cite,
        source,
        version,
        anchors: located.anchors,
        missing_quotes: located.missing_quotes,
        unfound_quotes: located.unfound_quotes,
        candidate: located.candidate,
        set_at: now,
        set_by: FIRST_SEEN.into(),
        statement_text: statement.text.clone(),
        flag: None,
    }
}

/// Who sets a baseline taken from a web archive's capture (`set_by` is this, a space and
/// the capture's URL).
pub const FROM_ARCHIVE: &str = "archive";

/// A new baseline taken from a web archive's capture of the source (`capture`, its URL) as
/// the page stood when the article was checked: as [`first_seen`], set by [`FROM_ARCHIVE`].
pub fn first_seen_in_archive(
    statement: &Statement,
    cite: CiteNo,
    source: SourceKey,
    (version, capture): (TextHash, &str),
    located: Located,
    now: DateTime<Utc>,
) -> Baseline {
    let mut b = first_seen(statement, cite, source, version, located, now);
    b.set_by = format!("{FROM_ARCHIVE} {capture}");
    b
}

/// Whether the baseline was taken from a web archive (an ack moves it to a live version).
pub fn from_archive(b: &Baseline) -> bool {
    b.set_by == FROM_ARCHIVE || b.set_by.starts_with(&format!("{FROM_ARCHIVE} "))
}

/// A source unreachable on first sight: a baseline with no version that remembers the flag,
/// so that later runs report it as outstanding, not as new again.
pub fn unreachable_first_sight(
    statement: &Statement,
    cite: CiteNo,
    source: SourceKey,
    verdict: Verdict,
    run: &RunId,
    now: DateTime<Utc>,
) -> Baseline {
    Baseline {
        statement: statement.id.clone(),
        cite,
        source,
        version: TextHash::default(),
        anchors: Vec::new(),
        missing_quotes: Vec::new(),
        unfound_quotes: Vec::new(),
        candidate: None,
        set_at: now,
        set_by: FIRST_SEEN.into(),
        statement_text: statement.text.clone(),
        flag: Some(raised(verdict, run, now)),
    }
}

/// The baseline's page as this extractor reads it (`version`, made again from the same raw
/// body), with the statement located there again. Still the same snapshot of the page:
/// `set_at` and the flag stay, `set_by` grows.
pub fn rebase(b: &mut Baseline, version: TextHash, located: Located, statement_text: &str) {
    b.version = version;
    b.anchors = located.anchors;
    b.missing_quotes = located.missing_quotes;
    b.unfound_quotes = located.unfound_quotes;
    b.candidate = located.candidate;
    b.set_by = format!(
        "{}; re-extracted ({})",
        b.set_by,
        crate::extract::EXTRACTOR_VERSION
    );
    b.statement_text = statement_text.to_owned();
}

fn raised(verdict: Verdict, run: &RunId, now: DateTime<Utc>) -> Flag {
    Flag {
        since_run: run.clone(),
        since: now,
        verdict: Some(verdict),
        announced: false,
    }
}

/// This run's verdict on a baseline's cite: a flagged verdict raises a flag unless one is
/// outstanding, an unflagged one clears it. Flags persist until acked or back to baseline
/// wording. Returns whether a flag was newly raised (`new` in the report).
///
/// A flag raised while the source was unreachable does not cover what is found once it is
/// back: a changed or removed passage is news, and raises the flag again.
pub fn apply_verdict(b: &mut Baseline, verdict: Verdict, run: &RunId, now: DateTime<Utc>) -> bool {
    if !verdict.flagged() {
        b.flag = None;
        return false;
    }
    let raised_by_outage = b.flag.as_ref().is_some_and(|f| {
        f.verdict == Some(Verdict::SourceUnreachable) && verdict != Verdict::SourceUnreachable
    });
    if b.flag.is_none() || raised_by_outage {
        b.flag = Some(raised(verdict, run, now));
        return true;
    }
    false
}

/// [`apply_verdict`] on the baseline under `key`; without one, a flagged verdict records
/// [`unreachable_first_sight`] for `source` (none when the cite names no source). Returns
/// whether a flag was newly raised.
#[allow(clippy::too_many_arguments)]
pub fn record_verdict(
    baselines: &mut Baselines,
    key: &BaselineKey,
    statement: &Statement,
    cite: CiteNo,
    source: Option<SourceKey>,
    verdict: Verdict,
    run: &RunId,
    now: DateTime<Utc>,
) -> bool {
    if let Some(b) = baselines.get_mut(key) {
        return apply_verdict(b, verdict, run, now);
    }
    match source {
        Some(source) if verdict.flagged() => {
            let b = unreachable_first_sight(statement, cite, source, verdict, run, now);
            baselines.insert(key.clone(), b);
            true
        }
        _ => false,
    }
}

/// A person accepts `version` of `source` for the baseline under `key`: the baseline moves
/// there (passages `located` again), its flag is cleared, and the returned [`Ack`] records
/// who, when, from which version and which flag.
pub fn ack(
    b: &mut Baseline,
    key: &BaselineKey,
    (source, version, located): (SourceKey, TextHash, Located),
    statement_text: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Ack {
    let record = Ack {
        baseline: key.clone(),
        by: by.to_owned(),
        at: now,
        version: version.clone(),
        previous: Some(b.version.clone()).filter(|v| !v.is_empty()),
        cleared_verdict: b.flag.as_ref().and_then(|f| f.verdict),
        cleared_since_run: b.flag.as_ref().map(|f| f.since_run.clone()),
    };
    b.version = version;
    b.source = source;
    b.anchors = located.anchors;
    b.missing_quotes = located.missing_quotes;
    b.unfound_quotes = located.unfound_quotes;
    b.candidate = located.candidate;
    b.set_at = now;
    b.set_by = format!("ack by {by}");
    b.statement_text = statement_text.to_owned();
    b.flag = None;
    record
}

/// Whether `ack` should move this baseline: `--all` and `--article` only touch flagged
/// statements; statements named one by one always move.
pub fn ack_wanted(b: &Baseline, named: bool) -> bool {
    named || b.flag.is_some()
}

/// Drops the baselines of statements (or cites) the checked `articles` no longer have: a
/// reworded statement has a new id, and its old baseline would pin old versions forever.
/// `baselines` must hold only these articles' baselines (as a run loads them).
pub fn retain_live(baselines: &mut Baselines, articles: &[&Article]) {
    let live: HashSet<BaselineKey> = articles
        .iter()
        .flat_map(|a| {
            a.statements
                .iter()
                .flat_map(|st| st.cites.iter().map(|&c| BaselineKey::new(&st.id, c)))
        })
        .collect();
    baselines.retain(|k, _| live.contains(k));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watchlist::StatementId;

    fn statement(text: &str) -> Statement {
        Statement {
            id: StatementId("a:1".into()),
            text: text.into(),
            cites: vec![CiteNo(1)],
            quotes: vec![],
            line: None,
        }
    }

    fn located(passage: &str) -> Located {
        Located {
            anchors: vec![Anchor {
                passage: passage.into(),
                quote: false,
                score: 1.0,
                part: 0,
            }],
            missing_quotes: vec![],
            unfound_quotes: vec!["plain".into()],
            candidate: None,
        }
    }

    fn t(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + n, 0).unwrap()
    }

    fn src() -> SourceKey {
        SourceKey::new("http://a/", "")
    }

    fn base() -> Baseline {
        first_seen(
            &statement("A claim."),
            CiteNo(1),
            src(),
            TextHash("v1".into()),
            located("p"),
            t(0),
        )
    }

    #[test]
    fn an_archive_baseline_says_so_until_acked() {
        let st = statement("A claim.");
        let mut b = first_seen_in_archive(
            &st,
            CiteNo(1),
            src(),
            (TextHash("v0".into()), "http://arch/web/20251120000000/http://a/"),
            located("p"),
            t(0),
        );
        assert!(from_archive(&b), "{}", b.set_by);
        assert_eq!(b.anchors[0].passage, "p");
        rebase(&mut b, TextHash("v1".into()), located("p"), "A claim.");
        assert!(from_archive(&b), "still the archive's page after a re-extraction");
        let key = BaselineKey::new(&st.id, CiteNo(1));
        ack(
            &mut b,
            &key,
            (src(), TextHash("v2".into()), located("p")),
            "A claim.",
            "me",
            t(1),
        );
        assert!(!from_archive(&b));
        assert!(!from_archive(&base()));
    }

    #[test]
    fn first_sight_records_the_passages_and_no_flag() {
        let b = base();
        assert_eq!(b.version.as_str(), "v1");
        assert_eq!(b.anchors[0].passage, "p");
        assert_eq!(b.unfound_quotes, ["plain"]);
        assert_eq!((b.set_by.as_str(), b.set_at), (FIRST_SEEN, t(0)));
        assert_eq!(b.statement_text, "A claim.");
        assert!(b.flag.is_none());
    }

    #[test]
    fn a_baseline_stands_until_its_source_statement_or_version_changes() {
        let b = base();
        let st = statement("A claim.");
        assert_eq!(
            current(Some(&b), &src(), &st).map(|(v, _)| v.0),
            Some("v1".into())
        );
        assert!(current(None, &src(), &st).is_none(), "first sight");
        assert!(
            current(Some(&b), &SourceKey::new("http://b/", ""), &st).is_none(),
            "other URL"
        );
        assert!(
            current(Some(&b), &SourceKey::new("http://a/", "f"), &st).is_none(),
            "other rules"
        );
        assert!(
            current(Some(&b), &src(), &statement("Reworded.")).is_none(),
            "reworded"
        );
        let mut never = base();
        never.version = TextHash::default();
        assert!(current(Some(&never), &src(), &st).is_none(), "never reached");
        // Baselines stored before the statement text was recorded still stand.
        let mut old = base();
        old.statement_text.clear();
        assert!(current(Some(&old), &src(), &statement("Reworded.")).is_some());
    }

    #[test]
    fn a_flag_is_new_once_and_cleared_when_the_passage_is_back() {
        let mut b = base();
        let (r1, r2) = (RunId("r1".into()), RunId("r2".into()));
        assert!(!apply_verdict(&mut b, Verdict::Unchanged, &r1, t(1)));
        assert!(b.flag.is_none());
        assert!(apply_verdict(&mut b, Verdict::EvidenceChanged, &r1, t(1)));
        assert!(
            !apply_verdict(&mut b, Verdict::EvidenceRemoved, &r2, t(2)),
            "outstanding"
        );
        let f = b.flag.clone().unwrap();
        assert_eq!(
            (f.since_run, f.since, f.verdict),
            (r1, t(1), Some(Verdict::EvidenceChanged))
        );
        assert!(!apply_verdict(&mut b, Verdict::SourceChangedElsewhere, &r2, t(2)));
        assert!(b.flag.is_none(), "back to baseline wording");
    }

    #[test]
    fn a_flag_raised_by_an_outage_is_raised_again_by_what_is_found_after_it() {
        let mut b = base();
        let (r1, r2, r3) = (RunId("r1".into()), RunId("r2".into()), RunId("r3".into()));
        assert!(apply_verdict(&mut b, Verdict::SourceUnreachable, &r1, t(1)));
        assert!(!apply_verdict(&mut b, Verdict::SourceUnreachable, &r2, t(2)));
        assert!(apply_verdict(&mut b, Verdict::EvidenceRemoved, &r3, t(3)));
        let f = b.flag.unwrap();
        assert_eq!((f.since_run, f.verdict), (r3, Some(Verdict::EvidenceRemoved)));
    }

    #[test]
    fn an_unreachable_first_sight_is_remembered_as_an_outstanding_flag() {
        let mut all = Baselines::new();
        let st = statement("A claim.");
        let key = BaselineKey::new(&st.id, CiteNo(1));
        let r1 = RunId("r1".into());
        let v = Verdict::SourceUnreachable;
        assert!(
            !record_verdict(&mut all, &key, &st, CiteNo(1), None, v, &r1, t(1)),
            "no source"
        );
        assert!(all.is_empty());
        assert!(!record_verdict(
            &mut all,
            &key,
            &st,
            CiteNo(1),
            Some(src()),
            Verdict::Baseline,
            &r1,
            t(1)
        ));
        assert!(all.is_empty(), "nothing to remember");
        assert!(record_verdict(
            &mut all,
            &key,
            &st,
            CiteNo(1),
            Some(src()),
            v,
            &r1,
            t(1)
        ));
        let b = &all[&key];
        assert!(b.version.is_empty() && b.anchors.is_empty());
        assert_eq!(b.flag.as_ref().unwrap().verdict, Some(v));
        assert!(
            current(Some(b), &src(), &st).is_none(),
            "taken when the source is back"
        );
        let r2 = RunId("r2".into());
        assert!(!record_verdict(
            &mut all,
            &key,
            &st,
            CiteNo(1),
            Some(src()),
            v,
            &r2,
            t(2)
        ));
    }

    #[test]
    fn a_rebase_moves_the_version_and_keeps_the_snapshot_and_flag() {
        let mut b = base();
        apply_verdict(&mut b, Verdict::EvidenceChanged, &RunId("r1".into()), t(1));
        rebase(&mut b, TextHash("v1b".into()), located("q"), "A claim.");
        assert_eq!((b.version.as_str(), b.anchors[0].passage.as_str()), ("v1b", "q"));
        assert_eq!(b.set_at, t(0));
        assert_eq!(
            b.set_by,
            format!("first-seen; re-extracted ({})", crate::extract::EXTRACTOR_VERSION)
        );
        assert!(b.flag.is_some());
    }

    #[test]
    fn an_ack_moves_the_baseline_clears_the_flag_and_says_what_it_cleared() {
        let mut b = base();
        let key = BaselineKey("a:1#1".into());
        apply_verdict(&mut b, Verdict::EvidenceRemoved, &RunId("r1".into()), t(1));
        assert!(ack_wanted(&b, false));
        let to = (
            SourceKey::new("http://a/", "f"),
            TextHash("v2".into()),
            located("new"),
        );
        let a = ack(&mut b, &key, to, "A claim, reworded.", "ed", t(5));
        assert_eq!(a.baseline, key);
        assert_eq!((a.by.as_str(), a.at, a.version.as_str()), ("ed", t(5), "v2"));
        assert_eq!(a.previous.as_ref().map(TextHash::as_str), Some("v1"));
        assert_eq!(a.cleared_verdict, Some(Verdict::EvidenceRemoved));
        assert_eq!(a.cleared_since_run, Some(RunId("r1".into())));
        assert!(b.flag.is_none());
        assert_eq!(
            (b.version.as_str(), b.source.as_str()),
            ("v2", "http://a/#rules=f")
        );
        assert_eq!((b.set_by.as_str(), b.set_at), ("ack by ed", t(5)));
        assert_eq!(b.statement_text, "A claim, reworded.");
        assert!(!ack_wanted(&b, false), "nothing flagged any more");
        assert!(ack_wanted(&b, true), "named statements always move");
        // An ack of a baseline never reached records no previous version.
        let mut never = unreachable_first_sight(
            &statement("A claim."),
            CiteNo(1),
            src(),
            Verdict::SourceUnreachable,
            &RunId("r1".into()),
            t(1),
        );
        let a = ack(
            &mut never,
            &key,
            (src(), TextHash("v3".into()), located("x")),
            "A claim.",
            "ed",
            t(6),
        );
        assert_eq!(a.previous, None);
        assert_eq!(a.cleared_verdict, Some(Verdict::SourceUnreachable));
    }

    #[test]
    fn baselines_of_gone_statements_and_cites_are_dropped() {
        let st = statement("A claim.");
        let article = Article {
            id: crate::watchlist::ArticleId("a".into()),
            title: String::new(),
            checked: None,
            schedule: None,
            file: "a.toml".into(),
            statements: vec![st],
            sources: vec![],
            unmarked_sentences: 0,
        };
        let mut all = Baselines::new();
        for key in ["a:1#1", "a:1#2", "a:2#1"] {
            all.insert(BaselineKey(key.into()), base());
        }
        retain_live(&mut all, &[&article]);
        assert_eq!(all.keys().map(BaselineKey::as_str).collect::<Vec<_>>(), ["a:1#1"]);
    }
}
