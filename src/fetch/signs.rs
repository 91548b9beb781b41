//! What a page says about itself, as the real web serves it: bot walls (challenge, captcha
//! and "access denied" pages in front of a source), soft 404s (a missing page answered with
//! the home page, a 404-like path, or a friendly "not found" at status 200), and whether its
//! static HTML looks like a shell that a script fills. Pure functions over bytes and URLs.
//!
//! Each rule names what it saw, so the report says why a source was not judged as text.

use url::Url;

/// How much of a body the signature checks read: walls and error pages put their title and
/// markers near the top; a long article is not scanned to its end.
pub const SCAN_BYTES: usize = 64 * 1024;

/// Platform markers that only challenge or block pages carry, whatever the status: (marker
/// in the lower-cased body, what it is).
const WALL_MARKERS: &[(&str, &str)] = &[
    ("/cdn-cgi/challenge-platform/", "Cloudflare challenge"),
    ("cf-browser-verification", "Cloudflare browser check"),
    ("captcha-delivery.com", "DataDome captcha"),
    ("_incapsula_resource", "Imperva Incapsula challenge"),
    ("incapsula incident id", "Imperva Incapsula block page"),
    ("px-captcha", "HUMAN (PerimeterX) captcha"),
    ("_pxhd", "HUMAN (PerimeterX) challenge"),
    ("awswaf", "AWS WAF challenge"),
    ("aws-waf-token", "AWS WAF challenge"),
    ("sucuri website firewall", "Sucuri firewall block page"),
    ("ddos-guard", "DDoS-Guard check"),
    ("errors.edgesuite.net", "Akamai \"Access Denied\" page"),
];

/// Titles of challenge and block pages (lower-cased, matched at the start of the title or
/// of one of its parts): (title, what it is).
const WALL_TITLES: &[(&str, &str)] = &[
    ("just a moment", "Cloudflare \"Just a moment...\" challenge"),
    (
        "attention required",
        "Cloudflare \"Attention Required!\" block page",
    ),
    ("access denied", "\"Access denied\" interstitial"),
    (
        "access to this page has been denied",
        "\"Access denied\" interstitial",
    ),
    ("you have been blocked", "block page"),
    ("request blocked", "block page"),
    ("request rejected", "block page"),
    ("are you a robot", "captcha page"),
    ("are you a human", "captcha page"),
    ("verify you are human", "captcha page"),
    ("human verification", "captcha page"),
    ("bot verification", "captcha page"),
    ("security check", "captcha page"),
    ("pardon our interruption", "bot check"),
    ("captcha", "captcha page"),
    ("ddos-guard", "DDoS-Guard check"),
    ("one more step", "Cloudflare challenge"),
];

/// Captcha widgets: a wall on a 403/429/503, or on a 200 page with almost no text; a
/// captcha on a long page is a contact form.
const CAPTCHA_MARKERS: &[&str] = &[
    "g-recaptcha",
    "recaptcha/api",
    "h-captcha",
    "hcaptcha.com",
    "cf-turnstile",
    "challenges.cloudflare.com/turnstile",
    "captcha",
];

/// At most this many words of visible text for a 200 page with a captcha widget to be taken
/// for a captcha wall.
const CAPTCHA_PAGE_WORDS: usize = 120;

/// Why this answer is a bot wall, or `None`. `status` is the HTTP status, `cf_mitigated` the
/// `cf-mitigated` header, `body` the start of the body (see [`SCAN_BYTES`]).
///
/// Recognised: `cf-mitigated: challenge` on any status; the platform markers of Cloudflare,
/// DataDome, Imperva Incapsula, HUMAN (PerimeterX), AWS WAF, Sucuri, DDoS-Guard and Akamai;
/// challenge and block titles ("Just a moment...", "Attention Required!", "Access denied",
/// "Are you a robot?", "captcha", …); on a 403, 429 or 503, also any captcha widget or an
/// "access denied" anywhere near the top; on a 200, a captcha widget only on a page with
/// almost no text.
pub fn bot_wall(status: u16, cf_mitigated: Option<&str>, body: &[u8]) -> Option<String> {
    bot_wall_in(status, cf_mitigated, &lower_head(body), body)
}

