//! [`RunReport`] → `reports/<run-id>/report.{json,md,html}` and the text summary printed by
//! `check`. Every piece of source text is escaped where it is rendered as HTML.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diff::marked_text;
use crate::evidence::{FactChange, Verdict};

pub mod html;
pub mod rows;

/// How many unanchored pairs the text summary and the email list in full.
pub const TEXT_LISTED: usize = 20;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// `check`, `trigger`, `POST /recheck`, the page's button.
    Manual,
    /// The daemon's schedule.
    Schedule,
}

/// Everything a run found; the JSON form is `report.json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RunReport {
    /// Sortable id: `YYYYMMDDTHHMMSSZ-mmmr` (millisecond and a random digit, in hex).
    pub run_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// Start time.
    pub started_at: DateTime<Utc>,
    /// End time.
    pub finished_at: DateTime<Utc>,
    /// Counts.
    pub summary: Summary,
    /// One entry per statement of the checked articles; when [`RunReport::rows`] is set,
    /// only those the report shows on their own (flagged, or with a pair without a
    /// passage): [`RunReport::all_statements`] gives every one.
    pub statements: Vec<StatementReport>,
    /// One entry per distinct URL; when [`RunReport::rows`] is set, only the failed ones:
    /// [`RunReport::all_sources`] gives every one.
    pub sources: Vec<SourceReport>,
    /// Article titles by id, for rendering.
    #[serde(default)]
    pub articles: Vec<ArticleInfo>,
    /// What became of the run's email (sent, queued in the outbox, refused, written as
    /// `.eml`, or none); set after delivery was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Set in the page summary (`page.json`, [`RunReport::page_summary`]) only: the counts of
    /// the whole run, as its statements there are cut to what the page shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageCounts>,
    /// The run's number in its store (1 for the first committed run): runs are ordered by
    /// it, not by their ids' clock times, so a clock set wrong for a while cannot put an old
    /// run first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// How this run is shown to people (time zone, the page's address); not part of the JSON.
    #[serde(skip)]
    pub view: View,
    /// A run's full lists on disk ([`rows`]), the report of a run as it is written; `None`
    /// when `statements` and `sources` hold every entry (a report read back, a page summary).
    /// Serialized in place of `statements` and `sources`.
    #[serde(skip)]
    pub rows: Option<rows::Rows>,
}

impl Serialize for RunReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// `report.json`'s fields, in order, the lists read from the rows where they are.
        #[derive(Serialize)]
        struct Json<'a> {
            run_id: &'a str,
            trigger: Trigger,
            started_at: DateTime<Utc>,
            finished_at: DateTime<Utc>,
            summary: &'a Summary,
            statements: List<'a>,
            sources: List<'a>,
            articles: &'a [ArticleInfo],
            #[serde(skip_serializing_if = "Option::is_none")]
            mail: Option<&'a String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            page: Option<&'a PageCounts>,
            #[serde(skip_serializing_if = "Option::is_none")]
            seq: Option<u64>,
        }
        Json {
            run_id: &self.run_id,
            trigger: self.trigger,
            started_at: self.started_at,
            finished_at: self.finished_at,
            summary: &self.summary,
            statements: List(self, false),
            sources: List(self, true),
            articles: &self.articles,
            mail: self.mail.as_ref(),
            page: self.page.as_ref(),
            seq: self.seq,
        }
        .serialize(serializer)
    }
}

/// Every statement (`false`) or source (`true`) of a report, for its JSON.
struct List<'a>(&'a RunReport, bool);

impl Serialize for List<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = serializer.serialize_seq(None)?;
        if self.1 {
            for s in self.0.all_sources() {
                seq.serialize_element(&*s)?;
            }
        } else {
            for s in self.0.all_statements() {
                seq.serialize_element(&*s)?;
            }
        }
        if let Some(e) = self.0.rows_error() {
            return Err(S::Error::custom(e));
        }
        seq.end()
    }
}

/// How reports, mail and the page show a run: times in the desk's time zone (`[report]
/// timezone`), the report's address on the page (`[control] public_url`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// The time zone (UTC when none).
    pub tz: Option<chrono_tz::Tz>,
    /// The page's public address, without a trailing `/`.
    pub public_url: Option<String>,
}

impl View {
    /// The view the settings ask for.
    pub fn of(settings: &crate::settings::Settings) -> View {
        View {
            tz: settings.report.tz(),
            public_url: settings
                .control
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        }
    }

