//! Block output: the main content's text pieces joined into blocks (paragraphs, list
//! items, table rows, headings) and captions next to the article kept.

use super::*;

/// How many levels up from a caption outside the main content its common ancestor with the
/// main content may be for it to count as next to the article.
pub(super) const CAPTION_REACH: usize = 3;

/// Whether a caption's blocks read as a sentence: starts with a capital, a digit or a quote,
/// ends like prose (`.`, `!`, `?`, before closing quotes or brackets) and has four words or
/// more. "Photo: AFP" and "Figure 2" do not.
pub(super) fn caption_sentence(blocks: &[String]) -> bool {
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
pub(super) struct Blocks {
    pub(super) blocks: Vec<String>,
    pub(super) cur: String,
    /// The current block has words inside / outside links, and text inside a `<p>`.
    pub(super) linked: bool,
    pub(super) plain: bool,
    pub(super) para: bool,
    /// Open `<p>` elements.
    pub(super) in_p: usize,
    pub(super) drop_link_only: bool,
    /// Indices of kept blocks that are paragraphs of link text only.
    pub(super) link_paras: Vec<usize>,
}

impl Blocks {
    /// Sets table cells apart within their row.
    pub(super) fn space(&mut self) {
        if !self.cur.is_empty() && !self.cur.ends_with(' ') {
            self.cur.push(' ');
        }
    }

    pub(super) fn text(&mut self, t: &str, in_link: bool) {
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
    pub(super) fn flush(&mut self) {
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
    pub(super) fn finish(mut self) -> Vec<String> {
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
