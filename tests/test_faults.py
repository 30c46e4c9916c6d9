"""Faults: a server killed mid-write, a database locked by another process, a full disk, and bad input.

Each fault must end in an answer the client can act on (a 4xx, or a 503 JSON error with Retry-After;
never a 500), and the database must keep every write it acknowledged, exactly once, and nothing else.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

import affilut
from conftest import ServerProcess, api_call, assert_written_whole, bearer
from stripe_events import charge as stripe_charge
from stripe_events import dispute as stripe_dispute
from stripe_events import event as stripe_event
from stripe_events import payment_intent as stripe_payment_intent
from stripe_events import refund as stripe_refund
from stripe_events import sign

# -- Helpers ---------------------------------------------------------------------------------------


# The sums schema.sql's triggers keep (migrations 13 and 17): a write updates them in place, and
# tests/test_totals.py checks them against a recount.
TOTALS = {"conversion_days", "conversion_totals", "affiliate_months", "click_days", "payable_balances"}


def snapshot(db):
    """Every row of every table, to prove a refused request changed nothing. Rows are ordered by all
    their columns: a WITHOUT ROWID table has no rowid to order by."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]

    def rows(table):
        columns = len(db.execute(f"SELECT * FROM {table} LIMIT 0").description)
        order = ", ".join(str(n) for n in range(1, columns + 1))
        return [tuple(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    return {t: rows(t) for t in tables}


def integrity(path):
    db = affilut.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()[0][0]
    finally:
        db.close()


# -- Crash safety ------------------------------------------------------------------------------------


def post_conversions_until_stopped(port, key, affiliate_id, prefix, stop, lock, acked, unknown, odd):
    """One API client posting conversions with fresh external_ids until `stop` or its connection dies.

    Acknowledged ones go to acked (external_id -> id); one whose answer was lost (sent: it may or may
    not be stored) to unknown; any other answer to odd, for the test's own thread to assert on, since
    an assert failing in this thread would not fail the test.
    """
    conn, n = http.client.HTTPConnection("127.0.0.1", port, timeout=10), 0
    while not stop.is_set():
        external_id = f"{prefix}-{n}"
        n += 1
        try:
            status, _, body = api_call(port, "POST", "/api/v1/conversions", key,
                                       {"affiliate_id": affiliate_id, "amount_cents": 1000 + n,
                                        "external_id": external_id}, connection=conn)
        except (OSError, http.client.HTTPException):
            with lock:
                unknown.add(external_id)
            return
        with lock:
            if status == 201:
                acked[external_id] = body["id"]
            else:
                odd.append((status, body))


@pytest.mark.slow
def test_sigkill_mid_load_loses_no_acknowledged_conversion(db_path, tmp_path, tenant):
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_RATE_POST="1000000")
    acked, unknown, odd, lock, stop = {}, set(), [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=post_conversions_until_stopped,
                                args=(server.port, tenant["key"], tenant["affiliate_id"], f"crash-{w}",
                                      stop, lock, acked, unknown, odd)) for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # in the middle of the load: eight requests are in flight
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert odd == [] and len(acked) >= 300 and unknown

    db = affilut.connect(db_path)
    assert_written_whole(db)  # before anything runs on the file again: the kill left no half a write
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_RATE_POST="1000000")
    try:
        rows = {r["external_id"]: r["id"] for r in db.execute("SELECT id, external_id FROM conversions")}
        # Every acknowledged conversion is there under the id the client was given, and only sent ones are.
        assert all(rows.get(external_id) == cid for external_id, cid in acked.items())
        assert set(rows) <= set(acked) | unknown
        # A client retries what it never heard back about: stored once, whatever happened before the kill.
        for external_id in sorted(unknown):
            status, _, body = api_call(server.port, "POST", "/api/v1/conversions", tenant["key"],
                                       {"affiliate_id": tenant["affiliate_id"], "amount_cents": 1,
                                        "external_id": external_id})
            assert status == 201 or (status == 409 and body["error"]["conversionId"] == rows[external_id])
        counts = db.execute("SELECT external_id, COUNT(*) FROM conversions GROUP BY external_id").fetchall()
        assert {r[0] for r in counts} == set(acked) | unknown and {r[1] for r in counts} == {1}
    finally:
        server.stop()
    assert_written_whole(db)
    db.close()


# -- A database locked by another process -----------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO settings (name, value) VALUES ('held', 'by another process')")
print("locked", flush=True)
sys.stdin.readline()   # hold the write lock until the test says so
db.execute("ROLLBACK")
"""


def lock_held_elsewhere(db_path):
    """Another process holding the database's write lock, until .communicate(b"release\\n")."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, db_path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"locked\n"
    return holder


@pytest.mark.slow
def test_write_lock_held_by_another_process_gives_503_after_the_busy_timeout(db_path, tmp_path, tenant):
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_BUSY_TIMEOUT="1",
                           AFFILUT_RATE_POST="1000", AFFILUT_RATE_GET="1000")
    api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])  # last_used_at is written now
    holder = lock_held_elsewhere(db_path)
    try:
        results = []

        def post(n):
            started = time.monotonic()
            results.append((*api_call(server.port, "POST", "/api/v1/conversions", tenant["key"],
                                      {"affiliate_id": tenant["affiliate_id"], "amount_cents": 100,
                                       "external_id": f"locked-{n}"}), time.monotonic() - started))
        threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        # Readers are not blocked by a writer in WAL mode.
        status, _, body = api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])
        assert status == 200 and len(body["data"]) == 1
        for t in threads:
            t.join(timeout=30)
        assert len(results) == 6
        for status, headers, body, elapsed in results:
            assert status == 503 and body["error"]["code"] == "database_busy"
            assert int(headers["Retry-After"]) >= 1 and headers["Content-Type"] == "application/json"
            assert 0.9 <= elapsed < 10  # waited about the busy timeout, then gave up
    finally:
        holder.communicate(b"release\n", timeout=10)
    try:
        status, _, body = api_call(server.port, "POST", "/api/v1/conversions", tenant["key"],
                                   {"affiliate_id": tenant["affiliate_id"], "amount_cents": 100, "external_id": "after"})
        assert status == 201
    finally:
        server.stop()
    db = affilut.connect(db_path)
    assert [r[0] for r in db.execute("SELECT external_id FROM conversions")] == ["after"]
    assert db.execute("SELECT COUNT(*) FROM settings WHERE name = 'held'").fetchone()[0] == 0
    db.close()


