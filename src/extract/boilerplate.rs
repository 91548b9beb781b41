//! Boilerplate rules: class and id tokens, roles and styles that name page furniture, and
//! the short leftover blocks ("Advertisement", "Share") dropped from the main text.

use super::*;

/// Class or id tokens that name boilerplate (matched whole, after splitting on
/// non-alphanumerics; sorted for binary search).
pub(super) const JUNK_TOKENS: &[&str] = &[
    "ad",
    "ads",
    "adslot",
    "adunit",
    "advert",
    "advertisement",
    "advertising",
    "adverts",
    "author",
    "banner",
    "breadcrumb",
    "breadcrumbs",
    "byline",
    "caption",
    "comment",
    "comments",
    "consent",
    "cookie",
    "cookies",
    "credit",
    "credits",
    "cta",
    "date",
    "dateline",
    "disqus",
    "footer",
    "gdpr",
    "header",
    "labels",
    "masthead",
    "menu",
    "meta",
    "modal",
    "nav",
    "navbar",
    "navigation",
    "newsletter",
    "outbrain",
    "pager",
    "pagination",
    "popular",
    "popup",
    "print",
    "promo",
    "promos",
    "recommended",
    "references",
    "reflist",
    "related",
    "rss",
    "share",
    "sharing",
    "sidebar",
    "signup",
    "skip",
    "social",
    "sponsor",
    "sponsored",
    "sr",
    "subscribe",
    "subscription",
    "taboola",
    "tags",
    "toolbar",
    "trending",
    "visually",
    "widget",
    "widgets",
];

pub(super) fn junk_token(t: &str) -> bool {
    let mut buf = [0u8; 16];
    if t.is_empty() || t.len() > buf.len() {
        return false;
    }
    for (d, s) in buf.iter_mut().zip(t.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..t.len()]).unwrap_or("");
    JUNK_TOKENS.binary_search(&lower).is_ok()
}

/// Readability's positive and negative class/id hints, and stems that mark boilerplate even
/// inside a longer name (`shareButtons`, `relatedArticles`).
pub(super) static POSITIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story")
        .unwrap()
});
pub(super) static NEGATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor|shopping|tags|widget",
    )
    .unwrap()
});
pub(super) static JUNK_STEMS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)cookie|newsletter|advert|sponsor|breadcrumb|sidebar|related|social|share|comments|disqus|outbrain|taboola|paywall|subscri|caption").unwrap()
});

/// Hints by class (or id) value.
pub(super) type HintCache = rustc_hash::FxHashMap<Box<str>, (f32, bool, bool)>;

/// Readability's weight (±25) for a class or id value, whether it marks boilerplate, and whether
/// it marks the article itself (microformats `hentry`, `h-entry`).
pub(super) fn name_hints(s: &str, is_id: bool) -> (f32, bool, bool) {
    if s.is_empty() {
        return (0.0, false, false);
    }
    // A site's pages share their templates' class names, page after page and run after run:
    // each thread remembers the hints of the names it has seen (three regex searches each).
    thread_local! {
        static SEEN: std::cell::RefCell<[HintCache; 2]> = std::cell::RefCell::default();
    }
    // At most this many names per thread, and names past 256 bytes are not kept.
    const SEEN_MAX: usize = 8192;
    let cached = SEEN.with_borrow(|seen| seen[usize::from(is_id)].get(s).copied());
    if let Some(h) = cached {
        return h;
    }
    let h = compute_name_hints(s, is_id);
    if s.len() > 256 {
        return h;
    }
    SEEN.with_borrow_mut(|seen| {
        let map = &mut seen[usize::from(is_id)];
        if map.len() >= SEEN_MAX {
            map.clear();
        }
        map.insert(s.into(), h);
    });
    h
}

pub(super) fn compute_name_hints(s: &str, is_id: bool) -> (f32, bool, bool) {
    let mut w = 0.0;
    if NEGATIVE.is_match(s) {
        w -= 25.0;
    }
    if POSITIVE.is_match(s) {
        w += 25.0;
    }
    let mut junk = false;
    let mut article = false;
    for name in s.split_ascii_whitespace() {
        let lower_starts =
            |p: &str| name.len() > p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes());
        article |= name.eq_ignore_ascii_case("hentry") || name.eq_ignore_ascii_case("h-entry");
        // Taxonomy slugs (`tag-social-media`, `category-advertising`) say nothing about the
        // element; ids made from heading text (`sharing-with-a-single-developer`) neither.
        if lower_starts("tag-")
            || lower_starts("category-")
            || lower_starts("author-")
            || lower_starts("cat-")
        {
            continue;
        }
        if is_id
            && name
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|t| !t.is_empty())
                .count()
                > 3
        {
            continue;
        }
        junk |= JUNK_STEMS.is_match(name) || name.split(|c: char| !c.is_ascii_alphanumeric()).any(junk_token);
    }
    (w, junk, article)
}

pub(super) fn junk_role(role: &str) -> bool {
    matches!(
        role.trim().to_ascii_lowercase().as_str(),
        "navigation"
            | "banner"
            | "contentinfo"
            | "complementary"
            | "search"
            | "dialog"
            | "alertdialog"
            | "menu"
            | "menubar"
            | "toolbar"
            | "alert"
            | "tablist"
            | "button"
    )
}

/// Short blocks that are page furniture, not text ("Advertisement", "Share", "Read more"),
/// lower case and without trailing punctuation.
pub(super) const LEFTOVERS: &[&str] = &[
    "advertisement",
    "advertisements",
    "advert",
    "ad",
    "ads",
    "sponsored",
    "sponsored content",
    "paid content",
    "promoted",
    "share",
    "share this",
    "share this article",
    "share this story",
    "share on facebook",
    "share on twitter",
    "share via email",
    "tweet",
    "email",
    "print",
    "read more",
    "continue reading",
    "continue reading below",
    "read the full story",
    "related",
    "related articles",
    "related stories",
    "related content",
    "more on this story",
    "subscribe",
    "sign up",
    "sign in",
    "log in",
    "comments",
    "view comments",
    "show comments",
    "skip to main content",
    "skip to content",
    "back to top",
    "scroll to continue with content",
    "story continues below advertisement",
    "article continues below",
    "advertisement - scroll to continue",
    "loading",
    "loading…",
    "close",
    "menu",
    "toggle navigation",
    "image",
    "photo",
    "video",
    "copy link",
    "link copied",
    "listen to this article",
    "recommended",
    "most read",
    "most popular",
    "trending",
    "follow us",
    "newsletter",
    "accept all cookies",
    "you may also like",
    "you might also like",
    "don't miss",
    "don’t miss",
    "see more",
    "more stories",
    "also read",
    "read also",
    "read next",
    "more from",
    "this slideshow requires javascript",
    "accept cookies",
];

/// Drops leftover furniture blocks and blocks without a letter or digit.
pub(super) fn is_leftover(b: &str) -> bool {
    if b.len() > 60 {
        return false;
    }
    if !b.chars().any(char::is_alphanumeric) {
        return true;
    }
    let t = b.trim_end_matches(|c: char| c.is_ascii_punctuation() || c == '…' || c.is_whitespace());
    let lower = t.to_lowercase();
    LEFTOVERS.contains(&lower.as_str())
}
