//! The one HTML renderer: `report.html`, the mail's HTML part and the daemon's page are all
//! built from these [maud] components, so source text reaches HTML through one escaping path
//! (maud's) and a statement reads the same wherever a person meets it.
//!
//! Styles are inline: a mail client drops `<style>`, and the same markup then looks the same
//! in the mail, the saved report and the page. Nothing here emits a script.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{EvidenceReport, RunReport, StatementReport, passage_label};
use crate::diff::{Segment, word_diff};
use crate::evidence::Verdict;

/// The body font of every view.
pub const FONT: &str = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif";
const DEL: &str = "background:#fdd;color:#8b0000;text-decoration:line-through";
const INS: &str = "background:#dfd;color:#05570b;text-decoration:none";
const LINK: &str = "color:#1a5fb4";
const H2: &str = "font-size:17px;margin:20px 0 8px";
const ROW: &str = "margin:4px 0;font-size:14px";
const LABEL: &str = "color:#777";

/// A verdict in plain words, its code name (`evidence_changed`) as the tooltip.
pub fn verdict(v: Verdict) -> Markup {
    html! { span title=(v.as_str()) { (v.label()) } }
}

/// Whether `url` may be made a link (http or https; anything else is shown as text).
pub fn linkable(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A source's link, with Robust Links attributes (`data-originalurl`, `data-versionurl`,
/// `data-versiondate`) when an archived copy of it is known; a URL that is not http(s) is
/// text only.
pub fn source_link(url: &str, archived: Option<&str>) -> Markup {
    if !linkable(url) {
        return html! { (url) };
    }
    let archived = archived.filter(|a| linkable(a));
    let date = archived.and_then(crate::archive::capture_date);
    html! {
        a href=(url) style=(LINK) data-originalurl=(url)
            data-versionurl=[archived] data-versiondate=[date] { (url) }
    }
}

/// A plain link for an http(s) URL, else the URL as text.
pub fn link(url: &str) -> Markup {
    if linkable(url) {
        html! { a href=(url) style=(LINK) { (url) } }
    } else {
        html! { (url) }
    }
}

/// ` — archived copy` linked, for an archived copy; else nothing.
pub fn archived_copy(archived: Option<&str>) -> Markup {
    html! {
        @if let Some(a) = archived.filter(|a| linkable(a)) {
            " — " a href=(a) rel="nofollow" style=(LINK) { "archived copy" }
        }
    }
}

/// The word diff of `before` → `after`, removed words in `<del>`, inserted in `<ins>`.
///
/// ```
/// let m = citewatch::report::html::marked("a <b> 600", "a <script> 350").into_string();
/// assert!(!m.contains("<script") && !m.contains("<b>"), "{m}");
/// assert!(m.contains(">600</del>") && m.contains(">350</ins>"), "{m}");
/// ```
pub fn marked(before: &str, after: &str) -> Markup {
    html! {
        @for seg in word_diff(before, after) {
            @match seg {
                Segment::Equal(t) => (t),
                Segment::Removed(t) => del style=(DEL) { (t) },
                Segment::Inserted(t) => ins style=(INS) { (t) },
            }
        }
    }
}

/// What one cited source says of a flagged statement: its passage before and after, the
/// changed figures, the note.
fn evidence_item(e: &EvidenceReport) -> Markup {
    html! {
        li style="margin:6px 0" {
            span style="word-break:break-all" {
                "[" (e.cite) "] " (source_link(&e.url, e.archived.as_deref()))
            }
            " · " strong { (verdict(e.status)) }
            (archived_copy(e.archived.as_deref()))
            @match (&e.before, &e.after) {
                (Some(b), Some(a)) if b != a => {
                    div style=(ROW) { span style=(LABEL) { "before: " } (b) }
                    div style=(ROW) { span style=(LABEL) { "after: " } (a) }
                    div style=(ROW) { span style=(LABEL) { "change: " } (marked(b, a)) }
                }
                (Some(b), _) => {
                    @let label = passage_label(e.status);
                    div style=(ROW) {
                        span style=(LABEL) { (label) ": " }
                        @if label == "removed" { del style=(DEL) { (b) } } @else { (b) }
                    }
                }
                _ => {}
            }
            @if !e.facts.is_empty() {
                @let facts: Vec<String> = e.facts.iter().map(ToString::to_string).collect();
                div style=(ROW) { span style=(LABEL) { "facts: " } strong { (facts.join("; ")) } }
            }
            @if let Some(n) = &e.note {
                div style="margin:4px 0;font-size:13px;color:#666" { (n) }
            }
        }
    }
}

/// One flagged statement with all its sources, as a card; `extra` goes at its foot (the
/// page puts the statement's history and its ack form there). The card's id is
/// `st-<statement id>`, so a link can point at it.
pub fn card(report: &RunReport, st: &StatementReport, extra: Markup) -> Markup {
    let color = if st.new { "#c0392b" } else { "#e67e22" };
    html! {
        div id={ "st-" (st.id) } class={ "st " (if st.new { "new" } else { "old" }) }
            style={ "border:1px solid #ddd;border-left:6px solid " (color) ";border-radius:4px;padding:10px 14px;margin:12px 0" } {
            p style="margin:0;font-size:13px;color:#555" {
                strong style={ "color:" (color) } { (if st.new { "NEW" } else { "STILL FLAGGED" }) }
                " · " (verdict(st.status)) " · " (st.article)
            }
            p style="margin:6px 0;font-weight:bold" { (report.title_of(&st.article)) }
            blockquote style="margin:6px 0;padding:2px 0 2px 10px;border-left:3px solid #ccc;color:#333" { (st.text) }
            p style="margin:0 0 6px;font-size:12px;color:#777" { "id " code { (st.id) } }
            ul style="margin:0;padding-left:20px" {
                @for e in &st.evidence { (evidence_item(e)) }
            }
            (extra)
        }
    }
}

/// The flagged statements in the order a person acts on them ([`RunReport::flagged`]),
/// under "New" and "Still outstanding" headings.
pub fn flagged_sections(report: &RunReport) -> Markup {
    let flagged = report.flagged();
    let (new, old): (Vec<_>, Vec<_>) = flagged.into_iter().partition(|s| s.new);
    html! {
        @if !new.is_empty() {
            h2 style=(H2) { "New: statements to re-check" }
            @for st in new { (card(report, st, html! {})) }
        }
        @if !old.is_empty() {
            h2 style=(H2) { "Still outstanding from earlier runs" }
            @for st in old { (card(report, st, html! {})) }
        }
    }
}

/// One `<li>` per statement × source pair without a passage: the statement, why, the
/// closest sentence and the line to paste.
pub fn unanchored_items(list: &[(&StatementReport, &EvidenceReport)]) -> Markup {
    html! {
        @for (st, e) in list {
            li style="margin:0 0 8px" {
                code { (st.id) } " [" (e.cite) "] " (link(&e.url))
                br; q style="color:#555" { (st.text) }
                br; strong { (e.unanchored_reason()) }
                @if let Some(c) = &e.candidate { br; "closest: " em { (c) } }
                @if let Some(h) = e.quote_hint() {
                    br; "paste: " code style="font-size:12px;word-break:break-all" { (h) }
                }
            }
        }
    }
}

/// The explanation above every list of unanchored pairs.
pub const UNANCHORED_HELP: &str = "A later edit of these sources is judged only on the statement's words. Where the closest sentence backs the statement, paste the line shown into the article's watchlist file.";

/// The unanchored pairs as a section (nothing when every pair is anchored), at most `limit`
/// listed.
pub fn unanchored_section(report: &RunReport, limit: usize) -> Markup {
    let list = report.unanchored();
    html! {
        @if !list.is_empty() {
            h2 style=(H2) {
                "Not anchored to a passage (" (list.len()) " of " (report.anchor_counts().pairs)
                " statement × source pairs)"
            }
            p style="margin:0 0 8px;font-size:14px" { (UNANCHORED_HELP) }
            ul.unanchored style="padding-left:20px;font-size:14px" {
                (unanchored_items(&list[..list.len().min(limit)]))
                @if list.len() > limit {
                    li { "… and " (list.len() - limit) " more in the full report" }
                }
            }
        }
    }
}

/// A whole HTML document around `body`, in the views' common frame, at most `width` pixels
/// wide (the mail is narrower than the report).
pub fn document(title: &str, width: u32, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                title { (title) }
            }
            body style="margin:0;padding:0;background:#f6f6f6" {
                div style={ (FONT) ";font-size:15px;line-height:1.5;color:#222;max-width:" (width) "px;margin:0 auto;padding:16px;background:#fff" } {
                    (body)
                }
            }
        }
    }
}

