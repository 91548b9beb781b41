//! The nesting guard run before any parse: deep or runaway nesting cut at
//! [`MAX_BLOCK_NESTING`], script, style and SVG contents dropped, so both parses stay linear.

use super::*;

// ---------------------------------------------------------------------------------------------
// HTML: nesting guard

/// Deepest nesting kept for the block tags that make html5ever's tree builder scan its stack of
/// open elements on every start tag (quadratic: 100,000 nested `<div>`s take ~50 s to parse).
pub(super) const MAX_BLOCK_NESTING: usize = 512;

/// `name` in lower case when it is short enough to be one of the tags below.
pub(super) fn lower_name(name: &[u8]) -> Option<([u8; 10], usize)> {
    let mut buf = [0u8; 10];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some((buf, name.len()))
}

/// Tags whose start tag closes a `<p>` in button scope (the quadratic case), lower case.
pub(super) fn is_scope_scanning(name: &[u8]) -> bool {
    matches!(
        name,
        b"address"
            | b"article"
            | b"aside"
            | b"blockquote"
            | b"center"
            | b"details"
            | b"dialog"
            | b"dir"
            | b"div"
            | b"dl"
            | b"fieldset"
            | b"figcaption"
            | b"figure"
            | b"footer"
            | b"form"
            | b"header"
            | b"hgroup"
            | b"listing"
            | b"main"
            | b"menu"
            | b"nav"
            | b"ol"
            | b"pre"
            | b"search"
            | b"section"
            | b"summary"
            | b"ul"
    )
}

/// Elements whose content is raw text (no tags inside), lower case.
pub(super) fn is_raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"style" | b"textarea" | b"title" | b"xmp" | b"plaintext" | b"noembed" | b"noframes"
    )
}

/// A cheap lexical pass over the markup before parsing:
/// - when block tags nest deeper than [`MAX_BLOCK_NESTING`], the excess start tags (and as many
///   end tags) are removed, so that the parse stays linear;
/// - the contents of `<script>` and `<style>` (about half the bytes of a typical page, never
///   text) are removed, so that the tokenizer does not walk through them;
/// - so are those of `<svg>` and `<math>`, which the extractor drops whole (not when one nests
///   another of its kind: the first end tag would then close the wrong one).
///
/// A page with neither is returned untouched (no copy).
pub(super) fn prepare(html: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut last = 0;
    scan_tags(html, |start, end, with| {
        if out.capacity() == 0 {
            out.reserve(html.len());
        }
        out.push_str(&html[last..start]);
        out.push_str(with);
        last = end;
    });
    if out.capacity() == 0 {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[last..]);
    Cow::Owned(out)
}

