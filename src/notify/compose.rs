//! [`RunReport`] → the re-check message: subject, plain-text part, HTML part (inline styles,
//! no scripts, no external images, every piece of source text escaped), headers. Pure.

use std::fmt::Write as _;

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::diff::marked_text;
use crate::evidence::Verdict;
use crate::report::{RunReport, SourceOutcome, StatementReport, TEXT_LISTED};
use crate::settings::SendWhen;
use maud::html;

/// The `X-Citewatch-Run` header: the run id, so a desk can find the report of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitewatchRun(pub String);

impl Header for CitewatchRun {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Citewatch-Run")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(header_safe(s)))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), header_safe(&self.0))
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834), so auto-responders stay quiet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// Whether a run warrants a message: with `send = "flagged"` only runs that raised new
/// flags (flags still outstanding from earlier runs are listed in the next message that
/// goes out, not re-sent on their own every run); with `send = "always"` every run.
pub fn wants_message(report: &RunReport, send: SendWhen) -> bool {
    match send {
        SendWhen::Flagged => report.summary.new_flags > 0,
        SendWhen::Always => true,
    }
}

/// Folds a value for a header: every control character (CR and LF included) becomes a
/// space, runs of whitespace collapse, so no value can start a new header line.
pub fn header_safe(s: &str) -> String {
    let spaced: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Plain text made safe to show: control characters other than newline and tab (e.g.
/// terminal escape sequences in a source page) become U+FFFD.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// `citewatch: 3 statements need re-check (us-military-kosovo)`; article ids of the flagged
/// statements, new flags first, at most three named.
pub fn subject(report: &RunReport) -> String {
    let flagged = report.flagged();
    if flagged.is_empty() {
        return header_safe(&format!(
            "citewatch: no statements need re-check ({} checked, run {})",
            report.summary.statements, report.run_id
        ));
    }
    let mut articles: Vec<&str> = Vec::new();
    for st in &flagged {
        if !articles.contains(&st.article.as_str()) {
            articles.push(&st.article);
        }
    }
    let mut named = articles.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    if articles.len() > 3 {
        let _ = write!(named, ", +{} more", articles.len() - 3);
    }
    header_safe(&format!("citewatch: {} ({named})", need_line(flagged.len())))
}

/// `1 statement needs re-check`, `3 statements need re-check`.
fn need_line(n: usize) -> String {
    if n == 1 {
        "1 statement needs re-check".to_owned()
    } else {
        format!("{n} statements need re-check")
    }
}

/// The plain-text part: changed words marked `[-old-]{+new+}`.
pub fn text_body(report: &RunReport) -> String {
    let s = &report.summary;
    let flagged = report.flagged();
    let mut out = String::new();
    let _ = writeln!(out, "citewatch re-check report, run {}", report.run_id);
    let _ = writeln!(
        out,
        "{}: {} new, {} still outstanding.",
        need_line(s.flagged),
        s.new_flags,
        s.flagged - s.new_flags.min(s.flagged)
    );
    let _ = writeln!(
        out,
        "Checked {} statements against {} sources ({} changed, {} failed), {} to {}.",
        s.statements,
        s.sources,
        s.sources_changed,
        s.sources_failed,
        report.view.time(report.started_at),
        report.view.time(report.finished_at)
    );
    let mut section = None;
    for st in flagged {
        if section != Some(st.new) {
            section = Some(st.new);
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{}",
                if st.new {
                    "NEW: statements to re-check\n---------------------------"
                } else {
                    "Still outstanding from earlier runs\n-----------------------------------"
                }
            );
        }
        statement_text(&mut out, report, st);
    }
    let failed: Vec<_> = report
        .sources
        .iter()
        .filter(|s| s.outcome == SourceOutcome::Error)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "\nSources that could not be fetched\n---------------------------------"
        );
        for src in failed {
            let _ = writeln!(
                out,
                "- {} : {}",
                clean(&src.url),
                clean(src.error.as_deref().unwrap_or("error"))
            );
        }
    }
    out.push_str(&clean(&report.unanchored_text(TEXT_LISTED, true)));
    let _ = writeln!(out);
    let full = report
        .view
        .report_url(&report.run_id)
        .unwrap_or_else(|| format!("reports/{}/report.html", report.run_id));
    let _ = writeln!(
        out,
        "Accept a new wording with `citewatch ack STATEMENT_ID` or on the page. Full report: {}",
        clean(&full)
    );
    out
}

