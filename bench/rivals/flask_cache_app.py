"""The guide's application cache (section 4) in Flask, the rival of bench/app_cache.sh and
bench/app_stampede.sh.

Run by gunicorn behind nginx, against a Redis server and the SQLite file that tenx serves:
    BENCH_DB=data/bench-100k.db BENCH_REDIS=redis://127.0.0.1:6379/0 CACHE_MODE=decorator \
        gunicorn --chdir bench/rivals -w 2 -b 127.0.0.1:18603 flask_cache_app:app
GET /api/posts/trending answers with the JSON of tenx's `GET /api/posts/trending`:
{"posts": [{"id", "title", "author", "likes"}, ...], "refreshed_at": "<iso>",
"refresh_took_ms": <ms>} ("refreshed_at": null and no "refresh_took_ms" before the first refresh),
from the same two statements tenx runs (its `trending_read` and `summary_refreshed`): the
trending summary table, which tenx's app refreshes, and its refresh time. Keys come out in tenx's
order (app.json.sort_keys is off; Flask's default sorts them, which only costs Flask time).

The cache is the guide's code as written, over redis-py, picked by CACHE_MODE:
  * decorator: `@cache_result(ttl)` on get_trending_posts(): md5 of "<name>:<args>:<kwargs>" as
    the key, GET, and on a miss the query then SETEX of json.dumps(result);
  * lock: get_with_lock("trending_posts", generator, ttl): GET, on a miss SET lock:<key> NX EX 10;
    the winner runs the query, SETEX and DEL the lock; a loser sleeps 0.1 s and recurses.
CACHE_TTL is the TTL in seconds (default 600, the guide's). Each time the origin query really runs
it does INCR bench:origin_queries on the same Redis, so a bench counts origin queries over every
worker and thread. Each thread opens its own read-only sqlite3 connection on its first request
(after gunicorn's fork; a sqlite3 connection belongs to the thread that made it).
"""
import hashlib
import json
import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import wraps

import redis
from flask import Flask, jsonify

app = Flask(__name__)
app.json.sort_keys = False  # tenx's key order

CACHE_MODE = os.environ.get("CACHE_MODE", "decorator")
CACHE_TTL = int(os.environ.get("CACHE_TTL", "600"))
if CACHE_MODE not in ("decorator", "lock"):
    raise SystemExit(f"flask_cache_app: CACHE_MODE must be decorator or lock, not {CACHE_MODE!r}")
ORIGIN_COUNTER = "bench:origin_queries"

# The guide's module-level client (redis.Redis(host='localhost', port=6379, db=0)), at the
# bench's private server. Its connection pool connects lazily, per process and thread.
redis_client = redis.Redis.from_url(os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"))

# tenx's Stmt::trending_read and Stmt::summary_refreshed (src/app/storage/sqlite/statements.cpp).
TRENDING_SQL = ("SELECT post_id, title, username, likes FROM trending_posts "
                "ORDER BY likes DESC, post_id DESC")
REFRESHED_SQL = "SELECT refreshed_at, took_us FROM summary_refresh WHERE name = ?"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_local = threading.local()


def db():
    conn = getattr(_local, "db", None)
    if conn is None:
        conn = _local.db = sqlite3.connect(f"file:{os.environ['BENCH_DB']}?mode=ro", uri=True)
    return conn


def iso(us):
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trending_from_db():
    """The origin: what tenx's Api::summary(trending) reads and renders, counted in Redis."""
    redis_client.incr(ORIGIN_COUNTER)
    rows = db().execute(TRENDING_SQL).fetchall()
    when = db().execute(REFRESHED_SQL, ("trending",)).fetchone()
    result = {"posts": [{"id": r[0], "title": r[1], "author": r[2], "likes": r[3]} for r in rows]}
    if when is None:
        result["refreshed_at"] = None
    else:
        result["refreshed_at"] = iso(when[0])
        result["refresh_took_ms"] = when[1] / 1000
    return result


# ---- The guide, section 4, "Redis Setup" (as written) ----
def cache_result(ttl=300):
    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            # Create cache key from function name and arguments
            cache_key_data = f"{func.__name__}:{args}:{kwargs}"
            cache_key = hashlib.md5(cache_key_data.encode()).hexdigest()
            # Try to get from cache
            cached = redis_client.get(cache_key)
            if cached:
                return json.loads(cached)
            # Cache miss - compute result
            result = func(*args, **kwargs)
            # Store in cache
            redis_client.setex(
                cache_key,
                ttl,
                json.dumps(result)
            )
            return result
        return wrapper
    return decorator


@cache_result(ttl=CACHE_TTL)
def get_trending_posts():
    return trending_from_db()


# ---- The guide, section 4, "Cache Stampede Prevention" (as written) ----
def get_with_lock(key, generator_func, ttl=300):
    # Try to get from cache
    cached = redis_client.get(key)
    if cached:
        return json.loads(cached)
    # Try to acquire lock
    lock_key = f"lock:{key}"
    lock_acquired = redis_client.set(lock_key, "1", nx=True, ex=10)
    if lock_acquired:
        # We got the lock - regenerate cache
        result = generator_func()
        redis_client.setex(key, ttl, json.dumps(result))
        redis_client.delete(lock_key)
        return result
    else:
        # Someone else is regenerating - wait and retry
        time.sleep(0.1)
        return get_with_lock(key, generator_func, ttl)


@app.route("/api/posts/trending")
def trending():
    if CACHE_MODE == "decorator":
        return jsonify(get_trending_posts())
    return jsonify(get_with_lock("trending_posts", trending_from_db, CACHE_TTL))
