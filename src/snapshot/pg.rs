//! The store's records in PostgreSQL (`[store] url = "postgres://…"`), shared by several
//! workers: the same tables as the embedded store ([`super::db`]), plus the per-article
//! claims that split a schedule's work between workers. The content-addressed objects stay
//! in a folder every worker reaches (`[store] objects`).
//!
//! Tables besides the records (`sources`, `versions`, `attempts`, `baselines`, `flags`,
//! `acks`, `runs`, `meta`, as in SQLite; times and JSON values as the same text, so that both
//! stores read back byte for byte what was written):
//! ```text
//! citewatch_migrations [version] applied_at       which migrations ran (at start)
//! claims       [article] worker lease_until done_due    who runs an article now, until
//!                                                 when, and the last due time it was run for
//! article_runs [article, due] run worker          each scheduled (article, due) once
//! ```
//! A claim ([`Pg::claim`]) takes the due articles no live lease holds and whose `done_due`
//! is before this due time, `FOR UPDATE SKIP LOCKED`, so two workers firing at the same
//! moment split the rows instead of waiting for each other. A heartbeat thread extends the
//! lease while the run goes on; the run's commit writes its records, marks its articles
//! done and releases them in one transaction, refusing if the lease was lost meanwhile (the
//! articles then belong to whoever took them over). A worker that dies simply stops
//! renewing: its articles are free once `lease_until` has passed.
//!
//! The `postgres` crate is synchronous (the store's calls are: load and commit run on the
//! blocking pool or a command's thread); it drives a runtime of its own, so a call made
//! from a thread inside tokio's runtime is moved to a short-lived thread ([`off_runtime`]).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement, Transaction};

use super::{
    Ack, Attempt, Baseline, BaselineKey, Flag, Index, RunId, RunRecord, SourceKey, SourceRecord, StoreError,
    TextHash, Version,
};

/// The migrations, in order; each runs once, in a transaction, under an advisory lock so
/// that workers starting together do not race.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources(key TEXT PRIMARY KEY, url TEXT NOT NULL);
CREATE TABLE versions(
  source TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, raw TEXT,
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, status INTEGER NOT NULL,
  final_url TEXT NOT NULL, content_type TEXT NOT NULL, etag TEXT, last_modified TEXT,
  extractor TEXT, PRIMARY KEY(source, seq));
CREATE INDEX versions_text ON versions(text);
CREATE INDEX versions_raw ON versions(raw);
CREATE TABLE attempts(source TEXT PRIMARY KEY, at TEXT NOT NULL, raw TEXT, rules TEXT NOT NULL,
  error TEXT);
CREATE TABLE baselines(
  key TEXT PRIMARY KEY, article TEXT NOT NULL, statement TEXT NOT NULL, cite INTEGER NOT NULL,
  source TEXT NOT NULL, version TEXT NOT NULL, anchors TEXT NOT NULL,
  missing_quotes TEXT NOT NULL, unfound_quotes TEXT NOT NULL, candidate TEXT,
  set_at TEXT NOT NULL, set_by TEXT NOT NULL, statement_text TEXT NOT NULL);
CREATE INDEX baselines_source ON baselines(source);
CREATE INDEX baselines_article ON baselines(article);
CREATE TABLE flags(baseline TEXT PRIMARY KEY, since_run TEXT NOT NULL, since TEXT NOT NULL,
  verdict TEXT);
CREATE TABLE acks(id BIGSERIAL PRIMARY KEY, baseline TEXT NOT NULL, by TEXT NOT NULL,
  at TEXT NOT NULL, version TEXT NOT NULL, previous TEXT, cleared_verdict TEXT,
  cleared_since_run TEXT);
CREATE INDEX acks_baseline ON acks(baseline);
CREATE TABLE runs(id TEXT PRIMARY KEY, started_at TEXT NOT NULL, committed_at TEXT NOT NULL,
  trigger TEXT NOT NULL, articles BIGINT NOT NULL, sources BIGINT NOT NULL, worker TEXT);
CREATE TABLE claims(article TEXT PRIMARY KEY, worker TEXT, lease_until TIMESTAMPTZ,
  done_due TIMESTAMPTZ);
CREATE TABLE article_runs(article TEXT NOT NULL, due TIMESTAMPTZ NOT NULL, run TEXT NOT NULL,
  worker TEXT NOT NULL, PRIMARY KEY(article, due));
",
    "
CREATE TABLE host_slots(host TEXT NOT NULL, slot INTEGER NOT NULL, worker TEXT,
  lease_until TIMESTAMPTZ, PRIMARY KEY(host, slot));
CREATE TABLE run_ids(id TEXT PRIMARY KEY, worker TEXT NOT NULL,
  reserved_at TIMESTAMPTZ NOT NULL DEFAULT now());
",
    // The embedded store's columns of format 2 added later: flags announced, web-archive
    // captures of versions.
    "