# -- A full disk -------------------------------------------------------------------------------------------


def test_full_disk_is_503_storage_full_and_nothing_half_written(app, db, db_path, tenant, monkeypatch):
    monkeypatch.setitem(affilut.app.config, "affilut.rate_limiter", affilut.RateLimiter({"read": 10**6, "write": 10**6}))
    headers = bearer(tenant["key"])

    def post(external_id):
        return app.post_json("/api/v1/conversions", {"affiliate_id": tenant["affiliate_id"], "amount_cents": 100,
                                                     "external_id": external_id}, headers=headers, expect_errors=True)
    assert post("before-full").status_int == 201
    # The requests write through the file's write connection: capping its file size makes SQLite
    # fail the next page it needs with SQLITE_FULL, as a full disk does.
    _, conn = affilut.writer(affilut.get_db().execute("PRAGMA database_list").fetchone()[2])
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    stored, full = ["before-full"], None
    for n in range(2000):
        external_id = f"full-{n:04d}-" + "x" * 240  # long ids fill the index pages quickly
        res = post(external_id)
        if res.status_int == 201:
            stored.append(external_id)
            continue
        full = (external_id, res)
        break
    assert full is not None, "the capped database never filled"
    external_id, res = full
    assert res.status_int == 503 and res.json["error"]["code"] == "storage_full"
    assert int(res.headers["Retry-After"]) >= 1
    before = snapshot(db)
    assert post(external_id.replace("full-", "more-")).status_int == 503  # still full: still refused, still nothing written
    assert snapshot(db) == before
    assert [r[0] for r in db.execute("SELECT external_id FROM conversions ORDER BY id")] == stored
    assert integrity(db_path) == "ok"

    conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert post(external_id).status_int == 201


def test_a_link_followed_while_the_database_is_locked_still_lands_on_the_merchants_page(app, db, db_path, tenant,
                                                                                      capsys):
    """Losing one click is better than losing the visitor: a link whose click cannot be written
    (another writer holds the lock past the busy timeout) still sends them on, credited by ref."""
    short_code = db.execute("SELECT short_code FROM affiliates WHERE id = ?", (tenant["affiliate_id"],)).fetchone()[0]
    _, conn = affilut.writer(affilut.get_db().execute("PRAGMA database_list").fetchone()[2])
    conn.execute("PRAGMA busy_timeout = 100")  # give up quickly, as a busy server would after its timeout
    holder = affilut.connect(db_path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        res = app.get(f"/r/{short_code}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"},
                      extra_environ={"REMOTE_ADDR": "192.0.2.1"}, status=302)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    target = urllib.parse.urlsplit(res.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/landing")
    assert dict(urllib.parse.parse_qsl(target.query)) == {"lang": "en", "ref": tenant["affiliate_id"]}
    assert db.execute("SELECT COUNT(*) FROM clicks").fetchone()[0] == 0
    assert f"click not recorded for link {short_code}: database is locked" in capsys.readouterr().err
    res = app.get(f"/r/{short_code}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"},
                  extra_environ={"REMOTE_ADDR": "192.0.2.1"}, status=302)
    assert "aff_sess=clk_" in res.headers["Location"]  # the lock gone, clicks are counted again
    assert db.execute("SELECT COUNT(*) FROM clicks").fetchone()[0] == 1


# -- The bad input catalogue -------------------------------------------------------------------------------

AFF_ID = "aff_01m888aych7jhkc729a1s6ktbe"
JSON_TYPE = "application/json"


def conversion(**fields):
    return json.dumps({"affiliate_id": "{affiliate}", "amount_cents": 4900, **fields}).encode()


