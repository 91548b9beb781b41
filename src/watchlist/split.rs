//! Splitting article prose into units (sentences, headings, list items) and pulling the
//! citation markers out of each. Pure text processing.
//!
//! The prose is first cut into blocks: paragraphs (runs of non-blank lines), markdown
//! headings (`# ...`) and list items (`- `, `* `, `+ `, `• `, `1. `, `1) `, `(1) `, `a) `),
//! each a block of its own. A block of one short line without final punctuation between blank
//! lines (a plain-text section title such as "1. U.S. role today: ...") is a heading too.
//! Paragraphs and list items are then split into sentences with [`sentencex`], which keeps
//! "U.S.", "e.g.", "No. 5", decimals, "~600", quotes, "Gen." and "Dr." inside one sentence
//! and leaves markers written after the full stop (`... in KFOR. [1]`) with the sentence
//! they follow; two small fix-ups below cover the cases it misses.
//!
//! Every position is a byte offset into the prose, so callers can point at the exact line
//! and column of a marker.

use super::CiteNo;

/// What kind of text a [`Unit`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// A sentence of a paragraph.
    Sentence,
    /// A heading: markdown `#`, or a short unpunctuated line between blank lines.
    Heading,
    /// A sentence of a list item.
    ListItem,
}

/// One citation marker such as `[1]`, `[1, 2]` or `[3-5]`, as written in the prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The cites it names, in the order written.
    pub cites: Vec<CiteNo>,
    /// Byte offset of its `[` in the prose.
    pub offset: usize,
}

/// One sentence, heading or list item of the prose.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Sentence, heading or list item.
    pub kind: UnitKind,
    /// Text without markers, white space folded.
    pub text: String,
    /// Cites found in it, sorted, without duplicates.
    pub cites: Vec<CiteNo>,
    /// 0-based line of the prose where the unit starts.
    pub line: usize,
    /// Byte offset in the prose where the unit starts.
    pub offset: usize,
    /// Its markers, in order.
    pub markers: Vec<Marker>,
}

impl Unit {
    /// True when the unit carries at least one marker, which makes it a statement.
    pub fn is_statement(&self) -> bool {
        !self.cites.is_empty()
    }

    /// True for a sentence or list item without any marker (headings are not counted).
    pub fn is_unmarked_sentence(&self) -> bool {
        self.cites.is_empty() && self.kind != UnitKind::Heading
    }
}

/// Longest line (in characters) that the plain-text heading rule accepts.
const HEADING_MAX_CHARS: usize = 120;

/// Splits `prose` into units with their cites, in order.
pub fn units(prose: &str) -> Vec<Unit> {
    let lines = line_table(prose);
    let mut out = Vec::new();
    for block in blocks(prose, &lines) {
        match block.kind {
            BlockKind::Heading => {
                let raw = &prose[block.start..block.end];
                let (text, markers) = strip_markers_at(raw, block.start);
                if !text.is_empty() {
                    out.push(make_unit(UnitKind::Heading, text, markers, block.start, &lines));
                }
            }
            BlockKind::Paragraph | BlockKind::ListItem => {
                let kind = if block.kind == BlockKind::ListItem {
                    UnitKind::ListItem
                } else {
                    UnitKind::Sentence
                };
                for (start, end) in sentence_spans(prose, block.start, block.end) {
                    let (text, markers) = strip_markers_at(&prose[start..end], start);
                    if !text.is_empty() {
                        out.push(make_unit(kind, text, markers, start, &lines));
                    }
                }
            }
        }
    }
    out
}

fn make_unit(kind: UnitKind, text: String, markers: Vec<Marker>, offset: usize, lines: &[usize]) -> Unit {
    let mut cites: Vec<CiteNo> = markers.iter().flat_map(|m| m.cites.iter().copied()).collect();
    cites.sort();
    cites.dedup();
    Unit {
        kind,
        text,
        cites,
        line: line_of(lines, offset),
        offset,
        markers,
    }
}

