#!/usr/bin/env bash
# redb vs SQLite (rusqlite, bundled) on the store's access pattern, JSON records of the size
# citewatch keeps (a source ~0.6 KB, a baseline ~0.6 KB): for N = 1000, 20000, 100000, one
# process per phase: cold (insert N sources + N baselines, one transaction), all (read and
# parse every source and baseline, rewrite every source: an unchanged full run), only (read
# 10 sources and baselines, rewrite the 10 sources: `check --only`), read (10 point reads).
# Durable commits in both (redb's default Durability::Immediate; SQLite WAL, synchronous=FULL).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/store_choice-target}
cargo build --release --quiet
B=$CARGO_TARGET_DIR/release/store_choice
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for n in 1000 20000 100000; do for e in redb sqlite; do d=$W/$e-$n; mkdir -p "$d"
  for ph in cold all only read; do "$B" "$e" "$ph" "$n" "$d"; done
  echo "$e n=$n: files $(du -sh "$d" | cut -f1)"; done; done
