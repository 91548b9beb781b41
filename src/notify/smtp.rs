//! `[email]` → an SMTP transport (lettre, rustls), and delivery of one queued message with
//! the failure sorted into transient (retry later) or permanent (5xx: keep, do not retry).

use std::path::Path;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

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

fn percent_decode(s: &str) -> String {
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

/// A failed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The server refused with a 5xx: do not retry automatically.
    pub permanent: bool,
    /// The server could not be reached or talked to (connection, TLS, timeout): the rest of
    /// the queue need not be tried now.
    pub unreachable: bool,
    /// What happened.
    pub message: String,
}

/// A configured transport.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for messages.
    server: String,
    /// Limit for one delivery attempt.
    timeout: Duration,
}

/// Builds the transport from `[email]`; `root` resolves a relative `ca_file`. Reads the CA
/// file and the password variable, opens no connection.
pub fn mailer(email: &EmailSettings, root: &Path) -> Result<Mailer, String> {
    let parsed = parse_url(&email.smtp_url).map_err(|e| format!("[email].smtp_url: {e}"))?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(&email.smtp_url)
        .map_err(|e| format!("[email].smtp_url: {e}"))?;
    if let Some(ca) = &email.ca_file {
        let path = root.join(ca);
        let pem = std::fs::read(&path).map_err(|e| format!("[email].ca_file {}: {e}", path.display()))?;
        let cert =
            Certificate::from_pem(&pem).map_err(|e| format!("[email].ca_file {}: {e}", path.display()))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "[email].ca_file {}: no PEM certificate in it",
                path.display()
            ));
        }
        let host = parsed
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let params = TlsParameters::builder(host)
            .add_root_certificate(cert)
            .build_rustls()
            .map_err(|e| format!("[email].ca_file {}: {e}", path.display()))?;
        b = match parsed.tls {
            TlsMode::None => b,
            TlsMode::Opportunistic => b.tls(Tls::Opportunistic(params)),
            TlsMode::Required => b.tls(Tls::Required(params)),
            TlsMode::Wrapper => b.tls(Tls::Wrapper(params)),
        };
    }
    if let Some(var) = &email.password_env {
        let password = std::env::var(var)
            .map_err(|_| format!("[email].password_env: the environment variable `{var}` is not set"))?;
        let user =
            email.username.clone().or(parsed.username.clone()).ok_or(
                "[email]: password_env is set but no username (give `username` or put it in smtp_url)",
            )?;
        b = b.credentials(Credentials::new(user, password));
    }
    let timeout = Duration::from_secs(email.timeout_secs.max(1));
    let port = url::Url::parse(&email.smtp_url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(match parsed.tls {
            TlsMode::None => 25,
            TlsMode::Opportunistic | TlsMode::Required => 587,
            TlsMode::Wrapper => 465,
        });
    Ok(Mailer {
        transport: b.timeout(Some(timeout)).build(),
        server: format!("{}:{port}", parsed.host),
        timeout,
    })
}

impl Mailer {
    /// Delivers one formatted message to `to` with envelope sender `from`.
    pub async fn send(&self, from: &str, to: &[String], bytes: &[u8]) -> Result<(), Failure> {
        let bad = |m: String| Failure {
            permanent: true,
            unreachable: false,
            message: m,
        };
        let from: Address = from
            .parse()
            .map_err(|e| bad(format!("envelope sender `{from}`: {e}")))?;
        let to: Vec<Address> = to
            .iter()
            .map(|t| t.parse().map_err(|e| bad(format!("recipient `{t}`: {e}"))))
            .collect::<Result<_, _>>()?;
        let envelope = Envelope::new(Some(from), to).map_err(|e| bad(e.to_string()))?;
        // lettre's own timeout covers only the TCP connect; this one covers the whole
        // conversation, so a server that accepts and then stalls cannot hold a run.
        match tokio::time::timeout(self.timeout, self.transport.send_raw(&envelope, bytes)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Failure {
                permanent: e.is_permanent(),
                unreachable: !e.is_permanent() && !e.is_transient(),
                message: format!("{}: {e}", self.server),
            }),
            Err(_) => Err(Failure {
                permanent: false,
                unreachable: true,
                message: format!("{}: no answer within {} s", self.server, self.timeout.as_secs()),
            }),
        }
    }

    /// Closes pooled connections politely (QUIT).
    pub async fn close(&self) {
        let _ = tokio::time::timeout(self.timeout, self.transport.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
