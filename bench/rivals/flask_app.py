"""The guide's keyset-paginated feed (get_posts_cursor) in Flask, the rival of bench/app_stack.sh.

Run by gunicorn with sync workers behind nginx:
    BENCH_DB=data/bench-1m.db gunicorn --chdir bench/rivals -w 2 -b 127.0.0.1:18503 flask_app:app
GET /api/posts?per_page=20&cursor=<created_at_us>_<id> answers with the JSON of tenx's
`GET /api/posts`: {"posts": [{id, title, body, created_at, author: {id, username}}, ...],
"next_cursor", "has_next"}. The cursor is the guide's transparent "<created_at>_<id>" (created_at
as the integer microseconds the table stores). One query with a JOIN fetches per_page + 1 rows.
Each worker process opens its own read-only sqlite3 connection on its first request (after
gunicorn's fork), and a sync worker serves one request at a time, so the connection is not shared.
Nothing is cached.
"""
import os
import sqlite3
from datetime import datetime, timedelta, timezone

from flask import Flask, jsonify, request

app = Flask(__name__)

FEED_SQL = (
    "SELECT p.id, p.title, p.body, p.created_at, u.id, u.username "
    "FROM posts p JOIN users u ON u.id = p.user_id "
    "WHERE p.published = 1 {after}"
    "ORDER BY p.created_at DESC, p.id DESC LIMIT ?"
)
FIRST_PAGE = FEED_SQL.format(after="")
AFTER_CURSOR = FEED_SQL.format(after="AND (p.created_at, p.id) < (?, ?) ")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_db = None


def db():
    global _db
    if _db is None:
        _db = sqlite3.connect(f"file:{os.environ['BENCH_DB']}?mode=ro", uri=True)
    return _db


def iso(created_at_us):
    return (EPOCH + timedelta(microseconds=created_at_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@app.route("/api/posts")
def get_posts_cursor():
    cursor = request.args.get("cursor")  # e.g. "1764311921783759_12345"
    try:
        per_page = int(request.args.get("per_page", 20))
    except ValueError:
        per_page = 0
    if not 1 <= per_page <= 100:
        return jsonify({"error": "per_page must be an integer from 1 to 100"}), 400
    if cursor:
        try:
            created_at_us, last_id = (int(x) for x in cursor.split("_"))
        except ValueError:
            return jsonify({"error": "cursor must be <created_at>_<id>"}), 400
        rows = db().execute(AFTER_CURSOR, (created_at_us, last_id, per_page + 1)).fetchall()
    else:
        rows = db().execute(FIRST_PAGE, (per_page + 1,)).fetchall()

    has_next = len(rows) > per_page
    if has_next:
        rows = rows[:per_page]
    next_cursor = None
    if has_next and rows:
        last = rows[-1]
        next_cursor = f"{last[3]}_{last[0]}"
    return jsonify({
        "posts": [{"id": r[0], "title": r[1], "body": r[2], "created_at": iso(r[3]),
                   "author": {"id": r[4], "username": r[5]}} for r in rows],
        "next_cursor": next_cursor,
        "has_next": has_next,
    })
