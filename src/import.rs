//! A published fact-check (an HTML page or a plain text) → [`Draft`]: the title, the date it
//! was checked, the prose with a `[n]` marker on every sentence that cites something, and the
//! numbered sources, ready to be written as one watchlist file ([`Draft::to_toml`]) for a person
//! to review. `citewatch add` does the I/O around it; this module does none.
//!
//! # What is read from a page
//! - JSON-LD `ClaimReview` (top level, in an array, or inside `@graph`): the title from
//!   `claimReviewed` (else `headline`), `checked` from the review's own `datePublished` (never
//!   the reviewed claim's date). Without one: `og:title`, `<h1>` or `<title>`, and
//!   `article:published_time`.
//! - The readable body: [`crate::extract::extract`] decides which paragraphs are the article;
//!   a paragraph counts only when its text is part of that main text and none of its ancestors
//!   is site chrome (nav, header, footer, aside, forms; share, social, related, author, byline,
//!   newsletter, menu, comment, tag classes or ids). Links to share endpoints and to the site's
//!   own author, tag, topic and account pages are never sources either.
//! - A sentence carrying an inline link cites that link's URL.
//! - `[n]` markers (plain text, or a link on the marker itself such as `<sup><a href="#fn3">3</a></sup>`)
//!   are resolved through the marker's own link (an external URL, or an in-page `#id` whose element
//!   holds one), else through the numbered source list: the items of a "Sources" / "References" /
//!   "Our Sources" / "Notes" section, or of the page's last `<ol>` of links, numbered by their own
//!   leading `[n]` / `n.` when they have one, else by position (`<ol start>` respected).
//! - Entries of that list which no sentence links to are kept as sources no statement cites
//!   (validate warns), so a person can attach them.
//!
//! # What is read from a text
//! The shape of a fact-check pasted as plain text: a title line, an optional `Checked on <date>`
//! line, prose with `[n]` markers, and a list of URLs (`[1] https://…`, `1. https://…`, or bare
//! URLs numbered in order, optionally under a "Sources" line).
//!
//! Markers that resolve to nothing are removed from the prose and reported in
//! [`Draft::unresolved`], so the written file always validates.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use scraper::{ElementRef, Html, Node, Selector};
use url::Url;

use crate::watchlist::split;

/// What an import found, before it is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    /// Headline or `claimReviewed`.
    pub title: Option<String>,
    /// `YYYY-MM-DD` the fact-check was published or checked.
    pub checked: Option<String>,
    /// The last path segment of the page's URL, for a default id.
    pub slug: Option<String>,
    /// Where it came from (a URL or a file path), for the file's header comment.
    pub origin: String,
    /// Paragraphs separated by blank lines; every statement carries `[n]` markers.
    pub prose: String,
    /// Cite number → source URL and a short label (link text or list entry).
    pub sources: BTreeMap<u32, (Url, String)>,
    /// What could not be resolved, one human sentence each.
    pub unresolved: Vec<String>,
    /// Whether a JSON-LD `ClaimReview` was found.
    pub claim_review: bool,
}

impl Draft {
    /// Statements (sentences with markers) in the prose, and their cites, as the watchlist
    /// loader will see them.
    pub fn statements(&self) -> Vec<split::Unit> {
        split::units(&self.prose)
            .into_iter()
            .filter(split::Unit::is_statement)
            .collect()
    }

    /// The watchlist file for article `id`.
    pub fn to_toml(&self, id: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Imported by `citewatch add` from {}.",
            one_line(&self.origin)
        );
        let _ = writeln!(
            out,
            "# Review it: each sentence of `article` with [n] markers is a statement citing those sources;\n\
             # remove markers that do not back their sentence, add `evidence = [...]` quotes where useful."
        );
        for u in &self.unresolved {
            let _ = writeln!(out, "# Not resolved: {}", one_line(u));
        }
        out.push('\n');
        let _ = writeln!(out, "id = {}", basic_string(id));
        let title = self.title.as_deref().unwrap_or(id);
        let _ = writeln!(out, "title = {}", basic_string(title));
        if let Some(c) = &self.checked {
            let _ = writeln!(out, "checked = {}", basic_string(c));
        }
        let _ = writeln!(out, "article = {}", multiline_string(&self.prose));
        for (cite, (url, label)) in &self.sources {
            out.push('\n');
            if !label.is_empty() {
                let _ = writeln!(out, "# [{cite}] {}", one_line(&truncate(label, 150)));
            }
            let _ = writeln!(
                out,
                "[[source]]\ncite = {cite}\nurl = {}",
                basic_string(url.as_str())
            );
        }
        out
    }
}

