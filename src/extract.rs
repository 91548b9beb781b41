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

mod html;
pub mod pdf;
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

/// Decodes bytes to text.
///
/// Order: a byte-order mark, then the `Content-Type` charset, then `<meta charset>` (or
/// `http-equiv` Content-Type) in the first 4 KiB, then UTF-8, lossily (bad bytes become U+FFFD).
///
/// The issue lists the BOM after the two declarations; this follows the HTML standard's
/// encoding sniffing (and every browser) instead, where a BOM overrides any declaration: a BOM is
/// unambiguous, and a page that has one but declares another charset renders by the BOM.
pub fn decode(body: &[u8], content_type: &str) -> String {
    decode_cow(body, content_type).into_owned()
}

/// [`decode`] without copying a body that is already valid UTF-8.
fn decode_cow<'a>(body: &'a [u8], content_type: &str) -> Cow<'a, str> {
    let enc = encoding_rs::Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| header_charset(content_type))
        .or_else(|| meta_charset(body))
        .unwrap_or(encoding_rs::UTF_8);
    // `decode` strips a BOM (and would let it override `enc`, which it already does here).
    enc.decode(body).0
}

fn header_charset(content_type: &str) -> Option<&'static encoding_rs::Encoding> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        encoding_rs::Encoding::for_label(v.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// The charset a `<meta>` tag declares in the first 4 KiB (the standard's pre-scan reads 1 KiB;
/// some pages put the tag a little later).
fn meta_charset(body: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &body[..body.len().min(4096)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = find(&lower[from..], b"<meta") {
        let start = from + i + 5;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        from = end;
        let Some(j) = find(tag, b"charset") else { continue };
        let rest = &tag[j + 7..];
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let rest = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"'"))
            .unwrap_or(rest);
        let len = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.')))
            .unwrap_or(rest.len());
        if let Some(enc) = encoding_rs::Encoding::for_label(&rest[..len]) {
            // The standard: a meta naming UTF-16 means UTF-8 (the tag itself was readable as
            // ASCII), and x-user-defined means windows-1252.
            return Some(if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                encoding_rs::UTF_8
            } else if enc == encoding_rs::X_USER_DEFINED {
                encoding_rs::WINDOWS_1252
            } else {
                enc
            });
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Folds white space runs (including no-break spaces) to one space, drops zero-width and
/// soft-hyphen characters, and trims.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_normalised(&mut out, s);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Appends `t` to `out` with white space folded; `out` never starts with or doubles a space.
/// Runs of kept bytes are copied whole; only non-ASCII characters are decoded.
fn push_normalised(out: &mut String, t: &str) {
    const INVISIBLE: [char; 6] = [
        '\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}', '\u{ad}', '\u{2060}',
    ];
    fn space(out: &mut String) {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    let b = t.as_bytes();
    let (mut i, mut run) = (0, 0);
    while i < b.len() {
        if b[i] < 0x80 {
            if b[i] == b' ' && i > run && b[i - 1] != b' ' {
                // One space after kept text stays as it is: the run goes on.
                i += 1;
                continue;
            }
            if b[i].is_ascii_whitespace() {
                out.push_str(&t[run..i]);
                space(out);
                run = i + 1;
            } else if b[i].is_ascii_control() {
                // ESC and friends: source text must not drive the terminal that shows it.
                out.push_str(&t[run..i]);
                run = i + 1;
            }
            i += 1;
            continue;
        }
        // `i` is always on a char boundary: ASCII bytes step by one, others by their length.
        let Some(c) = t[i..].chars().next() else { break };
        let len = c.len_utf8();
        if c.is_whitespace() {
            out.push_str(&t[run..i]);
            space(out);
            run = i + len;
        } else if INVISIBLE.contains(&c) || c.is_control() {
            out.push_str(&t[run..i]);
            run = i + len;
        }
        i += len;
    }
    out.push_str(&t[run..]);
}

// ---------------------------------------------------------------------------------------------
// HTML: nesting guard

/// Deepest nesting kept for the block tags that make html5ever's tree builder scan its stack of
/// open elements on every start tag (quadratic: 100,000 nested `<div>`s take ~50 s to parse).
const MAX_BLOCK_NESTING: usize = 512;

/// `name` in lower case when it is short enough to be one of the tags below.
fn lower_name(name: &[u8]) -> Option<([u8; 10], usize)> {
    let mut buf = [0u8; 10];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some((buf, name.len()))
}

/// Tags whose start tag closes a `<p>` in button scope (the quadratic case), lower case.
fn is_scope_scanning(name: &[u8]) -> bool {
    matches!(
        name,
        b"address"
            | b"article"
            | b"aside"
            | b"blockquote"
            | b"center"
            | b"details"
            | b"dialog"
            | b"dir"
            | b"div"
            | b"dl"
            | b"fieldset"
            | b"figcaption"
            | b"figure"
            | b"footer"
            | b"form"
            | b"header"
            | b"hgroup"
            | b"listing"
            | b"main"
            | b"menu"
            | b"nav"
            | b"ol"
            | b"pre"
            | b"search"
            | b"section"
            | b"summary"
            | b"ul"
    )
}

/// Elements whose content is raw text (no tags inside), lower case.
fn is_raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"style" | b"textarea" | b"title" | b"xmp" | b"plaintext" | b"noembed" | b"noframes"
    )
}

/// A cheap lexical pass over the markup before parsing:
/// - when block tags nest deeper than [`MAX_BLOCK_NESTING`], the excess start tags (and as many
///   end tags) are removed, so that the parse stays linear;
/// - the contents of `<script>` and `<style>` (about half the bytes of a typical page, never
///   text) are removed, so that the tokenizer does not walk through them;
/// - so are those of `<svg>` and `<math>`, which the extractor drops whole (not when one nests
///   another of its kind: the first end tag would then close the wrong one).
///
/// A page with neither is returned untouched (no copy).
fn prepare(html: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut last = 0;
    scan_tags(html, |start, end, with| {
        if out.capacity() == 0 {
            out.reserve(html.len());
        }
        out.push_str(&html[last..start]);
        out.push_str(with);
        last = end;
    });
    if out.capacity() == 0 {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[last..]);
    Cow::Owned(out)
}

