//! (Statement, baseline text, latest text) → [`Verdict`]s. Anchoring locates, at baseline,
//! the passages of a source that back a statement; judging finds them again in a later
//! version and tells moved from changed from removed. Pure: no I/O.
//!
//! # How it works
//! Texts are split into sentences (per extracted block; hard-wrapped lines — a block that does
//! not end a sentence followed by one starting in lower case — are joined first) and into
//! *canonical words*: lower case, typographic apostrophes folded, thousands separators
//! dropped (`1,000` = `1000`), hyphens and dashes splitting words (`NATO-led` = `NATO led`),
//! punctuation between words and wiki reference markers (`[12]`, `[citation needed]`)
//! ignored. Two passages are "the same" when their canonical words are
//! equal, so white space, re-wrapping, entity encoding, markup and punctuation-only edits
//! never count as a change. Two texts have the same content when their canonical words are
//! the same in the same order, or their sentences are the same in any order (a reorder).
//!
//! - **Anchoring** ([`locate`]): an `evidence` quote is found as a run of canonical words
//!   anywhere in the text and the anchor is the quote as the source spells it (an elided quote,
//!   `a … b`, is anchored by its parts). Without quotes (or when none is found), every sentence
//!   is scored by the weighted share of the statement's content words it contains: weights are
//!   the word's rarity in this source (IDF over its blocks) × 3 for numbers, × 2 for proper
//!   names, × 1.5 for years and months (bylines have those too); plurals and possessives
//!   folded. A sentence needs two shared words (a distinctive figure counts as two). The best
//!   sentences over [`ANCHOR_MIN_SCORE`] and within [`ANCHOR_MARGIN`] of the best are kept,
//!   plus any sentence stating one of the statement's distinctive figures (an infobox row, a
//!   summary bullet). A compound statement's clauses are scored the same way on their own,
//!   and a sentence with a clause whose words the statement nearly all states
//!   ([`CONTAINED_MIN_SHARE`]) backs it too. Nothing over the thresholds: no anchors ("no
//!   evidence located").
//! - **Judging** ([`judge`]): an anchor whose canonical words still occur anywhere in the
//!   latest text is fine (moved or not). Otherwise it is aligned, word by word (figures align
//!   with figures), against the latest sentences that are *new* (not in the baseline), alone
//!   and with a neighbour (split or merged sentences); the best local match at or above
//!   [`CHANGED_MIN_RATIO`] makes `evidence_changed` with the facts that differ
//!   ([`fact_changes`]), anything less `evidence_removed`. The statement takes the most severe
//!   anchor, except that ranked anchors are alternatives: one gone while another is still
//!   there does not count as removed (quotes always count). With every anchor there the text is
//!   `unchanged` or `source_changed_elsewhere`; without anchors any change of content is
//!   `source_changed`. Headlines, teasers and table rows rank below prose when anchoring
//!   ([`NON_PROSE_RANK`]).
//!
//! For many statements citing one source, build a [`Prepared`] per text version once and call
//! [`locate_in`] / [`judge_in`]; [`locate`] and [`judge`] are convenience wrappers.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use similar::{Algorithm, DiffOp};

use crate::extract::ExtractedText;
use crate::watchlist::{CiteNo, Statement};

mod approx;

/// Minimum anchoring score (weighted share of the statement's words found in a sentence).
/// Measured on the labelled corpus (`cargo run --release --example accuracy -- --scores`):
/// the lowest best score of a statement with real evidence is 0.40; statements the source
/// does not address score 0 (no sentence shares two of their words).
pub const ANCHOR_MIN_SCORE: f32 = 0.35;
/// A sentence sharing at least this many of the statement's words (a distinctive figure
/// counts as two) anchors it as a whole from [`MANY_HITS_MIN_SCORE`] on.
pub const MANY_HITS: u16 = 6;
/// See [`MANY_HITS`].
pub const MANY_HITS_MIN_SCORE: f32 = 0.32;
/// Other sentences are kept as anchors when they score at least this share of the best.
pub const ANCHOR_MARGIN: f32 = 0.85;
/// A sentence holding one of the statement's distinctive numbers is kept as an extra anchor
/// when it scores at least this share of [`ANCHOR_MIN_SCORE`].
pub const FACT_ANCHOR_SHARE: f32 = 0.5;
/// Ranking weight of a sentence that does not end like prose (headline, teaser, table row).
pub const NON_PROSE_RANK: f32 = 0.7;
/// At most this many anchors per statement and source.
pub const MAX_ANCHORS: usize = 3;
/// A part of a compound statement (a clause, see [`statement_parts`]) is anchored on its own
/// by a sentence covering at least this weighted share of the part's words…
pub const PART_MIN_SCORE: f32 = 0.5;
/// …that shares at least this many of them (a distinctive figure counts as two).
pub const PART_MIN_HITS: u16 = 3;
/// Parts with fewer terms than this are not anchored on their own (unless they hold a
/// distinctive figure and one more word).
pub const PART_MIN_TERMS: usize = 3;
/// At most this many anchors per statement and source for its parts, besides the whole's.
pub const MAX_PART_ANCHORS: usize = 3;
/// A statement of at least this many terms needs [`PART_MIN_HITS`] of them shared for a
/// sentence to anchor it as a whole.
pub const WHOLE_FEW_TERMS: usize = 5;
/// Minimum local word-alignment ratio for a changed passage to count as "still there".
/// Measured on the labelled corpus (`--scores` prints the ratios of every judged anchor):
/// passages labelled removed align at most 0.34 with anything new, passages labelled changed
/// at least 0.50; the threshold sits between the two.
pub const CHANGED_MIN_RATIO: f32 = 0.42;

/// A passage of the source that backs a statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The passage text: a sentence of the source, or the quote as the source spells it.
    pub passage: String,
    /// True when it came from an `evidence` quote in the watchlist.
    pub quote: bool,
    /// Match score at anchoring (1.0 for quotes).
    pub score: f32,
    /// Which part of the statement it backs: 0 for the whole statement, `n` for its `n`-th
    /// clause ([`statement_parts`]). Anchors of one part are alternatives when judging.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub part: u16,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// The outcome for one statement and one cited source, in increasing severity: the
/// statement takes the most severe (`max`) of its cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// First sight: passages located and stored.
    Baseline,
    /// Every anchored passage is there word for word, wherever it moved.
    Unchanged,
    /// The text changed, but not in any anchored passage.
    SourceChangedElsewhere,
    /// No passage was located at baseline and the text changed.
    SourceChanged,
    /// The source could not be fetched (status, network, timeout, size, type).
    SourceUnreachable,
    /// An anchored passage is still recognisably there, but its wording changed.
    EvidenceChanged,
    /// An anchored passage is gone.
    EvidenceRemoved,
}

impl Verdict {
    /// Whether a person needs to re-check the statement.
    pub fn flagged(self) -> bool {
        matches!(
            self,
            Verdict::EvidenceRemoved
                | Verdict::EvidenceChanged
                | Verdict::SourceUnreachable
                | Verdict::SourceChanged
        )
    }

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Baseline => "baseline",
            Verdict::Unchanged => "unchanged",
            Verdict::SourceChangedElsewhere => "source_changed_elsewhere",
            Verdict::SourceChanged => "source_changed",
            Verdict::SourceUnreachable => "source_unreachable",
            Verdict::EvidenceChanged => "evidence_changed",
            Verdict::EvidenceRemoved => "evidence_removed",
        }
    }

    /// The verdict in plain words, as a fact-checker reads it in the mail, report and page.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Baseline => "Baseline taken",
            Verdict::Unchanged => "Unchanged",
            Verdict::SourceChangedElsewhere => "Changed elsewhere on the page",
            Verdict::SourceChanged => "Page changed near the statement's words",
            Verdict::SourceUnreachable => "Source unreachable",
            Verdict::EvidenceChanged => "Evidence changed",
            Verdict::EvidenceRemoved => "Evidence removed",
        }
    }

    /// The verdict named `s` (as [`Verdict::as_str`] spells it).
    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Baseline,
            Verdict::Unchanged,
            Verdict::SourceChangedElsewhere,
            Verdict::SourceChanged,
            Verdict::SourceUnreachable,
            Verdict::EvidenceChanged,
            Verdict::EvidenceRemoved,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The result of anchoring one statement in one source text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Located {
    /// Passages that back the statement, best first (empty: no evidence located).
    pub anchors: Vec<Anchor>,
    /// `evidence` quotes meant for this source (`{cite = N, quote = …}`) that are not in it.
    pub missing_quotes: Vec<String>,
    /// Plain `evidence` quotes not in this source: missing only if no cited source has them.
    pub unfound_quotes: Vec<String>,
    /// With no passage located: the source sentence that came closest, for a person to paste
    /// as a quote.
    pub candidate: Option<String>,
}

/// A fact present before and changed or gone after, e.g. `600 → 350`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactChange {
    /// `number`, `date`, `name` or `negation`.
    pub kind: String,
    /// The fact before (empty when the fact is new, e.g. an added date or negation).
    pub before: String,
    /// What stands in its place after, if anything.
    pub after: Option<String>,
}

impl std::fmt::Display for FactChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let before = if self.before.is_empty() {
            "(none)"
        } else {
            &self.before
        };
        match &self.after {
            Some(a) => write!(f, "{before} → {a}"),
            None => write!(f, "{before} → (gone)"),
        }
    }
}

/// The judgement of one statement against one cited source.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// The anchored passage at baseline (for changed / removed).
    pub before: Option<String>,
    /// The passage now (for changed).
    pub after: Option<String>,
    /// Facts that changed.
    pub facts: Vec<FactChange>,
}

// ---------------------------------------------------------------------------------------
// Tokens

/// A canonical word with its byte range in the text it came from.
#[derive(Debug, Clone)]
struct Tok {
    canon: String,
    start: usize,
    end: usize,
}

/// Characters that join two word characters into one word. Hyphens and dashes do not:
/// `NATO-led` is `nato led`, so `NATO led` and `second-longest` / `longest` match.
fn is_joiner(c: char) -> bool {
    matches!(c, '.' | ',' | '\'' | '’' | '‘')
}

/// Splits `s` into canonical words: runs of letters and digits, joined through `.`/`,`
/// between digits, `.` between letters (`U.S`), apostrophes and hyphens between letters or
/// digits; `% $ € £` are words of their own.
fn tokenize(s: &str) -> Vec<Tok> {
    let mut spans = Vec::new();
    token_spans(s, &mut spans);
    spans
        .into_iter()
        .map(|(start, end)| Tok {
            canon: canon_word(&s[start..end]),
            start,
            end,
        })
        .collect()
}

/// The byte ranges of the words of `s` (see [`tokenize`]) into `out`, without building their
/// canonical forms. Walks the bytes, decoding only non-ASCII characters.
fn token_spans(s: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let b = s.as_bytes();
    let n = b.len();
    // The character at byte `p` (a char boundary) and its length.
    let at = |p: usize| -> (char, usize) {
        if b[p] < 0x80 {
            (char::from(b[p]), 1)
        } else {
            let c = s[p..].chars().next().unwrap_or('\u{fffd}');
            (c, c.len_utf8())
        }
    };
    let mut i = 0;
    while i < n {
        let (c, len) = at(i);
        if matches!(c, '%' | '$' | '€' | '£') {
            out.push((i, i + len));
            i += len;
            continue;
        }
        if c == '['
            && let Some(marker) = reference_marker(&s[i..])
        {
            // `[12]`, `[a]`, `[note 3]`, `[citation needed]`: renumbered at will, not content.
            i += marker;
            continue;
        }
        if !c.is_alphanumeric() {
            i += len;
            continue;
        }
        let start = i;
        // The last character of the word so far, and where it starts.
        let (mut prev, mut prev_at) = (c, i);
        let mut j = i + len;
        while j < n {
            // The common case, a run of ASCII letters and digits, byte by byte.
            if b[j].is_ascii_alphanumeric() {
                let run = b[j..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
                j += run;
                (prev, prev_at) = (char::from(b[j - 1]), j - 1);
                continue;
            }
            let (c, clen) = at(j);
            if c.is_alphanumeric() {
                (prev, prev_at) = (c, j);
                j += clen;
                continue;
            }
            if is_joiner(c) && j + clen < n {
                let (next, nlen) = at(j + clen);
                let ok = match c {
                    ',' => prev.is_ascii_digit() && next.is_ascii_digit(),
                    '.' => {
                        (prev.is_ascii_digit() && next.is_ascii_digit())
                            || (prev.is_alphabetic() && next.is_alphabetic() && {
                                // only for abbreviations like U.S / e.g: single letters
                                let before_prev = s[..prev_at].chars().next_back().unwrap_or(' ');
                                !before_prev.is_alphanumeric() || before_prev == '.'
                            })
                    }
                    _ => prev.is_alphanumeric() && next.is_alphanumeric(),
                };
                if ok {
                    (prev, prev_at) = (next, j + clen);
                    j += clen + nlen;
                    continue;
                }
            }
            break;
        }
        // `United States` is one word, the same as `U.S.` (see [`push_canon`]).
        if b[start] == b'U'
            && &s[start..j] == "United"
            && s[j..].starts_with(" States")
            && !s[j + 7..].starts_with(char::is_alphanumeric)
        {
            j += 7;
        }
        // `£1.1bn`, `£38m`: the figure and its magnitude apart, as `£1.1 billion` is written
        // (`bn` is `billion`, see [`synonym`]; a lone `m` is no term, the figure still is).
        match magnitude_at(s, start, j) {
            Some(cut) => out.extend([(start, cut), (cut, j)]),
            None => out.push((start, j)),
        }
        i = j;
    }
}

/// Where the magnitude of a figure written as one word starts: `1.1bn`, `3tn`, and after a
/// currency sign `38m`, `40k` (`100m` alone may be metres).
fn magnitude_at(s: &str, start: usize, end: usize) -> Option<usize> {
    let w = &s.as_bytes()[start..end];
    if !w.first()?.is_ascii_digit() {
        return None;
    }
    let k = w
        .iter()
        .position(|c| !(c.is_ascii_digit() || matches!(c, b'.' | b',')))?;
    let money = s[..start].ends_with(['£', '$', '€']);
    let ok = match &s[start + k..end] {
        "bn" | "tn" => true,
        "m" | "k" => money,
        _ => false,
    };
    (ok && w[k - 1].is_ascii_digit()).then_some(start + k)
}

static ELLIPSIS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[?(?:…|\.\s?\.\s?\.)\]?").expect("ellipsis regex"));

static REF_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\[(?:\d{1,4}|[a-z]|(?:note|nb|n) ?\d{1,3}|citation needed|clarification needed|edit|update)\]",
    )
    .expect("reference marker regex")
});

/// The byte length of a wiki-style reference marker at the start of `s`, if there is one.
fn reference_marker(s: &str) -> Option<usize> {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    REF_MARKER.find(&s[..end]).map(|m| m.end())
}

fn canon_word(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    push_canon(raw, &mut s);
    s
}

/// Appends the canonical form of the word `raw` to `out`.
fn push_canon(raw: &str, out: &mut String) {
    // The country, however a writer spells it: `U.S.`, `US`, `United States` (one span, see
    // [`token_spans`]); `us` the pronoun stays a stop word.
    if matches!(raw, "US" | "United States") {
        out.push_str("u.s");
        return;
    }
    // Most words are already canonical: lower-case ASCII without thousands separators.
    if raw
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase() && b != b',')
    {
        out.push_str(raw);
        return;
    }
    let numeric = raw.starts_with(|c: char| c.is_ascii_digit());
    for c in raw.chars() {
        match c {
            ',' if numeric => {}
            '’' | '‘' => out.push('\''),
            '‐' | '‑' | '–' => out.push('-'),
            c => out.extend(c.to_lowercase()),
        }
    }
}