/// Byte offsets where each line starts.
fn line_table(prose: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(prose.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// 0-based line of byte offset `at`.
fn line_of(lines: &[usize], at: usize) -> usize {
    lines.partition_point(|&s| s <= at).saturating_sub(1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Paragraph,
    Heading,
    ListItem,
}

/// A run of prose: `start..end` are byte offsets of its text (markup such as `## ` or
/// a bullet already skipped).
#[derive(Debug)]
struct Block {
    kind: BlockKind,
    start: usize,
    end: usize,
    /// Lines it spans.
    lines: usize,
    /// Starts with a numbered list marker (`1.`), which the plain-text heading rule allows.
    numbered: bool,
    /// Where the line starts, list marker included.
    line_start: usize,
    /// A blank line (or the start of the prose) comes before it.
    blank_before: bool,
}

fn blocks(prose: &str, lines: &[usize]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut open: Option<Block> = None;
    let mut prev_blank = true;
    // Whether a blank line (or the end) follows each finished block.
    let mut blank_after: Vec<bool> = Vec::new();
    let finish = |open: &mut Option<Block>, out: &mut Vec<Block>, blank_after: &mut Vec<bool>, blank| {
        if let Some(b) = open.take() {
            out.push(b);
            blank_after.push(blank);
        }
    };
    for (i, &ls) in lines.iter().enumerate() {
        let le = lines.get(i + 1).map_or(prose.len(), |&n| n - 1);
        let line = prose[ls..le].trim_end_matches('\r');
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let text_start = ls + indent;
        let text_end = ls + line.trim_end().len();
        if trimmed.trim().is_empty() {
            finish(&mut open, &mut out, &mut blank_after, true);
            prev_blank = true;
            continue;
        }
        if let Some(skip) = atx_heading(trimmed) {
            finish(&mut open, &mut out, &mut blank_after, false);
            let body = trimmed[skip..].trim_end().trim_end_matches('#').trim_end();
            out.push(Block {
                kind: BlockKind::Heading,
                start: text_start + skip,
                end: text_start + skip + body.len(),
                lines: 1,
                numbered: false,
                line_start: text_start,
                blank_before: prev_blank,
            });
            blank_after.push(false);
            prev_blank = false;
            continue;
        }
        if let Some((skip, numbered)) = list_item(trimmed) {
            finish(&mut open, &mut out, &mut blank_after, false);
            open = Some(Block {
                kind: BlockKind::ListItem,
                start: text_start + skip,
                end: text_end,
                lines: 1,
                numbered,
                line_start: text_start,
                blank_before: prev_blank,
            });
            prev_blank = false;
            continue;
        }
        match &mut open {
            Some(b) => {
                b.end = text_end;
                b.lines += 1;
            }
            None => {
                open = Some(Block {
                    kind: BlockKind::Paragraph,
                    start: text_start,
                    end: text_end,
                    lines: 1,
                    numbered: false,
                    line_start: text_start,
                    blank_before: prev_blank,
                });
            }
        }
        prev_blank = false;
    }
    finish(&mut open, &mut out, &mut blank_after, true);
    for (b, after) in out.iter_mut().zip(blank_after) {
        let plain_heading_shape =
            b.kind == BlockKind::Paragraph || (b.kind == BlockKind::ListItem && b.numbered);
        if plain_heading_shape
            && b.lines == 1
            && b.blank_before
            && after
            && looks_like_heading(&prose[b.start..b.end])
        {
            // A numbered title keeps its number: "1. U.S. role today".
            b.kind = BlockKind::Heading;
            b.start = b.line_start;
        }
    }
    out
}

/// `# Title` … `###### Title`: the bytes to skip before the title.
fn atx_heading(line: &str) -> Option<usize> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if rest.is_empty() {
        return Some(hashes);
    }
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(hashes + (rest.len() - rest.trim_start().len()))
}

/// A list-item start: the bytes to skip before the item's text, and whether it is numbered.
fn list_item(line: &str) -> Option<(usize, bool)> {
    let re = list_re();
    let m = re.captures(line)?;
    let whole = m.get(0)?;
    Some((whole.end(), m.name("num").is_some()))
}

fn list_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^(?:[-*+•]|(?P<num>\d{1,3}[.)]|\(\d{1,3}\))|[a-z]\)|\([a-z]\))[ \t]+")
            .expect("static regex")
    })
}

/// A short line without final punctuation: a plain-text heading.
fn looks_like_heading(line: &str) -> bool {
    let (text, _) = strip_markers(line);
    let closing: &[char] = &['"', '\'', '”', '’', ')', ']', '*', '_'];
    let last = text.trim_end_matches(closing).chars().last();
    text.chars().count() <= HEADING_MAX_CHARS
        && text.chars().any(char::is_alphabetic)
        && !matches!(last, Some('.' | '!' | '?' | '…' | ';' | ','))
}

/// Sentence spans (byte offsets into `prose`) of the block `start..end`.
fn sentence_spans(prose: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    // Line breaks inside a block are soft: hand sentencex spaces (same byte length, so
    // offsets stay valid).
    let flat: String = prose[start..end]
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let base = flat.as_ptr() as usize;
    for s in sentencex::segment("en", &flat) {
        let off = s.as_ptr() as usize - base;
        let lead = s.len() - s.trim_start().len();
        let t = s.trim();
        if t.is_empty() {
            continue;
        }
        spans.push((start + off + lead, start + off + lead + t.len()));
    }
    fix_spans(prose, spans)
}