/// [`bot_wall`] with the body's start already lower-cased ([`lower_head`]).
pub fn bot_wall_in(status: u16, cf_mitigated: Option<&str>, head: &str, body: &[u8]) -> Option<String> {
    if cf_mitigated.is_some_and(|v| v.trim().eq_ignore_ascii_case("challenge")) {
        return Some(format!(
            "blocked by a bot wall: HTTP {status} with cf-mitigated: challenge (Cloudflare challenge)"
        ));
    }
    let walled_status = matches!(status, 403 | 429 | 503);
    if !(walled_status || (200..300).contains(&status)) {
        return None;
    }
    let said = |what: &str| Some(format!("blocked by a bot wall: {what} (HTTP {status})"));
    if let Some(title) = title_of(head) {
        for part in title_parts(&title) {
            if let Some((_, what)) = WALL_TITLES.iter().find(|(t, _)| part.starts_with(t)) {
                return said(&format!("{what}, title \u{201c}{}\u{201d}", title.trim()));
            }
        }
    }
    if let Some((_, what)) = WALL_MARKERS.iter().find(|(m, _)| head.contains(m)) {
        return said(what);
    }
    let captcha = CAPTCHA_MARKERS.iter().find(|m| head.contains(*m));
    if walled_status {
        if let Some(m) = captcha {
            return said(&format!("captcha page (`{m}`)"));
        }
        if head.contains("access denied") || head.contains("access to this page has been denied") {
            return said("\"Access denied\" interstitial");
        }
    } else if let Some(m) = captcha
        && visible_words(body, CAPTCHA_PAGE_WORDS + 1) <= CAPTCHA_PAGE_WORDS
    {
        return said(&format!("captcha page with almost no text (`{m}`)"));
    }
    None
}

/// Titles and headings that say "not found", lower-cased: English, German, French, Spanish,
/// Italian, Portuguese, Dutch, and a few more. A part of the title (or the main heading) that
/// is one of these, give or take punctuation and a leading "oops"/"sorry"/"error", says so.
const NOT_FOUND: &[&str] = &[
    // en
    "404",
    "not found",
    "page not found",
    "404 not found",
    "404 page not found",
    "error 404",
    "404 error",
    "file not found",
    "page cannot be found",
    "page can't be found",
    "page could not be found",
    "the page cannot be found",
    "the page could not be found",
    "the page you requested could not be found",
    "the page you were looking for could not be found",
    "the page you are looking for could not be found",
    "the page you're looking for can't be found",
    "page does not exist",
    "page doesn't exist",
    "this page does not exist",
    "this page doesn't exist",
    "page no longer exists",
    "this page no longer exists",
    "we can't find that page",
    "we couldn't find that page",
    "we can't find the page you're looking for",
    "that page can't be found",
    "this page isn't available",
    "content not found",
    "article not found",
    "nothing found",
    "410 gone",
    // de
    "seite nicht gefunden",
    "nicht gefunden",
    "fehler 404",
    "404 seite nicht gefunden",
    "die seite wurde nicht gefunden",
    "die seite konnte nicht gefunden werden",
    "die angeforderte seite wurde nicht gefunden",
    "seite existiert nicht",
    "diese seite existiert nicht",
    "die seite existiert nicht",
    "seite nicht verfügbar",
    // fr
    "page introuvable",
    "page non trouvée",
    "page non trouvee",
    "erreur 404",
    "introuvable",
    "page inexistante",
    "cette page n'existe pas",
    "la page demandée est introuvable",
    "la page que vous recherchez est introuvable",
    "la page demandée n'existe pas",
    // es
    "página no encontrada",
    "pagina no encontrada",
    "no encontrado",
    "no encontrada",
    "error 404 página no encontrada",
    "la página no existe",
    "esta página no existe",
    "no se ha encontrado la página",
    "no se encontró la página",
    "página no disponible",
    // it
    "pagina non trovata",
    "non trovato",
    "non trovata",
    "errore 404",
    "la pagina non esiste",
    "questa pagina non esiste",
    "la pagina richiesta non è stata trovata",
    "pagina non disponibile",
    // pt
    "página não encontrada",
    "pagina nao encontrada",
    "não encontrado",
    "não encontrada",
    "erro 404",
    "a página não existe",
    "esta página não existe",
    "página inexistente",
    // nl
    "pagina niet gevonden",
    "niet gevonden",
    "fout 404",
    "deze pagina bestaat niet",
    "pagina bestaat niet",
    "de pagina is niet gevonden",
    "de pagina kon niet worden gevonden",
    // others
    "nie znaleziono strony",
    "strona nie została znaleziona",
    "sidan hittades inte",
    "siden blev ikke fundet",
    "siden finnes ikke",
    "sivua ei löytynyt",
    "stránka nenalezena",
    "sayfa bulunamadı",
    "страница не найдена",
    "ページが見つかりません",
    "页面不存在",
    "找不到页面",
    "페이지를 찾을 수 없습니다",
];

