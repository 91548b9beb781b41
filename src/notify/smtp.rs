//! `[email]` → an SMTP client (lettre's connection, rustls), and delivery of one queued
//! message within one deadline from connect to QUIT, with the failure sorted into transient
//! (retry later) or permanent (5xx: keep, do not retry). The checks of `[email]` are
//! [`crate::settings::email`]'s.

use std::path::Path;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use crate::settings::EmailSettings;
pub use crate::settings::email::{SmtpUrl, TlsMode, parse_url, percent_decode};

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

/// A configured SMTP client: one connection per message, one deadline per message.
pub struct Mailer {
    /// Host to connect to (an IPv6 address without brackets).
    host: String,
    port: u16,
    tls: Tls,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// `host:port`, for messages.
    server: String,
    /// Limit for the whole delivery of one message, connect to QUIT.
    timeout: Duration,
}

/// Builds the client from `[email]`; `root` resolves a relative `ca_file`. Reads the CA
/// file and the password variable, opens no connection.
pub fn mailer(email: &EmailSettings, root: &Path) -> Result<Mailer, String> {
    let parsed = parse_url(&email.smtp_url).map_err(|e| format!("[email].smtp_url: {e}"))?;
    let url = url::Url::parse(&email.smtp_url).map_err(|e| format!("[email].smtp_url: {e}"))?;
    let host = parsed
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let params = if parsed.tls == TlsMode::None {
        None
    } else if let Some(ca) = &email.ca_file {
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
        Some(
            TlsParameters::builder(host.clone())
                .add_root_certificate(cert)
                .build_rustls()
                .map_err(|e| format!("[email].ca_file {}: {e}", path.display()))?,
        )
    } else {
        Some(TlsParameters::new(host.clone()).map_err(|e| format!("[email].smtp_url: {e}"))?)
    };
    let tls = match (parsed.tls, params) {
        (TlsMode::Opportunistic, Some(p)) => Tls::Opportunistic(p),
        (TlsMode::Required, Some(p)) => Tls::Required(p),
        (TlsMode::Wrapper, Some(p)) => Tls::Wrapper(p),
        _ => Tls::None,
    };
    let credentials = if let Some(var) = &email.password_env {
        let password = std::env::var(var)
            .map_err(|_| format!("[email].password_env: the environment variable `{var}` is not set"))?;
        let user =
            email.username.clone().or(parsed.username.clone()).ok_or(
                "[email]: password_env is set but no username (give `username` or put it in smtp_url)",
            )?;
        Some(Credentials::new(user, password))
    } else {
        url.password()
            .map(|pw| Credentials::new(percent_decode(url.username()), percent_decode(pw)))
    };
    // As lettre reads the URL: a path names the client in EHLO.
    let hello = match url.path().trim_matches('/') {
        "" => ClientId::default(),
        name => ClientId::Domain(name.to_owned()),
    };
    let port = url.port().unwrap_or(match parsed.tls {
        TlsMode::None => 25,
        TlsMode::Opportunistic | TlsMode::Required => 587,
        TlsMode::Wrapper => 465,
    });
    Ok(Mailer {
        server: format!("{}:{port}", parsed.host),
        host,
        port,
        tls,
        hello,
        credentials,
        timeout: Duration::from_secs(email.timeout_secs.max(1)),
    })
}

impl Mailer {
    /// Delivers one formatted message to `to` with envelope sender `from`, within one
    /// deadline (`timeout_secs`) from connecting to QUIT. `accepted` runs as soon as the server
    /// has accepted the message (its 250 after the data), before QUIT: what it records holds
    /// whatever QUIT does (hangs, or the server drops the connection), so an accepted message
    /// is never sent again. Its result is returned.
    pub async fn send<R>(
        &self,
        from: &str,
        to: &[String],
        bytes: &[u8],
        accepted: impl FnOnce() -> R,
    ) -> Result<R, Failure> {
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
        let deadline = tokio::time::Instant::now() + self.timeout;
        let conversation = async {
            let mut conn = self.connect().await?;
            conn.send(&envelope, bytes).await?;
            Ok::<_, lettre::transport::smtp::Error>(conn)
        };
        let mut conn = match tokio::time::timeout_at(deadline, conversation).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(Failure {
                    permanent: e.is_permanent(),
                    unreachable: !e.is_permanent() && !e.is_transient(),
                    message: format!("{}: {e}", self.server),
                });
            }
            Err(_) => {
                return Err(Failure {
                    permanent: false,
                    unreachable: true,
                    message: format!("{}: no answer within {} s", self.server, self.timeout.as_secs()),
                });
            }
        };
        let out = accepted();
        // Politeness only: the message is delivered whatever QUIT gives.
        if tokio::time::timeout_at(deadline, conn.quit()).await.is_err() {
            tracing::debug!(server = %self.server, "no answer to QUIT within the deadline; the message was accepted");
        }
        Ok(out)
    }

    /// Connects, upgrades to TLS as configured, says EHLO and authenticates.
    async fn connect(&self) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        let wrapper = match &self.tls {
            Tls::Wrapper(p) => Some(p.clone()),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .await?;
        match &self.tls {
            Tls::Opportunistic(p) if conn.can_starttls() => conn.starttls(p.clone(), &self.hello).await?,
            Tls::Required(p) => conn.starttls(p.clone(), &self.hello).await?,
            _ => {}
        }
        if let Some(c) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, c).await?;
        }
        Ok(conn)
    }
}