BAD_BODIES = [
    # (label, method, path, raw body, content type, status, code)
    ("oversized body", "POST", "/api/v1/conversions",
     conversion(external_id="x" * 70_000), JSON_TYPE, 413, "payload_too_large"),
    ("oversized body, small fields", "POST", "/api/v1/affiliates",
     b'{"name": "A", "email": "a@example.com"' + b" " * 70_000 + b"}", JSON_TYPE, 413, "payload_too_large"),
    ("deep array nesting", "POST", "/api/v1/conversions", b"[" * 30_000 + b"]" * 30_000, JSON_TYPE,
     400, "invalid_json"),
    ("deep object nesting", "POST", "/api/v1/affiliates", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, JSON_TYPE,
     400, "invalid_json"),
    ("deep nesting in a known field", "PATCH", "/api/v1/affiliates/{affiliate}",
     b'{"name": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", JSON_TYPE, 400, "invalid_json"),
    ("non-UTF-8 bytes", "POST", "/api/v1/affiliates", b'{"name": "Ren\xe9", "email": "r@example.com"}',
     JSON_TYPE, 400, "invalid_json"),
    ("latin-1 declared", "POST", "/api/v1/affiliates", b'{"name": "Ren\xe9", "email": "r@example.com"}',
     "application/json; charset=latin-1", 400, "invalid_json"),
    ("UTF-16 JSON", "POST", "/api/v1/affiliates", '{"name": "R", "email": "r@example.com"}'.encode("utf-16"),
     JSON_TYPE, 400, "invalid_json"),
    ("UTF-8 byte order mark", "POST", "/api/v1/affiliates", b'\xef\xbb\xbf{"name": "R", "email": "r@example.com"}',
     JSON_TYPE, 400, "invalid_json"),
    ("lone surrogate escape", "POST", "/api/v1/affiliates", b'{"name": "\\udc80", "email": "r@example.com"}',
     JSON_TYPE, 400, "invalid_json"),
    ("raw NUL byte", "POST", "/api/v1/affiliates", b'{"name": "A\x00B", "email": "r@example.com"}',
     JSON_TYPE, 400, "invalid_json"),
    ("escaped NUL in a name", "POST", "/api/v1/affiliates", b'{"name": "A\\u0000B", "email": "r@example.com"}',
     JSON_TYPE, 400, "invalid_parameter"),
    ("escaped NUL in an external_id", "POST", "/api/v1/conversions", conversion(external_id="inv\x00"),
     JSON_TYPE, 400, "invalid_parameter"),
    ("escaped NUL in a status", "PATCH", "/api/v1/conversions/{conversion}", b'{"status": "paid\\u0000"}',
     JSON_TYPE, 400, "invalid_parameter"),
    ("huge integer amount", "POST", "/api/v1/conversions", conversion(amount_cents=10**30), JSON_TYPE,
     400, "invalid_parameter"),
    ("integer past Python's digit limit", "POST", "/api/v1/conversions",
     conversion().replace(b"4900", b"9" * 5000), JSON_TYPE, 400, "invalid_json"),
    ("float overflow amount", "POST", "/api/v1/conversions", conversion().replace(b"4900", b"1e400"), JSON_TYPE,
     400, "invalid_parameter"),
    ("huge commission override", "POST", "/api/v1/affiliates",
     b'{"name": "A", "email": "a@example.com", "commission_override": 1' + b"0" * 40 + b"}", JSON_TYPE,
     400, "invalid_parameter"),
    ("Infinity", "POST", "/api/v1/conversions", conversion().replace(b"4900", b"Infinity"), JSON_TYPE,
     400, "invalid_json"),
    ("no content type", "POST", "/api/v1/conversions", conversion(), "", 400, "invalid_content_type"),
    ("text/plain", "POST", "/api/v1/conversions", conversion(), "text/plain", 400, "invalid_content_type"),
    ("form encoded", "POST", "/api/v1/affiliates", b"name=A&email=a%40example.com",
     "application/x-www-form-urlencoded", 400, "invalid_content_type"),
    ("multipart", "PATCH", "/api/v1/affiliates/{affiliate}", b"--b\r\n\r\nname\r\n--b--\r\n",
     "multipart/form-data; boundary=b", 400, "invalid_content_type"),
    ("XML", "PATCH", "/api/v1/conversions/{conversion}", b"<status>paid</status>", "application/xml",
     400, "invalid_content_type"),
    ("a JSON array", "POST", "/api/v1/conversions", b"[]", JSON_TYPE, 400, "invalid_json"),
    ("an unknown field", "POST", "/api/v1/conversions", conversion(admin=True), JSON_TYPE, 400, "unknown_parameter"),
]


@pytest.fixture
def victim(app, db, tenant):
    """The tenant, a conversion to aim at, and a first request already made (so last_used_at is written)."""
    conversion_row = affilut.record_manual_conversion(db, tenant["account"], tenant["affiliate_id"], 4900, "inv_1")
    app.get("/api/v1/affiliates", headers=bearer(tenant["key"]), status=200)
    return {**tenant, "conversion_id": conversion_row["id"]}


def fill(text, victim):
    return text.replace("{affiliate}", victim["affiliate_id"]).replace("{conversion}", victim["conversion_id"])


@pytest.mark.parametrize("label, method, path, raw, content_type, status, code", BAD_BODIES,
                         ids=[case[0] for case in BAD_BODIES])
def test_bad_bodies_get_a_clear_4xx_and_change_nothing(app, db, victim, label, method, path, raw, content_type,
                                                      status, code):
    before = snapshot(db)
    headers = {**bearer(victim["key"]), "Content-Type": content_type}
    raw = raw.replace(b"{affiliate}", victim["affiliate_id"].encode())
    res = app.request(fill(path, victim), method=method, body=raw, headers=headers, expect_errors=True)
    assert (res.status_int, res.json["error"]["code"]) == (status, code)
    assert res.content_type == "application/json" and "X-RateLimit-Remaining" in res.headers
    assert snapshot(db) == before


def test_chunked_oversized_body_through_waitress_is_413(start_server, db, victim):
    port = start_server().port
    # The server's first request finishes its start (statistics, last_used_at): quiet from here on.
    assert api_call(port, "GET", "/api/v1/affiliates", victim["key"])[0] == 200
    before = snapshot(db)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunks = [b'{"affiliate_id": "' + victim["affiliate_id"].encode() + b'", "amount_cents": 1, "external_id": "']
    chunks += [b"x" * 8192] * 10 + [b'"}']
    conn.request("POST", "/api/v1/conversions", body=iter(chunks), encode_chunked=True,
                 headers={**bearer(victim["key"]), "Content-Type": JSON_TYPE, "Transfer-Encoding": "chunked"})
    res = conn.getresponse()
    assert res.status == 413 and json.loads(res.read())["error"]["code"] == "payload_too_large"
    conn.close()
    assert snapshot(db) == before


SQL_METACHARACTERS = [
    "' OR '1'='1",
    "'; DROP TABLE conversions; --",
    '" OR ""="',
    "%' OR 1=1 --",
    "1) UNION SELECT key_hash FROM api_keys --",
    "\\'; /* */ SELECT 1",
    "_%",
]

# Where a string goes, and what a SQL metacharacter there must get: 4xx, or (free text) stored verbatim.
STRING_PARAMETERS = [
    # (label, method, path template, body template or None, query name or None, expected)
    ("affiliate name", "POST", "/api/v1/affiliates", {"name": "@", "email": "sql@example.com"}, None, "stored"),
    ("affiliate email", "POST", "/api/v1/affiliates", {"name": "S", "email": "@"}, None, 400),
    ("affiliate status", "POST", "/api/v1/affiliates", {"name": "S", "email": "s@example.com", "status": "@"}, None, 400),
    ("commission override", "POST", "/api/v1/affiliates",
     {"name": "S", "email": "s@example.com", "commission_override": "@"}, None, 400),
    ("new name", "PATCH", "/api/v1/affiliates/{affiliate}", {"name": "@"}, None, "stored"),
    ("new affiliate status", "PATCH", "/api/v1/affiliates/{affiliate}", {"status": "@"}, None, 400),
    ("new commission override", "PATCH", "/api/v1/affiliates/{affiliate}", {"commission_override": "@"}, None, 400),
    ("affiliate_id of a conversion", "POST", "/api/v1/conversions", {"affiliate_id": "@", "amount_cents": 1}, None,
     404),
    ("external_id", "POST", "/api/v1/conversions",
     {"affiliate_id": "{affiliate}", "amount_cents": 1, "external_id": "@"}, None, "stored"),
    ("conversion status", "PATCH", "/api/v1/conversions/{conversion}", {"status": "@"}, None, 400),
    ("rejection reason", "PATCH", "/api/v1/conversions/{conversion}", {"status": "rejected", "reason": "@"}, None,
     "stored"),
    ("affiliate path id", "GET", "/api/v1/affiliates/@", None, None, 404),
    ("affiliate path id, PATCH", "PATCH", "/api/v1/affiliates/@", {"name": "N"}, None, 404),
    ("conversion path id", "GET", "/api/v1/conversions/@", None, None, 404),
    ("conversion path id, PATCH", "PATCH", "/api/v1/conversions/@", {"status": "paid"}, None, 404),
    ("page", "GET", "/api/v1/conversions", None, "page", 400),
    ("limit", "GET", "/api/v1/affiliates", None, "limit", 400),
    ("affiliates starting_after", "GET", "/api/v1/affiliates", None, "starting_after", 400),
    ("conversions starting_after", "GET", "/api/v1/conversions", None, "starting_after", 400),
    ("status filter", "GET", "/api/v1/conversions", None, "status", 400),
    ("affiliate_id filter", "GET", "/api/v1/conversions", None, "affiliate_id", "empty"),
]


def substitute(template, value, victim):
    """The template with "@" replaced by the hostile value and placeholders by the victim's ids."""
    if isinstance(template, dict):
        return {k: substitute(v, value, victim) for k, v in template.items()}
    if isinstance(template, str):
        return value if template == "@" else fill(template, victim)
    return template


@pytest.mark.parametrize("value", SQL_METACHARACTERS)
@pytest.mark.parametrize("label, method, path, body, query, expected", STRING_PARAMETERS,
                         ids=[case[0] for case in STRING_PARAMETERS])
def test_sql_metacharacters_are_only_ever_data(app, db, victim, label, method, path, body, query, expected, value):
    import urllib.parse
    before = snapshot(db)
    url = fill(path, victim).replace("@", urllib.parse.quote(value, safe=""))
    if query:
        url += "?" + urllib.parse.urlencode({query: value})
    kwargs = {"headers": bearer(victim["key"]), "expect_errors": True}
    if body is None:
        res = app.request(url, method=method, **kwargs)
    else:
        res = app.request(url, method=method, body=json.dumps(substitute(body, value, victim)).encode(),
                          content_type=JSON_TYPE, **kwargs)
    after = snapshot(db)
    if expected == "stored":
        assert res.status_int in (200, 201), res.text
        assert value in json.dumps(res.json, ensure_ascii=False) or json.dumps(value)[1:-1] in res.text
        # The audit trail and the totals (schema.sql, migration 13) follow the write too; the value
        # itself lands in exactly one row.
        changed = {table for table in after if after[table] != before[table]} - {"conversion_history"} - TOTALS
        assert changed <= {"affiliates", "conversions"}
        for table in changed:  # verbatim in the one row written, and every other row untouched
            new_rows = set(after[table]) - set(before[table])
            assert len(new_rows) == 1 and value in next(iter(new_rows))
            assert len(set(before[table]) - set(after[table])) <= 1 and len(after[table]) <= len(before[table]) + 1
    elif expected == "empty":
        assert res.status_int == 200 and res.json["data"] == []
        assert after == before
    else:
        assert res.status_int == expected, res.text
        assert res.json["error"]["code"] in ("invalid_parameter", "not_found")
        assert after == before
    assert affilut.get_db().execute("SELECT COUNT(*) FROM conversions").fetchone()[0] >= 1  # nothing dropped


# -- The Stripe webhook under faults -------------------------------------------------------------------------

T0 = int(time.time()) - 3600  # an hour ago: Stripe's time of the payments below


def webhook_call(port, account, evt, connection=None, timeout=30):
    """POST one event (an object, or raw bytes) to the account's webhook, signed as Stripe signs it;
    (status, headers, parsed JSON)."""
    payload = evt if isinstance(evt, bytes) else json.dumps(evt).encode()
    return api_call(port, "POST", f"/webhooks/stripe/{account['id']}", body=payload, timeout=timeout,
                    connection=connection, headers={"Stripe-Signature": sign(payload, account["webhook_secret"])})


def charge_event(charge_id, amount, affiliate_id, event_id=None):
    """A charge.succeeded whose metadata names the affiliate."""
    obj = stripe_charge(charge_id, amount, T0, metadata={"affiliate_id": affiliate_id})
    return stripe_event("charge.succeeded", obj, T0, event_id=event_id)


def charge_conversions(db, charge_ids=None):
    """{stripe charge id: number of conversions for it} over the Stripe sales."""
    rows = db.execute("SELECT stripe_charge_id, COUNT(*) FROM conversions WHERE kind IN ('sale', 'renewal') "
                      "GROUP BY stripe_charge_id").fetchall()
    return {r[0]: r[1] for r in rows if charge_ids is None or r[0] in charge_ids}


@pytest.mark.slow
def test_sigkill_mid_webhook_and_api_load_loses_no_acknowledged_event(db_path, tmp_path, tenant):
    account, affiliate_id = tenant["account"], tenant["affiliate_id"]
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_RATE_POST="1000000")
    sent, acked, api_acked, api_unknown, odd = {}, set(), {}, set(), []
    lock, stop = threading.Lock(), threading.Event()

    def webhook_writer(worker):
        conn, n = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10), 0
        while not stop.is_set():
            evt = charge_event(f"ch_crash_{worker}_{n}", 1000 + n, affiliate_id, event_id=f"evt_crash_{worker}_{n}")
            n += 1
            with lock:
                sent[evt["id"]] = evt
            try:
                status, _, body = webhook_call(server.port, account, evt, connection=conn)
            except (OSError, http.client.HTTPException):
                return  # sent, answer lost: Stripe will redeliver it
            with lock:
                if (status, body) == (200, {"received": True, "duplicate": False, "handled": True}):
                    acked.add(evt["id"])
                else:
                    odd.append((status, body))

    threads = [threading.Thread(target=webhook_writer, args=(w,)) for w in range(6)]
    threads += [threading.Thread(target=post_conversions_until_stopped,
                                 args=(server.port, tenant["key"], affiliate_id, f"mixed-{w}",
                                       stop, lock, api_acked, api_unknown, odd)) for w in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while (len(acked) < 600 or len(api_acked) < 100) and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # in the middle of the load: eight requests in flight
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert odd == [] and len(acked) >= 600 and len(api_acked) >= 100
    assert len(sent) > len(acked)  # some events were in flight when the server died

    db = affilut.connect(db_path)
    assert_written_whole(db)  # before anything runs on the file again: the kill left no half a write
    charge_of = {event_id: evt["data"]["object"]["id"] for event_id, evt in sent.items()}
    recorded = {r[0] for r in db.execute("SELECT event_id FROM stripe_events")}
    converted = charge_conversions(db)
    # Acknowledged: recorded, and credited exactly once. Not acknowledged: all of it or none of it.
    assert acked <= recorded <= set(sent)
    assert set(converted.values()) == {1} and set(converted) == {charge_of[e] for e in recorded}
    assert {r[0] for r in db.execute("SELECT charge_id FROM charges")} == set(converted)
    # The API's acknowledged conversions, under the ids the clients were given, and only sent ones.
    manual = {r[0]: r[1] for r in db.execute("SELECT external_id, id FROM conversions WHERE kind = 'manual'")}
    assert all(manual.get(external_id) == cid for external_id, cid in api_acked.items())
    assert set(manual) <= set(api_acked) | api_unknown

    # Stripe redelivers every event, answered or not: each charge ends with exactly one conversion. The
    # API's clients retry every external_id they sent: the ones acknowledged get a 409 naming the row
    # they were given, a lost answer a 409 naming what the kill kept, or a 201 if it kept nothing.
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_RATE_POST="1000000")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for event_id, evt in sent.items():
            status, _, body = webhook_call(server.port, account, evt, connection=conn)
            assert status == 200 and body["duplicate"] is (event_id in recorded), (event_id, body)
        for external_id in sorted(set(api_acked) | api_unknown):
            status, _, body = api_call(server.port, "POST", "/api/v1/conversions", tenant["key"],
                                       {"affiliate_id": affiliate_id, "amount_cents": 1, "external_id": external_id},
                                       connection=conn)
            if external_id in manual:
                assert (status, body["error"]["conversionId"]) == (409, manual[external_id]), (external_id, body)
            else:
                assert status == 201 and external_id in api_unknown, (external_id, body)
        conn.close()
    finally:
        server.stop()
    assert charge_conversions(db) == {charge_of[e]: 1 for e in sent}
    amounts = {r[0]: r[1] for r in db.execute("SELECT stripe_charge_id, amount_cents FROM conversions "
                                             "WHERE kind = 'sale'")}
    assert amounts == {evt["data"]["object"]["id"]: evt["data"]["object"]["amount"] for evt in sent.values()}
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == len(sent)
    counts = db.execute("SELECT external_id, COUNT(*) FROM conversions WHERE kind = 'manual' "
                        "GROUP BY external_id").fetchall()
    assert {r[0] for r in counts} == set(api_acked) | api_unknown and {r[1] for r in counts} == {1}
    assert_written_whole(db)
    db.close()