ALTER TABLE flags ADD COLUMN announced BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE versions ADD COLUMN archived TEXT;
ALTER TABLE versions ADD COLUMN archive_job TEXT;
",
];

/// The advisory lock key the migrations run under ("citewatc" in ASCII).
const MIGRATION_LOCK: i64 = 0x6369_7465_7761_7463;

/// Runs `f` where the synchronous client may block: on this thread, or on a scoped thread
/// of its own when this one is inside a tokio runtime (where the client's own runtime
/// would refuse to start).
pub(super) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let t = Instant::now();
    let out = if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(f).join().expect("store thread"))
    } else {
        f()
    };
    DB_NANOS.fetch_add(
        t.elapsed().as_nanos() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    out
}

/// Time spent in database calls by this process (see [`db_time`]).
static DB_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Wall time this process has spent in calls to the shared store's database (queries,
/// transactions, waits for its locks), over all its stores: for benchmarks.
pub fn db_time() -> Duration {
    Duration::from_nanos(DB_NANOS.load(std::sync::atomic::Ordering::Relaxed))
}

/// A connection to the shared store.
pub(super) struct Pg {
    /// `None` only while dropping.
    client: Mutex<Option<Client>>,
    config: postgres::Config,
    /// Where the database is, for messages (the URL without its password).
    name: String,
    lease: Duration,
    /// Connections of the host slots (taken and given back around every fetch, from many
    /// fetches at once: a few connections of their own, made when first needed).
    slot_clients: Vec<Mutex<Option<Client>>>,
    /// Hosts (with their `per_host`) whose slot rows this process has made sure of.
    slot_hosts: Mutex<std::collections::HashSet<(String, i32)>>,
}

/// Connections for the host slots.
const SLOT_CLIENTS: usize = 4;

impl Drop for Pg {
    /// The client closes its connection through its own runtime: not on a runtime's thread.
    fn drop(&mut self) {
        let mut clients: Vec<Client> = self
            .client
            .get_mut()
            .ok()
            .and_then(Option::take)
            .into_iter()
            .collect();
        for c in &mut self.slot_clients {
            clients.extend(c.get_mut().ok().and_then(Option::take));
        }
        off_runtime(move || drop(clients));
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("db", &self.name).finish()
    }
}