/// Walks the tags of `html`, tracking the nesting of scope-scanning block tags. Calls
/// `cut(start, end, replacement)` for each range to replace: block tags past the nesting limit,
/// script and style contents. Returns the deepest nesting seen. Every offset is at an ASCII
/// byte (`<`, or just after `>`), so on a char boundary.
fn scan_tags(html: &str, mut cut: impl FnMut(usize, usize, &'static str)) -> usize {
    let b = html.as_bytes();
    let (mut depth, mut max, mut excess) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &b[i..]) {
        let start = i + off;
        i = start + 1;
        if b[i..].starts_with(b"!--") {
            i = memchr::memmem::find(&b[i..], b"-->").map_or(b.len(), |e| i + e + 3);
            continue;
        }
        let close = b.get(i) == Some(&b'/');
        let ns = if close { i + 1 } else { i };
        let ne = ns + b[ns..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        if ne == ns {
            continue;
        }
        let end = memchr::memchr(b'>', &b[ne..]).map_or(b.len(), |e| ne + e + 1);
        i = end;
        let Some((buf, len)) = lower_name(&b[ns..ne]) else {
            continue;
        };
        let name = &buf[..len];
        if !close && is_raw_text(name) {
            // Skip to the matching end tag; drop the contents of scripts and styles.
            let content_end = find_end_tag(b, i, name);
            if matches!(name, b"script" | b"style") && content_end > i && !b[start..end].ends_with(b"/>") {
                cut(i, content_end, "");
            }
            i = content_end;
            continue;
        }
        if !close && matches!(name, b"svg" | b"math") && b.get(ne).is_some_and(|&c| ends_name(c)) {
            // Foreign content is never text here: drop it whole (icons and charts are a tenth
            // of a typical page's bytes), when that cannot change the parse: the start tag's
            // real end (quotes respected), its own end tag, nothing of its kind nested, and no
            // HTML tag inside that would make the parser leave it.
            let open_end = tag_end(b, ne);
            if b[..open_end].ends_with(b"/>") {
                continue;
            }
            if let Some(content_end) = find_end_tag_exact(b, open_end, name)
                && find_ci(&b[open_end..content_end], &[b"<", name].concat()).is_none()
                && !breaks_out_of_foreign(&b[open_end..content_end])
            {
                cut(open_end, content_end, "");
                i = content_end;
            }
            continue;
        }
        if !is_scope_scanning(name) || b[start..end].ends_with(b"/>") {
            continue;
        }
        if close {
            if excess > 0 {
                excess -= 1;
                cut(start, end, " ");
            } else {
                depth = depth.saturating_sub(1);
            }
        } else if depth >= MAX_BLOCK_NESTING {
            excess += 1;
            max = max.max(depth + excess);
            cut(start, end, " ");
        } else {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

/// Offset of `needle` in `hay`, ASCII case-insensitively.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = memchr::memchr2(
        needle[0].to_ascii_lowercase(),
        needle[0].to_ascii_uppercase(),
        &hay[from..],
    ) {
        let at = from + p;
        if hay.len() - at >= needle.len() && hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether `c` may follow a tag name (white space, `/` or `>`).
fn ends_name(c: u8) -> bool {
    c.is_ascii_whitespace() || c == b'/' || c == b'>'
}

/// The offset just past the `>` that ends the tag whose name ends at `from`, skipping quoted
/// attribute values; the end of `b` if there is none.
fn tag_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'>' => return i + 1,
            q @ (b'"' | b'\'') if b[from..i].trim_ascii_end().ends_with(b"=") => {
                i = memchr::memchr(q, &b[i + 1..]).map_or(b.len(), |e| i + 1 + e + 1);
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Offset of the end tag `</name` followed by white space, `/` or `>` (any case), if any.
fn find_end_tag_exact(b: &[u8], mut from: usize, name: &[u8]) -> Option<usize> {
    while let Some(p) = memchr::memmem::find(&b[from..], b"</") {
        let at = from + p;
        let n = &b[at + 2..];
        if n.len() > name.len() && n[..name.len()].eq_ignore_ascii_case(name) && ends_name(n[name.len()]) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// The start tags that make an HTML parser leave SVG or MathML content, lower case (`<font>`
/// does only with a color, face or size attribute).
const BREAKOUT_TAGS: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];

/// Whether foreign (SVG or MathML) content holds a tag that makes an HTML parser leave it
/// (the "breakout" start tags, `</p>` and `</br>`): cutting it would then lose HTML text.
fn breaks_out_of_foreign(content: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'<', &content[i..]) {
        let at = i + p + 1;
        i = at;
        let close = content.get(at) == Some(&b'/');
        let ns = if close { at + 1 } else { at };
        let ne = ns
            + content[ns..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
        if ne == ns || !content.get(ne).is_none_or(|&c| ends_name(c)) {
            continue;
        }
        let name = &content[ns..ne];
        let hit = if close {
            name.eq_ignore_ascii_case(b"p") || name.eq_ignore_ascii_case(b"br")
        } else {
            BREAKOUT_TAGS
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        };
        if hit {
            return true;
        }
    }
    false
}

/// Offset of `</name` (any case) at or after `from`, or the end of `b`.
fn find_end_tag(b: &[u8], mut from: usize, name: &[u8]) -> usize {
    while let Some(p) = memchr::memmem::find(&b[from..], b"</") {
        let at = from + p;
        let n = &b[at + 2..];
        if n.len() >= name.len() && n[..name.len()].eq_ignore_ascii_case(name) {
            return at;
        }
        from = at + 2;
    }
    b.len()
}

// ---------------------------------------------------------------------------------------------
// HTML: the element arena

const NONE: u32 = u32::MAX;

/// How an element affects block boundaries in the output.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Starts and ends a text block (p, div, li, h2, tr, …).
    Block,
    /// A table cell: its text is set apart by a space within the row's block.
    Cell,
    /// A line break: ends the current block.
    Br,
    /// Preformatted: each line is a block.
    Pre,
    /// Inline content.
    Inline,
}

/// One kept element, in document (pre-)order; children have larger indices than parents.
#[derive(Debug)]
struct El<'a> {
    name: &'a str,
    /// Tag flags from [`classify`].
    flags: u16,
    class: &'a str,
    parent: u32,
    /// Index of the last descendant element (itself when it has none).
    end: u32,
    /// Event indices of its Open and Close.
    open: u32,
    close: u32,
    kind: Kind,
    /// Boilerplate by tag, role, class or id (before the guard).
    junk: bool,
    /// Junk (after the guard) or inside junk: excluded from scoring and output.
    dead: bool,
    /// Class/id hint weight (Readability's ±25).
    weight: f32,
    /// Has a child that makes it more than a paragraph (div, p, ul, table, …).
    block_child: bool,
    own: Stats,
    /// Totals over the subtree, junk included (for the guard).
    raw_text: u32,
    raw_ptext: u32,
    /// Totals over the subtree, dead parts excluded.
    sum: Stats,
    /// Text length and commas of the running text directly inside (own text and inline children).
    flow: (u32, u32),
    score: f32,
    scored: bool,
}

/// Text and element counts; `own` holds direct children only, `sum` the subtree.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    text: u32,
    links: u32,
    commas: u32,
    headings: u32,
    paras: u32,
    imgs: u32,
    lis: u32,
    inputs: u32,
    embeds: u32,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.text += o.text;
        self.links += o.links;
        self.commas += o.commas;
        self.headings += o.headings;
        self.paras += o.paras;
        self.imgs += o.imgs;
        self.lis += o.lis;
        self.inputs += o.inputs;
        self.embeds += o.embeds;
    }

    fn link_density(&self) -> f32 {
        if self.text == 0 {
            0.0
        } else {
            self.links as f32 / self.text as f32
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Ev<'a> {
    Open(u32),
    Close(u32),
    Text(&'a str),
}

struct Arena<'a> {
    els: Vec<El<'a>>,
    evs: Vec<Ev<'a>>,
}

// Per-tag facts, looked up once per element.
/// Never carries readable text: not copied into the arena at all.
const NEVER: u16 = 1;
/// Structural boilerplate: dropped from the main text (not under a `selector`).
const STRUCTURAL: u16 = 1 << 1;
/// Makes its parent more than a paragraph (Readability's "div to p" test).
const BLOCKY: u16 = 1 << 2;
const P: u16 = 1 << 3;
const LI: u16 = 1 << 4;
const A: u16 = 1 << 5;
const HEADING: u16 = 1 << 6;
const IMG: u16 = 1 << 7;
const INPUT: u16 = 1 << 8;
const EMBED: u16 = 1 << 9;
/// A figure caption: main text when it reads as a sentence (see [`caption_sentence`]).
const CAPTION: u16 = 1 << 10;

/// The block kind and tag flags of an element name (lower case, as html5ever gives it).
fn classify(name: &str) -> (Kind, u16) {
    use Kind::*;
    match name {
        "p" => (Block, P | BLOCKY),
        "a" => (Inline, A),
        "div" | "section" | "article" | "blockquote" | "ul" | "ol" | "dl" | "table" => (Block, BLOCKY),
        "li" => (Block, LI),
        "span" | "b" | "i" | "em" | "strong" | "u" | "s" | "small" | "sup" | "sub" | "abbr" | "cite"
        | "code" | "q" | "time" | "mark" | "font" | "var" | "kbd" | "samp" | "del" | "ins" | "bdi"
        | "bdo" | "wbr" | "data" | "dfn" | "nobr" | "tt" | "big" | "strike" => (Inline, 0),
        "h1" => (Block, HEADING),
        "h2" | "h3" | "h4" | "h5" | "h6" => (Block, HEADING),
        "td" | "th" => (Cell, 0),
        "br" | "hr" => (Br, 0),
        "pre" => (Pre, BLOCKY),
        "listing" | "plaintext" | "xmp" => (Pre, 0),
        "figcaption" => (Block, CAPTION),
        "tr" | "thead" | "tbody" | "tfoot" | "caption" | "main" | "figure" | "address" | "details"
        | "summary" | "center" | "hgroup" | "body" | "html" | "dt" | "dd" | "search" | "colgroup" => {
            (Block, 0)
        }
        "nav" | "header" | "footer" | "aside" | "form" | "fieldset" | "menu" | "dialog" | "legend" => {
            (Block, STRUCTURAL)
        }
        "label" => (Inline, STRUCTURAL),
        "img" | "picture" => (Inline, NEVER | IMG),
        "input" | "textarea" | "select" | "button" => (Inline, NEVER | INPUT),
        "iframe" | "object" | "embed" | "video" | "audio" => (Inline, NEVER | EMBED),
        "script" | "style" | "noscript" | "template" | "svg" | "math" | "head" | "title" | "meta"
        | "link" | "base" | "frame" | "frameset" | "canvas" | "source" | "track" | "option" | "datalist"
        | "map" | "area" | "param" | "optgroup" | "noembed" | "noframes" => (Inline, NEVER),
        _ => (Inline, 0),
    }
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// The attributes extraction looks at, read in one pass (`Element::attr` interns its argument).
#[derive(Default)]
struct Attrs<'a> {
    class: &'a str,
    id: &'a str,
    role: &'a str,
    hidden: bool,
    /// `itemprop="articleBody"`.
    article_body: bool,
}

fn attrs_of(e: &scraper::node::Element) -> Attrs<'_> {
    let mut a = Attrs::default();
    for (k, v) in e.attrs() {
        match k {
            "class" => a.class = v,
            "id" => a.id = v,
            "role" => a.role = v,
            "itemprop" => a.article_body = v.eq_ignore_ascii_case("articleBody"),
            "hidden" => a.hidden = true,
            "aria-hidden" => a.hidden |= v.trim().eq_ignore_ascii_case("true"),
            "style" => a.hidden |= style_hides(v),
            _ => {}
        }
    }
    a
}

/// Whether an inline style says `display: none` or `visibility: hidden`.
fn style_hides(style: &str) -> bool {
    let b = style.as_bytes();
    if find_ci(b, b"none").is_none() && find_ci(b, b"hidden").is_none() {
        return false;
    }
    let compact: Vec<u8> = b
        .iter()
        .filter(|c| !c.is_ascii_whitespace())
        .map(u8::to_ascii_lowercase)
        .collect();
    find(&compact, b"display:none").is_some() || find(&compact, b"visibility:hidden").is_some()
}

/// Class or id tokens that name boilerplate (matched whole, after splitting on
/// non-alphanumerics; sorted for binary search).
const JUNK_TOKENS: &[&str] = &[
    "ad",
    "ads",
    "adslot",
    "adunit",
    "advert",
    "advertisement",
    "advertising",
    "adverts",
    "author",
    "banner",
    "breadcrumb",
    "breadcrumbs",
    "byline",
    "caption",
    "comment",
    "comments",
    "consent",
    "cookie",
    "cookies",
    "credit",
    "credits",
    "cta",
    "date",
    "dateline",
    "disqus",
    "footer",
    "gdpr",
    "header",
    "labels",
    "masthead",
    "menu",
    "meta",
    "modal",
    "nav",
    "navbar",
    "navigation",
    "newsletter",
    "outbrain",
    "pager",
    "pagination",
    "popular",
    "popup",
    "print",
    "promo",
    "promos",
    "recommended",
    "references",
    "reflist",
    "related",
    "rss",
    "share",
    "sharing",
    "sidebar",
    "signup",
    "skip",
    "social",
    "sponsor",
    "sponsored",
    "sr",
    "subscribe",
    "subscription",
    "taboola",
    "tags",
    "toolbar",
    "trending",
    "visually",
    "widget",
    "widgets",
];

fn junk_token(t: &str) -> bool {
    let mut buf = [0u8; 16];
    if t.is_empty() || t.len() > buf.len() {
        return false;
    }
    for (d, s) in buf.iter_mut().zip(t.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..t.len()]).unwrap_or("");
    JUNK_TOKENS.binary_search(&lower).is_ok()
}

/// Readability's positive and negative class/id hints, and stems that mark boilerplate even
/// inside a longer name (`shareButtons`, `relatedArticles`).
static POSITIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story")
        .unwrap()
});
static NEGATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor|shopping|tags|widget",
    )
    .unwrap()
});
static JUNK_STEMS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)cookie|newsletter|advert|sponsor|breadcrumb|sidebar|related|social|share|comments|disqus|outbrain|taboola|paywall|subscri|caption").unwrap()
});

