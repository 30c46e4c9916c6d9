"""The outbox and outbound webhooks: one durable row per message written with the change, delivered
at least once with a stable id and Stripe's signature scheme, retried with backoff, never to private
addresses, and never twice by two processes."""

import json
import time

import pytest
import stripe

import affilut
from aiosmtpd.controller import Controller

from conftest import ServerProcess, api_call, bearer, free_port
from outbox_helpers import Mailbox, Receiver


@pytest.fixture
def loopback_hooks(monkeypatch):
    """The receivers of these tests listen on http://127.0.0.1: allow that, and retry after 1 s."""
    monkeypatch.setenv("AFFILUT_WEBHOOK_ALLOW_HTTP", "1")
    monkeypatch.setenv("AFFILUT_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("AFFILUT_OUTBOX_RETRY_SECONDS", "1")


@pytest.fixture
def receiver():
    made = []

    def make(*args, **kwargs):
        made.append(Receiver(*args, **kwargs))
        return made[-1]
    yield make
    for r in made:
        r.close()


def add_endpoint(app, key, url, events=("conversion.created", "conversion.updated")):
    return app.post_json("/api/v1/webhook_endpoints", {"url": url, "events": list(events)},
                         headers=bearer(key), status=201).json


def verify(request, secret):
    """What an integrator does with Stripe's own library: raises unless the signature holds."""
    stripe.WebhookSignature.verify_header(request["body"], request["headers"]["Affilut-Signature"], secret,
                                          tolerance=300)


# -- The API ---------------------------------------------------------------------------------------------


def test_webhook_endpoints_api_create_list_change_delete(app, api_key, other_tenant, monkeypatch):
    created = app.post_json("/api/v1/webhook_endpoints",
                            {"url": "https://hooks.example.com/affilut", "events": ["payout.created", "affiliate.created"]},
                            headers=bearer(api_key), status=201).json
    assert created["id"].startswith("we_") and created["secret"].startswith("whsec_")
    assert created["url"] == "https://hooks.example.com/affilut"
    assert created["events"] == ["affiliate.created", "payout.created"]  # in the documented order
    assert created["status"] == "enabled" and created["createdAt"].endswith("Z")
    listed = app.get("/api/v1/webhook_endpoints", headers=bearer(api_key)).json["data"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    one = app.get(f"/api/v1/webhook_endpoints/{created['id']}", headers=bearer(api_key)).json
    assert "secret" not in one and one["url"] == created["url"]
    changed = app.patch_json(f"/api/v1/webhook_endpoints/{created['id']}",
                             {"events": ["conversion.created"], "status": "disabled"}, headers=bearer(api_key)).json
    assert changed["events"] == ["conversion.created"] and changed["status"] == "disabled"
    assert changed["disabledAt"] is not None
    assert app.patch_json(f"/api/v1/webhook_endpoints/{created['id']}", {"status": "enabled"},
                          headers=bearer(api_key)).json["status"] == "enabled"
    # another tenant sees nothing of it
    app.get(f"/api/v1/webhook_endpoints/{created['id']}", headers=bearer(other_tenant["key"]), status=404)
    app.delete(f"/api/v1/webhook_endpoints/{created['id']}", headers=bearer(other_tenant["key"]), status=404)
    assert app.delete(f"/api/v1/webhook_endpoints/{created['id']}", headers=bearer(api_key)).json == \
        {"id": created["id"], "deleted": True}
    app.get(f"/api/v1/webhook_endpoints/{created['id']}", headers=bearer(api_key), status=404)


@pytest.mark.parametrize("body, param", [
    ({"url": "http://hooks.example.com/x", "events": ["conversion.created"]}, "url"),        # https only
    ({"url": "https://127.0.0.1/x", "events": ["conversion.created"]}, "url"),               # loopback
    ({"url": "https://10.1.2.3/x", "events": ["conversion.created"]}, "url"),                # private
    ({"url": "https://169.254.169.254/latest", "events": ["conversion.created"]}, "url"),    # link-local (cloud metadata)
    ({"url": "https://[::1]/x", "events": ["conversion.created"]}, "url"),
    ({"url": "https://localhost/x", "events": ["conversion.created"]}, "url"),
    ({"url": "https://hooks.example.com/x", "events": ["charge.succeeded"]}, "events"),
    ({"url": "https://hooks.example.com/x", "events": []}, "events"),
    ({"url": "https://hooks.example.com/x"}, "events"),
    ({"events": ["conversion.created"]}, "url"),
    ({"url": "https://hooks.example.com/x", "events": ["conversion.created"], "secret": "mine"}, "secret"),
])
def test_webhook_endpoints_refuse_bad_input_with_a_json_error(app, api_key, body, param):
    res = app.post_json("/api/v1/webhook_endpoints", body, headers=bearer(api_key), status=400)
    assert res.json["error"]["param"] == param


def test_an_account_has_at_most_16_endpoints(app, api_key):
    for n in range(affilut.MAX_WEBHOOK_ENDPOINTS):
        add_endpoint(app, api_key, f"https://hooks.example.com/{n}")
    res = app.post_json("/api/v1/webhook_endpoints", {"url": "https://hooks.example.com/17",
                                                      "events": ["conversion.created"]}, headers=bearer(api_key),
                        status=409)
    assert res.json["error"]["code"] == "too_many_endpoints"


# -- Delivery ----------------------------------------------------------------------------------------------


def test_an_event_arrives_signed_with_the_apis_own_object(app, db, api_key, affiliate, loopback_hooks, receiver):
    hook = receiver()
    endpoint = add_endpoint(app, api_key, hook.url)
    conversion = app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                               headers=bearer(api_key), status=201).json
    assert affilut.deliver_due(db) == 1
    [request] = hook.wait_for(1)
    assert request["path"] == "/hooks?src=affilut"
    assert request["headers"]["Content-Type"] == "application/json"
    body = request["json"]
    assert body["id"].startswith("evt_") and body["type"] == "conversion.created" and body["livemode"] is True
    assert body["data"] == app.get(f"/api/v1/conversions/{conversion['id']}", headers=bearer(api_key)).json
    verify(request, endpoint["secret"])
    with pytest.raises(stripe.SignatureVerificationError):
        verify(request, "whsec_not_the_secret")
    # the signature is t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    t, v1 = [part.split("=", 1)[1] for part in request["headers"]["Affilut-Signature"].split(",")]
    assert abs(int(t) - time.time()) < 60
    import hashlib
    import hmac
    assert v1 == hmac.new(endpoint["secret"].encode(), f"{t}.{request['body']}".encode(), hashlib.sha256).hexdigest()
    assert affilut.deliver_due(db) == 0  # sent once, then nothing is due


def test_a_receiver_that_fails_twice_gets_the_event_three_times_with_one_id(app, db, api_key, affiliate,
                                                                            loopback_hooks, receiver):
    hook = receiver(statuses=[500, 500])
    endpoint = add_endpoint(app, api_key, hook.url)
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                  headers=bearer(api_key), status=201)
    started = time.monotonic()
    requests = hook.wait_for(3, timeout=20, pump=lambda: affilut.deliver_due(db))
    assert time.monotonic() - started >= 2.2  # waited about 1 s, then about 2 s (±20% jitter)
    assert len({r["json"]["id"] for r in requests}) == 1
    assert len({r["body"] for r in requests}) == 1  # the same body each time; only t= and v1= differ
    for request in requests:
        verify(request, endpoint["secret"])
    delivery = db.execute("SELECT * FROM outbox WHERE kind = 'webhook'").fetchone()
    assert delivery["status"] == "sent" and delivery["attempts"] == 3
    attempts = db.execute("SELECT ok, response_code FROM outbox_attempts WHERE message_id = :id ORDER BY attempt",
                          {"id": delivery["id"]}).fetchall()
    assert [tuple(a) for a in attempts] == [(0, 500), (0, 500), (1, 200)]