/// Repairs two kinds of split that sentencex can make: a sentence that is, or starts with,
/// citation markers (they belong to the sentence before), and a break right after a
/// title or numbering abbreviation ("Gen.", "approx. 3", "No. 5").
fn fix_spans(prose: &str, spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (s, e) in spans {
        let Some(last) = out.last_mut() else {
            out.push((s, e));
            continue;
        };
        let text = &prose[s..e];
        let lead = leading_markers_len(text);
        if lead > 0 {
            last.1 = s + lead;
            let rest = text[lead..].trim_start();
            if !rest.is_empty() {
                out.push((e - rest.len(), e));
            }
            continue;
        }
        if continues_after_abbreviation(&prose[last.0..last.1], text) {
            last.1 = e;
            continue;
        }
        out.push((s, e));
    }
    out
}

/// Length of the run of markers (and the spaces between them) at the start of `text`.
fn leading_markers_len(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let ws = rest.len() - rest.trim_start().len();
        match marker_re().find(&rest[ws..]) {
            Some(m) if m.start() == 0 => at += ws + m.end(),
            _ => return at,
        }
    }
}

/// Abbreviations that never end a sentence.
const TITLES: &[&str] = &[
    "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "Gen.", "Lt.", "Col.", "Maj.", "Capt.", "Cpt.", "Sgt.", "Cpl.",
    "Pvt.", "Adm.", "Cmdr.", "Brig.", "Sen.", "Rep.", "Gov.", "Amb.", "Pres.", "Rev.", "Hon.", "St.", "Mt.",
    "Ft.", "e.g.", "i.e.", "cf.", "vs.", "viz.", "approx.", "ca.", "Lt.Col.", "Maj.Gen.",
];

/// Abbreviations that do not end a sentence when a number follows.
const BEFORE_NUMBER: &[&str] = &[
    "No.", "Nos.", "no.", "nos.", "Fig.", "Figs.", "Vol.", "vol.", "p.", "pp.", "Art.", "art.", "Sec.",
    "Ch.", "para.", "Jan.", "Feb.", "Mar.", "Apr.", "Jun.", "Jul.", "Aug.", "Sep.", "Sept.", "Oct.", "Nov.",
    "Dec.", "Res.",
];

fn continues_after_abbreviation(prev: &str, next: &str) -> bool {
    let Some(word) = prev.split_whitespace().last() else {
        return false;
    };
    let word = word.trim_start_matches(['(', '"', '“', '\'']);
    if TITLES.contains(&word) {
        return true;
    }
    BEFORE_NUMBER.contains(&word) && next.starts_with(|c: char| c.is_ascii_digit())
}

/// Sentences of one paragraph; markers after the full stop stay with their sentence.
pub fn sentences(para: &str) -> Vec<String> {
    sentence_spans(para, 0, para.len())
        .into_iter()
        .map(|(s, e)| para[s..e].to_owned())
        .collect()
}

/// Removes `[1]`, `[1][2]`, `[1, 2]`, `[1-3]` markers; returns the cleaned text and the
/// cites, sorted and without duplicates.
pub fn strip_markers(s: &str) -> (String, Vec<CiteNo>) {
    let (text, markers) = strip_markers_at(s, 0);
    let mut cites: Vec<CiteNo> = markers.into_iter().flat_map(|m| m.cites).collect();
    cites.sort();
    cites.dedup();
    (text, cites)
}

/// Like [`strip_markers`], keeping each marker with its offset (`base` + its position).
fn strip_markers_at(s: &str, base: usize) -> (String, Vec<Marker>) {
    let re = marker_re();
    let mut markers = Vec::new();
    let mut cleaned = String::with_capacity(s.len());
    let mut last = 0;
    for m in re.find_iter(s) {
        let Some(cites) = parse_marker(m.as_str()) else {
            continue;
        };
        cleaned.push_str(&s[last..m.start()]);
        cleaned.push(' ');
        last = m.end();
        markers.push(Marker {
            cites,
            offset: base + m.start(),
        });
    }
    cleaned.push_str(&s[last..]);
    let mut text = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    // "word [1]." leaves "word ." — close the gap.
    for p in [" .", " ,", " ;", " :", " !", " ?", " )"] {
        text = text.replace(p, &p[1..]);
    }
    (text.trim().to_owned(), markers)
}

/// Widest range `[a-b]` expanded; a wider one is not read as a marker.
const MAX_RANGE: u32 = 50;

/// The cites of one marker, or `None` when it is not a citation (a huge range).
fn parse_marker(m: &str) -> Option<Vec<CiteNo>> {
    let inner = m.trim_start_matches('[').trim_end_matches(']');
    let mut cites = Vec::new();
    for part in inner.split([',', ';']) {
        let part = part.trim();
        match part.split_once(['-', '–']) {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
                if b < a || b - a > MAX_RANGE {
                    return None;
                }
                cites.extend((a..=b).map(CiteNo));
            }
            None => cites.push(CiteNo(part.parse().ok()?)),
        }
    }
    Some(cites)
}

fn marker_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\[\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*\d+(?:\s*[-–]\s*\d+)?)*\s*\]")
            .expect("static regex")
    })
}
