//! A real SMTP server on 127.0.0.1 (tokio, port 0 or a given port) speaking enough of the
//! protocol for lettre: EHLO/HELO (advertising STARTTLS when it has a certificate), STARTTLS
//! (tokio-rustls, certificate from a test CA made by rcgen), MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT. It collects what it accepts; a test can make it refuse
//! with a 4xx or a 5xx, and parse what it received ([`Mail`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// How the server answers `MAIL FROM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 250 all the way.
    Accept,
    /// `451 4.3.0` at MAIL: try again later.
    Refuse4xx,
    /// `550 5.7.1` at MAIL: refused for good.
    Refuse5xx,
    /// Accepts the connection and never says a word (for timeouts).
    Silent,
}

/// Where the server stops answering (for deadlines), or what it does after accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hang {
    /// Answers everything.
    Never,
    /// Never answers `MAIL FROM`.
    AtMail,
    /// Takes the whole message (it is in [`SmtpServer::received`]) and never answers the
    /// final dot: the message was not accepted.
    AfterData,
    /// Accepts the message (250) and never answers `QUIT`.
    AtQuit,
    /// Accepts the message (250) and closes the connection at once.
    DropAfterAccept,
}

/// How long a hang lasts (longer than any test's deadline).
const HANG: std::time::Duration = std::time::Duration::from_secs(60);

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message, dot-unstuffed, CRLF line ends.
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The user that authenticated (AUTH PLAIN), if any.
    pub user: Option<String>,
}

struct Inner {
    mode: Mode,
    hang: Hang,
    received: Vec<Received>,
    mail_commands: usize,
    connections: usize,
    /// When set, AUTH PLAIN is advertised and required with this user and password.
    auth: Option<(String, String)>,
}

/// A CA and a certificate for 127.0.0.1 signed by it.
pub struct TestCa {
    /// The CA certificate, PEM (what `ca_file` points at).
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh CA and server certificate for `127.0.0.1`.
    pub fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "citewatch test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf params");
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf cert");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .expect("server config");
        Self {
            ca_pem: ca.pem(),
            config: Arc::new(config),
        }
    }
}

/// The server; it lives until the test process ends.
#[derive(Clone)]
pub struct SmtpServer {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// A free port on 127.0.0.1 with nothing listening on it (for "server absent"), taken below
/// Linux's ephemeral range (32768–60999) so that no outgoing connection of a parallel test can
/// occupy it before the test starts its server there.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 10_000) as u16;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 2_000;
        let port = base + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl SmtpServer {
    /// A plain server on a random port that accepts everything.
    pub fn start() -> Self {
        Self::start_with(0, None)
    }

    /// A server on `port` (0: random), offering STARTTLS when `tls` is given.
    pub fn start_with(port: u16, tls: Option<&TestCa>) -> Self {
        Self::spawn(port, tls, false)
    }

    /// A server speaking TLS from the first byte (`smtps://`).
    pub fn start_implicit_tls(ca: &TestCa) -> Self {
        Self::spawn(0, Some(ca), true)
    }

    fn spawn(port: u16, tls: Option<&TestCa>, implicit: bool) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            mode: Mode::Accept,
            hang: Hang::Never,
            received: Vec::new(),
            mail_commands: 0,
            connections: 0,
            auth: None,
        }));
        let acceptor = tls.map(|ca| TlsAcceptor::from(ca.config.clone()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind smtp");
                tx.send(listener.local_addr().expect("addr")).expect("send addr");
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let silent = {
                        let mut g = state.lock().unwrap();
                        g.connections += 1;
                        g.mode == Mode::Silent
                    };
                    let state = state.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if silent {
                            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                            drop(tcp);
                            return;
                        }
                        if implicit {
                            let acc = acceptor.expect("implicit TLS needs a certificate");
                            let Ok(tls) = acc.accept(tcp).await else {
                                return;
                            };
                            let mut tls = BufReader::new(tls);
                            let greeting = "220 127.0.0.1 ESMTP citewatch-test\r\n";
                            if reply(&mut tls, greeting).await.is_err() {
                                return;
                            }
                            session(&mut tls, &state, true, false).await;
                            return;
                        }
                        let mut plain = BufReader::new(tcp);
                        if reply(&mut plain, "220 127.0.0.1 ESMTP citewatch-test\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                        let next = session(&mut plain, &state, false, acceptor.is_some()).await;
                        if let (Next::StartTls, Some(acc)) = (next, acceptor) {
                            let Ok(tls) = acc.accept(plain.into_inner()).await else {
                                return;
                            };
                            let mut tls = BufReader::new(tls);
                            session(&mut tls, &state, true, false).await;
                        }
                    });
                }
            });
        });
        let addr = rx.recv().expect("smtp address");
        Self { addr, inner }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How `MAIL FROM` is answered from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = mode;
    }

    /// Where the server stops answering from now on.
    pub fn set_hang(&self, hang: Hang) {
        self.inner.lock().unwrap().hang = hang;
    }

    /// Requires AUTH PLAIN with this user and password from now on.
    pub fn require_auth(&self, user: &str, password: &str) {
        self.inner.lock().unwrap().auth = Some((user.to_owned(), password.to_owned()));
    }

    /// Messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// `MAIL FROM` commands seen (delivery attempts that reached the server).
    pub fn mail_commands(&self) -> usize {
        self.inner.lock().unwrap().mail_commands
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.inner.lock().unwrap().connections
    }
}