fn statement_text(out: &mut String, report: &RunReport, st: &StatementReport) {
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "* {} ({})",
        header_safe(report.title_of(&st.article)),
        header_safe(&st.article)
    );
    let _ = writeln!(out, "  Statement: {}", clean(&st.text));
    let _ = writeln!(out, "  Verdict:   {} ({})", st.status.label(), st.status.as_str());
    let _ = writeln!(out, "  Id:        {}", clean(&st.id));
    for e in &st.evidence {
        let _ = writeln!(out, "  [{}] {} : {}", e.cite, clean(&e.url), e.status.label());
        match (&e.before, &e.after) {
            (Some(b), Some(a)) if b != a => {
                let _ = writeln!(out, "      before: {}", clean(b));
                let _ = writeln!(out, "      after:  {}", clean(a));
                let _ = writeln!(out, "      change: {}", clean(&marked_text(b, a)));
            }
            (Some(b), None) if e.status == Verdict::SourceUnreachable => {
                let _ = writeln!(out, "      last seen: {}", clean(b));
            }
            (Some(b), None) if e.status.flagged() => {
                let _ = writeln!(out, "      before: {}", clean(b));
                let _ = writeln!(out, "      after:  (gone)");
            }
            _ => {}
        }
        if !e.facts.is_empty() {
            let f: Vec<String> = e.facts.iter().map(|f| clean(&f.to_string())).collect();
            let _ = writeln!(out, "      facts:  {}", f.join("; "));
        }
        if let Some(n) = &e.note {
            let _ = writeln!(out, "      note:   {}", clean(n));
        }
        if let Some(a) = &e.archived {
            let _ = writeln!(out, "      archived copy: {}", clean(a));
        }
    }
}

/// The HTML part ([`crate::report::html`]): inline styles only, no scripts, no images,
/// every value escaped by maud.
pub fn html_body(report: &RunReport) -> String {
    use crate::report::html::{document, flagged_sections, link, unanchored_section};
    let s = &report.summary;
    let failed: Vec<_> = report
        .sources
        .iter()
        .filter(|s| s.outcome == SourceOutcome::Error)
        .collect();
    let body = html! {
        h1 style="font-size:20px;margin:0 0 8px" { "citewatch re-check report" }
        p style="margin:0 0 4px" {
            strong { (need_line(s.flagged)) } ": " (s.new_flags) " new, "
            (s.flagged - s.new_flags.min(s.flagged)) " still outstanding."
        }
        p style="margin:0 0 12px;color:#666;font-size:13px" {
            "Run " (report.run_id) " · " (s.statements) " statements, " (s.sources) " sources ("
            (s.sources_changed) " changed, " (s.sources_failed) " failed) · "
            (report.view.time(report.started_at))
        }
        (flagged_sections(report))
        @if !failed.is_empty() {
            h2 style="font-size:17px;margin:20px 0 8px" { "Sources that could not be fetched" }
            ul style="padding-left:20px" {
                @for src in failed {
                    li style="word-break:break-all" {
                        (link(&src.url)) " "
                        span style="color:#666" { "(" (src.error.as_deref().unwrap_or("error")) ")" }
                    }
                }
            }
        }
        (unanchored_section(report, TEXT_LISTED))
        p style="margin:20px 0 0;color:#666;font-size:13px" {
            "Accept a new wording with " code { "citewatch ack STATEMENT_ID" } " or on the page. Full report: "
            @match report.view.report_url(&report.run_id) {
                Some(u) => (link(&u)),
                None => code { "reports/" (report.run_id) "/report.html" },
            }
        }
    };
    let mut out = document(&subject(report), 680, body).into_string();
    out.push('\n');
    out
}