    /// A time to the second, in the desk's zone, with the zone's abbreviation
    /// (`2026-12-02 18:42:07 CET`).
    pub fn time(&self, t: DateTime<Utc>) -> String {
        match self.tz {
            Some(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            None => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }

    /// The address of a run's HTML report on the page, when the page's address is known.
    pub fn report_url(&self, run_id: &str) -> Option<String> {
        self.public_url.as_ref().map(|u| format!("{u}/reports/{run_id}"))
    }
}

/// The whole run's counts behind a page summary, per article.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PageCounts {
    /// Flagged statements per article (the summary keeps at most [`PAGE_FLAGGED`]).
    pub flagged: BTreeMap<String, usize>,
    /// Statement × source pairs without a passage per article (at most [`PAGE_UNANCHORED`]
    /// kept).
    pub unanchored: BTreeMap<String, usize>,
    /// Statement × source pairs with a baseline per article.
    pub pairs: BTreeMap<String, usize>,
}

/// The most flagged statements a page summary keeps.
pub const PAGE_FLAGGED: usize = 200;
/// The most statements with unanchored pairs a page summary keeps.
pub const PAGE_UNANCHORED: usize = 50;

/// An article's id and title.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArticleInfo {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Statements judged.
    pub statements: usize,
    /// Statements flagged (new or outstanding).
    pub flagged: usize,
    /// Statements flagged for the first time in this run.
    pub new_flags: usize,
    /// Distinct URLs fetched.
    pub sources: usize,
    /// Sources whose text changed.
    pub sources_changed: usize,
    /// Sources that could not be fetched.
    pub sources_failed: usize,
}

/// The verdict for one statement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatementReport {
    /// Stable statement id.
    pub id: String,
    /// Article id.
    pub article: String,
    /// Statement text.
    pub text: String,
    /// Cited sources.
    pub cites: Vec<u32>,
    /// The most severe verdict over its cites.
    pub status: Verdict,
    /// Whether a person should re-check it.
    pub flagged: bool,
    /// Whether the flag was raised in this run (false for flags still outstanding).
    pub new: bool,
    /// Per cited source.
    pub evidence: Vec<EvidenceReport>,
}

/// The verdict for one statement and one cited source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvidenceReport {
    /// Cite number.
    pub cite: u32,
    /// Source URL.
    pub url: String,
    /// Verdict for this source.
    pub status: Verdict,
    /// Baseline passage.
    pub before: Option<String>,
    /// Passage now.
    pub after: Option<String>,
    /// Facts that changed (`600 → 350`).
    #[serde(default)]
    pub facts: Vec<FactChange>,
    /// Anything else worth saying (fetch error, quotes not found, no evidence located).
    #[serde(default)]
    pub note: Option<String>,
    /// Whether a passage of this source backing the statement was located at baseline.
    #[serde(default)]
    pub anchored: bool,
    /// Not anchored: the source's closest sentence, for a person to paste as a quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// `evidence` quotes not found (for this cite, or plain ones in no cited source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_quotes: Vec<String>,
    /// Where the baseline came from: the live page, or a web archive's capture as of the
    /// article's `checked` date (`[archive] baseline = "checked"`).
    #[serde(default)]
    pub baseline_from: BaselineFrom,
    /// The URL of an archived copy of the baseline version, when one is known (the capture
    /// the baseline was taken from, or one made when that version was first seen).
    #[serde(default)]
    pub archived: Option<String>,
}

/// Where a baseline came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineFrom {
    /// The live page, as fetched by citewatch.
    #[default]
    Live,
    /// A web archive's capture.
    Archive,
}

/// The fetch result for one distinct URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceReport {
    /// URL as in the watchlist.
    pub url: String,
    /// URL after redirects.
    pub final_url: Option<String>,
    /// HTTP status of the last response.
    pub http_status: Option<u16>,
    /// `new`, `unchanged`, `changed` or `error`.
    pub outcome: SourceOutcome,
    /// The failure, for `error`.
    pub error: Option<String>,
    /// The kind of failure, for `error` (null when the fetch was fine): `http_status`,
    /// `not_found`, `soft_404`, `blocked`, `timeout`, `network`, `too_large`,
    /// `unsupported_type` or `render`.
    #[serde(default)]
    pub failure: Option<crate::fetch::FailureKind>,
    /// Whether the text was read from the page as a headless browser rendered it (false on
    /// a failed fetch).
    #[serde(default)]
    pub rendered: bool,
    /// The web archive's capture of this source made in this run (`[archive] save`), or null.
    #[serde(default)]
    pub archived: Option<String>,
}

/// What happened to a source's text in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceOutcome {
    /// First sight.
    New,
    /// Same text as the latest stored version.
    Unchanged,
    /// A new text version was stored.
    Changed,
    /// The fetch failed.
    Error,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
        })
    }
}

impl std::fmt::Display for SourceOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceOutcome::New => "new",
            SourceOutcome::Unchanged => "unchanged",
            SourceOutcome::Changed => "changed",
            SourceOutcome::Error => "error",
        })
    }
}

