//! When scheduled runs are due: one entry per distinct cron expression (the global
//! `[schedule].cron` and each article's own `schedule`), a random jitter per firing, and a
//! clock that maps UTC due times onto tokio's (pausable) monotonic clock.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::schedule::{CronSchedule, parse_cron};
use crate::workspace::Context;

/// "Now" for the daemon. The system clock reads the wall clock (so a clock step or a
/// suspended machine is caught up on at the next wake-up); a virtual clock reads a UTC time
/// fixed at a tokio [`Instant`](tokio::time::Instant), advanced by tokio's clock, so under
/// `tokio::time::pause()` the scheduler is tested without waiting.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The wall clock.
    System,
    /// `base_utc` at `base_instant`, moving with tokio's clock.
    Virtual {
        /// The tokio instant at which the clock read `base_utc`.
        base_instant: tokio::time::Instant,
        /// The time then.
        base_utc: DateTime<Utc>,
    },
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::System
    }

    /// A virtual clock that reads `utc` at the current tokio instant.
    pub fn starting_at(utc: DateTime<Utc>) -> Self {
        Self::Virtual {
            base_instant: tokio::time::Instant::now(),
            base_utc: utc,
        }
    }

    /// The current UTC time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Virtual {
                base_instant,
                base_utc,
            } => {
                let elapsed = tokio::time::Instant::now().saturating_duration_since(*base_instant);
                *base_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    /// The tokio instant at which the clock reads `at` (now, if `at` is in the past).
    pub fn instant_at(&self, at: DateTime<Utc>) -> tokio::time::Instant {
        let now_utc = self.now();
        let now = tokio::time::Instant::now();
        match (at - now_utc).to_std() {
            // Far-future times (a schedule with no next date) saturate at about a year.
            Ok(d) => now.checked_add(d.min(FAR)).unwrap_or(now),
            Err(_) => now,
        }
    }
}

const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// One schedule: a cron expression and the articles it covers.
#[derive(Debug, Clone)]
struct Entry {
    cron: CronSchedule,
    /// The cron time of the next firing.
    due: DateTime<Utc>,
    /// `due` plus this firing's random jitter.
    fire_at: DateTime<Utc>,
}

/// The schedule of every cron expression in force, keyed by the expression (whitespace
/// normalised). A scheduled run covers the articles whose schedule is that expression;
/// articles without their own `schedule` use `[schedule].cron`.
#[derive(Debug, Clone, Default)]
pub struct Scheduler {
    entries: BTreeMap<String, Entry>,
    jitter: Duration,
}

/// Normalises a cron expression so `0  0 6 * * *` and `0 0 6 * * *` are one schedule.
pub fn cron_key(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The cron expression an article is checked on.
pub fn article_cron<'a>(ctx: &'a Context, article: &'a crate::watchlist::Entry) -> &'a str {
    article
        .schedule
        .as_deref()
        .unwrap_or(ctx.settings.schedule.cron.as_str())
}

/// The articles a scheduled run of `key` covers: empty `Some` list means "all articles";
/// `None` means none are left on that schedule (the run is skipped).
pub fn articles_for(ctx: &Context, key: &str) -> Option<Vec<String>> {
    let ids: Vec<String> = ctx
        .watchlist
        .articles
        .iter()
        .filter(|a| cron_key(article_cron(ctx, a)) == key)
        .map(|a| a.id.0.clone())
        .collect();
    if ids.is_empty() {
        None
    } else if ids.len() == ctx.watchlist.articles.len() {
        Some(Vec::new())
    } else {
        Some(ids)
    }
}

impl Scheduler {
    /// The schedules of `ctx`, first due after `now`.
    pub fn new(ctx: &Context, now: DateTime<Utc>) -> Self {
        let mut s = Self::default();
        s.update(ctx, now);
        s
    }

    /// Takes a reloaded configuration: schedules whose expression is unchanged keep their
    /// next firing; new ones are first due after `now`; ones no article uses are dropped.
    /// Expressions that do not parse are skipped (loading has already reported them).
    pub fn update(&mut self, ctx: &Context, now: DateTime<Utc>) {
        self.jitter = Duration::from_secs(ctx.settings.schedule.jitter_secs);
        let mut wanted: BTreeMap<String, CronSchedule> = BTreeMap::new();
        for a in &ctx.watchlist.articles {
            let key = cron_key(article_cron(ctx, a));
            if wanted.contains_key(&key) {
                continue;
            }
            match parse_cron(&key) {
                Ok(c) => {
                    wanted.insert(key, c);
                }
                Err(e) => tracing::warn!("article {}: schedule not used: {e}", a.id),
            }
        }
        let mut old = std::mem::take(&mut self.entries);
        for (key, cron) in wanted {
            let entry = match old.remove(&key) {
                Some(e) => e,
                None => {
                    let Some(due) = cron.next_after(now) else {
                        tracing::warn!("schedule `{key}` has no future due time");
                        continue;
                    };
                    Entry {
                        fire_at: due + self.jitter_sample(),
                        cron,
                        due,
                    }
                }
            };
            self.entries.insert(key, entry);
        }
    }

    fn jitter_sample(&self) -> chrono::Duration {
        let max = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        if max == 0 {
            return chrono::Duration::zero();
        }
        chrono::Duration::milliseconds(i64::try_from(rand::random_range(0..=max)).unwrap_or(i64::MAX))
    }

    /// The earliest firing time (cron time plus jitter), if any schedule is in force.
    pub fn next_fire(&self) -> Option<DateTime<Utc>> {
        self.entries.values().map(|e| e.fire_at).min()
    }

    /// The earliest cron due time (without jitter), for display.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.entries.values().map(|e| e.due).min()
    }

    /// The schedules whose firing time has come, each once, with its cron due time; each
    /// moves on to its first cron time after `now` (firings missed meanwhile are not
    /// stacked up).
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let jitter: Vec<chrono::Duration> = (0..self.entries.len()).map(|_| self.jitter_sample()).collect();
        let mut out = Vec::new();
        for ((key, e), j) in self.entries.iter_mut().zip(jitter) {
            if e.fire_at > now {
                continue;
            }
            out.push((key.clone(), e.due));
            match e.cron.next_after(now) {
                Some(due) => {
                    e.due = due;
                    e.fire_at = due + j;
                }
                None => {
                    e.due = DateTime::<Utc>::MAX_UTC;
                    e.fire_at = DateTime::<Utc>::MAX_UTC;
                }
            }
        }
        out
    }

    /// Number of schedules in force.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no schedule is in force (empty watchlist).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn far_future_times_do_not_overflow() {
        let clock = Clock::starting_at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let t = clock.instant_at(DateTime::<Utc>::MAX_UTC);
        assert!(t > tokio::time::Instant::now());
        let past = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            clock.instant_at(past),
            tokio::time::Instant::now(),
            "past times are now"
        );
    }

    #[test]
    fn cron_keys_ignore_spacing() {
        assert_eq!(cron_key(" 0  0 6 * * * "), "0 0 6 * * *");
    }
}