/// A claim's lease: renewed by its heartbeat thread until dropped, then released (if the
/// commit has not released it already).
#[derive(Debug)]
pub(super) struct Lease {
    /// This claim's worker token (unique per claim).
    pub(super) worker: String,
    /// The scheduled due time it runs, if it is a scheduled run.
    pub(super) due: Option<DateTime<Utc>>,
    /// Dropped to stop the heartbeat.
    _stop: Option<std::sync::mpsc::Sender<()>>,
    /// Set once the commit has released the articles: the heartbeat then has nothing left
    /// to release (and opens no connection for it).
    committed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Pg {
    /// Connects (the password from `password_env`, if named) and runs the migrations.
    pub(super) fn connect(url: &str, password: Option<String>, lease: Duration) -> Result<Pg, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Db(url.into(), format!("not a PostgreSQL URL: {e}")))?;
        if let Some(p) = password {
            config.password(p);
        }
        let name = redact(url);
        config.connect_timeout(Duration::from_secs(10));
        let client = off_runtime(|| config.connect(NoTls)).map_err(err(&name))?;
        let pg = Pg {
            client: Mutex::new(Some(client)),
            slot_clients: (0..SLOT_CLIENTS).map(|_| Mutex::new(None)).collect(),
            slot_hosts: Mutex::new(Default::default()),
            config,
            name,
            lease,
        };
        pg.migrate()?;
        Ok(pg)
    }

    fn e(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        err(&self.name)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut guard = self.client.lock().expect("pg client");
        let c: &mut Client = guard.as_mut().expect("connected until dropped");
        off_runtime(|| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS citewatch_migrations(version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )?;
            let done: i32 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM citewatch_migrations", &[])?
                .get(0);
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
                tx.batch_execute(sql)?;
                tx.execute(
                    "INSERT INTO citewatch_migrations(version) VALUES ($1)",
                    &[&(i as i32 + 1)],
                )?;
            }
            tx.commit()?;
            Ok::<_, postgres::Error>(done)
        })
        .map_err(self.e())
        .and_then(|done| {
            if done as usize > MIGRATIONS.len() {
                Err(StoreError::Format {
                    path: self.name.clone().into(),
                    found: done as u32,
                    supported: MIGRATIONS.len() as u32,
                })
            } else {
                Ok(())
            }
        })
    }

    /// The records of these sources and the baselines of these articles, with fingerprints
    /// (as [`super::db::Db::load`]); four queries whatever the scope.
    pub(super) fn load(&self, sources: &[SourceKey], articles: &[String]) -> Result<Index, StoreError> {
        let keys: Vec<&str> = sources.iter().map(SourceKey::as_str).collect();
        let mut guard = self.client.lock().expect("pg client");
        let c: &mut Client = guard.as_mut().expect("connected until dropped");
        let name = self.name.as_str();
        let (srcs, baselines, runs) = off_runtime(|| {
            let mut tx = c.build_transaction().read_only(true).start().map_err(err(name))?;
            let srcs = read_sources(&mut tx, &keys, name)?;
            let runs: i64 = tx
                .query_one("SELECT count(*) FROM runs", &[])
                .map_err(err(name))?
                .get(0);
            let rows = tx
                .query(
                    &format!("{BASELINE_SELECT} WHERE b.article = ANY($1) ORDER BY b.key"),
                    &[&articles],
                )
                .map_err(err(name))?;
            tx.commit().map_err(err(name))?;
            Ok::<_, StoreError>((srcs, rows, runs))
        })?;
        drop(guard);
        let mut index = Index {
            format: super::FORMAT,
            sources: srcs,
            runs: runs.max(0) as u64,
            ..Index::default()
        };
        for r in baselines {
            let (key, b) = baseline_at(&r).map_err(|m| StoreError::Db(name.into(), m))?;
            index
                .loaded
                .baselines
                .insert(key.clone(), super::db::fingerprint(&b));
            index.baselines.insert(key, b);
        }
        for (key, rec) in &index.sources {
            index.loaded.sources.insert(key.clone(), loaded(rec));
        }
        Ok(index)
    }

    /// Claims `groups` of articles for this worker, each group whole or not at all (the
    /// articles of a group share sources: one worker runs them, so a shared source is
    /// fetched once for a due time). A group is claimed through its first article's row (its
    /// head; every worker of one watchlist forms the same groups). With a `due` time (a
    /// scheduled run): the groups whose head no live lease holds and was not yet run for
    /// `due`, skipping heads another worker is claiming at this moment; the others are being,
    /// or have been, run elsewhere. Without one (a manual run, an ack): every group. Either
    /// way a claimed group whose other articles a live lease holds (a manual run of some of
    /// them) is waited for, up to `wait`.
    pub(super) fn claim(
        &self,
        groups: &[Vec<String>],
        due: Option<DateTime<Utc>>,
        wait: Duration,
        limit: usize,
    ) -> Result<(Vec<String>, Lease), StoreError> {
        let limit = if limit == 0 { None } else { Some(limit as i64) };
        let articles: Vec<&str> = groups.iter().flatten().map(String::as_str).collect();
        let heads: Vec<&str> = groups
            .iter()
            .filter_map(|g| g.first())
            .map(String::as_str)
            .collect();
        let worker = worker_token();
        let lease_secs = self.lease.as_secs_f64();
        let start = Instant::now();
        loop {
            let mut guard = self.client.lock().expect("pg client");
            let c: &mut Client = guard.as_mut().expect("connected until dropped");
            let got = off_runtime(|| {
                let mut tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO claims(article) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                    &[&articles],
                )?;
                let rows = tx.query(
                    "SELECT article FROM claims WHERE article = ANY($1)
                     AND (lease_until IS NULL OR lease_until < now())
                     AND ($2::timestamptz IS NULL OR done_due IS NULL OR done_due < $2)
                     ORDER BY article LIMIT $3 FOR UPDATE SKIP LOCKED",
                    &[&heads, &due, &limit],
                )?;
                let got_heads: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
                let distinct: BTreeSet<&str> = heads.iter().copied().collect();
                if due.is_none() && got_heads.len() < distinct.len() {
                    return Ok(None);
                }
                let got: Vec<String> = groups
                    .iter()
                    .filter(|g| g.first().is_some_and(|h| got_heads.contains(h)))
                    .flatten()
                    .cloned()
                    .collect();
                let busy: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM claims WHERE article = ANY($1) AND NOT article = ANY($2)
                         AND lease_until >= now()",
                        &[&got, &heads],
                    )?
                    .get(0);
                if busy > 0 {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE claims SET worker = $1, lease_until = now() + make_interval(secs => $2)
                     WHERE article = ANY($3)",
                    &[&worker, &lease_secs, &got],
                )?;
                tx.commit()?;
                Ok::<_, postgres::Error>(Some(got))
            })
            .map_err(self.e())?;
            drop(guard);
            match got {
                Some(got) => {
                    let committed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let stop = (!got.is_empty()).then(|| self.heartbeat(worker.clone(), committed.clone()));
                    return Ok((
                        got,
                        Lease {
                            worker,
                            due,
                            _stop: stop,
                            committed,
                        },
                    ));
                }
                None if start.elapsed() >= wait => {
                    return Err(StoreError::Locked(
                        format!("{} (articles claimed by another worker)", self.name).into(),
                        wait,
                    ));
                }
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Starts the thread that renews `worker`'s leases every third of the lease, on a
    /// connection of its own, until the returned sender is dropped; then it releases what
    /// the worker still holds (nothing, after a commit).
    fn heartbeat(
        &self,
        worker: String,
        committed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> std::sync::mpsc::Sender<()> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let config = self.config.clone();
        let lease = self.lease;
        let name = self.name.clone();
        let spawned = std::thread::Builder::new()
            .name("store-lease".into())
            .spawn(move || {
                let mut client: Option<Client> = None;
                let run = |sql: &str, client: &mut Option<Client>| {
                    if client.is_none() {
                        *client = config.connect(NoTls).ok();
                    }
                    let Some(c) = client.as_mut() else {
                        tracing::warn!("{name}: cannot reach the database to renew the lease");
                        return;
                    };
                    if let Err(e) = c.execute(sql, &[&worker, &lease.as_secs_f64()]) {
                        tracing::warn!("{name}: lease: {e}");
                        *client = None;
                    }
                };
                loop {
                    match rx.recv_timeout(lease / 3) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => run(
                            "UPDATE claims SET lease_until = now() + make_interval(secs => $2)
                             WHERE worker = $1",
                            &mut client,
                        ),
                        _ if committed.load(std::sync::atomic::Ordering::Acquire) => break,
                        _ => {
                            run(
                                "UPDATE claims SET worker = NULL, lease_until = NULL
                                 WHERE worker = $1 AND $2::float8 IS NOT NULL",
                                &mut client,
                            );
                            break;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the lease heartbeat: {e}");
        }
        tx
    }

    /// Writes a commit's records ([`super::write_records`]) and, for a claimed run, marks
    /// its articles done and releases them, in one transaction.
    pub(super) fn commit(
        &self,
        index: &mut Index,
        keep: usize,
        run: Option<&RunRecord>,
        claim: Option<(&[String], &Lease)>,
    ) -> Result<(), StoreError> {
        let mut guard = self.client.lock().expect("pg client");
        let c: &mut Client = guard.as_mut().expect("connected until dropped");
        let name = self.name.clone();
        off_runtime(|| {
            let mut tx = c.transaction().map_err(err(&name))?;
            // The sources this commit writes, locked in one global order (their keys'
            // hashes), so that two workers committing a shared source take turns; then
            // what another worker committed since this run loaded them is merged in.
            let keys: Vec<&str> = index.sources.keys().map(SourceKey::as_str).collect();
            tx.execute(
                "SELECT pg_advisory_xact_lock(h) FROM
                 (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) k ORDER BY h) s",
                &[&keys],
            )
            .map_err(err(&name))?;
            let merged = merge_concurrent(&mut tx, index, &name)?;
            if merged > 0 {
                tracing::info!("{merged} source(s) were committed by another worker meanwhile: merged");
            }
            let mut w = Writer::new(tx, &name)?;
            // Pruned versions' objects stay: another worker may be about to name them again
            // (content-addressed), so deleting them needs a sweep that knows no run is
            // writing (not done yet).
            let _removed = super::write_records(&mut w, index, keep)?;
            let e = err(&name);
            if let Some(r) = run {
                let worker = claim.map(|(_, l)| l.worker.as_str());
                w.tx.execute(
                    "INSERT INTO runs(id, started_at, committed_at, trigger, articles, sources, worker)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET
                     committed_at = EXCLUDED.committed_at,
                     articles = runs.articles + EXCLUDED.articles,
                     sources = runs.sources + EXCLUDED.sources",
                    &[
                        &r.id.as_str(),
                        &stamp(&r.started_at),
                        &stamp(&Utc::now()),
                        &r.trigger,
                        &(r.articles as i64),
                        &(r.sources as i64),
                        &worker,
                    ],
                )
                .map_err(&e)?;
            }
            if let Some((articles, lease)) = claim {
                if let (Some(due), Some(r)) = (lease.due, run) {
                    w.tx.execute(
                        "INSERT INTO article_runs(article, due, run, worker)
                         SELECT unnest($1::text[]), $2, $3, $4",
                        &[&articles, &due, &r.id.as_str(), &lease.worker],
                    )
                    .map_err(&e)?;
                }
                let n =
                    w.tx.execute(
                        "UPDATE claims SET worker = NULL, lease_until = NULL,
                         done_due = coalesce($2, done_due) WHERE article = ANY($1) AND worker = $3",
                        &[&articles, &lease.due, &lease.worker],
                    )
                    .map_err(&e)?;
                if n as usize != articles.len() {
                    return Err(StoreError::Db(
                        name.clone().into(),
                        format!(
                            "the lease on {} of this run's {} articles was lost (another worker took them over): nothing of this run was committed",
                            articles.len() - n as usize,
                            articles.len()
                        ),
                    ));
                }
            }
            w.tx.commit().map_err(&e)?;
            if let Some((_, lease)) = claim {
                lease.committed.store(true, std::sync::atomic::Ordering::Release);
            }
            Ok(())
        })
    }

    /// Runs `f` on a free host-slot connection (connecting it if needed).
    fn on_slot_client<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .slot_clients
            .iter()
            .find_map(|m| m.try_lock().ok())
            .unwrap_or_else(|| {
                let i = rand::random_range(0..self.slot_clients.len());
                self.slot_clients[i].lock().expect("slot client")
            });
        let config = &self.config;
        let slot: &mut Option<Client> = &mut guard;
        off_runtime(move || {
            if slot.is_none() {
                *slot = Some(config.connect(NoTls)?);
            }
            let c = slot.as_mut().expect("connected");
            let out = f(c);
            if out.is_err() && c.is_closed() {
                *slot = None;
            }
            out
        })
        .map_err(self.e())
    }

    /// Takes one of `host`'s `per_host` request slots, shared by every worker, for `lease`
    /// (a worker that dies holding one frees it then); `None` when all are taken.
    pub(super) fn take_host_slot(
        &self,
        host: &str,
        per_host: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Option<i32>, StoreError> {
        let n = per_host as i32;
        let secs = lease.as_secs_f64();
        let known = self
            .slot_hosts
            .lock()
            .expect("slot hosts")
            .contains(&(host.to_owned(), n));
        let got = self.on_slot_client(|c| {
            let take = |c: &mut Client| {
                c.query_opt(
                    "UPDATE host_slots SET worker = $3, lease_until = now() + make_interval(secs => $4)
                     WHERE (host, slot) = (SELECT host, slot FROM host_slots WHERE host = $1
                       AND slot < $2 AND (lease_until IS NULL OR lease_until < now())
                       ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING slot",
                    &[&host, &n, &worker, &secs],
                )
            };
            if let Some(r) = take(c)? {
                return Ok(Some(r.get(0)));
            }
            if known {
                return Ok(None);
            }
            // A host not seen yet (or a larger per_host): its slots are made, then tried again.
            let made = c.execute(
                "INSERT INTO host_slots(host, slot) SELECT $1, generate_series(0, $2 - 1)
                 ON CONFLICT DO NOTHING",
                &[&host, &n],
            )?;
            if made == 0 {
                return Ok(None);
            }
            Ok(take(c)?.map(|r| r.get(0)))
        })?;
        if !known {
            self.slot_hosts
                .lock()
                .expect("slot hosts")
                .insert((host.to_owned(), n));
        }
        Ok(got)
    }

    /// Reserves a run id no other worker has: the first of `candidates` not taken yet.
    pub(super) fn reserve_run_id(
        &self,
        candidates: impl Iterator<Item = RunId> + Send,
        worker: &str,
    ) -> Result<Option<RunId>, StoreError> {
        let mut guard = self.client.lock().expect("pg client");
        let c: &mut Client = guard.as_mut().expect("connected until dropped");
        off_runtime(|| {
            for id in candidates {
                let n = c.execute(
                    "INSERT INTO run_ids(id, worker) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id.as_str(), &worker],
                )?;
                if n == 1 {
                    return Ok(Some(id));
                }
            }
            Ok(None)
        })
        .map_err(self.e())
    }

    /// Marks these flags announced (their message is queued), as [`super::db::Db::announce`].
    pub(super) fn announce(&self, flags: &[(BaselineKey, RunId)]) -> Result<(), StoreError> {
        let mut guard = self.client.lock().expect("pg client");
        let c: &mut Client = guard.as_mut().expect("connected until dropped");
        off_runtime(|| {
            let mut tx = c.transaction()?;
            for (key, run) in flags {
                tx.execute(
                    "UPDATE flags SET announced = TRUE WHERE baseline = $1 AND since_run = $2",
                    &[&key.as_str(), &run.as_str()],
                )?;
            }
            tx.commit()
        })
        .map_err(self.e())
    }

    /// Gives a slot of [`Pg::take_host_slot`] back.
    pub(super) fn release_host_slot(&self, host: &str, slot: i32, worker: &str) -> Result<(), StoreError> {
        self.on_slot_client(|c| {
            c.execute(
                "UPDATE host_slots SET worker = NULL, lease_until = NULL
                 WHERE host = $1 AND slot = $2 AND worker = $3",
                &[&host, &slot, &worker],
            )
        })?;
        Ok(())
    }

    /// Every source, baseline and ack, like [`super::Store::export`] (for tests and
    /// inspection).
    pub(super) fn export(&self) -> Result<Index, StoreError> {
        let keys: Vec<SourceKey> = {
            let mut guard = self.client.lock().expect("pg client");
            let c: &mut Client = guard.as_mut().expect("connected until dropped");
            off_runtime(|| c.query("SELECT key FROM sources ORDER BY key", &[]))
                .map_err(self.e())?
                .iter()
                .map(|r| SourceKey(r.get(0)))
                .collect()
        };
        let articles: Vec<String> = {
            let mut guard = self.client.lock().expect("pg client");
            let c: &mut Client = guard.as_mut().expect("connected until dropped");
            off_runtime(|| c.query("SELECT DISTINCT article FROM baselines", &[]))
                .map_err(self.e())?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        let mut index = self.load(&keys, &articles)?;
        index.loaded = Default::default();
        Ok(index)
    }
}

/// The fingerprints of a source's rows, as [`super::db`] takes them.
fn loaded(rec: &SourceRecord) -> super::LoadedSource {
    super::LoadedSource {
        url: super::db::fingerprint(&rec.url),
        versions: rec.versions.iter().map(super::db::fingerprint).collect(),
        attempt: super::db::fingerprint(&rec.last),
    }
}

/// The stored records of these sources (three queries).
fn read_sources(
    c: &mut impl GenericClient,
    keys: &[&str],
    name: &str,
) -> Result<std::collections::BTreeMap<SourceKey, SourceRecord>, StoreError> {
    let e = err(name);
    let bad = |m: String| StoreError::Db(name.into(), m);
    let mut out = std::collections::BTreeMap::new();
    for r in c
        .query("SELECT key, url FROM sources WHERE key = ANY($1)", &[&keys])
        .map_err(&e)?
    {
        out.insert(
            SourceKey(r.get(0)),
            SourceRecord {
                url: r.get(1),
                ..SourceRecord::default()
            },
        );
    }
    let versions = c
        .query(
            &format!(
                "SELECT source, {VERSION_COLUMNS} FROM versions WHERE source = ANY($1)
                 ORDER BY source, seq"
            ),
            &[&keys],
        )
        .map_err(&e)?;
    for r in versions {
        let key: &str = r.get(0);
        if let Some(rec) = out.get_mut(key) {
            rec.versions.push(version_at(&r, 1).map_err(bad)?);
        }
    }
    let attempts = c
        .query(
            "SELECT source, at, raw, rules, error FROM attempts WHERE source = ANY($1)",
            &[&keys],
        )
        .map_err(&e)?;
    for r in attempts {
        let key: &str = r.get(0);
        if let Some(rec) = out.get_mut(key) {
            let error: Option<super::db::StoredFailure> = json_opt(r.get(4)).map_err(bad)?;
            rec.last = Some(Attempt {
                at: time(r.get(1)).map_err(bad)?,
                raw: r.get(2),
                rules: r.get(3),
                failed_runs: error.as_ref().map_or(0, |e| e.failed_runs.max(1)),
                error: error.map(|e| e.failure),
            });
        }
    }
    Ok(out)
}

/// Sources another worker committed since this run loaded them (a source cited by articles
/// that two workers ran at once): each is taken again as stored now, with this run's news
/// on top, so neither run's versions are lost. Called holding the sources' advisory locks.
fn merge_concurrent(c: &mut impl GenericClient, index: &mut Index, name: &str) -> Result<usize, StoreError> {
    let keys: Vec<&str> = index.sources.keys().map(SourceKey::as_str).collect();
    let stored = read_sources(c, &keys, name)?;
    let mut merged = 0;
    for (key, rec) in &mut index.sources {
        let was = index.loaded.sources.get(key);
        let Some(now) = stored.get(key) else {
            if was.is_some() {
                // Gone meanwhile (nothing deletes sources today): written again whole.
                index.loaded.sources.remove(key);
            }
            continue;
        };
        let now_fp = loaded(now);
        let unchanged = was.is_some_and(|w| w.versions == now_fp.versions && w.attempt == now_fp.attempt);
        if unchanged {
            continue;
        }
        merged += 1;
        let mut next = now.clone();
        next.url = rec.url.clone();
        if let Some(ours) = rec.versions.last() {
            match next.versions.last_mut() {
                Some(theirs) if theirs.text == ours.text => {
                    theirs.last_seen = theirs.last_seen.max(ours.last_seen);
                }
                _ => next.versions.push(ours.clone()),
            }
        }
        next.last = match (&next.last, &rec.last) {
            (Some(theirs), Some(ours)) if theirs.at > ours.at => Some(theirs.clone()),
            (_, ours) => ours.clone().or(next.last),
        };
        *rec = next;
        index.loaded.sources.insert(key.clone(), now_fp);
    }
    Ok(merged)
}

/// A unique name for one claim: host, process, random.
pub(super) fn worker_token() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "the PostgreSQL store".into(),
    }
}

fn err(name: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| {
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| e.to_string());
        StoreError::Db(name.into(), detail)
    }
}

/// One commit's transaction, with its statements prepared once.
pub(super) struct Writer<'a> {
    tx: Transaction<'a>,
    name: &'a str,
    put_source: Statement,
    put_version: Statement,
    cut_versions: Statement,
    put_attempt: Statement,
    del_attempt: Statement,
    put_baseline: Statement,
    put_flag: Statement,
    del_flag: Statement,
    del_baseline: Statement,
    pinned: Statement,
    put_ack: Statement,
}