impl SourceReport {
    /// The outcome as the report tables show it: with the failure kind (`error (soft_404)`)
    /// or how the page was read (`changed (rendered)`).
    pub fn outcome_label(&self) -> String {
        match (self.failure, self.rendered) {
            (Some(k), _) => format!("{} ({k})", self.outcome),
            (None, true) => format!("{} (rendered)", self.outcome),
            (None, false) => self.outcome.to_string(),
        }
    }
}

impl EvidenceReport {
    /// The entry for one cite before anything is known of it: no passage, no note.
    pub fn new(cite: u32, url: String, status: Verdict) -> Self {
        Self {
            cite,
            url,
            status,
            before: None,
            after: None,
            facts: vec![],
            note: None,
            anchored: false,
            candidate: None,
            missing_quotes: vec![],
            baseline_from: BaselineFrom::Live,
            archived: None,
        }
    }

    /// Whether this pair needs a person: its baseline has no located passage, or an
    /// `evidence` quote was not found. A source never fetched has no baseline to judge.
    pub fn needs_quote(&self) -> bool {
        let has_baseline = self.anchored || self.status != Verdict::SourceUnreachable;
        has_baseline && (!self.anchored || !self.missing_quotes.is_empty())
    }

    /// What to tell a person about an unanchored pair, one line.
    pub fn unanchored_reason(&self) -> String {
        if self.missing_quotes.is_empty() {
            "no passage of this source was found for the statement".to_owned()
        } else {
            let q: Vec<String> = self.missing_quotes.iter().map(|q| format!("“{q}”")).collect();
            format!("evidence quote not found: {}", q.join(", "))
        }
    }

    /// The watchlist line that pins the candidate sentence as this cite's evidence.
    pub fn quote_hint(&self) -> Option<String> {
        let c = self.candidate.as_deref()?;
        let mut esc = String::with_capacity(c.len());
        for ch in c.chars() {
            match ch {
                '"' => esc.push_str("\\\""),
                '\\' => esc.push_str("\\\\"),
                c if c.is_control() => esc.push(' '),
                c => esc.push(c),
            }
        }
        Some(format!(
            "evidence = [{{cite = {}, quote = \"{esc}\"}}]",
            self.cite
        ))
    }
}

/// Counts of statement × source pairs by whether a passage backs them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnchorCounts {
    /// Pairs with a baseline (the source was fetched at least once).
    pub pairs: usize,
    /// Of those, pairs with a located passage and every quote found.
    pub anchored: usize,
    /// Pairs whose baseline was set in this run and need a quote.
    pub new_unanchored: usize,
}

impl RunReport {
    /// Every statement of the run, in article order: `statements`, or all of the rows.
    pub fn all_statements(&self) -> Box<dyn Iterator<Item = Cow<'_, StatementReport>> + '_> {
        match &self.rows {
            Some(r) => Box::new(r.statements().map(Cow::Owned)),
            None => Box::new(self.statements.iter().map(Cow::Borrowed)),
        }
    }

    /// Every source of the run: `sources`, or all of the rows.
    pub fn all_sources(&self) -> Box<dyn Iterator<Item = Cow<'_, SourceReport>> + '_> {
        match &self.rows {
            Some(r) => Box::new(r.sources().map(Cow::Owned)),
            None => Box::new(self.sources.iter().map(Cow::Borrowed)),
        }
    }

    /// Whether reading the rows back failed (a list was then cut short): writing the report
    /// fails with this.
    pub fn rows_error(&self) -> Option<String> {
        self.rows.as_ref().and_then(rows::Rows::error)
    }

    /// The pair counts of every statement: the run's and each article's.
    fn pair_counts(&self) -> (AnchorCounts, PageCounts) {
        let count = |all: &mut dyn Iterator<Item = Cow<'_, StatementReport>>| {
            let (mut c, mut page) = (AnchorCounts::default(), PageCounts::default());
            for st in all {
                let mut pairs = 0;
                let mut loose = 0;
                for e in &st.evidence {
                    if !e.anchored && e.status == Verdict::SourceUnreachable {
                        continue;
                    }
                    pairs += 1;
                    if e.needs_quote() {
                        loose += 1;
                        c.new_unanchored += usize::from(e.status == Verdict::Baseline);
                    } else {
                        c.anchored += 1;
                    }
                }
                c.pairs += pairs;
                *page.pairs.entry(st.article.clone()).or_default() += pairs;
                if loose > 0 {
                    *page.unanchored.entry(st.article.clone()).or_default() += loose;
                }
                if st.flagged {
                    *page.flagged.entry(st.article.clone()).or_default() += 1;
                }
            }
            (c, page)
        };
        match &self.rows {
            Some(r) => r.counts(|_| count(&mut self.all_statements())),
            None => count(&mut self.all_statements()),
        }
    }

    /// Statement × source pairs that need a quote ([`EvidenceReport::needs_quote`]), those
    /// whose baseline was set in this run first.
    pub fn unanchored(&self) -> Vec<(&StatementReport, &EvidenceReport)> {
        let mut v: Vec<_> = self
            .statements
            .iter()
            .flat_map(|s| s.evidence.iter().map(move |e| (s, e)))
            .filter(|(_, e)| e.needs_quote())
            .collect();
        v.sort_by_key(|(_, e)| e.status != Verdict::Baseline);
        v
    }

    /// How many pairs are anchored.
    pub fn anchor_counts(&self) -> AnchorCounts {
        self.pair_counts().0
    }
}