def test_every_domain_change_emits_its_event(app, db, api_key, account, loopback_hooks, receiver):
    hook = receiver()
    add_endpoint(app, api_key, hook.url, affilut.WEBHOOK_EVENTS)
    created = app.post_json("/api/v1/affiliates", {"name": "Ann", "email": "ann@example.com"},
                            headers=bearer(api_key), status=201).json
    app.patch_json(f"/api/v1/affiliates/{created['id']}", {"name": "Ann B"}, headers=bearer(api_key))
    app.patch_json(f"/api/v1/affiliates/{created['id']}", {"name": "Ann B"}, headers=bearer(api_key))  # no change
    conversion = app.post_json("/api/v1/conversions", {"affiliate_id": created["id"], "amount_cents": 1000},
                               headers=bearer(api_key), status=201).json
    app.patch_json(f"/api/v1/conversions/{conversion['id']}", {"status": "approved"}, headers=bearer(api_key))
    [due] = affilut.due_payouts(db, account)
    [payout_id] = affilut.mark_payouts_paid(db, account, [(due["affiliate_id"], due["currency"], due["digest"])])
    affilut.deliver_due(db)
    events = [(r["json"]["type"], r["json"]["data"].get("status")) for r in hook.wait_for(6)]
    assert events == [("affiliate.created", "active"), ("affiliate.updated", "active"),
                      ("conversion.created", "pending"), ("conversion.updated", "approved"),
                      ("conversion.updated", "paid"), ("payout.created", None)]
    payout = hook.requests[-1]["json"]["data"]
    assert payout["id"] == payout_id and payout["amountCents"] == 100 and payout["currency"] == "usd"