/// Hints by class (or id) value.
type HintCache = rustc_hash::FxHashMap<Box<str>, (f32, bool, bool)>;

/// Readability's weight (±25) for a class or id value, whether it marks boilerplate, and whether
/// it marks the article itself (microformats `hentry`, `h-entry`).
fn name_hints(s: &str, is_id: bool) -> (f32, bool, bool) {
    if s.is_empty() {
        return (0.0, false, false);
    }
    // A site's pages share their templates' class names, page after page and run after run:
    // each thread remembers the hints of the names it has seen (three regex searches each).
    thread_local! {
        static SEEN: std::cell::RefCell<[HintCache; 2]> = std::cell::RefCell::default();
    }
    // At most this many names per thread, and names past 256 bytes are not kept.
    const SEEN_MAX: usize = 8192;
    let cached = SEEN.with_borrow(|seen| seen[usize::from(is_id)].get(s).copied());
    if let Some(h) = cached {
        return h;
    }
    let h = compute_name_hints(s, is_id);
    if s.len() > 256 {
        return h;
    }
    SEEN.with_borrow_mut(|seen| {
        let map = &mut seen[usize::from(is_id)];
        if map.len() >= SEEN_MAX {
            map.clear();
        }
        map.insert(s.into(), h);
    });
    h
}

