//! The on-disk queue. A message is `<run-id>.eml` (exactly the bytes that go over SMTP) with
//! a `<run-id>.json` sidecar ([`Meta`]: envelope, attempts, last error):
//!
//! - `reports/outbox/`: waiting; retried by every run, the daemon and `outbox --send`.
//! - `reports/outbox/failed/`: permanently refused (5xx); kept, listed, retried only by
//!   `outbox --send`.
//! - `reports/sent/`: accepted by the server.
//!
//! The `.eml` file is the truth: a sidecar without its message is ignored, a message without
//! its sidecar is still listed and sent. Files are written atomically and moved by rename;
//! a sender holds an exclusive lock on the `.eml` while it delivers, so two processes never
//! send the same message.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BaselineKey, RunId};

/// What the sidecar records about one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The run the message reports.
    pub run_id: String,
    /// Its subject.
    pub subject: String,
    /// Envelope sender (empty: take it from the settings at delivery).
    #[serde(default)]
    pub from: String,
    /// Envelope recipients (empty: take them from the settings at delivery).
    #[serde(default)]
    pub to: Vec<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// When it was last tried.
    #[serde(default)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the server accepted it.
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The flags it announces (baseline, the run that raised it). A run that finds one of
    /// them not marked announced in the store (the process died between queueing the message
    /// and marking them) marks it then instead of mailing it again: see
    /// [`Dirs::announcing`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<(BaselineKey, RunId)>,
    /// For a webhook message (`reports/outbox/webhooks/`): where it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Target>,
}

/// Where a webhook message goes, as its `[[notify.webhook]]` said when it was queued (the
/// URL and the token may stay in the environment: only the variables' names are kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The URL, when the settings gave it.
    #[serde(default)]
    pub url: Option<String>,
    /// The variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// The variable holding the bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Limit on one request, seconds.
    pub timeout_secs: u64,
    /// The body's `Content-Type`.
    pub content_type: String,
}

/// Where a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In `reports/outbox/`, retried automatically.
    Waiting,
    /// In `reports/outbox/failed/`: refused permanently.
    Failed,
}

/// One queued message.
#[derive(Debug, Clone)]
pub struct Item {
    /// The `.eml` file.
    pub eml: PathBuf,
    /// Its sidecar.
    pub meta: Meta,
    /// Waiting or failed.
    pub state: State,
}

/// The three folders.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `reports/outbox/`.
    pub outbox: PathBuf,
    /// `reports/outbox/failed/`.
    pub failed: PathBuf,
    /// `reports/sent/`.
    pub sent: PathBuf,
    /// The message files' extension: `eml` for mail, `body` for webhooks.
    pub ext: &'static str,
}

fn sidecar(eml: &Path) -> PathBuf {
    eml.with_extension("json")
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::durable::atomic_write(path, bytes)?;
    Ok(())
}

impl Dirs {
    /// The folders under `reports/`.
    pub fn new(reports: &Path) -> Self {
        let outbox = reports.join("outbox");
        Self {
            failed: outbox.join("failed"),
            sent: reports.join("sent"),
            outbox,
            ext: "eml",
        }
    }

    /// The webhook queue: `reports/outbox/webhooks/` (and its `failed/`), and
    /// `reports/sent/webhooks/`; each message a `.body` (the bytes POSTed) with its sidecar.
    pub fn webhooks(reports: &Path) -> Self {
        let outbox = reports.join("outbox").join("webhooks");
        Self {
            failed: outbox.join("failed"),
            sent: reports.join("sent").join("webhooks"),
            outbox,
            ext: "body",
        }
    }

    /// Writes the sidecar and then the message into `outbox/`; returns the `.eml` path. The
    /// `.eml` appears last, so a concurrent flush never sees a message without its envelope.
    pub fn enqueue(&self, bytes: &[u8], meta: &Meta) -> anyhow::Result<PathBuf> {
        let name: String = meta
            .run_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        anyhow::ensure!(!name.is_empty(), "run id `{}` cannot name a file", meta.run_id);
        self.enqueue_as(&name, bytes, meta)
    }

    /// [`Dirs::enqueue`] under the file name `stem` (plain letters, digits, `-`, `_`).
    pub fn enqueue_as(&self, stem: &str, bytes: &[u8], meta: &Meta) -> anyhow::Result<PathBuf> {
        let eml = self.outbox.join(format!("{stem}.{}", self.ext));
        write(&sidecar(&eml), &serde_json::to_vec_pretty(meta)?)?;
        crate::crash_point!("outbox-sidecar-only");
        write(&eml, bytes)?;
        Ok(eml)
    }

