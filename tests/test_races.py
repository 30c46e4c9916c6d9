"""Idempotency under real concurrency: real threads, the real waitress server, a real SQLite file."""

import concurrent.futures
import json
import threading
import urllib.error
import urllib.request

import affilut
from conftest import bearer


def post(url, key, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={**bearer(key), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_concurrent_posts_with_one_external_id_store_exactly_one(live_server, db, account, monkeypatch):
    monkeypatch.setitem(affilut.app.config, "affilut.rate_limiter",
                        affilut.RateLimiter({"read": 1000, "write": 1000}))
    key = affilut.create_api_key(db, account["id"])[1]
    affiliate = affilut.create_affiliate(db, account["id"], "Racer", "racer@example.com")
    body = {"affiliate_id": affiliate["id"], "amount_cents": 4900, "external_id": "inv_race"}
    start = threading.Barrier(20)

    def attempt(_):
        start.wait()
        return post(live_server + "/api/v1/conversions", key, body)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 19
    winner = next(body for status, body in results if status == 201)
    assert all(body["error"]["conversionId"] == winner["id"] for status, body in results if status == 409)
    rows = db.execute("SELECT id FROM conversions WHERE external_id = 'inv_race'").fetchall()
    assert [r["id"] for r in rows] == [winner["id"]]