impl<'a> Writer<'a> {
    fn new(mut tx: Transaction<'a>, name: &'a str) -> Result<Self, StoreError> {
        let e = err(name);
        let mut p = |sql: &str| tx.prepare(sql).map_err(&e);
        let put_source = p("INSERT INTO sources(key, url) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET url = EXCLUDED.url")?;
        let put_version = p(
            "INSERT INTO versions(source, seq, text, raw, first_seen, last_seen, status, final_url,
             content_type, etag, last_modified, extractor, archived, archive_job)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (source, seq) DO UPDATE SET text = EXCLUDED.text, raw = EXCLUDED.raw,
             first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
             status = EXCLUDED.status, final_url = EXCLUDED.final_url,
             content_type = EXCLUDED.content_type, etag = EXCLUDED.etag,
             last_modified = EXCLUDED.last_modified, extractor = EXCLUDED.extractor,
             archived = EXCLUDED.archived, archive_job = EXCLUDED.archive_job",
        )?;
        let cut_versions = p("DELETE FROM versions WHERE source = $1 AND seq >= $2")?;
        let put_attempt = p(
            "INSERT INTO attempts(source, at, raw, rules, error) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at, raw = EXCLUDED.raw,
             rules = EXCLUDED.rules, error = EXCLUDED.error",
        )?;
        let del_attempt = p("DELETE FROM attempts WHERE source = $1")?;
        let put_baseline = p(
            "INSERT INTO baselines(key, article, statement, cite, source, version, anchors,
             missing_quotes, unfound_quotes, candidate, set_at, set_by, statement_text)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (key) DO UPDATE SET article = EXCLUDED.article,
             statement = EXCLUDED.statement, cite = EXCLUDED.cite, source = EXCLUDED.source,
             version = EXCLUDED.version, anchors = EXCLUDED.anchors,
             missing_quotes = EXCLUDED.missing_quotes, unfound_quotes = EXCLUDED.unfound_quotes,
             candidate = EXCLUDED.candidate, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by,
             statement_text = EXCLUDED.statement_text",
        )?;
        let put_flag = p("INSERT INTO flags(baseline, since_run, since, verdict, announced)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (baseline) DO UPDATE SET since_run = EXCLUDED.since_run,
             since = EXCLUDED.since, verdict = EXCLUDED.verdict, announced = EXCLUDED.announced")?;
        let del_flag = p("DELETE FROM flags WHERE baseline = $1")?;
        let del_baseline = p("DELETE FROM baselines WHERE key = $1")?;
        let pinned = p("SELECT version FROM baselines WHERE source = $1")?;
        let put_ack = p(
            "INSERT INTO acks(baseline, by, at, version, previous, cleared_verdict,
             cleared_since_run) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )?;
        Ok(Writer {
            tx,
            name,
            put_source,
            put_version,
            cut_versions,
            put_attempt,
            del_attempt,
            put_baseline,
            put_flag,
            del_flag,
            del_baseline,
            pinned,
            put_ack,
        })
    }

    fn exec(
        &mut self,
        which: fn(&Self) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let st = which(self).clone();
        self.tx.execute(&st, params).map_err(err(self.name))
    }
}

