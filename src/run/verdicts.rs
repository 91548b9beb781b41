//! The record step, for statements: each statement × cite's outcome moves its baseline and
//! flag (the rules are [`crate::record`]'s) and becomes its evidence line of the report; a
//! statement takes the worst verdict of its cites.

use chrono::{DateTime, Utc};

use crate::evidence::{self, Verdict};
use crate::ids::{BaselineKey, RunId, source_key_of};
use crate::record::{self, Baselines};
use crate::report::{EvidenceReport, StatementReport};
use crate::snapshot::Baseline;
use crate::watchlist::{Article, Statement};

use super::books::{Books, Failure};
use super::judge::EvOutcome;

/// Who and when, for the flags and baselines this run sets.
pub(super) struct Stamp<'a> {
    pub(super) run: &'a RunId,
    pub(super) now: DateTime<Utc>,
}

/// Judges every statement of `articles` against each cited source's baseline, recording new
/// baselines, rebases and flags in `baselines`.
pub(super) fn judge_statements(
    articles: &[&Article],
    baselines: &mut Baselines,
    books: &mut Books,
    stamp: &Stamp<'_>,
) -> Vec<StatementReport> {
    let mut statements = Vec::new();
    for a in articles {
        for st in &a.statements {
            let mut per_cite: Vec<EvidenceReport> = st
                .cites
                .iter()
                .filter_map(|&cite| judge_cite(a, st, cite, baselines, books, stamp.now))
                .collect();
            plain_quotes_missing(st, baselines, &mut per_cite);
            let status = per_cite
                .iter()
                .map(|e| e.status)
                .max()
                .unwrap_or(Verdict::Baseline);
            let flagged = status.flagged();
            let raised = raise_flags(a, st, &per_cite, baselines, stamp);
            // New until a message naming it is queued (`Flag::announced`).
            let new = raised
                || st.cites.iter().any(|&c| {
                    baselines
                        .get(&BaselineKey::new(&st.id, c))
                        .and_then(|b| b.flag.as_ref())
                        .is_some_and(|f| !f.announced)
                });
            statements.push(StatementReport {
                id: st.id.to_string(),
                article: a.id.to_string(),
                text: st.text.clone(),
                cites: st.cites.iter().map(|c| c.0).collect(),
                status,
                flagged,
                new: flagged && new,
                evidence: per_cite,
            });
        }
    }
    statements
}

/// One statement × cite: its outcome recorded in its baseline, and its line of the report.
fn judge_cite(
    a: &Article,
    st: &Statement,
    cite: crate::watchlist::CiteNo,
    baselines: &mut Baselines,
    books: &mut Books,
    now: DateTime<Utc>,
) -> Option<EvidenceReport> {
    let src = a.source(cite)?;
    let key = source_key_of(src);
    let bkey = BaselineKey::new(&st.id, cite);
    let mut rep = EvidenceReport::new(cite.0, src.url.to_string(), Verdict::Baseline);
    if let Some(ab) = books.archive_bases.remove(&bkey) {
        // The first baseline is the archive's capture as of the checked date (the outcome
        // was judged against it); a flag an earlier run raised while the source was
        // unreachable stays outstanding.
        let flag = baselines.get(&bkey).and_then(|b| b.flag.clone());
        let mut b =
            record::first_seen_in_archive(st, cite, key.clone(), (ab.version, &ab.capture), ab.located, now);
        b.flag = flag;
        baselines.insert(bkey.clone(), b);
    }
    let outcome = books.evidence.remove(&bkey);
    match (books.failures.get(&key), outcome) {
        (Some(err), _) => unreachable_line(&mut rep, err, baselines.get(&bkey)),
        (None, None) => {
            rep.status = Verdict::SourceUnreachable;
            rep.note = Some("no snapshot of this source yet".into());
        }
        (None, Some((version, EvOutcome::Located(loc)))) => {
            rep.status = Verdict::Baseline;
            rep.note = baseline_note(&loc);
            rep.before = loc.anchors.first().map(|a| a.passage.clone());
            baselines.insert(bkey.clone(), record::first_seen(st, cite, key, version, loc, now));
        }
        (
            None,
            Some((
                _,
                EvOutcome::Rebased {
                    version,
                    located,
                    judgement,
                },
            )),
        ) => {
            judged_lines(&mut rep, judgement);
            rep.note = baseline_note(&located);
            if let Some(b) = baselines.get_mut(&bkey) {
                record::rebase(b, version, located, &st.text);
            }
        }
        (None, Some((_, EvOutcome::Judged(j)))) => {
            judged_lines(&mut rep, j);
            if let Some(b) = baselines.get(&bkey) {
                rep.note = judged_note(b, rep.status).or(rep.note);
            }
        }
    }
    held_by_baseline(&mut rep, baselines.get(&bkey));
    Some(rep)
}