fn compute_name_hints(s: &str, is_id: bool) -> (f32, bool, bool) {
    let mut w = 0.0;
    if NEGATIVE.is_match(s) {
        w -= 25.0;
    }
    if POSITIVE.is_match(s) {
        w += 25.0;
    }
    let mut junk = false;
    let mut article = false;
    for name in s.split_ascii_whitespace() {
        let lower_starts =
            |p: &str| name.len() > p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes());
        article |= name.eq_ignore_ascii_case("hentry") || name.eq_ignore_ascii_case("h-entry");
        // Taxonomy slugs (`tag-social-media`, `category-advertising`) say nothing about the
        // element; ids made from heading text (`sharing-with-a-single-developer`) neither.
        if lower_starts("tag-")
            || lower_starts("category-")
            || lower_starts("author-")
            || lower_starts("cat-")
        {
            continue;
        }
        if is_id
            && name
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|t| !t.is_empty())
                .count()
                > 3
        {
            continue;
        }
        junk |= JUNK_STEMS.is_match(name) || name.split(|c: char| !c.is_ascii_alphanumeric()).any(junk_token);
    }
    (w, junk, article)
}

fn junk_role(role: &str) -> bool {
    matches!(
        role.trim().to_ascii_lowercase().as_str(),
        "navigation"
            | "banner"
            | "contentinfo"
            | "complementary"
            | "search"
            | "dialog"
            | "alertdialog"
            | "menu"
            | "menubar"
            | "toolbar"
            | "alert"
            | "tablist"
            | "button"
    )
}

/// Text length (characters, ends trimmed) and commas of a text node.
fn text_stats(t: &str) -> (u32, u32) {
    let t = t.trim();
    if t.is_empty() {
        return (0, 0);
    }
    let mut commas = memchr::memchr_iter(b',', t.as_bytes()).count();
    let len = if t.is_ascii() {
        t.len()
    } else {
        commas += t.matches(['，', '、', '،']).count();
        t.chars().count()
    };
    (len as u32, commas as u32)
}

/// Flattens the parsed document. With `selector`, marks the outermost matching elements in
/// `selected`. `auto` marks boilerplate as junk (main-text mode).
fn build<'a>(doc: &'a Html, selector: Option<&Selector>, auto: bool, selected: &mut Vec<u32>) -> Arena<'a> {
    let mut b = ArenaBuilder::new(auto);
    let root = doc.tree.root();
    let Some(mut n) = root.first_child() else {
        return b.finish();
    };
    'walk: loop {
        let mut descend = false;
        match n.value() {
            Node::Text(t) => b.text(t),
            Node::Element(e) => {
                let is_selected =
                    || selector.is_some_and(|sel| ElementRef::wrap(n).is_some_and(|r| sel.matches(&r)));
                descend = b.open(e.name(), attrs_of(e), is_selected, selected);
            }
            _ => {}
        }
        if descend && let Some(c) = n.first_child() {
            n = c;
            continue;
        }
        if descend {
            b.close();
        }
        // Next node: a sibling, or climb (closing elements) until one has a sibling.
        loop {
            if let Some(s) = n.next_sibling() {
                n = s;
                continue 'walk;
            }
            match n.parent() {
                Some(p) if p.id() != root.id() => {
                    n = p;
                    b.close();
                }
                _ => break 'walk,
            }
        }
    }
    b.finish()
}