impl super::Records for Writer<'_> {
    fn put_source(
        &mut self,
        key: &SourceKey,
        rec: &SourceRecord,
        loaded: Option<&super::LoadedSource>,
    ) -> Result<(), StoreError> {
        let was = loaded.cloned().unwrap_or_default();
        if loaded.is_none() || was.url != super::db::fingerprint(&rec.url) {
            self.exec(|w| &w.put_source, &[&key.as_str(), &rec.url])?;
        }
        for (seq, v) in rec.versions.iter().enumerate() {
            if was.versions.get(seq) == Some(&super::db::fingerprint(v)) {
                continue;
            }
            self.exec(
                |w| &w.put_version,
                &[
                    &key.as_str(),
                    &(seq as i32),
                    &v.text.as_str(),
                    &v.raw,
                    &stamp(&v.first_seen),
                    &stamp(&v.last_seen),
                    &i32::from(v.status),
                    &v.final_url,
                    &v.content_type,
                    &v.etag,
                    &v.last_modified,
                    &v.extractor,
                    &v.archived,
                    &v.archive_job,
                ],
            )?;
        }
        if was.versions.len() > rec.versions.len() {
            self.exec(
                |w| &w.cut_versions,
                &[&key.as_str(), &(rec.versions.len() as i32)],
            )?;
        }
        if loaded.is_some() && was.attempt == super::db::fingerprint(&rec.last) {
            return Ok(());
        }
        match &rec.last {
            Some(a) => self.exec(
                |w| &w.put_attempt,
                &[
                    &key.as_str(),
                    &stamp(&a.at),
                    &a.raw,
                    &a.rules,
                    &a.error
                        .as_ref()
                        .map(|f| to_json(&super::db::StoredFailure::of(f, a.failed_runs))),
                ],
            )?,
            None => self.exec(|w| &w.del_attempt, &[&key.as_str()])?,
        };
        Ok(())
    }

    fn put_baseline(&mut self, key: &BaselineKey, b: &Baseline) -> Result<(), StoreError> {
        let article = b.statement.0.split(':').next().unwrap_or("");
        self.exec(
            |w| &w.put_baseline,
            &[
                &key.as_str(),
                &article,
                &b.statement.0,
                &(b.cite.0 as i32),
                &b.source.as_str(),
                &b.version.as_str(),
                &to_json(&b.anchors),
                &to_json(&b.missing_quotes),
                &to_json(&b.unfound_quotes),
                &b.candidate,
                &stamp(&b.set_at),
                &b.set_by,
                &b.statement_text,
            ],
        )?;
        match &b.flag {
            Some(f) => self.exec(
                |w| &w.put_flag,
                &[
                    &key.as_str(),
                    &f.since_run.as_str(),
                    &stamp(&f.since),
                    &f.verdict.as_ref().map(to_json),
                    &f.announced,
                ],
            )?,
            None => self.exec(|w| &w.del_flag, &[&key.as_str()])?,
        };
        Ok(())
    }

    fn delete_baseline(&mut self, key: &BaselineKey) -> Result<(), StoreError> {
        self.exec(|w| &w.del_baseline, &[&key.as_str()])?;
        self.exec(|w| &w.del_flag, &[&key.as_str()])?;
        Ok(())
    }

    fn pinned(&mut self, source: &SourceKey) -> Result<BTreeSet<TextHash>, StoreError> {
        let st = self.pinned.clone();
        Ok(self
            .tx
            .query(&st, &[&source.as_str()])
            .map_err(err(self.name))?
            .iter()
            .map(|r| TextHash(r.get(0)))
            .collect())
    }

    fn put_ack(&mut self, a: &Ack) -> Result<(), StoreError> {
        self.exec(
            |w| &w.put_ack,
            &[
                &a.baseline.as_str(),
                &a.by,
                &stamp(&a.at),
                &a.version.as_str(),
                &a.previous.as_ref().map(TextHash::as_str),
                &a.cleared_verdict.as_ref().map(to_json),
                &a.cleared_since_run.as_ref().map(RunId::as_str),
            ],
        )?;
        Ok(())
    }
}