@pytest.mark.slow
def test_webhook_under_a_write_lock_held_elsewhere_is_503_and_stored_once_after(db_path, tmp_path, tenant):
    account, affiliate_id = tenant["account"], tenant["affiliate_id"]
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_BUSY_TIMEOUT="1")
    events = [charge_event(f"ch_locked_{n}", 2000 + n, affiliate_id) for n in range(4)]
    db = affilut.connect(db_path)
    try:
        assert webhook_call(server.port, account, charge_event("ch_warm", 100, affiliate_id))[0] == 200
        before = snapshot(db)
        holder = lock_held_elsewhere(db_path)
        try:
            results = []

            def deliver(evt):
                started = time.monotonic()
                results.append((*webhook_call(server.port, account, evt), time.monotonic() - started))
            threads = [threading.Thread(target=deliver, args=(evt,)) for evt in events]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
        finally:
            holder.communicate(b"release\n", timeout=10)
        assert len(results) == len(events)
        for status, headers, body, elapsed in results:
            # Stripe retries anything but 2xx: a 503 with Retry-After is the honest "later".
            assert status == 503 and body["error"]["code"] == "database_busy"
            assert int(headers["Retry-After"]) >= 1 and headers["Content-Type"] == "application/json"
            assert 0.9 <= elapsed < 10
        assert snapshot(db) == before  # nothing stored, not even the event id

        for duplicate in (False, True):  # Stripe's retry stores each once; a redelivery changes nothing
            for evt in events:
                status, _, body = webhook_call(server.port, account, evt)
                assert status == 200 and body["duplicate"] is duplicate
    finally:
        server.stop()
    assert charge_conversions(db) == {"ch_warm": 1, **{f"ch_locked_{n}": 1 for n in range(4)}}
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == 5
    db.close()


