//! Fetched bytes + content type → [`ExtractedText`]: the readable main text as blocks
//! (paragraphs, headings, list items, table rows), white space and entities normalised,
//! boilerplate (navigation, header/footer, asides, forms, banners, hidden elements) dropped.
//!
//! Pure: no I/O. The same function re-extracts stored raw bodies later.

use regex::Regex;
use scraper::{ElementRef, Html, Node, Selector};

/// The text the store keeps and the evidence stage reads: one block per entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractedText {
    /// Blocks in document order, each non-empty and on one line.
    pub blocks: Vec<String>,
}

impl ExtractedText {
    /// One block per line.
    pub fn to_text(&self) -> String {
        let mut s = self.blocks.join("\n");
        s.push('\n');
        s
    }

    /// The inverse of [`ExtractedText::to_text`].
    pub fn from_text(text: &str) -> Self {
        Self {
            blocks: text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The per-source rules from the watchlist, compiled once.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Narrow the page to the elements matching this selector.
    pub selector: Option<Selector>,
    /// Drop blocks matching any of these.
    pub ignore: Vec<Regex>,
}

impl Rules {
    /// Compiles a source's selector and ignore patterns (already checked by `validate`).
    pub fn compile(selector: Option<&str>, ignore: &[String]) -> anyhow::Result<Self> {
        let selector = match selector {
            Some(s) => Some(Selector::parse(s).map_err(|e| anyhow::anyhow!("bad CSS selector `{s}`: {e}"))?),
            None => None,
        };
        let ignore = ignore
            .iter()
            .map(|r| Regex::new(&format!("(?m){r}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { selector, ignore })
    }
}

/// Why a body could not be turned into text.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The PDF could not be read.
    #[error("cannot read PDF: {0}")]
    Pdf(String),
    /// The content type is none of HTML, plain text or PDF.
    #[error("unsupported content type `{0}`")]
    Unsupported(String),
}

/// What kind of document a content type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `text/html`, `application/xhtml+xml` (or no type and the body looks like HTML).
    Html,
    /// `text/plain`.
    Text,
    /// `application/pdf`.
    Pdf,
}

/// The document kind for a `Content-Type` value, or `None` when unsupported.
pub fn doc_kind(content_type: &str, body: &[u8]) -> Option<DocKind> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => Some(DocKind::Html),
        "text/plain" => Some(DocKind::Text),
        "application/pdf" => Some(DocKind::Pdf),
        "" | "application/octet-stream" => {
            if body.starts_with(b"%PDF-") {
                Some(DocKind::Pdf)
            } else {
                Some(DocKind::Html)
            }
        }
        _ => None,
    }
}

/// Extracts the main text of a body.
pub fn extract(body: &[u8], content_type: &str, rules: &Rules) -> Result<ExtractedText, ExtractError> {
    let kind =
        doc_kind(content_type, body).ok_or_else(|| ExtractError::Unsupported(content_type.to_owned()))?;
    let blocks = match kind {
        DocKind::Html => html_blocks(&decode(body, content_type), rules.selector.as_ref()),
        DocKind::Text => decode(body, content_type).lines().map(normalise).collect(),
        DocKind::Pdf => pdf_extract::extract_text_from_mem(body)
            .map_err(|e| ExtractError::Pdf(e.to_string()))?
            .split("\n\n")
            .map(normalise)
            .collect(),
    };
    Ok(ExtractedText {
        blocks: blocks
            .into_iter()
            .filter(|b| !b.is_empty() && !rules.ignore.iter().any(|r| r.is_match(b)))
            .collect(),
    })
}

/// Decodes bytes: `Content-Type` charset, then `<meta charset>`, then a BOM, then lossy UTF-8.
pub fn decode(body: &[u8], content_type: &str) -> String {
    let from_header = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().strip_prefix("charset="))
        .next()
        .and_then(|c| encoding_rs::Encoding::for_label(c.trim_matches('"').as_bytes()));
    let enc = from_header
        .or_else(|| meta_charset(body))
        .or_else(|| encoding_rs::Encoding::for_bom(body).map(|(e, _)| e))
        .unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = enc.decode(body);
    text.into_owned()
}

fn meta_charset(body: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &body[..body.len().min(2048)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let i = head.find("charset=")?;
    let rest = head[i + 8..].trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    encoding_rs::Encoding::for_label(&rest.as_bytes()[..end])
}

/// Folds white space runs to one space and trims.
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg", "iframe",
    "button", "select", "head",
];
const BLOCK: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "tr",
    "div",
    "section",
    "article",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "figcaption",
    "table",
    "ul",
    "ol",
    "main",
    "body",
    "br",
];

fn html_blocks(html: &str, selector: Option<&Selector>) -> Vec<String> {
    let doc = Html::parse_document(html);
    let mut out = Vec::new();
    let mut cur = String::new();
    match selector {
        Some(sel) => {
            for el in doc.select(sel) {
                walk(el, &mut cur, &mut out);
                flush(&mut cur, &mut out);
            }
        }
        None => walk(doc.root_element(), &mut cur, &mut out),
    }
    flush(&mut cur, &mut out);
    out
}

fn flush(cur: &mut String, out: &mut Vec<String>) {
    let n = normalise(cur);
    if !n.is_empty() {
        out.push(n);
    }
    cur.clear();
}

fn walk(el: ElementRef<'_>, cur: &mut String, out: &mut Vec<String>) {
    let name = el.value().name();
    if SKIP.contains(&name)
        || el.value().attr("hidden").is_some()
        || el.value().attr("aria-hidden") == Some("true")
    {
        return;
    }
    let block = BLOCK.contains(&name);
    if block {
        flush(cur, out);
    }
    for child in el.children() {
        match child.value() {
            Node::Text(t) => cur.push_str(t),
            Node::Element(_) => {
                if let Some(e) = ElementRef::wrap(child) {
                    walk(e, cur, out);
                }
            }
            _ => {}
        }
    }
    if block {
        flush(cur, out);
    } else if matches!(name, "td" | "th") {
        cur.push(' ');
    }
}