/// Imports an HTML page fetched from (or saved from) `page_url`.
pub fn from_html(body: &[u8], content_type: &str, page_url: Option<&Url>) -> Draft {
    let text = crate::extract::decode(body, content_type);
    let doc = Html::parse_document(&text);
    let mut d = Draft {
        origin: page_url.map_or_else(String::new, |u| u.to_string()),
        slug: page_url.and_then(slug_of),
        ..Draft::default()
    };
    claim_review(&doc, &mut d);
    if d.title.is_none() {
        d.title = meta(&doc, "og:title")
            .or_else(|| first_text(&doc, "h1"))
            .or_else(|| first_text(&doc, "title"));
    }
    if d.checked.is_none() {
        d.checked = meta(&doc, "article:published_time")
            .or_else(|| {
                let sel = Selector::parse("time[datetime]").expect("static selector");
                doc.select(&sel)
                    .find_map(|t| t.value().attr("datetime"))
                    .map(str::to_owned)
            })
            .and_then(|t| iso_date(&t));
    }

    // The main text as the extractor sees it: paragraphs outside it are chrome.
    let main = crate::extract::extract(body, content_type, &crate::extract::Rules::default())
        .map(|t| t.blocks)
        .unwrap_or_default();
    let main_keys: HashSet<String> = main.iter().map(|b| letters_key(b)).collect();
    let main_joined: String = main.iter().map(|b| letters_key(b)).collect::<Vec<_>>().join("|");
    let in_main = |text: &str| {
        let k = letters_key(text);
        !k.is_empty() && (main_keys.contains(&k) || (k.len() >= 15 && main_joined.contains(&k)))
    };

    let base = page_url.cloned();
    let list = source_list(&doc, base.as_ref());
    let in_list: HashSet<_> = list.elements.iter().copied().collect();

    let para_sel = Selector::parse("p, li, blockquote, dd, h2, h3, h4").expect("static selector");
    let nested_sel = Selector::parse("p, li, blockquote, dd").expect("static selector");
    let mut cites = Cites::default();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut unresolved_markers: BTreeMap<u32, ()> = BTreeMap::new();
    for el in doc.select(&para_sel) {
        let name = el.value().name();
        let heading = name.starts_with('h');
        // The innermost paragraph-like element carries the text (`li > p` is the `p`).
        if !heading && el.select(&nested_sel).any(|inner| inner.id() != el.id()) {
            continue;
        }
        if el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| in_list.contains(&a.id()))
            || in_list.contains(&el.id())
        {
            continue;
        }
        if is_chrome(el, false) {
            continue;
        }
        let rich = rich_text(el, base.as_ref());
        if rich.text.is_empty() || !in_main(&rich.text) {
            continue;
        }
        if heading {
            if list.heading.is_some_and(|h| h == el.id()) {
                continue;
            }
            let (t, _) = split::strip_markers(&rich.text);
            paragraphs.push(format!("## {}", t.trim()));
            continue;
        }
        let mut out = Vec::new();
        for (start, end) in sentence_ranges(&rich.text) {
            let sentence = &rich.text[start..end];
            let mut nums: Vec<u32> = Vec::new();
            // Markers written in the sentence.
            for m in markers_in(sentence) {
                for n in m {
                    let url = rich
                        .marker_links
                        .get(&n)
                        .and_then(|href| resolve_marker_link(&doc, href, base.as_ref()))
                        .map(|u| (u, String::new()))
                        .or_else(|| list.items.get(&n).cloned());
                    match url {
                        Some((u, label)) => nums.push(cites.for_marker(n, u, label)),
                        None => {
                            unresolved_markers.insert(n, ());
                        }
                    }
                }
            }
            // Inline links in the sentence.
            for l in rich.links.iter().filter(|l| l.start < end && l.end > start) {
                let label = list
                    .items
                    .values()
                    .find(|(u, _)| *u == l.url)
                    .map_or_else(|| l.text.clone(), |(_, lab)| lab.clone());
                nums.push(cites.for_url(l.url.clone(), label));
            }
            let (clean, _) = split::strip_markers(sentence);
            out.push(with_markers(clean.trim(), &nums));
        }
        let p = out.join(" ");
        if !p.trim().is_empty() {
            paragraphs.push(if name == "li" { format!("- {p}") } else { p });
        }
    }
    // List entries no sentence linked to: sources without statements yet.
    let mut uncited = 0;
    for (n, (u, label)) in &list.items {
        if !cites.by_url.contains_key(u) {
            cites.for_marker(*n, u.clone(), label.clone());
            uncited += 1;
        }
    }
    for n in unresolved_markers.keys() {
        d.unresolved.push(format!(
            "marker [{n}]: no source URL found for it (removed from its sentence)"
        ));
    }
    for label in &list.without_url {
        d.unresolved.push(format!(
            "source list entry without a link: {}",
            truncate(label, 120)
        ));
    }
    if uncited > 0 {
        d.unresolved.push(format!(
            "{uncited} source{} of the page's list {} no sentence linking to {}: kept, with no statement citing {}",
            if uncited == 1 { "" } else { "s" },
            if uncited == 1 { "has" } else { "have" },
            if uncited == 1 { "it" } else { "them" },
            if uncited == 1 { "it" } else { "them" },
        ));
    }
    d.prose = paragraphs.join("\n\n");
    d.sources = cites.numbered;
    d
}

