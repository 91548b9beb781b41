//! Bytes to text: the charset (byte-order mark, `Content-Type`, `<meta charset>`, UTF-8)
//! and the white-space and control-character normalisation every block goes through.

use super::*;

/// Decodes bytes to text.
///
/// Order: a byte-order mark, then the `Content-Type` charset, then `<meta charset>` (or
/// `http-equiv` Content-Type) in the first 4 KiB, then UTF-8, lossily (bad bytes become U+FFFD).
///
/// The issue lists the BOM after the two declarations; this follows the HTML standard's
/// encoding sniffing (and every browser) instead, where a BOM overrides any declaration: a BOM is
/// unambiguous, and a page that has one but declares another charset renders by the BOM.
pub fn decode(body: &[u8], content_type: &str) -> String {
    decode_cow(body, content_type).into_owned()
}

/// [`decode`] without copying a body that is already valid UTF-8.
pub(super) fn decode_cow<'a>(body: &'a [u8], content_type: &str) -> Cow<'a, str> {
    let enc = encoding_rs::Encoding::for_bom(body)
        .map(|(e, _)| e)
        .or_else(|| header_charset(content_type))
        .or_else(|| meta_charset(body))
        .unwrap_or(encoding_rs::UTF_8);
    // `decode` strips a BOM (and would let it override `enc`, which it already does here).
    enc.decode(body).0
}

pub(super) fn header_charset(content_type: &str) -> Option<&'static encoding_rs::Encoding> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        encoding_rs::Encoding::for_label(v.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// The charset a `<meta>` tag declares in the first 4 KiB (the standard's pre-scan reads 1 KiB;
/// some pages put the tag a little later).
pub(super) fn meta_charset(body: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &body[..body.len().min(4096)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = find(&lower[from..], b"<meta") {
        let start = from + i + 5;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        from = end;
        let Some(j) = find(tag, b"charset") else { continue };
        let rest = &tag[j + 7..];
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let rest = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"'"))
            .unwrap_or(rest);
        let len = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.')))
            .unwrap_or(rest.len());
        if let Some(enc) = encoding_rs::Encoding::for_label(&rest[..len]) {
            // The standard: a meta naming UTF-16 means UTF-8 (the tag itself was readable as
            // ASCII), and x-user-defined means windows-1252.
            return Some(if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                encoding_rs::UTF_8
            } else if enc == encoding_rs::X_USER_DEFINED {
                encoding_rs::WINDOWS_1252
            } else {
                enc
            });
        }
    }
    None
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Folds white space runs (including no-break spaces) to one space, drops zero-width and
/// soft-hyphen characters, and trims.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_normalised(&mut out, s);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Appends `t` to `out` with white space folded; `out` never starts with or doubles a space.
/// Runs of kept bytes are copied whole; only non-ASCII characters are decoded.
pub(super) fn push_normalised(out: &mut String, t: &str) {
    const INVISIBLE: [char; 6] = [
        '\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}', '\u{ad}', '\u{2060}',
    ];
    fn space(out: &mut String) {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    let b = t.as_bytes();
    let (mut i, mut run) = (0, 0);
    while i < b.len() {
        if b[i] < 0x80 {
            if b[i] == b' ' && i > run && b[i - 1] != b' ' {
                // One space after kept text stays as it is: the run goes on.
                i += 1;
                continue;
            }
            if b[i].is_ascii_whitespace() {
                out.push_str(&t[run..i]);
                space(out);
                run = i + 1;
            } else if b[i].is_ascii_control() {
                // ESC and friends: source text must not drive the terminal that shows it.
                out.push_str(&t[run..i]);
                run = i + 1;
            }
            i += 1;
            continue;
        }
        // `i` is always on a char boundary: ASCII bytes step by one, others by their length.
        let Some(c) = t[i..].chars().next() else { break };
        let len = c.len_utf8();
        if c.is_whitespace() {
            out.push_str(&t[run..i]);
            space(out);
            run = i + len;
        } else if INVISIBLE.contains(&c) || c.is_control() {
            out.push_str(&t[run..i]);
            run = i + len;
        }
        i += len;
    }
    out.push_str(&t[run..]);
}
