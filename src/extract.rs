//! Fetched bytes + content type → [`ExtractedText`]: the readable main text as blocks
//! (paragraphs, headings, list items, table rows), white space and entities normalised,
//! boilerplate (navigation, header/footer, asides, forms, banners, hidden elements) dropped.
//!
//! Pure: no I/O. The same function re-extracts stored raw bodies later.
//!
//! # How the main text is found
//! A lexical pre-pass empties `<script>`/`<style>` elements and caps block nesting (html5ever's
//! tree builder is quadratic in it). The page is then parsed once with scraper (html5ever) and
//! flattened, without recursion, into an
//! arena of elements plus a list of open/close/text events in document order. Hidden elements
//! and elements that never carry readable text (script, style, svg, …) are not copied at all;
//! structural and named boilerplate (nav, header, footer, aside, forms, dialogs, and class or id
//! names such as `cookie`, `share`, `related`, `comment`, `ad`) is marked as junk unless it holds
//! most of the page's paragraph text. Paragraphs are then scored in the manner of Readability
//! (length, commas, class hints, link density) into their ancestors, the best container and its
//! qualifying siblings are kept, link-heavy or image-only parts inside it are cleaned away, and
//! the result is cut into one block per paragraph, heading, list item or table row. Short leftover
//! labels ("Advertisement", "Share", "Read more") are dropped last.
//!
//! With a watchlist `selector` no scoring happens: the text of the matching elements is kept
//! (still without script, style and hidden elements).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

mod arena;
mod blocks;
mod boilerplate;
mod decode;
mod html;
pub mod pdf;
mod prepare;

use self::{arena::*, blocks::*, boilerplate::*, decode::*, prepare::*};
pub use decode::{decode, normalise};
use scraper::{ElementRef, Html, Node, Selector};

/// Identifies this extractor's behaviour; changes whenever its output for the same input may.
/// x4: the fast parse ([`html`]) keeps white space between inline elements that a comment
/// split from their text (`Por<!-- --> <a>…` is "Por …", no longer "Por…").
pub const EXTRACTOR_VERSION: &str = "x5";

/// The text the store keeps and the evidence stage reads: one block per entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedText {
    /// Blocks in document order, each non-empty and on one line.
    pub blocks: Vec<String>,
}

impl ExtractedText {
    /// One block per line.
    pub fn to_text(&self) -> String {
        let mut s = self.blocks.join("\n");
        s.push('\n');
        s
    }

    /// The inverse of [`ExtractedText::to_text`].
    pub fn from_text(text: &str) -> Self {
        Self {
            blocks: text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The per-source rules from the watchlist, compiled once.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Narrow the page to the elements matching this selector (no main-text scoring then).
    pub selector: Option<Selector>,
    /// Drop blocks (lines) matching any of these.
    pub ignore: Vec<Regex>,
}

/// Longest `selector`, in bytes. A selector is matched against every element of a page, so
/// its cost grows with its length (a 200,000-alternative selector ran past 90 s on one page).
pub const MAX_SELECTOR_LEN: usize = 1024;
/// Most `ignore` patterns of one source.
pub const MAX_IGNORE_PER_SOURCE: usize = 100;
/// Largest compiled form of one `ignore` pattern (regex's `size_limit`, 1 MiB). `\w{50}\W{50}`
/// takes about 5 MiB compiled (Unicode classes are large) and is refused.
pub const MAX_IGNORE_REGEX_BYTES: usize = 1 << 20;
/// Cache of the lazy DFA of one `ignore` pattern (regex's `dfa_size_limit`, 1 MiB).
pub const IGNORE_DFA_CACHE_BYTES: usize = 1 << 20;
/// Most memory the compiled `ignore` patterns of a whole watchlist may take together (64 MiB);
/// a pattern used by several sources counts once, as [`RuleCache`] compiles it once.
pub const MAX_IGNORE_TOTAL_BYTES: usize = 64 << 20;

/// Compiles `pattern` as an `ignore` rule (`^`/`$` match at line ends) within the limits.
pub fn ignore_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(&format!("(?m){pattern}"))
        .size_limit(MAX_IGNORE_REGEX_BYTES)
        .dfa_size_limit(IGNORE_DFA_CACHE_BYTES)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => too_big(),
            // regex's message ends with a line "error: <what>"; keep just the what.
            e => syntax_problem(&e.to_string()),
        })
}

