"""The totals the pages read (schema.sql, migration 13) always equal a full recount of the rows, whichever
writer changed them: links, the API, Stripe's webhooks (refunds, disputes), the dashboard, the hold period
and payouts; and the migration builds them for a database made before it."""

import os
import random

import pytest

import affilut
import stripe_events
from conftest import bearer
from stripe_events import charge, deliver, dispute, event, refund
from test_schema import database_at

DAY = 86_400_000
# stripe_events finds the shared fixtures beside the checkout's parent; a worktree one level deeper
# reads them where they are.
if not os.path.isdir(stripe_events.FIXTURES):
    stripe_events.FIXTURES = "/work/shared/stripe-fixtures"

# Each total as the pages mean it, summed from the live rows themselves: test-mode conversions
# (livemode 0) are never in a total.
RECOUNTS = {
    "conversion_days": """
        SELECT account_id, affiliate_id, day, currency, status, adjustment, linked,
               SUM(conversions), SUM(amount_cents), SUM(commission_cents) FROM (
            SELECT account_id, affiliate_id, created_at / 86400000 AS day, currency, status,
                   kind = 'adjustment' AS adjustment, click_id IS NOT NULL AS linked, 1 AS conversions,
                   amount_cents, commission_cents FROM conversions WHERE livemode = 1
            UNION ALL
            SELECT account_id, '', created_at / 86400000, currency, status, kind = 'adjustment',
                   click_id IS NOT NULL, 1, amount_cents, commission_cents FROM conversions WHERE livemode = 1)
        GROUP BY 1, 2, 3, 4, 5, 6, 7""",
    "conversion_totals": """
        SELECT account_id, affiliate_id, currency, status, adjustment, linked,
               SUM(conversions), SUM(amount_cents), SUM(commission_cents) FROM (
            SELECT account_id, affiliate_id, currency, status, kind = 'adjustment' AS adjustment,
                   click_id IS NOT NULL AS linked, 1 AS conversions, amount_cents, commission_cents
            FROM conversions WHERE livemode = 1
            UNION ALL
            SELECT account_id, '', currency, status, kind = 'adjustment', click_id IS NOT NULL, 1, amount_cents,
                   commission_cents FROM conversions WHERE livemode = 1)
        GROUP BY 1, 2, 3, 4, 5, 6""",
    "click_days": """
        SELECT account_id, affiliate_id, day, COUNT(*) FROM (
            SELECT account_id, affiliate_id, created_at / 86400000 AS day FROM clicks
            UNION ALL SELECT account_id, '', created_at / 86400000 FROM clicks)
        GROUP BY 1, 2, 3""",
    "affiliate_months": """
        SELECT account_id, CAST(strftime('%Y%m', created_at / 1000, 'unixepoch') AS INTEGER), currency, affiliate_id,
               SUM(kind != 'adjustment'), SUM(amount_cents), SUM(commission_cents)
        FROM conversions WHERE status != 'rejected' AND livemode = 1 GROUP BY 1, 2, 3, 4""",
    "payable_balances": """
        SELECT account_id, affiliate_id, currency, COUNT(*), SUM(commission_cents) FROM conversions
        WHERE status = 'approved' AND payout_id IS NULL AND disputed = 0 AND livemode = 1 GROUP BY 1, 2, 3""",
}
# What is kept of each total: the same columns, rows that sum to nothing left out (a total may stay at zero).
KEPT = {
    "conversion_days": """SELECT account_id, affiliate_id, day, currency, status, adjustment, linked, conversions,
                                 amount_cents, commission_cents FROM conversion_days
                          WHERE conversions != 0 OR amount_cents != 0 OR commission_cents != 0""",
    "conversion_totals": """SELECT account_id, affiliate_id, currency, status, adjustment, linked, conversions,
                                   amount_cents, commission_cents FROM conversion_totals
                            WHERE conversions != 0 OR amount_cents != 0 OR commission_cents != 0""",
    "click_days": "SELECT account_id, affiliate_id, day, clicks FROM click_days WHERE clicks != 0",
    "affiliate_months": """SELECT account_id, month, currency, affiliate_id, conversions, amount_cents, commission_cents
                           FROM affiliate_months WHERE conversions != 0 OR amount_cents != 0 OR commission_cents != 0""",
    "payable_balances": """SELECT account_id, affiliate_id, currency, conversions, commission_cents
                           FROM payable_balances WHERE conversions != 0 OR commission_cents != 0""",
}


def assert_totals_match(db):
    for table, recount in RECOUNTS.items():
        assert sorted(map(tuple, db.execute(KEPT[table]))) == sorted(map(tuple, db.execute(recount))), table