enum Next {
    Close,
    StartTls,
}

async fn reply<S: AsyncWrite + Unpin>(s: &mut S, text: &str) -> std::io::Result<()> {
    s.write_all(text.as_bytes()).await?;
    s.flush().await
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    state: &Arc<Mutex<Inner>>,
    tls: bool,
    offer_tls: bool,
) -> Next {
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut user: Option<String> = None;
    loop {
        let mut line = String::new();
        match s.read_line(&mut line).await {
            Ok(0) | Err(_) => return Next::Close,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            let mut a = String::from("250-127.0.0.1 hello\r\n250-8BITMIME\r\n");
            if state.lock().unwrap().auth.is_some() {
                a.push_str("250-AUTH PLAIN\r\n");
            }
            if offer_tls && !tls {
                a.push_str("250-STARTTLS\r\n");
            }
            a.push_str("250 SIZE 10485760\r\n");
            a
        } else if upper.starts_with("HELO") {
            "250 127.0.0.1\r\n".into()
        } else if upper == "STARTTLS" && offer_tls && !tls {
            if reply(s, "220 2.0.0 ready to start TLS\r\n").await.is_err() {
                return Next::Close;
            }
            return Next::StartTls;
        } else if upper.starts_with("AUTH PLAIN ") {
            let expected = state.lock().unwrap().auth.clone();
            let given = base64_decode(cmd["AUTH PLAIN ".len()..].trim());
            let mut fields = given.split(|b| *b == 0).skip(1);
            let (u, p) = (fields.next().unwrap_or(b""), fields.next().unwrap_or(b""));
            match expected {
                Some((eu, ep)) if eu.as_bytes() == u && ep.as_bytes() == p => {
                    user = Some(eu);
                    "235 2.7.0 authentication successful\r\n".into()
                }
                _ => "535 5.7.8 authentication credentials invalid\r\n".into(),
            }
        } else if upper.starts_with("MAIL FROM:") {
            let (mode, needs_auth, hang) = {
                let mut g = state.lock().unwrap();
                g.mail_commands += 1;
                (g.mode, g.auth.is_some(), g.hang)
            };
            if hang == Hang::AtMail {
                tokio::time::sleep(HANG).await;
                return Next::Close;
            }
            match mode {
                _ if needs_auth && user.is_none() => "530 5.7.0 authentication required\r\n".into(),
                Mode::Accept => {
                    from = addr_of(&cmd["MAIL FROM:".len()..]);
                    to.clear();
                    "250 2.1.0 ok\r\n".into()
                }
                Mode::Refuse4xx => "451 4.3.0 mail system busy, try again later\r\n".into(),
                Mode::Refuse5xx => "550 5.7.1 sender not allowed here\r\n".into(),
                Mode::Silent => "421 4.3.2 going silent\r\n".into(),
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(addr_of(&cmd["RCPT TO:".len()..]));
            "250 2.1.5 ok\r\n".into()
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 no recipients\r\n".into()
            } else {
                if reply(s, "354 end data with <CR><LF>.<CR><LF>\r\n").await.is_err() {
                    return Next::Close;
                }
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    match s.read_line(&mut l).await {
                        Ok(0) | Err(_) => return Next::Close,
                        Ok(_) => {}
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                let hang = {
                    let mut g = state.lock().unwrap();
                    g.received.push(Received {
                        from: from.clone(),
                        to: std::mem::take(&mut to),
                        data,
                        tls,
                        user: user.clone(),
                    });
                    g.hang
                };
                match hang {
                    Hang::AfterData => {
                        tokio::time::sleep(HANG).await;
                        return Next::Close;
                    }
                    Hang::DropAfterAccept => {
                        let _ = reply(s, "250 2.0.0 queued\r\n").await;
                        return Next::Close;
                    }
                    _ => {}
                }
                "250 2.0.0 queued\r\n".into()
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            "250 2.0.0 ok\r\n".into()
        } else if upper == "NOOP" {
            "250 2.0.0 ok\r\n".into()
        } else if upper == "QUIT" {
            if state.lock().unwrap().hang == Hang::AtQuit {
                tokio::time::sleep(HANG).await;
                return Next::Close;
            }
            let _ = reply(s, "221 2.0.0 bye\r\n").await;
            return Next::Close;
        } else {
            "502 5.5.2 command not implemented\r\n".into()
        };
        if reply(s, &answer).await.is_err() {
            return Next::Close;
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn addr_of(arg: &str) -> String {
    let a = arg.trim();
    let a = a.split_whitespace().next().unwrap_or("");
    a.trim_start_matches('<').trim_end_matches('>').to_owned()
}

/// A received message taken apart: unfolded top-level headers and decoded MIME parts.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Top-level headers, in order, with folded lines joined.
    pub headers: Vec<(String, String)>,
    /// `(content-type, decoded body)` of each part of a multipart body (or the one body).
    pub parts: Vec<(String, String)>,
}

impl Mail {
    /// Parses what the server received.
    pub fn parse(data: &str) -> Self {
        let (head, body) = data.split_once("\r\n\r\n").expect("header/body separator");
        let headers = parse_headers(head);
        let ctype = header_of(&headers, "content-type").unwrap_or_default();
        let parts = match boundary_of(&ctype) {
            Some(b) => {
                let delim = format!("--{b}");
                body.split(delim.as_str())
                    .skip(1)
                    .filter(|p| !p.starts_with("--"))
                    .map(|p| {
                        let p = p.trim_start_matches("\r\n");
                        let (h, b) = p.split_once("\r\n\r\n").unwrap_or((p, ""));
                        let hs = parse_headers(h);
                        let ct = header_of(&hs, "content-type").unwrap_or_default();
                        let cte = header_of(&hs, "content-transfer-encoding").unwrap_or_default();
                        (ct, decode(b, &cte))
                    })
                    .collect()
            }
            None => {
                let cte = header_of(&headers, "content-transfer-encoding").unwrap_or_default();
                vec![(ctype.clone(), decode(body, &cte))]
            }
        };
        Self { headers, parts }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.headers, name)
    }

    /// The decoded body of the first part whose content type starts with `ctype`.
    pub fn part(&self, ctype: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(ct, _)| ct.to_ascii_lowercase().starts_with(ctype))
            .map(|(_, b)| b.as_str())
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn header_of(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn boundary_of(ctype: &str) -> Option<String> {
    let i = ctype.to_ascii_lowercase().find("boundary=")?;
    let rest = &ctype[i + "boundary=".len()..];
    let b = rest.trim_start_matches('"');
    let end = b.find(['"', ';']).unwrap_or(b.len());
    Some(b[..end].trim().to_owned())
}

fn decode(body: &str, cte: &str) -> String {
    if !cte.eq_ignore_ascii_case("quoted-printable") {
        return body.to_owned();
    }
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if let Some(h) = bytes.get(i + 1..i + 3)
                && let Ok(b) = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 after quoted-printable decoding")
}