/// The whole message. `Date` is set by lettre; `Message-ID` is
/// `<citewatch.RUN_ID.RANDOM@FROM-DOMAIN>`; `X-Citewatch-Run` carries the run id. Both parts
/// are quoted-printable, so every line stays short and 7-bit whatever the sources contain.
pub fn build(report: &RunReport, from: &Mailbox, to: &[Mailbox]) -> anyhow::Result<Message> {
    let run = header_safe(&report.run_id);
    let id_part: String = run
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let message_id = format!(
        "<citewatch.{id_part}.{:08x}@{}>",
        rand::random::<u32>(),
        from.email.domain()
    );
    let mut b = Message::builder()
        .from(from.clone())
        .subject(subject(report))
        .message_id(Some(message_id))
        .header(CitewatchRun(run))
        .header(AutoSubmitted);
    for m in to {
        b = b.to(m.clone());
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(text_body(report));
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(html_body(report));
    Ok(b.multipart(MultiPart::alternative().singlepart(text).singlepart(html))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{FactChange, Verdict};
    use crate::report::{ArticleInfo, EvidenceReport, Summary, Trigger};

    fn report(article: &str, title: &str, passage_after: &str) -> RunReport {
        let st = StatementReport {
            id: "k-1".into(),
            article: article.into(),
            text: "About 600 U.S. soldiers serve in KFOR.".into(),
            cites: vec![1],
            status: Verdict::EvidenceChanged,
            flagged: true,
            new: true,
            evidence: vec![EvidenceReport {
                cite: 1,
                url: "https://example.org/a".into(),
                status: Verdict::EvidenceChanged,
                before: Some("About 600 soldiers serve.".into()),
                after: Some(passage_after.into()),
                facts: vec![FactChange {
                    kind: "number".into(),
                    before: "600".into(),
                    after: Some("350".into()),
                }],
                note: None,
                anchored: true,
                candidate: None,
                missing_quotes: vec![],
                baseline_from: Default::default(),
                archived: Some(
                    "https://web.archive.org/web/20251120000000/https://example.org/a\"><script>".into(),
                ),
            }],
        };
        RunReport {
            run_id: "20260101T000000Z-abcd".into(),
            trigger: Trigger::Manual,
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            summary: Summary {
                statements: 1,
                flagged: 1,
                new_flags: 1,
                sources: 1,
                sources_changed: 1,
                sources_failed: 0,
            },
            statements: vec![st],
            sources: vec![],
            articles: vec![ArticleInfo {
                id: article.into(),
                title: title.into(),
            }],
            mail: None,
            page: None,
            seq: None,
            view: Default::default(),
            rows: None,
        }
    }

    #[test]
    fn subject_counts_and_names_articles() {
        let r = report("us-military-kosovo", "Kosovo", "About 350 soldiers serve.");
        assert_eq!(
            subject(&r),
            "citewatch: 1 statement needs re-check (us-military-kosovo)"
        );
    }

    #[test]
    fn no_value_can_inject_a_header() {
        let r = report(
            "evil\r\nBcc: victim@example.org",
            "Title\nX-Evil: 1",
            "About 350 soldiers serve.",
        );
        let from: Mailbox = "citewatch <c@example.org>".parse().unwrap();
        let to: Mailbox = "desk@example.org".parse().unwrap();
        let m = build(&r, &from, &[to]).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        let head = raw.split("\r\n\r\n").next().unwrap();
        assert!(!head.lines().any(|l| l.starts_with("Bcc:")), "{head}");
        assert!(!head.lines().any(|l| l.starts_with("X-Evil:")), "{head}");
        assert!(head.contains("X-Citewatch-Run: 20260101T000000Z-abcd"));
        assert!(head.contains("Message-ID: <citewatch.20260101T000000Z-abcd."));
    }

    #[test]
    fn html_escapes_source_text_and_marks_changes() {
        let r = report(
            "k",
            "<b>Kosovo</b>",
            "About 350 <script>alert(1)</script> soldiers serve.",
        );
        let h = html_body(&r);
        assert!(!h.contains("<script") && !h.contains("<b>Kosovo"), "{h}");
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("<del style=") && h.contains("<ins style="));
        // The archived copy is linked, its URL escaped too.
        assert!(
            h.contains(
                "&quot;&gt;&lt;script&gt;\" rel=\"nofollow\" style=\"color:#1a5fb4\">archived copy</a>"
            ),
            "{h}"
        );
        assert!(text_body(&r).contains("archived copy: https://web.archive.org/web/20251120000000/"));
        let t = text_body(&r);
        assert!(t.contains("[-600-]{+350"), "{t}");
        assert!(t.contains("600 → 350"));
    }

    #[test]
    fn every_message_lists_the_pairs_without_a_passage() {
        let mut r = report("k", "K", "About 350 soldiers serve.");
        let mut loose = r.statements[0].evidence[0].clone();
        loose.cite = 2;
        loose.status = Verdict::Unchanged;
        loose.anchored = false;
        loose.candidate = Some("Some <i>600</i> soldiers serve.".into());
        r.statements[0].evidence.push(loose);
        let t = text_body(&r);
        assert!(t.contains("Not anchored: 1 of 2 statement × source pairs"), "{t}");
        assert!(
            t.contains(r#"paste:     evidence = [{cite = 2, quote = "Some <i>600</i> soldiers serve."}]"#),
            "{t}"
        );
        let h = html_body(&r);
        assert!(
            h.contains("Not anchored to a passage (1 of 2 statement × source pairs)"),
            "{h}"
        );
        assert!(h.contains("Some &lt;i&gt;600") && !h.contains("<i>600"), "{h}");
    }

    #[test]
    fn send_policy() {
        let mut r = report("k", "K", "About 350 soldiers serve.");
        assert!(wants_message(&r, SendWhen::Flagged));
        r.summary.new_flags = 0;
        r.statements[0].new = false;
        assert!(!wants_message(&r, SendWhen::Flagged));
        assert!(wants_message(&r, SendWhen::Always));
    }
}
