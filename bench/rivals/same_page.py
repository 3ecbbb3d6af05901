#!/usr/bin/env python3
"""Checks that the stacks of bench/app_stack.sh serve the same feed page: each URL (one per stack,
cursors for the same position) must answer 200 with the same post ids, and the same posts
(title, body, created_at, author) once parsed. Exits 1 and says what differs otherwise.

Usage: same_page.py NAME=URL NAME=URL ...
"""
import json
import sys
import urllib.request


def main():
    pages = []
    for arg in sys.argv[1:]:
        name, url = arg.split("=", 1)
        with urllib.request.urlopen(url, timeout=30) as r:
            if r.status != 200:
                sys.exit(f"same_page: {name} answered {r.status}")
            pages.append((name, json.loads(r.read())["posts"]))
    first_name, first = pages[0]
    ids = [p["id"] for p in first]
    for name, posts in pages[1:]:
        other = [p["id"] for p in posts]
        if other != ids:
            sys.exit(f"same_page: {name} serves ids {other} where {first_name} serves {ids}")
        for a, b in zip(first, posts):
            if a != b:
                sys.exit(f"same_page: post {a['id']} differs: {first_name} {a} {name} {b}")
    names = ", ".join(n for n, _ in pages)
    print(f"same page from {names}: 200, ids {ids[0]}..{ids[-1]} ({len(ids)} posts), "
          f"identical posts")


if __name__ == "__main__":
    main()