fn canon_words(s: &str) -> Vec<String> {
    tokenize(s).into_iter().map(|t| t.canon).collect()
}

/// The canonical form of a passage: its canonical words joined by single spaces.
pub fn canonical(s: &str) -> String {
    canon_words(s).join(" ")
}

/// Function words, left out of anchoring scores.
const STOP_WORDS: &str = "a an the and or but of in on at to for from by with as is are was were be been \
    being it its this that these those has have had he she they we you i his her their our which who whom \
    what when where will would can could do does did than then there so such also into about over after \
    before more most some said says say according per all any up out if s one since until while because \
    among between under through during against within without not no very just only how why may might \
    should must shall now here each other both own same them him us me my your off down again further once \
    around roughly approximately nearly almost several least just little yet";

static STOP: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| STOP_WORDS.split_whitespace().collect());

fn is_stop(w: &str) -> bool {
    STOP.contains(w)
}

/// Stemming-lite for anchoring: possessives, plurals and the regular inflections folded
/// (`trained` = `training` = `train`), then the usual newsroom synonyms of a few words
/// (`soldiers` = `personnel` = `troops`). Only ever compared with other stems.
fn stem(w: &str) -> String {
    stem_cow(w).into_owned()
}

/// [`stem`], borrowing from `w` where it can.
fn stem_cow(w: &str) -> std::borrow::Cow<'_, str> {
    let w = w.strip_suffix("'s").unwrap_or(w);
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        return w.into();
    }
    let mut s: std::borrow::Cow<'_, str> = w.into();
    if w.len() > 4
        && let Some(b) = w.strip_suffix("ies")
    {
        s = format!("{b}y").into();
    } else if w.len() > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        s = w[..w.len() - 1].into();
    }
    let s = inflection(s);
    match synonym(&s) {
        Some(t) => t.into(),
        None => s,
    }
}

/// Folds `-ing` and `-ed` (with a doubled last consonant: `planned` = `plan`) and a final
/// silent `e` (`serve` = `serving` = `served`) of words long enough to have a root.
fn inflection(s: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    if b.len() < 5 || !b.iter().all(u8::is_ascii_lowercase) {
        return s;
    }
    let root_len = if s.ends_with("ing") && b.len() >= 6 {
        b.len() - 3
    } else if s.ends_with("ed") && !s.ends_with("eed") {
        b.len() - 2
    } else if s.ends_with('e') && !s.ends_with("ee") {
        b.len() - 1
    } else {
        return s;
    };
    let root = &b[..root_len];
    let vowel = |c: u8| matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    if root.len() < 3 || !root.iter().copied().any(vowel) {
        return s;
    }
    let mut end = root.len();
    // `planned` → `plann` → `plan`, not `fill` → `fil`.
    if root_len < b.len() - 1
        && end >= 4
        && root[end - 1] == root[end - 2]
        && !vowel(root[end - 1])
        && !matches!(root[end - 1], b'l' | b's' | b'z')
    {
        end -= 1;
    }
    // `serving` → `serv`, like `serve`.
    if root[end - 1] == b'e' && end > 3 {
        end -= 1;
    }
    match s {
        std::borrow::Cow::Borrowed(x) => x[..end].into(),
        std::borrow::Cow::Owned(mut x) => {
            x.truncate(end);
            x.into()
        }
    }
}

/// Words fact-checks write for the same thing as their sources (after [`inflection`]).
fn synonym(s: &str) -> Option<&'static str> {
    Some(match s {
        "troop" | "soldier" | "personnel" | "servicemember" | "serviceman" | "servicemen" => "troop",
        "staff" | "employee" | "worker" | "staffer" => "worker",
        "percent" | "pct" => "%",
        "american" => "u.s",
        "usa" => "u.s",
        // Newsroom pairs of one meaning (the forms after `inflection`: "strik" is "strike",
        // "strikes", "striking"); words with a common second sense are left out ("drop",
        // "back", "launch", "act").
        "strik" | "walkout" | "stoppag" => "strik",
        "scrap" | "abolish" | "abolition" | "axe" | "axed" | "axing" => "abolish",
        "rise" | "rose" | "risen" | "increas" => "increas",
        "fall" | "fell" | "fallen" | "decreas" | "declin" => "declin",
        "cut" | "reduc" | "reduction" => "reduc",
        "kill" | "die" | "died" | "dead" | "death" | "fatality" => "death",
        "injur" | "injury" | "hurt" | "wound" => "injur",
        "begin" | "began" | "begun" | "start" | "commenc" => "start",
        "ban" | "prohibit" | "outlaw" => "ban",
        "company" | "firm" => "company",
        "child" | "children" | "kid" => "child",
        "doctor" | "physician" => "doctor",
        "fire" | "blaz" => "fire",
        "ship" | "vessel" => "ship",
        "lorry" | "truck" => "lorry",
        "jail" | "prison" | "imprison" => "prison",
        "law" | "legislation" => "law",
        "clos" | "closur" | "shut" => "clos",
        "build" | "built" | "construct" | "construction" => "build",
        "buy" | "bought" | "purchas" | "acquir" => "buy",
        "hire" | "hir" | "recruit" => "hire",
        "biggest" | "largest" => "largest",
        "bigger" | "larger" => "larger",
        "crash" | "collision" | "collid" => "crash",
        "rid" | "rider" | "rode" => "rid",
        // A figure's magnitude and unit as written out (`£1.1bn`, `120 MW`).
        "bn" => "billion",
        "tn" => "trillion",
        "megawatt" => "mw",
        "gigawatt" => "gw",
        "kilowatt" => "kw",
        "kilometre" | "kilometer" | "kilometr" => "km",
        _ => return None,
    })
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

/// A statement word with its anchoring weight class.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Word,
    Name,
    /// Years and months: facts, but also every byline and "updated" line has one.
    Date,
    Number,
}

fn kind_boost(k: Kind) -> f32 {
    match k {
        Kind::Word => 1.0,
        Kind::Name => 2.0,
        Kind::Date => 1.5,
        Kind::Number => 3.0,
    }
}

/// Content words of a statement with their kind (numbers, dates, names), stemmed, distinct.
fn statement_terms(text: &str) -> Vec<(String, Kind)> {
    statement_terms_at(text)
        .into_iter()
        .map(|(t, k, _)| (t, k))
        .collect()
}

/// [`statement_terms`], each with the byte offsets in `text` where it occurs.
fn statement_terms_at(text: &str) -> Vec<(String, Kind, Vec<usize>)> {
    let mut out: Vec<(String, Kind, Vec<usize>)> = Vec::new();
    for sent in split_sentences(text) {
        let off = sent.as_ptr() as usize - text.as_ptr() as usize;
        let toks = tokenize(sent);
        for (i, t) in toks.iter().enumerate() {
            let raw = &sent[t.start..t.end];
            let w = &t.canon;
            // `2,000` is a count, `2000` may be a year.
            let kind = if MONTHS.contains(&w.as_str()) || (is_year(w) && !raw.contains(',')) {
                Kind::Date
            } else if w.starts_with(|c: char| c.is_ascii_digit()) {
                Kind::Number
            } else if i > 0 && raw.starts_with(char::is_uppercase) && !is_stop(w) {
                Kind::Name
            } else {
                Kind::Word
            };
            if kind == Kind::Word && (is_stop(w) || w.chars().count() < 2) {
                continue;
            }
            if matches!(w.as_str(), "%" | "$" | "€" | "£") {
                continue;
            }
            let s = stem(w);
            if s == "%" {
                continue;
            }
            match out.iter_mut().find(|(x, ..)| *x == s) {
                Some(e) => {
                    if kind_boost(kind) > kind_boost(e.1) {
                        e.1 = kind;
                    }
                    e.2.push(off + t.start);
                }
                None => out.push((s, kind, vec![off + t.start])),
            }
        }
    }
    out
}

/// Words that join two claims of one sentence: a clause starts after them.
const CLAUSE_JOINERS: &[&str] = &[
    " while ",
    " whereas ",
    " rather than ",
    ", but ",
    ", which ",
    ", and ",
    ", with ",
    " as well as ",
    ", including ",
    ", although ",
    " although ",
    ", though ",
    ", after ",
    ", as ",
    ", so ",
    ", yet ",
    " yet ",
    " where ",
];

/// The clauses of a statement that may each be backed by a different source, as byte
/// ranges: split at dashes, parentheses, semicolons and colons, then at the words that
/// join claims ([`CLAUSE_JOINERS`]). One range (the whole) for a single-claim sentence.
fn clause_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut cuts: Vec<(usize, usize)> = Vec::new(); // (start, end) of each delimiter
    for (i, c) in text.char_indices() {
        let after = text[i + c.len_utf8()..].chars().next();
        let strong = match c {
            '—' | '–' | ';' | '(' | ')' | '[' | ']' => true,
            ':' => after.is_none_or(char::is_whitespace),
            '-' => i > 0 && text.as_bytes()[i - 1] == b' ' && after == Some(' '),
            _ => false,
        };
        if strong {
            cuts.push((i, i + c.len_utf8()));
        }
    }
    let lower = text.to_lowercase();
    if lower.len() == text.len() {
        for j in CLAUSE_JOINERS {
            for (at, _) in lower.match_indices(j) {
                cuts.push((at, at + j.len()));
            }
        }
    }
    // A list of claims ("wheat output nearly halving, grain deliveries far below normal, and
    // growers bracing for …"): each item before the closing ", and" / ", or" is a clause.
    if lower.len() == text.len() {
        let strong: Vec<usize> = cuts.iter().map(|c| c.0).collect();
        let commas: Vec<usize> = lower.match_indices(", ").map(|(at, _)| at).collect();
        for (end, _) in lower.match_indices(", and ").chain(lower.match_indices(", or ")) {
            let from = strong.iter().copied().filter(|&c| c < end).max().unwrap_or(0);
            let items: Vec<usize> = commas.iter().copied().filter(|&c| c > from && c < end).collect();
            if !items.is_empty() {
                cuts.extend(items.into_iter().map(|c| (c, c + 2)));
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup_by_key(|c| c.0);
    let mut out = Vec::new();
    let mut start = 0;
    for (a, b) in cuts {
        if a >= start {
            out.push((start, a));
            start = b;
        }
    }
    out.push((start, text.len()));
    out.retain(|&(a, b)| text[a..b].trim().len() > 1);
    out
}

/// The parts of a statement worth anchoring on their own: its clauses and each two
/// neighbouring clauses, each as the statement's terms that occur in it. Empty when the
/// statement is one clause. Parts with fewer than [`PART_MIN_TERMS`] terms are left out.
fn statement_parts(
    text: &str,
    terms: &[(String, Kind, Vec<usize>)],
    quote_found: &dyn Fn(&str) -> bool,
) -> Vec<Vec<(String, Kind)>> {
    let clauses = clause_ranges(text);
    if clauses.len() < 2 {
        return Vec::new();
    }
    let mut ranges: Vec<(usize, usize)> = clauses.clone();
    if clauses.len() <= 8 {
        ranges.extend(clauses.windows(2).map(|w| (w[0].0, w[1].1)));
    }
    // A clause that quotes its evidence is anchored by the quote where the source has it
    // (`quote_found`); where it does not, the clause is scored like any other ("about 600
    // soldiers" against "more than 600 troops").
    let quoted: Vec<(usize, usize)> = QUOTED
        .captures_iter(text)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3)))
        .filter(|m| quote_found(m.as_str().trim()))
        .map(|m| (m.start(), m.end()))
        .collect();
    ranges.retain(|&(a, b)| !quoted.iter().any(|&(qa, qb)| qa < b && a < qb));
    let mut out: Vec<Vec<(String, Kind)>> = Vec::new();
    for (a, b) in ranges {
        let part: Vec<(String, Kind)> = terms
            .iter()
            .filter(|(_, _, at)| at.iter().any(|&o| o >= a && o < b))
            .map(|(t, k, _)| (t.clone(), *k))
            .collect();
        let figure = part
            .iter()
            .any(|(t, k)| *k == Kind::Number && is_distinctive_number(t));
        if (part.len() >= PART_MIN_TERMS || (figure && part.len() >= 2))
            && part.len() < terms.len()
            && !out.contains(&part)
        {
            out.push(part);
        }
    }
    out
}

static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"“([^”]{3,300})”|(?:^|[\s(])"([^"]{3,300})"|(?:^|[\s(])[‘']([^’']{3,300})[’'](?:$|[\s.,;:!?)])"#,
    )
    .expect("quoted phrase regex")
});

/// Phrases a statement quotes (“about 600 soldiers”, 'no changes were planned'), with at
/// least two words: each is an evidence quote of its own in whichever cited source has it.
fn quoted_phrases(text: &str) -> Vec<&str> {
    QUOTED
        .captures_iter(text)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3)))
        .map(|m| m.as_str().trim())
        .filter(|q| canon_words(q).iter().filter(|w| !is_stop(w)).count() >= 1 && canon_words(q).len() >= 2)
        .collect()
}

/// The longest sentence kept whole, bytes: a longer one (a page that is one 2.5 MB
/// paragraph without a full stop) is cut at white space into pieces of at most this, so no
/// passage of a report or mail is larger.
const MAX_SENTENCE_BYTES: usize = 3000;

