//! Cron expressions → next due times. Accepts the `cron` crate's seconds-first form (6 or 7
//! fields) and the usual 5-field crontab line (minute hour day month weekday), which gets a
//! `0` seconds field.

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The expression as the user wrote it.
    pub source: String,
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
}

/// Parses a cron expression, with a message that says what form is expected.
pub fn parse_cron(expr: &str) -> Result<CronSchedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let normalised = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 | 7 => fields.join(" "),
        n => {
            return Err(format!(
                "`{expr}` has {n} fields; expected 5 (minute hour day month weekday) or 6-7 (seconds first)"
            ));
        }
    };
    let schedule = cron::Schedule::from_str(&normalised)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))?;
    Ok(CronSchedule {
        source: expr.to_owned(),
        schedule,
    })
}