impl RunReport {
    /// Flagged statements, new flags first.
    pub fn flagged(&self) -> Vec<&StatementReport> {
        let mut v: Vec<_> = self.statements.iter().filter(|s| s.flagged).collect();
        // New first; then what a person acts on first: a changed figure, a changed
        // passage, a removed one, a page changed near the statement, an unreachable source.
        let rank = |s: &StatementReport| match s.status {
            Verdict::EvidenceChanged if s.evidence.iter().any(|e| !e.facts.is_empty()) => 0,
            Verdict::EvidenceChanged => 1,
            Verdict::EvidenceRemoved => 2,
            Verdict::SourceChanged => 3,
            _ => 4,
        };
        v.sort_by_key(|s| (!s.new, rank(s)));
        v
    }

    /// The title of an article, or its id.
    pub fn title_of<'a>(&'a self, article: &'a str) -> &'a str {
        self.articles
            .iter()
            .find(|a| a.id == article)
            .map_or(article, |a| a.title.as_str())
    }

    /// The folder of this run's report under `reports_dir`.
    pub fn dir(&self, reports_dir: &Path) -> PathBuf {
        reports_dir.join(&self.run_id)
    }

    /// Writes `report.json`, `report.md` and `report.html`; returns the folder.
    pub fn write(&self, reports_dir: &Path) -> anyhow::Result<PathBuf> {
        use crate::durable::Content;
        let dir = self.dir(reports_dir);
        // Each file is made while it is written: a run's report is the largest thing it holds
        // at the end, and its renderings need not sit in memory beside it.
        let json: Content<'_> = Box::new(|w| Ok(serde_json::to_writer_pretty(w, self)?));
        let page: Content<'_> = Box::new(|w| Ok(serde_json::to_writer(w, &self.page_summary())?));
        let md: Content<'_> = Box::new(|w| {
            let md = self.to_markdown();
            match self.rows_error() {
                Some(e) => Err(std::io::Error::other(e)),
                None => w.write_all(md.as_bytes()),
            }
        });
        let html: Content<'_> = Box::new(|w| html::write_report_page(self, w));
        crate::durable::atomic_write_streamed(
            &dir,
            vec![
                ("report.json", json),
                ("page.json", page),
                ("report.md", md),
                ("report.html", html),
            ],
        )?;
        Ok(dir)
    }

    /// What the daemon's page reads of this run (`page.json`): the counts, the mail line, and
    /// at most [`PAGE_FLAGGED`] flagged statements and [`PAGE_UNANCHORED`] statements with
    /// pairs without a passage; no sources. Its size is bounded whatever the run's, so the
    /// page costs what it shows.
    pub fn page_summary(&self) -> RunReport {
        let counts = self.pair_counts().1;
        let mut kept = Vec::new();
        let (mut flagged, mut unanchored) = (0, 0);
        // (With rows, `statements` holds every statement that is flagged or loose.)
        for st in &self.statements {
            let loose = st.evidence.iter().filter(|e| e.needs_quote()).count();
            let keep_flagged = st.flagged && flagged < PAGE_FLAGGED;
            let keep_loose = loose > 0 && unanchored < PAGE_UNANCHORED;
            flagged += usize::from(keep_flagged);
            unanchored += usize::from(keep_loose);
            if keep_flagged || keep_loose {
                kept.push(st.clone());
            }
        }
        RunReport {
            statements: kept,
            sources: Vec::new(),
            page: Some(counts),
            ..self.clone_head()
        }
    }

    /// The run without its statements and sources.
    fn clone_head(&self) -> RunReport {
        RunReport {
            run_id: self.run_id.clone(),
            trigger: self.trigger,
            started_at: self.started_at,
            finished_at: self.finished_at,
            summary: self.summary.clone(),
            statements: Vec::new(),
            sources: Vec::new(),
            articles: self.articles.clone(),
            mail: self.mail.clone(),
            page: self.page.clone(),
            seq: self.seq,
            view: self.view.clone(),
            rows: None,
        }
    }

    /// The short human summary `check` prints.
    pub fn to_text(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "run {}: {} statements, {} flagged ({} new); {} sources, {} changed, {} failed",
            self.run_id, s.statements, s.flagged, s.new_flags, s.sources, s.sources_changed, s.sources_failed
        );
        for st in self.flagged() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{} {} [{}] {}",
                if st.new { "NEW" } else { "still" },
                st.status.as_str(),
                st.article,
                st.id
            );
            let _ = writeln!(out, "  statement: {}", st.text);
            for e in st.evidence.iter().filter(|e| e.status.flagged()) {
                let _ = writeln!(out, "  [{}] {} — {}", e.cite, e.url, e.status.as_str());
                match (&e.before, &e.after) {
                    (Some(b), Some(a)) => {
                        let _ = writeln!(out, "    before: {b}");
                        let _ = writeln!(out, "    after:  {a}");
                        let _ = writeln!(out, "    diff:   {}", marked_text(b, a));
                    }
                    (Some(b), None) if e.status == Verdict::SourceUnreachable => {
                        let _ = writeln!(out, "    last seen: {b}");
                    }
                    (Some(b), None) => {
                        let _ = writeln!(out, "    before: {b}");
                        let _ = writeln!(out, "    after:  (gone)");
                    }
                    _ => {}
                }
                if !e.facts.is_empty() {
                    let f: Vec<String> = e.facts.iter().map(ToString::to_string).collect();
                    let _ = writeln!(out, "    facts:  {}", f.join("; "));
                }
                if let Some(n) = &e.note {
                    let _ = writeln!(out, "    note:   {n}");
                }
            }
        }
        for src in self.sources.iter().filter(|s| s.outcome == SourceOutcome::Error) {
            let _ = writeln!(
                out,
                "source failed: {} — {}{}",
                src.url,
                src.failure.map(|k| format!("{k}: ")).unwrap_or_default(),
                src.error.as_deref().unwrap_or("error")
            );
        }
        out.push_str(&self.unanchored_text(TEXT_LISTED, false));
        out
    }

    /// The unanchored pairs as plain text (at most `limit` listed, the rest counted): the
    /// list when a baseline was set in this run or `always`, one line otherwise. Empty when
    /// every pair is anchored.
    pub fn unanchored_text(&self, limit: usize, always: bool) -> String {
        let list = self.unanchored();
        let c = self.anchor_counts();
        let mut out = String::new();
        if list.is_empty() {
            return out;
        }
        let _ = writeln!(out);
        if c.new_unanchored == 0 && !always {
            let _ = writeln!(
                out,
                "{} of {} statement × source pairs have no passage of their own (listed in reports/{}/report.html).",
                list.len(),
                c.pairs,
                self.run_id
            );
            return out;
        }
        let _ = writeln!(
            out,
            "Not anchored: {} of {} statement × source pairs have no passage of their own, so a later edit of that source is judged only on the statement's words. Where the closest sentence backs the statement, paste it into the article's watchlist file:",
            list.len(),
            c.pairs
        );
        for (st, e) in list.iter().take(limit) {
            let _ = writeln!(out, "  [{}] {} [{}] {}", st.article, st.id, e.cite, e.url);
            let _ = writeln!(out, "    statement: {}", st.text);
            let _ = writeln!(out, "    {}", e.unanchored_reason());
            if let Some(c) = &e.candidate {
                let _ = writeln!(out, "    closest:   {c}");
            }
            if let Some(h) = e.quote_hint() {
                let _ = writeln!(out, "    paste:     {h}");
            }
        }
        if list.len() > limit {
            let _ = writeln!(
                out,
                "  … and {} more in reports/{}/report.html",
                list.len() - limit,
                self.run_id
            );
        }
        out
    }

    /// `report.md`.
    pub fn to_markdown(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(out, "# citewatch re-check report {}\n", self.run_id);
        let _ = writeln!(
            out,
            "Trigger: {}. Started {}, finished {}.\n",
            self.trigger,
            self.view.time(self.started_at),
            self.view.time(self.finished_at)
        );
        let _ = writeln!(
            out,
            "{} statements, **{} flagged** ({} new); {} sources, {} changed, {} failed.\n",
            s.statements, s.flagged, s.new_flags, s.sources, s.sources_changed, s.sources_failed
        );
        let flagged = self.flagged();
        if !flagged.is_empty() {
            let _ = writeln!(out, "## Statements to re-check\n");
        }
        for st in flagged {
            self.flagged_markdown(&mut out, st);
        }
        self.unanchored_markdown(&mut out);
        let _ = writeln!(out, "## Sources\n");
        let _ = writeln!(
            out,
            "| url | status | outcome | error |\n| --- | --- | --- | --- |"
        );
        for src in self.all_sources() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_escape(&src.url),
                src.http_status.map(|s| s.to_string()).unwrap_or_default(),
                src.outcome_label(),
                md_escape(src.error.as_deref().unwrap_or(""))
            );
        }
        out
    }

    /// One flagged statement of `report.md`, with its evidence per cite.
    fn flagged_markdown(&self, out: &mut String, st: &StatementReport) {
        let _ = writeln!(
            out,
            "### {}: {} (`{}`) — {}\n",
            if st.new { "NEW" } else { "Still flagged" },
            st.status.label(),
            st.status.as_str(),
            md_escape(self.title_of(&st.article))
        );
        let _ = writeln!(out, "> {}\n", md_escape(&st.text));
        let _ = writeln!(out, "Statement id: `{}`\n", st.id);
        for e in &st.evidence {
            let _ = writeln!(out, "- [{}] <{}>: {}", e.cite, e.url, e.status.label());
            if let (Some(b), Some(a)) = (&e.before, &e.after) {
                let _ = writeln!(out, "  - change: {}", md_escape(&marked_text(b, a)));
            } else if let Some(b) = &e.before {
                let label = passage_label(e.status);
                let _ = writeln!(out, "  - {label}: {}", md_escape(b));
            }
            if !e.facts.is_empty() {
                let f: Vec<String> = e.facts.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "  - facts: {}", md_escape(&f.join("; ")));
            }
            if let Some(n) = &e.note {
                let _ = writeln!(out, "  - note: {}", md_escape(n));
            }
            if let Some(a) = e.archived.as_deref().filter(|a| linkable(a)) {
                let _ = writeln!(out, "  - archived copy: <{a}>");
            }
        }
        let _ = writeln!(out);
    }

    /// The pairs of `report.md` with no passage, and the line to paste for each.
    fn unanchored_markdown(&self, out: &mut String) {
        let unanchored = self.unanchored();
        if unanchored.is_empty() {
            return;
        }
        let c = self.anchor_counts();
        let _ = writeln!(
            out,
            "## Not anchored to a passage ({} of {} statement × source pairs)\n",
            unanchored.len(),
            c.pairs
        );
        let _ = writeln!(
            out,
            "A later edit of these sources is judged only on the statement's words. Where the closest sentence backs the statement, paste the line shown into the article's watchlist file.\n"
        );
        for (st, e) in unanchored {
            let _ = writeln!(
                out,
                "- `{}` [{}] <{}>: {}",
                st.id,
                e.cite,
                e.url,
                md_escape(&e.unanchored_reason())
            );
            let _ = writeln!(out, "  - statement: {}", md_escape(&st.text));
            if let Some(c) = &e.candidate {
                let _ = writeln!(out, "  - closest: {}", md_escape(c));
            }
            if let Some(h) = e.quote_hint() {
                let _ = writeln!(out, "  - paste: `{}`", h.replace('`', "'"));
            }
        }
        let _ = writeln!(out);
    }

    /// `report.html`: self-contained, no scripts, everything from sources escaped
    /// ([`html::write_report_page`]).
    pub fn to_html(&self) -> String {
        let mut out = Vec::new();
        html::write_report_page(self, &mut out).expect("writing to memory");
        String::from_utf8(out).expect("maud renders UTF-8")
    }
}

