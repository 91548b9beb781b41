//! Figures a statement gives approximately, as fact-checks write them: "close to 1,200 beds"
//! for the source's 1,187, "almost 1.5 million trips" for 1.46 million, "more than 200,000
//! tonnes" for 214,000, "nearly two-thirds" for 64%, "two in five" for 40 percent. Each is a
//! range; where the source states no figure exactly as the statement does but one inside the
//! range, the statement is anchored as if it gave that figure ([`Ranges::rewrite`]).

use std::sync::LazyLock;

use regex::Regex;

/// A figure the statement gives approximately: the values it stands for, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Approx {
    lo: f64,
    hi: f64,
    /// The value written, for choosing the nearest of several in range.
    value: f64,
    /// What the page's figure must come with to stand for it: the currency sign before it
    /// and the unit after it (a percentage for a share, "two-thirds").
    pub(super) context: Context,
    /// The statement's canonical form of the figure (`1200`), `None` for a fraction.
    canon: Option<String>,
    /// The bytes of the statement text the source's figure replaces.
    span: (usize, usize),
}

/// What a figure comes with: `£842 million`, `64%`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Context {
    /// `$`, `€` or `£`.
    pub(super) currency: Option<char>,
    /// `%` for a percentage, `million`, `billion`, `trillion` or `thousand`.
    pub(super) unit: Option<&'static str>,
}

impl Context {
    /// The unit after a figure as written (`%`, ` percent`, `bn`, ` million`).
    pub(super) fn unit_of(s: &str) -> Option<&'static str> {
        match s.trim().to_lowercase().as_str() {
            "%" | "percent" | "per cent" => Some("%"),
            "million" | "m" | "mn" => Some("million"),
            "billion" | "bn" => Some("billion"),
            "trillion" | "tn" => Some("trillion"),
            "thousand" | "k" => Some("thousand"),
            _ => None,
        }
    }

    /// Whether a page's figure written with `currency` and `unit` can stand for one with
    /// this context: the same sign and unit where the statement gives them.
    pub(super) fn admits(&self, currency: Option<char>, unit: Option<&str>) -> bool {
        (self.currency.is_none() || self.currency == currency) && (self.unit.is_none() || self.unit == unit)
    }
}

/// A figure with what comes with it, as three groups: the currency sign, the number (with
/// its thousands separators), the unit (`%`, ` per cent`, ` million`, `bn` …).
const FIGURE_PATTERN: &str = r"([$€£])?\s?\b(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(%|\s?percent\b|\s?per cent\b|\s?million\b|\s?billion\b|\s?trillion\b|\s?thousand\b|bn\b|mn\b|m\b|k\b)?";

/// A figure of a text with what comes with it: sign, number, unit.
pub(super) static FIGURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i){FIGURE_PATTERN}")).expect("figure regex"));

/// Hedge words before a figure, and the range each makes of the value `v` (a percentage
/// `v`: points, not a ratio).
fn range_of(hedge: &str, v: f64, percent: bool) -> (f64, f64) {
    if percent {
        return share_range(Some(hedge), v);
    }
    match hedge {
        "nearly" | "almost" | "close to" | "just under" => (v * 0.93, v),
        "more than" | "over" | "upwards of" | "in excess of" | "just over" | "well over" => (v, v * 1.25),
        "less than" | "under" | "fewer than" | "well under" => (v * 0.75, v),
        // about, around, roughly, approximately, some, an estimated
        _ => (v * 0.95, v * 1.05),
    }
}

/// The same for a share of `p` percent: points rather than a ratio.
fn share_range(hedge: Option<&str>, p: f64) -> (f64, f64) {
    match hedge {
        Some(
            "nearly" | "almost" | "close to" | "just under" | "less than" | "under" | "well under"
            | "fewer than",
        ) => (p - 3.5, p),
        Some("more than" | "over" | "upwards of" | "in excess of" | "just over" | "well over") => {
            (p, p + 3.5)
        }
        _ => (p - 1.5, p + 1.5),
    }
}

const HEDGES: &str = r"about|around|roughly|approximately|some|an estimated|close to|nearly|almost|just under|just over|well over|well under|more than|over|upwards of|in excess of|less than|under|fewer than";

static HEDGED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)\b({HEDGES})\s+{FIGURE_PATTERN}")).expect("hedged figure regex")
});

static SHARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(?:({HEDGES})\s+)?(a half|half|(?:a|one)[- ]third|two[- ]thirds|(?:a|one)[- ]quarter|three[- ]quarters|(?:a|one)[- ]fifth|two[- ]fifths|three[- ]fifths|four[- ]fifths|(?:a|one)[- ]tenth|(?:one|two|three|four|nine) in (?:two|three|four|five|ten))\b"
    ))
    .expect("share regex")
});

/// The percentage a share names.
fn share_percent(s: &str) -> Option<f64> {
    let s = s.to_lowercase().replace('-', " ");
    let word = |w: &str| match w {
        "one" | "a" => Some(1.0),
        "two" => Some(2.0),
        "three" => Some(3.0),
        "four" => Some(4.0),
        "five" => Some(5.0),
        "nine" => Some(9.0),
        "ten" => Some(10.0),
        _ => None,
    };
    if let Some((a, b)) = s.split_once(" in ") {
        return Some(word(a)? / word(b)? * 100.0);
    }
    if s.ends_with("half") {
        return Some(50.0);
    }
    let (n, part) = s.split_once(' ')?;
    let of = match part.trim_end_matches('s') {
        "third" => 3.0,
        "quarter" => 4.0,
        "fifth" => 5.0,
        "tenth" => 10.0,
        _ => return None,
    };
    Some(word(n)? / of * 100.0)
}

/// The approximate figures of a statement.
pub(super) fn approximate_figures(text: &str) -> Vec<Approx> {
    let mut out = Vec::new();
    for c in HEDGED.captures_iter(text) {
        let (hedge, num) = (c[1].to_lowercase(), c.get(3).expect("a figure"));
        let context = Context {
            currency: c.get(2).and_then(|m| m.as_str().chars().next()),
            unit: c.get(4).and_then(|m| Context::unit_of(m.as_str())),
        };
        let canon = num.as_str().replace(',', "");
        let Ok(v) = canon.parse::<f64>() else { continue };
        // A year is not approximate ("some 2019 figures"), nor a small count ("about 3").
        if (v < 10.0 && !canon.contains('.')) || (super::is_year(&canon) && !num.as_str().contains(',')) {
            continue;
        }
        let (lo, hi) = range_of(&hedge, v, context.unit == Some("%"));
        out.push(Approx {
            lo,
            hi,
            value: v,
            context,
            canon: Some(canon),
            span: (num.start(), num.end()),
        });
    }
    for c in SHARE.captures_iter(text) {
        let share = c.get(2).expect("a share");
        let Some(p) = share_percent(share.as_str()) else {
            continue;
        };
        let hedge = c.get(1).map(|h| h.as_str().to_lowercase());
        let (lo, hi) = share_range(hedge.as_deref(), p);
        out.push(Approx {
            lo,
            hi,
            value: p,
            context: Context {
                currency: None,
                unit: Some("%"),
            },
            canon: None,
            span: (share.start(), share.end()),
        });
    }
    out.sort_by_key(|a| a.span.0);
    out
}

/// Whether `stem` (a canonical word of a page) is a figure inside one of `ranges`.
pub(super) fn in_any(ranges: &[Approx], stem: &str) -> bool {
    !ranges.is_empty()
        && stem.starts_with(|c: char| c.is_ascii_digit())
        && !super::is_year(stem)
        && stem
            .parse::<f64>()
            .is_ok_and(|v| ranges.iter().any(|r| r.lo <= v && v <= r.hi))
}

/// The statement text with each approximate figure the page does not state as written
/// replaced by the page's figure nearest to it inside its range: `figures` are the page's
/// figures (canonical), `fits` whether the page writes one with a context (see
/// [`Context::admits`]). `None` when nothing is replaced.
pub(super) fn rewrite<'a>(
    text: &str,
    ranges: &[Approx],
    figures: impl Fn() -> Vec<&'a str>,
    on_page: impl Fn(&str) -> bool,
    fits: impl Fn(&str, &Context) -> bool,
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let (mut at, mut changed) = (0, false);
    let mut page: Option<Vec<&str>> = None;
    for r in ranges {
        if r.span.0 < at || r.canon.as_deref().is_some_and(&on_page) {
            continue;
        }
        let figures = page.get_or_insert_with(&figures);
        let best = figures
            .iter()
            .filter_map(|f| f.parse::<f64>().ok().map(|v| (*f, v)))
            .filter(|&(f, v)| r.lo <= v && v <= r.hi && !super::is_year(f) && fits(f, &r.context))
            .min_by(|a, b| (a.1 - r.value).abs().total_cmp(&(b.1 - r.value).abs()));
        let Some((f, v)) = best else { continue };
        out.push_str(&text[at..r.span.0]);
        if r.canon.is_none() {
            // A share written out ("two-thirds") becomes the page's percentage.
            out.push_str(f);
            out.push('%');
        } else if v.fract() == 0.0 && v >= 1000.0 {
            // With its thousands separators, so that it reads as a count, not a year.
            out.push_str(&group_thousands(f));
        } else {
            out.push_str(f);
        }
        at = r.span.1;
        changed = true;
    }
    changed.then(|| {
        out.push_str(&text[at..]);
        out
    })
}