/// The line of a pair whose source could not be read this run: while a transient failure
/// waits (`[fetch] fail_after`) the previous verdict stands, flag or none; then the source is
/// unreachable. The passage last seen is shown.
fn unreachable_line(rep: &mut EvidenceReport, err: &Failure, baseline: Option<&Baseline>) {
    let held = baseline.filter(|b| !b.version.is_empty() || b.flag.is_some());
    rep.status = match err.waiting {
        Some(_) => held.map_or(Verdict::Baseline, |b| {
            b.flag.as_ref().map_or(Verdict::Unchanged, |f| {
                f.verdict.unwrap_or(Verdict::SourceUnreachable)
            })
        }),
        None => Verdict::SourceUnreachable,
    };
    rep.note = Some(match err.waiting {
        Some((n, of)) => format!(
            "failing {n} of {of}: {}; flagged if it still fails on run {of}",
            err.note
        ),
        None => err.note.clone(),
    });
    if let Some(b) = baseline {
        rep.before = b.anchors.first().map(|a| a.passage.clone());
    }
}

fn judged_lines(rep: &mut EvidenceReport, j: evidence::Judgement) {
    rep.status = j.verdict;
    rep.before = j.before;
    rep.after = j.after;
    rep.facts = j.facts;
}

/// What a judged pair's baseline lacks, for a person.
fn judged_note(b: &crate::snapshot::Baseline, status: Verdict) -> Option<String> {
    if !b.missing_quotes.is_empty() {
        return Some(format!(
            "evidence quote not found in the source: {}",
            quote_list(&b.missing_quotes)
        ));
    }
    b.anchors.is_empty().then(|| match status {
        Verdict::SourceChanged => {
            "no evidence located at baseline, and the change touches this statement's words".into()
        }
        _ => "no evidence located at baseline: add an `evidence` quote".into(),
    })
}

/// What the baseline holds for this pair, as it stands after this run.
fn held_by_baseline(rep: &mut EvidenceReport, b: Option<&crate::snapshot::Baseline>) {
    let Some(b) = b.filter(|b| !b.version.is_empty()) else {
        return;
    };
    rep.anchored = !b.anchors.is_empty();
    rep.candidate = if rep.anchored { None } else { b.candidate.clone() };
    rep.missing_quotes = b.missing_quotes.clone();
    if rep.before.is_none() && !rep.status.flagged() {
        rep.before = b.anchors.first().map(|a| a.passage.clone());
    }
}

/// A plain quote is missing only when no cited source has it.
fn plain_quotes_missing(st: &Statement, baselines: &Baselines, per_cite: &mut [EvidenceReport]) {
    for q in st.quotes.iter().filter(|q| q.cite.is_none()) {
        let nowhere = st.cites.iter().all(|&c| {
            baselines
                .get(&BaselineKey::new(&st.id, c))
                .is_some_and(|b| !b.version.is_empty() && b.unfound_quotes.contains(&q.text))
        });
        if !nowhere {
            continue;
        }
        for rep in per_cite.iter_mut() {
            rep.missing_quotes.push(q.text.clone());
            if rep.note.is_none() {
                rep.note = Some(format!(
                    "evidence quote not found in any cited source: {}",
                    quote_list(std::slice::from_ref(&q.text))
                ));
            }
        }
    }
}

