//! The fast HTML parse behind main-text extraction: html5gum's tokenizer (WHATWG tokenization:
//! character references, attribute quoting, raw-text elements, comments) and a tree construction
//! reduced to what extraction reads.
//!
//! html5ever's parser (through scraper) builds a full DOM, spends about two thirds of its time
//! in a character-at-a-time tokenizer, and then the extractor walks that DOM once to build its
//! arena. This module produces the same walk (elements opened and closed in document order,
//! text in between) straight from html5gum's tokens, at about a third of the cost.
//!
//! The tree construction follows the HTML standard's "in body" rules where they decide which
//! element a text belongs to: implied `<html>`, `<head>` and `<body>`; void elements; a block
//! start tag closing an open `<p>`; `<li>`, `<dd>`, `<dt>` closing their open siblings; headings;
//! `</p>` without a `<p>`; implied `<tbody>` and `<tr>`, and cells and rows closing each other;
//! end tags that match no open element being ignored; `<select>`, `<template>`, `<svg>` and
//! `<math>` subtrees (never text here) and their breakout tags; quirks mode for `<table>`.
//!
//! What it leaves out, because it moves no text between blocks in practice: re-opening
//! formatting elements (`<b>`) after a block closed them, the adoption agency's restructuring
//! of misnested formatting end tags (such an end tag is ignored when a block is open inside the
//! element), and foster parenting (text or elements placed directly in a `<table>` stay where
//! they are, instead of moving before the table). `selector` rules keep using scraper, whose
//! DOM the CSS selectors need.

use std::convert::Infallible;

use html5gum::emitters::callback::{Callback, CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, ForwardingEmitter, Span, State, Tokenizer};

use super::{Arena, ArenaBuilder, Attrs, classify, skipped};

/// How far up the stack of open elements a scope check or an end tag looks. Real pages nest far
/// less; the bound keeps a page of 100,000 unclosed inline tags linear.
const MAX_WALK: usize = 512;

/// A parsed page: every kept element, text and skipped element in document order, with their
/// strings in one buffer.
pub(super) struct Parsed {
    buf: String,
    evs: Vec<E>,
}

/// A range of [`Parsed::buf`].
#[derive(Clone, Copy, Default)]
struct R(u32, u32);

#[derive(Clone, Copy)]
enum Name {
    Known(&'static str),
    Other(R),
}

struct ElAttrs {
    class: R,
    id: R,
    role: R,
    hidden: bool,
    article_body: bool,
}

enum E {
    /// An element kept in the arena: its content follows, then [`E::Close`].
    Open(Name, ElAttrs),
    /// An element left out with its content (never text, or hidden).
    Skip(Name, ElAttrs),
    Close,
    Text(R),
}

impl Parsed {
    fn s(&self, r: R) -> &str {
        &self.buf[r.0 as usize..r.1 as usize]
    }

    fn name(&self, n: &Name) -> &str {
        match n {
            Name::Known(s) => s,
            Name::Other(r) => self.s(*r),
        }
    }

    fn attrs(&self, a: &ElAttrs) -> Attrs<'_> {
        Attrs {
            class: self.s(a.class),
            id: self.s(a.id),
            role: self.s(a.role),
            hidden: a.hidden,
            article_body: a.article_body,
        }
    }

    /// The extraction arena of this page (main-text mode: boilerplate marked).
    pub(super) fn arena(&self) -> Arena<'_> {
        let mut b = ArenaBuilder::new(true);
        let mut none = Vec::new();
        for ev in &self.evs {
            match ev {
                E::Open(n, a) => {
                    let opened = b.open(self.name(n), self.attrs(a), || false, &mut none);
                    debug_assert!(opened);
                }
                E::Skip(n, a) => {
                    let opened = b.open(self.name(n), self.attrs(a), || false, &mut none);
                    debug_assert!(!opened);
                }
                E::Close => b.close(),
                E::Text(r) => b.text(self.s(*r)),
            }
        }
        b.finish()
    }
}

/// The text of html5gum's bytes: valid UTF-8 (the input is a `&str`) checked the fast way, with
/// a lossy fallback all the same.
fn utf8(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Parses `html` (already through `prepare`).
pub(super) fn parse(html: &str) -> Parsed {
    let mut tb = TreeBuilder {
        buf: String::with_capacity(html.len() / 2),
        evs: Vec::with_capacity(html.len() / 32),
        stack: Vec::with_capacity(64),
        mode: Mode::Initial,
        quirks: true,
        skip_depth: 0,
        selects: 0,
        templates: 0,
        body_ev: None,
        html_ev: None,
        tag: Tag::default(),
        scratch: String::new(),
        next_state: None,
    };
    let emitter = Forward(CallbackEmitter::new(&mut tb));
    // Every event is handled in the callback; the token and error types are uninhabited.
    match Tokenizer::new_with_emitter(html, emitter).finish() {
        Ok(()) => {}
        Err(never) => match never {},
    }
    tb.eof();
    Parsed {
        buf: tb.buf,
        evs: tb.evs,
    }
}

/// Wraps the callback emitter to set the tokenizer state after a start tag (raw text, RCDATA…)
/// the way the tree builder decides, and to tell it about foreign content (for CDATA).
struct Forward<'t>(CallbackEmitter<&'t mut TreeBuilder>);

impl ForwardingEmitter for Forward<'_> {
    type Token = Infallible;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.0
    }

    fn emit_current_tag(&mut self) -> Option<State> {
        let _ = self.0.emit_current_tag();
        self.0.callback_mut().next_state.take()
    }

    /// Parse errors are of no use here; checking every character for them costs a fifth of
    /// the tokenizer's time.
    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&mut self) -> bool {
        self.0.callback_mut().stack.last().is_some_and(|o| o.foreign)
    }
}

