//! `[email]` checked at load time: the `smtp_url` forms, addresses, credentials and timeouts,
//! with messages that name the key and its line. No socket is opened and no file read here;
//! the mail transport (`notify::smtp`) uses [`parse_url`] too.

use std::path::Path;

use lettre::message::Mailbox;

use crate::error::Diagnostic;
use crate::settings::EmailSettings;

/// Which TLS an `smtp_url` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtp://`: plain text.
    None,
    /// `smtp://…?tls=opportunistic`: STARTTLS when offered.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or fail.
    Required,
    /// `smtps://`: TLS from the first byte.
    Wrapper,
}

/// The parts of an `smtp_url` that matter, checked.
#[derive(Debug, Clone)]
pub struct SmtpUrl {
    /// Host name or address (IPv6 in brackets as in the URL).
    pub host: String,
    /// TLS mode.
    pub tls: TlsMode,
    /// User name in the URL (percent-decoded).
    pub username: Option<String>,
    /// Whether the URL carries a password.
    pub has_password: bool,
}

/// Parses and checks an `smtp_url`; the message says what is wrong.
pub fn parse_url(s: &str) -> Result<SmtpUrl, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    let tls_param: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned())
        .collect();
    if let Some((k, _)) = url.query_pairs().find(|(k, _)| k != "tls") {
        return Err(format!("unknown URL parameter `{k}` (only `tls` is understood)"));
    }
    let tls = match (url.scheme(), tls_param.first().map(String::as_str)) {
        ("smtp", None) => TlsMode::None,
        ("smtp", Some("required")) => TlsMode::Required,
        ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
        ("smtps", None) => TlsMode::Wrapper,
        ("smtp" | "smtps", Some(t)) => {
            return Err(format!(
                "`tls={t}` is not understood: use `?tls=required` (STARTTLS) with smtp://, or smtps:// for implicit TLS"
            ));
        }
        (scheme, _) => {
            return Err(format!("scheme `{scheme}` is not smtp:// or smtps://"));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{s}` names no host"))?
        .to_owned();
    let username = (!url.username().is_empty()).then(|| percent_decode(url.username()));
    Ok(SmtpUrl {
        host,
        tls,
        username,
        has_password: url.password().is_some(),
    })
}

/// Decodes `%XX` escapes (a URL's user name and password).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The line of `key` inside the `[table]` of a settings text.
fn line_in_table(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(h) = t.strip_prefix('[') {
            current = h.trim_end_matches(']').trim().to_owned();
            continue;
        }
        if current == table
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(i + 1);
        }
    }
    None
}

/// Checks `[email]` settings; messages name the key and its line. Never opens a socket or
/// reads the CA file; an unset `password_env` variable is a warning (it may be set where the
/// daemon runs).
pub fn validate_email_settings(email: &EmailSettings, path: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let at = |key: &str| line_in_table(text, "email", key).or_else(|| crate::error::find_key_line(text, key));
    let table = line_in_table(text, "email", "smtp_url")
        .or_else(|| text.lines().position(|l| l.trim() == "[email]").map(|i| i + 1));
    if email.to.is_empty() {
        out.push(Diagnostic::error(
            path,
            at("to").or(table),
            "[email].to: give at least one recipient",
        ));
    }
    for t in &email.to {
        if let Err(e) = t.parse::<Mailbox>() {
            out.push(Diagnostic::error(
                path,
                at("to"),
                format!("[email].to: `{t}` is not an address ({e})"),
            ));
        }
    }
    if let Err(e) = email.from.parse::<Mailbox>() {
        out.push(Diagnostic::error(
            path,
            at("from").or(table),
            format!("[email].from: `{}` is not an address ({e})", email.from),
        ));
    }
    let url = match parse_url(&email.smtp_url) {
        Ok(u) => Some(u),
        Err(e) => {
            out.push(Diagnostic::error(
                path,
                at("smtp_url").or(table),
                format!("[email].smtp_url: {e}"),
            ));
            None
        }
    };
    if let Some(u) = &url {
        if u.has_password {
            out.push(Diagnostic::warning(
                path,
                at("smtp_url"),
                "[email].smtp_url carries a password: prefer `password_env`",
            ));
        }
        let has_user = email.username.is_some() || u.username.is_some();
        match &email.password_env {
            Some(var) => {
                if !has_user {
                    out.push(Diagnostic::error(
                        path,
                        at("password_env"),
                        "[email].password_env is set but there is no username: add `username` or put it in smtp_url",
                    ));
                }
                if var.is_empty() {
                    out.push(Diagnostic::error(
                        path,
                        at("password_env"),
                        "[email].password_env: name an environment variable",
                    ));
                } else if std::env::var_os(var).is_none() {
                    out.push(Diagnostic::warning(
                        path,
                        at("password_env"),
                        format!("[email].password_env: the environment variable `{var}` is not set here"),
                    ));
                }
            }
            None if has_user && !u.has_password => {
                out.push(Diagnostic::error(
                    path,
                    at("username").or(at("smtp_url")),
                    "[email].username needs a password: set `password_env` to the name of the environment variable holding it",
                ));
            }
            None => {}
        }
        if email.ca_file.is_some() && u.tls == TlsMode::None {
            out.push(Diagnostic::warning(
                path,
                at("ca_file"),
                "[email].ca_file is unused with plain smtp://: add `?tls=required` or use smtps://",
            ));
        }
    }
    if email.timeout_secs == 0 {
        out.push(Diagnostic::error(
            path,
            at("timeout_secs"),
            "[email].timeout_secs must be at least 1",
        ));
    } else if email.timeout_secs > super::MAX_SMTP_TIMEOUT_SECS {
        out.push(Diagnostic::error(
            path,
            at("timeout_secs"),
            format!(
                "[email].timeout_secs = {} is too large: at most {}",
                email.timeout_secs,
                super::MAX_SMTP_TIMEOUT_SECS
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn url_forms() {
        assert_eq!(parse_url("smtp://127.0.0.1:25").unwrap().tls, TlsMode::None);
        assert_eq!(
            parse_url("smtp://mail.example.org:587?tls=required").unwrap().tls,
            TlsMode::Required
        );
        let u = parse_url("smtps://us%40er@mail.example.org").unwrap();
        assert_eq!(u.tls, TlsMode::Wrapper);
        assert_eq!(u.username.as_deref(), Some("us@er"));
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("smtp://x?tls=maybe").is_err());
        assert!(parse_url("smtp:///nohost").is_err());
        assert!(parse_url("not a url").is_err());
    }

    fn problems(text: &str) -> Vec<Diagnostic> {
        let s: Settings = toml::from_str(text).expect("toml");
        s.validate(Path::new("citewatch.toml"), text)
    }

    #[test]
    fn good_settings_parse() {
        let text = "[email]\nsmtp_url = \"smtp://127.0.0.1:2525?tls=required\"\nfrom = \"citewatch <cw@example.org>\"\nto = [\"desk@example.org\"]\nsend = \"always\"\n";
        let s = Settings::parse(Path::new("citewatch.toml"), text).expect("valid");
        let e = s.email.unwrap();
        assert_eq!(e.send, crate::settings::SendWhen::Always);
        assert_eq!(e.to, vec!["desk@example.org".to_owned()]);
    }

    #[test]
    fn missing_recipient_names_line() {
        let text = "[fetch]\nretries = 1\n\n[email]\nsmtp_url = \"smtp://127.0.0.1:25\"\n";
        let errs = Settings::parse(Path::new("citewatch.toml"), text).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(5));
        assert!(
            errs[0].to_string().starts_with("citewatch.toml:5: [email].to"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn malformed_address_and_url_are_errors_with_lines() {
        let text = "[email]\nsmtp_url = \"htp://mail\"\nfrom = \"not an address\"\nto = [\"desk@example.org\", \"nobody\"]\n";
        let errs = Settings::parse(Path::new("c.toml"), text).unwrap_err();
        let lines: Vec<_> = errs.iter().map(|d| (d.line, d.message.clone())).collect();
        assert!(
            lines.iter().any(|(l, m)| *l == Some(2) && m.contains("smtp_url")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, m)| *l == Some(3) && m.contains("from")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, m)| *l == Some(4) && m.contains("`nobody`")),
            "{lines:?}"
        );
    }

    #[test]
    fn timeout_line_is_found_in_the_email_table() {
        let text = "[fetch]\ntimeout_secs = 5\n[email]\nto = [\"d@example.org\"]\ntimeout_secs = 0\n";
        let p = problems(text);
        assert!(p.iter().any(|d| d.line == Some(5) && d.is_error()), "{p:?}");
    }

    #[test]
    fn credentials_rules() {
        let unset = "CITEWATCH_TEST_SURELY_UNSET_VAR";
        let text = format!(
            "[email]\nsmtp_url = \"smtps://mail.example.org\"\nto = [\"d@example.org\"]\nusername = \"u\"\npassword_env = \"{unset}\"\n"
        );
        let p = problems(&text);
        assert!(p.iter().all(|d| !d.is_error()), "{p:?}");
        assert!(
            p.iter().any(|d| d.line == Some(5) && d.message.contains(unset)),
            "{p:?}"
        );
        let text = "[email]\nto = [\"d@example.org\"]\nusername = \"u\"\n";
        assert!(problems(text).iter().any(|d| d.is_error() && d.line == Some(3)));
        let text = "[email]\nto = [\"d@example.org\"]\npassword_env = \"HOME\"\n";
        assert!(
            problems(text)
                .iter()
                .any(|d| d.is_error() && d.message.contains("no username"))
        );
        let text = "[email]\nsmtp_url = \"smtps://user@mail.example.org\"\nto = [\"d@example.org\"]\n";
        assert!(problems(text).iter().any(|d| d.is_error() && d.line == Some(2)));
        let text = "[email]\nsmtp_url = \"smtp://127.0.0.1:25?tls=sometimes\"\nto = [\"d@example.org\"]\n";
        assert!(problems(text).iter().any(|d| d.is_error() && d.line == Some(2)));
    }
}