def test_full_disk_webhook_is_503_storage_full_and_nothing_half_written(app, db, db_path, tenant):
    account, affiliate_id = tenant["account"], tenant["affiliate_id"]

    def deliver(evt):
        payload = json.dumps(evt).encode()
        return app.post(f"/webhooks/stripe/{account['id']}", payload, expect_errors=True,
                        headers={"Stripe-Signature": sign(payload, account["webhook_secret"]),
                                 "Content-Type": "application/json"})
    assert deliver(charge_event("ch_before_full", 100, affiliate_id)).status_int == 200
    # As in the API's test: cap the connection the requests write through.
    _, conn = affilut.writer(affilut.get_db().execute("PRAGMA database_list").fetchone()[2])
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    stored, full = ["ch_before_full"], None
    for n in range(2000):
        long = "x" * 200  # long ids fill the index pages quickly
        evt = charge_event(f"ch_full_{n:04d}_{long}", 100 + n, affiliate_id, event_id=f"evt_full_{n:04d}_{long}")
        res = deliver(evt)
        if res.status_int == 200:
            stored.append(evt["data"]["object"]["id"])
            continue
        full = (evt, res)
        break
    assert full is not None, "the capped database never filled"
    evt, res = full
    assert res.status_int == 503 and res.json["error"]["code"] == "storage_full"
    assert int(res.headers["Retry-After"]) >= 1 and res.content_type == "application/json"
    before = snapshot(db)
    assert deliver(evt).status_int == 503  # Stripe's retry while still full: still nothing written
    another = charge_event(f"ch_full_9999_{long}", 100, affiliate_id, event_id=f"evt_full_9999_{long}")
    assert deliver(another).status_int == 503  # sorts last too: needs the page that is not there either
    assert snapshot(db) == before
    assert charge_conversions(db) == {charge_id: 1 for charge_id in stored}
    assert [r[0] for r in db.execute("SELECT charge_id FROM charges ORDER BY charge_id")] == sorted(stored)
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == len(stored)
    assert integrity(db_path) == "ok"

    conn.execute("PRAGMA max_page_count = 1073741823")  # space freed: the retry is stored, once
    res = deliver(evt)
    assert res.status_int == 200 and res.json["duplicate"] is False
    assert deliver(evt).json["duplicate"] is True
    assert charge_conversions(db)[evt["data"]["object"]["id"]] == 1