/// Words a "not found" title is often dressed with, dropped before matching.
const DRESSING: &[&str] = &[
    "oops",
    "sorry",
    "whoops",
    "uh oh",
    "error",
    "erreur",
    "fehler",
    "errore",
    "erro",
    "fout",
    "hoppla",
    "désolé",
    "lo sentimos",
    "ops",
];

/// Why this page's title or main heading (its first `<h1>`) says it was not found, or
/// `None`. `body` is the page's HTML (only its start is read).
pub fn not_found_page(body: &[u8]) -> Option<String> {
    not_found_in(&lower_head(body))
}

/// [`not_found_page`] with the body's start already lower-cased ([`lower_head`]).
pub fn not_found_in(head: &str) -> Option<String> {
    if let Some(title) = title_of(head)
        && title_parts(&title).iter().any(|p| says_not_found(p))
    {
        return Some(format!(
            "soft 404: the page's title says it was not found (\u{201c}{}\u{201d})",
            title.trim()
        ));
    }
    if let Some(h1) = element_text(head, "h1")
        && title_parts(&h1).iter().any(|p| says_not_found(p))
    {
        return Some(format!(
            "soft 404: the page's main heading says it was not found (\u{201c}{}\u{201d})",
            h1.trim()
        ));
    }
    None
}

fn says_not_found(part: &str) -> bool {
    let mut p = part.trim_matches(|c: char| !c.is_alphanumeric()).to_owned();
    // "Oops! Page not found", "Error 404 - Not found", "404: Not Found".
    loop {
        let before = p.len();
        for d in DRESSING {
            if let Some(rest) = p.strip_prefix(d)
                && rest.starts_with(|c: char| !c.is_alphanumeric())
            {
                p = rest.trim_matches(|c: char| !c.is_alphanumeric()).to_owned();
            }
        }
        if let Some(rest) = p.strip_prefix("404")
            && rest.starts_with(|c: char| !c.is_alphanumeric())
            && !rest.trim().is_empty()
        {
            p = rest.trim_matches(|c: char| !c.is_alphanumeric()).to_owned();
        }
        if p.len() == before {
            break;
        }
    }
    let p = p.replace(['\u{2019}', '\u{2018}'], "'");
    let p: String = p.split_whitespace().collect::<Vec<_>>().join(" ");
    NOT_FOUND.contains(&p.as_str())
}

/// Path segments of a 404-like landing page (lower-cased, extension dropped).
const NOT_FOUND_SEGMENTS: &[&str] = &[
    "404",
    "410",
    "notfound",
    "not-found",
    "not_found",
    "pagenotfound",
    "page-not-found",
    "page_not_found",
    "error",
    "errors",
    "error404",
    "error-404",
    "error_404",
    "404-error",
    "fehler",
    "erreur",
    "introuvable",
];