pub use html::linkable;

/// How a passage shown without an "after" is labelled: what was last seen of an unreachable
/// source, what was removed for a flag, and otherwise the passage as it stands (a source
/// that did not change, or changed elsewhere, still shows what backs the statement).
pub fn passage_label(status: Verdict) -> &'static str {
    match status {
        Verdict::SourceUnreachable => "last seen",
        s if s.flagged() => "removed",
        _ => "passage",
    }
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_{}[]<>|#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A run's page summary ([`RunReport::page_summary`]) from its folder: `page.json`, or, for a
/// run written before there was one, made once from `report.json` (if under
/// [`PAGE_SOURCE_MAX`]) and kept.
fn page_summary_of(dir: &Path) -> Option<RunReport> {
    if let Ok(b) = std::fs::read(dir.join("page.json")) {
        return serde_json::from_slice(&b).ok();
    }
    let path = dir.join("report.json");
    if std::fs::metadata(&path).ok()?.len() > PAGE_SOURCE_MAX {
        tracing::warn!(
            "{}: larger than {PAGE_SOURCE_MAX} bytes, not shown on the page",
            path.display()
        );
        return None;
    }
    let full: RunReport = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let page = full.page_summary();
    if let Ok(b) = serde_json::to_vec(&page) {
        let _ = crate::durable::atomic_write(&dir.join("page.json"), &b);
    }
    Some(page)
}