fn split_sentences(block: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for s in sentencex::segment("en", block).into_iter().map(str::trim) {
        let mut rest = s;
        while rest.len() > MAX_SENTENCE_BYTES {
            let mut cut = MAX_SENTENCE_BYTES;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let at = rest[..cut]
                .rfind(char::is_whitespace)
                .filter(|&i| i > MAX_SENTENCE_BYTES / 2)
                .unwrap_or(cut);
            let (piece, tail) = rest.split_at(at);
            out.push(piece.trim_end());
            rest = tail.trim_start();
        }
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Prepared text

/// FxHash (as in rustc): the index maps hash short words millions of times per megabyte, and
/// need no protection against crafted collisions worth SipHash's cost here.
type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

#[derive(Debug, Clone)]
struct Sentence {
    /// Byte range of its text in [`Prepared::sentence_text`].
    text: (usize, usize),
    /// Its words: a range of indices into [`Prepared::word_at`].
    words: (usize, usize),
    block: usize,
    /// Number of non-stop words.
    content: usize,
    /// Ends like a sentence of prose (not a heading, link teaser, table row or label).
    prose: bool,
}

/// How a latest text differs from one baseline: computed once, shared by every anchor.
#[derive(Debug)]
struct Delta {
    baseline: u64,
    same: bool,
    /// Per latest sentence: its wording is not in the baseline (as often).
    new: Vec<bool>,
}

/// What judging needs beyond anchoring, built on first use (a cold run only anchors).
#[derive(Debug, Clone)]
struct JudgeIndex {
    /// Fingerprint of `joined` and the sentence keys.
    fingerprint: u64,
    /// Sentence keys (canonical text) → how many times they occur.
    keys: FastMap<String, u32>,
    /// Per word index (into `word_at`, and one past the end): a sentence starts there; a
    /// sentence ends there (exclusive).
    sentence_starts: Vec<bool>,
    sentence_ends: Vec<bool>,
}

/// One text version, split and indexed once for many statements: sentences, canonical
/// words, rarity of each word in this source. Build with [`Prepared::new`].
#[derive(Debug)]
pub struct Prepared {
    /// The last comparison against a baseline (judging many statements against one).
    delta: std::sync::Mutex<Option<std::sync::Arc<Delta>>>,
    blocks: Vec<String>,
    sentences: Vec<Sentence>,
    /// The sentences' texts, one after the other.
    sentence_text: String,
    /// ` w1 w2 … ` over the whole text, blocks in order.
    joined: String,
    /// Byte offset in `joined` of each word, and its (block, start, end) in the source.
    word_at: Vec<(usize, usize, usize, usize)>,
    /// Stemmed word → its id, for `df` and `postings`.
    stems: FastMap<Box<str>, u32>,
    /// Per stem id: number of blocks containing it.
    df: Vec<u32>,
    /// Per stem id `s`: `postings[postings_at[s]..postings_at[s + 1]]` are the sentences
    /// containing it as a content word, in order.
    postings_at: Vec<u32>,
    postings: Vec<u32>,
    judge: std::sync::OnceLock<JudgeIndex>,
    /// Built by [`Prepared::for_locating`]: only the sentences that can anchor its statements
    /// were split out, so it can locate those statements but not judge.
    partial: bool,
    /// Built without word positions (`word_at` and `joined` are empty): no quote can be found.
    /// Only the statements' terms have stems, rarity and postings.
    lean: bool,
}

impl Clone for Prepared {
    fn clone(&self) -> Self {
        Prepared {
            delta: std::sync::Mutex::new(None),
            blocks: self.blocks.clone(),
            sentences: self.sentences.clone(),
            sentence_text: self.sentence_text.clone(),
            joined: self.joined.clone(),
            word_at: self.word_at.clone(),
            stems: self.stems.clone(),
            df: self.df.clone(),
            postings_at: self.postings_at.clone(),
            postings: self.postings.clone(),
            judge: self.judge.clone(),
            partial: self.partial,
            lean: self.lean,
        }
    }
}

/// The lowest score at which [`locate_in`] keeps a sentence as an anchor (a fact anchor's), a
/// hair lower for rounding: units whose coverage is under it are not split into sentences.
const LOCATE_FLOOR: f32 = ANCHOR_MIN_SCORE * FACT_ANCHOR_SHARE - 1e-4;

/// A unit (run of blocks) whose sentences are split once the whole text is counted.
struct Deferred {
    /// Its first block.
    first: usize,
    /// Its text when it joins several blocks (else it is block `first`).
    unit: Option<String>,
    /// Its words' spans and infos, as ranges of the flat lists.
    spans: (usize, usize),
    words: (usize, usize),
    /// The index of its first word in `word_at`.
    base: usize,
}

/// Locating only: the units whose sentences are split once every block is counted, with
/// their words' spans and infos in flat lists.
#[derive(Default)]
struct Later {
    units: Vec<Deferred>,
    spans: Vec<(usize, usize)>,
    words: Vec<WordInfo>,
}

impl Later {
    fn push(
        &mut self,
        first: usize,
        unit: std::borrow::Cow<'_, str>,
        (spans, words): (&[(usize, usize)], &[WordInfo]),
        base: usize,
    ) {
        self.units.push(Deferred {
            first,
            unit: match unit {
                std::borrow::Cow::Borrowed(_) => None,
                std::borrow::Cow::Owned(u) => Some(u),
            },
            spans: (self.spans.len(), self.spans.len() + spans.len()),
            words: (self.words.len(), self.words.len() + words.len()),
            base,
        });
        self.spans.extend_from_slice(spans);
        self.words.extend_from_slice(words);
    }
}

/// What the index keeps of a distinct canonical word while building.
#[derive(Clone, Copy)]
struct WordInfo {
    /// Its stem's id, or [`UNINDEXED`].
    stem: u32,
    stop: bool,
}

/// The stem id of a word a lean locating index does not count: its stem is none of the
/// statements' terms, and only those are ever looked up in such an index.
const UNINDEXED: u32 = u32::MAX;

/// The distinct canonical words of a text seen while indexing it: each is looked at once (its
/// stem and whether it is a stop word); every later occurrence is a hash lookup, with no
/// allocation.
struct Vocab<'a> {
    words: FastMap<Box<str>, WordInfo>,
    /// Lean locating: only the statements' terms are looked up (their rarity, the sentences
    /// holding them), so only their stems are counted.
    only: Option<rustc_hash::FxHashSet<&'a str>>,
    /// The statements' approximate figures: the page's figures inside them are indexed too.
    approx: &'a [approx::Approx],
    /// Lean locating: the stems that are figures inside an approximate one.
    approx_stems: rustc_hash::FxHashSet<u32>,
    /// Per stem id: the last block counted in its `df`.
    df_block: Vec<usize>,
}

/// The postings of the sentences split so far.
#[derive(Default)]
struct Posts {
    /// Per stem id: the last sentence posted.
    last: Vec<u32>,
    /// (stem, sentence) pairs, sentences in order; sorted into `postings` at the end.
    pairs: Vec<(u32, u32)>,
}

impl<'a> Vocab<'a> {
    fn new(bytes: usize, only: Option<&'a [Vec<(String, Kind)>]>, approx: &'a [approx::Approx]) -> Self {
        Vocab {
            words: FastMap::with_capacity_and_hasher(bytes / 16, Default::default()),
            only: only.map(|i| i.iter().flatten().map(|(t, _)| t.as_str()).collect()),
            approx,
            approx_stems: Default::default(),
            df_block: Vec::new(),
        }
    }
}

/// The next unit of `blocks` from `*bi` on (moved past it): hard-wrapped lines joined again
/// (a block that does not end a sentence and a next block that starts in lower case are one
/// run of text). Its first block, its text, and where each of its blocks starts in it.
fn next_unit<'b>(blocks: &'b [String], bi: &mut usize) -> (usize, std::borrow::Cow<'b, str>, Vec<usize>) {
    let first = *bi;
    let mut unit = std::borrow::Cow::Borrowed(blocks[first].as_str());
    let mut starts = vec![0usize];
    while *bi + 1 < blocks.len()
        && !unit
            .trim_end()
            .ends_with(['.', '!', '?', ':', ';', '"', '”', ')'])
        && blocks[*bi + 1].starts_with(|c: char| c.is_lowercase())
    {
        *bi += 1;
        let u = unit.to_mut();
        u.push(' ');
        starts.push(u.len());
        u.push_str(&blocks[*bi]);
    }
    *bi += 1;
    (first, unit, starts)
}

impl Prepared {
    /// Splits and indexes `text`.
    pub fn new(text: &ExtractedText) -> Self {
        Self::build(text, None, true, &[])
    }

    /// Indexes `text` only as far as locating `statements` needs: every word, but only the
    /// sentences of units (paragraphs) that share enough words with one of the statements to
    /// hold a passage for it. [`locate_in`] gives the same result for those statements as with
    /// [`Prepared::new`], for much less work on a first run (sentence splitting is the larger
    /// part of preparing a text); it cannot judge.
    pub fn for_locating(text: &ExtractedText, statements: &[&Statement]) -> Self {
        let mut interest: Vec<Vec<(String, Kind)>> = Vec::new();
        for st in statements {
            // As `locate_in` reads it (ordinal dates written as the sources write them).
            let dated = approx::cardinal_dates(&st.text);
            let text = dated.as_deref().unwrap_or(&st.text);
            let terms = statement_terms_at(text);
            // Each part is anchored on its own, with a higher threshold than the floor.
            interest.extend(statement_parts(text, &terms, &|_| false));
            interest.push(terms.into_iter().map(|(t, k, _)| (t, k)).collect());
        }
        // Word positions serve only to find quotes.
        let words = statements
            .iter()
            .any(|st| !st.quotes.is_empty() || !quoted_phrases(&st.text).is_empty());
        // The page's figures inside a statement's approximate ones are indexed too.
        let approx: Vec<approx::Approx> = statements
            .iter()
            .flat_map(|st| approx::approximate_figures(&st.text))
            .collect();
        Self::build(text, Some(&interest), words, &approx)
    }

    /// Indexes `text`; with `interest`, only as far as locating those terms needs (and the
    /// figures inside the ranges of `approx`), and word positions (`word_at`, `joined`) only
    /// if `words`.
    fn build(
        text: &ExtractedText,
        interest: Option<&[Vec<(String, Kind)>]>,
        words: bool,
        approx: &[approx::Approx],
    ) -> Self {
        let lean = interest.is_some() && !words;
        let mut p = Prepared::empty(text, interest.is_some(), lean);
        let bytes = p.sentence_text.capacity();
        let mut vocab = Vocab::new(bytes, interest.filter(|_| lean), approx);
        // Locating only: the units whose sentences are split at the end, and their words.
        let mut later = Later::default();
        let mut posts = Posts::default();
        // Per word of the current unit: its stem and stop-word flag.
        let mut unit_words: Vec<WordInfo> = Vec::new();
        let mut spans = Vec::new();
        let mut bi = 0;
        while bi < text.blocks.len() {
            let (first, unit_cow, starts) = next_unit(&text.blocks, &mut bi);
            let unit: &str = &unit_cow;
            token_spans(unit, &mut spans);
            let base = p.word_at.len();
            unit_words.clear();
            for &(ts, te) in &spans {
                let k = if starts.len() == 1 {
                    0
                } else {
                    starts.partition_point(|&s| s <= ts) - 1
                };
                let at = (first + k, ts - starts[k], te - starts[k]);
                unit_words.push(p.index_word(&unit[ts..te], at, &mut vocab));
            }
            posts.last.resize(p.df.len(), u32::MAX);
            // Locating only: which units can hold an anchor is known once every block has
            // been counted (the rarity of words weighs them); their sentences are split then.
            if interest.is_some() {
                later.push(first, unit_cow, (&spans, &unit_words), base);
                continue;
            }
            p.split_unit(unit, (&spans, &unit_words), base, first, &mut posts);
        }
        if let Some(interest) = interest {
            let wanted = p.anchor_units(interest, &later.units, &later.words, &vocab.approx_stems);
            for (d, wanted) in later.units.iter().zip(wanted) {
                if !wanted {
                    continue;
                }
                let unit = d.unit.as_deref().unwrap_or(&text.blocks[d.first]);
                let (spans, words) = (
                    &later.spans[d.spans.0..d.spans.1],
                    &later.words[d.words.0..d.words.1],
                );
                p.split_unit(unit, (spans, words), d.base, d.first, &mut posts);
            }
        }
        p.post(&posts.pairs);
        p
    }

    /// An index of `text` with nothing in it yet, its buffers sized from the text (about one
    /// word per 6 bytes, one distinct word per 16) so they rarely grow.
    fn empty(text: &ExtractedText, partial: bool, lean: bool) -> Self {
        let bytes: usize = text.blocks.iter().map(|b| b.len() + 1).sum();
        // Without word positions `joined` only holds the word being looked up.
        let mut joined = String::with_capacity(if lean { 256 } else { bytes + bytes / 4 + 1 });
        joined.push(' ');
        Prepared {
            delta: std::sync::Mutex::new(None),
            blocks: text.blocks.clone(),
            sentences: Vec::new(),
            sentence_text: String::with_capacity(bytes),
            joined,
            word_at: Vec::with_capacity(if lean { 0 } else { bytes / 6 }),
            stems: FastMap::with_capacity_and_hasher(bytes / 16, Default::default()),
            df: Vec::new(),
            postings_at: Vec::new(),
            postings: Vec::new(),
            judge: std::sync::OnceLock::new(),
            partial,
            lean,
        }
    }

    /// Indexes one word of the text (`token`, at `(block, start, end)`): its position (unless
    /// lean), its stem (a new one gets the next id, unless lean locating does not want it).
    fn index_word(
        &mut self,
        token: &str,
        (block, start, end): (usize, usize, usize),
        vocab: &mut Vocab<'_>,
    ) -> WordInfo {
        let at = self.joined.len();
        if !self.lean {
            self.word_at.push((at, block, start, end));
        }
        push_canon(token, &mut self.joined);
        let info = match vocab.words.get(&self.joined[at..]) {
            Some(&info) => info,
            None => {
                let w: Box<str> = self.joined[at..].into();
                let s = stem_cow(&w);
                let unwanted = vocab.only.as_ref().is_some_and(|o| !o.contains(s.as_ref()));
                let in_approx = approx::in_any(vocab.approx, s.as_ref());
                let stem = match self.stems.get(s.as_ref()) {
                    Some(&id) => id,
                    None if unwanted && !in_approx => UNINDEXED,
                    None => {
                        let id = self.df.len() as u32;
                        if in_approx {
                            vocab.approx_stems.insert(id);
                        }
                        self.stems.insert(s.into_owned().into_boxed_str(), id);
                        self.df.push(0);
                        id
                    }
                };
                let info = WordInfo {
                    stem,
                    stop: is_stop(&w),
                };
                vocab.words.insert(w, info);
                info
            }
        };
        if self.lean {
            self.joined.truncate(at);
        } else {
            self.joined.push(' ');
        }
        // Rarity: the number of blocks holding the stem.
        let s = info.stem as usize;
        if info.stem != UNINDEXED {
            if vocab.df_block.len() <= s {
                vocab.df_block.resize(s + 1, usize::MAX);
            }
            if vocab.df_block[s] != block {
                vocab.df_block[s] = block;
                self.df[s] += 1;
            }
        }
        info
    }

    /// The postings by stem from the (stem, sentence) `pairs`, each list in sentence order
    /// (a stable counting sort).
    fn post(&mut self, pairs: &[(u32, u32)]) {
        let mut at = vec![0u32; self.df.len() + 1];
        for &(s, _) in pairs {
            at[s as usize + 1] += 1;
        }
        for i in 1..at.len() {
            at[i] += at[i - 1];
        }
        let mut fill = at.clone();
        self.postings = vec![0; pairs.len()];
        for &(s, id) in pairs {
            self.postings[fill[s as usize] as usize] = id;
            fill[s as usize] += 1;
        }
        self.postings_at = at;
    }

    /// Splits a unit (`unit`, its word `spans` and `words`, its first word's index `base`,
    /// its first block `first`) into sentences and posts their content words.
    fn split_unit(
        &mut self,
        unit: &str,
        (spans, unit_words): (&[(usize, usize)], &[WordInfo]),
        base: usize,
        first: usize,
        posts: &mut Posts,
    ) {
        let p = self;
        {
            let mut ti = 0;
            for sent in split_sentences(unit) {
                let s0 = sent.as_ptr() as usize - unit.as_ptr() as usize;
                let s1 = s0 + sent.len();
                while ti < spans.len() && spans[ti].0 < s0 {
                    ti += 1;
                }
                let first_word = ti;
                while ti < spans.len() && spans[ti].0 < s1 {
                    ti += 1;
                }
                if first_word == ti {
                    continue;
                }
                let id = p.sentences.len() as u32;
                let mut content = 0;
                for w in &unit_words[first_word..ti] {
                    if w.stop {
                        continue;
                    }
                    content += 1;
                    if w.stem != UNINDEXED && posts.last[w.stem as usize] != id {
                        posts.last[w.stem as usize] = id;
                        posts.pairs.push((w.stem, id));
                    }
                }
                let t0 = p.sentence_text.len();
                p.sentence_text.push_str(sent);
                p.sentences.push(Sentence {
                    text: (t0, p.sentence_text.len()),
                    words: (base + first_word, base + ti),
                    block: first,
                    content,
                    prose: is_prose(sent),
                });
            }
        }
    }