/// Why a fetch of `requested` that landed on `landed` (after redirects) is a soft 404, or
/// `None`: a redirect to a site's home page (from a page that was not one), or to a 404-like
/// path (`/404`, `/notfound`, `/error`, … as a path segment, or `?error=404`-style queries).
pub fn soft_404_redirect(requested: &Url, landed: &Url) -> Option<String> {
    if requested == landed {
        return None;
    }
    let segs = |u: &Url| -> Vec<String> {
        u.path_segments()
            .map(|s| s.filter(|x| !x.is_empty()).map(str::to_ascii_lowercase).collect())
            .unwrap_or_default()
    };
    let (from, to) = (segs(requested), segs(landed));
    let stem = |s: &str| s.split('.').next().unwrap_or(s).to_owned();
    if let Some(seg) = to.iter().find(|s| NOT_FOUND_SEGMENTS.contains(&stem(s).as_str())) {
        if from.iter().any(|s| s == seg) {
            // Already in the requested path (`/errors/…` articles): not a sign.
        } else {
            return Some(format!(
                "soft 404: redirected to a not-found page ({landed}, path segment `{seg}`)"
            ));
        }
    }
    if let Some(q) = landed.query() {
        let q = q.to_ascii_lowercase();
        if ["error=404", "status=404", "code=404", "404=", "notfound"]
            .iter()
            .any(|m| q.contains(m))
            && requested.query().is_none_or(|rq| rq.to_ascii_lowercase() != q)
        {
            return Some(format!("soft 404: redirected to a not-found page ({landed})"));
        }
    }
    if is_home(&to) && !is_home(&from) {
        return Some(format!("soft 404: redirected to the site's home page ({landed})"));
    }
    None
}

/// Whether path segments are a home page: `/`, `/index.html`, `/home`, `/en/`, `/de/index.php`.
fn is_home(segs: &[String]) -> bool {
    let index = |s: &str| {
        let stem = s.split('.').next().unwrap_or(s);
        matches!(
            stem,
            "index" | "default" | "home" | "start" | "accueil" | "inicio"
        )
    };
    let lang = |s: &str| {
        (s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()))
            || (s.len() == 5
                && s.as_bytes()[2] == b'-'
                && s.chars().filter(|c| c.is_ascii_alphabetic()).count() == 4)
    };
    match segs {
        [] => true,
        [a] => index(a) || lang(a),
        [a, b] => lang(a) && index(b),
        _ => false,
    }
}

