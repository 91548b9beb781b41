#!/usr/bin/env python3
"""Writes a citewatch root for the 1000-page benchmark.

    make_watchlist.py ROOT PAGES_A PAGES_B BASE_URL [--articles 10]

Ten articles cite 100 pages each. Every page backs one statement: for the 100 pages that
version B edits, the exact sentence B changes (from B's manifest.json); for the others, the
first sentence of the page's first article paragraph. So a correct run over version B flags
exactly the 100 edited statements and nothing else.
"""
import html
import json
import os
import re
import sys

root, pages_a, pages_b, base = sys.argv[1:5]
n_articles = 10
manifest = json.load(open(os.path.join(pages_b, "manifest.json")))
pages = manifest["pages"]
per = len(pages) // n_articles
os.makedirs(os.path.join(root, "watchlist"), exist_ok=True)

body_re = re.compile(r'<div class="article__body"[^>]*>(.*?)</div>', re.S)
p_re = re.compile(r"<p[^>]*>(.*?)</p>", re.S)
tag_re = re.compile(r"<[^>]+>")


def first_sentence(path):
    doc = open(os.path.join(pages_a, path), encoding="utf-8").read()
    m = body_re.search(doc)
    paras = p_re.findall(m.group(1) if m else doc)
    text = html.unescape(tag_re.sub("", paras[0])).strip()
    return re.split(r"(?<=[.!?])\s+", text)[0]


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


for a in range(n_articles):
    lines = [f'title = "Benchmark article {a}"', 'article = """']
    sources = []
    for i in range(per):
        k = a * per + i
        p = pages[k]
        sentence = p["change"]["old"] if p.get("changed") else first_sentence(p["path"])
        sentence = sentence.replace('"""', "'''").replace("[", "(").replace("]", ")")
        lines.append(f"{sentence} [{i + 1}]")
        lines.append("")
        sources.append(f'[[source]]\ncite = {i + 1}\nurl = {toml_str(base + "/" + p["path"])}\n')
    lines.append('"""')
    with open(os.path.join(root, "watchlist", f"bench-{a:02d}.toml"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n" + "\n".join(sources))
print(f"wrote {n_articles} articles citing {len(pages)} pages under {root}/watchlist")