/// Whether an element is left out of the arena with all its content (it is only counted in its
/// parent's statistics).
fn skipped(flags: u16, at: &Attrs<'_>) -> bool {
    flags & NEVER != 0 || at.hidden
}

/// Builds the arena from a walk of the document: elements opened and closed in document order,
/// text in between. Used by both parsers ([`build`] over scraper's tree, and [`html`]'s fast
/// parse).
struct ArenaBuilder<'a> {
    els: Vec<El<'a>>,
    evs: Vec<Ev<'a>>,
    /// Open elements of the arena (the tree path).
    stack: Vec<u32>,
    /// The count of open `<a>`s.
    in_link: usize,
    /// How deep the outermost selected element is (NONE: not inside one).
    selected_at: u32,
    auto: bool,
}

impl<'a> ArenaBuilder<'a> {
    fn new(auto: bool) -> Self {
        let mut els: Vec<El<'a>> = Vec::with_capacity(2048);
        let mut evs: Vec<Ev<'a>> = Vec::with_capacity(8192);
        els.push(new_el("#root", "", NONE, Kind::Block, 0));
        evs.push(Ev::Open(0));
        ArenaBuilder {
            els,
            evs,
            stack: vec![0],
            in_link: 0,
            selected_at: NONE,
            auto,
        }
    }

    fn cur(&self) -> u32 {
        *self.stack.last().unwrap_or(&0)
    }

    fn text(&mut self, t: &'a str) {
        let (len, commas) = text_stats(t);
        if len > 0 {
            let (in_link, cur) = (self.in_link > 0, self.cur() as usize);
            let o = &mut self.els[cur].own;
            o.text += len;
            o.commas += commas;
            if in_link {
                o.links += len;
            }
            self.evs.push(Ev::Text(t));
        }
    }

    /// An element starts. Returns whether it was opened (its content is to be walked and
    /// [`Self::close`]d); a skipped element only counts in its parent. `is_selected` is asked
    /// only outside an already selected element; matches are pushed to `selected`.
    fn open(
        &mut self,
        name: &'a str,
        at: Attrs<'a>,
        is_selected: impl FnOnce() -> bool,
        selected: &mut Vec<u32>,
    ) -> bool {
        let cur = self.cur();
        let (kind, flags) = classify(name);
        if skipped(flags, &at) {
            let o = &mut self.els[cur as usize].own;
            o.imgs += u32::from(flags & IMG != 0);
            o.inputs += u32::from(flags & INPUT != 0);
            o.embeds += u32::from(flags & EMBED != 0);
            return false;
        }
        let idx = self.els.len() as u32;
        let mut el = new_el(name, at.class, cur, kind, flags);
        if self.auto {
            let (wc, jc, ac) = name_hints(at.class, false);
            let (wi, ji, _) = name_hints(at.id, true);
            el.weight = wc + wi;
            // The article element itself is never boilerplate, whatever its classes.
            let article = ac || name == "article" || at.article_body;
            el.junk = !matches!(name, "html" | "body")
                && (flags & STRUCTURAL != 0
                    || (!article && flags & CAPTION == 0 && name != "figure" && (jc || ji))
                    || (!at.role.is_empty() && junk_role(at.role)));
        }
        if flags & BLOCKY != 0 {
            self.els[cur as usize].block_child = true;
        }
        el.own.paras = u32::from(flags & P != 0);
        el.own.lis = u32::from(flags & LI != 0);
        el.open = self.evs.len() as u32;
        self.evs.push(Ev::Open(idx));
        self.els.push(el);
        if self.selected_at == NONE && is_selected() {
            selected.push(idx);
            self.selected_at = self.stack.len() as u32;
        }
        if flags & A != 0 {
            self.in_link += 1;
        }
        self.stack.push(idx);
        true
    }

    /// Closes the innermost open element.
    fn close(&mut self) {
        if self.stack.len() <= 1 {
            return;
        }
        let Some(idx) = self.stack.pop() else { return };
        let last = self.els.len() as u32 - 1;
        let el = &mut self.els[idx as usize];
        el.close = self.evs.len() as u32;
        el.end = last;
        if el.flags & A != 0 {
            self.in_link = self.in_link.saturating_sub(1);
        }
        if self.selected_at == self.stack.len() as u32 {
            self.selected_at = NONE;
        }
        self.evs.push(Ev::Close(idx));
    }

    fn finish(mut self) -> Arena<'a> {
        while self.stack.len() > 1 {
            self.close();
        }
        self.els[0].close = self.evs.len() as u32;
        self.evs.push(Ev::Close(0));
        self.els[0].end = self.els.len() as u32 - 1;
        Arena {
            els: self.els,
            evs: self.evs,
        }
    }
}

fn new_el<'a>(name: &'a str, class: &'a str, parent: u32, kind: Kind, flags: u16) -> El<'a> {
    El {
        name,
        flags,
        class,
        parent,
        end: 0,
        open: 0,
        close: 0,
        kind,
        junk: false,
        dead: false,
        weight: 0.0,
        block_child: false,
        own: Stats::default(),
        raw_text: 0,
        raw_ptext: 0,
        sum: Stats::default(),
        flow: (0, 0),
        score: 0.0,
        scored: false,
    }
}