/// Raises and clears the statement's flags ([`record::record_verdict`]); true when one is
/// new this run.
fn raise_flags(
    a: &Article,
    st: &Statement,
    per_cite: &[EvidenceReport],
    baselines: &mut Baselines,
    stamp: &Stamp<'_>,
) -> bool {
    let mut new = false;
    for e in per_cite {
        let cite = crate::watchlist::CiteNo(e.cite);
        let bkey = BaselineKey::new(&st.id, cite);
        let source = a.source(cite).map(source_key_of);
        new |= record::record_verdict(baselines, &bkey, st, cite, source, e.status, stamp.run, stamp.now);
    }
    new
}

/// Quotes as a person reads them: `"a", "b"`.
fn quote_list(quotes: &[String]) -> String {
    quotes
        .iter()
        .map(|q| format!("\u{201c}{q}\u{201d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn baseline_note(loc: &evidence::Located) -> Option<String> {
    if !loc.missing_quotes.is_empty() {
        Some(format!(
            "evidence quote not found in the source: {}",
            quote_list(&loc.missing_quotes)
        ))
    } else if loc.anchors.is_empty() {
        Some("no evidence located: add an `evidence` quote".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Located;
    use crate::ids::TextHash;
    use crate::watchlist::{CiteNo, Watchlist};

    fn article() -> Article {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("a.toml"),
            "title = \"A\"\narticle = \"\"\"\nTroops numbered 600 [1].\n\"\"\"\n[[source]]\ncite = 1\nurl = \"http://one.test/p\"\n",
        )
        .unwrap();
        let (wl, _) = Watchlist::load_dir(d.path());
        wl.articles.into_iter().next().unwrap()
    }

    fn located(passage: Option<&str>) -> Located {
        Located {
            anchors: passage
                .map(|p| evidence::Anchor {
                    passage: p.into(),
                    quote: false,
                    score: 1.0,
                    part: 0,
                })
                .into_iter()
                .collect(),
            missing_quotes: vec![],
            unfound_quotes: vec![],
            candidate: Some("closest".into()),
        }
    }

    #[test]
    fn a_transient_failure_short_of_fail_after_keeps_the_previous_verdict() {
        let a = article();
        let st = &a.statements[0];
        let bkey = BaselineKey::new(&st.id, CiteNo(1));
        let src = source_key_of(a.source(CiteNo(1)).unwrap());
        let r1 = RunId("r1".into());
        let stamp = Stamp {
            run: &r1,
            now: Utc::now(),
        };
        let mut baselines = Baselines::new();
        let mut books = Books::default();
        books.evidence.insert(
            bkey.clone(),
            (
                TextHash("v1".into()),
                EvOutcome::Located(located(Some("Troops numbered 600."))),
            ),
        );
        judge_statements(&[&a], &mut baselines, &mut books, &stamp);
        let waiting = |n| {
            let mut books = Books::default();
            books.failures.insert(
                src.clone(),
                super::super::books::Failure {
                    note: "HTTP 503".into(),
                    waiting: Some((n, 2)),
                },
            );
            books
        };
        let reports = judge_statements(&[&a], &mut baselines, &mut waiting(1), &stamp);
        assert_eq!(reports[0].status, Verdict::Unchanged);
        assert!(!reports[0].flagged);
        let note = reports[0].evidence[0].note.as_deref().unwrap();
        assert!(note.starts_with("failing 1 of 2: HTTP 503"), "{note}");
        assert!(baselines[&bkey].flag.is_none());
        // An outstanding flag stays, not new.
        baselines.get_mut(&bkey).unwrap().flag = Some(crate::snapshot::Flag {
            since_run: RunId("r0".into()),
            since: Utc::now(),
            verdict: Some(Verdict::EvidenceChanged),
            announced: true,
        });
        let reports = judge_statements(&[&a], &mut baselines, &mut waiting(1), &stamp);
        assert_eq!(reports[0].status, Verdict::EvidenceChanged);
        assert!(reports[0].flagged && !reports[0].new);
        assert_eq!(baselines[&bkey].flag.as_ref().unwrap().since_run.0, "r0");
    }

    #[test]
    fn an_unreachable_source_flags_once_then_a_first_sight_takes_the_baseline() {
        let a = article();
        let st = &a.statements[0];
        let bkey = BaselineKey::new(&st.id, CiteNo(1));
        let src = source_key_of(a.source(CiteNo(1)).unwrap());
        let mut baselines = Baselines::new();
        let r1 = RunId("r1".into());
        let stamp = Stamp {
            run: &r1,
            now: Utc::now(),
        };
        let mut books = Books::default();
        books.failures.insert(
            src.clone(),
            super::super::books::Failure {
                note: "timed out".into(),
                waiting: None,
            },
        );
        let reports = judge_statements(&[&a], &mut baselines, &mut books, &stamp);
        assert_eq!(reports[0].status, Verdict::SourceUnreachable);
        assert!(reports[0].flagged && reports[0].new);
        assert_eq!(reports[0].evidence[0].note.as_deref(), Some("timed out"));
        assert!(baselines[&bkey].version.is_empty() && baselines[&bkey].flag.is_some());
        // Still down, its message not queued yet: still new.
        let reports = judge_statements(&[&a], &mut baselines, &mut books, &stamp);
        assert!(reports[0].flagged && reports[0].new);
        // Once announced: outstanding, not new.
        baselines.get_mut(&bkey).unwrap().flag.as_mut().unwrap().announced = true;
        let reports = judge_statements(&[&a], &mut baselines, &mut books, &stamp);
        assert!(reports[0].flagged && !reports[0].new);
        // Back: a first sight (the plan found no current baseline) clears the flag.
        let mut books = Books::default();
        let v = TextHash("v1".into());
        books.evidence.insert(
            bkey.clone(),
            (
                v.clone(),
                EvOutcome::Located(located(Some("Troops numbered 600."))),
            ),
        );
        let reports = judge_statements(&[&a], &mut baselines, &mut books, &stamp);
        assert_eq!(reports[0].status, Verdict::Baseline);
        assert!(!reports[0].flagged);
        let e = &reports[0].evidence[0];
        assert!(e.anchored && e.candidate.is_none() && e.note.is_none());
        assert_eq!(e.before.as_deref(), Some("Troops numbered 600."));
        assert_eq!(
            (baselines[&bkey].version.clone(), baselines[&bkey].flag.clone()),
            (v, None)
        );
    }

    #[test]
    fn notes_say_what_a_baseline_lacks() {
        let a = article();
        let st = &a.statements[0];
        let src = source_key_of(a.source(CiteNo(1)).unwrap());
        let mut b = crate::record::first_seen(
            st,
            CiteNo(1),
            src,
            TextHash("v".into()),
            located(None),
            Utc::now(),
        );
        assert!(
            judged_note(&b, Verdict::SourceChanged)
                .unwrap()
                .contains("touches this statement's words")
        );
        assert!(
            judged_note(&b, Verdict::Unchanged)
                .unwrap()
                .contains("add an `evidence` quote")
        );
        b.missing_quotes = vec!["q".into()];
        assert_eq!(
            judged_note(&b, Verdict::Unchanged).as_deref(),
            Some("evidence quote not found in the source: \u{201c}q\u{201d}")
        );
        let mut rep = EvidenceReport::new(1, String::new(), Verdict::Unchanged);
        held_by_baseline(&mut rep, Some(&b));
        assert_eq!((rep.anchored, rep.candidate.as_deref()), (false, Some("closest")));
        assert_eq!(rep.missing_quotes, ["q"]);
    }
}