    /// Which of the `deferred` units can hold a sentence that [`locate_in`] keeps as an
    /// anchor of one of the statements whose terms are `interest`.
    ///
    /// A sentence's score is at most its coverage (the weighed share of the statement's terms
    /// it holds, see `score_sentences`), so at most the coverage of its whole unit; a unit
    /// under [`LOCATE_FLOOR`], the lowest score any anchor is kept at, has no anchor. Nor
    /// has one with fewer shared terms than a sentence needs. A unit holding one of the
    /// statement's distinctive figures is always kept: the fact-anchor rule counts the
    /// sentences that hold such a figure; so is one holding a figure inside an approximate
    /// one of a statement (`approx_stems`), which the statement is located as if it stated.
    fn anchor_units(
        &self,
        interest: &[Vec<(String, Kind)>],
        deferred: &[Deferred],
        words: &[WordInfo],
        approx_stems: &rustc_hash::FxHashSet<u32>,
    ) -> Vec<bool> {
        let max_idf = self.idf("\u{0}");
        // Per statement: (stem id, weight, hits, distinctive) of each term, the weight total
        // and the hits a sentence needs.
        type Weighed = (Vec<(Option<u32>, f32, u32, bool)>, f32, u32);
        let weighed: Vec<Weighed> = interest
            .iter()
            .map(|terms| {
                let ts: Vec<_> = terms
                    .iter()
                    .map(|(t, k)| {
                        let id = self.stems.get(t.as_str()).copied();
                        let w = kind_boost(*k) * if id.is_some() { self.idf(t) } else { max_idf * 0.5 };
                        let distinctive = *k == Kind::Number && is_distinctive_number(t);
                        (id, w, term_hits(t, *k) as u32, distinctive)
                    })
                    .collect();
                let total = ts.iter().map(|t| t.1).sum();
                (ts, total, terms.len().min(2) as u32)
            })
            .collect();
        // Per stem id: the last unit it was a content word of.
        let mut seen = vec![usize::MAX; self.df.len()];
        deferred
            .iter()
            .enumerate()
            .map(|(u, d)| {
                for w in &words[d.words.0..d.words.1] {
                    if !w.stop && w.stem != UNINDEXED {
                        seen[w.stem as usize] = u;
                    }
                }
                if words[d.words.0..d.words.1]
                    .iter()
                    .any(|w| approx_stems.contains(&w.stem))
                {
                    return true;
                }
                weighed.iter().any(|(terms, total, min_hits)| {
                    let (mut covered, mut hits) = (0.0f32, 0u32);
                    for &(id, w, h, distinctive) in terms {
                        if id.is_some_and(|id| seen[id as usize] == u) {
                            if distinctive {
                                return true;
                            }
                            covered += w;
                            hits += h;
                        }
                    }
                    hits > 0 && hits >= *min_hits && *total > 0.0 && covered / total >= LOCATE_FLOOR
                })
            })
            .collect()
    }

    /// The canonical word at index `i` of `word_at`.
    fn word(&self, i: usize) -> &str {
        debug_assert!(!self.lean);
        let start = self.word_at[i].0;
        let end = self.word_at.get(i + 1).map_or(self.joined.len(), |w| w.0) - 1;
        &self.joined[start..end]
    }

    /// The text of sentence `id`.
    fn sentence(&self, id: usize) -> &str {
        let (a, b) = self.sentences[id].text;
        &self.sentence_text[a..b]
    }

    /// The canonical words of sentence `id`, joined by single spaces.
    fn key(&self, id: usize) -> &str {
        let (w0, w1) = self.sentences[id].words;
        let end = self.word_at.get(w1).map_or(self.joined.len(), |w| w.0) - 1;
        &self.joined[self.word_at[w0].0..end]
    }

    /// Sentences containing the stem `s` as a content word.
    /// The figures of the text (canonical: `1187`, `1.46`), as far as it is indexed.
    fn figures(&self) -> Vec<&str> {
        self.stems
            .keys()
            .filter(|k| k.starts_with(|c: char| c.is_ascii_digit()))
            .map(|k| &**k)
            .collect()
    }

    /// Whether the text writes the figure `f` (canonical) somewhere as `context` wants it:
    /// with its currency sign and unit (`£842 million`, `64 per cent`).
    fn states_figure(&self, f: &str, context: &approx::Context) -> bool {
        if *context == approx::Context::default() {
            return true;
        }
        self.postings(f).iter().any(|&id| {
            approx::FIGURE.captures_iter(self.sentence(id as usize)).any(|c| {
                c[2].replace(',', "") == f
                    && context.admits(
                        c.get(1).and_then(|m| m.as_str().chars().next()),
                        c.get(3).and_then(|m| approx::Context::unit_of(m.as_str())),
                    )
            })
        })
    }

    fn postings(&self, s: &str) -> &[u32] {
        match self.stems.get(s) {
            Some(&id) => {
                let id = id as usize;
                &self.postings[self.postings_at[id] as usize..self.postings_at[id + 1] as usize]
            }
            None => &[],
        }
    }

    fn judge_index(&self) -> &JudgeIndex {
        assert!(
            !self.partial,
            "a text prepared for locating only cannot be judged"
        );
        self.judge.get_or_init(|| {
            let mut keys: FastMap<String, u32> = FastMap::default();
            let mut sentence_starts = vec![false; self.word_at.len() + 1];
            let mut sentence_ends = vec![false; self.word_at.len() + 1];
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&self.joined, &mut h);
            for (id, s) in self.sentences.iter().enumerate() {
                sentence_starts[s.words.0] = true;
                sentence_ends[s.words.1] = true;
                let key = self.key(id);
                std::hash::Hash::hash(key, &mut h);
                match keys.get_mut(key) {
                    Some(n) => *n += 1,
                    None => {
                        keys.insert(key.to_owned(), 1);
                    }
                }
            }
            JudgeIndex {
                fingerprint: std::hash::Hasher::finish(&h),
                keys,
                sentence_starts,
                sentence_ends,
            }
        })
    }

    /// This (latest) text against `baseline`, cached for the next anchor.
    fn delta(&self, baseline: &Prepared) -> std::sync::Arc<Delta> {
        let fingerprint = baseline.judge_index().fingerprint;
        let mut slot = self.delta.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = slot.as_ref()
            && d.baseline == fingerprint
        {
            return d.clone();
        }
        let (mine, theirs) = (&self.judge_index().keys, &baseline.judge_index().keys);
        let d = std::sync::Arc::new(Delta {
            baseline: fingerprint,
            same: baseline.same_content(self),
            new: (0..self.sentences.len())
                .map(|id| {
                    let key = self.key(id);
                    mine[key] > theirs.get(key).copied().unwrap_or(0)
                })
                .collect(),
        });
        *slot = Some(d.clone());
        d
    }

    fn idf(&self, stem: &str) -> f32 {
        let n = self.blocks.len().max(1) as f32;
        let df = self.stems.get(stem).map_or(0, |&id| self.df[id as usize]).max(1) as f32;
        (1.0 + n / df).ln()
    }

    /// Finds a run of canonical words; returns the source text it spans.
    fn find_words(&self, words: &[String]) -> Option<String> {
        assert!(
            !self.lean,
            "a text indexed without word positions cannot find quotes"
        );
        if words.is_empty() {
            return None;
        }
        let needle = format!(" {} ", words.join(" "));
        let at = self.joined.find(&needle)? + 1;
        let first = self.word_at.partition_point(|w| w.0 < at);
        let last = first + words.len() - 1;
        let (_, b0, s0, _) = self.word_at[first];
        let (_, b1, _, e1) = self.word_at[last];
        if b0 == b1 {
            return Some(self.blocks[b0][s0..e1].to_owned());
        }
        let mut parts = vec![&self.blocks[b0][s0..]];
        for b in b0 + 1..b1 {
            parts.push(&self.blocks[b]);
        }
        parts.push(&self.blocks[b1][..e1]);
        Some(parts.join(" "))
    }

    /// Whether `words` are one or more whole sentences of this text (wherever they moved,
    /// however the blocks were split): a sentence that grew a clause is not the same passage.
    fn contains_sentences(&self, words: &[String]) -> bool {
        if words.is_empty() {
            return false;
        }
        let key = words.join(" ");
        let j = self.judge_index();
        if j.keys.contains_key(&key) {
            return true;
        }
        self.joined.match_indices(&format!(" {key} ")).any(|(at, _)| {
            let first = self.word_at.partition_point(|w| w.0 < at + 1);
            j.sentence_starts[first] && j.sentence_ends.get(first + words.len()) == Some(&true)
        })
    }

    fn contains_words(&self, words: &[String]) -> bool {
        assert!(
            !self.lean,
            "a text indexed without word positions cannot match words"
        );
        if words.is_empty() {
            return false;
        }
        let key = words.join(" ");
        self.judge_index().keys.contains_key(&key) || self.joined.contains(&format!(" {key} "))
    }

    /// The same words in the same order (however split into blocks), or the same sentences
    /// in any order.
    fn same_content(&self, other: &Prepared) -> bool {
        self.joined == other.joined || self.judge_index().keys == other.judge_index().keys
    }

    /// Scores every sentence sharing a word with the statement: (score, sentence index), in
    /// no particular order.
    fn score_sentences(&self, terms: &[(String, Kind)]) -> Vec<(f32, usize)> {
        self.score_sentences_hits(terms)
            .into_iter()
            .map(|(s, id, _)| (s, id))
            .collect()
    }

    /// [`Prepared::score_sentences`] with the shared terms' hits of each sentence.
    fn score_sentences_hits(&self, terms: &[(String, Kind)]) -> Vec<(f32, usize, u16)> {
        let max_idf = self.idf("\u{0}");
        let mut total = 0.0f32;
        let mut acc = vec![0.0f32; self.sentences.len()];
        let mut hits = vec![0u16; self.sentences.len()];
        let mut touched: Vec<u32> = Vec::new();
        for (t, k) in terms {
            let known = self.stems.contains_key(t.as_str());
            let w = kind_boost(*k) * if known { self.idf(t) } else { max_idf * 0.5 };
            total += w;
            for &id in self.postings(t) {
                if acc[id as usize] == 0.0 {
                    touched.push(id);
                }
                acc[id as usize] += w;
                // A distinctive figure counts as two words: it is evidence on its own.
                hits[id as usize] += term_hits(t, *k);
            }
        }
        if total <= 0.0 {
            return Vec::new();
        }
        let n_terms = terms.len() as f32;
        let score = |id: u32| {
            let s = &self.sentences[id as usize];
            let coverage = acc[id as usize] / total;
            // A light preference for shorter passages among equals.
            let focus = (n_terms / s.content.max(1) as f32).min(1.0);
            0.9 * coverage + 0.1 * focus * coverage
        };
        // One shared word is not evidence (unless the statement has only one, or it is a
        // distinctive figure).
        let min_hits = terms.len().min(2) as u16;
        touched
            .iter()
            .filter(|&&id| hits[id as usize] >= min_hits)
            .map(|&id| (score(id), id as usize, hits[id as usize]))
            .collect()
    }
}

/// The last few [`Prepared`] texts by version id (e.g. the text hash), so a run prepares each
/// version once however many statements cite it.
#[derive(Debug)]
pub struct PreparedCache {
    capacity: usize,
    /// Most recently used last.
    entries: Vec<(String, std::sync::Arc<Prepared>)>,
}

impl PreparedCache {
    /// A cache of at most `capacity` texts (at least 2: a baseline and a latest version).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(2),
            entries: Vec::new(),
        }
    }

    /// The prepared text of `version`, preparing `text` if it is not cached.
    pub fn get(&mut self, version: &str, text: &ExtractedText) -> std::sync::Arc<Prepared> {
        let r: Result<_, std::convert::Infallible> = self.get_with(version, || Ok(text.clone()));
        match r {
            Ok(p) => p,
        }
    }

    /// The prepared text of `version`, loading it with `load` only if it is not cached.
    pub fn get_with<E>(
        &mut self,
        version: &str,
        load: impl FnOnce() -> Result<ExtractedText, E>,
    ) -> Result<std::sync::Arc<Prepared>, E> {
        if let Some(i) = self.entries.iter().position(|(v, _)| v == version) {
            let e = self.entries.remove(i);
            let p = e.1.clone();
            self.entries.push(e);
            return Ok(p);
        }
        let p = std::sync::Arc::new(Prepared::new(&load()?));
        if self.entries.len() == self.capacity {
            self.entries.remove(0);
        }
        self.entries.push((version.to_owned(), p.clone()));
        Ok(p)
    }
}

// ---------------------------------------------------------------------------------------
// Anchoring

/// Locates the passages of `text` that back `statement` as its source `cite`.
pub fn locate(statement: &Statement, cite: CiteNo, text: &ExtractedText) -> Located {
    locate_in(statement, cite, &Prepared::new(text))
}

/// [`locate`] against a [`Prepared`] text (build it once per source version): the quotes
/// the statement gives for this source where the source has them; else the sentences
/// backing the statement as a whole, its clauses and its figures; else, for a person to
/// paste as a quote, the closest sentence.
pub fn locate_in(statement: &Statement, cite: CiteNo, text: &Prepared) -> Located {
    match as_on_page(statement, text) {
        Some(st) => locate_as_written(&st, cite, text),
        None => locate_as_written(statement, cite, text),
    }
}

/// A figure given approximately ("close to 1,200") that the page does not state as written
/// is looked for as the page's figure inside its range ("1,187"): the statement so
/// rewritten, if any figure is.
fn as_on_page(statement: &Statement, text: &Prepared) -> Option<Statement> {
    // Ordinal dates first ("the first of January" is "1 January"), whatever the page.
    let dated = approx::cardinal_dates(&statement.text);
    let written = dated.as_deref().unwrap_or(&statement.text);
    let ranges = approx::approximate_figures(written);
    let figures = (!ranges.is_empty())
        .then(|| {
            approx::rewrite(
                written,
                &ranges,
                || text.figures(),
                |c| text.stems.contains_key(c),
                |f, context| text.states_figure(f, context),
            )
        })
        .flatten();
    Some(Statement {
        text: figures.or(dated)?,
        ..statement.clone()
    })
}