impl Arena<'_> {
    /// Subtree totals, the junk guard, dead marks and effective totals.
    fn aggregate(&mut self, use_junk: bool) {
        let n = self.els.len();
        for i in (0..n).rev() {
            let own_text = self.els[i].own.text;
            let el = &mut self.els[i];
            el.raw_text += own_text;
            if el.flags & P != 0 && el.raw_text >= 25 {
                el.raw_ptext = el.raw_text;
            }
            let (rt, rp, parent) = (el.raw_text, el.raw_ptext, el.parent);
            if parent != NONE {
                let p = &mut self.els[parent as usize];
                p.raw_text += rt;
                p.raw_ptext += rp;
            }
        }
        // Junk that holds most of the page's paragraph text is a wrapper, not boilerplate.
        let (total_p, total_t) = (self.els[0].raw_ptext, self.els[0].raw_text);
        for i in 1..n {
            let el = &self.els[i];
            let held = if total_p >= 500 {
                el.raw_ptext as f32 / total_p as f32
            } else {
                el.raw_text as f32 / total_t.max(1) as f32
            };
            let junk = use_junk && el.junk && held <= 0.5;
            let dead = junk || self.els[el.parent as usize].dead;
            self.els[i].dead = dead;
        }
        for i in (0..n).rev() {
            let el = &mut self.els[i];
            let own = el.own;
            el.sum.add(&own);
            if el.flags & HEADING != 0 {
                el.sum.headings = el.sum.text;
            }
            el.flow.0 += own.text;
            el.flow.1 += own.commas;
            let (dead, sum, parent, flow, inline) =
                (el.dead, el.sum, el.parent, el.flow, el.kind == Kind::Inline);
            if parent != NONE && !dead {
                let p = &mut self.els[parent as usize];
                p.sum.add(&sum);
                if inline {
                    p.flow.0 += flow.0;
                    p.flow.1 += flow.1;
                }
            }
        }
    }

    fn is_para(&self, i: usize) -> bool {
        let el = &self.els[i];
        match el.name {
            "p" | "pre" | "td" => true,
            "div" | "section" => !el.block_child,
            _ => false,
        }
    }

    fn init_score(&mut self, i: usize) {
        let el = &mut self.els[i];
        if el.scored {
            return;
        }
        el.scored = true;
        el.score = el.weight
            + match el.name {
                "div" => 5.0,
                "pre" | "td" | "blockquote" => 3.0,
                "address" | "ol" | "ul" | "dl" | "dd" | "dt" | "li" | "form" => -3.0,
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "th" => -5.0,
                _ => 0.0,
            };
    }

    /// Readability's candidate scoring; returns the elements whose subtrees form the main text.
    fn main_content(&mut self) -> Vec<u32> {
        let n = self.els.len();
        for i in 1..n {
            if self.els[i].dead {
                continue;
            }
            // A paragraph scores its ancestors; so does running text loose in a container with
            // block children (Readability wraps such runs in a `<p>`), starting at the container.
            let el = &self.els[i];
            let (text, commas, mut a) = if self.is_para(i) {
                (el.sum.text, el.sum.commas, el.parent)
            } else if el.block_child && matches!(el.name, "div" | "section" | "article" | "main") {
                (el.flow.0, el.flow.1, i as u32)
            } else {
                continue;
            };
            if text < 25 {
                continue;
            }
            let cs = 1.0 + commas as f32 + (text / 100).min(3) as f32;
            for level in 0..5 {
                if a == NONE || a == 0 || matches!(self.els[a as usize].name, "html") {
                    break;
                }
                self.init_score(a as usize);
                let div = match level {
                    0 => 1.0,
                    1 => 2.0,
                    l => l as f32 * 3.0,
                };
                self.els[a as usize].score += cs / div;
                a = self.els[a as usize].parent;
            }
        }
        let mut cands: Vec<u32> = Vec::new();
        for i in 1..n {
            let el = &mut self.els[i];
            if el.scored {
                el.score *= 1.0 - el.sum.link_density();
                if !el.dead {
                    cands.push(i as u32);
                }
            }
        }
        let body = (1..n).find(|&i| self.els[i].name == "body").unwrap_or(0) as u32;
        cands.sort_by(|a, b| {
            self.els[*b as usize]
                .score
                .total_cmp(&self.els[*a as usize].score)
        });
        let Some(&first) = cands.first() else {
            return vec![body];
        };
        let mut top = first;
        if top == body {
            return vec![body];
        }
        let top_score = self.els[top as usize].score;
        // Several strong candidates under one ancestor: take the ancestor.
        let alts: Vec<u32> = cands
            .iter()
            .skip(1)
            .take(4)
            .copied()
            .filter(|&c| top_score > 0.0 && self.els[c as usize].score / top_score >= 0.75)
            .collect();
        if alts.len() >= 3 {
            let mut p = self.els[top as usize].parent;
            while p != NONE && p != body && p != 0 {
                let holding = alts.iter().filter(|&&c| self.is_ancestor(p, c)).count();
                if holding >= 3 {
                    top = p;
                    break;
                }
                p = self.els[p as usize].parent;
            }
        }
        self.init_score(top as usize);
        // Climb while the parent scores better.
        let mut last = self.els[top as usize].score;
        let threshold = last / 3.0;
        let mut p = self.els[top as usize].parent;
        while p != NONE && p != body && p != 0 {
            let pe = &self.els[p as usize];
            if !pe.scored {
                p = pe.parent;
                continue;
            }
            if pe.score < threshold {
                break;
            }
            if pe.score > last {
                top = p;
                break;
            }
            last = pe.score;
            p = pe.parent;
        }
        // An only child stands for its parent.
        let mut p = self.els[top as usize].parent;
        while p != NONE && p != body && p != 0 && self.live_children(p).count() == 1 {
            top = p;
            p = self.els[top as usize].parent;
        }
        if p == NONE || p == 0 {
            return vec![top];
        }
        // Siblings that look like part of the article.
        let ts = self.els[top as usize].score;
        let threshold = (ts * 0.2).max(10.0);
        let top_class = self.els[top as usize].class;
        let mut out = Vec::new();
        for c in self.live_children(p).collect::<Vec<_>>() {
            if c == top {
                out.push(c);
                continue;
            }
            let el = &self.els[c as usize];
            let bonus = if !top_class.is_empty() && el.class == top_class {
                ts * 0.2
            } else {
                0.0
            };
            let keep = if el.scored && el.score + bonus >= threshold {
                true
            } else if el.name == "p" {
                let (len, ld) = (el.sum.text, el.sum.link_density());
                (len > 80 && ld < 0.25) || (len > 0 && len <= 80 && ld == 0.0 && self.ends_sentence(c))
            } else {
                // Article text nested too deep under a sibling to have scored it.
                !el.scored && el.sum.paras >= 3 && el.sum.text >= 1000 && el.sum.link_density() < 0.1
            };
            if keep {
                out.push(c);
            }
        }
        out
    }

    /// `roots` with the figure captions next to them (a hero image's caption above the
    /// article body): a live caption outside every root whose ancestor within
    /// [`CAPTION_REACH`] levels holds a root, in document order. Whether it is kept is
    /// decided on its text (see [`caption_sentence`]).
    fn with_captions(&self, mut roots: Vec<u32>) -> Vec<u32> {
        let inside = |i: u32, roots: &[u32]| roots.iter().any(|&r| self.is_ancestor(r, i));
        let mut extra = Vec::new();
        for (i, el) in self.els.iter().enumerate() {
            let i = i as u32;
            if el.flags & CAPTION == 0 || el.dead || inside(i, &roots) || inside(i, &extra) {
                continue;
            }
            let mut a = el.parent;
            for _ in 0..CAPTION_REACH {
                if a == NONE || a == 0 || matches!(self.els[a as usize].name, "body" | "html") {
                    break;
                }
                if roots.iter().any(|&r| self.is_ancestor(a, r)) {
                    extra.push(i);
                    break;
                }
                a = self.els[a as usize].parent;
            }
        }
        if extra.is_empty() {
            return roots;
        }
        roots.extend(extra);
        roots.sort_by_key(|&r| self.els[r as usize].open);
        roots
    }

    fn is_ancestor(&self, a: u32, mut c: u32) -> bool {
        while c != NONE {
            if c == a {
                return true;
            }
            c = self.els[c as usize].parent;
        }
        false
    }

    /// Child elements that are not dead.
    fn live_children(&self, p: u32) -> impl Iterator<Item = u32> + '_ {
        let end = self.els[p as usize].end;
        let mut j = p + 1;
        std::iter::from_fn(move || {
            while j <= end && (j as usize) < self.els.len() {
                let c = j;
                j = self.els[c as usize].end + 1;
                if !self.els[c as usize].dead {
                    return Some(c);
                }
            }
            None
        })
    }

    fn ends_sentence(&self, i: u32) -> bool {
        let el = &self.els[i as usize];
        let mut s = String::new();
        for ev in &self.evs[el.open as usize..el.close as usize] {
            if let Ev::Text(t) = ev {
                s.push_str(t);
            }
        }
        let s = s.trim_end();
        s.ends_with('.') || s.contains(". ")
    }

    /// Readability's conditional cleaning of an element inside the main content.
    fn clean_away(&self, i: u32, in_figure: bool) -> bool {
        let el = &self.els[i as usize];
        if is_heading(el.name) {
            return el.weight < 0.0;
        }
        if !matches!(
            el.name,
            "table" | "ul" | "ol" | "div" | "section" | "form" | "fieldset" | "figure" | "dl"
        ) {
            return false;
        }
        let s = el.sum;
        let score = if el.scored { el.score } else { 0.0 };
        if el.weight + score < 0.0 {
            return true;
        }
        if s.commas >= 10 {
            return false;
        }
        let ld = s.link_density();
        if el.name == "table" && self.data_table(i) {
            return ld > 0.5;
        }
        let is_list = matches!(el.name, "ul" | "ol" | "dl");
        let p = s.paras as f32;
        let img = s.imgs as f32;
        let li = s.lis as f32 - 100.0;
        let heading_density = if s.text == 0 {
            0.0
        } else {
            s.headings as f32 / s.text as f32
        };
        (img > 1.0 && p / img < 0.5 && !in_figure)
            || (!is_list && li > p)
            || (s.inputs as f32 > (p / 3.0).floor())
            || (!is_list && heading_density < 0.9 && s.text < 25 && (s.imgs == 0 || s.imgs > 2) && !in_figure)
            || (!is_list && el.weight < 25.0 && ld > 0.2)
            || (el.weight >= 25.0 && ld > 0.5)
            || (s.embeds == 1 && s.text < 75)
            || s.embeds > 1
    }

    /// A table of data (caption, header cells), not one used for layout.
    fn data_table(&self, i: u32) -> bool {
        let el = &self.els[i as usize];
        (i + 1..=el.end).any(|j| matches!(self.els[j as usize].name, "caption" | "th" | "thead"))
            && !(i + 1..=el.end).any(|j| self.els[j as usize].name == "table")
    }

    /// The blocks of the given subtrees, in order. `main` applies conditional cleaning;
    /// `drop_link_only` drops blocks whose only words are link text (menus, "more stories" lists)
    /// unless they were written as a paragraph.
    fn blocks(&self, roots: &[u32], main: bool, drop_link_only: bool) -> Vec<String> {
        let mut out = Blocks {
            drop_link_only,
            ..Blocks::default()
        };
        for &r in roots {
            let el = &self.els[r as usize];
            let (mut k, close) = (el.open as usize, el.close as usize);
            let (mut in_pre, mut in_figure, mut in_link) = (0usize, 0usize, 0usize);
            // Where each open caption's blocks start.
            let mut captions: Vec<usize> = Vec::new();
            while k <= close {
                match self.evs[k] {
                    Ev::Open(i) => {
                        let e = &self.els[i as usize];
                        if i != r && (e.dead || (main && self.clean_away(i, in_figure > 0))) {
                            k = e.close as usize + 1;
                            continue;
                        }
                        match e.kind {
                            Kind::Block | Kind::Br => out.flush(),
                            Kind::Pre => {
                                out.flush();
                                in_pre += 1;
                            }
                            Kind::Cell => out.space(),
                            Kind::Inline => {}
                        }
                        in_figure += usize::from(e.name == "figure");
                        in_link += usize::from(e.flags & A != 0);
                        out.in_p += usize::from(e.flags & P != 0);
                        if e.flags & CAPTION != 0 {
                            captions.push(out.blocks.len());
                        }
                    }
                    Ev::Close(i) => {
                        let e = &self.els[i as usize];
                        match e.kind {
                            Kind::Block => out.flush(),
                            Kind::Pre => {
                                out.flush();
                                in_pre = in_pre.saturating_sub(1);
                            }
                            Kind::Cell => out.space(),
                            Kind::Br | Kind::Inline => {}
                        }
                        in_figure = in_figure.saturating_sub(usize::from(e.name == "figure"));
                        in_link = in_link.saturating_sub(usize::from(e.flags & A != 0));
                        out.in_p = out.in_p.saturating_sub(usize::from(e.flags & P != 0));
                        // A caption that is not a sentence (a credit, a label) is not text
                        // a claim cites.
                        if e.flags & CAPTION != 0
                            && let Some(start) = captions.pop()
                            && !caption_sentence(&out.blocks[start.min(out.blocks.len())..])
                        {
                            out.blocks.truncate(start);
                            out.link_paras.retain(|&b| b < start);
                        }
                    }
                    Ev::Text(t) => {
                        if in_pre > 0 {
                            for (n, l) in t.split('\n').enumerate() {
                                if n > 0 {
                                    out.flush();
                                }
                                out.text(l, in_link > 0);
                            }
                        } else {
                            out.text(t, in_link > 0);
                        }
                    }
                }
                k += 1;
            }
            out.flush();
        }
        out.finish()
    }
}