/// Where [`write_report_page`] cuts a rendered wrapper into what comes before its content
/// and after: a comment no rendering of ours contains.
const CUT: &str = "<!--citewatch:cut-->";

/// `wrapper` (rendered around [`CUT`]) as the text before the cut and after it.
fn around(wrapper: Markup) -> (String, String) {
    let s = wrapper.into_string();
    match s.split_once(CUT) {
        Some((a, b)) => (a.to_owned(), b.to_owned()),
        None => (s, String::new()),
    }
}

/// Rows of the two long tables rendered at a time.
const ROWS_AT_ONCE: usize = 500;

/// The long tables' cells: styled once in the page's `<style>`, not on each cell as in the
/// mail (a report of 20,000 sources has 160,000 of them).
const REPORT_CSS: &str = "table.all{border-collapse:collapse;font-size:14px}\
    table.all td,table.all th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
    table.all td.url{word-break:break-all}";

/// A heading and a table of one `row` per item, written [`ROWS_AT_ONCE`] rows at a time.
fn write_long_table<T>(
    w: &mut dyn std::io::Write,
    heading: &str,
    columns: [&str; 4],
    items: impl Iterator<Item = T>,
    row: impl Fn(&T) -> Markup,
) -> std::io::Result<()> {
    let (open, close) = around(html! {
        h2 style=(H2) { (heading) }
        table.all {
            tr { @for c in columns { th { (c) } } }
            (PreEscaped(CUT))
        }
    });
    w.write_all(open.as_bytes())?;
    let mut items = items.peekable();
    while items.peek().is_some() {
        let rows = html! { @for item in items.by_ref().take(ROWS_AT_ONCE) { (row(&item)) } };
        w.write_all(rows.into_string().as_bytes())?;
    }
    w.write_all(close.as_bytes())
}

