//! The run's hooks into a web archive (`[archive]`, [`crate::archive`]):
//!
//! - [`take_baselines`], between plan and work: a source seen for the first time, cited by an
//!   article with a `checked` date, takes its baseline from the capture closest to the end of
//!   that date, at or before it. The capture's raw body (`id_`) is extracted with the source's
//!   rules and stored, its statements located there, and the task's baseline set to it, so
//!   the work stage judges the live page against it in this same run.
//! - [`save_captures`], after the record stage: a capture of each new or changed source
//!   (`save = "changes"`) or of every successful fetch (`"always"`) is requested, and the
//!   captures earlier runs left pending are asked about; all within `save_wait_secs`, what is
//!   not finished then is stored as pending and resolved by a later run.
//! - [`link_evidence`]: each evidence line's `baseline_from` and `archived`.
//!
//! An archive that fails (down, refusing, slow) changes nothing else: the source takes a
//! live baseline as without an archive, and a capture not made is only logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::archive::{Archive, Capture, Saved, end_of_checked};
use crate::evidence::{self, Located};
use crate::extract::{EXTRACTOR_VERSION, ExtractedText, Rules};
use crate::ids::{BaselineKey, SourceKey, TextHash};
use crate::report::{BaselineFrom, SourceOutcome, StatementReport};
use crate::settings::{ArchiveSave, Settings};
use crate::snapshot::{self, Store, Version};
use crate::watchlist::{Article, CiteNo, Statement, StatementId};

use super::books::Books;
use super::plan::Job;

/// `archive_job` of a capture wanted but not yet requested (the budget ran out first).
const QUEUED: &str = "queued";

/// Lookups and captures in flight at once (the pace serializes the requests themselves).
const IN_FLIGHT: usize = 4;

/// A capture taken as the first baseline of a source.
pub(super) struct ArchivedVersion {
    text: TextHash,
    raw: String,
    content_type: String,
    capture: Capture,
    at: DateTime<Utc>,
}

/// What [`take_baselines`] found.
#[derive(Default)]
pub(super) struct ArchiveBases {
    /// Per job (index in the plan): the captures its baselines were taken from.
    pub(super) versions: HashMap<usize, Vec<ArchivedVersion>>,
    /// Per statement × cite: the capture's text version, its URL, the passages located there.
    pub(super) located: HashMap<BaselineKey, ArchiveBase>,
}

/// One statement × cite's baseline from the archive.
pub(super) struct ArchiveBase {
    pub(super) version: TextHash,
    pub(super) capture: String,
    pub(super) located: Located,
}

/// The archive client of a run, when `[archive]` is on.
pub(super) fn client(settings: &Settings) -> Option<Arc<Archive>> {
    if !settings.archive.enabled {
        return None;
    }
    match Archive::new(settings) {
        Ok(a) => Some(Arc::new(a)),
        Err(e) => {
            tracing::warn!("web archive not used: {e}");
            None
        }
    }
}

/// The end of each statement's article's `checked` date.
fn checked_dates(articles: &[&Article]) -> HashMap<StatementId, DateTime<Utc>> {
    let mut out = HashMap::new();
    for a in articles {
        let Some(until) = a.checked.as_deref().and_then(end_of_checked) else {
            if let Some(c) = &a.checked {
                tracing::debug!(article = %a.id, "`checked = {c:?}` is no date: live baselines");
            }
            continue;
        };
        for st in &a.statements {
            out.insert(st.id.clone(), until);
        }
    }
    out
}

/// One lookup: a job's URL as of one moment, for the tasks (by index) whose article was
/// checked then.
struct Want {
    job: usize,
    url: url::Url,
    rules: Rules,
    until: DateTime<Utc>,
    tasks: Vec<(usize, BaselineKey, Statement, CiteNo)>,
}

