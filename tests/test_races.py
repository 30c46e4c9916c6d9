"""Idempotency under real concurrency: real threads against `python affilut.py serve` as shipped (its
own waitress thread pool), a real SQLite file."""

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import affilut
from conftest import api_call, assert_written_whole, bearer, make_account
from stripe_events import charge, event, sign


def post(url, key, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={**bearer(key), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


RACERS = 50  # concurrent POSTs with one external_id, as issue 5 asks


def test_concurrent_posts_with_one_external_id_store_exactly_one(start_server, db, account):
    key = affilut.create_api_key(db, account["id"])[1]
    affiliate = affilut.create_affiliate(db, account["id"], "Racer", "racer@example.com")
    server = start_server(AFFILUT_RATE_POST="1000")
    body = {"affiliate_id": affiliate["id"], "amount_cents": 4900, "external_id": "inv_race"}
    start = threading.Barrier(RACERS)

    def attempt(_):
        start.wait()
        return post(server.url + "/api/v1/conversions", key, body)
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


def test_concurrent_mark_paid_for_the_same_items_pays_once(start_server, db, account):
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
    server, start = start_server(), threading.Barrier(10)

    def attempt(_):
        request = urllib.request.Request(server.url + "/dashboard/payouts", data=body, method="POST",
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


def test_failing_writes_beside_good_ones_fail_alone(start_server, db, account):
    # Good and bad writes of every kind race each other through the server: each good one lands whole,
    # each bad one gets its own 4xx and leaves nothing behind, and no answer depends on its neighbours.
    key = affilut.create_api_key(db, account["id"])[1]
    jane = affilut.create_affiliate(db, account["id"], "Jane Racer", "jane@example.com")["id"]
    outsider = affilut.create_affiliate(db, make_account(db, "Other Shop")["id"], "Olga", "olga@example.com")["id"]
    taken = affilut.record_manual_conversion(db, account, jane, 500, "inv_taken")["id"]
    server = start_server(AFFILUT_RATE_POST="1000")
    created = int(time.time()) - 3600
    sales = [event("charge.succeeded", charge(f"ch_good_{n}", 3000 + n, created, metadata={"affiliate_id": jane}),
                   created) for n in range(10)]
    forged = event("charge.succeeded", charge("ch_forged", 9999, created, metadata={"affiliate_id": jane}), created)
    assert deliver(server, account, sales[0]) == (200, {"received": True, "duplicate": False, "handled": True})

    def conversion(external_id, affiliate_id=jane, amount=4900):
        return lambda: api_call(server.port, "POST", "/api/v1/conversions", key,
                                {"affiliate_id": affiliate_id, "amount_cents": amount, "external_id": external_id})[::2]
    requests = [("good", n, conversion(f"inv_good_{n}", amount=1000 + n)) for n in range(20)]
    requests += [("good sale", n, lambda n=n: deliver(server, account, sales[n])) for n in range(1, 10)]
    requests += [("unknown affiliate", n, conversion(f"inv_nobody_{n}", "aff_01m888aych7jhkc729a1s6ktbe"))
                 for n in range(5)]
    requests += [("another shop's affiliate", n, conversion(f"inv_outsider_{n}", outsider)) for n in range(5)]
    requests += [("taken external_id", n, conversion("inv_taken")) for n in range(5)]
    requests += [("negative amount", n, conversion(f"inv_negative_{n}", amount=-1)) for n in range(3)]
    requests += [("redelivered", n, lambda: deliver(server, account, sales[0])) for n in range(3)]
    requests += [("forged signature", n, lambda: deliver(server, account, forged, secret="whsec_wrong"))
                 for n in range(3)]
    start = threading.Barrier(len(requests))

    def attempt(request):
        start.wait()
        return request[2]()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(requests)) as pool:
        answers = {(kind, n): answer for (kind, n, _), answer in zip(requests, pool.map(attempt, requests))}

    good = {}
    for (kind, n), (status, body) in answers.items():
        if kind == "good":
            assert status == 201 and body["externalId"] == f"inv_good_{n}" and body["amountCents"] == 1000 + n
            good[body["id"]] = (f"inv_good_{n}", 1000 + n)
        elif kind == "good sale":
            assert (status, body) == (200, {"received": True, "duplicate": False, "handled": True})
        elif kind in ("unknown affiliate", "another shop's affiliate"):
            assert (status, body["error"]["code"], body["error"]["param"]) == (404, "not_found", "affiliate_id")
        elif kind == "taken external_id":
            assert (status, body["error"]["code"], body["error"]["conversionId"]) == (409, "duplicate_external_id",
                                                                                     taken)
        elif kind == "negative amount":
            assert (status, body["error"]["code"]) == (400, "invalid_parameter")
        elif kind == "redelivered":
            assert status == 200 and body["duplicate"] is True
        else:
            assert (status, body["error"]["code"]) == (400, "invalid_signature")

    manual = {r["id"]: (r["external_id"], r["amount_cents"])
              for r in db.execute("SELECT id, external_id, amount_cents FROM conversions WHERE kind = 'manual'")}
    assert manual == {taken: ("inv_taken", 500), **good}
    sold = {r[0]: r[1] for r in db.execute("SELECT stripe_charge_id, amount_cents FROM conversions WHERE kind = 'sale'")}
    assert sold == {f"ch_good_{n}": 3000 + n for n in range(10)}
    assert {r[0] for r in db.execute("SELECT event_id FROM stripe_events")} == {evt["id"] for evt in sales}
    assert db.execute("SELECT COUNT(*) FROM conversions WHERE affiliate_id = ?", (outsider,)).fetchone()[0] == 0
    assert_written_whole(db)


def deliver(server, account, evt, secret=None):
    """POST one event to the account's webhook on the server, signed as Stripe signs it; (status, body)."""
    payload = json.dumps(evt).encode()
    status, _, body = api_call(server.port, "POST", f"/webhooks/stripe/{account['id']}", body=payload,
                               headers={"Stripe-Signature": sign(payload, secret or account["webhook_secret"])})
    return status, body