/// `report.html` (self-contained, no scripts), written to `w` as it is rendered: the header,
/// flagged and unanchored sections at once, the tables of every statement and source a few
/// hundred rows at a time, so the page is never held whole in memory.
pub fn write_report_page(report: &RunReport, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let s = &report.summary;
    let (open, close) = around(document(
        &format!("citewatch report {}", report.run_id),
        960,
        PreEscaped(CUT.to_owned()),
    ));
    w.write_all(open.as_bytes())?;
    let head = html! {
        style { (PreEscaped(REPORT_CSS)) }
        h1 style="font-size:22px;margin:0 0 8px" { "citewatch re-check report" }
        p style="margin:0 0 4px" {
            strong { (s.flagged) " flagged" } " (" (s.new_flags) " new) of " (s.statements)
            " statements; " (s.sources) " sources, " (s.sources_changed) " changed, "
            (s.sources_failed) " failed."
        }
        p style="margin:0 0 12px;color:#666;font-size:13px" {
            "Run " code { (report.run_id) } ", " (report.trigger) ", "
            (report.view.time(report.started_at)) " → " (report.view.time(report.finished_at))
        }
        (flagged_sections(report))
        (unanchored_section(report, usize::MAX))
    };
    w.write_all(head.into_string().as_bytes())?;
    write_long_table(
        w,
        "All statements",
        ["verdict", "article", "cites", "statement"],
        report.all_statements(),
        |st| {
            html! {
                tr {
                    td { (verdict(st.status)) }
                    td { (st.article) }
                    td { @for c in &st.cites { "[" (c) "]" } }
                    td { (st.text) }
                }
            }
        },
    )?;
    write_long_table(
        w,
        "Sources",
        ["URL", "HTTP", "outcome", "error"],
        report.all_sources(),
        |src| {
            html! {
                tr {
                    td.url {
                        (source_link(&src.url, src.archived.as_deref()))
                        (archived_copy(src.archived.as_deref()))
                    }
                    td { @if let Some(h) = src.http_status { (h) } }
                    td { (src.outcome_label()) }
                    td { (src.error.as_deref().unwrap_or("")) }
                }
            }
        },
    )?;
    if let Some(e) = report.rows_error() {
        return Err(std::io::Error::other(e));
    }
    w.write_all(close.as_bytes())
}
