//! The element arena and its scoring: every element of the parsed page with its text
//! statistics, classified once per tag, scored Readability-style for the main content.

use super::*;

// ---------------------------------------------------------------------------------------------
// HTML: the element arena

pub(super) const NONE: u32 = u32::MAX;

/// How an element affects block boundaries in the output.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
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
pub(super) struct El<'a> {
    pub(super) name: &'a str,
    /// Tag flags from [`classify`].
    pub(super) flags: u16,
    pub(super) class: &'a str,
    pub(super) parent: u32,
    /// Index of the last descendant element (itself when it has none).
    pub(super) end: u32,
    /// Event indices of its Open and Close.
    pub(super) open: u32,
    pub(super) close: u32,
    pub(super) kind: Kind,
    /// Boilerplate by tag, role, class or id (before the guard).
    pub(super) junk: bool,
    /// Junk (after the guard) or inside junk: excluded from scoring and output.
    pub(super) dead: bool,
    /// Class/id hint weight (Readability's ±25).
    pub(super) weight: f32,
    /// Has a child that makes it more than a paragraph (div, p, ul, table, …).
    pub(super) block_child: bool,
    pub(super) own: Stats,
    /// Totals over the subtree, junk included (for the guard).
    pub(super) raw_text: u32,
    pub(super) raw_ptext: u32,
    /// Totals over the subtree, dead parts excluded.
    pub(super) sum: Stats,
    /// Text length and commas of the running text directly inside (own text and inline children).
    pub(super) flow: (u32, u32),
    pub(super) score: f32,
    pub(super) scored: bool,
}

/// Text and element counts; `own` holds direct children only, `sum` the subtree.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Stats {
    pub(super) text: u32,
    pub(super) links: u32,
    pub(super) commas: u32,
    pub(super) headings: u32,
    pub(super) paras: u32,
    pub(super) imgs: u32,
    pub(super) lis: u32,
    pub(super) inputs: u32,
    pub(super) embeds: u32,
}

impl Stats {
    pub(super) fn add(&mut self, o: &Stats) {
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

    pub(super) fn link_density(&self) -> f32 {
        if self.text == 0 {
            0.0
        } else {
            self.links as f32 / self.text as f32
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Ev<'a> {
    Open(u32),
    Close(u32),
    Text(&'a str),
}

pub(super) struct Arena<'a> {
    pub(super) els: Vec<El<'a>>,
    pub(super) evs: Vec<Ev<'a>>,
}

// Per-tag facts, looked up once per element.
/// Never carries readable text: not copied into the arena at all.
pub(super) const NEVER: u16 = 1;
/// Structural boilerplate: dropped from the main text (not under a `selector`).
pub(super) const STRUCTURAL: u16 = 1 << 1;
/// Makes its parent more than a paragraph (Readability's "div to p" test).
pub(super) const BLOCKY: u16 = 1 << 2;
pub(super) const P: u16 = 1 << 3;
pub(super) const LI: u16 = 1 << 4;
pub(super) const A: u16 = 1 << 5;
pub(super) const HEADING: u16 = 1 << 6;
pub(super) const IMG: u16 = 1 << 7;
pub(super) const INPUT: u16 = 1 << 8;
pub(super) const EMBED: u16 = 1 << 9;
/// A figure caption: main text when it reads as a sentence (see [`caption_sentence`]).
pub(super) const CAPTION: u16 = 1 << 10;

/// The block kind and tag flags of an element name (lower case, as html5ever gives it).
pub(super) fn classify(name: &str) -> (Kind, u16) {
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

pub(super) fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// The attributes extraction looks at, read in one pass (`Element::attr` interns its argument).
#[derive(Default)]
pub(super) struct Attrs<'a> {
    pub(super) class: &'a str,
    pub(super) id: &'a str,
    pub(super) role: &'a str,
    pub(super) hidden: bool,
    /// `itemprop="articleBody"`.
    pub(super) article_body: bool,
}

pub(super) fn attrs_of(e: &scraper::node::Element) -> Attrs<'_> {
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
pub(super) fn style_hides(style: &str) -> bool {
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

/// Text length (characters, ends trimmed) and commas of a text node.
pub(super) fn text_stats(t: &str) -> (u32, u32) {
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
pub(super) fn build<'a>(
    doc: &'a Html,
    selector: Option<&Selector>,
    auto: bool,
    selected: &mut Vec<u32>,
) -> Arena<'a> {
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
pub(super) fn skipped(flags: u16, at: &Attrs<'_>) -> bool {
    flags & NEVER != 0 || at.hidden
}

/// Builds the arena from a walk of the document: elements opened and closed in document order,
/// text in between. Used by both parsers ([`build`] over scraper's tree, and [`html`]'s fast
/// parse).
pub(super) struct ArenaBuilder<'a> {
    pub(super) els: Vec<El<'a>>,
    pub(super) evs: Vec<Ev<'a>>,
    /// Open elements of the arena (the tree path).
    pub(super) stack: Vec<u32>,
    /// The count of open `<a>`s.
    pub(super) in_link: usize,
    /// How deep the outermost selected element is (NONE: not inside one).
    pub(super) selected_at: u32,
    pub(super) auto: bool,
}

impl<'a> ArenaBuilder<'a> {
    pub(super) fn new(auto: bool) -> Self {
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

    pub(super) fn cur(&self) -> u32 {
        *self.stack.last().unwrap_or(&0)
    }

    pub(super) fn text(&mut self, t: &'a str) {
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
    pub(super) fn open(
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
    pub(super) fn close(&mut self) {
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

    pub(super) fn finish(mut self) -> Arena<'a> {
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

pub(super) fn new_el<'a>(name: &'a str, class: &'a str, parent: u32, kind: Kind, flags: u16) -> El<'a> {
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
    pub(super) fn aggregate(&mut self, use_junk: bool) {
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

    pub(super) fn is_para(&self, i: usize) -> bool {
        let el = &self.els[i];
        match el.name {
            "p" | "pre" | "td" => true,
            "div" | "section" => !el.block_child,
            _ => false,
        }
    }

    pub(super) fn init_score(&mut self, i: usize) {
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
    pub(super) fn main_content(&mut self) -> Vec<u32> {
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
    pub(super) fn with_captions(&self, mut roots: Vec<u32>) -> Vec<u32> {
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

    pub(super) fn is_ancestor(&self, a: u32, mut c: u32) -> bool {
        while c != NONE {
            if c == a {
                return true;
            }
            c = self.els[c as usize].parent;
        }
        false
    }

    /// Child elements that are not dead.
    pub(super) fn live_children(&self, p: u32) -> impl Iterator<Item = u32> + '_ {
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

    pub(super) fn ends_sentence(&self, i: u32) -> bool {
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
    pub(super) fn clean_away(&self, i: u32, in_figure: bool) -> bool {
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
    pub(super) fn data_table(&self, i: u32) -> bool {
        let el = &self.els[i as usize];
        (i + 1..=el.end).any(|j| matches!(self.els[j as usize].name, "caption" | "th" | "thead"))
            && !(i + 1..=el.end).any(|j| self.els[j as usize].name == "table")
    }

    /// The blocks of the given subtrees, in order. `main` applies conditional cleaning;
    /// `drop_link_only` drops blocks whose only words are link text (menus, "more stories" lists)
    /// unless they were written as a paragraph.
    pub(super) fn blocks(&self, roots: &[u32], main: bool, drop_link_only: bool) -> Vec<String> {
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