/// Imports a plain text: title line, optional "Checked on <date>" line, prose with `[n]`
/// markers, and a list of URLs.
pub fn from_text(text: &str, origin: &str) -> Draft {
    static URL_LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*(?:[-*•]\s*)?(?:\[(\d{1,4})\]|\(?(\d{1,4})[.):])?\s*(?:[^\s]*?:\s+)??(https?://\S+)\s*(?:[-–—:|]\s*(.*))?$")
            .expect("static regex")
    });
    static SOURCES_HEAD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^\s*(?:#+\s*)?(?:our\s+)?(?:sources|references|citations|links)(?:\s+used)?\s*:?\s*$",
        )
        .expect("static regex")
    });
    static CHECKED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:checked|fact[- ]checked|published|updated)\s+on\s+(.+?)\s*$")
            .expect("static regex")
    });
    let mut d = Draft {
        origin: origin.to_owned(),
        ..Draft::default()
    };
    let mut urls: BTreeMap<u32, (Url, String)> = BTreeMap::new();
    let mut next = 1;
    let mut prose_lines: Vec<&str> = Vec::new();
    for line in text.lines() {
        if d.title.is_none() && !line.trim().is_empty() {
            d.title = Some(line.trim().trim_start_matches('#').trim().to_owned());
            continue;
        }
        if d.checked.is_none()
            && let Some(c) = CHECKED.captures(line)
            && let Some(date) = parse_date(&c[1])
        {
            d.checked = Some(date);
            continue;
        }
        if SOURCES_HEAD.is_match(line) {
            continue;
        }
        if let Some(c) = URL_LINE.captures(line) {
            let url_text = c[3].trim_end_matches(['.', ',', ';', ')', '>']);
            if let Ok(u) = Url::parse(url_text) {
                let n = c
                    .get(1)
                    .or_else(|| c.get(2))
                    .and_then(|m| m.as_str().parse().ok())
                    .unwrap_or(next);
                next = n + 1;
                let label = c.get(4).map_or("", |m| m.as_str()).trim().to_owned();
                urls.entry(n).or_insert((u, label));
                continue;
            }
        }
        prose_lines.push(line);
    }
    // Markers that name no URL are taken out, so the file validates.
    let prose = prose_lines.join("\n");
    let mut missing: BTreeMap<u32, ()> = BTreeMap::new();
    let mut cited: HashSet<u32> = HashSet::new();
    let cleaned = marker_re().replace_all(&prose, |caps: &regex::Captures<'_>| {
        let nums = parse_marker_nums(&caps[0]);
        let kept: Vec<u32> = nums
            .iter()
            .copied()
            .filter(|n| {
                if urls.contains_key(n) {
                    cited.insert(*n);
                    true
                } else {
                    missing.insert(*n, ());
                    false
                }
            })
            .collect();
        if kept.is_empty() {
            String::new()
        } else {
            kept.iter()
                .map(|n| format!("[{n}]"))
                .collect::<Vec<_>>()
                .join(" ")
        }
    });
    d.prose = tidy_removed_markers(cleaned.trim());
    for n in missing.keys() {
        d.unresolved.push(format!(
            "marker [{n}]: no URL for it in the list (removed from its sentence)"
        ));
    }
    let uncited: Vec<String> = urls
        .keys()
        .filter(|n| !cited.contains(n))
        .map(|n| format!("[{n}]"))
        .collect();
    if !uncited.is_empty() {
        d.unresolved.push(format!(
            "URL {} cited by no marker: kept as a source",
            uncited.join(", ")
        ));
    }
    d.sources = urls;
    d
}

/// Cite numbers as they are handed out: a page's own marker numbers are kept; a URL linked
/// inline gets the number it already has, else the next free one.
#[derive(Default)]
struct Cites {
    numbered: BTreeMap<u32, (Url, String)>,
    by_url: HashMap<Url, u32>,
}

impl Cites {
    fn for_marker(&mut self, n: u32, url: Url, label: String) -> u32 {
        if let Some((u, _)) = self.numbered.get(&n) {
            if *u == url {
                return n;
            }
            // The number is taken by another URL (an inline link came first): a new number.
            return self.for_url(url, label);
        }
        self.numbered.insert(n, (url.clone(), label));
        self.by_url.entry(url).or_insert(n);
        n
    }

    fn for_url(&mut self, url: Url, label: String) -> u32 {
        if let Some(&n) = self.by_url.get(&url) {
            return n;
        }
        let n = self.numbered.keys().next_back().map_or(1, |m| m + 1);
        self.numbered.insert(n, (url.clone(), label));
        self.by_url.insert(url, n);
        n
    }
}

/// A link inside a paragraph's text.
#[derive(Debug)]
struct Link {
    start: usize,
    end: usize,
    url: Url,
    text: String,
}

