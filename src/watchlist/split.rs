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

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed fact-check as the repository keeps it.
    const SEED: &str = include_str!("../../watchlist/us-military-kosovo.md");

    fn cites(ns: &[u32]) -> Vec<CiteNo> {
        ns.iter().copied().map(CiteNo).collect()
    }

    fn texts(prose: &str) -> Vec<String> {
        units(prose).into_iter().map(|u| u.text).collect()
    }

    fn find<'a>(us: &'a [Unit], start: &str) -> &'a Unit {
        us.iter()
            .find(|u| u.text.starts_with(start))
            .unwrap_or_else(|| panic!("no unit starts with {start:?}"))
    }

    #[test]
    fn seed_counts() {
        let us = units(SEED);
        let statements = us.iter().filter(|u| u.is_statement()).count();
        let unmarked = us.iter().filter(|u| u.is_unmarked_sentence()).count();
        let headings = us.iter().filter(|u| u.kind == UnitKind::Heading).count();
        assert_eq!(statements, 15);
        assert_eq!(unmarked, 3);
        assert_eq!(headings, 9);
        assert_eq!(us.len(), 27);
    }

    #[test]
    fn seed_sentences_and_their_cites() {
        let us = units(SEED);
        let first = find(&us, "U.S. forces in Kosovo currently serve");
        assert_eq!(first.cites, cites(&[1, 2, 3]));
        assert!(
            first
                .text
                .contains("roughly ~600 U.S. personnel were reported in KFOR")
        );
        assert!(
            first.text.ends_with("exercises like DEFENDER 25."),
            "{}",
            first.text
        );
        assert_eq!(first.line, 2);

        let quote = find(&us, "Public reporting places the U.S. contribution");
        assert_eq!(quote.cites, cites(&[1, 7]));
        assert!(
            quote
                .text
                .contains("one account cites “about 600 soldiers” as part of KFOR as of 2025")
        );

        let base = find(&us, "Camp Bondsteel remains the largest U.S. facility");
        assert_eq!(
            base.text,
            "Camp Bondsteel remains the largest U.S. facility in the Balkans and a hub for U.S. troops \
             participating in KFOR activities."
        );
        assert_eq!(base.cites, cites(&[6, 8]));

        let exercise = find(&us, "In 2025 the U.S. Army’s DEFENDER 25 program");
        assert_eq!(exercise.cites, cites(&[2, 3]));
        assert!(
            exercise
                .text
                .contains("about 180 personnel from the Pennsylvania National Guard")
        );

        // "(e.g., special operations ...)" stays inside its sentence.
        let limits = find(&us, "Available sources do not provide exhaustive");
        assert!(limits.cites.is_empty());
        assert!(
            limits
                .text
                .contains("(e.g., special operations or classified advisory roles) in Kosovo;")
        );
        assert!(limits.text.ends_with("(not found in current reporting)."));

        let last = us.last().unwrap();
        assert!(last.text.starts_with("Conversely, periodic media pieces"));
        assert_eq!(last.cites, cites(&[1, 10]));
        assert!(!last.text.contains('['));
    }

    #[test]
    fn seed_headings_are_units_of_their_own() {
        let us = units(SEED);
        let h: Vec<&str> = us
            .iter()
            .filter(|u| u.kind == UnitKind::Heading)
            .map(|u| u.text.as_str())
            .collect();
        assert_eq!(h[0], "Executive summary");
        assert_eq!(h[1], "1. U.S. role today: peacekeepers inside a NATO-led mission");
        assert_eq!(h[8], "8. Competing perspectives and hidden signals");
    }

    /// The seed as published: plain text, section titles as short unpunctuated lines.
    #[test]
    fn plain_text_section_titles_are_headings() {
        let prose = "Executive summary\n\nU.S. forces serve in KFOR [1]. NATO leads it [4].\n\n\
                     1. U.S. role today: peacekeepers inside a NATO-led mission\n\n\
                     The United States does not operate a standalone mission in Kosovo [4].\n";
        let us = units(prose);
        let kinds: Vec<UnitKind> = us.iter().map(|u| u.kind).collect();
        use UnitKind::*;
        assert_eq!(kinds, [Heading, Sentence, Sentence, Heading, Sentence]);
        assert_eq!(
            us[3].text,
            "1. U.S. role today: peacekeepers inside a NATO-led mission"
        );
        assert_eq!(us[3].line, 4);
        // A short line that ends like a sentence is a sentence.
        let us = units("Troops stay.\n\nMore text here [1].\n");
        assert_eq!(us[0].kind, Sentence);
        assert!(us[0].is_unmarked_sentence());
    }

    #[test]
    fn marker_forms() {
        for (prose, want) in [
            ("Troops serve in KFOR [1] [2].", &[1, 2][..]),
            ("Troops serve in KFOR [1][2].", &[1, 2]),
            ("Troops serve in KFOR [1, 2].", &[1, 2]),
            ("Troops serve in KFOR [2;1].", &[1, 2]),
            ("Troops serve in KFOR. [1] [2]", &[1, 2]),
            ("Troops serve in KFOR.[1][2]", &[1, 2]),
            ("Troops [3] serve in KFOR [1].", &[1, 3]),
            ("Troops serve in KFOR [3-5].", &[3, 4, 5]),
            ("Troops serve in KFOR [1] [1].", &[1]),
        ] {
            let us = units(prose);
            assert_eq!(us.len(), 1, "{prose}: {us:?}");
            assert_eq!(us[0].cites, cites(want), "{prose}");
            assert_eq!(us[0].text, "Troops serve in KFOR.", "{prose}");
        }
    }

    #[test]
    fn markers_after_the_full_stop_attach_to_the_sentence_before() {
        let us =
            units("About 600 U.S. soldiers serve in KFOR. [1] NATO leads KFOR. [2][3] It began in 1999.");
        assert_eq!(us.len(), 3, "{us:?}");
        assert_eq!(us[0].text, "About 600 U.S. soldiers serve in KFOR.");
        assert_eq!(us[0].cites, cites(&[1]));
        assert_eq!(us[1].text, "NATO leads KFOR.");
        assert_eq!(us[1].cites, cites(&[2, 3]));
        assert_eq!(us[2].text, "It began in 1999.");
        assert!(us[2].cites.is_empty());
        // Also when the markers open the next line of the paragraph.
        let us = units("Camp Bondsteel is the base.\n[4] The U.S. leads RC-East.");
        assert_eq!(us[0].cites, cites(&[4]));
        assert_eq!(us[1].text, "The U.S. leads RC-East.");
        assert!(us[1].cites.is_empty());
    }

    #[test]
    fn abbreviations_numbers_and_quotes_stay_inside() {
        for one in [
            "The U.S. Army Europe and Africa led it [1].",
            "Allies, e.g. Italy and Hungary, send troops [1].",
            "Resolution No. 1244 set the mandate [1].",
            "The share fell to 2.5 percent of the force [1].",
            "Roughly ~600 U.S. personnel serve [1].",
            "He said “No. It is not planned.” at the briefing [1].",
            "Gen. Smith and Dr. Jones visited Camp Bondsteel [1].",
            "Lt. Col. Doe briefed at approx. 3 p.m. in Pristina [1].",
            "It ended on Jan. 5 after talks [1].",
        ] {
            assert_eq!(texts(one).len(), 1, "{one}: {:?}", texts(one));
        }
        assert_eq!(
            texts("It is based in the U.S. The mission continues [1]."),
            ["It is based in the U.S.", "The mission continues."]
        );
    }

    #[test]
    fn lists_and_markdown_headings() {
        let prose = "# Troops in Kosovo #\n\nKey points:\n- About 600 U.S. troops serve [1].\n- Camp Bondsteel is\n  the main base [2]. It is large.\n* NATO leads [3]\n1. First point [4].\n2) Second point.\n";
        let us = units(prose);
        let got: Vec<(UnitKind, &str, Vec<u32>)> = us
            .iter()
            .map(|u| (u.kind, u.text.as_str(), u.cites.iter().map(|c| c.0).collect()))
            .collect();
        use UnitKind::*;
        assert_eq!(
            got,
            [
                (Heading, "Troops in Kosovo", vec![]),
                (Sentence, "Key points:", vec![]),
                (ListItem, "About 600 U.S. troops serve.", vec![1]),
                (ListItem, "Camp Bondsteel is the main base.", vec![2]),
                (ListItem, "It is large.", vec![]),
                (ListItem, "NATO leads", vec![3]),
                (ListItem, "First point.", vec![4]),
                (ListItem, "Second point.", vec![]),
            ]
        );
        assert_eq!(us[3].line, 4);
    }

    #[test]
    fn marker_offsets_point_at_the_bracket() {
        let prose = "First line.\nTroops serve [1]. More [12, 3].\n";
        let us = units(prose);
        let m = &us[1].markers[0];
        assert_eq!(&prose[m.offset..m.offset + 3], "[1]");
        assert_eq!(us[1].line, 1);
        let m = &us[2].markers[0];
        assert_eq!(&prose[m.offset..m.offset + 4], "[12,");
        assert_eq!(m.cites, cites(&[12, 3]));
    }

    #[test]
    fn not_markers() {
        let (text, c) = strip_markers("See [1-500] and [a] and [^1] here [2].");
        assert_eq!(text, "See [1-500] and [a] and [^1] here.");
        assert_eq!(c, cites(&[2]));
    }
}
