//! Cron expressions → next due times. Accepts the `cron` crate's seconds-first form (6 or 7
//! fields: second minute hour day month weekday \[year\]), the usual 5-field crontab line
//! (minute hour day month weekday), and the shorthands `@hourly`, `@daily`, `@weekly`,
//! `@monthly`, `@yearly`. Times are UTC.
//!
//! The two forms number weekdays differently: crontab uses 0-7 with Sunday = 0 (and 7), the
//! `cron` crate 1-7 with Sunday = 1. A 5-field line is translated to weekday *names* before
//! it reaches the crate, so `1-5` keeps meaning Monday to Friday. Crontab also runs a line
//! whose day-of-month and weekday are both restricted when *either* matches, while the crate
//! requires both; such a 5-field line is rejected rather than silently changed in meaning.
//! [`CronSchedule::describe`] spells out what an expression means, so `validate` can show it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use cron::TimeUnitSpec;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The expression as the user wrote it.
    pub source: String,
    /// The seconds-first expression handed to the `cron` crate.
    normalised: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// The next `n` due times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        self.schedule.after(&after).take(n).collect()
    }

    /// The next due time after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after).next()
    }

    /// The seconds-first expression actually used (a 5-field line gets `0` seconds and
    /// weekday names).
    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    /// What the expression means, in words: "at 06:00 UTC, every day".
    pub fn describe(&self) -> String {
        let s = &self.schedule;
        let secs: Vec<u32> = s.seconds().iter().collect();
        let mins: Vec<u32> = s.minutes().iter().collect();
        let hours: Vec<u32> = s.hours().iter().collect();
        let mut parts = Vec::new();
        if secs.len() == 1 && mins.len() * hours.len() <= 6 {
            let sec = secs[0];
            let times: Vec<String> = hours
                .iter()
                .flat_map(|h| {
                    mins.iter().map(move |m| {
                        if sec == 0 {
                            format!("{h:02}:{m:02}")
                        } else {
                            format!("{h:02}:{m:02}:{sec:02}")
                        }
                    })
                })
                .collect();
            parts.push(format!("at {} UTC", join_and(&times)));
        } else {
            let min = if s.minutes().is_all() {
                "every minute".to_owned()
            } else {
                format!(
                    "minute{} {}",
                    plural(mins.len()),
                    ranges(&mins, |n| n.to_string())
                )
            };
            let hour = if s.hours().is_all() {
                "every hour".to_owned()
            } else {
                format!(
                    "hour{} {} UTC",
                    plural(hours.len()),
                    ranges(&hours, |n| format!("{n:02}"))
                )
            };
            let time = match secs.as_slice() {
                _ if s.seconds().is_all() && s.minutes().is_all() && s.hours().is_all() => {
                    "every second".to_owned()
                }
                [0] if s.minutes().is_all() && s.hours().is_all() => "every minute".to_owned(),
                [0] if s.minutes().is_all() => format!("every minute of {hour}"),
                [0] => format!("at {min} of {hour}"),
                _ => {
                    let sec = if s.seconds().is_all() {
                        "every second".to_owned()
                    } else {
                        format!(
                            "at second{} {}",
                            plural(secs.len()),
                            ranges(&secs, |n| n.to_string())
                        )
                    };
                    format!("{sec} of {min} of {hour}")
                }
            };
            parts.push(time);
        }
        let dom: Vec<u32> = s.days_of_month().iter().collect();
        let dow: Vec<u32> = s.days_of_week().iter().collect();
        let dom_all = s.days_of_month().is_all();
        let dow_all = s.days_of_week().is_all();
        let days = ranges(&dom, |n| n.to_string());
        let weekdays = ranges(&dow, |n| WEEKDAY_NAMES[(n as usize - 1) % 7].to_owned());
        parts.push(match (dom_all, dow_all) {
            (true, true) => "every day".to_owned(),
            (true, false) => format!("on {weekdays}"),
            (false, true) => format!("on day{} {days} of the month", plural(dom.len())),
            (false, false) => format!(
                "on day{} {days} of the month when it is a {weekdays}",
                plural(dom.len())
            ),
        });
        if !s.months().is_all() {
            let months: Vec<u32> = s.months().iter().collect();
            parts.push(format!(
                "in {}",
                ranges(&months, |n| MONTH_NAMES[(n as usize - 1) % 12].to_owned())
            ));
        }
        if let Some(year) = self.normalised.split_whitespace().nth(6)
            && year != "*"
            && year != "?"
        {
            parts.push(format!("in year {year}"));
        }
        parts.join(", ")
    }
}

const WEEKDAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Sorted numbers as "1-5, 7, 9": runs of three or more become a range.
fn ranges(ns: &[u32], name: impl Fn(u32) -> String) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ns.len() {
        let mut j = i;
        while j + 1 < ns.len() && ns[j + 1] == ns[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            out.push(format!("{}-{}", name(ns[i]), name(ns[j])));
        } else {
            out.extend(ns[i..=j].iter().map(|&n| name(n)));
        }
        i = j + 1;
    }
    out.join(", ")
}

/// Parses a cron expression, with a message that says what form is expected.
pub fn parse_cron(expr: &str) -> Result<CronSchedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let normalised = match fields.len() {
        1 if fields[0].starts_with('@') => shorthand(fields[0])
            .ok_or_else(|| {
                format!("`{expr}`: unknown shorthand; use @hourly, @daily, @weekly, @monthly or @yearly")
            })?
            .to_owned(),
        5 => from_crontab(expr, &fields)?,
        6 | 7 => fields.join(" "),
        0 => return Err("the cron expression is empty".to_owned()),
        n => {
            return Err(format!(
                "`{expr}` has {n} field{}; expected 5 (minute hour day month weekday, as in crontab) \
                 or 6-7 (second minute hour day month weekday [year])",
                plural(n)
            ));
        }
    };
    if let Some(msg) = out_of_range(&normalised) {
        return Err(format!("`{expr}`: {msg}"));
    }
    let schedule = cron::Schedule::from_str(&normalised).map_err(|e| {
        // The parser's message spans lines (the expression again, a caret): one line here.
        let text = e.to_string();
        let detail: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == ' '))
            .filter(|l| *l != normalised.as_str() && !l.ends_with(normalised.as_str()))
            .collect();
        let mut msg = format!("`{expr}` is not a valid cron expression: {}", detail.join("; "));
        if fields.len() >= 6 && fields[5].chars().any(|c| c.is_ascii_digit()) {
            msg.push_str(
                " (in the 6-field form weekdays are numbered 1-7 from Sunday = 1; \
                 names such as MON-FRI avoid the confusion)",
            );
        }
        msg
    })?;
    if schedule.after(&Utc::now()).next().is_none() {
        return Err(format!("`{expr}` never comes due (no matching date from now on)"));
    }
    Ok(CronSchedule {
        source: expr.to_owned(),
        normalised,
        schedule,
    })
}

/// A number outside its field's range in the 6-7 field form (`hour 25`), said the way a
/// person reads the field: "the hour is 25; hours are 0-23".
fn out_of_range(normalised: &str) -> Option<String> {
    const FIELDS: [(&str, u32, u32); 7] = [
        ("second", 0, 59),
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of the month", 1, 31),
        ("month", 1, 12),
        ("weekday", 1, 7),
        ("year", 1970, 2099),
    ];
    for (field, &(name, lo, hi)) in normalised.split_whitespace().zip(FIELDS.iter()) {
        for part in field.split(',') {
            // `a-b/step`: the step is not a value of the field.
            let values = part.split('/').next().unwrap_or("");
            for v in values.split('-') {
                if let Ok(n) = v.parse::<u32>()
                    && !(lo..=hi).contains(&n)
                {
                    let hint = if name == "weekday" {
                        " (in the 6-field form weekdays are numbered 1-7 from Sunday = 1; names such as MON-FRI avoid the confusion)"
                    } else {
                        ""
                    };
                    return Some(format!("the {name} is {n}, outside {lo}-{hi}{hint}"));
                }
            }
        }
    }
    None
}

fn shorthand(s: &str) -> Option<&'static str> {
    Some(match s.to_ascii_lowercase().as_str() {
        "@hourly" => "0 0 * * * *",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@weekly" => "0 0 0 * * SUN",
        "@monthly" => "0 0 0 1 * *",
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        _ => return None,
    })
}