/// A paragraph's text (white space folded) with its source links and marker links.
#[derive(Debug, Default)]
struct RichText {
    text: String,
    links: Vec<Link>,
    /// `[n]` written as a link (`<sup><a href="#fn3">3</a></sup>`): n → href.
    marker_links: HashMap<u32, String>,
}

fn rich_text(el: ElementRef<'_>, base: Option<&Url>) -> RichText {
    let mut rt = RichText::default();
    walk(el, base, &mut rt, 0);
    let trimmed = rt.text.trim_end().len();
    rt.text.truncate(trimmed);
    for l in &mut rt.links {
        l.end = l.end.min(trimmed);
        l.start = l.start.min(l.end);
    }
    rt.links.retain(|l| l.end > l.start);
    rt
}

fn push_text(rt: &mut RichText, s: &str) {
    for c in s.chars() {
        if c.is_whitespace() {
            if !rt.text.is_empty() && !rt.text.ends_with(' ') {
                rt.text.push(' ');
            }
        } else if !matches!(c, '\u{200b}' | '\u{00ad}' | '\u{feff}') {
            rt.text.push(c);
        }
    }
}

fn walk(el: ElementRef<'_>, base: Option<&Url>, rt: &mut RichText, depth: usize) {
    if depth > 64 {
        return;
    }
    for child in el.children() {
        match child.value() {
            Node::Text(t) => push_text(rt, t),
            Node::Element(e) => {
                let Some(c) = ElementRef::wrap(child) else {
                    continue;
                };
                match e.name() {
                    "script" | "style" | "noscript" | "template" | "svg" | "button" => continue,
                    "br" => push_text(rt, " "),
                    "sup" | "a" if marker_number(c).is_some() => {
                        let n = marker_number(c).expect("checked");
                        if !rt.text.is_empty() && !rt.text.ends_with(' ') {
                            rt.text.push(' ');
                        }
                        let _ = write!(rt.text, "[{n}]");
                        let href = if e.name() == "a" {
                            e.attr("href")
                        } else {
                            c.select(&A_SEL).next().and_then(|a| a.value().attr("href"))
                        };
                        if let Some(h) = href {
                            rt.marker_links.insert(n, h.to_owned());
                        }
                    }
                    "a" => {
                        let start = rt.text.len();
                        walk(c, base, rt, depth + 1);
                        let end = rt.text.len();
                        if let Some(url) = e.attr("href").and_then(|h| source_url(h, base)) {
                            let text = rt.text[start..end].trim().to_owned();
                            rt.links.push(Link {
                                start,
                                end,
                                url,
                                text,
                            });
                        }
                    }
                    _ => walk(c, base, rt, depth + 1),
                }
            }
            _ => {}
        }
    }
}

static A_SEL: LazyLock<Selector> = LazyLock::new(|| Selector::parse("a[href]").expect("static selector"));

/// `<sup>3</sup>`, `<sup>[3]</sup>`, `<a>[3]</a>`: the marker's number.
fn marker_number(el: ElementRef<'_>) -> Option<u32> {
    let t: String = el.text().collect();
    let t = t.trim();
    let inner = t.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    let digits = match (el.value().name(), inner) {
        (_, Some(i)) => i,
        ("sup", None) => t,
        _ => return None,
    };
    (!digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The external URL a marker link leads to: its own href, or the first source link inside the
/// in-page element its `#fragment` names.
fn resolve_marker_link(doc: &Html, href: &str, base: Option<&Url>) -> Option<Url> {
    if let Some(frag) = href.strip_prefix('#') {
        let target = doc
            .tree
            .nodes()
            .filter_map(ElementRef::wrap)
            .find(|e| e.value().id() == Some(frag) || e.value().attr("name") == Some(frag))?;
        // The note itself, or the list item around an anchor such as `<a id="fn3"></a>`.
        let holder = std::iter::once(target)
            .chain(target.ancestors().filter_map(ElementRef::wrap))
            .take(3)
            .find(|e| {
                e.select(&A_SEL)
                    .any(|a| a.value().attr("href").and_then(|h| source_url(h, base)).is_some())
            })?;
        return holder
            .select(&A_SEL)
            .find_map(|a| a.value().attr("href").and_then(|h| source_url(h, base)));
    }
    source_url(href, base)
}

/// An href that can be a source: http(s), not a share endpoint, not the site's own author,
/// tag or account pages, not an in-page anchor.
fn source_url(href: &str, base: Option<&Url>) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let mut url = match base {
        Some(b) => b.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    // The fragment names a place in the page, not another page.
    url.set_fragment(None);
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches("www.")
        .to_ascii_lowercase();
    let path = url.path().to_ascii_lowercase();
    const SHARE: &[(&str, &str)] = &[
        ("facebook.com", "/sharer"),
        ("twitter.com", "/intent"),
        ("twitter.com", "/share"),
        ("x.com", "/intent"),
        ("x.com", "/share"),
        ("linkedin.com", "/share"),
        ("linkedin.com", "/sharearticle"),
        ("reddit.com", "/submit"),
        ("pinterest.com", "/pin/create"),
        ("api.whatsapp.com", "/send"),
        ("wa.me", "/"),
        ("t.me", "/share"),
        ("telegram.me", "/share"),
        ("bsky.app", "/intent"),
    ];
    if SHARE.iter().any(|(h, p)| host == *h && path.starts_with(p)) {
        return None;
    }
    let same_site = base.is_some_and(|b| b.host_str() == url.host_str());
    if same_site {
        static SITE_PAGE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^/(?:[a-z]{2}/)?(?:authors?|people|staff|writers?|contributors?|profiles?|users?|personalities|tags?|topics?|category|categories|subjects|issues|about(?:-us)?|contact|newsletters?|subscribe|donate|login|signin|sign-in|register|account|search|corrections(?:-policy)?|privacy|terms|careers)(?:/|$)").expect("static regex")
        });
        if url.path() == "/" || SITE_PAGE.is_match(&path) {
            return None;
        }
        // The page itself (a permalink or "jump to" link).
        if base.is_some_and(|b| b.path() == url.path()) {
            return None;
        }
    }
    Some(url)
}

