//! (before, after) text → word-level differences, and their renderings with the changed
//! words marked (`[-old-]{+new+}` in text; `<del>`/`<ins>` in HTML, escaped). Pure.

use similar::{ChangeTag, TextDiff};

/// One run of words that is equal, removed or inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// In both.
    Equal(String),
    /// Only in `before`.
    Removed(String),
    /// Only in `after`.
    Inserted(String),
}

/// Word-level diff of two passages; adjacent changes of the same kind are merged.
pub fn word_diff(before: &str, after: &str) -> Vec<Segment> {
    let diff = TextDiff::configure().diff_unicode_words(before, after);
    let mut out: Vec<Segment> = Vec::new();
    for change in diff.iter_all_changes() {
        let v = change.value();
        match (change.tag(), out.last_mut()) {
            (ChangeTag::Equal, Some(Segment::Equal(s)))
            | (ChangeTag::Delete, Some(Segment::Removed(s)))
            | (ChangeTag::Insert, Some(Segment::Inserted(s))) => s.push_str(v),
            (ChangeTag::Equal, _) => out.push(Segment::Equal(v.to_owned())),
            (ChangeTag::Delete, _) => out.push(Segment::Removed(v.to_owned())),
            (ChangeTag::Insert, _) => out.push(Segment::Inserted(v.to_owned())),
        }
    }
    out
}

/// The diff as plain text: `[-removed-]{+inserted+}`.
///
/// ```
/// let m = citewatch::diff::marked_text("about 600 soldiers", "about 350 soldiers");
/// assert_eq!(m, "about [-600-]{+350+} soldiers");
/// ```
pub fn marked_text(before: &str, after: &str) -> String {
    let mut s = String::new();
    for seg in word_diff(before, after) {
        match seg {
            Segment::Equal(t) => s.push_str(&t),
            Segment::Removed(t) => {
                let (lead, core, trail) = split_ws(&t);
                s.push_str(lead);
                s.push_str(&format!("[-{core}-]"));
                s.push_str(trail);
            }
            Segment::Inserted(t) => {
                let (lead, core, trail) = split_ws(&t);
                s.push_str(lead);
                s.push_str(&format!("{{+{core}+}}"));
                s.push_str(trail);
            }
        }
    }
    s
}

fn split_ws(t: &str) -> (&str, &str, &str) {
    let core_start = t.len() - t.trim_start().len();
    let core_end = t.trim_end().len();
    if core_start >= core_end {
        return (t, "", "");
    }
    (&t[..core_start], &t[core_start..core_end], &t[core_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_changed_number() {
        let m = marked_text("about 600 soldiers serve", "about 350 soldiers serve");
        assert_eq!(m, "about [-600-]{+350+} soldiers serve");
    }

    #[test]
    fn numbers_are_marked_whole() {
        assert_eq!(
            marked_text(
                "about 1,000 people, 3.5% of them",
                "about 1,500 people, 3.25% of them"
            ),
            "about [-1,000-]{+1,500+} people, [-3.5-]{+3.25+}% of them"
        );
        assert_eq!(
            marked_text("It was founded in June 1999.", "It was founded in July 1999."),
            "It was founded in [-June-]{+July+} 1999."
        );
    }
}