def test_a_rolled_back_change_queues_nothing(app, db, api_key, affiliate, loopback_hooks, receiver):
    hook = receiver()
    add_endpoint(app, api_key, hook.url, affilut.WEBHOOK_EVENTS)
    with pytest.raises(RuntimeError):
        with affilut.transaction(db) as tx:
            affilut.emit_event(tx, affiliate and affilut.sole_account(tx)["id"], "affiliate.updated", {"id": "x"})
            raise RuntimeError("the change fails after the event was queued")
    # a refused request changes nothing and queues nothing
    app.patch_json(f"/api/v1/affiliates/{affiliate['id']}", {"status": "nope"}, headers=bearer(api_key), status=400)
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_redirects_are_not_followed(app, db, api_key, affiliate, loopback_hooks, receiver):
    target = receiver()
    hook = receiver(statuses=[302], headers={"Location": target.url})
    add_endpoint(app, api_key, hook.url)
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                  headers=bearer(api_key), status=201)
    affilut.deliver_due(db)
    assert len(hook.requests) == 1 and target.requests == []
    row = db.execute("SELECT status, last_error FROM outbox").fetchone()
    assert row["status"] == "pending" and row["last_error"] == "status 302"  # retried later, as any non-2xx


def test_after_three_days_of_failures_the_endpoint_is_disabled_and_gets_nothing_more(
        app, db, api_key, account, affiliate, loopback_hooks, receiver):
    user_id, _ = affilut.invite_user(db, account["id"], "owner@shop.example")
    db.execute("UPDATE users SET password_hash = 'x' WHERE id = :id", {"id": user_id})
    hook = receiver(statuses=[500] * 10)
    endpoint = add_endpoint(app, api_key, hook.url)
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                  headers=bearer(api_key), status=201)
    affilut.deliver_due(db)
    assert len(hook.requests) == 1
    # three days pass; the next retry fails too
    db.execute("UPDATE outbox SET created_at = created_at - :aged, next_attempt_at = 0",
               {"aged": affilut.OUTBOX_RETRY_WINDOW_MS})
    affilut.deliver_due(db)
    assert len(hook.requests) == 2
    shown = app.get(f"/api/v1/webhook_endpoints/{endpoint['id']}", headers=bearer(api_key)).json
    assert shown["status"] == "disabled" and "failed for 3 days" in shown["disabledReason"]
    assert db.execute("SELECT status FROM outbox WHERE kind = 'webhook'").fetchone()[0] == "failed"
    [notice] = db.execute("SELECT recipient, subject FROM outbox WHERE kind = 'email' AND topic = 'webhook_disabled'")
    assert notice["recipient"] == "owner@shop.example" and hook.url in notice["subject"]
    # nothing more: new changes queue no delivery for it, and nothing is sent
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 100},
                  headers=bearer(api_key), status=201)
    db.execute("UPDATE outbox SET next_attempt_at = 0")
    affilut.deliver_due(db)
    assert len(hook.requests) == 2
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'webhook'").fetchone()[0] == 1