/// True when `el` or an ancestor is site chrome. `allow_footer` lets a source list live in the
/// article's `<footer>`.
fn is_chrome(el: ElementRef<'_>, allow_footer: bool) -> bool {
    static CHROME_NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:^|[-_\s])(?:nav|navbar|navigation|menu|share|sharing|social|related|recommended|more-stories|read-more|author|authors|byline|bio|newsletter|signup|subscribe|breadcrumbs?|comments?|tags|topics|promo|sidebar|advert|ad|ads|cookie|banner|masthead|site-header|site-footer)(?:$|[-_\s])").expect("static regex")
    });
    std::iter::once(el)
        .chain(el.ancestors().filter_map(ElementRef::wrap))
        .any(|a| {
            let v = a.value();
            match v.name() {
                "nav" | "aside" | "form" | "menu" | "dialog" | "header" => return true,
                "footer" if !allow_footer => return true,
                _ => {}
            }
            if v.attr("role")
                .is_some_and(|r| matches!(r, "navigation" | "banner" | "contentinfo" | "complementary"))
            {
                return true;
            }
            v.attr("class").is_some_and(|c| CHROME_NAME.is_match(c))
                || v.id().is_some_and(|i| CHROME_NAME.is_match(i))
        })
}

/// The page's numbered source list.
#[derive(Default)]
struct SourceList {
    /// Number → first source URL of the entry and the entry's text.
    items: BTreeMap<u32, (Url, String)>,
    /// Entries without any link.
    without_url: Vec<String>,
    /// The elements holding the entries (not statements).
    elements: Vec<ego_tree::NodeId>,
    /// The section's heading.
    heading: Option<ego_tree::NodeId>,
}