/// Walks the tags of `html`, tracking the nesting of scope-scanning block tags. Calls
/// `cut(start, end, replacement)` for each range to replace: block tags past the nesting limit,
/// script and style contents. Returns the deepest nesting seen. Every offset is at an ASCII
/// byte (`<`, or just after `>`), so on a char boundary.
pub(super) fn scan_tags(html: &str, mut cut: impl FnMut(usize, usize, &'static str)) -> usize {
    let b = html.as_bytes();
    let (mut depth, mut max, mut excess) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &b[i..]) {
        let start = i + off;
        i = start + 1;
        if b[i..].starts_with(b"!--") {
            i = memchr::memmem::find(&b[i..], b"-->").map_or(b.len(), |e| i + e + 3);
            continue;
        }
        let close = b.get(i) == Some(&b'/');
        let ns = if close { i + 1 } else { i };
        let ne = ns + b[ns..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        if ne == ns {
            continue;
        }
        let end = memchr::memchr(b'>', &b[ne..]).map_or(b.len(), |e| ne + e + 1);
        i = end;
        let Some((buf, len)) = lower_name(&b[ns..ne]) else {
            continue;
        };
        let name = &buf[..len];
        if !close && is_raw_text(name) {
            // Skip to the matching end tag; drop the contents of scripts and styles.
            let content_end = find_end_tag(b, i, name);
            if matches!(name, b"script" | b"style") && content_end > i && !b[start..end].ends_with(b"/>") {
                cut(i, content_end, "");
            }
            i = content_end;
            continue;
        }
        if !close && matches!(name, b"svg" | b"math") && b.get(ne).is_some_and(|&c| ends_name(c)) {
            // Foreign content is never text here: drop it whole (icons and charts are a tenth
            // of a typical page's bytes), when that cannot change the parse: the start tag's
            // real end (quotes respected), its own end tag, nothing of its kind nested, and no
            // HTML tag inside that would make the parser leave it.
            let open_end = tag_end(b, ne);
            if b[..open_end].ends_with(b"/>") {
                continue;
            }
            if let Some(content_end) = find_end_tag_exact(b, open_end, name)
                && find_ci(&b[open_end..content_end], &[b"<", name].concat()).is_none()
                && !breaks_out_of_foreign(&b[open_end..content_end])
            {
                cut(open_end, content_end, "");
                i = content_end;
            }
            continue;
        }
        if !is_scope_scanning(name) || b[start..end].ends_with(b"/>") {
            continue;
        }
        if close {
            if excess > 0 {
                excess -= 1;
                cut(start, end, " ");
            } else {
                depth = depth.saturating_sub(1);
            }
        } else if depth >= MAX_BLOCK_NESTING {
            excess += 1;
            max = max.max(depth + excess);
            cut(start, end, " ");
        } else {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

/// Offset of `needle` in `hay`, ASCII case-insensitively.
pub(super) fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = memchr::memchr2(
        needle[0].to_ascii_lowercase(),
        needle[0].to_ascii_uppercase(),
        &hay[from..],
    ) {
        let at = from + p;
        if hay.len() - at >= needle.len() && hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether `c` may follow a tag name (white space, `/` or `>`).
pub(super) fn ends_name(c: u8) -> bool {
    c.is_ascii_whitespace() || c == b'/' || c == b'>'
}

/// The offset just past the `>` that ends the tag whose name ends at `from`, skipping quoted
/// attribute values; the end of `b` if there is none.
pub(super) fn tag_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'>' => return i + 1,
            q @ (b'"' | b'\'') if b[from..i].trim_ascii_end().ends_with(b"=") => {
                i = memchr::memchr(q, &b[i + 1..]).map_or(b.len(), |e| i + 1 + e + 1);
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Offset of the end tag `</name` followed by white space, `/` or `>` (any case), if any.
pub(super) fn find_end_tag_exact(b: &[u8], mut from: usize, name: &[u8]) -> Option<usize> {
    while let Some(p) = memchr::memmem::find(&b[from..], b"</") {
        let at = from + p;
        let n = &b[at + 2..];
        if n.len() > name.len() && n[..name.len()].eq_ignore_ascii_case(name) && ends_name(n[name.len()]) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// The start tags that make an HTML parser leave SVG or MathML content, lower case (`<font>`
/// does only with a color, face or size attribute).
pub(super) const BREAKOUT_TAGS: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];

/// Whether foreign (SVG or MathML) content holds a tag that makes an HTML parser leave it
/// (the "breakout" start tags, `</p>` and `</br>`): cutting it would then lose HTML text.
pub(super) fn breaks_out_of_foreign(content: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'<', &content[i..]) {
        let at = i + p + 1;
        i = at;
        let close = content.get(at) == Some(&b'/');
        let ns = if close { at + 1 } else { at };
        let ne = ns
            + content[ns..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
        if ne == ns || !content.get(ne).is_none_or(|&c| ends_name(c)) {
            continue;
        }
        let name = &content[ns..ne];
        let hit = if close {
            name.eq_ignore_ascii_case(b"p") || name.eq_ignore_ascii_case(b"br")
        } else {
            BREAKOUT_TAGS
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        };
        if hit {
            return true;
        }
    }
    false
}

/// Offset of `</name` (any case) at or after `from`, or the end of `b`.
pub(super) fn find_end_tag(b: &[u8], mut from: usize, name: &[u8]) -> usize {
    while let Some(p) = memchr::memmem::find(&b[from..], b"</") {
        let at = from + p;
        let n = &b[at + 2..];
        if n.len() >= name.len() && n[..name.len()].eq_ignore_ascii_case(name) {
            return at;
        }
        from = at + 2;
    }
    b.len()
}
