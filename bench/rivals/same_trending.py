#!/usr/bin/env python3
"""Checks that the stacks of bench/app_cache.sh and bench/app_stampede.sh serve the same trending
list: each URL must answer 200 with JSON of tenx's shape ({"posts": [{"id", "title", "author",
"likes"}], "refreshed_at", and "refresh_took_ms" once refreshed}, the same keys in every post) and,
parsed, the same posts. The trending summary is rebuilt by every tenx app at start-up and every
minute, so two answers read at different refreshes (different "refreshed_at") may differ in a
like count: then a difference is reported, not fatal. Exits 1 and says what differs otherwise.

Usage: same_trending.py NAME=URL NAME=URL ...
"""
import json
import sys
import urllib.request

POST_KEYS = ["id", "title", "author", "likes"]


def fetch(name, url):
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read()
        if r.status != 200:
            sys.exit(f"same_trending: {name} answered {r.status}")
    doc = json.loads(body)
    keys = list(doc)
    want = ["posts", "refreshed_at"] + (["refresh_took_ms"] if doc.get("refreshed_at") else [])
    if keys != want:
        sys.exit(f"same_trending: {name} answers keys {keys}, tenx's shape is {want}")
    for p in doc["posts"]:
        if list(p) != POST_KEYS:
            sys.exit(f"same_trending: {name} serves a post with keys {list(p)}, not {POST_KEYS}")
    return doc, len(body)


def main():
    docs = [(arg.split("=", 1)[0], *fetch(*arg.split("=", 1))) for arg in sys.argv[1:]]
    first_name, first, _ = docs[0]
    notes = []
    for name, doc, _ in docs[1:]:
        if doc["posts"] == first["posts"]:
            continue
        if doc["refreshed_at"] == first["refreshed_at"]:
            sys.exit(f"same_trending: {name} serves {doc['posts']} where {first_name} serves "
                     f"{first['posts']} (same refresh {first['refreshed_at']})")
        notes.append(f"{name} differs from {first_name}: refreshed at {doc['refreshed_at']} and "
                     f"{first['refreshed_at']}")
    sizes = ", ".join(f"{n} {size} B" for n, _, size in docs)
    ids = [p["id"] for p in first["posts"]]
    what = (f"ids {ids[0]}..{ids[-1]} ({len(ids)} posts)" if ids
            else "an EMPTY list (no likes in the last 24 h)")
    print(f"same trending from {', '.join(n for n, _, _ in docs)}: 200, {what}, "
          + ("; ".join(notes) if notes else "identical posts") + f"; bodies {sizes}")


if __name__ == "__main__":
    main()