fn source_list(doc: &Html, base: Option<&Url>) -> SourceList {
    static HEAD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:our\s+)?(?:sources?|references|bibliography|citations|footnotes|notes|sources\s+and\s+(?:references|notes))\s*:?\s*$").expect("static regex")
    });
    static LEAD_NUM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*(?:\[(\d{1,4})\]|(\d{1,4})[.)])\s").expect("static regex"));
    let heads = Selector::parse("h2, h3, h4, h5, h6, strong, b, p, dt").expect("static selector");
    let mut out = SourceList::default();
    let mut entries: Vec<ElementRef<'_>> = Vec::new();
    let mut ol_start: Option<u32> = None;
    // A "Sources" heading: the entries are the list items or paragraphs after it, up to the
    // next heading.
    if let Some(h) = doc
        .select(&heads)
        .filter(|h| !is_chrome(*h, true))
        .rfind(|h| HEAD.is_match(&h.text().collect::<String>()))
    {
        // `<p><strong>Sources</strong></p>`: the block is the paragraph.
        let block = if matches!(h.value().name(), "strong" | "b") {
            h.parent()
                .and_then(ElementRef::wrap)
                .filter(|p| p.value().name() == "p")
                .unwrap_or(h)
        } else {
            h
        };
        out.heading = Some(h.id());
        out.elements.push(block.id());
        // Walk up while the heading is the only thing in its wrapper.
        let mut anchor = block;
        loop {
            let mut sib = anchor.next_siblings().filter_map(ElementRef::wrap).peekable();
            if sib.peek().is_some() {
                break;
            }
            match anchor.parent().and_then(ElementRef::wrap) {
                Some(p) => anchor = p,
                None => break,
            }
        }
        for s in anchor.next_siblings().filter_map(ElementRef::wrap) {
            let n = s.value().name();
            if matches!(n, "h1" | "h2" | "h3") || (n == block.value().name() && n.starts_with('h')) {
                break;
            }
            out.elements.push(s.id());
            match n {
                "ol" | "ul" => {
                    if n == "ol" {
                        ol_start = s.value().attr("start").and_then(|v| v.parse().ok());
                    }
                    entries.extend(
                        s.children()
                            .filter_map(ElementRef::wrap)
                            .filter(|c| c.value().name() == "li"),
                    );
                }
                "p" | "li" => entries.push(s),
                "div" | "section" => {
                    // A wrapper of entries: its paragraphs or list items, else itself.
                    let inner = Selector::parse("p, li").expect("static selector");
                    let items: Vec<_> = s.select(&inner).collect();
                    if items.is_empty() {
                        entries.push(s);
                    } else {
                        entries.extend(items);
                    }
                }
                _ => {}
            }
        }
    }
    if entries.is_empty() {
        // Else the last `<ol>` most of whose items carry a link.
        let ol = Selector::parse("ol").expect("static selector");
        if let Some(list) = doc.select(&ol).filter(|l| !is_chrome(*l, true)).rfind(|l| {
            let items: Vec<_> = l
                .children()
                .filter_map(ElementRef::wrap)
                .filter(|c| c.value().name() == "li")
                .collect();
            let linked = items
                .iter()
                .filter(|li| {
                    li.select(&A_SEL)
                        .any(|a| a.value().attr("href").and_then(|h| source_url(h, base)).is_some())
                })
                .count();
            !items.is_empty() && linked * 2 > items.len()
        }) {
            out.elements.push(list.id());
            ol_start = list.value().attr("start").and_then(|v| v.parse().ok());
            entries.extend(
                list.children()
                    .filter_map(ElementRef::wrap)
                    .filter(|c| c.value().name() == "li"),
            );
        }
    }
    let mut next = ol_start.unwrap_or(1);
    for e in entries.into_iter().filter(|e| !is_chrome(*e, true)) {
        let text = crate::extract::normalise(&e.text().collect::<String>());
        if text.is_empty() {
            continue;
        }
        let n = LEAD_NUM
            .captures(&text)
            .and_then(|c| c.get(1).or_else(|| c.get(2)))
            .and_then(|m| m.as_str().parse().ok())
            .unwrap_or(next);
        next = n + 1;
        let url = e
            .select(&A_SEL)
            .find_map(|a| a.value().attr("href").and_then(|h| source_url(h, base)));
        match url {
            Some(u) => {
                out.items.entry(n).or_insert((u, text));
            }
            // An entry whose only links are site pages is not a source; one with none is
            // a source the page names without an address.
            None if e.select(&A_SEL).next().is_none() => out.without_url.push(text),
            None => {}
        }
    }
    out
}

fn claim_review(doc: &Html, d: &mut Draft) {
    let sel = Selector::parse(r#"script[type="application/ld+json"]"#).expect("static selector");
    let mut headline = None;
    for s in doc.select(&sel) {
        let text: String = s.text().collect();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
            continue;
        };
        let mut stack = vec![&v];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Array(a) => stack.extend(a.iter().rev()),
                serde_json::Value::Object(o) => {
                    if let Some(g) = o.get("@graph") {
                        stack.push(g);
                    }
                    let types: Vec<&str> = match o.get("@type") {
                        Some(serde_json::Value::String(t)) => vec![t.as_str()],
                        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|t| t.as_str()).collect(),
                        _ => vec![],
                    };
                    let str_of = |k: &str| {
                        o.get(k)
                            .and_then(|x| x.as_str())
                            .map(crate::extract::normalise)
                            .filter(|x| !x.is_empty())
                    };
                    if types.contains(&"ClaimReview") && !d.claim_review {
                        d.claim_review = true;
                        d.title = str_of("claimReviewed")
                            .or_else(|| str_of("headline"))
                            .or_else(|| str_of("name"));
                        d.checked = str_of("datePublished").and_then(|t| iso_date(&t));
                    } else if headline.is_none() && types.iter().any(|t| t.ends_with("Article")) {
                        headline = str_of("headline");
                    }
                }
                _ => {}
            }
        }
    }
    if d.title.is_none() {
        d.title = headline;
    }
}

fn meta(doc: &Html, property: &str) -> Option<String> {
    let sel = Selector::parse(&format!(
        r#"meta[property="{property}"], meta[name="{property}"]"#
    ))
    .ok()?;
    doc.select(&sel)
        .find_map(|m| m.value().attr("content"))
        .map(crate::extract::normalise)
        .filter(|s| !s.is_empty())
}

fn first_text(doc: &Html, sel: &str) -> Option<String> {
    let sel = Selector::parse(sel).ok()?;
    doc.select(&sel)
        .map(|e| crate::extract::normalise(&e.text().collect::<String>()))
        .find(|t| !t.is_empty())
}

/// `2025-11-26T08:00:00Z` → `2025-11-26`.
fn iso_date(s: &str) -> Option<String> {
    let head = s.get(..10)?;
    chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .ok()
        .map(|d| d.to_string())
}