# -- The webhook's bad input catalogue: every body signed validly, so only its content is wrong --------------

DROP = object()  # a field to leave out
DEEP = "@deep@"  # where a raw JSON fragment goes, spliced into the serialized event
FACT_TABLES = {"stripe_events", "charges", "refunds", "disputes", "bindings", "payer_emails"}


def bad_event(affiliate_id, raw=None, kind="charge.succeeded", obj=None, **fields):
    """An event (a charge.succeeded for ch_bad naming the affiliate, unless kind and obj say otherwise)
    with fields of its object (or, prefixed event_, of the event) replaced or DROPped; raw replaces the
    DEEP placeholder with raw bytes."""
    evt = charge_event("ch_bad", 4900, affiliate_id, event_id="evt_bad")
    evt["type"] = kind
    if obj is not None:
        evt["data"]["object"] = obj
    for name, value in fields.items():
        target, name = (evt, name[6:]) if name.startswith("event_") else (evt["data"]["object"], name)
        if value is DROP:
            target.pop(name, None)
        else:
            target[name] = value
    payload = json.dumps(evt).encode()
    return payload.replace(json.dumps(DEEP).encode(), raw) if raw is not None else payload


def no_id(obj):
    obj.pop("id")
    return obj


def nested(depth):
    return b'{"a":' * depth + b"1" + b"}" * depth


