//! (Statement, baseline text, latest text) → [`Verdict`]s. Anchoring locates, at baseline,
//! the passages of a source that back a statement; judging finds them again in a later
//! version and tells moved from changed from removed. Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::extract::ExtractedText;
use crate::watchlist::Statement;

/// A passage of the source that backs a statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The passage text (a sentence or a block of the source), normalised.
    pub passage: String,
    /// True when it came from an `evidence` quote in the watchlist.
    pub quote: bool,
    /// Match score at anchoring (1.0 for quotes).
    pub score: f32,
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
}

/// The result of anchoring one statement in one source text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Located {
    /// Passages that back the statement, best first (empty: no evidence located).
    pub anchors: Vec<Anchor>,
    /// `evidence` quotes that were not found in the source.
    pub missing_quotes: Vec<String>,
}

/// A fact present before and changed or gone after, e.g. `600 → 350`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactChange {
    /// `number`, `date`, `name` or `negation`.
    pub kind: String,
    /// The fact before.
    pub before: String,
    /// What stands in its place after, if anything.
    pub after: Option<String>,
}

impl std::fmt::Display for FactChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.after {
            Some(a) => write!(f, "{} → {}", self.before, a),
            None => write!(f, "{} → (gone)", self.before),
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

/// Locates the passages of `text` that back `statement`.
pub fn locate(statement: &Statement, text: &ExtractedText) -> Located {
    let mut located = Located::default();
    let norm_blocks: Vec<String> = text.blocks.iter().map(|b| norm(b)).collect();
    for q in &statement.quotes {
        let nq = norm(q);
        if let Some(b) = norm_blocks.iter().position(|b| b.contains(&nq)) {
            located.anchors.push(Anchor {
                passage: text.blocks[b].clone(),
                quote: true,
                score: 1.0,
            });
        } else {
            located.missing_quotes.push(q.clone());
        }
    }
    if !statement.quotes.is_empty() {
        return located;
    }
    let st: Vec<String> = tokens(&statement.text);
    let mut best: Option<(f32, usize)> = None;
    for (i, b) in norm_blocks.iter().enumerate() {
        let bt = tokens(b);
        let shared = st.iter().filter(|t| bt.contains(t)).count() as f32;
        let score = shared / st.len().max(1) as f32;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, i));
        }
    }
    if let Some((score, i)) = best
        && score >= 0.3
    {
        located.anchors.push(Anchor {
            passage: text.blocks[i].clone(),
            quote: false,
            score,
        });
    }
    located
}

/// Judges anchored passages against the latest text.
pub fn judge(anchors: &[Anchor], baseline: &ExtractedText, latest: &ExtractedText) -> Judgement {
    let changed_text = baseline != latest;
    if anchors.is_empty() {
        let verdict = if changed_text {
            Verdict::SourceChanged
        } else {
            Verdict::Unchanged
        };
        return Judgement {
            verdict,
            before: None,
            after: None,
            facts: vec![],
        };
    }
    let latest_norm: Vec<String> = latest.blocks.iter().map(|b| norm(b)).collect();
    let joined = latest_norm.join(" ");
    let mut worst = Judgement {
        verdict: if changed_text {
            Verdict::SourceChangedElsewhere
        } else {
            Verdict::Unchanged
        },
        before: None,
        after: None,
        facts: vec![],
    };
    for a in anchors {
        let na = norm(&a.passage);
        if joined.contains(&na) {
            continue;
        }
        let best = latest
            .blocks
            .iter()
            .map(|b| {
                (
                    similar::TextDiff::from_words(na.as_str(), norm(b).as_str()).ratio(),
                    b,
                )
            })
            .max_by(|x, y| x.0.total_cmp(&y.0));
        let j = match best {
            Some((r, b)) if r >= 0.5 => Judgement {
                verdict: Verdict::EvidenceChanged,
                before: Some(a.passage.clone()),
                after: Some(b.clone()),
                facts: vec![],
            },
            _ => Judgement {
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

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.len() > 2)
        .map(str::to_lowercase)
        .collect()
}
