//! The upgrade from format 1: a store whose records are all in `snapshots/index.json`.
//!
//! On the first open for writing, everything in it (every source, version, latest attempt,
//! baseline and flag; the acks its baselines record as `set_by: "ack by …"`; the runs its
//! flags name) goes into the database in the transaction that creates the schema, with the
//! file's blake3 in `meta`. Only then is the file moved aside, to
//! `index.json.imported-<UTC time>`. A crash between the two leaves a database that names the
//! file's hash: the next open finishes the move. An `index.json` of another format, or one
//! beside a database that did not import it, is an error and stays where it is.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::db::{Db, Writer};
use super::{Ack, Index, RunId, RunRecord, StoreError, io, sync_dir};

/// The format of `index.json` this version imports.
pub const INDEX_FORMAT: u32 = 1;

/// `snapshots/index.json`.
pub(super) fn index_path(dir: &Path) -> PathBuf {
    dir.join("index.json")
}

/// Reads a format-1 `index.json`, if there is one: (its contents, its blake3).
pub(super) fn read(dir: &Path) -> Result<Option<(Index, String)>, StoreError> {
    let path = index_path(dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    #[derive(serde::Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(path.clone(), e.to_string()))?;
    if head.format != INDEX_FORMAT {
        return Err(StoreError::Format {
            path,
            found: head.format,
            supported: INDEX_FORMAT,
        });
    }
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(path.clone(), e.to_string()))?;
    Ok(Some((index, blake3::hash(&bytes).to_hex().to_string())))
}

/// Writes everything of `index` into a database being created (inside `w`).
pub(super) fn import(w: &Writer<'_>, index: &Index, hash: &str) -> Result<(), StoreError> {
    for (key, rec) in &index.sources {
        w.put_source(key, rec, None)?;
    }
    let mut runs: std::collections::BTreeMap<&RunId, chrono::DateTime<Utc>> = Default::default();
    for (key, b) in &index.baselines {
        w.put_baseline(key, b)?;
        if let Some(by) = b.set_by.strip_prefix("ack by ") {
            // `set_by` may have grown a "; re-extracted (…)" note since.
            let by = by.split("; ").next().unwrap_or(by);
            w.put_ack(&Ack {
                baseline: key.clone(),
                by: by.to_owned(),
                at: b.set_at,
                version: b.version.clone(),
                previous: None,
                cleared_verdict: None,
                cleared_since_run: None,
            })?;
        }
        if let Some(f) = &b.flag {
            let t = runs.entry(&f.since_run).or_insert(f.since);
            *t = (*t).min(f.since);
        }
    }
    for (id, at) in runs {
        w.put_run(
            &RunRecord {
                id: id.clone(),
                started_at: at,
                trigger: "imported".into(),
                articles: 0,
                sources: 0,
            },
            at,
        )?;
    }
    w.put_meta("imported_index_blake3", hash)?;
    w.put_meta("imported_at", &Utc::now().to_rfc3339())?;
    Ok(())
}

/// Moves an imported `index.json` aside (durably), once the database holding it committed.
pub(super) fn move_aside(dir: &Path) -> Result<(), StoreError> {
    let from = index_path(dir);
    let to = dir.join(format!(
        "index.json.imported-{}",
        Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    std::fs::rename(&from, &to).map_err(io(&from))?;
    sync_dir(dir)?;
    tracing::info!(
        "imported {} into the store database; kept it as {}",
        from.display(),
        to.display()
    );
    Ok(())
}

/// An `index.json` beside a database: moved aside if the database imported it, else an error.
pub(super) fn leftover(dir: &Path, db: &Db) -> Result<(), StoreError> {
    let Some((_, hash)) = read(dir)? else {
        return Ok(());
    };
    if db.meta("imported_index_blake3")?.as_deref() == Some(hash.as_str()) {
        return move_aside(dir);
    }
    Err(StoreError::Conflict(index_path(dir), super::db::path(dir)))
}
