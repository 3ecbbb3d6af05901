"""The guide's keyset-paginated feed (get_posts_cursor) in aiohttp, the rival of bench/app_stack.sh.

Run as two worker processes by gunicorn's aiohttp worker behind nginx:
    BENCH_DB=data/bench-1m.db gunicorn --chdir bench/rivals -w 2 \
        -k aiohttp.GunicornWebWorker -b 127.0.0.1:18505 aiohttp_app:app
Same endpoint, JSON, cursor and SQL as flask_app.py: GET /api/posts?per_page=20&cursor=
<created_at_us>_<id>, one JOIN query fetching per_page + 1 rows. Each worker process opens its own
read-only sqlite3 connection at start-up (cleanup_ctx runs in the worker, after the fork). The
query runs on the event loop thread, as the stdlib sqlite3 module does in an aiohttp handler
(it is a sub-millisecond indexed read). Nothing is cached.
"""
import os
import sqlite3
from datetime import datetime, timedelta, timezone

from aiohttp import web

FEED_SQL = (
    "SELECT p.id, p.title, p.body, p.created_at, u.id, u.username "
    "FROM posts p JOIN users u ON u.id = p.user_id "
    "WHERE p.published = 1 {after}"
    "ORDER BY p.created_at DESC, p.id DESC LIMIT ?"
)
FIRST_PAGE = FEED_SQL.format(after="")
AFTER_CURSOR = FEED_SQL.format(after="AND (p.created_at, p.id) < (?, ?) ")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

routes = web.RouteTableDef()


def iso(created_at_us):
    return (EPOCH + timedelta(microseconds=created_at_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@routes.get("/api/posts")
async def get_posts_cursor(request):
    db = request.app["db"]
    cursor = request.query.get("cursor")  # e.g. "1764311921783759_12345"
    try:
        per_page = int(request.query.get("per_page", 20))
    except ValueError:
        per_page = 0
    if not 1 <= per_page <= 100:
        return web.json_response({"error": "per_page must be an integer from 1 to 100"}, status=400)
    if cursor:
        try:
            created_at_us, last_id = (int(x) for x in cursor.split("_"))
        except ValueError:
            return web.json_response({"error": "cursor must be <created_at>_<id>"}, status=400)
        rows = db.execute(AFTER_CURSOR, (created_at_us, last_id, per_page + 1)).fetchall()
    else:
        rows = db.execute(FIRST_PAGE, (per_page + 1,)).fetchall()

    has_next = len(rows) > per_page
    if has_next:
        rows = rows[:per_page]
    next_cursor = None
    if has_next and rows:
        last = rows[-1]
        next_cursor = f"{last[3]}_{last[0]}"
    return web.json_response({
        "posts": [{"id": r[0], "title": r[1], "body": r[2], "created_at": iso(r[3]),
                   "author": {"id": r[4], "username": r[5]}} for r in rows],
        "next_cursor": next_cursor,
        "has_next": has_next,
    })


async def database(app):
    app["db"] = sqlite3.connect(f"file:{os.environ['BENCH_DB']}?mode=ro", uri=True)
    yield
    app["db"].close()


app = web.Application()
app.add_routes(routes)
app.cleanup_ctx.append(database)
