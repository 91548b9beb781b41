#!/usr/bin/env bash
# citewatch at scale: how the time and memory of a run, and the size of the store's records
# grow with the number of watched URLs. A benchmark, not a test (nothing is asserted).
#
#   bench/scale.sh               # N = 1000 5000 20000
#   bench/scale.sh --big         # and N = 100000
#   NS="1000 5000" bench/scale.sh      # any list of N (multiples of 1000 read best)
#   BIN=/path/to/citewatch bench/scale.sh   # a given binary instead of `cargo build --release` here
#
# The 1000 pages of ../shared/bench/gen_pages.py (version A, made once under $WORK like
# bench/run.sh does) are served by a private nginx on 127.0.0.1:$PORT (../shared/bench/serve.sh)
# under N distinct URLs: /p/<k>/<i>.html is page i (the docroot holds p/<k> -> the pages' p/
# for every k), so URL j is /p/<j/1000>/<j%1000>.html. Bodies repeat every 1000 URLs: the
# store's objects stay at about 1000 text + 1000 raw files, while the records (snapshots/store.db; index.json before format 2), the baselines,
# the fetches, extractions and reports grow with N. The watchlist has N/10 articles of 10
# sources each, one statement per source (the first sentence of the page's article, as in
# bench/make_watchlist.py). For each N, under /usr/bin/time -v: a cold `check` (empty store),
# a nothing-changed `check`, and `check --only` one article (10 sources, whole store loaded
# and written back). Prints one table row per N. The default list takes about 45 s on 2 cores.
#
# Env (defaults): PORT=18091 WORK=/tmp/citewatch-bench SHARED=../shared/bench KEEP=0 (1: keep
# the roots under $WORK/scale for inspection). Needs nginx, curl, /usr/bin/time (installed with
# apt-get when missing, as bench/run.sh does), python3.
# Idempotent: a previous run's leftovers (nginx, roots) are stopped and removed first; on exit
# nginx is stopped and everything under $WORK/scale* is deleted (the page cache stays).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
SHARED=${SHARED:-$REPO/../shared/bench}
PORT=${PORT:-18091}; WORK=${WORK:-/tmp/citewatch-bench}; KEEP=${KEEP:-0}
NS=${NS:-"1000 5000 20000"}
case "${1:-}" in --big) NS="$NS 100000";; "") ;; *) echo "usage: $0 [--big]"; exit 2;; esac
need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need nginx nginx; need curl curl; [ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

if [ -z "${BIN:-}" ]; then (cd "$REPO" && cargo build --release --quiet); BIN="$REPO/target/release/citewatch"; fi
PAGES="$WORK/pages-1000-A"
[ -f "$PAGES/manifest.json" ] || python3 "$SHARED/gen_pages.py" --n 1000 --out "$PAGES" --version A >/dev/null

OUT="$WORK/scale"
# Leftovers of an interrupted run: its nginx, its roots, its trash.
[ -d "$OUT/nginx" ] && "$SHARED/serve.sh" stop "$OUT/nginx" >/dev/null
# Deleted stores are moved aside and deleted only at the end (see bench/run.sh: ext4 slows the
# creation of files for about a minute after thousands were deleted).
TRASH="$WORK/scale-trash-$$"; mkdir -p "$TRASH"
for old in "$OUT" "$WORK"/scale-trash-*; do
  [ "$old" != "$TRASH" ] && [ -e "$old" ] && mv "$old" "$TRASH/old-$(basename "$old")"
done
cleanup() {
  "$SHARED/serve.sh" stop "$OUT/nginx" >/dev/null 2>&1 || true
  if [ "$KEEP" = 1 ]; then echo "kept $OUT"; else rm -rf "$OUT"; fi
  rm -rf "$TRASH"
}
trap cleanup EXIT

if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then echo "something already listens on 127.0.0.1:$PORT (set PORT)"; exit 3; fi
MAXN=0; for n in $NS; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
mkdir -p "$OUT/www/p"
for k in $(seq 0 $(( (MAXN + 999) / 1000 - 1 ))); do ln -sfn "$PAGES/p" "$OUT/www/p/$k"; done
"$SHARED/serve.sh" start "$OUT/nginx" "$PORT" "$OUT/www" >/dev/null
curl -fs -o /dev/null "http://127.0.0.1:$PORT/p/$(( (MAXN - 1) / 1000 ))/00999.html" || { echo "nginx does not serve the pages"; exit 3; }

timed() {   # timed N PHASE ARGS... : one check under /usr/bin/time -v
  local n=$1 ph=$2; shift 2
  sync; sleep 1   # the previous run's writeback finishes outside the timed one
  /usr/bin/time -v -o "$OUT/n$n/time-$ph.txt" "$BIN" --root "$OUT/n$n/root" -q check --format json "$@" \
    > "$OUT/n$n/report-$ph.json"
}

ROWS="$OUT/rows.txt"; : > "$ROWS"
echo "citewatch $("$BIN" --version 2>/dev/null | head -1); $(nproc) cores; pages $PAGES; N = $NS"
for n in $NS; do
  R="$OUT/n$n/root"; mkdir -p "$R/watchlist"
  printf '[fetch]\nconcurrency = 16\nper_host = 16\n' > "$R/citewatch.toml"
  python3 - "$R/watchlist" "$PAGES" "$n" "http://127.0.0.1:$PORT" <<'PY'
import html, json, os, re, sys
wl, pages, n, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
paths = [p["path"] for p in json.load(open(os.path.join(pages, "manifest.json")))["pages"]]
body_re = re.compile(r'<div class="article__body"[^>]*>(.*?)</div>', re.S)
p_re = re.compile(r"<p[^>]*>(.*?)</p>", re.S)
tag_re = re.compile(r"<[^>]+>")
def first_sentence(path):  # as bench/make_watchlist.py
    doc = open(os.path.join(pages, path), encoding="utf-8").read()
    m = body_re.search(doc)
    text = html.unescape(tag_re.sub("", p_re.findall(m.group(1) if m else doc)[0])).strip()
    s = re.split(r"(?<=[.!?])\s+", text)[0]
    return s.replace('"""', "'''").replace("[", "(").replace("]", ")")
sentences = [first_sentence(p) for p in paths]
for a in range(n // 10):
    prose, sources = [], []
    for c in range(10):
        j = a * 10 + c
        k, i = divmod(j, len(paths))
        prose.append(f"{sentences[i]} [{c + 1}]\n")
        url = f"{base}/p/{k}/{os.path.basename(paths[i])}"
        sources.append(f"[[source]]\ncite = {c + 1}\nurl = {json.dumps(url)}\n")
    with open(os.path.join(wl, f"scale-{a:05d}.toml"), "w", encoding="utf-8") as f:
        f.write(f'title = "Scale article {a}"\narticle = """\n' + "\n".join(prose) + '"""\n\n' + "\n".join(sources))
PY
  ONLY="scale-$(printf '%05d' $(( n / 20 )))"   # an article in the middle
  timed "$n" 1-cold
  timed "$n" 2-unchanged
  timed "$n" 3-only --only "$ONLY"
  # The records: index.json (format 1) or the database and its write-ahead log (format 2).
  echo "$n $({ cat "$R"/snapshots/index.json "$R"/snapshots/store.db "$R"/snapshots/store.db-wal 2>/dev/null || true; } | wc -c)" >> "$ROWS"
  python3 - "$OUT/n$n" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
for ph, want in [("1-cold", n), ("2-unchanged", n), ("3-only", 10)]:
    s = json.load(open(f"{out}/report-{ph}.json"))["summary"]
    if s["statements"] != want or s["sources_failed"] or s["flagged"]:
        print(f"  warning: N={n} {ph}: {s}", file=sys.stderr)
PY
  # This N's root is done with: aside, deleted at the end (its index is measured above).
  [ "$KEEP" = 1 ] || mv "$OUT/n$n/root" "$TRASH/root-n$n"
done

python3 - "$OUT" "$ROWS" <<'PY'
import re, sys
out, rows = sys.argv[1], sys.argv[2]
def parse(p):
    t = open(p).read()
    g = lambda k: re.search(re.escape(k) + r":\s*(.+)", t).group(1).strip()
    w = g("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    return sum(float(x) * 60 ** i for i, x in enumerate(reversed(w))), int(g("Maximum resident set size (kbytes)")) / 1024
print(f"{'N':>7} {'cold s':>8} {'cold MiB':>9} {'unchanged s':>12} {'unch. MiB':>10} {'--only s':>9} {'--only MiB':>11} {'records':>11}")
for line in open(rows):
    n, size = map(int, line.split())
    c, u, o = (parse(f"{out}/n{n}/time-{ph}.txt") for ph in ("1-cold", "2-unchanged", "3-only"))
    print(f"{n:>7} {c[0]:>8.2f} {c[1]:>9.1f} {u[0]:>12.2f} {u[1]:>10.1f} {o[0]:>9.2f} {o[1]:>11.1f} {size / 2**20:>8.1f} MiB")
PY
