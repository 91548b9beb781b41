//! The store as tests see it: every record as JSON, in the shape of a format-1 `index.json`
//! (`sources` → versions and the latest attempt, `baselines` → anchors and flags, `acks`).

use std::path::Path;

/// Every record of the store under `root` (read without the lock, as another process would).
pub fn index(root: &Path) -> serde_json::Value {
    let idx = citewatch::snapshot::Store::export(&root.join("snapshots")).expect("store readable");
    serde_json::to_value(&idx).expect("store as JSON")
}

/// Replaces the store's records with `index` (as [`index`] gives them): the database goes,
/// and a format-1 `index.json` takes its place, for the next run to import.
pub fn replace(root: &Path, index: &serde_json::Value) {
    let dir = root.join("snapshots");
    for f in ["store.db", "store.db-wal", "store.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let mut v = index.clone();
    v["format"] = 1.into();
    v.as_object_mut().expect("an object").remove("acks");
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&v).expect("json")).expect("write index.json");
}