def test_disabling_an_endpoint_cancels_what_waits_for_it(app, db, api_key, affiliate, loopback_hooks, receiver):
    hook = receiver()
    endpoint = add_endpoint(app, api_key, hook.url)
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                  headers=bearer(api_key), status=201)
    app.patch_json(f"/api/v1/webhook_endpoints/{endpoint['id']}", {"status": "disabled"}, headers=bearer(api_key))
    assert affilut.deliver_due(db) == 0
    assert hook.requests == []
    assert db.execute("SELECT status FROM outbox").fetchone()[0] == "cancelled"


def test_a_destination_has_one_attempt_in_flight_and_the_others_go_ahead(
        app, db, api_key, affiliate, other_tenant, loopback_hooks, monkeypatch):
    monkeypatch.setenv("AFFILUT_SMTP_URL", "smtp://127.0.0.1:1")  # emails are claimable; none is sent here
    monkeypatch.setenv("AFFILUT_MAIL_FROM", "affiliates@shop.example")
    mine = add_endpoint(app, api_key, "http://127.0.0.1:1/mine")
    theirs = add_endpoint(app, other_tenant["key"], "http://127.0.0.1:1/theirs")
    for amount in (100, 200, 300):  # each: a delivery to my endpoint and an email to my affiliate
        app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": amount},
                      headers=bearer(api_key), status=201)
    app.post_json("/api/v1/conversions", {"affiliate_id": other_tenant["affiliate"]["id"], "amount_cents": 400},
                  headers=bearer(other_tenant["key"]), status=201)
    db.execute("UPDATE outbox SET next_attempt_at = 0")  # all due at once, in the order they were queued
    db.execute("UPDATE outbox SET next_attempt_at = 1 WHERE kind = 'email'")

    def amount(row):
        return json.loads(row["body"])["data"]["amountCents"]
    first = affilut.claim_due(db)
    assert first["endpoint_id"] == mine["id"] and amount(first) == 100
    # my next delivery is older than theirs, but my endpoint is busy: theirs and one email go ahead
    second = affilut.claim_due(db)
    assert second["endpoint_id"] == theirs["id"]
    email = affilut.claim_due(db)
    assert email["kind"] == "email"
    assert affilut.claim_due(db) is None  # my endpoint and the SMTP server each have one attempt under way
    affilut.finish_attempt(db, first, True, 200)
    following = affilut.claim_due(db)
    assert following["endpoint_id"] == mine["id"] and amount(following) == 200
    affilut.finish_attempt(db, email, False, None, "timed out")  # retried later; the next email may go
    assert affilut.claim_due(db)["kind"] == "email"
    # claimants that died hold their destinations only until their leases run out; then again one
    # attempt per destination: my third delivery (due longest), an email, and theirs a second time
    later = affilut.now_ms() + affilut.LEASE_MS["email"] + 1
    claimed = list(iter(lambda: affilut.claim_due(db, now=later), None))
    assert [(r["endpoint_id"] or r["kind"], r["attempts"]) for r in claimed] == \
        [(mine["id"], 1), ("email", 1), (theirs["id"], 2)]
    assert amount(claimed[0]) == 300 and claimed[2]["id"] == second["id"]


# -- Private targets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("address, forbidden", [
    ("127.0.0.1", True), ("10.0.0.8", True), ("172.16.5.4", True), ("192.168.1.1", True), ("169.254.169.254", True),
    ("0.0.0.0", True), ("::1", True), ("fe80::1", True), ("fc00::1", True), ("::ffff:127.0.0.1", True),
    ("224.0.0.1", True), ("93.184.215.14", False), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
])
def test_forbidden_addresses(address, forbidden):
    assert affilut.forbidden_address(address) is forbidden