def test_totals_equal_a_recount_after_random_writes_of_every_kind(app, db, account, api_key):
    rng = random.Random(14)
    affiliates = [affilut.create_affiliate(db, account["id"], f"Partner {i}", f"p{i}@example.com") for i in range(4)]
    other = affilut.create_account(db, "Other", "10", "https://other.example/", "whsec_other")
    affilut.create_affiliate(db, other, "Outsider", "out@example.com")
    charges, clicks = [], []
    now = affilut.now_ms()
    for step in range(240):
        move = rng.choice(["click", "click", "manual", "charge", "charge", "test charge", "refund", "dispute",
                           "status", "hold", "payout"])
        affiliate = rng.choice(affiliates)
        if move == "click":
            app.get(f"/r/{affiliate['short_code']}", headers={"User-Agent": "Mozilla/5.0"}, status=302)
            clicks.append(db.execute("SELECT id, affiliate_id FROM clicks ORDER BY rowid DESC LIMIT 1").fetchone())
        elif move == "manual":
            app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": rng.randrange(100, 9000)},
                          headers=bearer(api_key), status=201)
        elif move in ("charge", "test charge"):  # a test charge: an event from Stripe's test mode
            charge_id, created = f"ch_{step}", (now - rng.randrange(0, 90) * DAY) // 1000
            metadata = {"affiliate_id": affiliate["id"]}
            linked = [c for c in clicks if c["affiliate_id"] == affiliate["id"]]
            if linked and rng.random() < 0.6:
                metadata["affiliate_session_id"] = rng.choice(linked)["id"]
            amount = rng.randrange(500, 20000)
            live = move == "charge"
            deliver(app, account, event("charge.succeeded", charge(charge_id, amount, created, metadata=metadata,
                                                                   currency=rng.choice(["usd", "eur"])), created,
                                        livemode=live))
            charges.append((charge_id, amount, created, live))
        elif move == "refund" and charges:
            charge_id, amount, created, live = rng.choice(charges)
            deliver(app, account, event("refund.created", refund(f"re_{step}", charge_id, rng.randrange(1, amount + 1)),
                                        created + 60, livemode=live))
        elif move == "dispute" and charges:
            charge_id, amount, created, live = rng.choice(charges)
            deliver(app, account, event("charge.dispute.created",
                                        dispute(f"dp_{step}", charge_id, amount,
                                                rng.choice(["needs_response", "lost", "won"])), created + 120,
                                        livemode=live))
        elif move == "status":
            rows = db.execute("""SELECT id, status FROM conversions WHERE status IN ('pending', 'approved')
                                 AND kind != 'adjustment' ORDER BY id""").fetchall()
            if rows:
                row = rng.choice(rows)
                target = rng.choice(affilut.CONVERSION_TRANSITIONS[row["status"]])
                if target == "paid":  # a payout of that conversion alone, as PATCH and "mark paid" make
                    try:
                        affilut.pay_conversion(db, account, row["id"], actor="dashboard")
                    except affilut.ApiError as error:
                        assert error.code == "disputed"
                else:
                    affilut.set_conversion_status(db, account["id"], row["id"], target, "test", actor="dashboard")
        elif move == "hold":
            affilut.approve_held_conversions(db, now=now + rng.randrange(0, 60) * DAY)
        elif move == "payout":
            fresh = affilut.get_account(db, account["id"])
            due = [i for i in affilut.due_payouts(db, fresh) if i["eligible"]]
            if due:
                item = rng.choice(due)
                affilut.mark_payouts_paid(db, fresh, [(item["affiliate_id"], item["currency"], item["digest"])])
    paid = db.execute("""SELECT stripe_charge_id FROM conversions WHERE status = 'paid' AND kind = 'sale'
                          LIMIT 1""").fetchone()
    if paid:  # a refund of paid commission: an adjustment row
        deliver(app, account, event("refund.created", refund("re_last", paid[0], 400), now // 1000))
    kinds = {r[0] for r in db.execute("SELECT DISTINCT status || ':' || kind FROM conversions")}
    assert {"paid:sale", "approved:adjustment", "rejected:sale", "pending:manual"} <= kinds  # every writer ran
    assert db.execute("SELECT COUNT(*) FROM conversions WHERE click_id IS NOT NULL").fetchone()[0] > 0
    # Test-mode rows moved through the same writers, and none of them reached a total.
    test_kinds = {r[0] for r in db.execute("SELECT DISTINCT status FROM conversions WHERE livemode = 0")}
    assert {"pending", "approved", "rejected"} <= test_kinds
    assert_totals_match(db)
    for affiliate_id in [None] + [a["id"] for a in affiliates]:
        assert_page_numbers_match_a_recount(db, account["id"], affiliate_id)


def assert_page_numbers_match_a_recount(db, account_id, affiliate_id):
    """The all-time numbers and earnings by status a page shows, against the live conversions themselves."""
    params = {"account": account_id, "affiliate": affiliate_id}
    mine = "account_id = :account AND livemode = 1 AND (:affiliate IS NULL OR affiliate_id = :affiliate)"
    money = db.execute(f"""SELECT currency, SUM(kind != 'adjustment'), SUM(kind != 'adjustment' AND click_id IS NOT NULL),
                                  SUM(amount_cents), SUM(commission_cents) FROM conversions
                           WHERE {mine} AND status != 'rejected'
                           GROUP BY currency HAVING COUNT(*) != 0 ORDER BY SUM(amount_cents) DESC""", params).fetchall()
    stats = affilut.program_stats(db, account_id, None, affiliate_id)
    assert stats["conversions"] == sum(r[1] for r in money) and stats["linked"] == sum(r[2] for r in money)
    assert sorted(stats["revenue"]) == sorted([(r[0], r[3]) for r in money] or [("usd", 0)])
    assert sorted(stats["commission"]) == sorted([(r[0], r[4]) for r in money] or [("usd", 0)])
    if affiliate_id:
        earnings = {status: [] for status in affilut.CONVERSION_STATUSES}
        for status, currency, cents, count in db.execute(
                f"""SELECT status, currency, SUM(commission_cents), SUM(kind != 'adjustment') FROM conversions
                    WHERE {mine} GROUP BY status, currency ORDER BY status, currency""", params):
            earnings[status].append((currency, cents, count))
        assert affilut.earnings_by_status(db, account_id, affiliate_id) == earnings


def test_the_migration_builds_the_totals_of_an_existing_database(tmp_path):
    path = str(tmp_path / "old.db")
    db = database_at(path, 8)
    db.execute("INSERT INTO accounts (id, name, created_at) VALUES ('acc_1', 'Shop', 0)")
    for i in range(3):
        db.execute("""INSERT INTO affiliates (id, account_id, name, email, short_code, status, created_at, updated_at)
                      VALUES (?, 'acc_1', ?, ?, ?, 'active', 0, 0)""", (f"aff_{i}", f"P{i}", f"p{i}@x.example", f"c{i}"))
    rng = random.Random(8)
    for i in range(300):
        ms = 1_760_000_000_000 + rng.randrange(0, 120) * DAY
        db.execute("INSERT INTO clicks (id, account_id, affiliate_id, created_at) VALUES (?, 'acc_1', ?, ?)",
                   (f"clk_{i}", f"aff_{rng.randrange(3)}", ms))
        status = rng.choice(["pending", "approved", "paid", "rejected"])
        db.execute("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                          commission_cents, commission_rate, currency, status, kind, click_id, disputed, payout_id,
                          created_at, updated_at, seq)
                      VALUES (?, 'acc_1', ?, ?, ?, ?, '10', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                   (f"cnv_{i:04d}", f"aff_{rng.randrange(3)}", f"ch_{i}", 1000 + i, 100 + i, rng.choice(["usd", "eur"]),
                    status, rng.choice(["sale", "renewal", "manual", "adjustment"]),
                    f"clk_{i}" if rng.random() < 0.5 else None, int(rng.random() < 0.2),
                    "pay_1" if status == "paid" else None, ms, ms, i + 1))
    db.commit()
    db.close()
    assert affilut.init_db(path) >= 13
    db = affilut.connect(path)
    assert db.execute("SELECT COUNT(*) FROM conversion_days").fetchone()[0] > 0
    assert db.execute("SELECT COUNT(*) FROM conversion_totals").fetchone()[0] > 0
    assert_totals_match(db)
    db.close()


def test_a_write_that_fails_leaves_the_totals_as_they_were(db, account):
    affiliate = affilut.create_affiliate(db, account["id"], "Jane", "jane@example.com")
    affilut.record_manual_conversion(db, account, affiliate["id"], 5000, "order-1")
    before = db.execute("SELECT * FROM conversion_days").fetchall()
    with pytest.raises(affilut.ApiError):
        affilut.record_manual_conversion(db, account, affiliate["id"], 7000, "order-1")  # a duplicate: rolled back
    assert list(map(tuple, db.execute("SELECT * FROM conversion_days"))) == list(map(tuple, before))
    assert_totals_match(db)


def test_the_numbers_and_the_chart_count_conversions_by_one_rule(db, account, monkeypatch):
    """The statuses that count are written once (COUNTED_STATUSES): the stats, all time or over a
    window, and the chart's daily counts all follow it, so they can never disagree."""
    jane = affilut.create_affiliate(db, account["id"], "Jane", "jane@example.com")
    rows = [affilut.record_manual_conversion(db, account, jane["id"], 1000 * n, f"o-{n}") for n in range(1, 4)]
    affilut.set_conversion_status(db, account["id"], rows[0]["id"], "approved")
    affilut.set_conversion_status(db, account["id"], rows[1]["id"], "rejected")
    monkeypatch.setattr(affilut, "COUNTED_STATUSES", "'approved', 'paid'")  # as if pending stopped counting
    monkeypatch.setattr(affilut, "COUNTED", "adjustment = 0 AND status IN ('approved', 'paid')")
    charted = sum(n for _, _, n in affilut.daily_series(db, account["id"]))
    for since in (None, affilut.recent_since()):
        stats = affilut.program_stats(db, account["id"], since)
        assert (stats["conversions"], stats["revenue"]) == (charted, [("usd", 1000)]) == (1, [("usd", 1000)])