fn group_thousands(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Ordinal dates as the sources write them: "the first of January", "1st January",
/// "January 1st" are "1 January" and "January 1". `None` when the text has none.
pub(super) fn cardinal_dates(text: &str) -> Option<String> {
    static ORDINAL_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(
            r"(?i)\b(?:the\s+)?((?:{ORDINALS})\s+of|\d{{1,2}}(?:st|nd|rd|th)(?:\s+of)?)\s+({MONTHS})\b"
        ))
        .expect("ordinal date regex")
    });
    static ORDINAL_AFTER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"(?i)\b({MONTHS})\s+(\d{{1,2}}(?:st|nd|rd|th))\b")).expect("ordinal date regex")
    });
    let day = |o: &str| -> Option<u32> {
        let o = o.to_lowercase();
        let o = o.strip_suffix(" of").unwrap_or(&o).trim();
        if o.starts_with(|c: char| c.is_ascii_digit()) {
            let digits = o.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            return digits.parse().ok().filter(|d| (1..=31).contains(d));
        }
        ORDINAL_WORDS.iter().position(|w| *w == o).map(|i| i as u32 + 1)
    };
    let once = ORDINAL_BEFORE.replace_all(text, |c: &regex::Captures<'_>| match day(&c[1]) {
        Some(d) => format!("{d} {}", &c[2]),
        None => c[0].to_owned(),
    });
    let twice = ORDINAL_AFTER.replace_all(&once, |c: &regex::Captures<'_>| match day(&c[2]) {
        Some(d) => format!("{} {d}", &c[1]),
        None => c[0].to_owned(),
    });
    (twice != text).then(|| twice.into_owned())
}

const MONTHS: &str = "January|February|March|April|May|June|July|August|September|October|November|December";

const ORDINAL_WORDS: [&str; 31] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty-first",
    "twenty-second",
    "twenty-third",
    "twenty-fourth",
    "twenty-fifth",
    "twenty-sixth",
    "twenty-seventh",
    "twenty-eighth",
    "twenty-ninth",
    "thirtieth",
    "thirty-first",
];

const ORDINALS: &str = "thirty-first|thirtieth|twenty-first|twenty-second|twenty-third|twenty-fourth|twenty-fifth|twenty-sixth|twenty-seventh|twenty-eighth|twenty-ninth|twentieth|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth";

#[cfg(test)]
mod tests {
    use super::*;

    /// `statement` rewritten for a page whose figures are written as in `page` ("£842
    /// million", "64%", "1,187").
    fn rewritten(statement: &str, page: &[&str]) -> Option<String> {
        let written: Vec<(String, Option<char>, Option<&str>)> = page
            .iter()
            .map(|w| {
                let c = FIGURE.captures(w).unwrap();
                (
                    c[2].replace(',', ""),
                    c.get(1).and_then(|m| m.as_str().chars().next()),
                    c.get(3).and_then(|m| Context::unit_of(m.as_str())),
                )
            })
            .collect();
        let ranges = approximate_figures(statement);
        rewrite(
            statement,
            &ranges,
            || written.iter().map(|w| w.0.as_str()).collect(),
            |c| written.iter().any(|w| w.0 == c),
            |f, c| written.iter().any(|w| w.0 == f && c.admits(w.1, w.2)),
        )
    }