impl Callback<Infallible, ()> for &mut TreeBuilder {
    fn handle_event(&mut self, event: CallbackEvent<'_>, _span: Span<()>) -> Option<Infallible> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.scratch.clear();
                self.tag.start(name);
            }
            CallbackEvent::AttributeName { name } => self.tag.attr_name(name),
            CallbackEvent::AttributeValue { value } => self.tag.attr_value(value, &mut self.scratch),
            CallbackEvent::CloseStartTag { self_closing } => {
                self.tag.self_closing = self_closing;
                self.start_tag();
            }
            CallbackEvent::EndTag { name } => self.end_tag(name),
            CallbackEvent::String { value } => self.text(value),
            CallbackEvent::Doctype {
                name,
                public_identifier,
                system_identifier,
                force_quirks,
            } => self.doctype(name, public_identifier, system_identifier, force_quirks),
            CallbackEvent::Comment { .. } | CallbackEvent::Error(_) => {}
        }
        None
    }
}

/// The start tag being read.
#[derive(Default)]
struct Tag {
    name: Vec<u8>,
    self_closing: bool,
    /// Which attribute the next value belongs to (the first of each name wins).
    pending: Option<Attr>,
    seen: u8,
    class: (usize, usize),
    id: (usize, usize),
    role: (usize, usize),
    hidden: bool,
    aria_hidden: bool,
    style_hides: bool,
    article_body: bool,
    /// `<font>` with color, face or size breaks out of foreign content.
    font_attr: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    Class = 1,
    Id = 2,
    Role = 4,
    Itemprop = 8,
    AriaHidden = 16,
    Style = 32,
    Hidden = 64,
}

impl Tag {
    fn start(&mut self, name: &[u8]) {
        self.name.clear();
        self.name.extend_from_slice(name);
        self.self_closing = false;
        self.pending = None;
        self.seen = 0;
        self.class = (0, 0);
        self.id = (0, 0);
        self.role = (0, 0);
        self.hidden = false;
        self.aria_hidden = false;
        self.style_hides = false;
        self.article_body = false;
        self.font_attr = false;
    }

    fn attr_name(&mut self, name: &[u8]) {
        let a = match name {
            b"class" => Attr::Class,
            b"id" => Attr::Id,
            b"role" => Attr::Role,
            b"itemprop" => Attr::Itemprop,
            b"aria-hidden" => Attr::AriaHidden,
            b"style" => Attr::Style,
            b"hidden" => Attr::Hidden,
            b"color" | b"face" | b"size" => {
                self.font_attr = true;
                self.pending = None;
                return;
            }
            _ => {
                self.pending = None;
                return;
            }
        };
        // html5ever keeps the first of duplicate attributes.
        if self.seen & a as u8 != 0 {
            self.pending = None;
            return;
        }
        self.seen |= a as u8;
        if a == Attr::Hidden {
            self.hidden = true;
        }
        self.pending = Some(a);
    }

    /// An attribute value; class, id and role values go to `scratch` until the tag is kept.
    fn attr_value(&mut self, value: &[u8], scratch: &mut String) {
        let Some(a) = self.pending.take() else { return };
        let v = utf8(value);
        let mut keep = |at: &mut (usize, usize)| {
            let s = scratch.len();
            scratch.push_str(&v);
            *at = (s, scratch.len());
        };
        match a {
            Attr::Class => keep(&mut self.class),
            Attr::Id => keep(&mut self.id),
            Attr::Role => keep(&mut self.role),
            Attr::Itemprop => self.article_body = v.eq_ignore_ascii_case("articleBody"),
            Attr::AriaHidden => self.aria_hidden = v.trim().eq_ignore_ascii_case("true"),
            Attr::Style => self.style_hides = super::style_hides(&v),
            Attr::Hidden => {}
        }
    }
}

/// In document order: [`TreeBuilder::implied_up_to`] only moves forward.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Mode {
    /// Nothing yet: the next token implies `<html>`.
    Initial,
    /// `<html>` is open, `<head>` not yet.
    BeforeHead,
    /// Inside `<head>`.
    InHead,
    /// After `</head>`, before `<body>`.
    AfterHead,
    InBody,
}

/// An open element.
struct Open {
    name: Name,
    /// In the arena (an [`E::Open`] was written and needs its [`E::Close`]).
    kept: bool,
    /// SVG or MathML.
    foreign: bool,
    /// [`is_special`].
    special: bool,
    /// The scopes it bounds ([`Scope::bit`]).
    bounds: u8,
}

struct TreeBuilder {
    buf: String,
    evs: Vec<E>,
    stack: Vec<Open>,
    mode: Mode,
    quirks: bool,
    /// Open elements that are skipped or inside a skipped one (their text is dropped).
    skip_depth: usize,
    /// Open `<select>` and `<template>` elements (so that their checks need no walk otherwise).
    selects: usize,
    templates: usize,
    /// The index in `evs` of the `<body>` and `<html>` elements' [`E::Open`].
    body_ev: Option<usize>,
    html_ev: Option<usize>,
    tag: Tag,
    scratch: String,
    next_state: Option<State>,
}