/// "November 26, 2025", "26 November 2025", "2025-11-26", "Nov. 26, 2025" → `2025-11-26`.
fn parse_date(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.').replace('.', "");
    for f in [
        "%B %d, %Y",
        "%b %d, %Y",
        "%d %B %Y",
        "%d %b %Y",
        "%Y-%m-%d",
        "%B %d %Y",
    ] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(&s, f) {
            return Some(d.to_string());
        }
    }
    iso_date(&s)
}

/// The last non-empty path segment, without an extension: a default article id.
fn slug_of(url: &Url) -> Option<String> {
    let seg = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    let seg = seg
        .rsplit_once('.')
        .map_or(seg, |(stem, ext)| if ext.len() <= 5 { stem } else { seg });
    let slug = slugify(seg);
    // A bare number ("/article/123456") names nothing.
    (slug.len() >= 3 && !slug.bytes().all(|b| b.is_ascii_digit() || b == b'-')).then_some(slug)
}

/// A plain article id from any text: lower-case ASCII letters and digits joined by `-`, at
/// most 60 bytes, cut at a word.
pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') && c != '\'' && c != '’' {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_owned();
    if out.len() > 60 {
        let cut = out[..60].rfind('-').unwrap_or(60);
        out.truncate(cut);
    }
    out
}

/// A key for "is this paragraph part of the main text": its letters only, lower-cased (digits
/// and markers differ between the extractor's text and the paragraph's).
fn letters_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect()
}

fn sentence_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    for s in split::sentences(text) {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        if let Some(i) = text[from..].find(s) {
            let start = from + i;
            out.push((start, start + s.len()));
            from = start + s.len();
        }
    }
    if out.is_empty() && !text.trim().is_empty() {
        out.push((0, text.len()));
    }
    out
}

fn marker_re() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[\s*\d{1,4}(?:\s*[-–,]\s*\d{1,4})*\s*\]").expect("static regex"));
    &RE
}

/// `[1]`, `[1, 2]`, `[3-5]` → the numbers it names.
fn parse_marker_nums(m: &str) -> Vec<u32> {
    let inner = m.trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once(['-', '–']) {
            if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>())
                && a <= b
                && b - a < 100
            {
                out.extend(a..=b);
            }
        } else if let Ok(n) = part.parse() {
            out.push(n);
        }
    }
    out
}

fn markers_in(s: &str) -> Vec<Vec<u32>> {
    marker_re()
        .find_iter(s)
        .map(|m| parse_marker_nums(m.as_str()))
        .collect()
}

/// The sentence with ` [a] [b]` before its final punctuation.
fn with_markers(sentence: &str, nums: &[u32]) -> String {
    let mut seen = Vec::new();
    for n in nums {
        if !seen.contains(n) {
            seen.push(*n);
        }
    }
    if seen.is_empty() {
        return sentence.to_owned();
    }
    let marks: Vec<String> = seen.iter().map(|n| format!("[{n}]")).collect();
    let cut = sentence
        .char_indices()
        .rev()
        .take_while(|(_, c)| {
            matches!(
                c,
                '.' | '!' | '?' | '…' | '"' | '”' | '’' | '\'' | ')' | ':' | ';'
            )
        })
        .last()
        .map_or(sentence.len(), |(i, _)| i);
    let (body, tail) = sentence.split_at(cut);
    format!("{} {}{tail}", body.trim_end(), marks.join(" "))
}

