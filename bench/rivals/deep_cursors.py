#!/usr/bin/env python3
"""Deep feed cursors for bench/app_stack.sh: the same positions as tenx's opaque cursors and as the
rivals' transparent "<created_at_us>_<id>" cursors.

Walks tenx's `GET /api/posts` on one keep-alive connection, per_page=100 and then per_page=20,
until page PAGE of 20 (post (PAGE-1)*20 + 1 of the published feed), then follows next_cursor
for COUNT pages of 20, writing one tenx cursor a line. For the same positions it writes the rival
cursor computed with sqlite3 (the created_at and id of the post just before the page), and checks
that every page tenx served holds the posts the database has at that position. When the database
has too few published posts for PAGE, it takes the middle of the feed and says so.

Usage: deep_cursors.py --url http://127.0.0.1:18501 --db PATH --tenx-out F --rival-out F
                       [--page 10000] [--count 50]
"""
import argparse
import http.client
import json
import sqlite3
import sys
import urllib.parse

PER_PAGE = 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--tenx-out", required=True)
    ap.add_argument("--rival-out", required=True)
    ap.add_argument("--page", type=int, default=10000)
    ap.add_argument("--count", type=int, default=50)
    a = ap.parse_args()

    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    published = db.execute("SELECT count(*) FROM posts WHERE published = 1").fetchone()[0]
    page, count, note = a.page, a.count, ""
    if (page - 1 + count) * PER_PAGE > published:
        page = max(2, published // (2 * PER_PAGE) + 1)
        count = max(1, min(count, (published - (page - 1) * PER_PAGE) // PER_PAGE))
        note = f" (scaled down from page {a.page}: the middle of the feed)"
    start = (page - 1) * PER_PAGE  # posts before the first deep page

    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    walked = 0

    def get(per_page, cursor):
        nonlocal walked
        q = {"per_page": per_page}
        if cursor:
            q["cursor"] = cursor
        conn.request("GET", "/api/posts?" + urllib.parse.urlencode(q))
        r = conn.getresponse()
        body = r.read()
        walked += 1
        if r.status != 200:
            sys.exit(f"deep_cursors: tenx answered {r.status}: {body[:200]!r}")
        return json.loads(body)

    cursor, pos = None, 0
    for per_page in (100, PER_PAGE):
        while start - pos >= per_page:
            cursor = get(per_page, cursor)["next_cursor"]
            pos += per_page
            if cursor is None:
                sys.exit(f"deep_cursors: the feed ended at post {pos}")

    rows = db.execute(
        "SELECT created_at, id FROM posts WHERE published = 1 "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        (count * PER_PAGE + 1, start - 1)).fetchall()
    tenx_cursors, rival_cursors = [], []
    for i in range(count):
        tenx_cursors.append(cursor)
        before = rows[i * PER_PAGE]  # the post just before the page
        rival_cursors.append(f"{before[0]}_{before[1]}")
        page_json = get(PER_PAGE, cursor)
        ids = [p["id"] for p in page_json["posts"]]
        want = [r[1] for r in rows[i * PER_PAGE + 1:(i + 1) * PER_PAGE + 1]]
        if ids != want:
            sys.exit(f"deep_cursors: tenx page {page + i} has ids {ids[:3]}... where the "
                     f"database has {want[:3]}...")
        cursor = page_json["next_cursor"]
        if cursor is None and i + 1 < count:
            sys.exit(f"deep_cursors: the feed ended at page {page + i}")

    with open(a.tenx_out, "w") as f:
        f.write("\n".join(tenx_cursors) + "\n")
    with open(a.rival_out, "w") as f:
        f.write("\n".join(rival_cursors) + "\n")
    print(f"depth: pages {page}..{page + count - 1} at per_page={PER_PAGE} (posts {start + 1}.."
          f"{start + count * PER_PAGE} of {published} published){note}; {count} cursors per stack, "
          f"tenx's reached in {walked} requests, every tenx page matches the database")


if __name__ == "__main__":
    main()
