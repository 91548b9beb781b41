//! [`RunReport`](crate::report::RunReport) → email: compose, write to the outbox, deliver
//! over SMTP, move to `sent/`. Without `[email]`, messages are written as `.eml` files under
//! `reports/mail/`.

use std::path::Path;

use crate::error::Diagnostic;
use crate::settings::EmailSettings;

/// Checks `[email]` settings; messages name the key and its line.
pub fn validate_email_settings(email: &EmailSettings, path: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let at = |key: &str| crate::error::find_key_line(text, key);
    if email.to.is_empty() {
        out.push(Diagnostic::error(
            path,
            at("to").or(at("smtp_url")),
            "[email].to: give at least one recipient",
        ));
    }
    out
}