/// How many levels up from a caption outside the main content its common ancestor with the
/// main content may be for it to count as next to the article.
const CAPTION_REACH: usize = 3;

/// Whether a caption's blocks read as a sentence: starts with a capital, a digit or a quote,
/// ends like prose (`.`, `!`, `?`, before closing quotes or brackets) and has four words or
/// more. "Photo: AFP" and "Figure 2" do not.
fn caption_sentence(blocks: &[String]) -> bool {
    let text = blocks.join(" ");
    let t = text.trim();
    let words = t.split_whitespace().count();
    let end = t.trim_end_matches(['"', '”', '’', ')', ']', ' ']);
    words >= 4
        && t.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '“' | '‘'))
        && end.ends_with(['.', '!', '?'])
}

/// Builds blocks from text pieces.
#[derive(Default)]
struct Blocks {
    blocks: Vec<String>,
    cur: String,
    /// The current block has words inside / outside links, and text inside a `<p>`.
    linked: bool,
    plain: bool,
    para: bool,
    /// Open `<p>` elements.
    in_p: usize,
    drop_link_only: bool,
    /// Indices of kept blocks that are paragraphs of link text only.
    link_paras: Vec<usize>,
}

impl Blocks {
    /// Sets table cells apart within their row.
    fn space(&mut self) {
        if !self.cur.is_empty() && !self.cur.ends_with(' ') {
            self.cur.push(' ');
        }
    }