BAD_EVENTS = [
    # (label, body given the affiliate id, outcome: "credited" (one conversion), "ignored" (facts and the
    #  event id recorded, no conversion), or the (status, error code) of a refusal that stores nothing)
    ("body over 1 MiB", lambda a: bad_event(a, description="x" * affilut.MAX_WEBHOOK_BODY), (413, "payload_too_large")),
    ("deep array nesting as data.object",
     lambda a: bad_event(a, event_data={"object": DEEP}, raw=b"[" * 50_000 + b"]" * 50_000), (400, "invalid_json")),
    ("deep object nesting in metadata", lambda a: bad_event(a, metadata={"affiliate_id": a, "x": DEEP},
                                                             raw=nested(50_000)), (400, "invalid_json")),
    ("nesting that parses, in a field nobody reads", lambda a: bad_event(a, extra=DEEP, raw=nested(300)), "credited"),
    ("raw NUL byte in a string", lambda a: bad_event(a, description=DEEP, raw=b'"a\x00b"'), (400, "invalid_json")),
    ("escaped NUL in the affiliate id", lambda a: bad_event(a, metadata={"affiliate_id": a + "\x00"}), "ignored"),
    ("escaped NUL in the charge id", lambda a: bad_event(a, id="ch_bad\x00"), "ignored"),  # not of Stripe's id shape
    ("invalid UTF-8", lambda a: bad_event(a, description=DEEP, raw=b'"Ren\xe9"'), (400, "invalid_json")),
    ("lone surrogate escape in metadata", lambda a: bad_event(a, metadata={"affiliate_id": a, "note": "\udc80"}),
     (400, "invalid_json")),
    ("lone surrogate escape in the charge id", lambda a: bad_event(a, id="ch_\ud800"), (400, "invalid_json")),
    ("a surrogate pair (an emoji) is fine", lambda a: bad_event(a, description="\U0001f600"), "credited"),
    ("integer past Python's digit limit", lambda a: bad_event(a, amount=DEEP, raw=b"9" * 5000), (400, "invalid_json")),
    ("amount of 10**30", lambda a: bad_event(a, amount=10**30), "ignored"),
    ("amount past 64 bits", lambda a: bad_event(a, amount=2**64), "ignored"),
    ("amount that would overflow a sum", lambda a: bad_event(a, amount=2**62), "ignored"),
    ("amount as a string", lambda a: bad_event(a, amount="4900"), "ignored"),
    ("amount as a float", lambda a: bad_event(a, amount=49.5), "ignored"),
    ("amount as a whole float", lambda a: bad_event(a, amount=4900.0), "ignored"),
    ("amount in exponent notation", lambda a: bad_event(a, amount=DEEP, raw=b"1e400"), "ignored"),
    ("negative amount", lambda a: bad_event(a, amount=-4900), "ignored"),
    ("amount true", lambda a: bad_event(a, amount=True), "ignored"),
    ("amount_refunded of 10**30", lambda a: bad_event(a, amount_refunded=10**30), "credited"),
    ("charge created as a float", lambda a: bad_event(a, created=T0 + 0.5), "credited"),
    ("charge created as a string", lambda a: bad_event(a, created=str(T0)), "credited"),
    ("charge created past 64 bits", lambda a: bad_event(a, created=10**30), "credited"),
    ("event created as a float", lambda a: bad_event(a, event_created=T0 + 0.5), (400, "invalid_event")),
    ("event created as a string", lambda a: bad_event(a, event_created=str(T0)), (400, "invalid_event")),
    ("event created true", lambda a: bad_event(a, event_created=True), (400, "invalid_event")),
    ("event created negative", lambda a: bad_event(a, event_created=-T0), (400, "invalid_event")),
    ("event created past 64 bits", lambda a: bad_event(a, event_created=10**30), (400, "invalid_event")),
    ("event created that overflows in milliseconds", lambda a: bad_event(a, event_created=2**62),
     (400, "invalid_event")),
    ("event created missing", lambda a: bad_event(a, event_created=DROP), (400, "invalid_event")),
    ("data.object as a list", lambda a: bad_event(a, event_data={"object": [{"id": "ch_bad"}]}),
     (400, "invalid_event")),
    ("data.object as a string", lambda a: bad_event(a, event_data={"object": "ch_bad"}), (400, "invalid_event")),
    ("data.object null", lambda a: bad_event(a, event_data={"object": None}), (400, "invalid_event")),
    ("data as a list", lambda a: bad_event(a, event_data=[]), (400, "invalid_event")),
    ("metadata as a list", lambda a: bad_event(a, metadata=[a]), "ignored"),
    ("metadata as a string", lambda a: bad_event(a, metadata=a), "ignored"),
    ("affiliate_id as a number", lambda a: bad_event(a, metadata={"affiliate_id": 12}), "ignored"),
    ("affiliate_id as a list", lambda a: bad_event(a, metadata={"affiliate_id": [a]}), "ignored"),
    ("event id missing", lambda a: bad_event(a, event_id=DROP), (400, "invalid_event")),
    ("event id as a number", lambda a: bad_event(a, event_id=7), (400, "invalid_event")),
    ("event type missing", lambda a: bad_event(a, event_type=DROP), (400, "invalid_event")),
    ("event type of 300 characters", lambda a: bad_event(a, event_type="charge.succeeded" + "x" * 284),
     (400, "invalid_event")),
    ("not an event object", lambda a: bad_event(a, event_object="charge"), (400, "invalid_event")),
    ("an unknown event type", lambda a: bad_event(a, kind="charge.teleported"), "ignored"),
    ("charge without an id", lambda a: bad_event(a, id=DROP), "ignored"),
    ("charge id as a number", lambda a: bad_event(a, id=42), "ignored"),
    ("charge status as a list", lambda a: bad_event(a, status=["succeeded"], paid=False), "ignored"),
    ("SQL in the charge id", lambda a: bad_event(a, id="ch_'; DROP TABLE conversions; --"), "ignored"),  # not of Stripe's id shape
    ("refund without an id", lambda a: bad_event(a, kind="refund.created",
                                                  obj=no_id(stripe_refund("re_bad", "ch_bad", 100))), "ignored"),
    ("dispute without an id", lambda a: bad_event(a, kind="charge.dispute.closed",
                                                   obj=no_id(stripe_dispute("dp_bad", "ch_bad", 100, "lost"))),
     "ignored"),
    ("dispute status as a list", lambda a: bad_event(a, kind="charge.dispute.closed", status=["lost"],
                                                      obj=stripe_dispute("dp_bad", "ch_bad", 100, "lost")), "ignored"),
    ("payment intent's charges.data as a number", lambda a: bad_event(
        a, kind="payment_intent.succeeded", latest_charge=DROP, charges={"data": 5},
        obj=stripe_payment_intent("pi_bad", None, 100, metadata={"affiliate_id": a})), "ignored"),
]