/// [`locate_in`] for the statement as it is written.
fn locate_as_written(statement: &Statement, cite: CiteNo, text: &Prepared) -> Located {
    let mut located = given_quotes(statement, cite, text);
    if !located.anchors.is_empty() {
        return located;
    }
    // A phrase the statement quotes is a quote of its own where the source has it.
    for phrase in quoted_phrases(&statement.text) {
        if let Some(passage) = text.find_words(&canon_words(phrase))
            && !located.anchors.iter().any(|a| a.passage == passage)
        {
            located.anchors.push(Anchor {
                passage,
                quote: true,
                score: 1.0,
                part: 0,
            });
        }
    }
    let terms_at = statement_terms_at(&statement.text);
    let terms: Vec<(String, Kind)> = terms_at.iter().map(|(t, k, _)| (t.clone(), *k)).collect();
    let scored_hits = text.score_sentences_hits(&terms);
    // Two shared words of a longer statement are not evidence, however rare they are on
    // the page ("short-term health guideline" for "no long-term risk to health").
    let whole_min_hits = if terms.len() >= WHOLE_FEW_TERMS {
        PART_MIN_HITS
    } else {
        0
    };
    let whole_scored: Vec<(f32, usize, u16)> = scored_hits
        .iter()
        .copied()
        .filter(|&(_, _, hits)| hits >= whole_min_hits)
        .collect();
    let mut chosen: Vec<(f32, usize, u16)> = whole_anchors(&terms, &whole_scored, text)
        .into_iter()
        .map(|(score, id)| (score, id, 0))
        .collect();
    let clauses = clause_anchors(statement, &terms_at, &terms, &scored_hits, &chosen, text);
    let mut n_parts = 0;
    for (score, id, part) in clauses.found {
        if n_parts < MAX_PART_ANCHORS && !chosen.iter().any(|c| c.1 == id) {
            chosen.push((score, id, part));
            n_parts += 1;
        }
    }
    if !chosen.is_empty() {
        let figures = figure_anchors(&terms, &scored_hits, &chosen, text);
        chosen.extend(figures);
    }
    for (score, id, part) in chosen {
        let passage = text.sentence(id).to_owned();
        if located.anchors.iter().any(|a| a.passage == passage) {
            continue;
        }
        located.anchors.push(Anchor {
            passage,
            quote: false,
            score,
            part,
        });
    }
    if located.anchors.is_empty()
        && let Some(id) = figure_in_context(&terms, text)
    {
        located.anchors.push(Anchor {
            passage: text.sentence(id).to_owned(),
            quote: false,
            score: scored_hits.iter().find(|s| s.1 == id).map_or(0.0, |s| s.0),
            part: 0,
        });
    }
    if located.anchors.is_empty() {
        located.candidate = clauses.closest.map(|(_, id)| text.sentence(id).to_owned());
    }
    located
}

/// The quotes `statement` gives for source `cite` (or for every source), anchored where
/// `text` has them word for word (an elided quote by each of its parts); the others listed
/// as missing (given for this source) or unfound.
fn given_quotes(statement: &Statement, cite: CiteNo, text: &Prepared) -> Located {
    let mut located = Located::default();
    for q in &statement.quotes {
        if q.cite.is_some_and(|c| c != cite) {
            continue;
        }
        // An elided quote (`…`, `...`, `[...]`) is its parts, each anchored on its own.
        let parts: Vec<Vec<String>> = ELLIPSIS
            .split(&q.text)
            .map(canon_words)
            .filter(|w| !w.is_empty())
            .collect();
        let found: Option<Vec<String>> = parts.iter().map(|p| text.find_words(p)).collect();
        match found {
            Some(passages) if !passages.is_empty() => {
                for passage in passages {
                    located.anchors.push(Anchor {
                        passage,
                        quote: true,
                        score: 1.0,
                        part: 0,
                    });
                }
            }
            _ if q.cite.is_some() => located.missing_quotes.push(q.text.clone()),
            _ => located.unfound_quotes.push(q.text.clone()),
        }
    }
    located
}

/// What the clauses of a statement find in a text: part anchors, best first, and the
/// closest sentence to offer a person when nothing anchors.
struct Clauses {
    /// (rank, sentence, part number): clause parts, dense windows, contained clauses.
    found: Vec<(f32, usize, u16)>,
    /// (score, sentence) of the closest match, a part's counted at [`PART_CANDIDATE_RANK`].
    closest: Option<(f32, usize)>,
}

/// Each clause of a compound statement on its own (its sources usually back one each),
/// dense runs of the statement's words, and source clauses the statement nearly all
/// states; `chosen` are the whole-statement anchors already found.
fn clause_anchors(
    statement: &Statement,
    terms_at: &[(String, Kind, Vec<usize>)],
    terms: &[(String, Kind)],
    scored_hits: &[(f32, usize, u16)],
    chosen: &[(f32, usize, u16)],
    text: &Prepared,
) -> Clauses {
    let mut closest: Option<(f32, usize)> = scored_hits
        .iter()
        .map(|&(s, id, _)| (s, id))
        .filter(|s| s.0 >= LOCATE_FLOOR)
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut parts_found: Vec<(f32, usize, u16)> = Vec::new();
    let found = |q: &str| !text.lean && text.find_words(&canon_words(q)).is_some();
    // Sentences worth looking into for a contained clause (see [`contained_clauses`]): each
    // shares enough of the statement or of one of its parts to be in an indexed unit.
    let worth = |&&(score, _, hits): &&(f32, usize, u16)| score >= LOCATE_FLOOR && hits >= PART_MIN_HITS;
    let mut candidates: Vec<usize> = scored_hits.iter().filter(worth).map(|s| s.1).collect();
    for (pi, part) in statement_parts(&statement.text, terms_at, &found)
        .iter()
        .enumerate()
    {
        let scored = text.score_sentences_hits(part);
        candidates.extend(scored.iter().filter(worth).map(|s| s.1));
        for &(score, id, _) in &scored {
            if score >= LOCATE_FLOOR && closest.is_none_or(|c| score * PART_CANDIDATE_RANK > c.0) {
                closest = Some((score * PART_CANDIDATE_RANK, id));
            }
        }
        if let Some((rank, _, id)) = best_part_sentence(part, &scored, text) {
            parts_found.push((rank, id, pi as u16 + 1));
        }
    }
    // A sentence sharing a dense run of the statement's words backs that stretch of it,
    // however the statement is punctuated ("traced the failure to a corroded steel bearing
    // at the second pier that …").
    let mut windows: Vec<(f32, usize, u16)> = scored_hits
        .iter()
        .filter(|&&(_, id, hits)| hits >= WINDOW_MIN_HITS && !parts_found.iter().any(|p| p.1 == id))
        .filter_map(|&(score, id, _)| dense_window(terms_at, text, id).map(|w| (w, score, id)))
        .map(|(w, score, id)| (rank(text, score.max(w), id), id, 0))
        .collect();
    windows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (k, w) in windows.into_iter().take(MAX_PART_ANCHORS).enumerate() {
        parts_found.push((w.0, w.1, (MAX_CLAUSE_PARTS + 1 + k) as u16));
    }
    // A clause of a source sentence whose words the statement nearly all states backs that
    // part of it, whatever else the statement adds ("three workers were treated in
    // hospital" in "Three workers went to hospital with breathing problems after inhaling
    // smoke …").
    // (Not needed when a sentence states the statement nearly word for word.)
    if chosen.iter().any(|c| c.0 >= STATED_SCORE) {
        candidates.clear();
    }
    let mut contained: Vec<(f32, usize, u16)> = contained_clauses(terms, &candidates, text)
        .into_iter()
        .filter(|&(_, id)| !parts_found.iter().any(|p| p.1 == id))
        .map(|(share, id)| (rank(text, share, id), id, CONTAINED_PART))
        .collect();
    contained.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    parts_found.extend(contained.into_iter().take(MAX_PART_ANCHORS));
    parts_found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    Clauses {
        found: parts_found,
        closest,
    }
}

/// The sentence best backing one clause (`part`'s terms, scored as `scored`): over
/// [`PART_MIN_SCORE`] with [`PART_MIN_HITS`] shared terms, stating the clause's figure if
/// it has one (a clause stating a figure is backed by a passage stating it), ranked as
/// [`rank`]: (rank, score, sentence).
fn best_part_sentence(
    part: &[(String, Kind)],
    scored: &[(f32, usize, u16)],
    text: &Prepared,
) -> Option<(f32, f32, usize)> {
    let figures: Vec<&str> = part
        .iter()
        .filter(|(t, k)| *k == Kind::Number && is_distinctive_number(t))
        .map(|(t, _)| t.as_str())
        .collect();
    let states_figure = |id: usize| {
        figures.is_empty()
            || figures
                .iter()
                .any(|t| text.postings(t).binary_search(&(id as u32)).is_ok())
    };
    scored
        .iter()
        .copied()
        .filter(|&(score, id, hits)| score >= PART_MIN_SCORE && hits >= PART_MIN_HITS && states_figure(id))
        .map(|(score, id, _)| (rank(text, score, id), score, id))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.2.cmp(&a.2)))
}

/// Each distinctive figure of the statement is backed where the source states it: a
/// sentence holding one that no anchor of `chosen` holds, with one more of the statement's
/// words, backs that figure too ("the £14.6 million-a-year scheme" besides the sentence on
/// the tax rise). Its own part: no alternative to the other anchors.
fn figure_anchors(
    terms: &[(String, Kind)],
    scored_hits: &[(f32, usize, u16)],
    chosen: &[(f32, usize, u16)],
    text: &Prepared,
) -> Vec<(f32, usize, u16)> {
    let mut out: Vec<(f32, usize, u16)> = Vec::new();
    // Not a bare two-digit number: those recur (a day, a percentage, "2022/23").
    let figures = terms.iter().filter(|(t, kind)| {
        *kind == Kind::Number && (t.contains('.') || t.chars().filter(char::is_ascii_digit).count() >= 3)
    });
    for (t, _) in figures {
        let ids = text.postings(t);
        if ids.is_empty() || ids.len() > 2 || chosen.iter().chain(&out).any(|c| ids.contains(&(c.1 as u32))) {
            continue;
        }
        let best = ids
            .iter()
            .filter_map(|&id| scored_hits.iter().find(|s| s.1 == id as usize))
            .filter(|s| s.2 >= PART_MIN_HITS)
            .max_by_key(|s| (s.2, text.sentences[s.1].prose, usize::MAX - s.1));
        if let Some(&(score, id, _)) = best
            && out.len() < MAX_PART_ANCHORS
        {
            out.push((score, id, FIGURE_PART + out.len() as u16));
        }
    }
    out
}

/// Part numbers up to this one belong to clauses; dense windows number theirs after it.
const MAX_CLAUSE_PARTS: usize = 64;
/// A whole-statement anchor scoring this much states it nearly word for word: no clause of
/// another sentence is looked for.
const STATED_SCORE: f32 = 0.9;
/// The part number of an anchor found by [`contained_clauses`].
const CONTAINED_PART: u16 = (MAX_CLAUSE_PARTS + 1 + MAX_PART_ANCHORS) as u16;
/// The part numbers of anchors stating a figure no other anchor states.
const FIGURE_PART: u16 = CONTAINED_PART + 1;

/// A clause of a source sentence is contained in a statement when it has at least this many
/// content words…
pub const CONTAINED_MIN_WORDS: usize = 3;
/// …and the statement states at least this share of them (and at least
/// [`CONTAINED_MIN_WORDS`]), one of them rare on the page or a name or figure.
pub const CONTAINED_MIN_SHARE: f32 = 0.75;

/// The `candidates` sentences with a clause whose content words the statement (`terms`)
/// nearly all states, with the share stated: the statement paraphrases that clause and adds
/// to it. Counted in distinct stems, unweighted: a clause's other words need not be indexed.
fn contained_clauses(terms: &[(String, Kind)], candidates: &[usize], text: &Prepared) -> Vec<(f32, usize)> {
    let rare_df = ((text.blocks.len() as f32 * RARE_SHARE) as u32).max(2);
    let mut ids = candidates.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        // A heading or table row names the topic, which any statement about it states.
        if !text.sentences[id].prose {
            continue;
        }
        let sentence = text.sentence(id);
        let mut best: Option<f32> = None;
        for (a, b) in clause_ranges(sentence) {
            // The clause's content words, as a statement's are counted.
            let words = statement_terms(&sentence[a..b]);
            if words.len() < CONTAINED_MIN_WORDS {
                continue;
            }
            let stated: Vec<&(String, Kind)> = words
                .iter()
                .filter_map(|(w, _)| terms.iter().find(|(t, _)| t == w))
                .collect();
            let share = stated.len() as f32 / words.len() as f32;
            let telling = stated.iter().any(|(t, k)| {
                matches!(k, Kind::Name | Kind::Number)
                    || text
                        .stems
                        .get(t.as_str())
                        .is_some_and(|&s| text.df[s as usize] <= rare_df)
            });
            if stated.len() >= CONTAINED_MIN_WORDS && share >= CONTAINED_MIN_SHARE && telling {
                best = Some(best.map_or(share, |b: f32| b.max(share)));
            }
        }
        if let Some(share) = best {
            out.push((share, id));
        }
    }
    out
}

/// A dense run of the statement's words in one sentence: at least this many shared (a
/// distinctive figure counts as two) …
pub const WINDOW_MIN_HITS: u16 = 5;
/// … making up at least this share of the statement's terms between the first and the last
/// shared one …
pub const WINDOW_DENSITY: f32 = 0.7;
/// … and at least this many of them rare on the page (in at most [`RARE_SHARE`] of its
/// blocks): a run of common words ("the state said the department") is not evidence.
pub const WINDOW_MIN_RARE: usize = 2;

/// Whether sentence `id` shares a dense run of the statement's terms (in statement order),
/// see [`WINDOW_MIN_HITS`]: the run's share of the statement's weight as a score.
fn dense_window(terms: &[(String, Kind, Vec<usize>)], text: &Prepared, id: usize) -> Option<f32> {
    let rare_df = ((text.blocks.len() as f32 * RARE_SHARE) as u32).max(2);
    let has: Vec<Option<bool>> = terms
        .iter()
        .map(|(t, _, _)| {
            text.postings(t).binary_search(&(id as u32)).is_ok().then(|| {
                text.stems
                    .get(t.as_str())
                    .is_some_and(|&s| text.df[s as usize] <= rare_df)
            })
        })
        .collect();
    let mut best: Option<f32> = None;
    for i in 0..terms.len() {
        if has[i].is_none() {
            continue;
        }
        let (mut hits, mut shared, mut rare) = (0u16, 0usize, 0usize);
        for j in i..terms.len() {
            let Some(is_rare) = has[j] else { continue };
            hits += term_hits(&terms[j].0, terms[j].1);
            shared += 1;
            rare += usize::from(is_rare);
            let density = shared as f32 / (j - i + 1) as f32;
            if hits >= WINDOW_MIN_HITS && density >= WINDOW_DENSITY && rare >= WINDOW_MIN_RARE {
                let share = shared as f32 / terms.len() as f32;
                best = Some(best.map_or(share, |b: f32| b.max(share)));
            }
        }
    }
    best
}

/// Sentences stating a distinctive figure of the statement that occurs in at most two
/// sentences of the source (an infobox row, a summary bullet, the sentence itself).
fn figure_sentences<'a>(terms: &'a [(String, Kind)], text: &'a Prepared) -> impl Iterator<Item = usize> + 'a {
    terms
        .iter()
        .filter(|(t, k)| *k == Kind::Number && is_distinctive_number(t))
        .map(|(t, _)| text.postings(t))
        .filter(|ids| !ids.is_empty() && ids.len() <= 2)
        .flatten()
        .map(|&id| id as usize)
}

/// A sentence's ranking weight for `score`: headlines, teasers and table rows rank below
/// prose ([`NON_PROSE_RANK`]).
fn rank(text: &Prepared, score: f32, id: usize) -> f32 {
    if text.sentences[id].prose {
        score
    } else {
        score * NON_PROSE_RANK
    }
}

