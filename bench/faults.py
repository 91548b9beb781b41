#!/usr/bin/env python3
"""Issue 17's sweep, measured again: the figures of the faults that cost memory or time.
A benchmark, not a test (the tests in tests/it assert the behaviour; this prints figures).

    python3 bench/faults.py [--bin PATH] [page] [hosts] [unknown-only]

  page          100 runs of 10,000 flagged statements each under reports/, the daemon's page
                asked once and then ten times at once: seconds and the daemon's peak RSS.
                (The sweep: one request 2.2 s and 1 GiB, ten at once 9.7 GiB.)
  hosts         5,000 sources on 50 loopback hosts (127.0.0.2-51), 3 of them slow (1 s a
                page, the others 20 ms), concurrency 16, per_host 4: a cold check with the
                watchlist host by host and interleaved. (The sweep: 120.6 s and 27.6 s.)
  unknown-only  2,000 POST /recheck?only=unknown at once against the daemon, then one valid
                re-check. (The sweep: 254 answered in 60 s, the re-check 17 s instead of 2 s.)

Everything listens on loopback only; nothing outside 127.0.0.0/8 is touched. BIN defaults to
target/release/citewatch (build it first: cargo build --release).
"""
import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(bin_, root, *args, check=True):
    out = subprocess.run([bin_, "--root", root, *args], capture_output=True, text=True)
    if check and out.returncode not in (0, 1):
        sys.exit(f"citewatch {' '.join(args)} exited {out.returncode}: {out.stderr[-2000:]}")
    return out