/// The last segment of `url`'s path replaced by a random name of the same shape (a trailing
/// slash and an extension are kept), without query or fragment: a URL of the same site that
/// surely does not exist.
pub fn random_sibling(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let name = format!("citewatch-probe-{:016x}", rand::random::<u64>());
    let path = url.path();
    let (dir, last) = match path.trim_end_matches('/').rsplit_once('/') {
        Some((d, l)) => (d.to_owned(), l.to_owned()),
        None => (String::new(), path.to_owned()),
    };
    let slash = if path.ends_with('/') && path.len() > 1 {
        "/"
    } else {
        ""
    };
    let ext = last
        .rsplit_once('.')
        .filter(|(stem, e)| {
            !stem.is_empty() && (1..=5).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map(|(_, e)| format!(".{e}"))
        .unwrap_or_default();
    u.set_path(&format!("{dir}/{name}{ext}{slash}"));
    u
}

/// Whether the static HTML loads or carries scripts (`<script` anywhere in the body).
pub fn has_scripts(body: &[u8]) -> bool {
    memchr::memmem::find_iter(body, b"<script").next().is_some()
        || memchr::memmem::find_iter(body, b"<SCRIPT").next().is_some()
}

/// Words of text outside tags, scripts, styles and templates, counted up to `cap` (a cheap
/// upper bound of the page's main text, which only drops more).
pub fn visible_words(body: &[u8], cap: usize) -> usize {
    let mut words = 0;
    let mut i = 0;
    let mut in_word = false;
    let n = body.len();
    while i < n && words < cap {
        let b = body[i];
        if b == b'<' {
            in_word = false;
            // Skip the tag; the content of script, style, template and noscript as well.
            let rest = &body[i + 1..];
            let skip_to: Option<&[u8]> = [
                (&b"script"[..], &b"</script"[..]),
                (b"style", b"</style"),
                (b"template", b"</template"),
                (b"noscript", b"</noscript"),
                (b"!--", b"-->"),
            ]
            .iter()
            .find(|(open, _)| rest.len() >= open.len() && rest[..open.len()].eq_ignore_ascii_case(open))
            .map(|(_, close)| *close);
            if let Some(close) = skip_to {
                match find_ci(&body[i + 1..], close) {
                    Some(off) => i += 1 + off + close.len(),
                    None => return words,
                }
                // The rest of the closing tag (`</script >`).
                if !close.ends_with(b">") {
                    match memchr::memchr(b'>', &body[i.min(n)..]) {
                        Some(off) => i += off + 1,
                        None => return words,
                    }
                }
                continue;
            }
            match memchr::memchr(b'>', rest) {
                Some(off) => i += off + 2,
                None => return words,
            }
            continue;
        }
        if b.is_ascii_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            words += 1;
        }
        i += 1;
    }
    words
}

/// The first `<tag` written in lower or upper case (SIMD searches; mixed case is rare).
fn find_tag(hay: &[u8], lower: &[u8]) -> Option<usize> {
    let upper = lower.to_ascii_uppercase();
    let a = memchr::memmem::find(hay, lower);
    let b = memchr::memmem::find(&hay[..a.unwrap_or(hay.len())], &upper);
    b.or(a)
}

/// Case-insensitive search of an ASCII needle.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut from = 0;
    while let Some(off) = memchr::memchr2(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        &hay[from..],
    ) {
        let at = from + off;
        if hay.len() - at >= needle.len() && hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A page at most this large is scanned whole for bot-wall markers when it answers 2xx;
/// challenge pages are small (Cloudflare's 5–15 KiB, DataDome's and Akamai's about 1 KiB),
/// and a larger page is read for its title and heading only (the bench's 80 KB pages cost
/// 19 µs each then, against 41 µs scanned whole).
pub const SMALL_PAGE: usize = 16 * 1024;

/// What the checks of a 2xx page read, lower-cased: the whole start of a small page
/// ([`SMALL_PAGE`]), else only its `<title>` and first `<h1>` elements, found without
/// decoding or copying the rest (a page that needs no check costs two byte scans).
pub fn page_head(body: &[u8]) -> String {
    if body.len() <= SMALL_PAGE {
        return lower_head(body);
    }
    let scan = &body[..body.len().min(SCAN_BYTES)];
    let mut out = String::new();
    for (open, close) in [(&b"<title"[..], &b"</title"[..]), (b"<h1", b"</h1")] {
        let mut from = 0;
        while let Some(off) = find_tag(&scan[from..], open) {
            let at = from + off;
            let next = scan.get(at + open.len()).copied().unwrap_or(b'>');
            if next == b'>' || next.is_ascii_whitespace() {
                let end = find_ci(&scan[at..], close).map_or(scan.len(), |e| at + e + close.len());
                out.push_str(&String::from_utf8_lossy(&scan[at..end]).to_lowercase());
                out.push_str(">\n");
                break;
            }
            from = at + open.len();
        }
    }
    out
}

/// The start of a body ([`SCAN_BYTES`]), decoded as lossy UTF-8 and lower-cased.
pub fn lower_head(body: &[u8]) -> String {
    let end = body.len().min(SCAN_BYTES);
    String::from_utf8_lossy(&body[..end]).to_lowercase()
}

/// The `<title>` of lower-cased HTML, entities for quotes and dots decoded, spaces collapsed.
fn title_of(head: &str) -> Option<String> {
    element_text(head, "title")
}

/// The text of the first `<tag …>…</tag>` of lower-cased HTML, inner tags dropped.
fn element_text(head: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}");
    let mut from = 0;
    let start = loop {
        let at = from + head[from..].find(&open)?;
        let after = head[at + open.len()..].chars().next()?;
        if after == '>' || after.is_whitespace() {
            break at;
        }
        from = at + open.len();
    };
    let content_start = start + head[start..].find('>')? + 1;
    let close = format!("</{tag}");
    let end = content_start + head[content_start..].find(&close)?;
    let inner = &head[content_start..end];
    let mut text = String::with_capacity(inner.len());
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&hellip;", "...")
        .replace("&#8230;", "...")
        .replace("&nbsp;", " ")
        .replace("&#39;", "'")
        .replace("&rsquo;", "'")
        .replace("&amp;", "&")
        .replace('\u{2026}', "...");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// A title split where sites join their name to the page's: `|`, ` - `, ` – `, ` — `, `·`,
/// `::`, `:`; the whole title first.
fn title_parts(title: &str) -> Vec<String> {
    let mut parts = vec![title.trim().to_owned()];
    let mut s = title.to_owned();
    for sep in [" - ", " – ", " — ", "·", "::", "|", ":", " • "] {
        s = s.replace(sep, "\u{1}");
    }
    parts.extend(
        s.split('\u{1}')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty()),
    );
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn recognises_bot_walls() {
        let cf = b"<html><head><title>Just a moment...</title></head><body><div id=challenge></div><script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1\"></script></body></html>";
        assert!(bot_wall(403, None, cf).unwrap().contains("Just a moment"));
        assert!(bot_wall(200, None, cf).is_some(), "a 200 challenge is a wall too");
        assert!(
            bot_wall(503, Some("challenge"), b"")
                .unwrap()
                .contains("cf-mitigated")
        );
        let att = b"<title>Attention Required! | Cloudflare</title><p>Sorry, you have been blocked</p>";
        assert!(bot_wall(403, None, att).unwrap().contains("Attention Required"));
        let akamai = b"<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>You don't have permission to access this server. Reference #18.1</BODY></HTML>";
        assert!(bot_wall(403, None, akamai).unwrap().contains("Access denied"));
        let dd = b"<html><body><script src=\"https://ct.captcha-delivery.com/c.js\"></script></body></html>";
        assert!(bot_wall(403, None, dd).unwrap().contains("DataDome"));
        let captcha = b"<html><title>Verify</title><form><div class=\"g-recaptcha\" data-sitekey=x></div></form></html>";
        assert!(bot_wall(429, None, captcha).unwrap().contains("captcha"));
        assert!(bot_wall(200, None, captcha).unwrap().contains("almost no text"));
        // Plain errors and a long page with a contact-form captcha are not walls.
        assert_eq!(
            bot_wall(403, None, b"<title>Forbidden</title><h1>403 Forbidden</h1>"),
            None
        );
        assert_eq!(bot_wall(503, None, b"Service Unavailable"), None);
        let long = format!(
            "<title>Contact us</title><p>{}</p><div class=\"g-recaptcha\"></div>",
            "word ".repeat(300)
        );
        assert_eq!(bot_wall(200, None, long.as_bytes()), None);
        assert_eq!(bot_wall(404, None, cf), None, "a 404 is a 404");
    }

    #[test]
    fn a_large_page_is_read_for_its_title_and_heading() {
        let filler = format!("<p>{}</p>", "word ".repeat(20_000));
        let big = format!("<html><head><TITLE>Page Not Found</TITLE></head><body>{filler}</body></html>");
        let head = page_head(big.as_bytes());
        assert!(head.len() < 100, "{head}");
        assert!(not_found_in(&head).is_some());
        let big = format!(
            "<html><head><title>News</title></head><body><nav>{filler}</nav><H1 class=x>Seite nicht gefunden</H1></body></html>"
        );
        assert!(
            not_found_in(&page_head(big.as_bytes())).is_none(),
            "past SCAN_BYTES"
        );
        let big = format!(
            "<html><head><title>News</title></head><body><H1 class=x>Seite nicht gefunden</H1>{filler}</body></html>"
        );
        assert!(
            not_found_in(&page_head(big.as_bytes()))
                .unwrap()
                .contains("heading")
        );
        let wall = format!("<html><head><title>Just a moment...</title></head><body>{filler}</body></html>");
        assert!(bot_wall_in(200, None, &page_head(wall.as_bytes()), wall.as_bytes()).is_some());
    }

    #[test]
    fn recognises_not_found_titles_and_headings() {
        for t in [
            "Page not found",
            "404 Not Found",
            "Oops! That page can’t be found",
            "Page Not Found | Example News",
            "Example News - 404",
            "Error 404 - Not Found",
            "Seite nicht gefunden – Bundesamt",
            "Page introuvable | Le Monde",
            "Página no encontrada",
            "Pagina non trovata - Comune",
            "Página não encontrada",
            "Pagina niet gevonden | Rijksoverheid",
            "Fehler 404: Seite nicht gefunden",
            "Erreur 404",
            "Страница не найдена",
        ] {
            let page = format!("<html><head><title>{t}</title></head><body>x</body></html>");
            assert!(not_found_page(page.as_bytes()).is_some(), "{t}");
        }
        let h1 = b"<html><head><title>Example News</title></head><body><main><h1 class=x>Sorry, we can't find that page</h1></main></body></html>";
        assert!(not_found_page(h1).unwrap().contains("main heading"));
        for t in [
            "Why 404 errors matter for archives",
            "KFOR troops: not found wanting",
            "The missing page of the Kosovo report",
            "Error budgets in practice",
        ] {
            let page = format!("<html><head><title>{t}</title></head><body><h1>{t}</h1></body></html>");
            assert_eq!(not_found_page(page.as_bytes()), None, "{t}");
        }
    }

    #[test]
    fn recognises_soft_404_redirects() {
        let a = u("https://example.org/news/2025/kfor-troops");
        for landed in [
            "https://example.org/",
            "https://example.org/index.html",
            "https://example.org/en/",
            "https://www.example.org/de/index.php",
            "https://example.org/404",
            "https://example.org/errors/notfound.aspx",
            "https://example.org/pages/page-not-found/",
            "https://example.org/search?error=404",
        ] {
            assert!(soft_404_redirect(&a, &u(landed)).is_some(), "{landed}");
        }
        for landed in [
            "https://example.org/news/2025/kfor-troops/",
            "https://example.org/news/2025/kfor-troops-updated",
            "https://example.org/archive/2025/kfor-troops",
            "https://example.org/news",
        ] {
            assert_eq!(soft_404_redirect(&a, &u(landed)), None, "{landed}");
        }
        // The home page moved to https is not a soft 404.
        assert_eq!(
            soft_404_redirect(&u("http://example.org/"), &u("https://example.org/")),
            None
        );
        // An article about errors stays one.
        assert_eq!(
            soft_404_redirect(&u("http://e.org/error/how-to"), &u("https://e.org/error/how-to")),
            None
        );
    }

    #[test]
    fn random_siblings_keep_the_shape() {
        let s = random_sibling(&u("https://e.org/news/story.html?id=3#p"));
        assert!(
            s.as_str().starts_with("https://e.org/news/citewatch-probe-"),
            "{s}"
        );
        assert!(s.path().ends_with(".html") && s.query().is_none() && s.fragment().is_none());
        let s = random_sibling(&u("https://e.org/news/story/"));
        assert!(
            s.path().starts_with("/news/citewatch-probe-") && s.path().ends_with('/'),
            "{s}"
        );
        let s = random_sibling(&u("https://e.org/"));
        assert!(s.path().starts_with("/citewatch-probe-"), "{s}");
        assert_ne!(
            random_sibling(&u("https://e.org/a")),
            random_sibling(&u("https://e.org/a"))
        );
    }

    #[test]
    fn counts_visible_words_only() {
        let html = b"<html><head><title>T</title><script>var a = 'one two three';</script><style>p { x: y }</style></head><body><!-- a b c --><div id=app></div><p>Hello  brave new world</p></body></html>";
        assert_eq!(visible_words(html, 100), 5);
        assert_eq!(visible_words(html, 2), 2);
        assert!(has_scripts(html));
        assert!(!has_scripts(b"<p>plain</p>"));
    }
}
