//! Splitting article prose into units (sentences, headings, list items) and pulling the
//! citation markers out of each. Pure text processing.

use super::CiteNo;

/// One sentence, heading or list item of the prose.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Text without markers, white space folded.
    pub text: String,
    /// Cites found in it, sorted, without duplicates.
    pub cites: Vec<CiteNo>,
    /// 0-based line of the prose where the unit starts.
    pub line: usize,
}

/// Splits `prose` into units with their cites.
pub fn statements(prose: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    // Paragraphs / lines: headings and list items are units of their own.
    let mut para = String::new();
    let mut para_line = 0;
    let flush = |para: &mut String, para_line: usize, out: &mut Vec<Unit>| {
        if !para.trim().is_empty() {
            for s in sentences(para) {
                let (text, cites) = strip_markers(&s);
                if !text.is_empty() {
                    out.push(Unit {
                        text,
                        cites,
                        line: para_line,
                    });
                }
            }
        }
        para.clear();
    };
    for (i, line) in prose.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            flush(&mut para, para_line, &mut out);
            continue;
        }
        let is_item = t.starts_with('#') || t.starts_with("- ") || t.starts_with("* ");
        if is_item {
            flush(&mut para, para_line, &mut out);
            let body = t
                .trim_start_matches('#')
                .trim_start_matches("- ")
                .trim_start_matches("* ");
            let (text, cites) = strip_markers(body);
            if !text.is_empty() {
                out.push(Unit { text, cites, line: i });
            }
            continue;
        }
        if para.is_empty() {
            para_line = i;
        } else {
            para.push(' ');
        }
        para.push_str(t);
    }
    flush(&mut para, para_line, &mut out);
    out
}

/// Sentences of one paragraph; markers after the full stop stay with their sentence.
pub fn sentences(para: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in sentencex::segment("en", para) {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        // A sentence that is only markers belongs to the previous one.
        let only_markers = strip_markers(s).0.is_empty();
        if only_markers && let Some(prev) = out.last_mut() {
            prev.push(' ');
            prev.push_str(s);
            continue;
        }
        out.push(s.to_owned());
    }
    out
}

/// Removes `[1]`, `[1][2]`, `[1, 2]` markers; returns the cleaned text and the cites.
pub fn strip_markers(s: &str) -> (String, Vec<CiteNo>) {
    let re = marker_re();
    let mut cites = Vec::new();
    for m in re.find_iter(s) {
        for n in m.as_str().trim_matches(|c| c == '[' || c == ']').split(',') {
            if let Ok(n) = n.trim().parse::<u32>() {
                cites.push(CiteNo(n));
            }
        }
    }
    cites.sort();
    cites.dedup();
    let cleaned = re.replace_all(s, "");
    let mut text = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    // "word [1]." leaves "word ." — close the gap.
    for p in [" .", " ,", " ;", " :", " !", " ?"] {
        text = text.replace(p, &p[1..]);
    }
    (text.trim().to_owned(), cites)
}

fn marker_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]").expect("static regex"))
}