/// The tag names extraction or tree construction looks at, interned (html5gum lower-cases
/// names); any other name is kept as written.
fn known(name: &[u8]) -> Option<&'static str> {
    if name.len() > 10 {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    macro_rules! names {
        ($($n:literal),* $(,)?) => {
            match name {
                $($n => Some($n),)*
                _ => None,
            }
        };
    }
    names!(
        "a",
        "abbr",
        "address",
        "applet",
        "area",
        "article",
        "aside",
        "audio",
        "b",
        "base",
        "basefont",
        "bdi",
        "bdo",
        "bgsound",
        "big",
        "blockquote",
        "body",
        "br",
        "button",
        "canvas",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "data",
        "datalist",
        "dd",
        "del",
        "details",
        "dfn",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "fieldset",
        "figcaption",
        "figure",
        "font",
        "footer",
        "form",
        "frame",
        "frameset",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "header",
        "hgroup",
        "hr",
        "html",
        "i",
        "iframe",
        "image",
        "img",
        "input",
        "ins",
        "kbd",
        "keygen",
        "label",
        "legend",
        "li",
        "link",
        "listing",
        "main",
        "map",
        "mark",
        "marquee",
        "math",
        "menu",
        "meta",
        "nav",
        "nobr",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "ol",
        "optgroup",
        "option",
        "p",
        "param",
        "picture",
        "plaintext",
        "pre",
        "q",
        "rb",
        "rp",
        "rt",
        "rtc",
        "ruby",
        "s",
        "samp",
        "script",
        "search",
        "section",
        "select",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "style",
        "sub",
        "summary",
        "sup",
        "svg",
        "table",
        "tbody",
        "td",
        "template",
        "textarea",
        "tfoot",
        "th",
        "thead",
        "time",
        "title",
        "tr",
        "track",
        "tt",
        "u",
        "ul",
        "var",
        "video",
        "wbr",
        "xmp",
    )
}