def test_a_name_that_resolves_to_a_private_address_is_refused_when_connecting(app, db, api_key, affiliate,
                                                                            monkeypatch, receiver):
    hook = receiver()
    monkeypatch.setenv("AFFILUT_WEBHOOK_ALLOW_HTTP", "1")
    monkeypatch.setenv("AFFILUT_WEBHOOK_ALLOW_PRIVATE", "1")  # saved while allowed, or DNS changed since
    add_endpoint(app, api_key, hook.url.replace("127.0.0.1", "localhost"))
    monkeypatch.delenv("AFFILUT_WEBHOOK_ALLOW_PRIVATE")
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                  headers=bearer(api_key), status=201)
    assert affilut.deliver_due(db) == 1
    assert hook.requests == []
    row = db.execute("SELECT status, last_error FROM outbox").fetchone()
    assert row["status"] == "pending" and "resolves to" in row["last_error"] and "private" in row["last_error"]


# -- Real server processes --------------------------------------------------------------------------------

HOOK_ENV = {"AFFILUT_WEBHOOK_ALLOW_HTTP": "1", "AFFILUT_WEBHOOK_ALLOW_PRIVATE": "1", "AFFILUT_OUTBOX_RETRY_SECONDS": "1"}


def endpoint_in(db_path, account_id, url, monkeypatch):
    for name, value in HOOK_ENV.items():
        monkeypatch.setenv(name, value)
    db = affilut.connect(db_path)
    try:
        return affilut.create_webhook_endpoint(db, account_id, url, ["conversion.created"])
    finally:
        db.close()


@pytest.mark.slow
def outbox_status(db_path):
    db = affilut.connect(db_path)
    try:
        return db.execute("SELECT status FROM outbox").fetchone()[0]
    finally:
        db.close()


def test_a_server_killed_before_the_delivery_finished_delivers_after_restart(db_path, tenant, tmp_path, receiver,
                                                                            monkeypatch):
    hook = receiver(hold_first=True)  # the first delivery gets no answer: it is in flight when the kill comes
    endpoint_in(db_path, tenant["account"]["id"], hook.url, monkeypatch)
    server = ServerProcess(db_path, str(tmp_path / "server.log"), **HOOK_ENV)
    try:
        status, _, conversion = api_call(server.port, "POST", "/api/v1/conversions", tenant["key"],
                                         {"affiliate_id": tenant["affiliate_id"], "amount_cents": 4900})
        assert status == 201
        assert hook.held.wait(10)
    finally:
        server.kill()
    hook.release()
    restarted = ServerProcess(db_path, str(tmp_path / "server.log"), **HOOK_ENV)
    try:
        requests = hook.wait_for(2, timeout=40)  # once the dead process's lease runs out
        # The receiver has the request before the server has its answer and records it: stopping
        # the server in between would leave the attempt unfinished (and sent again after a restart).
        deadline = time.monotonic() + 10
        while outbox_status(db_path) != "sent" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        restarted.stop()
    assert requests[0]["json"]["id"] == requests[1]["json"]["id"]
    assert requests[1]["json"]["data"]["id"] == conversion["id"]
    db = affilut.connect(db_path)
    try:
        assert db.execute("SELECT status FROM outbox").fetchone()[0] == "sent"
        attempts = db.execute("SELECT ok FROM outbox_attempts ORDER BY attempt").fetchall()
        assert [a["ok"] for a in attempts] == [None, 1]  # the first never finished: its process died in it
    finally:
        db.close()


@pytest.mark.slow
def test_two_server_processes_never_send_one_delivery_twice(db_path, tenant, tmp_path, receiver, monkeypatch):
    hook = receiver()
    endpoint_in(db_path, tenant["account"]["id"], hook.url, monkeypatch)
    servers = [ServerProcess(db_path, str(tmp_path / f"server{n}.log"), **HOOK_ENV) for n in range(2)]
    try:
        for n in range(40):
            status, _, _ = api_call(servers[n % 2].port, "POST", "/api/v1/conversions", tenant["key"],
                                    {"affiliate_id": tenant["affiliate_id"], "amount_cents": 100 + n})
            assert status == 201
        hook.wait_for(40)
        time.sleep(2)  # room for a duplicate to show up
    finally:
        for server in servers:
            server.stop()
    ids = [r["json"]["id"] for r in hook.requests]
    assert len(ids) == 40 and len(set(ids)) == 40