/// With nothing else anchored: the sentence stating one of the statement's distinctive
/// figures (one that occurs in at most two sentences of the source) together with at least
/// one more of its words: `38%` and `hospitality`, `180` and `Pennsylvania`. The best such
/// sentence by shared words, prose first.
fn figure_in_context(terms: &[(String, Kind)], text: &Prepared) -> Option<usize> {
    let mut best: Option<(u16, bool, usize)> = None;
    for id in figure_sentences(terms, text) {
        let s = &text.sentences[id];
        let hits: u16 = terms
            .iter()
            .filter(|(u, _)| text.postings(u).binary_search(&(id as u32)).is_ok())
            .map(|(u, k)| term_hits(u, *k))
            .sum();
        if hits < PART_MIN_HITS {
            continue;
        }
        let key = (hits, s.prose, usize::MAX - id);
        if best.is_none_or(|b| key > (b.0, b.1, usize::MAX - b.2)) {
            best = Some((hits, s.prose, id));
        }
    }
    best.map(|b| b.2)
}

/// Candidates for a person to paste as a quote: a part's match counts for this share of a
/// whole statement's.
const PART_CANDIDATE_RANK: f32 = 0.6;

/// The sentences anchoring the statement as a whole (`terms` scored as `scored`): the best
/// over [`ANCHOR_MIN_SCORE`] and those within [`ANCHOR_MARGIN`] of it, plus sentences
/// stating a distinctive figure of the statement.
fn whole_anchors(
    terms: &[(String, Kind)],
    scored: &[(f32, usize, u16)],
    text: &Prepared,
) -> Vec<(f32, usize)> {
    // A long statement shares a smaller part of its words with any one sentence: many
    // shared words are evidence at a slightly lower share.
    let enough = |&&(score, _, hits): &&(f32, usize, u16)| {
        score >= ANCHOR_MIN_SCORE || (hits >= MANY_HITS && score >= MANY_HITS_MIN_SCORE)
    };
    if !scored.iter().any(|s| enough(&s)) {
        return Vec::new();
    }
    // Ranking prefers prose: a headline or link teaser repeating the statement's words is
    // weaker evidence than the sentence that states it (and comes and goes with the layout).
    let ranked: Vec<(f32, f32, usize)> = scored
        .iter()
        .map(|&(score, id, _)| (rank(text, score, id), score, id))
        .collect();
    let best_rank = ranked.iter().map(|r| r.0).fold(0.0f32, f32::max);
    let mut top: Vec<(f32, f32, usize)> = ranked
        .into_iter()
        .filter(|r| r.0 >= best_rank * ANCHOR_MARGIN)
        .collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
    top.truncate(MAX_ANCHORS);
    let mut top: Vec<(f32, usize)> = top.into_iter().map(|(_, score, id)| (score, id)).collect();
    // A distinctive figure of the statement stated elsewhere too (an infobox row, a summary
    // bullet) backs it as well: a sentence holding a number of the statement that occurs in
    // at most two sentences of the source, and sharing more than the number.
    let have_prose = top.iter().any(|&(_, id)| text.sentences[id].prose);
    for id in figure_sentences(terms, text) {
        // A prose sentence only when no prose passage is anchored yet (the best match was
        // a headline or teaser): next to a prose anchor, a sentence sharing one figure is
        // usually another fact that happens to use the same number (a date, a
        // percentage), and as an alternative anchor it would hide the removal of the
        // real one.
        if top.len() < MAX_ANCHORS
            && !top.iter().any(|s| s.1 == id)
            && (!text.sentences[id].prose || !have_prose)
            && let Some(&(score, ..)) = scored.iter().find(|s| s.1 == id)
            && score >= ANCHOR_MIN_SCORE * FACT_ANCHOR_SHARE
        {
            top.push((score, id));
        }
    }
    top
}

/// Whether a sentence ends like prose: `.`, `!`, `?` or `…`, before any closing quotes,
/// brackets and reference markers.
fn is_prose(s: &str) -> bool {
    let mut t = s.trim_end();
    loop {
        let before = t;
        t = t.trim_end_matches(['"', '”', '’', '\'', ')', ' ']);
        if t.ends_with(']')
            && let Some(i) = t.rfind('[')
            && t.len() - i <= 24
        {
            t = &t[..i];
        }
        if t == before {
            break;
        }
    }
    t.ends_with(['.', '!', '?', '…'])
}

/// A number worth anchoring on its own: not a year, and not a small count (`2`, `6`).
/// How much a statement term shared with a sentence counts towards the minimum of shared
/// terms: a distinctive figure counts as two words, as it is evidence on its own.
fn term_hits(t: &str, k: Kind) -> u16 {
    if k == Kind::Number && is_distinctive_number(t) {
        2
    } else {
        1
    }
}

/// Callers ask only of a statement's [`Kind::Number`] terms: a year-like figure written as a
/// count (`2,000`) is one of those, a year is a [`Kind::Date`].
fn is_distinctive_number(t: &str) -> bool {
    let Some(first) = t.chars().next() else {
        return false;
    };
    if !first.is_ascii_digit() {
        return false;
    }
    let digits = t.chars().filter(char::is_ascii_digit).count();
    t.contains('.') || digits >= 2
}

fn is_year(t: &str) -> bool {
    t.len() == 4 && t.chars().all(|c| c.is_ascii_digit()) && (t.starts_with("19") || t.starts_with("20"))
}

/// How [`locate_in`] sees `statement` in `text`, for a person tuning it: the whole statement
/// and each part with its terms and best-scoring sentences (score, shared-term hits).
pub fn explain(statement: &Statement, text: &Prepared) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rewritten = as_on_page(statement, text);
    if let Some(st) = &rewritten {
        let _ = writeln!(out, "  as on this page: {}", st.text);
    }
    let statement = rewritten.as_ref().unwrap_or(statement);
    let terms_at = statement_terms_at(&statement.text);
    let whole: Vec<(String, Kind)> = terms_at.iter().map(|(t, k, _)| (t.clone(), *k)).collect();
    let mut views = vec![("whole".to_owned(), whole)];
    let found = |q: &str| !text.lean && text.find_words(&canon_words(q)).is_some();
    for (i, p) in statement_parts(&statement.text, &terms_at, &found)
        .into_iter()
        .enumerate()
    {
        views.push((format!("part {}", i + 1), p));
    }
    for (name, terms) in views {
        let shown: Vec<String> = terms.iter().map(|(t, k)| format!("{t}:{k:?}")).collect();
        let _ = writeln!(out, "  {name}: {}", shown.join(" "));
        let mut scored = text.score_sentences_hits(&terms);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (score, id, hits) in scored.into_iter().take(3) {
            let _ = writeln!(out, "    {score:.3} hits {hits}: {}", text.sentence(id));
        }
    }
    out
}

/// The best anchoring score of any sentence of `text` for `statement` (for measuring the
/// threshold).
pub fn best_score(statement: &Statement, text: &Prepared) -> f32 {
    text.score_sentences(&statement_terms(&statement.text))
        .iter()
        .map(|s| s.0)
        .fold(0.0, f32::max)
}

// ---------------------------------------------------------------------------------------
// Judging

/// Judges anchored passages against the latest text.
pub fn judge(
    statement: &Statement,
    anchors: &[Anchor],
    baseline: &ExtractedText,
    latest: &ExtractedText,
) -> Judgement {
    judge_in(
        statement,
        anchors,
        &Prepared::new(baseline),
        &Prepared::new(latest),
    )
}

/// What became of one anchor in the latest text.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Word for word, somewhere.
    Same,
    /// Best local alignment at `ratio` with this passage.
    Changed {
        /// Local word-alignment ratio (0..1).
        ratio: f32,
        /// The passage now.
        after: String,
    },
    /// Nothing new in the latest text resembles it (best ratio given).
    Gone {
        /// Best local word-alignment ratio seen.
        ratio: f32,
    },
}

/// Finds one anchor again in `latest`, given the text it was anchored in.
pub fn find_again(anchor: &Anchor, baseline: &Prepared, latest: &Prepared) -> Found {
    let words = canon_words(&anchor.passage);
    let there = if anchor.quote {
        latest.contains_words(&words)
    } else {
        latest.contains_sentences(&words)
    };
    if words.is_empty() || there {
        return Found::Same;
    }
    // Candidates: latest sentences whose wording is not in the baseline, alone or with a
    // neighbour (merged / split passages), sharing enough words with the anchor.
    let delta = latest.delta(baseline);
    let new = &delta.new;
    let mut stems: Vec<String> = words.iter().filter(|w| !is_stop(w)).map(|w| stem(w)).collect();
    stems.sort();
    stems.dedup();
    let mut shared: FastMap<u32, u32> = FastMap::default();
    for s in &stems {
        for &id in latest.postings(s) {
            if new[id as usize] {
                *shared.entry(id).or_default() += 1;
            }
        }
    }
    let need = ((stems.len() as f32) * 0.25).ceil().max(1.0) as u32;
    let mut cands: Vec<usize> = shared
        .into_iter()
        .filter(|&(_, n)| n >= need)
        .map(|(id, _)| id as usize)
        .collect();
    cands.sort_unstable();
    let mut best: Option<(f32, usize, usize, usize, usize)> = None; // ratio, first, last sentence, window
    let mut consider = |first: usize, last: usize| {
        let cand: Vec<&str> = latest.sentences[first..=last]
            .iter()
            .flat_map(|s| (s.words.0..s.words.1).map(|i| latest.word(i)))
            .collect();
        let (ratio, w0, w1) = local_ratio(&words, &cand);
        if best.is_none_or(|b| ratio > b.0) {
            best = Some((ratio, first, last, w0, w1));
        }
    };
    for &c in &cands {
        consider(c, c);
        let block = latest.sentences[c].block;
        if c > 0 && latest.sentences[c - 1].block.abs_diff(block) <= 1 {
            consider(c - 1, c);
        }
        if c + 1 < latest.sentences.len() && latest.sentences[c + 1].block.abs_diff(block) <= 1 {
            consider(c, c + 1);
        }
    }
    match best {
        Some((ratio, first, last, w0, w1)) if ratio >= CHANGED_MIN_RATIO => {
            let sents: Vec<&str> = (first..=last).map(|id| latest.sentence(id)).collect();
            let after = if anchor.quote {
                window_text(&sents, w0, w1)
            } else {
                sents.join(" ")
            };
            Found::Changed { ratio, after }
        }
        Some((ratio, ..)) => Found::Gone { ratio },
        None => Found::Gone { ratio: 0.0 },
    }
}

/// Aligns `a` against `b` word by word; returns the ratio of `a` to the span of `b` it
/// aligns with (extended by `a`'s unmatched head and tail), and that span.
///
/// Figures align with figures (`43.5` with `41.9`): a passage whose numbers were edited keeps
/// its shape, which is what makes a table row with new values "changed", not "removed".
fn local_ratio(a: &[String], b: &[&str]) -> (f32, usize, usize) {
    fn shape(w: &str) -> &str {
        if w.starts_with(|c: char| c.is_ascii_digit()) {
            "#"
        } else {
            w
        }
    }
    let a: Vec<&str> = a.iter().map(|w| shape(w)).collect();
    let b: Vec<&str> = b.iter().map(|w| shape(w)).collect();
    let ops = similar::capture_diff_slices(Algorithm::Myers, &a, &b);
    let mut matched = 0usize;
    let mut first: Option<(usize, usize)> = None; // (old index, new index) of first equal
    let mut last: Option<(usize, usize)> = None; // (old end, new end) of last equal
    for op in &ops {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = *op
        {
            matched += len;
            if first.is_none() {
                first = Some((old_index, new_index));
            }
            last = Some((old_index + len, new_index + len));
        }
    }
    let (Some((fo, fnw)), Some((lo, lnw))) = (first, last) else {
        return (0.0, 0, 0);
    };
    let w0 = fnw.saturating_sub(fo);
    let w1 = (lnw + (a.len() - lo)).min(b.len());
    let span = w1 - w0;
    (2.0 * matched as f32 / (a.len() + span) as f32, w0, w1)
}

/// The source text of words `w0..w1` of the concatenated sentences.
fn window_text(sents: &[&str], w0: usize, w1: usize) -> String {
    let mut parts = Vec::new();
    let mut offset = 0;
    let mut toks = Vec::new();
    for s in sents {
        token_spans(s, &mut toks);
        let n = toks.len();
        let lo = w0.max(offset);
        let hi = w1.min(offset + n);
        if lo < hi {
            parts.push(s[toks[lo - offset].0..toks[hi - 1 - offset].1].to_owned());
        }
        offset += n;
    }
    parts.join(" ")
}

/// [`judge`] against [`Prepared`] texts (build each version once).
pub fn judge_in(
    statement: &Statement,
    anchors: &[Anchor],
    baseline: &Prepared,
    latest: &Prepared,
) -> Judgement {
    let same = latest.delta(baseline).same;
    let mut worst = Judgement {
        verdict: if same {
            Verdict::Unchanged
        } else {
            Verdict::SourceChangedElsewhere
        },
        before: None,
        after: None,
        facts: vec![],
    };
    if same {
        return worst;
    }
    if anchors.is_empty() {
        // No passage to judge: only a change that touches the statement's own distinctive
        // words (its figures, names, rare terms) is worth a person's look.
        if let Some((before, after)) = touching_change(statement, baseline, latest) {
            worst.verdict = Verdict::SourceChanged;
            worst.facts = match (&before, &after) {
                (Some(b), Some(a)) => fact_changes(b, a),
                _ => vec![],
            };
            worst.before = before;
            worst.after = after;
        }
        return worst;
    }
    let found: Vec<Found> = anchors.iter().map(|a| find_again(a, baseline, latest)).collect();
    // Ranked anchors of one part of the statement are alternative statements of the same
    // evidence: one that vanished outright (a teaser, a summary line) while another is still
    // there (word for word, or changed, which flags on its own) does not make the evidence
    // removed. Quotes were chosen by a person (or quoted by the statement): each counts.
    let one_there = |part: u16| {
        anchors
            .iter()
            .zip(&found)
            .any(|(a, f)| !a.quote && a.part == part && !matches!(f, Found::Gone { .. }))
    };
    for (a, f) in anchors.iter().zip(&found) {
        let j = match f {
            Found::Same => continue,
            Found::Gone { .. } if !a.quote && one_there(a.part) => continue,
            Found::Changed { after, .. } => Judgement {
                verdict: Verdict::EvidenceChanged,
                facts: fact_changes(&a.passage, after),
                before: Some(a.passage.clone()),
                after: Some(after.clone()),
            },
            Found::Gone { .. } => Judgement {
                verdict: Verdict::EvidenceRemoved,
                before: Some(a.passage.clone()),
                after: None,
                facts: vec![],
            },
        };
        if j.verdict > worst.verdict {
            worst = j;
        }
    }
    worst
}