fn is_void(n: &str) -> bool {
    matches!(
        n,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// The standard's "special" elements: an end tag for another element stops at them.
fn is_special(n: &str) -> bool {
    matches!(
        n,
        "address"
            | "applet"
            | "area"
            | "article"
            | "aside"
            | "base"
            | "basefont"
            | "bgsound"
            | "blockquote"
            | "body"
            | "br"
            | "button"
            | "caption"
            | "center"
            | "col"
            | "colgroup"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "embed"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frame"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "iframe"
            | "img"
            | "input"
            | "keygen"
            | "li"
            | "link"
            | "listing"
            | "main"
            | "marquee"
            | "menu"
            | "meta"
            | "nav"
            | "noembed"
            | "noframes"
            | "noscript"
            | "object"
            | "ol"
            | "p"
            | "param"
            | "plaintext"
            | "pre"
            | "script"
            | "search"
            | "section"
            | "select"
            | "source"
            | "style"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "template"
            | "textarea"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "track"
            | "ul"
            | "wbr"
            | "xmp"
    )
}

/// Start tags that close an open `<p>` (in button scope) before they open.
fn closes_p(n: &str) -> bool {
    matches!(
        n,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "header"
            | "hgroup"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "search"
            | "section"
            | "summary"
            | "ul"
            | "pre"
            | "listing"
            | "form"
            | "plaintext"
            | "xmp"
            | "hr"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "li"
            | "dd"
            | "dt"
    )
}

/// Elements whose end tag is implied by a following tag.
fn implied_end(n: &str) -> bool {
    matches!(
        n,
        "dd" | "dt" | "li" | "optgroup" | "option" | "p" | "rb" | "rp" | "rt" | "rtc"
    )
}

fn is_heading(n: &str) -> bool {
    matches!(n, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Elements that may only appear in `<head>` (or are processed by its rules in the body).
fn head_content(n: &str) -> bool {
    matches!(
        n,
        "base"
            | "basefont"
            | "bgsound"
            | "link"
            | "meta"
            | "title"
            | "noscript"
            | "noframes"
            | "style"
            | "script"
            | "template"
    )
}

/// Start tags that leave SVG or MathML content (`<font>` only with attributes: see the caller).
fn breaks_out(n: &str) -> bool {
    n != "font" && super::BREAKOUT_TAGS.contains(&n)
}

/// Scope boundaries (the standard's "has an element in scope" variants).
#[derive(Clone, Copy)]
enum Scope {
    Default,
    Button,
    ListItem,
    Table,
}

impl Scope {
    fn bit(self) -> u8 {
        match self {
            Scope::Default => 1,
            Scope::Button => 2,
            Scope::ListItem => 4,
            Scope::Table => 8,
        }
    }

    /// The scopes element `n` bounds.
    fn bounded_by(n: &str) -> u8 {
        let all = Scope::Default.bit() | Scope::Button.bit() | Scope::ListItem.bit();
        match n {
            "html" | "table" | "template" => all | Scope::Table.bit(),
            "applet" | "caption" | "td" | "th" | "marquee" | "object" => all,
            "button" => Scope::Button.bit(),
            "ol" | "ul" => Scope::ListItem.bit(),
            _ => 0,
        }
    }
}

impl TreeBuilder {
    fn name_str<'s>(&'s self, n: &'s Name) -> &'s str {
        match n {
            Name::Known(s) => s,
            Name::Other(r) => &self.buf[r.0 as usize..r.1 as usize],
        }
    }

    fn top_name(&self) -> &str {
        self.stack.last().map_or("", |o| self.name_str(&o.name))
    }

    /// Position in the stack of the innermost element matching `want`, if it is in `scope`.
    fn in_scope(&self, want: impl Fn(&str) -> bool, scope: Scope) -> Option<usize> {
        for (i, o) in self.stack.iter().enumerate().rev().take(MAX_WALK) {
            if o.foreign {
                // SVG and MathML elements never match; their HTML integration points bound
                // every scope.
                if matches!(
                    self.name_str(&o.name),
                    "foreignobject"
                        | "desc"
                        | "title"
                        | "mi"
                        | "mo"
                        | "mn"
                        | "ms"
                        | "mtext"
                        | "annotation-xml"
                ) {
                    return None;
                }
                continue;
            }
            if want(self.name_str(&o.name)) {
                return Some(i);
            }
            if o.bounds & scope.bit() != 0 {
                return None;
            }
        }
        None
    }

    /// Whether the foreign content open at the top holds HTML here (`<foreignObject>`, or
    /// `<desc>` and `<title>` in SVG): then no tag breaks out of it.
    fn in_integration_point(&self) -> bool {
        self.stack
            .iter()
            .rev()
            .take(MAX_WALK)
            .take_while(|o| o.foreign)
            .any(|o| {
                matches!(
                    self.name_str(&o.name),
                    "foreignobject" | "desc" | "title" | "annotation-xml"
                )
            })
    }

    fn pop(&mut self) {
        let Some(o) = self.stack.pop() else { return };
        if o.kept {
            self.evs.push(E::Close);
        } else {
            self.skip_depth -= 1;
        }
        match o.name {
            Name::Known("select") if !o.foreign => self.selects -= 1,
            Name::Known("template") if !o.foreign => self.templates -= 1,
            _ => {}
        }
    }

    /// Pops elements until the one at `pos` is popped.
    fn pop_to(&mut self, pos: usize) {
        while self.stack.len() > pos {
            self.pop();
        }
    }

    fn generate_implied_end_tags(&mut self, except: &str) {
        while let Some(o) = self.stack.last() {
            let n = self.name_str(&o.name);
            if o.foreign || n == except || !implied_end(n) {
                break;
            }
            self.pop();
        }
    }

    fn close_p(&mut self) {
        if let Some(pos) = self.in_scope(|n| n == "p", Scope::Button) {
            self.generate_implied_end_tags("p");
            self.pop_to(pos);
        }
    }

    /// Copies a scratch range of the current tag into the buffer.
    fn keep(&mut self, r: (usize, usize)) -> R {
        let s = self.buf.len() as u32;
        self.buf.push_str(&self.scratch[r.0..r.1]);
        R(s, self.buf.len() as u32)
    }

    /// Opens an element for the current tag (with its attributes); `void` ones close at once.
    fn insert(&mut self, name: Name, void: bool, foreign: bool) {
        let skip_here = self.skip_depth > 0;
        let t = &self.tag;
        let hidden = t.hidden || t.aria_hidden || t.style_hides;
        let nm = self.name_str(&name);
        let (_, flags) = classify(nm);
        let probe = Attrs {
            hidden,
            ..Attrs::default()
        };
        let skip = skip_here || foreign || skipped(flags, &probe);
        if !skip_here {
            let (class, id, role) = (t.class, t.id, t.role);
            let article_body = t.article_body;
            let attrs = ElAttrs {
                class: self.keep(class),
                id: self.keep(id),
                role: self.keep(role),
                hidden,
                article_body,
            };
            if skip {
                self.evs.push(E::Skip(name, attrs));
            } else {
                match name {
                    Name::Known("body") if self.body_ev.is_none() => self.body_ev = Some(self.evs.len()),
                    Name::Known("html") if self.html_ev.is_none() => self.html_ev = Some(self.evs.len()),
                    _ => {}
                }
                self.evs.push(E::Open(name, attrs));
            }
        }
        if void {
            if !skip {
                self.evs.push(E::Close);
            }
            return;
        }
        if skip {
            self.skip_depth += 1;
        }
        let nm = self.name_str(&name);
        let (special, bounds) = if foreign {
            (false, 0)
        } else {
            (is_special(nm), Scope::bounded_by(nm))
        };
        if !foreign {
            self.selects += usize::from(matches!(name, Name::Known("select")));
            self.templates += usize::from(matches!(name, Name::Known("template")));
        }
        self.stack.push(Open {
            name,
            kept: !skip,
            foreign,
            special,
            bounds,
        });
    }

    /// The name of the current tag, interned or copied to the buffer.
    fn tag_name(&mut self) -> Name {
        match known(&self.tag.name) {
            Some(s) => Name::Known(s),
            None => {
                let s = self.buf.len() as u32;
                self.buf.push_str(&utf8(&self.tag.name));
                Name::Other(R(s, self.buf.len() as u32))
            }
        }
    }

    fn ensure_body(&mut self) {
        self.implied_up_to(Mode::InBody);
    }

    fn end_head(&mut self) {
        if let Some(pos) = self
            .stack
            .iter()
            .rposition(|o| matches!(o.name, Name::Known("head")))
        {
            self.pop_to(pos);
        }
        self.mode = Mode::AfterHead;
    }

    fn doctype(&mut self, name: &[u8], public: Option<&[u8]>, system: Option<&[u8]>, force_quirks: bool) {
        if self.mode != Mode::Initial {
            return;
        }
        let public = public.map(|p| utf8(p).to_ascii_lowercase());
        let quirky_public = public.as_deref().is_some_and(|p| {
            const PREFIXES: &[&str] = &[
                "-//w3c//dtd html 3",
                "-//w3c//dtd html 4.0 ",
                "-//w3c//dtd w3 html",
                "-//w3o//dtd w3 html",
                "-//ietf//dtd html",
                "-//netscape comm. corp.//dtd",
                "-//microsoft//dtd internet explorer",
                "-//softquad",
                "-//sun microsystems corp.//dtd hotjava",
                "-//webtechs//dtd mozilla html",
                "+//silmaril//dtd html pro",
                "-//as//dtd html 3.0",
                "-//advasoft ltd//dtd html 3.0",
                "-//o'reilly and associates//dtd",
                "-//spyglass//dtd html 2.0",
                "-//metrius//dtd metrius presentational",
            ];
            PREFIXES.iter().any(|x| p.starts_with(x))
                || p == "-//w3o//dtd w3 html strict 3.0//en//"
                || p == "-/w3c/dtd html 4.0 transitional/en"
                || p == "html"
                || (system.is_none()
                    && (p.starts_with("-//w3c//dtd html 4.01 frameset//")
                        || p.starts_with("-//w3c//dtd html 4.01 transitional//")))
        });
        self.quirks = force_quirks || name != b"html" || quirky_public;
    }

    fn text(&mut self, value: &[u8]) {
        let v = utf8(value);
        let blank = v
            .bytes()
            .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'));
        if self.mode != Mode::InBody {
            if blank {
                return;
            }
            // Text inside a head element (title, or a style after `</head>`) goes with it.
            if (self.mode == Mode::InHead && self.skip_depth > 1)
                || (self.mode == Mode::AfterHead && self.skip_depth > 0)
            {
                return;
            }
            self.ensure_body();
        }
        if self.skip_depth > 0 || self.stack.last().is_some_and(|o| o.foreign) {
            return;
        }
        let s = self.buf.len() as u32;
        self.buf.push_str(&v);
        let e = self.buf.len() as u32;
        // Adjacent texts (split by a tag that was ignored) are one text node, as in a DOM.
        if let Some(E::Text(r)) = self.evs.last_mut()
            && r.1 == s
        {
            r.1 = e;
            return;
        }
        self.evs.push(E::Text(R(s, e)));
    }

    fn start_tag(&mut self) {
        let name = self.tag_name();
        let n: &str = match name {
            Name::Known(s) => s,
            Name::Other(_) => "",
        };
        // Foreign content: a breakout tag leaves it; anything else stays inside.
        if self.stack.last().is_some_and(|o| o.foreign) {
            let font_breaks = n == "font" && self.tag.font_attr;
            if (breaks_out(n) || font_breaks) && !self.in_integration_point() {
                while self.stack.last().is_some_and(|o| o.foreign) {
                    self.pop();
                }
            } else {
                let void = self.tag.self_closing;
                self.insert(name, void, true);
                return;
            }
        }
        if self.mode == Mode::InBody {
            if matches!(n, "html" | "body") {
                // A later `<body>` (or `<html>`) adds the attributes the element lacks.
                return self.merge_attrs(n);
            }
            if matches!(n, "head" | "frameset") {
                return;
            }
            return self.in_body_start(name, n);
        }
        if self.templates > 0 {
            // Template content in the head: parsed as body content, skipped with the head.
            return self.in_body_start(name, n);
        }
        match n {
            "html" => {
                if self.mode == Mode::Initial {
                    self.insert(name, false, false);
                    self.mode = Mode::BeforeHead;
                } else {
                    self.merge_attrs(n);
                }
            }
            "frameset" => {}
            "head" => {
                self.implied_up_to(Mode::BeforeHead);
                if self.mode == Mode::BeforeHead {
                    self.insert(name, false, false);
                    self.mode = Mode::InHead;
                }
            }
            _ if head_content(n) => {
                // Into `<head>`, skipped with it (after `</head>`, html5ever puts them back in).
                self.implied_up_to(Mode::InHead);
                let after = self.mode == Mode::AfterHead;
                self.skip_depth += usize::from(after);
                self.raw_or_push(name, n);
                self.skip_depth -= usize::from(after);
            }
            _ => {
                self.implied_up_to(Mode::AfterHead);
                if n == "body" {
                    self.insert(name, false, false);
                    self.mode = Mode::InBody;
                } else {
                    self.implied_up_to(Mode::InBody);
                    self.in_body_start(name, n);
                }
            }
        }
    }

    /// Gives the open `<body>` (or `<html>`) the class, id and role of the current tag where it
    /// has none, as html5ever does with a repeated start tag.
    fn merge_attrs(&mut self, n: &str) {
        let Some(at) = (if n == "body" { self.body_ev } else { self.html_ev }) else {
            return;
        };
        let (class, id, role) = (self.tag.class, self.tag.id, self.tag.role);
        let (class, id, role) = (self.keep(class), self.keep(id), self.keep(role));
        if let Some(E::Open(_, a)) = self.evs.get_mut(at) {
            for (old, new) in [(&mut a.class, class), (&mut a.id, id), (&mut a.role, role)] {
                if old.0 == old.1 {
                    *old = new;
                }
            }
        }
    }

    /// Opens the implied `<html>`, `<head>`, closes `<head>` and opens `<body>`, as far as
    /// `mode` (the current tag is kept for the element that follows).
    fn implied_up_to(&mut self, mode: Mode) {
        let tag = std::mem::take(&mut self.tag);
        while self.mode < mode {
            match self.mode {
                Mode::Initial => {
                    self.tag.start(b"html");
                    self.insert(Name::Known("html"), false, false);
                    self.mode = Mode::BeforeHead;
                }
                Mode::BeforeHead => {
                    self.tag.start(b"head");
                    self.insert(Name::Known("head"), false, false);
                    self.mode = Mode::InHead;
                }
                Mode::InHead => self.end_head(),
                Mode::AfterHead => {
                    self.tag.start(b"body");
                    self.insert(Name::Known("body"), false, false);
                    self.mode = Mode::InBody;
                }
                Mode::InBody => break,
            }
        }
        self.tag = tag;
    }

    /// A start tag that switches the tokenizer to raw text, or an ordinary one.
    fn raw_or_push(&mut self, name: Name, n: &str) {
        let state = match n {
            "title" | "textarea" => Some(State::RcData),
            "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => Some(State::RawText),
            "script" => Some(State::ScriptData),
            "plaintext" => Some(State::PlainText),
            _ => None,
        };
        // `/>` does not end a non-void HTML element: `<script/>` still runs to `</script>`.
        self.next_state = state;
        self.insert(name, is_void(n), false);
    }

    fn in_body_start(&mut self, name: Name, n: &str) {
        // Inside `<select>` only options and a few others count (so only those are ever open
        // above it, and finding it takes a look at the top of the stack).
        if let Some(sel) = self.in_select() {
            match n {
                "option" => {
                    if self.top_name() == "option" {
                        self.pop();
                    }
                }
                "optgroup" => {
                    if self.top_name() == "option" {
                        self.pop();
                    }
                    if self.top_name() == "optgroup" {
                        self.pop();
                    }
                }
                "select" => {
                    self.pop_to(sel);
                    return;
                }
                "input" | "keygen" | "textarea" => {
                    self.pop_to(sel);
                    return self.in_body_start(name, n);
                }
                "script" | "hr" => {}
                _ => return,
            }
            return self.raw_or_push(name, n);
        }
        match n {
            "li" | "dd" | "dt" => {
                let same: &[&str] = if n == "li" { &["li"] } else { &["dd", "dt"] };
                for i in (0..self.stack.len()).rev().take(MAX_WALK) {
                    let o = &self.stack[i];
                    let on = self.name_str(&o.name);
                    if !o.foreign && same.contains(&on) {
                        let on = on.to_owned();
                        self.generate_implied_end_tags(&on);
                        self.pop_to(i);
                        break;
                    }
                    if o.foreign || (o.special && !matches!(on, "address" | "div" | "p")) {
                        break;
                    }
                }
                self.close_p();
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.close_p();
                if is_heading(self.top_name()) {
                    self.pop();
                }
            }
            "table" => {
                if !self.quirks {
                    self.close_p();
                }
            }
            "button" => {
                if let Some(pos) = self.in_scope(|n| n == "button", Scope::Default) {
                    self.generate_implied_end_tags("");
                    self.pop_to(pos);
                }
            }
            "a" | "nobr" => {
                // An open `<a>` (or `<nobr>`) is closed by the next one, when only inline
                // elements were opened since.
                if let Some(pos) = self.in_scope(|x| x == n, Scope::Default)
                    && self.stack[pos + 1..].iter().all(|o| !o.special)
                {
                    self.pop_to(pos);
                }
            }
            "tr" | "td" | "th" | "tbody" | "thead" | "tfoot" | "caption" | "colgroup" | "col" => {
                if self.table_start(n) {
                    return;
                }
            }
            "svg" | "math" => {
                let void = self.tag.self_closing;
                self.insert(name, void, true);
                return;
            }
            "image" => return self.insert(Name::Known("img"), true, false),
            "option" | "optgroup" => {
                if self.top_name() == "option" {
                    self.pop();
                }
            }
            "rb" | "rtc" => {
                if self.in_scope(|n| n == "ruby", Scope::Default).is_some() {
                    self.generate_implied_end_tags("");
                }
            }
            "rp" | "rt" => {
                if self.in_scope(|n| n == "ruby", Scope::Default).is_some() {
                    self.generate_implied_end_tags("rtc");
                }
            }
            _ => {
                if closes_p(n) {
                    self.close_p();
                }
            }
        }
        self.raw_or_push(name, n);
    }

    /// Table structure: implied `<tbody>`/`<tr>`, and cells, rows and row groups closing each
    /// other. Returns whether the tag was consumed.
    fn table_start(&mut self, n: &str) -> bool {
        let in_table = self.in_scope(|x| x == "table", Scope::Table).is_some();
        if !in_table {
            // Outside a table these tags are ignored.
            return true;
        }
        // Every table tag closes an open cell first.
        if let Some(pos) = self.in_scope(|x| matches!(x, "td" | "th"), Scope::Table) {
            self.generate_implied_end_tags("");
            self.pop_to(pos);
        }
        let group = |x: &str| matches!(x, "tbody" | "thead" | "tfoot");
        match n {
            "td" | "th" => {
                self.clear_to(&["tr", "tbody", "thead", "tfoot", "table", "template", "html"]);
                if group(self.top_name()) || self.top_name() == "table" {
                    if self.top_name() == "table" {
                        self.implied("tbody");
                    }
                    self.implied("tr");
                }
            }
            "tr" => {
                if let Some(pos) = self.in_scope(|x| x == "tr", Scope::Table) {
                    self.pop_to(pos);
                }
                self.clear_to(&["tbody", "thead", "tfoot", "table", "template", "html"]);
                if self.top_name() == "table" {
                    self.implied("tbody");
                }
            }
            "tbody" | "thead" | "tfoot" | "caption" | "colgroup" => {
                if let Some(pos) = self.in_scope(|x| x == "tr", Scope::Table) {
                    self.pop_to(pos);
                }
                if let Some(pos) = self.in_scope(group, Scope::Table) {
                    self.pop_to(pos);
                }
                self.clear_to(&["table", "template", "html"]);
            }
            "col" => {
                if let Some(pos) = self.in_scope(|x| x == "tr", Scope::Table) {
                    self.pop_to(pos);
                }
                if let Some(pos) = self.in_scope(group, Scope::Table) {
                    self.pop_to(pos);
                }
                self.clear_to(&["table", "colgroup", "template", "html"]);
                if self.top_name() == "table" {
                    self.implied("colgroup");
                }
            }
            _ => {}
        }
        false
    }

    /// Pops until the current node is one of `names` (the standard's "clear the stack back to a
    /// table context" and its variants), within [`MAX_WALK`].
    fn clear_to(&mut self, names: &[&str]) {
        let Some(pos) = self
            .stack
            .iter()
            .enumerate()
            .rev()
            .take(MAX_WALK)
            .find(|(_, o)| names.contains(&self.name_str(&o.name)))
            .map(|(i, _)| i)
        else {
            return;
        };
        self.pop_to(pos + 1);
    }

    /// Opens an element no tag named (`<tbody>`, `<tr>`, `<colgroup>`).
    fn implied(&mut self, n: &'static str) {
        let tag = std::mem::take(&mut self.tag);
        self.tag.start(n.as_bytes());
        self.insert(Name::Known(n), false, false);
        self.tag = tag;
    }

    fn end_tag(&mut self, raw: &[u8]) {
        let known_name = known(raw);
        let n: &str = known_name.unwrap_or("");
        // Foreign content: an end tag closes the matching foreign element.
        if self.stack.last().is_some_and(|o| o.foreign) {
            if n == "p" || n == "br" {
                while self.stack.last().is_some_and(|o| o.foreign) {
                    self.pop();
                }
            } else {
                for i in (0..self.stack.len()).rev().take(MAX_WALK) {
                    let o = &self.stack[i];
                    if !o.foreign {
                        break;
                    }
                    if self.name_str(&o.name).as_bytes().eq_ignore_ascii_case(raw) {
                        self.pop_to(i);
                        return;
                    }
                }
                // No foreign element of that name: the tag is processed as an HTML end tag,
                // which may close the foreign content around it.
            }
        }
        // The end of a raw text element (the only end tag its content can hold).
        if let Some(o) = self.stack.last()
            && matches!(
                o.name,
                Name::Known(
                    "title"
                        | "textarea"
                        | "style"
                        | "xmp"
                        | "iframe"
                        | "noembed"
                        | "noframes"
                        | "noscript"
                        | "script"
                )
            )
        {
            self.pop();
            return;
        }
        if let Some(sel) = self.in_select() {
            match n {
                "select" => self.pop_to(sel),
                "option" if self.top_name() == "option" => self.pop(),
                "optgroup" => {
                    let below = self
                        .stack
                        .len()
                        .checked_sub(2)
                        .map(|i| self.name_str(&self.stack[i].name));
                    if self.top_name() == "option" && below == Some("optgroup") {
                        self.pop();
                    }
                    if self.top_name() == "optgroup" {
                        self.pop();
                    }
                }
                // Every other end tag is ignored inside a select.
                _ => {}
            }
            return;
        }
        match self.mode {
            Mode::InBody => {}
            _ if n == "template" => return self.end_template(),
            Mode::InHead if n == "head" => return self.end_head(),
            Mode::BeforeHead if n == "head" => return self.implied_up_to(Mode::AfterHead),
            _ if matches!(n, "body" | "html" | "br") => self.ensure_body(),
            _ => return,
        }
        match n {
            // The body stays open: html5ever puts what follows `</body>` in it too.
            "body" | "html" | "head" => {}
            "template" => self.end_template(),
            "p" => {
                if let Some(pos) = self.in_scope(|x| x == "p", Scope::Button) {
                    self.generate_implied_end_tags("p");
                    self.pop_to(pos);
                } else {
                    // `</p>` with no open `<p>`: an empty paragraph.
                    self.tag.start(b"p");
                    self.insert(Name::Known("p"), true, false);
                }
            }
            "br" => {
                self.tag.start(b"br");
                self.insert(Name::Known("br"), true, false);
            }
            "li" => {
                if let Some(pos) = self.in_scope(|x| x == "li", Scope::ListItem) {
                    self.generate_implied_end_tags("li");
                    self.pop_to(pos);
                }
            }
            "dd" | "dt" => {
                if let Some(pos) = self.in_scope(|x| x == n, Scope::Default) {
                    self.generate_implied_end_tags(n);
                    self.pop_to(pos);
                }
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                if let Some(pos) = self.in_scope(is_heading, Scope::Default) {
                    self.generate_implied_end_tags("");
                    self.pop_to(pos);
                }
            }
            "td" | "th" | "tr" | "tbody" | "thead" | "tfoot" | "table" | "caption" | "colgroup" => {
                if let Some(pos) = self.in_scope(|x| x == n, Scope::Table) {
                    self.pop_to(pos);
                }
            }
            "select" => {}
            _ if closes_p(n) || matches!(n, "button" | "applet" | "marquee" | "object") => {
                if let Some(pos) = self.in_scope(|x| x == n, Scope::Default) {
                    self.generate_implied_end_tags("");
                    self.pop_to(pos);
                }
            }
            _ => {
                // Any other end tag: the innermost element of that name, unless a special
                // element is open inside it (then the tag is ignored).
                for i in (0..self.stack.len()).rev().take(MAX_WALK) {
                    let o = &self.stack[i];
                    let on = self.name_str(&o.name);
                    if on.as_bytes() == raw {
                        let on = on.to_owned();
                        self.generate_implied_end_tags(&on);
                        self.pop_to(i);
                        return;
                    }
                    if o.special {
                        return;
                    }
                }
            }
        }
    }

    fn end_template(&mut self) {
        if self.templates > 0
            && let Some(pos) = self
                .stack
                .iter()
                .rposition(|o| !o.foreign && matches!(o.name, Name::Known("template")))
        {
            self.pop_to(pos);
        }
    }

    /// The position of the `<select>` whose content the parser is in: only options, option
    /// groups and a script can be open above it.
    fn in_select(&self) -> Option<usize> {
        if self.selects == 0 {
            return None;
        }
        for (i, o) in self.stack.iter().enumerate().rev().take(4) {
            match o.name {
                _ if o.foreign => return None,
                Name::Known("select") => return Some(i),
                Name::Known("option" | "optgroup" | "script") => {}
                _ => return None,
            }
        }
        None
    }

    fn eof(&mut self) {
        self.ensure_body();
        self.pop_to(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of a parse as a compact string: `<name>`, `</>`, `[skipped]`, text.
    fn events(html: &str) -> String {
        let p = parse(html);
        let mut out = String::new();
        for ev in &p.evs {
            match ev {
                E::Open(n, _) => out.push_str(&format!("<{}>", p.name(n))),
                E::Skip(n, _) => out.push_str(&format!("[{}]", p.name(n))),
                E::Close => out.push_str("</>"),
                E::Text(r) => out.push_str(p.s(*r)),
            }
        }
        out
    }

    #[test]
    fn implied_html_head_and_body() {
        assert_eq!(
            events("<title>t</title><p>Hi"),
            "<html>[head]<body><p>Hi</></></>"
        );
        assert_eq!(
            events(
                "<!DOCTYPE html><html><head><meta charset=utf-8></head><body class=x><p>a</p></body></html>"
            ),
            "<html>[head]<body><p>a</></></>"
        );
        assert_eq!(events("Hello"), "<html>[head]<body>Hello</></>");
    }

    #[test]
    fn blocks_close_paragraphs_and_list_items() {
        assert_eq!(
            events("<body><p>a<div>b</div><p>c<p>d<ul><li>e<li>f</ul>"),
            "<html>[head]<body><p>a</><div>b</><p>c</><p>d</><ul><li>e</><li>f</></></></>"
        );
        assert_eq!(
            events("<body><h2>a<h3>b</h2>c"),
            "<html>[head]<body><h2>a</><h3>b</>c</></>"
        );
    }

    #[test]
    fn stray_end_tags_and_empty_paragraphs() {
        assert_eq!(
            events("<body><div>a</span>b</div></p>c"),
            "<html>[head]<body><div>ab</><p></>c</></>"
        );
    }

    #[test]
    fn tables_get_their_implied_rows() {
        assert_eq!(
            events("<!DOCTYPE html><body><table><td>a<td>b<tr><th>c</table>d"),
            "<html>[head]<body><table><tbody><tr><td>a</><td>b</></><tr><th>c</></></></>d</></>"
        );
    }

    #[test]
    fn quirks_mode_keeps_a_table_inside_a_paragraph() {
        assert_eq!(
            events("<body><p>a<table><tr><td>b</table>"),
            "<html>[head]<body><p>a<table><tbody><tr><td>b</></></></></></></>"
        );
        assert_eq!(
            events("<!doctype html><body><p>a<table><tr><td>b</table>"),
            "<html>[head]<body><p>a</><table><tbody><tr><td>b</></></></></></>"
        );
    }

    #[test]
    fn skipped_subtrees_and_raw_text() {
        assert_eq!(
            events(
                "<body><p>a<img src=x>b<script>x<p>y</script><noscript><p>n</noscript><select><option>o<div>x</select>c"
            ),
            "<html>[head]<body><p>a[img]b[script][noscript][select]c</></></>"
        );
        assert_eq!(
            events("<body><div hidden><p>h</div><p style='display:none'>x<p>y"),
            "<html>[head]<body>[div][p]<p>y</></></>"
        );
        assert_eq!(
            events("<body><svg><g><path/></g><p>out</svg>"),
            "<html>[head]<body>[svg]<p>out</></></>"
        );
    }

    #[test]
    fn entities_are_decoded_and_attributes_read() {
        let p = parse("<body><div class='a b' class=c id=main role=main>Caf&eacute; &amp; bar&#8217;s</div>");
        let E::Open(_, a) = &p.evs[3] else {
            panic!("{}", events(""))
        };
        assert_eq!(p.s(a.class), "a b");
        assert_eq!(p.s(a.id), "main");
        assert!(events("<body><p>Caf&eacute; &amp; bar&#8217;s").contains("Café & bar’s"));
    }

    #[test]
    fn unknown_elements_keep_their_names() {
        assert_eq!(
            events("<body><my-card><p>a</p></my-card>"),
            "<html>[head]<body><my-card><p>a</></></></>"
        );
    }

    #[test]
    fn deep_nesting_stays_linear() {
        // Four times the nesting costs about four times the time (a quadratic walk would cost
        // sixteen): a ratio, not a deadline, so a loaded machine does not fail it. Each size
        // timed at its best of three.
        let best = |n: usize| {
            let page = format!("<body><div><table>{}{}", "<span>".repeat(n), "</div>".repeat(n));
            (0..3)
                .map(|_| {
                    let t = std::time::Instant::now();
                    let _ = parse(&page);
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let (small, big) = (best(10_000), best(40_000));
        assert!(big < small * 9, "10k deep: {small:?}, 40k deep: {big:?}");
    }
}
#[cfg(test)]
mod fuzz;