    fn text(&mut self, t: &str, in_link: bool) {
        push_normalised(&mut self.cur, t);
        self.para |= self.in_p > 0;
        if in_link {
            self.linked = true;
        } else if !self.plain {
            self.plain = t.chars().any(char::is_alphanumeric);
        }
    }

    /// Ends the current block. A block of link text only is dropped (a menu, a list of other
    /// stories) unless it was written as a paragraph; such paragraphs are remembered.
    fn flush(&mut self) {
        let t = self.cur.trim_end();
        let link_only = self.drop_link_only && self.linked && !self.plain;
        if !t.is_empty() && (!link_only || self.para) {
            if link_only {
                self.link_paras.push(self.blocks.len());
            }
            self.blocks.push(t.to_owned());
        }
        self.cur.clear();
        self.linked = false;
        self.plain = false;
        self.para = false;
    }

    /// The blocks, without runs of three or more link-only paragraphs ("you may also like").
    fn finish(mut self) -> Vec<String> {
        self.flush();
        let mut drop = vec![false; self.blocks.len()];
        let lp = &self.link_paras;
        let mut i = 0;
        while i < lp.len() {
            let mut j = i;
            while j + 1 < lp.len() && lp[j + 1] == lp[j] + 1 {
                j += 1;
            }
            if j - i >= 2 {
                for &k in &lp[i..=j] {
                    drop[k] = true;
                }
            }
            i = j + 1;
        }
        let mut k = 0;
        self.blocks.retain(|_| {
            k += 1;
            !drop[k - 1]
        });
        self.blocks
    }
}

/// Short blocks that are page furniture, not text ("Advertisement", "Share", "Read more"),
/// lower case and without trailing punctuation.
const LEFTOVERS: &[&str] = &[
    "advertisement",
    "advertisements",
    "advert",
    "ad",
    "ads",
    "sponsored",
    "sponsored content",
    "paid content",
    "promoted",
    "share",
    "share this",
    "share this article",
    "share this story",
    "share on facebook",
    "share on twitter",
    "share via email",
    "tweet",
    "email",
    "print",
    "read more",
    "continue reading",
    "continue reading below",
    "read the full story",
    "related",
    "related articles",
    "related stories",
    "related content",
    "more on this story",
    "subscribe",
    "sign up",
    "sign in",
    "log in",
    "comments",
    "view comments",
    "show comments",
    "skip to main content",
    "skip to content",
    "back to top",
    "scroll to continue with content",
    "story continues below advertisement",
    "article continues below",
    "advertisement - scroll to continue",
    "loading",
    "loading…",
    "close",
    "menu",
    "toggle navigation",
    "image",
    "photo",
    "video",
    "copy link",
    "link copied",
    "listen to this article",
    "recommended",
    "most read",
    "most popular",
    "trending",
    "follow us",
    "newsletter",
    "accept all cookies",
    "you may also like",
    "you might also like",
    "don't miss",
    "don’t miss",
    "see more",
    "more stories",
    "also read",
    "read also",
    "read next",
    "more from",
    "this slideshow requires javascript",
    "accept cookies",
];

/// Drops leftover furniture blocks and blocks without a letter or digit.
fn is_leftover(b: &str) -> bool {
    if b.len() > 60 {
        return false;
    }
    if !b.chars().any(char::is_alphanumeric) {
        return true;
    }
    let t = b.trim_end_matches(|c: char| c.is_ascii_punctuation() || c == '…' || c.is_whitespace());
    let lower = t.to_lowercase();
    LEFTOVERS.contains(&lower.as_str())
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
