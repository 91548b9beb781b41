#!/usr/bin/env bash
# citewatch throughput benchmark on loopback, side by side with urlwatch.
#
#   bench/run.sh                 # N=1000; REPS=3 (median); also runs ../shared/bench/peer_urlwatch.sh
#   PEER=0 bench/run.sh          # citewatch only
#   BIN=/tmp/old/citewatch PEER=0 bench/run.sh   # another build, same pages
#
# The 1000 realistic news pages of ../shared/bench/gen_pages.py (versions A and B) are served by
# a private nginx on 127.0.0.1 (../shared/bench/serve.sh, every GET a full 200). A watchlist
# cites all of them (bench/make_watchlist.py). Three runs of `citewatch check`, each under
# /usr/bin/time -v: cold (all new), again (nothing changed), after switching to version B
# (noise on every page, one article sentence edited on 100). Prints pages/s, CPU seconds and
# peak RSS, the flags raised, then urlwatch's figures and the ratios.
# Needs: nginx, /usr/bin/time, curl (installed with apt-get when missing), python3.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
SHARED=${SHARED:-$REPO/../shared/bench}
N=${N:-1000}; PORT=${PORT:-18090}; WORK=${WORK:-/tmp/citewatch-bench}; PEER=${PEER:-1}; REPS=${REPS:-3}
OUT="$WORK/citewatch-n$N"
need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need nginx nginx; need curl curl; [ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

for v in A B; do
  [ -f "$WORK/pages-$N-$v/manifest.json" ] || python3 "$SHARED/gen_pages.py" --n "$N" --out "$WORK/pages-$N-$v" --version "$v" >/dev/null
done
# BIN=/path/to/citewatch compares another build (e.g. the previous release) on the same pages.
if [ -z "${BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --quiet)
  BIN="$REPO/target/release/citewatch"
fi

# Emptied stores are moved aside and deleted only at the end: for about a minute after thousands
# of files are freed, ext4 checks each new inode against the recently deleted ones, which cost a
# cold run ~0.1-0.2 s of CPU measured here. A real first run does not follow such a deletion.
TRASH="$WORK/trash-$$"; mkdir -p "$TRASH"
[ -e "$OUT" ] && mv "$OUT" "$TRASH/previous"
mkdir -p "$OUT/root"
ln -sfn "$WORK/pages-$N-A" "$OUT/www"
"$SHARED/serve.sh" start "$OUT/nginx" "$PORT" "$OUT/www" >/dev/null
trap '"$SHARED/serve.sh" stop "$OUT/nginx" >/dev/null; rm -rf "$TRASH"' EXIT
python3 "$HERE/make_watchlist.py" "$OUT/root" "$WORK/pages-$N-A" "$WORK/pages-$N-B" "http://127.0.0.1:$PORT" >/dev/null
printf '[fetch]\nconcurrency = 16\nper_host = 16\n' > "$OUT/root/citewatch.toml"

timed() {   # timed PHASE REP
  sync; sleep 1   # let the previous phase's writeback finish outside the timed run
  /usr/bin/time -v -o "$OUT/time-$1-r$2.txt" "$BIN" --root "$OUT/root" -q check --format json > "$OUT/report-$1-r$2.json"
}
# Each repetition starts from an empty store: cold, again unchanged, then version B.
for r in $(seq 1 "$REPS"); do
  mkdir -p "$TRASH/r$r"
  for d in snapshots reports; do [ -e "$OUT/root/$d" ] && mv "$OUT/root/$d" "$TRASH/r$r/"; done
  timed 1-cold "$r"
  timed 2-nochange "$r"
  ln -sfn "$WORK/pages-$N-B" "$OUT/www"
  timed 3-changes "$r"
  ln -sfn "$WORK/pages-$N-A" "$OUT/www"
done

python3 - "$OUT" "$N" "$REPS" <<'PY' | tee "$OUT/summary.txt"
import json, re, sys
out, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def parse(p):
    t = open(p).read()
    g = lambda k: re.search(re.escape(k) + r":\s*(.+)", t).group(1).strip()
    w = g("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(w)))
    return dict(wall=wall, cpu=float(g("User time (seconds)")) + float(g("System time (seconds)")),
                rss=int(g("Maximum resident set size (kbytes)")) / 1024)
print(f"citewatch, N={n}, median of {reps} runs by wall time (range in brackets)")
print(f"{'phase':<12}{'wall s':>8}{'cpu s':>8}{'peak MiB':>10}{'pages/s':>9}  {'wall range':<13} outcome counts; flagged statements")
for ph in ["1-cold", "2-nochange", "3-changes"]:
    runs = sorted(((parse(f"{out}/time-{ph}-r{r}.txt"), r) for r in range(1, reps + 1)), key=lambda x: x[0]["wall"])
    d, r = runs[len(runs) // 2]
    rep = json.load(open(f"{out}/report-{ph}-r{r}.json"))
    oc = {}
    for s in rep["sources"]: oc[s["outcome"]] = oc.get(s["outcome"], 0) + 1
    span = f"{runs[0][0]['wall']:.2f}-{runs[-1][0]['wall']:.2f}"
    peak = max(x[0]["rss"] for x in runs)
    print(f"{ph:<12}{d['wall']:8.2f}{d['cpu']:8.2f}{peak:10.1f}{n/d['wall']:9.1f}  {span:<13} {oc}; flagged {rep['summary']['flagged']}")
# Version B edits one article sentence on some pages: exactly their statements must be flagged.
m = json.load(open(f"{out}/../pages-{n}-B/manifest.json"))
edited = {p["path"] for p in m["pages"] if p.get("changed")}
for r in range(1, reps + 1):
    rep = json.load(open(f"{out}/report-3-changes-r{r}.json"))
    tp = fp = fn = 0
    for s in rep["statements"]:
        e = s["evidence"][0]["url"].split("/", 3)[3] in edited
        tp += e and s["flagged"]; fp += (not e) and s["flagged"]; fn += e and not s["flagged"]
    print(f"version B, run {r}: {len(edited)} statements edited; flagged {tp} of them, {fp} others, missed {fn} "
          f"(precision {tp / max(tp + fp, 1):.3f}, recall {tp / max(tp + fn, 1):.3f})")
PY

if [ "$PEER" = 1 ]; then
  UW=${UW:-/tmp/uw}
  [ -x "$UW/bin/urlwatch" ] || { python3 -m venv "$UW" && "$UW/bin/pip" install -q urlwatch; }
  N=$N REPS=$REPS WORK=$WORK UW=$UW "$SHARED/peer_urlwatch.sh" | tail -5 | tee "$OUT/urlwatch.txt"
  python3 - "$OUT" <<'PY'
import re, sys
out = sys.argv[1]
cw = {l.split()[0]: float(l.split()[4]) for l in open(f"{out}/summary.txt") if l[:2] in ("1-", "2-", "3-")}
uw = {l.split()[0]: float(l.split()[6]) for l in open(f"{out}/urlwatch.txt") if l[:2] in ("1-", "2-", "3-")}
for ph in ["1-cold", "2-nochange", "3-changes"]:
    if ph in uw:
        print(f"{ph:<12} citewatch {cw[ph]:8.1f} pages/s   urlwatch {uw[ph]:8.1f} pages/s   ratio {cw[ph]/uw[ph]:5.1f}x")
PY
fi