/// Takes archive baselines for the first-seen statement × cite pairs of new sources (every
/// pair of `jobs` with no baseline when `all`, as `citewatch archive` asks), setting each
/// task's baseline to the capture.
pub(super) async fn take_baselines(
    archive: &Archive,
    jobs: &mut [Job],
    articles: &[&Article],
    store: &Arc<Store>,
    all: bool,
) -> ArchiveBases {
    let mut bases = ArchiveBases::default();
    let dates = checked_dates(articles);
    let mut wants = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        if !all && job.prev_text.is_some() {
            continue;
        }
        let mut by_date: BTreeMap<DateTime<Utc>, Vec<_>> = BTreeMap::new();
        for (i, t) in job.tasks.iter().enumerate() {
            if t.baseline.is_some() {
                continue;
            }
            if let Some(until) = dates.get(&t.statement.id) {
                by_date
                    .entry(*until)
                    .or_default()
                    .push((i, t.bkey.clone(), t.statement.clone(), t.cite));
            }
        }
        for (until, tasks) in by_date {
            wants.push(Want {
                job: j,
                url: job.url.clone(),
                rules: job.rules.clone(),
                until,
                tasks,
            });
        }
    }
    if wants.is_empty() {
        return bases;
    }
    let found: Vec<_> = futures_util::stream::iter(wants)
        .map(|w| async move {
            let r = baseline_of(archive, &w, store.clone()).await;
            (w, r)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for (w, r) in found {
        let (version, located) = match r {
            Ok(Some(v)) => v,
            Ok(None) => {
                tracing::debug!(url = %w.url, until = %w.until, "no capture at or before the checked date");
                continue;
            }
            Err(e) => {
                tracing::warn!(url = %w.url, "archive baseline not taken: {e}");
                continue;
            }
        };
        for ((i, bkey, _, _), loc) in w.tasks.iter().zip(located) {
            jobs[w.job].tasks[*i].baseline = Some((version.text.clone(), loc.anchors.clone()));
            bases.located.insert(
                bkey.clone(),
                ArchiveBase {
                    version: version.text.clone(),
                    capture: version.capture.url.clone(),
                    located: loc,
                },
            );
        }
        bases.versions.entry(w.job).or_default().push(version);
    }
    for v in bases.versions.values_mut() {
        v.sort_by_key(|v| v.at);
    }
    bases
}

/// The capture for one [`Want`], read, extracted with its rules, stored, and its statements
/// located there (in the order of `w.tasks`).
async fn baseline_of(
    archive: &Archive,
    w: &Want,
    store: Arc<Store>,
) -> anyhow::Result<Option<(ArchivedVersion, Vec<Located>)>> {
    let Some(capture) = archive.lookup(&w.url, w.until).await? else {
        return Ok(None);
    };
    let raw = archive.fetch_raw(&capture).await?;
    let rules = w.rules.clone();
    let statements: Vec<(Statement, CiteNo)> = w.tasks.iter().map(|(_, _, s, c)| (s.clone(), *c)).collect();
    let at = capture.at().unwrap_or(w.until);
    let (text, raw_hash, located) = crate::cpu::run(move || {
        let text = crate::extract::extract(&raw.body, &raw.content_type, &rules)?;
        let hash = store.put_text(&text.to_text())?;
        let raw_hash = store.put_raw(&raw.body)?;
        // As the store reads it back, so that the anchors match the stored text.
        let prepared = evidence::Prepared::new(&ExtractedText::from_text(&text.to_text()));
        let located = statements
            .iter()
            .map(|(s, c)| evidence::locate_in(s, *c, &prepared))
            .collect::<Vec<_>>();
        anyhow::Ok((hash, (raw_hash, raw.content_type), located))
    })
    .await
    .map_err(|e| anyhow::anyhow!("processing the capture panicked: {e}"))??;
    Ok(Some((
        ArchivedVersion {
            text,
            raw: raw_hash.0,
            content_type: raw_hash.1,
            capture,
            at,
        },
        located,
    )))
}

/// Records the captures a new source's baselines were taken from as its first versions
/// (oldest first, before anything this run fetched); one with the text of a version already
/// there only marks it archived.
pub(super) fn record_versions(rec: &mut snapshot::SourceRecord, versions: &[ArchivedVersion]) {
    for v in versions {
        if let Some(have) = rec.versions.iter_mut().find(|x| x.text == v.text) {
            have.archived.get_or_insert_with(|| v.capture.url.clone());
            continue;
        }
        let version = Version {
            text: v.text.clone(),
            raw: Some(v.raw.clone()),
            first_seen: v.at,
            last_seen: v.at,
            status: 200,
            final_url: v.capture.original.clone(),
            content_type: v.content_type.clone(),
            etag: None,
            last_modified: None,
            extractor: Some(EXTRACTOR_VERSION.to_owned()),
            archived: Some(v.capture.url.clone()),
            archive_job: None,
        };
        // Before the latest version (if any): the latest stays what the page says now.
        let at = rec
            .versions
            .iter()
            .position(|x| x.first_seen > v.at)
            .unwrap_or(rec.versions.len())
            .min(rec.versions.len().saturating_sub(1));
        rec.versions.insert(at, version);
    }
}

/// Requests the captures this run's sources want, and asks about the ones earlier runs left
/// pending; each capture made is stored with its version and (when made for this run's
/// fetch) shown in the source's line of the report.
pub(super) async fn save_captures(
    settings: &Settings,
    archive: &Archive,
    jobs: &[Job],
    index: &mut snapshot::Index,
    books: &mut Books,
) {
    // Polls of Save Page Now jobs included; jobs not finished by then are stored as pending,
    // requests not sent as queued.
    let deadline = Instant::now() + Duration::from_secs(settings.archive.save_wait_secs);
    let wanted = wanted_captures(settings.archive.save, jobs, index, books);
    let pending = pending_captures(index, &wanted);
    if wanted.is_empty() && pending.is_empty() {
        return;
    }
    let fresh = futures_util::stream::iter(wanted)
        .map(|(url, keys)| async move {
            let saved = match url::Url::parse(&url) {
                Ok(u) => within(deadline, archive.save(&u, deadline), QUEUED).await,
                Err(e) => Saved::Failed(e.to_string()),
            };
            (url, keys, saved)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>();
    let earlier = futures_util::stream::iter(pending)
        .map(|(job, (url, at))| async move {
            let saved = if job == QUEUED {
                match url::Url::parse(&url) {
                    Ok(u) => within(deadline, archive.save(&u, deadline), QUEUED).await,
                    Err(e) => Saved::Failed(e.to_string()),
                }
            } else {
                within(deadline, archive.status(&job, &url), &job).await
            };
            (url, at, saved)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>();
    let (fresh, earlier) = tokio::join!(fresh, earlier);
    for (url, keys, saved) in fresh {
        tracing::debug!(%url, ?saved, "archive capture");
        for key in &keys {
            if let Some(v) = index.sources.get_mut(key).and_then(|r| r.versions.last_mut()) {
                apply(v, &saved, &url);
            }
        }
        if let (Saved::Done(capture), Some(line)) = (&saved, books.sources.get_mut(&url)) {
            line.archived = Some(capture.clone());
        }
    }
    for (url, at, saved) in earlier {
        tracing::debug!(%url, ?saved, "archive capture of an earlier run");
        for (key, i) in at {
            if let Some(v) = index.sources.get_mut(&key).and_then(|r| r.versions.get_mut(i)) {
                apply(v, &saved, &url);
            }
        }
    }
}

/// The sources fetched this run whose latest version wants a capture (by `mode`), by URL.
fn wanted_captures(
    mode: ArchiveSave,
    jobs: &[Job],
    index: &snapshot::Index,
    books: &Books,
) -> BTreeMap<String, Vec<SourceKey>> {
    let mut wanted: BTreeMap<String, Vec<SourceKey>> = BTreeMap::new();
    for job in jobs {
        let Some(rec) = index.sources.get(&job.key) else {
            continue;
        };
        if rec.versions.is_empty() {
            continue;
        }
        // The URL's line: its text new or changed this run (not merely read again by a new
        // extractor), or fetched at all.
        let outcome = books.sources.get(job.url.as_str()).map(|l| l.outcome);
        let fetched = !books.failures.contains_key(&job.key) && outcome != Some(SourceOutcome::Error);
        let new_or_changed = matches!(outcome, Some(SourceOutcome::New | SourceOutcome::Changed));
        let want = fetched
            && match mode {
                ArchiveSave::Never => false,
                ArchiveSave::Changes => new_or_changed,
                ArchiveSave::Always => true,
            };
        if want {
            wanted
                .entry(job.url.to_string())
                .or_default()
                .push(job.key.clone());
        }
    }
    wanted
}

/// Earlier runs' pending capture jobs (and queued requests) of the sources loaded whose URL
/// is not `wanted` again: job → (URL, the versions waiting for it).
fn pending_captures(
    index: &snapshot::Index,
    wanted: &BTreeMap<String, Vec<SourceKey>>,
) -> BTreeMap<String, (String, Vec<(SourceKey, usize)>)> {
    let mut pending: BTreeMap<String, (String, Vec<(SourceKey, usize)>)> = BTreeMap::new();
    for (key, rec) in &index.sources {
        for (i, v) in rec.versions.iter().enumerate() {
            if let Some(job) = &v.archive_job
                && !wanted.contains_key(&rec.url)
            {
                pending
                    .entry(job.clone())
                    .or_insert_with(|| (rec.url.clone(), Vec::new()))
                    .1
                    .push((key.clone(), i));
            }
        }
    }
    pending
}

/// `save` unless `deadline` passes first (then pending as `job`: asked about, or sent, by a
/// later run).
async fn within(deadline: Instant, save: impl std::future::Future<Output = Saved>, job: &str) -> Saved {
    if Instant::now() >= deadline {
        return Saved::Pending(job.to_owned());
    }
    tokio::time::timeout_at(deadline.into(), save)
        .await
        .unwrap_or_else(|_| Saved::Pending(job.to_owned()))
}

fn apply(v: &mut Version, saved: &Saved, url: &str) {
    match saved {
        Saved::Done(capture) => {
            v.archived = Some(capture.clone());
            v.archive_job = None;
        }
        Saved::Pending(job) => v.archive_job = Some(job.clone()),
        Saved::Failed(why) => {
            tracing::warn!(%url, "web archive capture not made: {why}");
            v.archive_job = None;
        }
    }
}

/// Each evidence line's `baseline_from` (its baseline's, as the run leaves it) and
/// `archived` (the capture of its baseline's version, when one is known).
pub(super) fn link_evidence(statements: &mut [StatementReport], index: &snapshot::Index) {
    for st in statements.iter_mut() {
        let id = StatementId(st.id.clone());
        for e in &mut st.evidence {
            let Some(b) = index.baselines.get(&BaselineKey::new(&id, CiteNo(e.cite))) else {
                continue;
            };
            if b.version.is_empty() {
                continue;
            }
            if crate::record::from_archive(b) {
                e.baseline_from = BaselineFrom::Archive;
            }
            e.archived = index
                .sources
                .get(&b.source)
                .and_then(|r| r.versions.iter().rev().find(|v| v.text == b.version))
                .and_then(|v| v.archived.clone());
        }
    }
}

/// One statement × cite of `citewatch archive`: the capture its baseline now comes from, or
/// none at or before the checked date (its baseline left as it was).
#[derive(Debug, Clone)]
pub struct Rebaselined {
    /// Statement id.
    pub statement: String,
    /// Cite number.
    pub cite: u32,
    /// Source URL.
    pub url: String,
    /// The capture's replay URL, when one was found.
    pub capture: Option<String>,
}

/// `citewatch archive ARTICLE_ID`: takes the baselines of an article already watched again
/// from the archive, as a first run with `baseline = "checked"` would: every statement × cite
/// whose source has a capture at or before the end of the article's `checked` date gets that
/// capture as its baseline (its flag cleared); the others keep theirs. Nothing is judged
/// here: the next run judges the live pages against the new baselines (and flags what
/// changed since the check). Holds the store lock while it works.
pub async fn archive_again(ctx: &super::Context, article: &str) -> Result<Vec<Rebaselined>, super::RunError> {
    use anyhow::anyhow;
    let only = [article.to_owned()];
    let entries = super::plan::select_articles(&ctx.watchlist, &only)?;
    let loaded = ctx.articles(&entries);
    let Some(a) = loaded.first() else {
        return Err(anyhow!("article `{article}` no longer loads (see `citewatch validate`)").into());
    };
    let articles = vec![a];
    if a.checked.as_deref().and_then(end_of_checked).is_none() {
        return Err(
            anyhow!("article `{article}` has no `checked` date (such as checked = \"2025-11-26\")").into(),
        );
    }
    let Some(archive) = client(&ctx.settings) else {
        return Err(anyhow!("[archive] is not enabled in citewatch.toml (enabled = true)").into());
    };
    let store = Arc::new(super::open_store(ctx).await?);
    let claim = super::claim_store(
        store.clone(),
        vec![vec![a.id.0.clone()]],
        None,
        super::LOCK_WAIT,
        0,
    )
    .await?;
    let mut index = super::plan::load_records(&store, &articles)?;
    // Planned as if nothing had a baseline: every pair is looked up.
    let kept = std::mem::take(&mut index.baselines);
    let mut plan = super::plan::plan(&articles, &index)?;
    index.baselines = kept;
    let bases = take_baselines(&archive, &mut plan.jobs, &articles, &store, true).await;
    let now = Utc::now();
    for (j, captures) in &bases.versions {
        let job = &plan.jobs[*j];
        let rec = index.sources.entry(job.key.clone()).or_default();
        rec.url = job.url.to_string();
        record_versions(rec, captures);
    }
    let mut out = Vec::new();
    for st in &a.statements {
        for &cite in &st.cites {
            let Some(src) = a.source(cite) else { continue };
            let bkey = BaselineKey::new(&st.id, cite);
            let capture = bases.located.get(&bkey).map(|b| b.capture.clone());
            if let Some(b) = bases.located.get(&bkey) {
                let key = crate::ids::source_key_of(src);
                let nb = crate::record::first_seen_in_archive(
                    st,
                    cite,
                    key,
                    (b.version.clone(), &b.capture),
                    b.located.clone(),
                    now,
                );
                index.baselines.insert(bkey, nb);
            }
            out.push(Rebaselined {
                statement: st.id.to_string(),
                cite: cite.0,
                url: src.url.to_string(),
                capture,
            });
        }
    }
    let keep = ctx.settings.store.keep;
    tokio::task::spawn_blocking(move || store.commit_claimed(index, keep, None, Some(&claim)))
        .await
        .map_err(|e| anyhow!("commit task: {e}"))??;
    Ok(out)
}