    #[test]
    fn hedged_figures_take_the_sources_figure_inside_their_range() {
        let page = [
            "1,187 beds",
            "9,640",
            "£842 million",
            "1.46 million",
            "214,000",
            "2019",
            "12",
            "812",
            "41",
            "93%",
        ];
        let r = |s: &str| rewritten(s, &page);
        assert_eq!(
            r("the trust will run close to 1,200 beds with nearly 10,000 staff").as_deref(),
            Some("the trust will run close to 1,187 beds with nearly 9,640 staff")
        );
        assert_eq!(
            r("a budget of roughly £840 million and almost 1.5 million trips").as_deref(),
            Some("a budget of roughly £842 million and almost 1.46 million trips")
        );
        assert_eq!(
            r("a peak of more than 200,000 tonnes").as_deref(),
            Some("a peak of more than 214,000 tonnes")
        );
        // Stated as written on the page, out of range, a year, a small count: unchanged.
        assert_eq!(r("about 842 staff"), None);
        assert_eq!(r("nearly 1,300 beds"), None);
        assert_eq!(r("more than 1,500 beds"), None);
        assert_eq!(r("some 2020 figures"), None);
        assert_eq!(r("about 12 boats"), None);
        // Money and percentages stand only for figures written the same way: not 812 beds
        // for "£800 million", not Route 41 for "some 40%"; a percentage is taken in points.
        assert_eq!(r("roughly £800 million"), None);
        assert_eq!(r("some 40% of its thickness"), None);
        assert_eq!(r("about 90% once meals are free"), None);
        assert_eq!(r("almost 94% of pupils").as_deref(), Some("almost 93% of pupils"));
        let money = Context {
            currency: Some('£'),
            unit: Some("million"),
        };
        assert!(money.admits(Some('£'), Some("million")));
        assert!(!money.admits(None, Some("million")));
        assert!(!money.admits(Some('£'), None));
        assert!(Context::default().admits(Some('$'), Some("%")));
        assert_eq!(Context::unit_of(" per cent"), Some("%"));
        assert_eq!(Context::unit_of("bn"), Some("billion"));
    }

    #[test]
    fn shares_take_a_percentage_of_the_source_only() {
        let page = [
            "64%",
            "40 percent",
            "22 per cent",
            "18%",
            "34",
            "58 percent",
            "9.6 percent",
        ];
        let r = |s: &str| rewritten(s, &page);
        assert_eq!(
            r("nearly two-thirds of members").as_deref(),
            Some("nearly 64% of members")
        );
        assert_eq!(r("two in five of the fleet").as_deref(), Some("40% of the fleet"));
        assert_eq!(
            r("over a fifth more than in 2024").as_deref(),
            Some("over 22% more than in 2024")
        );
        assert_eq!(
            r("less than a fifth of spending").as_deref(),
            Some("less than 18% of spending")
        );
        assert_eq!(
            r("a rise of almost a tenth").as_deref(),
            Some("a rise of almost 9.6%")
        );
        // 34 is on the page but not as a percentage.
        assert_eq!(r("about a third of them"), None);
        assert_eq!(r("three-quarters of them"), None);
        // 58% is not "some three-fifths" (60%): shares are taken to a point and a half.
        assert_eq!(r("some three-fifths of the total"), None);
        assert_eq!(share_percent("one in four"), Some(25.0));
        assert_eq!(share_percent("Three-Quarters"), Some(75.0));
    }

    #[test]
    fn ordinal_dates_are_written_as_sources_write_them() {
        let r = |s: &str| cardinal_dates(s);
        assert_eq!(
            r("the new limits take effect on the first of January").as_deref(),
            Some("the new limits take effect on 1 January")
        );
        assert_eq!(
            r("from January 1st, and again on the 21st of March").as_deref(),
            Some("from January 1, and again on 21 March")
        );
        assert_eq!(r("on the Twenty-Third of May").as_deref(), Some("on 23 May"));
        // Not dates: "the first of many", "the first March after", "March the second
        // phase", "32nd March".
        assert_eq!(r("the first of many cuts"), None);
        assert_eq!(r("the first March after the vote"), None);
        assert_eq!(r("in March the second phase began"), None);
        assert_eq!(r("the 32nd March"), None);
        assert_eq!(r("on 1 January"), None);
    }

    #[test]
    fn page_figures_in_range_are_indexed() {
        let ranges = approximate_figures("close to 1,200 beds, nearly two-thirds");
        assert!(in_any(&ranges, "1187"));
        assert!(in_any(&ranges, "64"));
        assert!(!in_any(&ranges, "1300"));
        assert!(!in_any(&ranges, "beds"));
        assert!(!in_any(&[], "1187"));
    }
}