/// Checks an `ignore` pattern as [`ignore_regex`] compiles it, and returns the memory its
/// compiled form takes (bytes), or what is wrong with it.
pub fn ignore_regex_cost(pattern: &str) -> Result<usize, String> {
    use regex_automata::meta;
    // The configuration `regex::RegexBuilder` gives the meta regex it wraps.
    let config = meta::Config::new()
        .match_kind(regex_automata::MatchKind::LeftmostFirst)
        .utf8_empty(true)
        .nfa_size_limit(Some(MAX_IGNORE_REGEX_BYTES))
        .hybrid_cache_capacity(IGNORE_DFA_CACHE_BYTES);
    let syntax = regex_automata::util::syntax::Config::new().utf8(true);
    match meta::Builder::new()
        .configure(config)
        .syntax(syntax)
        .build(&format!("(?m){pattern}"))
    {
        Ok(re) => Ok(re.memory_usage()),
        Err(e) if e.size_limit().is_some() => Err(too_big()),
        Err(e) => Err(match e.syntax_error() {
            Some(se) => syntax_problem(&se.to_string()),
            None => syntax_problem(&e.to_string()),
        }),
    }
}

fn too_big() -> String {
    format!(
        "it compiles to more than {} KiB, the limit for one pattern; use fewer repetitions, or \
         ASCII classes such as `[0-9A-Za-z_]` instead of `\\w` (Unicode classes are large)",
        MAX_IGNORE_REGEX_BYTES >> 10
    )
}

fn syntax_problem(message: &str) -> String {
    let last = message.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

impl Rules {
    /// Compiles a source's selector and ignore patterns (already checked by `validate`).
    pub fn compile(selector: Option<&str>, ignore: &[String]) -> anyhow::Result<Self> {
        RuleCache::default().compile(selector, ignore)
    }
}

/// Compiles rules, each distinct `ignore` pattern once: sources sharing a pattern share its
/// compiled form (a clone of a `Regex` shares the program), so the watchlist's patterns take
/// the memory `validate` bounds ([`MAX_IGNORE_TOTAL_BYTES`]), whatever the number of sources.
#[derive(Debug, Default)]
pub struct RuleCache {
    regexes: std::collections::HashMap<String, Regex>,
}

impl RuleCache {
    /// [`Rules::compile`], reusing the patterns compiled before.
    pub fn compile(&mut self, selector: Option<&str>, ignore: &[String]) -> anyhow::Result<Rules> {
        let selector = match selector {
            Some(s) if s.len() > MAX_SELECTOR_LEN => {
                anyhow::bail!("CSS selector of {} bytes: at most {MAX_SELECTOR_LEN}", s.len())
            }
            Some(s) => Some(Selector::parse(s).map_err(|e| anyhow::anyhow!("bad CSS selector `{s}`: {e}"))?),
            None => None,
        };
        anyhow::ensure!(
            ignore.len() <= MAX_IGNORE_PER_SOURCE,
            "{} ignore patterns: at most {MAX_IGNORE_PER_SOURCE} per source",
            ignore.len()
        );
        let mut compiled = Vec::with_capacity(ignore.len());
        for r in ignore {
            let re = match self.regexes.get(r) {
                Some(re) => re.clone(),
                None => {
                    let re = ignore_regex(r).map_err(|e| anyhow::anyhow!("bad ignore regex `{r}`: {e}"))?;
                    self.regexes.insert(r.clone(), re.clone());
                    re
                }
            };
            compiled.push(re);
        }
        Ok(Rules {
            selector,
            ignore: compiled,
        })
    }
}

/// Why a body could not be turned into text.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The PDF could not be read.
    #[error("cannot read PDF: {0}")]
    Pdf(String),
    /// The content type is none of HTML, plain text or PDF.
    #[error("unsupported content type `{0}`")]
    Unsupported(String),
    /// The body is not text although its type says so.
    #[error("unsupported content type `{0}`: the body is binary, not text")]
    Binary(String),
    /// The source's `selector` matched no element: the page changed shape (or the selector is
    /// wrong). An error rather than an empty text, so it is not reported as all text removed.
    #[error("the source's CSS selector matched nothing on the page")]
    SelectorMatchedNothing,
}

