"""Paging conversions: every page and cursor gives the recording order exactly, and a deep page of the
unfiltered list costs what the first one does."""

import json
import math
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import affilut
from conftest import bearer, make_account
from stripe_events import charge, deliver, event, sign

T0 = int(time.time()) - 3600
LIMITS = (1, 7, 50, 100)
STATUSES = ("pending", "approved", "rejected")


@pytest.fixture
def client(app, clock, monkeypatch):
    """The API without its rate limits: these tests make hundreds of requests."""
    monkeypatch.setitem(affilut.app.config, "affilut.rate_limiter",
                        affilut.RateLimiter({"read": 10**6, "write": 10**6}, clock=clock))
    return app


def listed(client, key, **query):
    """(ids, hasMore) of one GET /api/v1/conversions."""
    res = client.get("/api/v1/conversions?" + urllib.parse.urlencode(query), headers=bearer(key)).json
    return [c["id"] for c in res["data"]], res["hasMore"]


@pytest.fixture
def recorded(db, account, monkeypatch):
    """250 conversions of three affiliates in three statuses, in recording order, as dicts. Their
    ids are handed out shuffled, so only seq, not id order, can give the recording order back."""
    affiliates = [affilut.create_affiliate(db, account["id"], f"A{i}", f"a{i}@example.com")["id"] for i in range(3)]
    ids = [affilut.new_id("cnv") for _ in range(250)]
    rng = random.Random(5)
    rng.shuffle(ids)
    handed, real_new_id = iter(ids), affilut.new_id
    rows = []
    with monkeypatch.context() as patch:
        patch.setattr(affilut, "new_id", lambda prefix: next(handed) if prefix == "cnv" else real_new_id(prefix))
        for i in range(250):
            row = affilut.record_manual_conversion(db, account, rng.choice(affiliates), 100 + i)
            status = rng.choice(STATUSES)
            if status != "pending":
                affilut.set_conversion_status(db, account["id"], row["id"], status)
            rows.append({"id": row["id"], "affiliate_id": row["affiliate_id"], "status": status})
    assert [r["id"] for r in rows] == ids
    return rows


def filters_of(recorded):
    """The API filters to try, each with the rows it keeps."""
    first, second = recorded[0]["affiliate_id"], recorded[1]["affiliate_id"]
    return [{}, {"status": "approved"}, {"affiliate_id": first}, {"affiliate_id": second, "status": "pending"}]


def kept(rows, query):
    return [r["id"] for r in rows if all(r[name] == value for name, value in query.items())]


def test_every_page_and_every_cursor_walk_gives_the_recording_order(client, api_key, recorded):
    for query in filters_of(recorded):
        expected = kept(reversed(recorded), query)
        assert len(expected) >= 20, query  # enough rows that every limit has several pages
        for limit in LIMITS:
            pages = math.ceil(len(expected) / limit)
            for page in range(1, pages + 2):  # the one past the end is empty
                ids, has_more = listed(client, api_key, page=page, limit=limit, **query)
                assert ids == expected[(page - 1) * limit:page * limit], (query, limit, page)
                assert has_more == (page < pages), (query, limit, page)
            assert listed(client, api_key, page=10**9, limit=limit, **query) == ([], False)

            walked, cursor = [], {}
            while True:
                ids, has_more = listed(client, api_key, limit=limit, **cursor, **query)
                walked += ids
                if not has_more:
                    break
                cursor = {"starting_after": ids[-1]}
            assert walked == expected, (query, limit)


def test_a_cursor_and_a_page_together(client, api_key, recorded):
    newest_first = list(reversed(recorded))
    for query in filters_of(recorded):
        # Any conversion is a cursor, whether the filter keeps it or not.
        for at in range(0, len(newest_first), 17):
            rest = kept(newest_first[at + 1:], query)
            for page in (1, 2, 5):
                ids, has_more = listed(client, api_key, starting_after=newest_first[at]["id"], page=page, limit=7,
                                       **query)
                assert ids == rest[(page - 1) * 7:page * 7], (query, at, page)
                assert has_more == (len(rest) > page * 7), (query, at, page)


def test_a_cursor_the_account_does_not_have_keeps_the_ids_below_it(client, db, account, api_key, other_tenant):
    # As before conversions had a seq: another account's id, or no one's, is a place in id order.
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    mine = [affilut.record_manual_conversion(db, account, jane["id"], 100)["id"] for _ in range(2)]
    theirs = affilut.record_manual_conversion(db, other_tenant["account"], other_tenant["affiliate"]["id"], 100)["id"]
    mine += [affilut.record_manual_conversion(db, account, jane["id"], 100)["id"] for _ in range(2)]
    assert listed(client, api_key, starting_after=theirs) == ([mine[1], mine[0]], False)
    assert listed(client, api_key, starting_after=theirs, limit=1, page=2) == ([mine[0]], False)
    assert listed(client, api_key, starting_after=theirs, status="pending") == ([mine[1], mine[0]], False)
    assert listed(client, api_key, starting_after="cnv_" + "0" * 26) == ([], False)
    assert listed(client, api_key, starting_after="cnv_" + "7" + "z" * 25) == (mine[::-1], False)


