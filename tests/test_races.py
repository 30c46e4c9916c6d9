"""Idempotency under real concurrency: real threads, the real waitress server, a real SQLite file."""

import concurrent.futures
import json
import threading
import urllib.error
import urllib.parse
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


RACERS = 50  # concurrent POSTs with one external_id, as issue 5 asks


def test_concurrent_posts_with_one_external_id_store_exactly_one(live_server, db, account, monkeypatch):
    monkeypatch.setitem(affilut.app.config, "affilut.rate_limiter",
                        affilut.RateLimiter({"read": 1000, "write": 1000}))
    key = affilut.create_api_key(db, account["id"])[1]
    affiliate = affilut.create_affiliate(db, account["id"], "Racer", "racer@example.com")
    body = {"affiliate_id": affiliate["id"], "amount_cents": 4900, "external_id": "inv_race"}
    start = threading.Barrier(RACERS)

    def attempt(_):
        start.wait()
        return post(live_server + "/api/v1/conversions", key, body)
    with concurrent.futures.ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(attempt, range(RACERS)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (RACERS - 1)
    winner = next(body for status, body in results if status == 201)
    assert all(body["error"]["conversionId"] == winner["id"] for status, body in results if status == 409)
    rows = db.execute("SELECT id FROM conversions WHERE external_id = 'inv_race'").fetchall()
    assert [r["id"] for r in rows] == [winner["id"]]
    history = db.execute("SELECT conversion_id FROM conversion_history").fetchall()
    assert [r[0] for r in history] == [winner["id"]]  # the 409s left no line behind


def test_concurrent_mark_paid_for_the_same_items_pays_once(live_server, db, account):
    # Two tabs (or a double click) post the same payout form at the same moment: one payout.
    affiliate = affilut.create_affiliate(db, account["id"], "Racer", "racer@example.com")
    for i in range(3):
        row = affilut.record_manual_conversion(db, account, affiliate["id"], 10000, f"inv_{i}")
        affilut.set_conversion_status(db, account["id"], row["id"], "approved")
    user_id = affilut.new_id("usr")
    db.execute("INSERT INTO users (id, account_id, email, created_at) VALUES (?, ?, 'o@shop.example', 0)",
               (user_id, account["id"]))
    token = affilut.create_session(db, "user", user_id, account["id"])
    csrf = db.execute("SELECT csrf_token FROM sessions").fetchone()[0]
    (item,) = affilut.due_payouts(db, account)
    body = urllib.parse.urlencode({"csrf": csrf, "item": f"{affiliate['id']}:usd:{item['digest']}"}).encode()
    start = threading.Barrier(10)

    def attempt(_):
        request = urllib.request.Request(live_server + "/dashboard/payouts", data=body, method="POST",
                                         headers={"Cookie": f"affilut_session={token}"})
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as res:
                return res.status
        except urllib.error.HTTPError as error:
            return error.code
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(attempt, range(10)))
    assert statuses.count(409) == 9 and len([s for s in statuses if s < 400]) == 1
    payouts = db.execute("SELECT amount_cents, conversion_count FROM payouts").fetchall()
    assert [tuple(p) for p in payouts] == [(3000, 3)]
    assert db.execute("SELECT COUNT(*) FROM conversions WHERE status = 'paid'").fetchone()[0] == 3