    /// The flags announced by the messages queued (waiting or failed) and by those sent for
    /// runs from `since` on (message names start with their run's sortable id). A message
    /// whose `.eml` is missing (killed between its sidecar and itself) announces nothing.
    pub fn announcing(&self, since: &RunId) -> anyhow::Result<Vec<(BaselineKey, RunId)>> {
        let mut flags: Vec<_> = self.list()?.into_iter().flat_map(|i| i.meta.flags).collect();
        flags.extend(announced_in(&self.sent, self.ext, since)?);
        Ok(flags)
    }

    /// How many messages wait, and how many were refused for good (0, 0 when the folders
    /// cannot be read).
    pub fn counts(&self) -> (usize, usize) {
        self.list().map_or((0, 0), |l| {
            let waiting = l.iter().filter(|i| i.state == State::Waiting).count();
            (waiting, l.len() - waiting)
        })
    }

    /// Everything waiting, then everything failed, each oldest first.
    pub fn list(&self) -> anyhow::Result<Vec<Item>> {
        let mut out = list_dir(&self.outbox, State::Waiting, self.ext)?;
        out.extend(list_dir(&self.failed, State::Failed, self.ext)?);
        Ok(out)
    }

    /// Records a failed attempt in the sidecar, in place.
    pub fn record_failure(&self, item: &mut Item, error: &str) -> anyhow::Result<()> {
        item.meta.attempts += 1;
        item.meta.last_attempt_at = Some(Utc::now());
        item.meta.last_error = Some(error.to_owned());
        write(&sidecar(&item.eml), &serde_json::to_vec_pretty(&item.meta)?)
    }

    /// Notes a problem that stopped an attempt before any server was asked (settings),
    /// without counting an attempt.
    pub fn record_note(&self, item: &mut Item, error: &str) -> anyhow::Result<()> {
        item.meta.last_error = Some(error.to_owned());
        write(&sidecar(&item.eml), &serde_json::to_vec_pretty(&item.meta)?)
    }

    /// Accepted: moves the message to `sent/`; returns its new path.
    pub fn mark_sent(&self, item: &mut Item) -> anyhow::Result<PathBuf> {
        item.meta.attempts += 1;
        item.meta.last_attempt_at = Some(Utc::now());
        item.meta.delivered_at = item.meta.last_attempt_at;
        item.meta.last_error = None;
        let sent = self.sent.clone();
        self.relocate(item, &sent)
    }

    /// Notes in the sidecar, in place, that the server accepted the message (for when it
    /// could not be moved to `sent/`): the next delivery pass moves it without sending it.
    pub fn record_delivered(&self, item: &mut Item) -> anyhow::Result<()> {
        if item.meta.delivered_at.is_none() {
            item.meta.delivered_at = Some(Utc::now());
        }
        write(&sidecar(&item.eml), &serde_json::to_vec_pretty(&item.meta)?)
    }

    /// Moves a message already accepted ([`Dirs::record_delivered`]) to `sent/`.
    pub fn move_delivered(&self, item: &mut Item) -> anyhow::Result<PathBuf> {
        let sent = self.sent.clone();
        self.relocate(item, &sent)
    }

    /// Refused for good: records the error and moves the message to `outbox/failed/`.
    pub fn mark_failed(&self, item: &mut Item, error: &str) -> anyhow::Result<PathBuf> {
        item.meta.attempts += 1;
        item.meta.last_attempt_at = Some(Utc::now());
        item.meta.last_error = Some(error.to_owned());
        let failed = self.failed.clone();
        let p = self.relocate(item, &failed)?;
        item.state = State::Failed;
        Ok(p)
    }

    /// New sidecar in `dest` first, then the message renamed, then the old sidecar removed:
    /// a crash at any point leaves the message in exactly one folder.
    fn relocate(&self, item: &mut Item, dest: &Path) -> anyhow::Result<PathBuf> {
        let name = item
            .eml
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("{} has no file name", item.eml.display()))?;
        let to = dest.join(name);
        if to == item.eml {
            write(&sidecar(&to), &serde_json::to_vec_pretty(&item.meta)?)?;
            return Ok(to);
        }
        write(&sidecar(&to), &serde_json::to_vec_pretty(&item.meta)?)?;
        fs::rename(&item.eml, &to)
            .map_err(|e| anyhow::anyhow!("cannot move {} to {}: {e}", item.eml.display(), to.display()))?;
        if let Err(e) = fs::remove_file(sidecar(&item.eml))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", sidecar(&item.eml).display());
        }
        item.eml = to.clone();
        Ok(to)
    }
}