/// A change of `latest` against `baseline` that touches `statement` although no passage was
/// located for it: a sentence gone from the baseline or new in the latest text that holds
/// one of the statement's distinctive figures, or two of its rare words (names and words in
/// at most [`RARE_SHARE`] of the source's blocks, two at least). Returns the sentence before
/// and the one after, when there are.
fn touching_change(
    statement: &Statement,
    baseline: &Prepared,
    latest: &Prepared,
) -> Option<(Option<String>, Option<String>)> {
    let terms_at = statement_terms_at(&statement.text);
    let found = |q: &str| !baseline.lean && baseline.find_words(&canon_words(q)).is_some();
    let parts = statement_parts(&statement.text, &terms_at, &found);
    let terms: Vec<(String, Kind)> = terms_at.into_iter().map(|(t, k, _)| (t, k)).collect();
    let rare_df = ((baseline.blocks.len() as f32 * RARE_SHARE) as u32).max(2);
    // A changed sentence touches the statement with one of its figures and a rare word, or
    // two rare words: a figure alone (`150`) is often another fact with the same number.
    let distinctive: Vec<(&str, u16)> = terms
        .iter()
        .filter_map(|(t, k)| {
            if *k == Kind::Number && is_distinctive_number(t) {
                return Some((t.as_str(), 2));
            }
            if matches!(k, Kind::Date) {
                return None;
            }
            let df = baseline
                .stems
                .get(t.as_str())
                .map_or(0, |&id| baseline.df[id as usize]);
            (df <= rare_df).then_some((t.as_str(), 1))
        })
        .collect();
    let touched = |text: &Prepared, changed: &[bool]| -> Option<usize> {
        // Per changed sentence: rare words and figures it shares.
        let mut hits: FastMap<u32, (u16, u16)> = FastMap::default();
        for &(t, w) in &distinctive {
            for &id in text.postings(t) {
                if changed[id as usize] {
                    let e = hits.entry(id).or_default();
                    if w == 2 {
                        e.1 += 1;
                    } else {
                        e.0 += 1;
                    }
                }
            }
        }
        // Or a changed sentence that would nearly have anchored the statement.
        let mut near: Vec<(f32, usize)> = text
            .score_sentences_hits(&terms)
            .into_iter()
            .filter(|&(score, id, _)| changed[id] && score >= TOUCH_MIN_SCORE)
            .map(|(score, id, _)| (score, id))
            .collect();
        for part in &parts {
            near.extend(
                text.score_sentences_hits(part)
                    .into_iter()
                    .filter(|&(score, id, _)| changed[id] && score >= TOUCH_PART_MIN_SCORE)
                    .map(|(score, id, _)| (score, id)),
            );
        }
        for (_, id) in near {
            // Two of its words, not a figure alone.
            let words = terms
                .iter()
                .filter(|(t, k)| !(*k == Kind::Number && is_distinctive_number(t)))
                .filter(|(t, _)| text.postings(t).binary_search(&(id as u32)).is_ok())
                .count();
            if words >= 2 {
                hits.entry(id as u32).or_default().0 += 2;
            }
        }
        hits.into_iter()
            .filter(|&(_, (words, figures))| words >= 2 || (figures >= 1 && words >= 1))
            .max_by_key(|&(id, (w, f))| (w + 2 * f, std::cmp::Reverse(id)))
            .map(|(id, _)| id as usize)
    };
    let gone = touched(baseline, &baseline.delta(latest).new);
    let new = touched(latest, &latest.delta(baseline).new);
    if gone.is_none() && new.is_none() {
        return None;
    }
    Some((
        gone.map(|id| baseline.sentence(id).to_owned()),
        new.map(|id| latest.sentence(id).to_owned()),
    ))
}

/// Words of a statement in at most this share of its source's blocks are rare there.
pub const RARE_SHARE: f32 = 0.1;
/// A changed sentence scoring at least this for a statement with no passage touches it
/// (the anchoring score, see [`ANCHOR_MIN_SCORE`]).
pub const TOUCH_MIN_SCORE: f32 = 0.25;
/// The same for a part of a compound statement (its share of the part's words).
pub const TOUCH_PART_MIN_SCORE: f32 = 0.45;

// ---------------------------------------------------------------------------------------
// Facts

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    let m = "(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\\.?";
    Regex::new(&format!(
        r"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{m}(?:,?\s+\d{{4}})?|{m}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|{m}\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|(?:1[89]|20)\d{{2}}s?|(?:January|February|March|April|June|July|August|September|October|November|December))\b"
    ))
    .expect("date regex")
});

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[~≈]?[$€£]?\d+(?:[.,]\d+)*(?:\s?(?:%|percent|per cent|percentage points?|million|billion|trillion|thousand|bn|cents?|pence|km|kilomet(?:re|er)s?|miles?|mi|met(?:re|er)s?|kg|tonnes?|tons?|mph|km/h|kph|knots)\b|%)?",
    )
    .expect("number regex")
});

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\p{Lu}[\p{L}\p{N}'’.-]*(?:\s+(?:of\s+|de\s+|the\s+)?\p{Lu}[\p{L}\p{N}'’.-]*)*")
        .expect("name regex")
});

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "neither", "nor", "without", "cannot",
];

fn fact_key(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ',' | ' ' | '~' | '≈'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// (kind, text) facts of a passage: dates, numbers, names (capitalised words not starting
/// a sentence), in order.
fn facts_of(text: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut taken: Vec<(usize, usize)> = Vec::new();
    for m in DATE.find_iter(text) {
        taken.push((m.start(), m.end()));
        out.push((m.start(), "date", m.as_str().trim().to_owned()));
    }
    for m in NUMBER.find_iter(text) {
        if taken.iter().any(|&(s, e)| m.start() < e && s < m.end()) {
            continue;
        }
        taken.push((m.start(), m.end()));
        out.push((m.start(), "number", m.as_str().trim().to_owned()));
    }
    let starts: Vec<usize> = sentence_starts(text);
    for m in NAME.find_iter(text) {
        let mut s = m.start();
        let mut name = m.as_str().trim_end_matches(['.', '-', '\'', '’']);
        if starts.contains(&s) {
            // Drop the sentence-initial word; keep the rest of the run.
            match name.find(char::is_whitespace) {
                Some(i) => {
                    let rest = name[i..].trim_start();
                    s += name.len() - rest.len();
                    name = rest;
                }
                None => continue,
            }
        }
        // "The Northern Waters Authority" at a sentence start is "the Northern Waters
        // Authority" elsewhere; a capitalised function word where a sentence starts after a
        // dash or a marker ("2025 – By setting", "[3] In 1983") is none of a name.
        while let Some((word, rest)) = name.split_once(char::is_whitespace).or(Some((name, "")))
            && is_stop(&word.to_lowercase())
            && (word.len() == 1 || word.chars().skip(1).any(char::is_lowercase))
        {
            let rest = rest.trim_start();
            s += name.len() - rest.len();
            name = rest;
            if name.is_empty() {
                break;
            }
        }
        let first = name.split_whitespace().next().unwrap_or("");
        if name.is_empty()
            || taken.iter().any(|&(a, b)| s < b && a < s + name.len())
            || MONTHS.contains(&first.to_lowercase().trim_end_matches('.'))
            || (name.len() == 1 && name == "I")
        {
            continue;
        }
        out.push((s, "name", name.to_owned()));
    }
    out.sort_by_key(|f| f.0);
    out.into_iter().map(|(_, k, t)| (k, t)).collect()
}

/// Byte offsets where a sentence (or a quotation, or a clause after a colon) starts.
fn sentence_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![text.len() - text.trim_start().len()];
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | ':' | '"' | '“') {
            let j = i + c.len_utf8();
            let rest = &text[j..];
            let trimmed = rest.trim_start_matches([' ', '"', '“', '(', '\'']);
            starts.push(j + rest.len() - trimmed.len());
        }
    }
    starts
}