/// Spaces left where markers were taken out: "troops  [2] ." → "troops [2].".
fn tidy_removed_markers(s: &str) -> String {
    static SP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[ \t]+([.,;:!?])").expect("static regex"));
    static MULTI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[ \t]{2,}").expect("static regex"));
    let s = MULTI.replace_all(s, " ");
    SP.replace_all(&s, "$1").into_owned()
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// A TOML basic string.
fn basic_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML multi-line basic string (`"""…"""`), escaping what must be.
fn multiline_string(s: &str) -> String {
    let mut out = String::from("\"\"\"\n");
    let mut quotes = 0;
    for c in s.chars() {
        if c == '"' {
            quotes += 1;
            if quotes == 3 {
                out.push_str("\\\"");
                quotes = 0;
                continue;
            }
            out.push('"');
            continue;
        }
        quotes = 0;
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push('\n'),
            '\t' => out.push('\t'),
            '\r' => {}
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    if out.ends_with('"') {
        out.push_str("\\\n");
    } else {
        out.push('\n');
    }
    out.push_str("\"\"\"");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_go_before_the_full_stop() {
        assert_eq!(with_markers("It rose 5%.", &[2, 1, 2]), "It rose 5% [2] [1].");
        assert_eq!(with_markers("He said “no.”", &[1]), "He said “no [1].”");
        assert_eq!(with_markers("No stop", &[3]), "No stop [3]");
    }

    #[test]
    fn toml_strings_round_trip() {
        let tricky = "a \"\"\" b \\ c\n\"quoted\"";
        let t = format!("x = {}\ny = {}", basic_string(tricky), multiline_string(tricky));
        let v: toml::Table = toml::from_str(&t).unwrap();
        assert_eq!(v["x"].as_str(), Some(tricky));
        assert_eq!(v["y"].as_str().map(str::trim_end), Some(tricky));
    }

    #[test]
    fn dates_and_slugs() {
        assert_eq!(parse_date("November 26, 2025").as_deref(), Some("2025-11-26"));
        assert_eq!(parse_date("26 Nov. 2025").as_deref(), Some("2025-11-26"));
        assert_eq!(
            iso_date("2024-03-05T10:00:00+00:00").as_deref(),
            Some("2024-03-05")
        );
        assert_eq!(
            slugify("What is the U.S. role in Kosovo?"),
            "what-is-the-u-s-role-in-kosovo"
        );
        let u = Url::parse("https://example.org/factchecks/2024/mar/05/claim-about-x/").unwrap();
        assert_eq!(slug_of(&u).as_deref(), Some("claim-about-x"));
        let u = Url::parse("https://example.org/article/123456").unwrap();
        assert_eq!(slug_of(&u), None);
    }

    #[test]
    fn share_and_author_links_are_not_sources() {
        let base = Url::parse("https://news.example/fact-check/x").unwrap();
        assert!(source_url("https://www.facebook.com/sharer/sharer.php?u=x", Some(&base)).is_none());
        assert!(source_url("/author/jane-doe/", Some(&base)).is_none());
        assert!(source_url("mailto:desk@news.example", Some(&base)).is_none());
        assert!(source_url("#fn1", Some(&base)).is_none());
        assert!(source_url("https://stats.example/table.csv", Some(&base)).is_some());
        assert!(source_url("/2024/other-report", Some(&base)).is_some());
    }

    fn html_draft(body: &str) -> Draft {
        let page = format!(
            "<html><head><title>T</title></head><body><nav><a href=\"https://menu.example/\">Menu</a></nav><article><h1>T</h1>{body}</article></body></html>"
        );
        let base = Url::parse("https://news.example/checks/t").unwrap();
        from_html(page.as_bytes(), "text/html", Some(&base))
    }

    fn cites_of(d: &Draft) -> Vec<(String, Vec<u32>)> {
        d.statements()
            .into_iter()
            .map(|u| (u.text, u.cites.into_iter().map(|c| c.0).collect()))
            .collect()
    }

    #[test]
    fn wikipedia_style_references_and_direct_marker_links() {
        let d = html_draft(
            "<p>The bridge opened in 1932 and carries about 160,000 vehicles a day.<sup class=\"reference\"><a href=\"#cite_note-2\">[2]</a></sup> \
             Its arch spans 503 metres.<a href=\"https://arch.example/spec\">[1]</a></p>\
             <h2>References</h2><ol class=\"references\">\
             <li id=\"cite_note-1\"><a href=\"#cite_ref-1\">^</a> Spec sheet.</li>\
             <li id=\"cite_note-2\"><a href=\"#cite_ref-2\">^</a> <a class=\"external\" href=\"https://traffic.example/2024\">Traffic counts 2024</a></li></ol>",
        );
        assert_eq!(
            cites_of(&d),
            vec![
                (
                    "The bridge opened in 1932 and carries about 160,000 vehicles a day.".to_owned(),
                    vec![2]
                ),
                ("Its arch spans 503 metres.".to_owned(), vec![1]),
            ]
        );
        assert_eq!(d.sources[&1].0.as_str(), "https://arch.example/spec");
        assert_eq!(d.sources[&2].0.as_str(), "https://traffic.example/2024");
        assert!(
            !d.sources
                .values()
                .any(|(u, _)| u.host_str() == Some("menu.example"))
        );
    }

    #[test]
    fn an_unresolved_marker_is_taken_out_and_reported() {
        let d = html_draft(
            "<p>Rents rose 9% in a year [7]. Wages rose 4% over the same period, <a href=\"https://stats.example/wages\">official data</a> show.</p>",
        );
        assert_eq!(
            cites_of(&d),
            vec![(
                "Wages rose 4% over the same period, official data show.".to_owned(),
                vec![1]
            )]
        );
        assert!(d.prose.contains("Rents rose 9% in a year."), "{}", d.prose);
        assert_eq!(
            d.unresolved,
            vec!["marker [7]: no source URL found for it (removed from its sentence)".to_owned()]
        );
    }

    #[test]
    fn text_with_markers_and_urls() {
        let d = from_text(
            "A title\n\nChecked on November 26, 2025\n\nTroops rose [1] [2]. Nothing here [3].\n\nSources:\n[1] https://a.example/x\n2. https://b.example/y — B\n",
            "t.txt",
        );
        assert_eq!(d.title.as_deref(), Some("A title"));
        assert_eq!(d.checked.as_deref(), Some("2025-11-26"));
        assert_eq!(d.sources.len(), 2);
        assert_eq!(d.prose, "Troops rose [1] [2]. Nothing here.");
        assert_eq!(d.unresolved.len(), 1, "{:?}", d.unresolved);
    }
}