/// The flags announced by the messages `<name>.<ext>` in `dir` (their sidecars) of runs from
/// `since` on: `reports/sent/`, and `reports/mail/` for the `.eml` files written without
/// `[email]`. A sidecar without its message announces nothing.
pub fn announced_in(dir: &Path, ext: &str, since: &RunId) -> anyhow::Result<Vec<(BaselineKey, RunId)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", dir.display()),
    };
    let mut flags = Vec::new();
    for entry in rd {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(ext).and_then(|n| n.strip_suffix('.'))
            && stem >= since.as_str()
        {
            flags.extend(read_meta(&dir.join(&*name)).flags);
        }
    }
    Ok(flags)
}

/// An exclusive claim on one queued message, released on drop.
#[derive(Debug)]
pub struct Claim {
    _file: File,
}

/// Takes the message for sending, or `None` when another process is sending it or has
/// already moved it.
pub fn claim(eml: &Path) -> Option<Claim> {
    let file = File::open(eml).ok()?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return None,
        Err(fs::TryLockError::Error(e)) => {
            tracing::warn!("cannot lock {}: {e}", eml.display());
            return None;
        }
    }
    // Moved away between listing and locking: someone else delivered it.
    eml.exists().then_some(Claim { _file: file })
}

fn list_dir(dir: &Path, state: State, ext: &str) -> anyhow::Result<Vec<Item>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", dir.display()),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || path.extension().is_none_or(|x| x != ext) || !path.is_file() {
            continue;
        }
        let meta = read_meta(&path);
        out.push(Item {
            eml: path,
            meta,
            state,
        });
    }
    out.sort_by(|a, b| a.eml.cmp(&b.eml));
    Ok(out)
}

fn read_meta(eml: &Path) -> Meta {
    if let Ok(bytes) = fs::read(sidecar(eml))
        && let Ok(m) = serde_json::from_slice::<Meta>(&bytes)
    {
        return m;
    }
    let run_id = eml
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = fs::read(eml).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let subject = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .to_owned();
    let created_at = fs::metadata(eml)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    Meta {
        run_id,
        subject,
        from: String::new(),
        to: Vec::new(),
        created_at,
        attempts: 0,
        last_attempt_at: None,
        last_error: Some("sidecar missing or unreadable; envelope from the settings".into()),
        delivered_at: None,
        flags: Vec::new(),
        webhook: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(run: &str) -> Meta {
        Meta {
            run_id: run.into(),
            subject: "s".into(),
            from: "a@example.org".into(),
            to: vec!["b@example.org".into()],
            created_at: Utc::now(),
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            delivered_at: None,
            flags: Vec::new(),
            webhook: None,
        }
    }

    #[test]
    fn enqueue_fail_send_moves_files() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(d.path());
        let eml = dirs.enqueue(b"Subject: s\r\n\r\nbody", &meta("r1")).unwrap();
        assert!(eml.exists() && sidecar(&eml).exists());
        let mut items = dirs.list().unwrap();
        assert_eq!(items.len(), 1);
        dirs.record_failure(&mut items[0], "451 later").unwrap();
        let mut items = dirs.list().unwrap();
        assert_eq!(items[0].meta.attempts, 1);
        dirs.mark_failed(&mut items[0], "550 no").unwrap();
        let mut items = dirs.list().unwrap();
        assert_eq!(items[0].state, State::Failed);
        assert!(!eml.exists() && !sidecar(&eml).exists());
        let sent = dirs.mark_sent(&mut items[0]).unwrap();
        assert!(sent.starts_with(d.path().join("sent")) && sent.exists());
        assert!(dirs.list().unwrap().is_empty());
    }

    #[test]
    fn a_delivery_noted_in_place_is_moved_later() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(d.path());
        dirs.enqueue(b"Subject: s\r\n\r\nbody", &meta("r4")).unwrap();
        let mut items = dirs.list().unwrap();
        dirs.record_delivered(&mut items[0]).unwrap();
        let mut items = dirs.list().unwrap();
        assert!(items[0].meta.delivered_at.is_some(), "noted in the sidecar");
        let p = dirs.move_delivered(&mut items[0]).unwrap();
        assert!(p.starts_with(d.path().join("sent")) && p.exists());
        assert!(dirs.list().unwrap().is_empty());
    }

    #[test]
    fn a_claimed_message_cannot_be_claimed_twice() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(d.path());
        let eml = dirs.enqueue(b"x", &meta("r2")).unwrap();
        let c = claim(&eml).expect("first claim");
        assert!(claim(&eml).is_none());
        drop(c);
        assert!(claim(&eml).is_some());
    }

    #[test]
    fn message_without_sidecar_is_listed() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(d.path());
        fs::create_dir_all(&dirs.outbox).unwrap();
        fs::write(dirs.outbox.join("r3.eml"), "Subject: hello\r\n\r\nbody").unwrap();
        fs::write(dirs.outbox.join("orphan.json"), "{}").unwrap();
        let items = dirs.list().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].meta.run_id, "r3");
        assert_eq!(items[0].meta.subject, "hello");
    }
}