/// A 5-field crontab line → the seconds-first form, weekdays as names.
fn from_crontab(expr: &str, f: &[&str]) -> Result<String, String> {
    let restricted = |s: &str| s != "*" && s != "?";
    if restricted(f[2]) && restricted(f[4]) {
        return Err(format!(
            "`{expr}`: crontab runs a line whose day of month ({}) and weekday ({}) are both set \
             when EITHER matches, but citewatch requires both to match; set one of them to *",
            f[2], f[4]
        ));
    }
    let weekday = crontab_weekdays(f[4]).map_err(|e| format!("`{expr}`: weekday field `{}`: {e}", f[4]))?;
    let dom = if f[2] == "?" { "*" } else { f[2] };
    Ok(format!("0 {} {} {} {} {weekday}", f[0], f[1], dom, f[3]))
}

/// A crontab weekday field (0-7, Sunday = 0 or 7, names, ranges, lists, steps) → a list of
/// weekday names the `cron` crate reads unambiguously, or `*`.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".to_owned());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("step `{s}` is not a positive number"))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (crontab_day(a)?, crontab_day(b)?);
            // 7 is Sunday again: `5-7` is Friday to Sunday.
            let b = if b == 0 && a > 0 { 7 } else { b };
            if b < a {
                return Err(format!("range `{range}` runs backwards"));
            }
            (a, b)
        } else {
            let a = crontab_day(range)?;
            // `a/n` runs from a to the end of the week.
            (a, if item.contains('/') { 6 } else { a })
        };
        let mut d = lo;
        while d <= hi {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    if days.iter().all(|&d| d) {
        return Ok("*".to_owned());
    }
    Ok(days
        .iter()
        .enumerate()
        .filter(|&(_, &on)| on)
        .map(|(i, _)| WEEKDAY_NAMES[i].to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(","))
}

/// One crontab weekday: 0-7 (0 and 7 are Sunday) or a name.
fn crontab_day(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!(
                "`{n}` is not a weekday; use 0-7 (0 and 7 are Sunday) or SUN-SAT"
            ))
        };
    }
    let lower = s.to_ascii_lowercase();
    const FULL: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    FULL.iter()
        .position(|full| lower.len() >= 3 && full.starts_with(&lower))
        .map(|i| i as u32)
        .ok_or_else(|| format!("`{s}` is not a weekday; use 0-7 (0 and 7 are Sunday) or SUN-SAT"))
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn weekdays(expr: &str) -> Vec<Weekday> {
        // 2030-01-06 is a Sunday; a week of daily due times starts after it.
        let c = parse_cron(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let mut v: Vec<Weekday> = c
            .upcoming(at(2030, 1, 5), 7)
            .iter()
            .map(|t| t.weekday())
            .collect();
        v.sort_by_key(|w| w.num_days_from_sunday());
        v.dedup();
        v
    }

    #[test]
    fn six_and_seven_fields_pass_through() {
        let c = parse_cron("0 0 6 * * *").unwrap();
        let next = c.upcoming(at(2030, 1, 1), 3);
        assert_eq!(next.len(), 3);
        assert!(
            next.iter()
                .all(|t| t.hour() == 6 && t.minute() == 0 && t.second() == 0)
        );
        assert_eq!(c.normalised(), "0 0 6 * * *");
        let c = parse_cron("30 15 10 1 1 * 2031").unwrap();
        assert_eq!(
            c.next_after(at(2030, 1, 1)),
            Some(Utc.with_ymd_and_hms(2031, 1, 1, 10, 15, 30).unwrap())
        );
    }

    #[test]
    fn five_fields_get_seconds() {
        let c = parse_cron("*/15 * * * *").unwrap();
        assert_eq!(c.normalised(), "0 */15 * * * *");
        let next = c.upcoming(at(2030, 1, 1), 3);
        let mins: Vec<u32> = next.iter().map(|t| t.minute()).collect();
        assert_eq!(mins, [15, 30, 45]);
        assert!(next.iter().all(|t| t.second() == 0));
    }

    #[test]
    fn crontab_weekday_numbers_mean_crontab_days() {
        use Weekday::*;
        assert_eq!(weekdays("0 9 * * 1-5"), [Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(weekdays("0 9 * * 0"), [Sun]);
        assert_eq!(weekdays("0 9 * * 7"), [Sun]);
        assert_eq!(weekdays("0 9 * * 5-7"), [Sun, Fri, Sat]);
        assert_eq!(weekdays("0 9 * * 1,3,5"), [Mon, Wed, Fri]);
        assert_eq!(weekdays("0 9 * * */2"), [Sun, Tue, Thu, Sat]);
        assert_eq!(weekdays("0 9 * * 1-5/2"), [Mon, Wed, Fri]);
        assert_eq!(weekdays("0 9 * * 6,0"), [Sun, Sat]);
        assert_eq!(weekdays("0 9 * * 0-6"), [Sun, Mon, Tue, Wed, Thu, Fri, Sat]);
        assert_eq!(weekdays("0 9 * * MON-FRI"), [Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(weekdays("0 9 * * sat,sun"), [Sun, Sat]);
        assert_eq!(
            parse_cron("0 9 * * 1-5").unwrap().normalised(),
            "0 0 9 * * MON,TUE,WED,THU,FRI"
        );
    }

    #[test]
    fn six_field_weekdays_are_the_crates() {
        use Weekday::*;
        // In the seconds-first form, 1 is Sunday: the crate's numbering, unchanged.
        assert_eq!(weekdays("0 0 9 * * 1"), [Sun]);
        assert_eq!(weekdays("0 0 9 * * MON-FRI"), [Mon, Tue, Wed, Thu, Fri]);
        let e = parse_cron("0 0 9 * * 0").unwrap_err();
        assert!(e.contains("Sunday = 1"), "{e}");
    }

    #[test]
    fn bad_expressions_say_why() {
        let e = parse_cron("0 9 * *").unwrap_err();
        assert!(e.contains("has 4 fields") && e.contains("expected 5"), "{e}");
        let e = parse_cron("0 9 * * 8").unwrap_err();
        assert!(e.contains("`8` is not a weekday"), "{e}");
        let e = parse_cron("0 9 * * 5-1").unwrap_err();
        assert!(e.contains("runs backwards"), "{e}");
        let e = parse_cron("0 9 1 * 1").unwrap_err();
        assert!(e.contains("EITHER"), "{e}");
        let e = parse_cron("0 0 25 * * *").unwrap_err();
        assert_eq!(e, "`0 0 25 * * *`: the hour is 25, outside 0-23");
        let e = parse_cron("61 * * * *").unwrap_err();
        assert!(e.contains("the minute is 61, outside 0-59"), "{e}");
        // The crontab form says which field, on one line (issue 15: "Hours must be less than 23").
        let e = parse_cron("30 25 * * MON-FRI").unwrap_err();
        assert_eq!(e, "`30 25 * * MON-FRI`: the hour is 25, outside 0-23");
        assert!(parse_cron("").unwrap_err().contains("empty"));
        assert!(parse_cron("@sometimes").unwrap_err().contains("shorthand"));
        let e = parse_cron("0 0 0 31 2 *").unwrap_err();
        assert!(e.contains("never comes due"), "{e}");
    }

    #[test]
    fn shorthands() {
        let c = parse_cron("@daily").unwrap();
        assert_eq!(c.describe(), "at 00:00 UTC, every day");
        let c = parse_cron("@weekly").unwrap();
        assert_eq!(c.next_after(at(2030, 1, 1)).unwrap().weekday(), Weekday::Sun);
    }

    #[test]
    fn describes_in_words() {
        let d = |e: &str| parse_cron(e).unwrap().describe();
        assert_eq!(d("0 0 6 * * *"), "at 06:00 UTC, every day");
        assert_eq!(
            d("0 0 */6 * * *"),
            "at 00:00, 06:00, 12:00 and 18:00 UTC, every day"
        );
        assert_eq!(d("30 9 * * 1-5"), "at 09:30 UTC, on Mon-Fri");
        assert_eq!(
            d("0 */15 * * * *"),
            "at minutes 0, 15, 30, 45 of every hour, every day"
        );
        assert_eq!(d("0 0 8 1 * *"), "at 08:00 UTC, on day 1 of the month");
        assert_eq!(d("0 0 8 * 1,7 *"), "at 08:00 UTC, every day, in Jan, Jul");
        assert_eq!(d("* * * * * *"), "every second, every day");
        assert_eq!(d("0 * * * * *"), "every minute, every day");
        assert_eq!(d("0 * 9 * * *"), "every minute of hour 09 UTC, every day");
        assert_eq!(
            d("*/30 5 * * * *"),
            "at seconds 0, 30 of minute 5 of every hour, every day"
        );
        assert_eq!(
            d("0 0 9-17 * * MON-FRI"),
            "at minute 0 of hours 09-17 UTC, on Mon-Fri"
        );
    }
}