@pytest.mark.slow
def test_a_slow_receiver_does_not_hold_up_other_merchants_webhooks_or_email(db_path, tenant, other_tenant, tmp_path,
                                                                           receiver, monkeypatch):
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    slow, fast = receiver(delay=8), receiver()  # slow answers 8 s after each request, within the 10 s timeout
    endpoint_in(db_path, tenant["account"]["id"], slow.url, monkeypatch)
    endpoint_in(db_path, other_tenant["account"]["id"], fast.url, monkeypatch)
    server = ServerProcess(db_path, str(tmp_path / "server.log"), AFFILUT_HOLD_EVERY="0",
                           AFFILUT_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}", AFFILUT_MAIL_FROM="affiliates@shop.example",
                           **HOOK_ENV)
    try:
        status, _, _ = api_call(server.port, "POST", "/api/v1/conversions", tenant["key"],
                                {"affiliate_id": tenant["affiliate_id"], "amount_cents": 4900})
        assert status == 201
        assert slow.arrived.wait(10)  # the slow delivery is in flight, its answer 8 s away
        in_flight = time.monotonic()
        # queued right after it: the other merchant's conversion, its webhook and its affiliate's email
        status, _, _ = api_call(server.port, "POST", "/api/v1/conversions", other_tenant["key"],
                                {"affiliate_id": other_tenant["affiliate"]["id"], "amount_cents": 2500})
        assert status == 201
        [request] = fast.wait_for(1, timeout=6)
        deadline = time.monotonic() + 8
        while not (box.to("olga@example.com") and box.to("faults@example.com")) and time.monotonic() < deadline:
            time.sleep(0.05)
        arrived = time.monotonic()
        assert box.to("olga@example.com") and box.to("faults@example.com")  # the slow merchant's own email too
        assert slow.answered == [] and arrived - in_flight < 4  # all there while the slow one still waits
        assert request["json"]["data"]["amountCents"] == 2500
        slow.wait_for(1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not slow.answered:
            time.sleep(0.05)
        assert slow.answered and slow.answered[0] - in_flight > 7
        db = affilut.connect(db_path)
        try:
            rows = lambda: [tuple(r) for r in db.execute("SELECT kind, status, attempts FROM outbox ORDER BY kind")]
            deadline = time.monotonic() + 5  # until the slow delivery's attempt is recorded
            while time.monotonic() < deadline and any(row[1] != "sent" for row in rows()):
                time.sleep(0.05)
            assert rows() == [("email", "sent", 1), ("email", "sent", 1), ("webhook", "sent", 1), ("webhook", "sent", 1)]
        finally:
            db.close()
    finally:
        server.stop()
        smtp.stop()
    assert len(slow.requests) == 1 and len(fast.requests) == 1


def test_the_readmes_verifier_accepts_a_real_delivery_and_nothing_else(app, db, api_key, affiliate, loopback_hooks,
                                                                      receiver):
    import os
    import re
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        [code] = re.findall(r"```python\n(import hashlib, hmac, time\n.*?)```", f.read(), re.DOTALL)
    assert len(code.strip().splitlines()) <= 10
    namespace = {}
    exec(code, namespace)
    hook = receiver()
    endpoint = add_endpoint(app, api_key, hook.url)
    app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                  headers=bearer(api_key), status=201)
    affilut.deliver_due(db)
    [request] = hook.wait_for(1)
    body, header = request["body"].encode(), request["headers"]["Affilut-Signature"]
    assert namespace["verify"](body, header, endpoint["secret"])
    assert not namespace["verify"](body + b" ", header, endpoint["secret"])
    assert not namespace["verify"](body, header, "whsec_other")