/// The largest `report.json` of an older run that the page summarizes.
const PAGE_SOURCE_MAX: u64 = 64 << 20;

/// The newest report folders under `reports_dir` (newest first, at most `n`), each with its
/// page summary ([`RunReport::page_summary`]) when readable.
pub fn recent_reports(reports_dir: &Path, n: usize) -> Vec<(String, Option<RunReport>)> {
    let mut ids: Vec<String> = reports_dir
        .read_dir()
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| crate::ids::RunId::is_valid(name))
                .collect()
        })
        .unwrap_or_default();
    // Ids sort by their start second; within a second, by the report's own times.
    ids.sort_unstable_by(|a, b| b.cmp(a));
    // A few more than asked: a run whose id a wrong clock dated ahead takes a place by name,
    // and the store's numbers below put it back.
    ids.truncate(n + 20);
    let mut out: Vec<(String, Option<RunReport>)> = ids
        .into_iter()
        .map(|id| {
            let report = page_summary_of(&reports_dir.join(&id));
            (id, report)
        })
        .collect();
    // By the store's run numbers where the reports have them (a run dated ahead by a wrong
    // clock is not "last" for ever; reports without one are older than any with one), then
    // by id and finish time.
    out.sort_by(|(ia, ra), (ib, rb)| {
        let key = |id: &str, r: &Option<RunReport>| {
            let seq = r.as_ref().and_then(|r| r.seq);
            (
                seq.is_some(),
                seq,
                id[..16].to_owned(),
                r.as_ref().map(|r| r.finished_at),
            )
        };
        key(ib, rb).cmp(&key(ia, ra)).then_with(|| ib.cmp(ia))
    });
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(cite: u32, status: Verdict, anchored: bool) -> EvidenceReport {
        EvidenceReport {
            anchored,
            ..EvidenceReport::new(cite, format!("https://example.org/{cite}"), status)
        }
    }

    #[test]
    fn times_are_shown_in_the_desks_zone_and_reports_linked_on_the_page() {
        let mut settings = crate::settings::Settings::default();
        let t = DateTime::parse_from_rfc3339("2026-12-02T17:42:07.6007Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(View::of(&settings).time(t), "2026-12-02 17:42:07 UTC");
        assert_eq!(View::of(&settings).report_url("r1"), None);
        settings.report.timezone = Some("Europe/Berlin".into());
        settings.control.public_url = Some("https://cw.example.org/".into());
        let v = View::of(&settings);
        assert_eq!(v.time(t), "2026-12-02 18:42:07 CET");
        assert_eq!(
            v.report_url("r1").as_deref(),
            Some("https://cw.example.org/reports/r1")
        );
        let mut r = report(vec![]);
        r.view = v;
        r.started_at = t;
        assert!(r.to_html().contains("18:42:07 CET"), "{}", r.to_html());
        let problems = crate::settings::Settings::parse(
            std::path::Path::new("citewatch.toml"),
            "[report]\ntimezone = \"Mars/Olympus\"\n[control]\npublic_url = \"ftp://x\"\n",
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p.contains(":2:") && p.contains("Mars/Olympus")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.contains(":4:") && p.contains("public_url")),
            "{text:?}"
        );
    }

    #[test]
    fn runs_are_ordered_by_the_stores_numbers_not_by_their_clock_times() {
        let dir = tempfile::tempdir().unwrap();
        // Run 2 was made while the clock was a year ahead; runs 1 and 3 have the right time.
        for (id, seq) in [
            ("20261201T100000Z-0001", 1),
            ("20271201T100000Z-0002", 2),
            ("20261202T100000Z-0003", 3),
        ] {
            let mut r = report(vec![]);
            r.run_id = id.into();
            r.seq = Some(seq);
            r.write(dir.path()).unwrap();
        }
        let ids = |n| -> Vec<String> {
            recent_reports(dir.path(), n)
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        assert_eq!(ids(1), ["20261202T100000Z-0003"]);
        assert_eq!(
            ids(3),
            [
                "20261202T100000Z-0003",
                "20271201T100000Z-0002",
                "20261201T100000Z-0001"
            ]
        );
    }

    fn report(evidence: Vec<EvidenceReport>) -> RunReport {
        RunReport {
            run_id: "20260101T000000Z-abcd".into(),
            trigger: Trigger::Manual,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            summary: Summary::default(),
            statements: vec![StatementReport {
                id: "k:1".into(),
                article: "k".into(),
                text: "About 600 soldiers serve in KFOR.".into(),
                cites: evidence.iter().map(|e| e.cite).collect(),
                status: Verdict::Baseline,
                flagged: false,
                new: false,
                evidence,
            }],
            sources: vec![],
            articles: vec![],
            mail: None,
            page: None,
            seq: None,
            view: Default::default(),
            rows: None,
        }
    }

    #[test]
    fn unanchored_pairs_are_listed_with_a_pastable_quote_and_escaped() {
        let mut loose = evidence(2, Verdict::Baseline, false);
        loose.candidate = Some("He said \"<b>600</b>\" \\ soldiers.".into());
        let mut quoted = evidence(3, Verdict::Baseline, true);
        quoted.missing_quotes = vec!["about 600".into()];
        let never_fetched = evidence(4, Verdict::SourceUnreachable, false);
        let r = report(vec![
            evidence(1, Verdict::Baseline, true),
            loose,
            quoted,
            never_fetched,
        ]);
        let c = r.anchor_counts();
        assert_eq!((c.pairs, c.anchored, c.new_unanchored), (3, 1, 2));
        let cites: Vec<u32> = r.unanchored().iter().map(|(_, e)| e.cite).collect();
        assert_eq!(cites, [2, 3]);
        let hint = r.statements[0].evidence[1].quote_hint().unwrap();
        assert_eq!(
            hint,
            r#"evidence = [{cite = 2, quote = "He said \"<b>600</b>\" \\ soldiers."}]"#
        );
        let parsed: toml::Value = toml::from_str(&hint).unwrap();
        assert_eq!(
            parsed["evidence"][0]["quote"].as_str(),
            r#"He said "<b>600</b>" \ soldiers."#.into()
        );
        let text = r.to_text();
        assert!(
            text.contains("Not anchored: 2 of 3 statement × source pairs"),
            "{text}"
        );
        assert!(text.contains("evidence quote not found: “about 600”"), "{text}");
        let html = r.to_html();
        assert!(html.contains("Not anchored to a passage (2 of 3"), "{html}");
        assert!(!html.contains("<b>600"), "{html}");
        assert!(r.to_markdown().contains("## Not anchored to a passage (2 of 3"));
    }

    #[test]
    fn source_links_carry_robust_links_attributes_escaped() {
        use super::html::{archived_copy, source_link};
        let l = source_link(
            "https://a.test/p?x=1&y=2",
            Some("https://web.archive.org/web/20251120101010/https://a.test/p\"onmouseover=\"x"),
        )
        .into_string();
        assert_eq!(
            l,
            "<a href=\"https://a.test/p?x=1&amp;y=2\" style=\"color:#1a5fb4\" data-originalurl=\"https://a.test/p?x=1&amp;y=2\" \
             data-versionurl=\"https://web.archive.org/web/20251120101010/https://a.test/p&quot;onmouseover=&quot;x\" \
             data-versiondate=\"2025-11-20\">https://a.test/p?x=1&amp;y=2</a>"
        );
        // Only http(s) URLs become links.
        assert_eq!(archived_copy(Some("javascript:alert(1)")).into_string(), "");
        assert_eq!(
            source_link("javascript:alert(1)", None).into_string(),
            "javascript:alert(1)"
        );
        assert!(
            !source_link("https://a.test/", Some("data:text/html,x"))
                .into_string()
                .contains("data-versionurl")
        );
    }

    #[test]
    fn an_unchanged_passage_is_not_shown_as_removed() {
        let mut kept = evidence(2, Verdict::Unchanged, true);
        kept.before = Some("Camp Bondsteel is the base.".into());
        let mut gone = evidence(1, Verdict::EvidenceRemoved, true);
        gone.before = Some("About 600 soldiers serve.".into());
        let mut r = report(vec![gone, kept]);
        r.statements[0].flagged = true;
        let h = super::html::card(&r, &r.statements[0], maud::html! {}).into_string();
        assert!(h.contains("removed: </span><del style="), "{h}");
        assert!(h.contains(">About 600 soldiers serve.</del>"), "{h}");
        assert!(h.contains("passage: </span>Camp Bondsteel is the base."), "{h}");
        let md = r.to_markdown();
        assert!(
            md.contains("  - removed: About 600") && md.contains("  - passage: Camp"),
            "{md}"
        );
    }

    #[test]
    fn a_later_run_only_counts_them() {
        let r = report(vec![evidence(1, Verdict::Unchanged, false)]);
        let text = r.unanchored_text(TEXT_LISTED, false);
        assert!(
            text.contains("1 of 1 statement × source pairs have no passage"),
            "{text}"
        );
        assert!(!text.contains("paste"), "{text}");
        assert!(
            report(vec![evidence(1, Verdict::Unchanged, true)])
                .unanchored_text(9, true)
                .is_empty()
        );
    }
}