/// What kind of document a content type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `text/html`, `application/xhtml+xml` (or no type and the body looks like HTML).
    Html,
    /// `text/plain`.
    Text,
    /// `application/pdf`.
    Pdf,
}

/// The document kind for a `Content-Type` value, or `None` when unsupported.
///
/// A body that is not text is not a document whatever its type says: binary bytes under
/// `text/html` or `text/plain` (see [`is_binary`]) give `None`, and so does a generic type
/// (`application/octet-stream`, or none) unless the body starts like a PDF, an HTML page or
/// is plain text. With an empty `body` (the fetch asking before reading one) a generic type
/// is let through, to be decided on the body.
pub fn doc_kind(content_type: &str, body: &[u8]) -> Option<DocKind> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => (!is_binary(body)).then_some(DocKind::Html),
        "text/plain" => (!is_binary(body)).then_some(DocKind::Text),
        "application/pdf" => Some(DocKind::Pdf),
        "" | "application/octet-stream" => {
            if body.starts_with(b"%PDF-") {
                Some(DocKind::Pdf)
            } else if body.is_empty() || (!is_binary(body) && looks_like_html(body)) {
                Some(DocKind::Html)
            } else if !is_binary(body) {
                Some(DocKind::Text)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Whether a body is binary rather than text: more than 1 in 20 control characters (NUL
/// included; tab, line feed, form feed, carriage return and escape not) in its first 8 KiB.
/// A stray NUL in a real page does not make it binary. UTF-16 text, full of NULs, has its
/// byte-order mark.
pub fn is_binary(body: &[u8]) -> bool {
    if body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    let head = &body[..body.len().min(8192)];
    if head.is_empty() {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B))
        .count();
    control * 20 > head.len()
}

/// Whether a body starts like an HTML page (after white space and a byte-order mark).
fn looks_like_html(body: &[u8]) -> bool {
    let head = &body[..body.len().min(1024)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let lower = head[start..].to_ascii_lowercase();
    lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<head")
        || lower.starts_with(b"<body")
        || lower.starts_with(b"<!--")
        || (lower.starts_with(b"<") && memchr::memmem::find(&lower, b"<p").is_some())
}

/// Extracts the main text of a body (or, with `rules.selector`, the text of the selected part),
/// then drops blocks matching `rules.ignore`.
pub fn extract(body: &[u8], content_type: &str, rules: &Rules) -> Result<ExtractedText, ExtractError> {
    let kind = doc_kind(content_type, body).ok_or_else(|| {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if is_binary(body) && doc_kind(content_type, b"").is_some() {
            ExtractError::Binary(mime.to_owned())
        } else {
            ExtractError::Unsupported(mime.to_owned())
        }
    })?;
    let blocks = match kind {
        DocKind::Html => html_blocks(&decode_cow(body, content_type), rules.selector.as_ref())
            .ok_or(ExtractError::SelectorMatchedNothing)?,
        DocKind::Text => decode_cow(body, content_type).lines().map(normalise).collect(),
        DocKind::Pdf => pdf::pdf_text(body)?.split("\n\n").map(normalise).collect(),
    };
    Ok(ExtractedText {
        blocks: blocks
            .into_iter()
            .filter(|b| !b.is_empty() && !rules.ignore.iter().any(|r| r.is_match(b)))
            .collect(),
    })
}

/// Text under this many characters counts as "found too little" and is retried without the
/// class/id boilerplate rules and conditional cleaning.
const MIN_MAIN_TEXT: usize = 250;

/// The blocks of a page; `None` when a selector matched nothing.
fn html_blocks(html: &str, selector: Option<&Selector>) -> Option<Vec<String>> {
    let html = prepare(html);
    if selector.is_none() {
        let parsed = html::parse(&html);
        return Some(main_blocks(parsed.arena()));
    }
    let doc = Html::parse_document(&html);
    let mut selected = Vec::new();
    let mut arena = build(&doc, selector, false, &mut selected);
    if selected.is_empty() {
        return None;
    }
    arena.aggregate(false);
    Some(arena.blocks(&selected, false, false))
}

/// The main text of a page parsed with scraper (html5ever) instead of the fast parse: for
/// comparing the two (`examples/extract_corpus.rs --compare`).
#[doc(hidden)]
pub fn main_text_via_scraper(body: &[u8], content_type: &str) -> Vec<String> {
    let html = decode_cow(body, content_type);
    let html = prepare(&html);
    let doc = Html::parse_document(&html);
    main_blocks(build(&doc, None, true, &mut Vec::new()))
        .into_iter()
        .filter(|b| !b.is_empty())
        .collect()
}

/// The main text of an arena built in main-text mode.
fn main_blocks(mut arena: Arena<'_>) -> Vec<String> {
    arena.aggregate(true);
    let roots = arena.main_content();
    let roots = arena.with_captions(roots);
    let mut blocks: Vec<String> = arena.blocks(&roots, true, true);
    blocks.retain(|b| !is_leftover(b));
    let len: usize = blocks.iter().map(String::len).sum();
    if len < MIN_MAIN_TEXT {
        // Too little: score again with only structural boilerplate removed, no cleaning.
        for el in &mut arena.els {
            el.junk = el.junk && el.flags & STRUCTURAL != 0;
            el.raw_text = 0;
            el.raw_ptext = 0;
            el.sum = Stats::default();
            el.flow = (0, 0);
            el.score = 0.0;
            el.scored = false;
        }
        arena.aggregate(true);
        let roots = arena.main_content();
        let mut retry = arena.blocks(&roots, false, false);
        retry.retain(|b| !is_leftover(b));
        if retry.iter().map(String::len).sum::<usize>() > len {
            blocks = retry;
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paragraphs long enough to be scored as article text.
    const PARAS: [&str; 4] = [
        "About 600 U.S. soldiers serve in KFOR, the NATO-led peacekeeping force in Kosovo, according to the command.",
        "The contingent rotates every nine months, and its headquarters sits at Camp Bondsteel, near Ferizaj.",
        "Officials said the mission, which began in 1999, remains focused on a safe and secure environment.",
        "Exercises such as DEFENDER 25 brought further units, vehicles and aircraft to the region this spring.",
    ];

    fn html(body: &str) -> Vec<u8> {
        format!("<!DOCTYPE html><html><head><title>t</title><style>p{{color:red}}</style></head><body>{body}</body></html>")
            .into_bytes()
    }

    fn article() -> String {
        PARAS.iter().map(|p| format!("<p>{p}</p>")).collect()
    }

    fn blocks(body: &[u8]) -> Vec<String> {
        extract(body, "text/html", &Rules::default()).unwrap().blocks
    }

    #[test]
    fn boilerplate_is_dropped() {
        let page = html(&format!(
            r##"<div id="cookie-consent" class="cookie-banner"><p>We use cookies to improve your experience, analyse traffic and personalise content.</p><button>Accept all cookies</button></div>
            <header class="site-header"><a href="/">Regional Times</a><span>Friday 01 March 2024</span></header>
            <nav><ul><li><a href="/a">Politics</a></li><li><a href="/b">World</a></li></ul></nav>
            <main><article><div class="article__body">{}</div>
            <div class="share"><a href="#">Share</a><a href="#">Email</a></div></article>
            <aside><h2>Related links</h2><ul><li><a href="/x">Another story about something else entirely</a></li></ul><h2>Most read</h2></aside></main>
            <form action="/newsletter"><p>Sign up for the daily briefing, delivered every morning to your inbox.</p><input name="e"></form>
            <footer><p>Page generated 2024-03-01 06:00:00 UTC · build be9c881818</p></footer>
            <script>var x = "<p>not text</p>";</script><noscript>Enable JavaScript</noscript>"##,
            article()
        ));
        assert_eq!(blocks(&page), PARAS);
    }

    #[test]
    fn hidden_elements_are_dropped() {
        let page = html(&format!(
            r##"<article>{}<p hidden>Hidden by attribute, this sentence must not appear anywhere.</p>
            <p aria-hidden="true">Hidden from assistive technology and from the extracted text.</p>
            <div style="display: none"><p>Hidden by inline style display none, also not wanted here.</p></div>
            <p style="VISIBILITY:hidden">Hidden by visibility, and so not part of the readable text.</p>
            <template><p>Template content is never rendered, so it is not text either.</p></template></article>"##,
            article()
        ));
        assert_eq!(blocks(&page), PARAS);
    }

    #[test]
    fn entities_and_white_space_are_normalised() {
        let page = html(&format!(
            "<article>{}<p>Caf&eacute; &amp; bar&#8217;s\n\t  prices&nbsp;rose by 5&#x25;, officials&#160;said on Monday\u{200b} morning.</p></article>",
            article()
        ));
        let b = blocks(&page);
        assert_eq!(
            b.last().unwrap(),
            "Café & bar’s prices rose by 5%, officials said on Monday morning."
        );
        assert_eq!(normalise("  a \u{a0}\n b\u{ad}c  "), "a bc");
    }

    #[test]
    fn table_rows_and_list_items_are_blocks() {
        let page = html(&format!(
            "<article>{}<table><caption>Troops by year</caption><thead><tr><th>Year</th><th>Troops</th></tr></thead>
            <tbody><tr><td>2024</td><td>590</td></tr><tr><td>2025</td><td>600</td></tr></tbody></table>
            <ul><li>First point, with <b>bold</b> text.</li><li>Second point.</li></ul>
            <pre>line one\nline two</pre></article>",
            article()
        ));
        let b = blocks(&page);
        let tail: Vec<&str> = b[PARAS.len()..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "Troops by year",
                "Year Troops",
                "2024 590",
                "2025 600",
                "First point, with bold text.",
                "Second point.",
                "line one",
                "line two"
            ]
        );
    }

    #[test]
    fn leftovers_and_link_lists_are_dropped() {
        let page = html(&format!(
            r##"<article><p>{}</p><div class="slot"><span>Advertisement</span></div><p>{}</p><p>Read more</p>
            <p>{} See <a href="/r">the report</a>.</p><p><a href="/full">The full report on troop levels</a></p>
            <div><a href="/x">Next story: elections</a></div><p>{}</p><p>·</p></article>"##,
            PARAS[0], PARAS[1], PARAS[2], PARAS[3]
        ));
        let b = blocks(&page);
        assert_eq!(
            b,
            [
                PARAS[0].to_owned(),
                PARAS[1].to_owned(),
                format!("{} See the report.", PARAS[2]),
                "The full report on troop levels".to_owned(),
                PARAS[3].to_owned(),
            ]
        );
    }

    #[test]
    fn boilerplate_names_on_the_article_wrapper_are_not_fatal() {
        // ASP.NET wraps the whole page in a form; themes put taxonomy slugs on the post.
        let page = html(&format!(
            r##"<form id="aspnetForm"><nav><a href="/">Home</a></nav>
            <article class="post author-jane tag-social-media category-advertising"><div id="sharing-the-load-with-allies">{}</div></article>
            <div class="comments"><p>A reader comment that is long enough to be scored as text, but is not the article.</p></div></form>"##,
            article()
        ));
        assert_eq!(blocks(&page), PARAS);
    }

    #[test]
    fn runs_of_link_paragraphs_are_dropped() {
        let page = html(&format!(
            r##"<article>{}<p>You may also like...</p><p><a href="/1">Who will make the Rock Hall in 2020?</a></p>
            <p><a href="/2">Band takes over the fan vote</a></p><p><a href="/3">Fans want the band in the Hall</a></p></article>"##,
            article()
        ));
        assert_eq!(blocks(&page), PARAS);
    }

    #[test]
    fn selector_narrows_without_scoring() {
        let page = html(&format!(
            r##"<nav><p>Menu text that is outside the selection and must not be kept.</p></nav>
            <div class="facts"><h3>Key facts</h3><ul><li><a href="/a">Link only item</a></li></ul>
            <script>bad()</script><span hidden>secret</span><p>Short.</p></div>{}
            <div class="facts"><p>Second match.</p></div>"##,
            article()
        ));
        let rules = Rules::compile(Some("div.facts"), &[]).unwrap();
        let b = extract(&page, "text/html", &rules).unwrap().blocks;
        assert_eq!(b, ["Key facts", "Link only item", "Short.", "Second match."]);
        // Nested matches are not repeated.
        let rules = Rules::compile(Some("div, ul"), &[]).unwrap();
        let b = extract(&page, "text/html", &rules).unwrap().blocks;
        assert_eq!(b, ["Key facts", "Link only item", "Short.", "Second match."]);
        assert!(Rules::compile(Some("div[["), &[]).is_err());
        // A selector that matches nothing is an error, not an empty text.
        let rules = Rules::compile(Some("div.gone"), &[]).unwrap();
        let r = extract(&page, "text/html", &rules);
        assert!(matches!(r, Err(ExtractError::SelectorMatchedNothing)), "{r:?}");
    }

    #[test]
    fn ignore_drops_matching_blocks() {
        let page = html(&format!(
            "<article><p>Last updated: 30 April 2023, 10:25 UTC</p>{}</article>",
            article()
        ));
        let rules = Rules::compile(None, &["^Last updated:.*$".to_owned(), "Bondsteel".to_owned()]).unwrap();
        let b = extract(&page, "text/html", &rules).unwrap().blocks;
        assert_eq!(b, [PARAS[0], PARAS[2], PARAS[3]]);
        assert!(Rules::compile(None, &["(".to_owned()]).is_err());
    }

    #[test]
    fn ignore_patterns_and_selectors_are_bounded() {
        // About 5 MiB compiled each: 300 of them took 1.6 GiB and 26 s to compile.
        let big = r"\w{50}\W{50}";
        let e = ignore_regex(big).unwrap_err();
        assert!(e.starts_with("it compiles to more than 1024 KiB"), "{e}");
        assert_eq!(ignore_regex_cost(big).unwrap_err(), e);
        assert!(Rules::compile(None, &[big.to_owned()]).is_err());
        // The ASCII spelling is small.
        let cost = ignore_regex_cost(r"[0-9A-Za-z_]{50}[^0-9A-Za-z_]{50}").unwrap();
        assert!(cost < MAX_IGNORE_REGEX_BYTES, "{cost}");
        let small = ignore_regex_cost("^Last updated:.*$").unwrap();
        assert!(small > 0 && small < 64 << 10, "{small}");
        // The same messages as before for syntax errors.
        assert_eq!(ignore_regex("(").unwrap_err(), "unclosed group");
        assert_eq!(ignore_regex_cost("(").unwrap_err(), "unclosed group");
        // Count per source, selector length.
        let many: Vec<String> = (0..=MAX_IGNORE_PER_SOURCE).map(|i| format!("x{i}")).collect();
        assert!(Rules::compile(None, &many).is_err());
        assert!(Rules::compile(None, &many[..MAX_IGNORE_PER_SOURCE]).is_ok());
        let long = vec!["p"; 200_000].join(", ");
        let t = std::time::Instant::now();
        assert!(Rules::compile(Some(&long), &[]).is_err());
        assert!(t.elapsed() < std::time::Duration::from_millis(100));
        // Sources sharing a pattern share its compiled form.
        let mut cache = RuleCache::default();
        let a = cache.compile(None, &["^Updated .*$".to_owned()]).unwrap();
        let b = cache.compile(None, &["^Updated .*$".to_owned()]).unwrap();
        assert_eq!(cache.regexes.len(), 1);
        assert!(a.ignore[0].is_match("x\nUpdated today") && b.ignore[0].is_match("Updated now"));
    }

    #[test]
    fn charset_from_header_meta_and_bom() {
        let latin = b"<html><body><p>Caf\xe9 cr\xe8me</p></body></html>";
        assert!(decode(latin, "text/html; charset=ISO-8859-1").contains("Café crème"));
        assert!(decode(latin, "text/html; Charset=\"iso-8859-1\"").contains("Café crème"));
        // No declaration: lossy UTF-8.
        assert!(decode(latin, "text/html").contains("Caf\u{fffd} cr\u{fffd}me"));
        let meta = b"<html><head><meta charset=\"iso-8859-1\"></head><body><p>Caf\xe9</p></body></html>";
        assert!(decode(meta, "text/html").contains("Café"));
        let equiv = b"<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=windows-1252\"></head><body>\x93q\x94</body></html>";
        assert!(decode(equiv, "text/html").contains("\u{201c}q\u{201d}"));
        // The header wins over the meta tag.
        let utf8_meta_latin = "<meta charset=\"iso-8859-1\"><p>Café</p>".as_bytes();
        assert!(decode(utf8_meta_latin, "text/html; charset=utf-8").contains("Café"));
        // A BOM wins over both (HTML standard) and is not part of the text.
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(utf8_meta_latin);
        let d = decode(&bom, "text/html; charset=iso-8859-1");
        assert!(d.starts_with("<meta") && d.contains("Café"));
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("<p>Ünï</p>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16, "text/html"), "<p>Ünï</p>");
        // A meta tag naming UTF-16 in an ASCII-compatible document means UTF-8.
        assert!(decode("<meta charset=utf-16><p>é</p>".as_bytes(), "").contains('é'));
        // Through extract, with the header.
        let page = [b"<article>".as_slice(), &latin[..], b"</article>"].concat();
        let b = extract(&page, "text/html; charset=iso-8859-1", &Rules::default())
            .unwrap()
            .blocks;
        assert_eq!(b, ["Café crème"]);
    }

    #[test]
    fn deep_nesting_does_not_blow_the_stack() {
        let n = 100_000;
        for tag in ["div", "span", "section"] {
            let page = format!(
                "<html><body>{}<p>Deep text that survives the nesting.</p>{}</body></html>",
                format!("<{tag}>").repeat(n),
                format!("</{tag}>").repeat(n)
            );
            let b = blocks(page.as_bytes());
            assert_eq!(b, ["Deep text that survives the nesting."], "{tag}");
        }
        // Unclosed, and nested inline formatting.
        let page = format!("<html><body>{}<p>Still here.</p>", "<div><b><i>".repeat(30_000));
        assert_eq!(blocks(page.as_bytes()), ["Still here."]);
    }

    #[test]
    fn prepare_guards_nesting_and_drops_script_contents() {
        let page = "<div><div><p>x</p></div></div><!-- <script> -->";
        assert!(matches!(prepare(page), Cow::Borrowed(_)));
        let page = "<p>a</p><SCRIPT type=x>if (a<div) {}</ScRipt><style>p{}</style><script src=x />b";
        assert_eq!(
            prepare(page),
            "<p>a</p><SCRIPT type=x></ScRipt><style></style><script src=x />b"
        );
        let deep = format!("{}x{}", "<DIV class=a>".repeat(600), "</div>".repeat(600));
        let guarded = prepare(&deep);
        assert_eq!(scan_tags(&guarded, |_, _, _| {}), MAX_BLOCK_NESTING);
        // Unterminated script: its contents run to the end.
        assert_eq!(prepare("<p>a</p><script>x < y"), "<p>a</p><script>");
        // Custom elements named like them, `>` in a quoted attribute, HTML that breaks out.
        let page = "<svg-icon>Menu</svg-icon><math-renderer>E=mc2</math-renderer><p>x</p>";
        assert!(matches!(prepare(page), Cow::Borrowed(_)));
        assert_eq!(
            prepare("<svg aria-label=\"a > b\"><path/></svg><p>b</p>"),
            "<svg aria-label=\"a > b\"></svg><p>b</p>"
        );
        assert!(matches!(prepare("<math><p>text</p></math>"), Cow::Borrowed(_)));
        assert!(matches!(
            prepare("<svg><path/></p><p>text</p></svg>"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(prepare("<svg><path/></svg-x>"), Cow::Borrowed(_)));
        // Icons and formulas go whole; a nested one, or one never closed, is left to the parser.
        assert_eq!(
            prepare("<p>a<SVG viewBox=x><path d=M0/><title>t</title></svg>b<math><mi>x</mi></MATH></p>"),
            "<p>a<SVG viewBox=x></svg>b<math></MATH></p>"
        );
        let nested = "<svg><svg><path/></svg><path/></svg><p>b</p>";
        assert_eq!(prepare(nested), "<svg><svg></svg><path/></svg><p>b</p>");
        assert!(matches!(prepare("<p>a<svg><path/>"), Cow::Borrowed(_)));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        // Binary garbage.
        let mut x: u32 = 0x1234_5678;
        let garbage: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        // Binary bytes are no document, whatever the type says: refused, not read as text.
        for ct in ["text/html", ""] {
            assert!(matches!(
                extract(&garbage, ct, &Rules::default()),
                Err(ExtractError::Binary(_) | ExtractError::Unsupported(_))
            ));
        }
        // Broken markup.
        let broken = b"<html><body><p>Unclosed <b>bold <i>and <table><tr><td>cell</p></div></span><p>More & more <<>> text</body>";
        let b = blocks(broken);
        assert!(b.iter().any(|l| l.contains("cell")), "{b:?}");
        // 10 MB of text in one page.
        let big = format!(
            "<html><body><article><p>{}</p></article></body></html>",
            "word, ".repeat(10 << 20 >> 3)
        );
        let b = blocks(big.as_bytes());
        assert_eq!(b.len(), 1);
        assert!(b[0].len() > 7_000_000);
        // Class names with multi-byte characters.
        let page = html(&format!(
            "<div class=\"tag-💩 x💩y\" id=\"a-b-c-d-💩\">{}</div>",
            article()
        ));
        assert_eq!(blocks(&page), PARAS);
    }

    #[test]
    fn pdf_text_and_unsupported_types() {
        let r = extract(
            b"%PDF-1.4\n%garbage that is not a PDF at all",
            "application/pdf",
            &Rules::default(),
        );
        assert!(matches!(r, Err(ExtractError::Pdf(_))), "{r:?}");
        let r = extract(b"\x89PNG\r\n", "image/png", &Rules::default());
        assert!(matches!(r, Err(ExtractError::Unsupported(t)) if t == "image/png"));
        let t = extract(
            b"  one  line \n\n two\tlines\n",
            "text/plain; charset=utf-8",
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(t.blocks, ["one line", "two lines"]);
        assert_eq!(doc_kind("", b"%PDF-1.7"), Some(DocKind::Pdf));
        assert_eq!(doc_kind("TEXT/HTML; charset=utf-8", b""), Some(DocKind::Html));
    }

    /// A one-page PDF with the given text line (Helvetica), xref offsets computed.
    fn tiny_pdf(text: &str) -> Vec<u8> {
        let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        ];
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = pdf.len();
        pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for off in offsets {
            pdf.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        pdf.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        pdf
    }

    #[test]
    fn pdf_text_is_extracted() {
        let t = extract(
            &tiny_pdf("About 600 soldiers serve in KFOR."),
            "application/pdf",
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(t.blocks, ["About 600 soldiers serve in KFOR."]);
        // Truncated: an error, not a panic.
        let pdf = tiny_pdf("x");
        let r = extract(&pdf[..pdf.len() / 2], "application/pdf", &Rules::default());
        assert!(r.is_err() || r.is_ok_and(|t| t.blocks.is_empty()));
    }

    #[test]
    fn text_round_trips() {
        let t = ExtractedText {
            blocks: vec!["a b".into(), "c".into()],
        };
        assert_eq!(t.to_text(), "a b\nc\n");
        assert_eq!(ExtractedText::from_text(&t.to_text()), t);
    }

    #[test]
    fn loose_text_in_a_container_is_article_text() {
        // Blog engines put the text straight into a div, between <br>s and image divs.
        let page = html(&format!(
            r##"<div class="sidebar"><ul><li><a href="/1">April (59)</a></li><li><a href="/2">March (67)</a></li></ul></div>
            <div class="post-body">{}<br><div class="separator"><a href="/i.jpg"><img src="/i.jpg"></a></div><br>{}<br><br>{}</div>
            <div class="post-footer"><div class="post-labels"><span>Tags:</span><a href="/t">Latest News</a></div></div>"##,
            PARAS[0], PARAS[1], PARAS[2]
        ));
        assert_eq!(blocks(&page), &PARAS[..3]);
    }

    #[test]
    fn short_pages_fall_back_to_their_text() {
        // No paragraph long enough to score: the body's text is kept, without boilerplate.
        let page = html("<nav><a href=/>Home</a></nav><div>Short note.</div><div>Another one.</div>");
        assert_eq!(blocks(&page), ["Short note.", "Another one."]);
        assert!(blocks(&html("")).is_empty());
    }
}

#[cfg(test)]
mod control_chars {
    #[test]
    fn control_characters_are_dropped() {
        let t = super::normalise("a\u{1b}[2Jb \u{7}c\u{9b}d");
        assert_eq!(t, "a[2Jb cd");
    }
}