def test_every_way_a_conversion_is_recorded_takes_the_next_number(client, db, account, api_key):
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    client.post_json("/api/v1/conversions", {"affiliate_id": jane["id"], "amount_cents": 500}, headers=bearer(api_key))
    meta = {"affiliate_id": jane["id"]}
    deliver(client, account, event("charge.succeeded", charge("ch_1", 10000, T0, metadata=meta), T0))
    sale = db.execute("SELECT id FROM conversions WHERE stripe_charge_id = 'ch_1'").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], sale, "approved")
    affilut.pay_conversion(db, account, sale)
    deliver(client, account, event("charge.refunded", charge("ch_1", 10000, T0, metadata=meta, refunded=3000),
                                   T0 + 100))  # paid commission is netted by a new adjustment conversion
    client.post_json("/api/v1/conversions", {"affiliate_id": jane["id"], "amount_cents": 700}, headers=bearer(api_key))

    rows = db.execute("SELECT id, kind, seq FROM conversions ORDER BY seq").fetchall()
    assert [(r["kind"], r["seq"]) for r in rows] == [("manual", 1), ("sale", 2), ("adjustment", 3), ("manual", 4)]
    assert listed(client, api_key) == ([r["id"] for r in reversed(rows)], False)


def test_the_database_refuses_to_delete_renumber_or_skip(db, account):
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    first, second = (affilut.record_manual_conversion(db, account, jane["id"], 100)["id"] for _ in range(2))
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        db.execute("DELETE FROM conversions WHERE id = ?", (first,))
    for seq in (2, 1, 7):
        with pytest.raises(sqlite3.IntegrityError, match="never changes"):
            db.execute("UPDATE conversions SET seq = ? WHERE id = ?", (seq, second))
    for seq in (None, 2, 4, 0):  # a missing, a taken, a skipping and a made-up number
        with pytest.raises(sqlite3.IntegrityError, match="next seq"):
            db.execute("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                              commission_cents, commission_rate, status, created_at, updated_at, seq)
                          VALUES (:id, :account, :affiliate, :id, 100, 10, '10', 'pending', 0, 0, :seq)""",
                       {"id": affilut.new_id("cnv"), "account": account["id"], "affiliate": jane["id"], "seq": seq})
    db.execute("UPDATE conversions SET status = 'approved' WHERE id = ?", (first,))  # other columns still change
    rows = db.execute("SELECT id, seq FROM conversions ORDER BY seq").fetchall()
    assert [tuple(r) for r in rows] == [(first, 1), (second, 2)]


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status
    except urllib.error.HTTPError as error:
        return error.code


def test_concurrent_recording_keeps_each_accounts_numbers_unique_and_gapless(start_server, db):
    shops = []
    for name in ("Shop A", "Shop B"):
        account = make_account(db, name)
        shops.append({"account": account, "key": affilut.create_api_key(db, account["id"])[1],
                      "affiliate": affilut.create_affiliate(db, account["id"], "Racer", "racer@example.com")["id"]})
    server_url = start_server(AFFILUT_RATE_POST="1000").url

    def manual(shop):
        body = json.dumps({"affiliate_id": shop["affiliate"], "amount_cents": 4900}).encode()
        return post(server_url + "/api/v1/conversions", body, {**bearer(shop["key"]),
                                                                "Content-Type": "application/json"})

    def stripe_sale(shop, n):
        account = shop["account"]
        evt = event("charge.succeeded", charge(f"ch_{n}", 4900, T0, metadata={"affiliate_id": shop["affiliate"]}), T0)
        payload = json.dumps(evt).encode()
        return post(f"{server_url}/webhooks/stripe/{account['id']}", payload,
                    {"Stripe-Signature": sign(payload, account["webhook_secret"]), "Content-Type": "application/json"})

    threads, per_thread, statuses = 16, 6, []
    start = threading.Barrier(threads)

    def run(t):
        start.wait()
        for i in range(per_thread):
            shop = shops[(t + i) % 2]
            statuses.append(manual(shop) if i % 3 else stripe_sale(shop, t * per_thread + i))
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(set(statuses)) == [200, 201] and len(statuses) == threads * per_thread

    for shop in shops:
        rows = db.execute("SELECT id, seq FROM conversions WHERE account_id = ? ORDER BY seq",
                          (shop["account"]["id"],)).fetchall()
        assert [r["seq"] for r in rows] == list(range(1, threads * per_thread // 2 + 1))
        newest_first = [r["id"] for r in reversed(rows)]
        assert listed_live(server_url, shop["key"], limit=30, page=2) == (newest_first[30:48], False)


def listed_live(url, key, **query):
    """(ids, hasMore) of one GET /api/v1/conversions to the live server."""
    request = urllib.request.Request(f"{url}/api/v1/conversions?{urllib.parse.urlencode(query)}", headers=bearer(key))
    with urllib.request.urlopen(request, timeout=30) as res:
        body = json.load(res)
    return [c["id"] for c in body["data"]], body["hasMore"]


def vm_steps(db, work):
    """How many hundred SQLite virtual-machine instructions work() runs: a cost that no load on the machine moves."""
    steps = [0]

    def count():
        steps[0] += 1
        return 0
    db.set_progress_handler(count, 100)
    try:
        work()
    finally:
        db.set_progress_handler(None, 100)
    return steps[0]


def test_a_deep_page_of_the_unfiltered_list_costs_what_the_first_does(db, account):
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    with affilut.transaction(db) as tx:
        tx.executemany(f"""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                               commission_cents, commission_rate, status, created_at, updated_at, seq)
                           VALUES (:id, :account, :affiliate, :id, 100, 10, '10', 'pending', 0, 0, {affilut.NEXT_SEQ})""",
                       ({"id": affilut.new_id("cnv"), "account": account["id"], "affiliate": jane["id"]}
                        for _ in range(3000)))

    def page(number, filters=(), params=None):
        return lambda: affilut.list_conversions(db, list(filters), {"account": account["id"], **(params or {})},
                                                number, 10)
    first, deep = vm_steps(db, page(1)), vm_steps(db, page(299))
    filtered_first = vm_steps(db, page(1, ["status = :status"], {"status": "pending"}))
    filtered_deep = vm_steps(db, page(299, ["status = :status"], {"status": "pending"}))
    assert deep <= first + 2
    # A filter's OFFSET walks 2,980 entries of its covering index: the measure sees that.
    assert filtered_deep > filtered_first + 50
    rows, has_more = affilut.list_conversions(db, [], {"account": account["id"]}, 299, 10)
    assert [r["seq"] for r in rows] == list(range(20, 10, -1)) and has_more


# -- Migration -------------------------------------------------------------------------------------


def version_5_database(path):
    """A database migrated only through schema.sql's section 5, as a merchant's was before seq."""
    db = sqlite3.connect(path, isolation_level=None)
    for version, statements in affilut.schema_migrations():
        if version <= 5:
            for statement in statements:
                db.execute(statement)
    db.execute("PRAGMA user_version = 5")
    return db


def conversion_indexes(db):
    return {r[0]: r[1] for r in db.execute("""SELECT name, sql FROM sqlite_master
                                              WHERE type = 'index' AND tbl_name = 'conversions'""")}


def test_migrating_a_version_5_database_numbers_each_accounts_conversions_in_id_order(tmp_path):
    path = str(tmp_path / "v5.db")
    db = version_5_database(path)
    accounts = ["acc_" + "a" * 26, "acc_" + "b" * 26]
    for account_id in accounts:
        db.execute("INSERT INTO accounts (id, name, created_at) VALUES (?, 'Shop', 0)", (account_id,))
        db.execute("""INSERT INTO affiliates (id, account_id, name, email, short_code, status, created_at, updated_at)
                      VALUES (?, ?, 'Jane', 'jane@example.com', ?, 'active', 0, 0)""",
                   ("aff_" + account_id[4:], account_id, account_id))
    ids = {account_id: [] for account_id in accounts}
    rows = []
    for i in range(40):
        account_id = accounts[1] if i % 3 == 0 else accounts[0]
        ids[account_id].append(affilut.new_id("cnv"))
        rows.append((ids[account_id][-1], account_id, "aff_" + account_id[4:]))
    random.Random(5).shuffle(rows)  # stored in another order than their ids'
    db.executemany("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                          commission_cents, commission_rate, status, created_at, updated_at)
                      VALUES (?1, ?2, ?3, ?1, 100, 10, '10', 'pending', 0, 0)""", rows)
    before = conversion_indexes(db)
    db.close()

    assert affilut.init_db(path) == affilut.schema_migrations()[-1][0]
    db = affilut.connect(path)
    for account_id in accounts:
        numbered = db.execute("SELECT id, seq FROM conversions WHERE account_id = ? ORDER BY seq",
                              (account_id,)).fetchall()
        assert [tuple(r) for r in numbered] == [(cid, n) for n, cid in enumerate(ids[account_id], 1)]
    after = conversion_indexes(db)
    after.pop("conversions_test")  # migration 12's, for test-mode data
    after.pop("conversions_by_time")  # migration 18's, for date windows
    assert len(after) == len(before) and "conversions_list" not in after
    assert "UNIQUE INDEX conversions_seq ON conversions(account_id, seq)" in after["conversions_seq"]
    assert all(after[name].endswith(", seq)") for name in
               ("conversions_by_status", "conversions_by_affiliate", "conversions_by_affiliate_all"))

    account = affilut.get_account(db, accounts[1])
    new = affilut.record_manual_conversion(db, account, "aff_" + accounts[1][4:], 100)
    seq = db.execute("SELECT seq FROM conversions WHERE id = ?", (new["id"],)).fetchone()[0]
    assert seq == len(ids[accounts[1]]) + 1
    page, has_more = affilut.list_conversions(db, [], {"account": accounts[1]}, 1, 100)
    assert [r["id"] for r in page] == [new["id"]] + ids[accounts[1]][::-1] and not has_more
    db.close()