fn negations(text: &str) -> usize {
    canon_words(text)
        .iter()
        .filter(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't"))
        .count()
}

/// The facts of `before` that are not in `after`, paired with what replaced them; then facts
/// only in `after` (with an empty `before`).
pub fn fact_changes(before: &str, after: &str) -> Vec<FactChange> {
    let fb = facts_of(before);
    let fa = facts_of(after);
    let mut out = Vec::new();
    for kind in ["number", "date", "name"] {
        let b: Vec<&String> = fb.iter().filter(|f| f.0 == kind).map(|f| &f.1).collect();
        let a: Vec<&String> = fa.iter().filter(|f| f.0 == kind).map(|f| &f.1).collect();
        let mut gone = multiset_minus(&b, &a);
        let mut added = multiset_minus(&a, &b);
        if kind == "name" {
            // A name still written in the other text is no change: it only moved to or from
            // the start of a sentence ("Trade minister Ruth Okafor said" → "…, Trade minister
            // Ruth Okafor said").
            gone.retain(|g| !after.contains(g.as_str()));
            added.retain(|a| !before.contains(a.as_str()));
        }
        for (i, g) in gone.iter().enumerate() {
            out.push(FactChange {
                kind: kind.into(),
                before: (*g).clone(),
                after: added.get(i).map(|s| (*s).clone()),
            });
        }
        // New facts with nothing in their place before (`(none) → 2026`).
        for a in added.iter().skip(gone.len()) {
            out.push(FactChange {
                kind: kind.into(),
                before: String::new(),
                after: Some((*a).clone()),
            });
        }
    }
    let (nb, na) = (negations(before), negations(after));
    if nb > na {
        out.push(FactChange {
            kind: "negation".into(),
            before: "not".into(),
            after: None,
        });
    } else if na > nb {
        out.push(FactChange {
            kind: "negation".into(),
            before: String::new(),
            after: Some("not".into()),
        });
    }
    out
}

fn multiset_minus<'a>(x: &[&'a String], y: &[&'a String]) -> Vec<&'a String> {
    let mut left: Vec<String> = y.iter().map(|s| fact_key(s)).collect();
    let mut out = Vec::new();
    for s in x {
        let k = fact_key(s);
        if let Some(i) = left.iter().position(|l| *l == k) {
            left.swap_remove(i);
        } else {
            out.push(*s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_with_its_magnitude_is_the_figure_written_out() {
        let terms = |s: &str| -> Vec<String> { statement_terms(s).into_iter().map(|t| t.0).collect() };
        assert_eq!(terms("It cost £1.1bn"), terms("It cost £1.1 billion"));
        assert!(
            terms("a £38m grant").contains(&"38".to_owned()),
            "{:?}",
            terms("a £38m grant")
        );
        // Without a currency sign, `100m` may be metres: one word.
        assert!(terms("the 100m final").contains(&"100m".to_owned()));
        assert_eq!(
            terms("a capacity of 120 MW"),
            terms("a capacity of 120 megawatts")
        );
    }

    #[test]
    fn newsroom_synonyms_are_one_term() {
        let terms = |s: &str| -> Vec<String> { statement_terms(s).into_iter().map(|t| t.0).collect() };
        assert_eq!(terms("the strike scrapped"), terms("the walkout abolished"));
        assert_eq!(terms("fares rose"), terms("fares increased"));
        assert_eq!(terms("the blaze"), terms("the fire"));
        // A word with a common second sense is not folded.
        assert_ne!(terms("fares dropped"), terms("fares fell"));
    }

    /// The former char-vector implementation, for comparison.
    /// The byte ranges of the words of `s` (see [`tokenize`]) into `out`, without building their
    /// canonical forms; `chars` is scratch space reused between calls.
    fn token_spans_reference(s: &str, chars: &mut Vec<(usize, char)>, out: &mut Vec<(usize, usize)>) {
        chars.clear();
        chars.extend(s.char_indices());
        out.clear();
        let mut i = 0;
        while i < chars.len() {
            let (b, c) = chars[i];
            if matches!(c, '%' | '$' | '€' | '£') {
                out.push((b, b + c.len_utf8()));
                i += 1;
                continue;
            }
            if c == '['
                && let Some(len) = reference_marker(&s[b..])
            {
                // `[12]`, `[a]`, `[note 3]`, `[citation needed]`: renumbered at will, not content.
                let end = b + len;
                while i < chars.len() && chars[i].0 < end {
                    i += 1;
                }
                continue;
            }
            if !c.is_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            let mut j = i + 1;
            while j < chars.len() {
                let c = chars[j].1;
                if c.is_alphanumeric() {
                    j += 1;
                    continue;
                }
                if is_joiner(c) && j + 1 < chars.len() {
                    let prev = chars[j - 1].1;
                    let next = chars[j + 1].1;
                    let ok = match c {
                        ',' => prev.is_ascii_digit() && next.is_ascii_digit(),
                        '.' => {
                            (prev.is_ascii_digit() && next.is_ascii_digit())
                                || (prev.is_alphabetic() && next.is_alphabetic() && {
                                    // only for abbreviations like U.S / e.g: single letters
                                    let before_prev = if j >= 2 { chars[j - 2].1 } else { ' ' };
                                    !before_prev.is_alphanumeric() || before_prev == '.'
                                })
                        }
                        _ => prev.is_alphanumeric() && next.is_alphanumeric(),
                    };
                    if ok {
                        j += 2;
                        continue;
                    }
                }
                break;
            }
            let sb = chars[start].0;
            let eb = if j < chars.len() { chars[j].0 } else { s.len() };
            match magnitude_at(s, sb, eb) {
                Some(cut) => out.extend([(sb, cut), (cut, eb)]),
                None => out.push((sb, eb)),
            }
            i = j;
        }
    }

    #[test]
    fn token_spans_match_the_char_vector_walk() {
        let samples = [
            "About 600 U.S. soldiers serve in KFOR, the NATO-led force, e.g. at Camp Bondsteel.",
            "It cost $1,234.56 (or €2.5bn, 12% of £3m) in 2024–25; see [12] and [citation needed].",
            "“Smart quotes” — dashes – and the U.N.’s résumé: naïve café, 3.14, 1,000,000 and 1,2.",
            "a.b. c.d e.g.x X.Y.Z 10.5.3 ,5 5, .5 5. U.S.-led don't rock’n’roll l’état [a][note 3]",
            "日本語のテキスト。Ελληνικά κείμενα. Русский текст, 12,5 % — ٣٤٥ ¼ ² x²y",
            "",
            ".",
            "[",
            "a",
            "é.é",
            "1.",
            "a.b",
            " q.a.b",
        ];
        for s in samples {
            let (mut a, mut b, mut chars) = (Vec::new(), Vec::new(), Vec::new());
            token_spans(s, &mut a);
            token_spans_reference(s, &mut chars, &mut b);
            assert_eq!(a, b, "{s:?}");
        }
        // Every prefix and suffix of the samples too (word edges at every position).
        for s in samples {
            for (k, _) in s.char_indices() {
                for t in [&s[k..], &s[..k]] {
                    let (mut a, mut b, mut chars) = (Vec::new(), Vec::new(), Vec::new());
                    token_spans(t, &mut a);
                    token_spans_reference(t, &mut chars, &mut b);
                    assert_eq!(a, b, "{t:?}");
                }
            }
        }
    }
    use crate::watchlist::StatementId;

    fn text(blocks: &[&str]) -> ExtractedText {
        ExtractedText {
            blocks: blocks.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn st(t: &str, quotes: &[&str]) -> Statement {
        Statement {
            id: StatementId("a:1".into()),
            text: t.into(),
            cites: vec![CiteNo(1)],
            quotes: quotes
                .iter()
                .map(|s| crate::watchlist::Quote {
                    cite: Some(CiteNo(1)),
                    text: (*s).to_owned(),
                })
                .collect(),
            line: None,
        }
    }

    // The statement's source is cite 1; judging with anchors needs no statement.
    fn locate(st: &Statement, t: &ExtractedText) -> Located {
        super::locate(st, CiteNo(1), t)
    }
    fn locate_in(st: &Statement, t: &Prepared) -> Located {
        super::locate_in(st, CiteNo(1), t)
    }
    fn judge(a: &[Anchor], b: &ExtractedText, l: &ExtractedText) -> Judgement {
        super::judge(&st("", &[]), a, b, l)
    }
    fn judge_in(a: &[Anchor], b: &Prepared, l: &Prepared) -> Judgement {
        super::judge_in(&st("", &[]), a, b, l)
    }

    const BASE: &[&str] = &[
        "Kosovo Force",
        "Updated 12 March 2024, 09:14",
        "About 600 U.S. soldiers currently serve in KFOR, most of them at Camp Bondsteel.",
        "KFOR was established in June 1999 after the Kosovo war. It is led by NATO.",
        "The mission's headquarters are in Pristina. Troops patrol the northern border.",
    ];

    fn troops() -> Statement {
        st(
            "Around 600 American troops serve in the NATO-led KFOR mission.",
            &[],
        )
    }

    #[test]
    fn a_dense_run_of_the_statement_anchors_however_it_is_punctuated() {
        let page = [
            "The board said the collapse began at a badly corroded bearing on the bridge's second pier, the steel assembly that lets the deck expand.",
            "The board expects to publish its final report next year.",
            "Traffic has been diverted onto county roads since the bridge closed.",
            "A new bridge is planned on the same alignment.",
            "Officials said inspections of similar bridges had begun.",
            "The state owns more than four thousand bridges.",
            "Relatives of the victims have filed claims against the state.",
            "The bridge carried about 23,000 vehicles a day before it fell.",
            "Engineers had rated its deck as fair in the last routine inspection.",
            "Divers recovered three vehicles from the river.",
        ];
        let s = st(
            "Investigators traced the failure to a corroded steel bearing at the second pier that, by their estimate, had lost some 40% of its original thickness.",
            &[],
        );
        let loc = locate(&s, &text(&page));
        assert_eq!(loc.anchors.len(), 1, "{loc:?}");
        assert_eq!(loc.anchors[0].passage, page[0]);
        // The same words scattered over a statement are not a run.
        let scattered = statement_terms_at(
            "Investigators, who interviewed dozens of workers and reviewed maintenance logs, found the bearing had been painted twice, that steel prices rose sharply, that a second crew visited the pier in spring, and that corroded railings were replaced.",
        );
        let prepared = Prepared::new(&text(&page));
        assert!(dense_window(&scattered, &prepared, 0).is_none());
        let dense = statement_terms_at(&s.text);
        assert!(dense_window(&dense, &prepared, 0).is_some());
    }

    #[test]
    fn a_quoted_phrase_the_source_lacks_leaves_its_clause_to_be_scored() {
        let page = [
            "The United States contributes more than 600 troops to KFOR, most of them at Camp Bondsteel.",
            "KFOR was established in June 1999.",
        ];
        let s = st(
            "Public reporting places the U.S. contribution at a modest level—one account cites “about 600 soldiers” as part of KFOR as of 2025—while dozens of nations take part.",
            &[],
        );
        let loc = locate(&s, &text(&page));
        assert!(loc.anchors.iter().any(|a| a.passage == page[0]), "{loc:?}");
    }

    #[test]
    fn locates_the_sentence_with_the_number() {
        let loc = locate(&troops(), &text(BASE));
        assert_eq!(loc.anchors[0].passage, BASE[2]);
        assert!(loc.missing_quotes.is_empty());
    }

    #[test]
    fn quote_found_with_case_and_space_normalised() {
        let loc = locate(&st("x", &["most of them   at camp bondsteel"]), &text(BASE));
        assert_eq!(loc.anchors.len(), 1);
        assert_eq!(loc.anchors[0].passage, "most of them at Camp Bondsteel");
        assert!(loc.anchors[0].quote);
        let loc = locate(&st("x", &["not in the page"]), &text(BASE));
        assert_eq!(loc.missing_quotes, vec!["not in the page".to_string()]);
    }

    #[test]
    fn elided_quote_is_anchored_by_its_parts() {
        let loc = locate(
            &st("x", &["About 600 U.S. soldiers … at Camp Bondsteel"]),
            &text(BASE),
        );
        let got: Vec<&str> = loc.anchors.iter().map(|a| a.passage.as_str()).collect();
        assert_eq!(got, ["About 600 U.S. soldiers", "at Camp Bondsteel"]);
        let loc = locate(
            &st("x", &["About 600 U.S. soldiers [...] in Belgrade"]),
            &text(BASE),
        );
        assert_eq!(loc.missing_quotes.len(), 1);
    }

    #[test]
    fn a_distinctive_figure_anchors_a_paraphrase() {
        let t = text(&[
            "Labour market, spring",
            "The jobless rate was 4.2%, up 0.3 points on the quarter.",
            "Vacancies fell again.",
        ]);
        let loc = locate(&st("Unemployment hit 4.2% this spring.", &[]), &t);
        assert_eq!(loc.anchors[0].passage, t.blocks[1]);
        let loc = locate(
            &st("x", &["the NATO led KFOR"]),
            &text(&["It is the NATO-led KFOR mission."]),
        );
        assert_eq!(loc.anchors[0].passage, "the NATO-led KFOR");
    }

    #[test]
    fn no_evidence_for_an_unrelated_statement() {
        let loc = locate(
            &st("Bananas are rich in potassium and vitamin B6.", &[]),
            &text(BASE),
        );
        assert!(loc.anchors.is_empty());
    }

    fn verdict(base: &[&str], now: &[&str]) -> Judgement {
        let loc = locate(&troops(), &text(base));
        judge(&loc.anchors, &text(base), &text(now))
    }

    #[test]
    fn a_huge_paragraph_is_cut_into_bounded_passages() {
        let block = "the depot keeps ninety buses and ".repeat(80_000);
        let parts = split_sentences(&block);
        assert!(parts.len() > 800, "{}", parts.len());
        assert!(
            parts
                .iter()
                .all(|p| p.len() <= MAX_SENTENCE_BYTES && !p.is_empty())
        );
        assert_eq!(parts.join(" "), block.trim());
        let wide = "é".repeat(5000);
        assert!(
            split_sentences(&wide)
                .iter()
                .all(|p| p.len() <= MAX_SENTENCE_BYTES)
        );
        assert_eq!(split_sentences(&wide).concat(), wide);
    }

    #[test]
    fn identical_and_reordered_are_unchanged() {
        assert_eq!(verdict(BASE, BASE).verdict, Verdict::Unchanged);
        let mut r = BASE.to_vec();
        r.reverse();
        assert_eq!(verdict(BASE, &r).verdict, Verdict::Unchanged);
    }

    #[test]
    fn edit_elsewhere() {
        let mut r = BASE.to_vec();
        r[1] = "Updated 14 March 2024, 11:02";
        assert_eq!(verdict(BASE, &r).verdict, Verdict::SourceChangedElsewhere);
    }

    #[test]
    fn rewrap_and_punctuation_are_not_changes() {
        let r = [
            BASE[0],
            BASE[1],
            "About 600 U.S. soldiers currently serve in KFOR,",
            "most of them at Camp Bondsteel",
            BASE[3],
            BASE[4],
        ];
        assert_eq!(verdict(BASE, &r).verdict, Verdict::Unchanged);
    }

    #[test]
    fn changed_number_is_named() {
        let mut r = BASE.to_vec();
        r[2] = "About 350 U.S. soldiers currently serve in KFOR, most of them at Camp Bondsteel.";
        let j = verdict(BASE, &r);
        assert_eq!(j.verdict, Verdict::EvidenceChanged);
        assert_eq!(j.before.as_deref(), Some(BASE[2]));
        assert_eq!(j.after.as_deref(), Some(r[2]));
        assert_eq!(j.facts.len(), 1);
        assert_eq!(j.facts[0].to_string(), "600 → 350");
        assert_eq!(j.facts[0].kind, "number");
    }

    #[test]
    fn a_sentence_that_grew_a_clause_changed() {
        let mut r = BASE.to_vec();
        r[2] = "About 600 U.S. soldiers currently serve in KFOR, most of them at Camp Bondsteel, but all will leave by 2026.";
        let j = verdict(BASE, &r);
        assert_eq!(j.verdict, Verdict::EvidenceChanged);
        assert_eq!(j.facts.len(), 1, "{:?}", j.facts);
        assert_eq!(j.facts[0].to_string(), "(none) → 2026");
    }

    #[test]
    fn removed_passage() {
        let r = [BASE[0], BASE[1], BASE[3], BASE[4]];
        let j = verdict(BASE, &r);
        assert_eq!(j.verdict, Verdict::EvidenceRemoved);
        assert_eq!(j.before.as_deref(), Some(BASE[2]));
    }

    #[test]
    fn a_teaser_may_go_while_the_prose_stays() {
        let mut base = BASE.to_vec();
        base.push("Around 600 American troops to stay in NATO-led KFOR mission");
        let loc = locate(&troops(), &text(&base));
        assert_eq!(loc.anchors.len(), 2);
        assert!(loc.anchors.iter().any(|a| a.passage == BASE[2]));
        let mut now = base.clone();
        now[5] = "Kosovo election: what you need to know";
        let j = judge(&loc.anchors, &text(&base), &text(&now));
        assert_eq!(j.verdict, Verdict::SourceChangedElsewhere);
        // The prose passage itself still flags.
        now[2] = "About 350 U.S. soldiers currently serve in KFOR, most of them at Camp Bondsteel.";
        assert_eq!(
            judge(&loc.anchors, &text(&base), &text(&now)).verdict,
            Verdict::EvidenceChanged
        );
    }

    #[test]
    fn no_anchor_flags_only_a_change_that_touches_the_statement() {
        let s = st("Bananas from Ecuador are rich in potassium.", &[]);
        let loc = locate(&s, &text(BASE));
        assert!(loc.anchors.is_empty());
        let mut r = BASE.to_vec();
        r.push("A new paragraph.");
        let j = |now: &[&str]| super::judge(&s, &loc.anchors, &text(BASE), &text(now));
        assert_eq!(j(&r).verdict, Verdict::SourceChangedElsewhere);
        assert_eq!(j(BASE).verdict, Verdict::Unchanged);
        // A new sentence with two of its rare words (a name and a term) touches it.
        r.push("Ecuador exports bananas to Kosovo.");
        let got = j(&r);
        assert_eq!(got.verdict, Verdict::SourceChanged);
        assert_eq!(got.after.as_deref(), Some("Ecuador exports bananas to Kosovo."));
    }

    #[test]
    fn quote_changed_shows_the_quote_now() {
        let s = st("x", &["About 600 U.S. soldiers"]);
        let loc = locate(&s, &text(BASE));
        let mut r = BASE.to_vec();
        r[2] = "About 350 U.S. soldiers currently serve in KFOR, most of them at Camp Bondsteel.";
        let j = judge(&loc.anchors, &text(BASE), &text(&r));
        assert_eq!(j.verdict, Verdict::EvidenceChanged);
        assert_eq!(j.after.as_deref(), Some("About 350 U.S. soldiers"));
    }

    #[test]
    fn facts_numbers_dates_names_negation() {
        let f = fact_changes(
            "Inflation was 3.5% in March 2023, the ministry did not dispute it, said Smith.",
            "Inflation was 4.1% in April 2023, the ministry disputed it, said Jones.",
        );
        let shown: Vec<String> = f.iter().map(|f| format!("{}: {f}", f.kind)).collect();
        assert_eq!(
            shown,
            [
                "number: 3.5% → 4.1%",
                "date: March 2023 → April 2023",
                "name: Smith → Jones",
                "negation: not → (gone)"
            ]
        );
        assert!(fact_changes("about 1,000 people", "about 1000 people").is_empty());
        assert_eq!(
            fact_changes("~600 troops", "~350 troops")[0].to_string(),
            "~600 → ~350"
        );
        assert_eq!(
            fact_changes("a $2 million grant", "a $3 million grant")[0].to_string(),
            "$2 million → $3 million"
        );
        assert!(fact_changes("The army left.", "The army soon left.").is_empty());
        // A function word starting a sentence after a dash or a marker is no name; an
        // acronym is one.
        assert!(
            fact_changes(
                "KELSBY, 11 December – Blue Seas Trust said the quota was set too high.",
                "KELSBY, 11 December – By setting the quota too high, Blue Seas Trust said, ministers gamble."
            )
            .is_empty()
        );
        assert!(fact_changes("[3] The stock peaked in 1983.", "[3] In 1983 the stock peaked.").is_empty());
        assert_eq!(
            fact_changes("talks with the US", "talks with the UK")[0].to_string(),
            "US → UK"
        );
    }

    #[test]
    fn facts_survive_multibyte_text() {
        let f = fact_changes(
            "hazard ratio 0.57; 95% CI 0.44–0.74 “Quoted” – é",
            "hazard ratio 0.66; 95% CI 0.51–0.86",
        );
        assert!(f.iter().any(|f| f.to_string() == "0.57 → 0.66"));
    }

    #[test]
    fn no_panic_on_arbitrary_text() {
        // Deterministic pseudo-random strings over a mix of ASCII, punctuation and
        // multi-byte characters, through every entry point.
        const CHARS: &[char] = &[
            'a', 'B', 'z', ' ', ' ', '.', ',', '-', '\'', '"', '[', ']', '1', '9', '0', '%', '$', '€', '’',
            '“', '”', '–', '—', 'é', 'Ü', '日', '本', '🙂', '\u{a0}', '\u{200b}', ':', '?', '(', ')', 'N',
            'J',
        ];
        let mut x: u64 = 42;
        let mut rand = |n: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as usize) % n
        };
        let mut gen_text = |len: usize| -> String { (0..len).map(|_| CHARS[rand(CHARS.len())]).collect() };
        for _ in 0..200 {
            let blocks: Vec<String> = (0..4).map(|_| gen_text(60)).collect();
            let base = ExtractedText {
                blocks: blocks.clone(),
            };
            let mut later = blocks.clone();
            later[1] = gen_text(50);
            let later = ExtractedText { blocks: later };
            let q = blocks[0].chars().skip(5).take(10).collect::<String>();
            let s = st(&gen_text(40), &[q.as_str()]);
            let loc = locate(&s, &base);
            let _ = judge(&loc.anchors, &base, &later);
            let s = st(&blocks[2], &[]);
            let loc = locate(&s, &base);
            let _ = judge(&loc.anchors, &base, &later);
            let _ = fact_changes(&blocks[3], &later.blocks[1]);
        }
    }

    #[test]
    fn cache_prepares_each_version_once() {
        let mut c = PreparedCache::new(2);
        let a = c.get("a", &text(BASE));
        let a2 = c.get("a", &text(&[]));
        assert!(std::sync::Arc::ptr_eq(&a, &a2));
        let _b = c.get("b", &text(&BASE[..2]));
        let _c = c.get("c", &text(&BASE[..3]));
        let a3 = c.get("a", &text(BASE));
        assert!(!std::sync::Arc::ptr_eq(&a, &a3));
        let j = judge_in(&locate_in(&troops(), &a).anchors, &a, &a3);
        assert_eq!(j.verdict, Verdict::Unchanged);
    }

    #[test]
    fn canonical_words() {
        assert_eq!(
            canonical("The U.S. gave $1,000 — 3.5% of it."),
            "the u.s gave $ 1000 3.5 % of it"
        );
        assert_eq!(canonical("It’s NATO-led"), "it's nato led");
        // The country however it is spelled; `us` the pronoun is another word.
        for c in ["U.S. forces", "US forces", "United States forces"] {
            assert_eq!(canonical(c), "u.s forces", "{c}");
        }
        assert_eq!(canonical("told us"), "told us");
        assert_eq!(canonical("United Statesmen"), "united statesmen");
    }

    #[test]
    fn severity_order() {
        assert!(Verdict::EvidenceRemoved > Verdict::EvidenceChanged);
        assert!(Verdict::SourceChanged > Verdict::SourceChangedElsewhere);
        assert!(!Verdict::SourceChangedElsewhere.flagged());
        assert_eq!(Verdict::parse("evidence_changed"), Some(Verdict::EvidenceChanged));
    }
}