const VERSION_COLUMNS: &str = "text, raw, first_seen, last_seen, status, final_url, content_type, etag, last_modified, extractor, archived, archive_job";

fn version_at(r: &Row, i: usize) -> Result<Version, String> {
    Ok(Version {
        text: TextHash(r.get(i)),
        raw: r.get(i + 1),
        first_seen: time(r.get(i + 2))?,
        last_seen: time(r.get(i + 3))?,
        status: u16::try_from(r.get::<_, i32>(i + 4)).map_err(|e| e.to_string())?,
        final_url: r.get(i + 5),
        content_type: r.get(i + 6),
        etag: r.get(i + 7),
        last_modified: r.get(i + 8),
        extractor: r.get(i + 9),
        archived: r.get(i + 10),
        archive_job: r.get(i + 11),
    })
}

const BASELINE_SELECT: &str = "SELECT b.statement, b.cite, b.source, b.version, b.anchors,
    b.missing_quotes, b.unfound_quotes, b.candidate, b.set_at, b.set_by, b.statement_text,
    f.since_run, f.since, f.verdict, b.key, f.announced
    FROM baselines b LEFT JOIN flags f ON f.baseline = b.key";

fn baseline_at(r: &Row) -> Result<(BaselineKey, Baseline), String> {
    let flag = match r.get::<_, Option<String>>(11) {
        None => None,
        Some(run) => Some(Flag {
            since_run: RunId(run),
            since: time(r.get(12))?,
            verdict: json_opt(r.get(13))?,
            announced: r.get::<_, Option<bool>>(15).unwrap_or(true),
        }),
    };
    let b = Baseline {
        statement: crate::watchlist::StatementId(r.get(0)),
        cite: crate::watchlist::CiteNo(u32::try_from(r.get::<_, i32>(1)).map_err(|e| e.to_string())?),
        source: SourceKey(r.get(2)),
        version: TextHash(r.get(3)),
        anchors: json(r.get(4))?,
        missing_quotes: json(r.get(5))?,
        unfound_quotes: json(r.get(6))?,
        candidate: r.get(7),
        set_at: time(r.get(8))?,
        set_by: r.get(9),
        statement_text: r.get(10),
        flag,
    };
    Ok((BaselineKey(r.get(14)), b))
}

/// A time as the store writes it (RFC 3339, UTC, as precise as it is), as in SQLite.
fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad time {s:?}: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("store values serialize")
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_str(s).map_err(|e| format!("bad value {s:?}: {e}"))
}

fn json_opt<T: serde::de::DeserializeOwned>(s: Option<&str>) -> Result<Option<T>, String> {
    s.map(json).transpose()
}