@pytest.mark.parametrize("label, build, outcome", BAD_EVENTS, ids=[case[0] for case in BAD_EVENTS])
def test_bad_stripe_events_are_refused_or_ignored_cleanly(app, db, tenant, label, build, outcome):
    account, affiliate_id = tenant["account"], tenant["affiliate_id"]

    def deliver(payload):
        return app.post(f"/webhooks/stripe/{account['id']}", payload, expect_errors=True,
                        headers={"Stripe-Signature": sign(payload, account["webhook_secret"]),
                                 "Content-Type": "application/json"})
    assert deliver(json.dumps(charge_event("ch_good", 1000, affiliate_id)).encode()).status_int == 200
    payload = build(affiliate_id)
    before = snapshot(db)
    res = deliver(payload)
    after = snapshot(db)
    assert res.content_type == "application/json" and res.status_int != 500, res.text
    if isinstance(outcome, tuple):
        assert (res.status_int, res.json["error"]["code"]) == outcome
        assert after == before
        return
    assert res.status_int == 200 and res.json["duplicate"] is False, res.text
    changed = {table for table in after if after[table] != before[table]}
    assert all(set(before[table]) <= set(after[table]) for table in after if table not in TOTALS)  # only additions
    assert len(after["stripe_events"]) == len(before["stripe_events"]) + 1
    if outcome == "ignored":
        assert changed <= FACT_TABLES
    else:
        assert changed <= FACT_TABLES | {"conversions", "conversion_history", "outbox"} | TOTALS  # outbox: the commission email
        obj = json.loads(payload)["data"]["object"]
        new = db.execute("SELECT stripe_charge_id, affiliate_id, amount_cents FROM conversions WHERE id NOT IN "
                         f"({','.join('?' * len(before['conversions']))})",
                         [row[0] for row in before["conversions"]]).fetchall()
        assert [tuple(r) for r in new] == [(obj["id"], affiliate_id, 4900)]
    again = deliver(payload)  # Stripe's redelivery changes nothing
    assert again.status_int == 200 and again.json["duplicate"] is True and snapshot(db) == after


# -- Header injection through a link's ?to= ----------------------------------------------------------------

LANDING = "https://shop.example"  # the origin of make_account's landing URL
HEADER_LINE = re.compile(rb"[A-Za-z0-9-]+: [\x21-\x7e][\x20-\x7e]*")  # printable ASCII only, one line

INJECTIONS = [
    # (label, to: a str is the value the server must decode (sent percent-encoded), bytes are sent on the
    #  wire as they are; the path and query the visitor must land on, None for the landing URL itself, or
    #  400 where waitress refuses the request line before the app sees it)
    ("CR LF", "/ok\r\nSet-Cookie: evil=1", None),
    ("LF", "/ok\nLocation: https://evil.example/", None),
    ("CR", "/ok\rX-Injected: 1", None),
    ("NUL", "/ok\x00X-Injected: 1", None),
    ("vertical tab and form feed", "/ok\x0b\x0cX-Injected: 1", None),
    ("%0d%0a on the wire", b"/ok%0d%0aSet-Cookie:%20evil=1", None),
    ("%0D%0A on the wire, upper case", b"/ok%0D%0ASet-Cookie:%20evil=1", None),
    ("double-encoded CR LF", b"/ok%250d%250aX-Injected:%201", "/ok%0d%0aX-Injected:%201"),
    ("CR LF encoded in to's own query", "/ok?a=%0d%0aX-Injected:1", "/ok?a=%0D%0AX-Injected%3A1"),
    ("unicode line separator", "/ok\u2028X-Injected: 1", "/ok%E2%80%A8X-Injected:%201"),
    ("unicode paragraph separator", "/ok\u2029X-Injected: 1", "/ok%E2%80%A9X-Injected:%201"),
    ("next line (C1 NEL)", "/ok\u0085X-Injected: 1", "/ok%C2%85X-Injected:%201"),
    ("raw UTF-8 line separator on the wire", b"/ok\xe2\x80\xa8X-Injected:%201", 400),
    ("raw latin-1 NEL byte on the wire", b"/ok\x85X-Injected:%201", 400),
    ("invalid UTF-8 (an encoded lone surrogate)", b"/ok%ED%A0%80", None),
    ("a plain non-ASCII path", "/café", "/caf%C3%A9"),
    ("fullwidth solidus to another host", "https://shop.example\uff0f@evil.example/", None),
    ("line separator before another host", "/\u2028//evil.example", "/%E2%80%A8//evil.example"),
]


def test_header_injection_in_to_never_reaches_a_header(start_server, tenant, db):
    """Through `python affilut.py serve` (one server for all cases), reading the raw response bytes:
    every header stays one line of printable ASCII, nothing is added, and the visitor stays on the
    landing URL's origin."""
    code = db.execute("SELECT short_code FROM affiliates WHERE id = ?", (tenant["affiliate_id"],)).fetchone()[0]
    port = start_server().port
    for label, to, path in INJECTIONS:
        try:
            follow_with_raw_bytes(port, code, to, path)
        except AssertionError as error:
            raise AssertionError(f"{label}: {error}") from error


def follow_with_raw_bytes(port, code, to, path):
    import socket
    query = to if isinstance(to, bytes) else urllib.parse.quote(to, safe="").encode("ascii")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /r/" + code.encode() + b"?to=" + query + b" HTTP/1.1\r\nHost: affilut.test\r\n"
                     b"User-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n")
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
    status_line, *lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    for line in lines:
        assert HEADER_LINE.fullmatch(line), line
    names = [line.split(b":", 1)[0].lower() for line in lines]
    if path == 400:
        assert status_line == b"HTTP/1.1 400 Bad Request" and b"location" not in names
        return
    assert status_line == b"HTTP/1.1 302 Found"
    assert b"set-cookie" not in names and b"x-injected" not in names and names.count(b"location") == 1
    location = next(line.split(b": ", 1)[1] for line in lines if line.lower().startswith(b"location:")).decode()
    assert location.startswith(LANDING + "/")
    parts = urllib.parse.urlsplit(location)
    assert (parts.scheme, parts.netloc) == ("https", "shop.example")
    kept = urllib.parse.urlunsplit(parts._replace(scheme="", netloc="", fragment="",
                                                  query="&".join(p for p in parts.query.split("&")
                                                                 if not p.startswith(("ref=", "aff_sess=")))))
    assert kept == (path or "/landing?lang=en"), location