class Pages(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve(bind, pages, delay_of=lambda host: 0.0):
    """A threaded page server on `bind`; `pages` maps a path to bytes (shared, mutable)."""

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            d = delay_of(self.server.server_address[0])
            if d:
                time.sleep(d)
            body = pages.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = Pages(bind, H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_daemon(bin_, root, port):
    log = open(os.path.join(root, "daemon.log"), "w")
    p = subprocess.Popen([bin_, "--root", root, "daemon"], stdout=log, stderr=log)
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("the daemon did not start: " + open(os.path.join(root, "daemon.log")).read()[-2000:])


def get(port, path, method="GET", timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, headers={"Sec-Fetch-Site": "same-origin"})
    r = c.getresponse()
    body = r.read()
    return r.status, body


def settings(root, port, extra=""):
    with open(os.path.join(root, "citewatch.toml"), "w") as f:
        f.write(f'[schedule]\ncron = "0 0 0 1 1 *"\n{extra}\n[control]\nlisten = "127.0.0.1:{port}"\n')


def bench_page(bin_):
    n, runs, real = 10_000, 100, 200
    root = tempfile.mkdtemp(prefix="cw-faults-page-")
    os.makedirs(os.path.join(root, "watchlist"))
    pages = {}
    srv = serve(("127.0.0.1", 0), pages)
    url = f"http://127.0.0.1:{srv.server_address[1]}/a"

    def page(k):
        ps = "".join(f"<p>The depot of town{i} keeps {100 + i + k} buses for its routes.</p>" for i in range(real))
        return f"<html><body><article>{ps}</article></body></html>".encode()

    article = " ".join(f"The depot of town{i} keeps {100 + i} buses [1]." for i in range(real))
    with open(os.path.join(root, "watchlist", "buses.toml"), "w") as f:
        f.write(f'title = "Buses"\narticle = """{article}"""\n[[source]]\ncite = 1\nurl = "{url}"\n')
    port = free_port()
    settings(root, port)
    pages["/a"] = page(0)
    run(bin_, root, "check", "--no-email")
    pages["/a"] = page(1)
    out = run(bin_, root, "check", "--no-email", "--format", "json")
    v = json.loads(out.stdout)
    reports = os.path.join(root, "reports")
    src = os.path.join(reports, v["run_id"])
    # The run's report grown to n flagged statements (copies of its own, new ids), as a
    # run of one big article or many would write it; page.json removed, as for runs written
    # before it existed: the page makes it once from report.json.
    with open(os.path.join(src, "report.json")) as f:
        rep = json.load(f)
    sts = rep["statements"]
    rep["statements"] = [dict(sts[i % len(sts)], id=f"{sts[i % len(sts)]['id']}-{i}") for i in range(n)]
    rep["summary"]["statements"] = rep["summary"]["flagged"] = rep["summary"]["new_flags"] = n
    with open(os.path.join(src, "report.json"), "w") as f:
        json.dump(rep, f)
    os.remove(os.path.join(src, "page.json"))
    size = os.path.getsize(os.path.join(src, "report.json"))
    for i in range(runs - 1):
        rid = f"20200101T{i // 60:02d}{i % 60:02d}00Z-{i:04x}"
        dst = os.path.join(reports, rid)
        shutil.copytree(src, dst)
    print(f"page: {runs} runs of {n} flagged statements, report.json {size / 2**20:.1f} MiB each, no page.json", flush=True)
    d = start_daemon(bin_, root, port)
    try:
        rss0 = peak_rss_mib(d.pid)
        t = time.monotonic()
        status, body = get(port, "/")
        first = time.monotonic() - t
        assert status == 200, status
        rss1 = peak_rss_mib(d.pid)
        t = time.monotonic()
        status, _ = get(port, "/")
        again = time.monotonic() - t
        t = time.monotonic()
        threads, results = [], []
        for _ in range(10):
            th = threading.Thread(target=lambda: results.append(get(port, "/")[0]))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        ten = time.monotonic() - t
        rss10 = peak_rss_mib(d.pid)
        print(
            f"page: first GET / {first:.2f} s (makes the 100 page.json), next {again:.3f} s, "
            f"ten at once {ten:.2f} s (status {sorted(set(results))}); daemon peak RSS {rss0:.0f} MiB at start, "
            f"{rss1:.0f} MiB after the first, {rss10:.0f} MiB after the ten; the page {len(body) / 1024:.0f} KiB",
            flush=True,
        )
    finally:
        d.kill()
        d.wait()
        shutil.rmtree(root, ignore_errors=True)


def bench_hosts(bin_):
    hosts = [f"127.0.0.{h}" for h in range(2, 52)]
    slow = set(hosts[:3])
    per = 100
    port = free_port()
    pages = {}
    for h in range(len(hosts)):
        for i in range(per):
            pages[f"/h{h}/p{i}"] = f"<html><body><article><p>Page {h} {i}: the depot keeps {i} buses.</p></article></body></html>".encode()
    servers = [serve((ip, port), pages, lambda ip: 1.0 if ip in slow else 0.02) for ip in hosts]
    for order in ["host by host", "interleaved"]:
        root = tempfile.mkdtemp(prefix="cw-faults-hosts-")
        os.makedirs(os.path.join(root, "watchlist"))
        urls = [(h, i) for h in range(len(hosts)) for i in range(per)]
        if order == "interleaved":
            urls = [(h, i) for i in range(per) for h in range(len(hosts))]
        for a in range(0, len(urls), 10):
            chunk = urls[a : a + 10]
            art = " ".join(f"Page {h} {i}: the depot keeps {i} buses [{k + 1}]." for k, (h, i) in enumerate(chunk))
            srcs = "".join(
                f'[[source]]\ncite = {k + 1}\nurl = "http://{hosts[h]}:{port}/h{h}/p{i}"\n' for k, (h, i) in enumerate(chunk)
            )
            with open(os.path.join(root, "watchlist", f"a{a // 10:04d}.toml"), "w") as f:
                f.write(f'title = "a{a}"\narticle = """{art}"""\n{srcs}')
        with open(os.path.join(root, "citewatch.toml"), "w") as f:
            f.write("[fetch]\nconcurrency = 16\nper_host = 4\ntimeout_secs = 30\nretries = 0\n")
        t = time.monotonic()
        out = run(bin_, root, "check", "--no-email", "--format", "json")
        took = time.monotonic() - t
        s = json.loads(out.stdout)["summary"]
        print(
            f"hosts: {s['sources']} sources on {len(hosts)} hosts (3 slow), {order}: cold check {took:.1f} s, "
            f"{s['sources_failed']} failed",
            flush=True,
        )
        shutil.rmtree(root, ignore_errors=True)
    for s in servers:
        s.shutdown()


async def post(port, path):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await w.drain()
    line = await r.readline()
    await r.read()
    w.close()
    return int(line.split()[1]) if line else 0


def bench_unknown_only(bin_):
    root = tempfile.mkdtemp(prefix="cw-faults-only-")
    os.makedirs(os.path.join(root, "watchlist"))
    pages = {f"/p{i}": f"<p>The depot keeps {i} buses.</p>".encode() for i in range(200)}
    srv = serve(("127.0.0.1", 0), pages)
    for a in range(20):
        art = " ".join(f"The depot keeps {a * 10 + k} buses [{k + 1}]." for k in range(10))
        srcs = "".join(
            f'[[source]]\ncite = {k + 1}\nurl = "http://127.0.0.1:{srv.server_address[1]}/p{a * 10 + k}"\n' for k in range(10)
        )
        with open(os.path.join(root, "watchlist", f"a{a:02d}.toml"), "w") as f:
            f.write(f'title = "a{a}"\narticle = """{art}"""\n{srcs}')
    port = free_port()
    settings(root, port)
    run(bin_, root, "check", "--no-email")
    d = start_daemon(bin_, root, port)

    async def flood():
        t = time.monotonic()
        codes = await asyncio.gather(*(post(port, "/recheck?only=unknown") for _ in range(2000)), return_exceptions=True)
        took = time.monotonic() - t
        answered = sum(1 for c in codes if isinstance(c, int) and c)
        kinds = sorted({c for c in codes if isinstance(c, int)})
        return took, answered, kinds

    try:
        took, answered, kinds = asyncio.run(flood())
        before = json.loads(get(port, "/health")[1]).get("last_run")
        t = time.monotonic()
        status = asyncio.run(post(port, "/recheck?only=a00"))
        # Wait for that re-check to finish: /health names another last run.
        while json.loads(get(port, "/health")[1]).get("last_run") == before:
            time.sleep(0.05)
        valid = time.monotonic() - t
        print(
            f"unknown-only: 2,000 POST /recheck?only=unknown: {answered} answered in {took:.2f} s (status {kinds}); "
            f"the next valid re-check (status {status}) done in {valid:.2f} s; daemon peak RSS {peak_rss_mib(d.pid):.0f} MiB",
            flush=True,
        )
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait()
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "citewatch"))
    ap.add_argument("which", nargs="*", default=["page", "hosts", "unknown-only"])
    a = ap.parse_args()
    for w in a.which:
        {"page": bench_page, "hosts": bench_hosts, "unknown-only": bench_unknown_only}[w](a.bin)


if __name__ == "__main__":
    main()
