"""Stripe's rarer paths, to the minor unit: two refunds and a failed one in every order around a
payout, disputes after a payout, and charges in zero- and three-decimal currencies."""

import csv
import io
import itertools
import random
import sqlite3
import time

import pytest

import affilut
from test_dashboard import merchant  # noqa: F401  (the signed-in dashboard fixture)
from stripe_events import charge, deliver, dispute, event, refund

T0 = int(time.time()) - 10 * 86400  # ten days ago: Stripe's time of the payment in each scenario


@pytest.fixture
def jane(db, account):
    return affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")


def slate_of(db):
    """A copy of the database as it is now, to start each order from."""
    copy = sqlite3.connect(":memory:")
    db.backup(copy)
    return copy


def earned(db):
    """What each affiliate earns in the end: every conversion not rejected, paid rows and adjustments netted."""
    return dict(db.execute("""SELECT affiliate_id, SUM(commission_cents) FROM conversions
                              WHERE status != 'rejected' GROUP BY affiliate_id""").fetchall())


def sale(db):
    return db.execute("SELECT status, commission_cents, refunded_cents FROM conversions WHERE kind = 'sale'").fetchone()


def pay_sale(db, account):
    """The merchant approves the sale and pays it out, as the dashboard's "mark paid" does."""
    conversion_id = db.execute("SELECT id FROM conversions WHERE kind = 'sale'").fetchone()[0]
    if sale(db)["status"] == "pending":
        affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    affilut.pay_conversion(db, account, conversion_id)


def snapshot(jane, amount_refunded, at, event_type="charge.updated"):
    """The charge as a charge.refunded or charge.updated at `at` shows it: amount_refunded is what stands then."""
    obj = charge("ch_1", 10000, T0, metadata={"affiliate_id": jane["id"]}, refunded=amount_refunded)
    return event(event_type, obj, at)


def refund_at(refund_id, amount, created, status="succeeded"):
    obj = refund(refund_id, "ch_1", amount, status=status)
    obj.update(created=created)
    if status == "failed":
        obj.update(failure_reason="lost_or_stolen_card")
    return obj


def two_refunds_one_failing(jane):
    """docs.stripe.com/refunds: refund 2,000 (re_1) then 3,000 (re_2) of a 10,000 charge; re_2 then
    fails (charge.refund.updated, status failed: "Refunds can fail", and a failed refund's money is
    back on the merchant's balance). Stripe's charge shows amount_refunded 2,000, 5,000 and, once
    re_2 failed, 2,000 again. What stands: 2,000 refunded, 10% of 8,000 earned."""
    return [
        event("refund.created", refund_at("re_1", 2000, T0 + 100), T0 + 100),
        snapshot(jane, 2000, T0 + 101, "charge.refunded"),
        event("refund.created", refund_at("re_2", 3000, T0 + 200), T0 + 200),
        snapshot(jane, 5000, T0 + 201, "charge.refunded"),
        event("charge.refund.updated", refund_at("re_2", 3000, T0 + 200, "failed"), T0 + 300),
        snapshot(jane, 2000, T0 + 301),
    ]


def orders(events, count, seed):
    """`count` orders of the events: the natural one, its reverse, then random ones, each with a
    random event repeated (Stripe delivers at least once)."""
    rng = random.Random(seed)
    found = [list(events), list(reversed(events))]
    while len(found) < count:
        order = rng.sample(events, len(events))
        found.append(order + [rng.choice(events)])
    return found


@pytest.mark.parametrize("pay_after", [None, 0, 2, 4, 99])
def test_two_refunds_and_a_failed_one_in_any_order_around_a_payout_earn_exactly_the_rest(app, db, account, jane,
                                                                                         pay_after):
    """Whatever order the refunds, their failure and the charge's snapshots arrive in, and wherever a
    payout falls among them (pay_after events in, 99: after all of them; None: never paid), Jane ends up with exactly 800,
    and a paid sale is never rewritten: adjustments carry every difference."""
    deliver(app, account, event("charge.succeeded", charge("ch_1", 10000, T0, metadata={"affiliate_id": jane["id"]}),
                                T0))
    slate = slate_of(db)
    for order in orders(two_refunds_one_failing(jane), 24, seed=pay_after or 0):
        slate.backup(db)
        for position, evt in enumerate(order + [None]):
            if position == min(pay_after, len(order)) if pay_after is not None else False:
                pay_sale(db, account)
            if evt is not None:
                deliver(app, account, evt)
        types = [e["type"] for e in order]
        assert earned(db) == {jane["id"]: 800}, types
        if pay_after is None:
            assert sale(db)[:] == ("pending", 800, 2000), types
        else:
            assert sale(db)["status"] == "paid", types
            paid = db.execute("SELECT amount_cents FROM payouts").fetchone()[0]
            assert paid == sale(db)["commission_cents"], types  # the payout is what the sale said then
            assert db.execute("SELECT COUNT(*) FROM conversions WHERE kind = 'adjustment' AND status != 'approved'"
                              ).fetchone()[0] == 0, types  # adjustments are due at the next payout


def test_a_refund_that_fails_before_stripe_said_it_succeeded_never_counts(app, db, account, jane):
    """A refund may go pending → failed without ever succeeding (docs.stripe.com/refunds, "Failed
    refunds"): its failure arriving first, then its stale creation, leaves nothing refunded."""
    deliver(app, account, event("charge.succeeded", charge("ch_1", 10000, T0, metadata={"affiliate_id": jane["id"]}),
                                T0))
    deliver(app, account, event("refund.failed", refund_at("re_1", 4000, T0 + 100, "failed"), T0 + 300))
    deliver(app, account, event("refund.created", refund_at("re_1", 4000, T0 + 100, "pending"), T0 + 100))
    deliver(app, account, event("refund.updated", refund_at("re_1", 4000, T0 + 100), T0 + 200))
    assert sale(db)[:] == ("pending", 1000, 0)


# -- Disputes after a payout ---------------------------------------------------------------------------------

def dispute_events(ending):
    """docs.stripe.com/disputes/how-disputes-work: created (needs_response), funds_withdrawn, then
    closed won or lost; a win also sends funds_reinstated. The dispute's status in each event."""
    steps = [("charge.dispute.created", "needs_response"), ("charge.dispute.funds_withdrawn", "needs_response"),
             ("charge.dispute.updated", "under_review"), ("charge.dispute.closed", ending)]
    if ending == "won":
        steps.append(("charge.dispute.funds_reinstated", "won"))
    return [event(kind, dispute("dp_1", "ch_1", 10000, status), T0 + 1000 + i) for i, (kind, status) in enumerate(steps)]


@pytest.mark.parametrize("ending, owed", [("lost", 0), ("won", 1000)])
def test_a_dispute_after_payout_in_any_order_nets_out_a_loss_and_leaves_a_win(app, db, account, jane, ending, owed):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 10000, T0, metadata={"affiliate_id": jane["id"]}),
                                T0))
    pay_sale(db, account)
    slate = slate_of(db)
    events = dispute_events(ending)
    for order in itertools.permutations(events, len(events)) if len(events) <= 4 else orders(events, 30, seed=1):
        slate.backup(db)
        for evt in list(order) + [order[0]]:
            deliver(app, account, evt)
        assert earned(db) == {jane["id"]: owed}, [e["type"] for e in order]
        assert sale(db)[:] == ("paid", 1000, 0)
        due = affilut.due_payouts(db, account)
        assert [d["amount_cents"] for d in due] == ([-1000] if ending == "lost" else [])


def test_a_dispute_opened_before_payout_holds_it_and_a_loss_then_rejects(app, db, account, api_key, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 10000, T0, metadata={"affiliate_id": jane["id"]}),
                                T0))
    conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    deliver(app, account, dispute_events("lost")[0])
    assert affilut.due_payouts(db, account) == []
    with pytest.raises(affilut.ApiError):
        affilut.pay_conversion(db, account, conversion_id)
    deliver(app, account, dispute_events("lost")[3])
    assert db.execute("SELECT status, reason FROM conversions").fetchone()[:] == ("rejected", "disputed")
    assert earned(db) == {} and affilut.due_payouts(db, account) == []


# -- Currencies whose minor unit is not a hundredth ---------------------------------------------------------

@pytest.mark.parametrize("currency, amount, rate, commission, shown", [
    # docs.stripe.com/currencies, zero-decimal: ¥1,234 is amount 1234; 12.5% is 154.25 → ¥154.
    ("jpy", 1234, "12.5", 154, "154"),
    # docs.stripe.com/currencies, three-decimal: 5.120 KWD is amount 5120; 12.5% is 640 fils, 0.640 KWD.
    ("kwd", 5120, "12.5", 640, "0.640"),
    ("bhd", 10050, "10", 1005, "1.005"),
    ("usd", 4905, "10", 491, "4.91"),
])
def test_commission_in_a_currency_is_in_its_own_minor_units_and_paid_out_as_such(db, merchant, currency, amount,
                                                                                 rate, commission, shown):
    """The commission is rounded in the currency's own minor unit, and every file the merchant pays
    from says the amount Stripe's minor units mean: never ten times it."""
    app, account = merchant["app"], merchant["account"]
    affilut.rotate_webhook_secret(db, account["id"], "whsec_rare")
    account = affilut.get_account(db, account["id"])
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com", commission_override=rate)
    deliver(app, account, event("charge.succeeded", charge("ch_1", amount, T0, metadata={"affiliate_id": jane["id"]},
                                                           currency=currency), T0))
    row = db.execute("SELECT amount_cents, commission_cents, currency FROM conversions").fetchone()
    assert row[:] == (amount, commission, currency)
    conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    due = list(csv.DictReader(io.StringIO(app.get("/dashboard/payouts/due.csv").text)))
    assert [(d["amount"], d["currency"]) for d in due] == [(shown, currency.upper())]
    affilut.pay_conversion(db, account, conversion_id)
    history = list(csv.DictReader(io.StringIO(app.get("/dashboard/payouts/history.csv").text)))
    assert [(h["amount"], h["currency"]) for h in history] == [(shown, currency.upper())]
    exported = list(csv.DictReader(io.StringIO(app.get("/dashboard/conversions.csv").text)))
    assert [e["commission"] for e in exported] == [shown]
    people = {"jpy": "¥154", "kwd": "0.640 KWD", "bhd": "1.005 BHD", "usd": "$4.91"}[currency]
    assert people in app.get("/dashboard/payouts").text  # the payout history, as the merchant reads it
