"""Stripe's whole payment lifecycle, to the cent (issue 13): authorizations and captures, refunds that
fail or are canceled, and test mode, each delivered in any order with any repetition."""

import sqlite3
import time

import hypothesis
import pytest
from hypothesis import strategies as st

import affilut
from conftest import bearer
from test_dashboard import merchant  # noqa: F401  (the signed-in dashboard fixture)
from stripe_events import charge, deliver, event, fixture, invoice_paid, payment_intent, refund

T0 = int(time.time()) - 10 * 86400  # ten days ago: Stripe's time of the first event of each sequence
DAY = 86400
PRE_BASIL = "2024-06-20"  # an API version from before 2025-03-31.basil


@pytest.fixture
def jane(db, account):
    return affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")


def ledger(db):
    """Every conversion as (charge, amount, commission, status, reason, kind, refunded, livemode)."""
    return [(r["stripe_charge_id"], r["amount_cents"], r["commission_cents"], r["status"], r["reason"], r["kind"],
             r["refunded_cents"], r["livemode"])
            for r in db.execute("SELECT * FROM conversions ORDER BY stripe_charge_id")]


def commission_owed(db):
    """What each affiliate earns in the end, paid rows and adjustments netted."""
    return dict(db.execute("""SELECT affiliate_id, SUM(commission_cents) FROM conversions
                              WHERE status != 'rejected' GROUP BY affiliate_id""").fetchall())


def versioned(evt, api_version):
    evt["api_version"] = api_version
    return evt


# -- Stripe's objects at each step, from the fixtures' shapes ----------------------------------------------

def authorized(charge_id, amount, created, meta, intent="pi_1"):
    """A card authorized with capture_method=manual: charge.succeeded with captured: false, paid: true."""
    obj = charge(charge_id, amount, created, metadata=meta, intent=intent)
    obj.update(captured=False, amount_captured=0)
    return obj


def captured(charge_id, amount, amount_captured, created, meta, intent="pi_1", refunded=0):
    """The same charge after charge.captured: amount_captured is what moved (less after a partial capture)."""
    obj = charge(charge_id, amount, created, metadata=meta, intent=intent, refunded=refunded)
    obj.update(captured=True, amount_captured=amount_captured, refunded=False)
    return obj


def expired(charge_id, amount, created, meta, pre_basil=False, intent="pi_1"):
    """An authorization never captured, as charge.expired shows it: from 2025-03-31.basil amount_captured
    is 0 and nothing is refunded; before, the whole amount showed as refunded."""
    obj = authorized(charge_id, amount, created, meta, intent)
    if pre_basil:
        obj.update(amount_refunded=amount, refunded=True)
    return obj


def intent(intent_id, charge_id, amount, received, status, meta=None):
    obj = payment_intent(intent_id, charge_id, amount, metadata=meta)
    obj.update(amount_received=received, status=status, capture_method="manual",
               amount_capturable=amount if status == "requires_capture" else 0,
               canceled_at=None if status != "canceled" else T0 + 7 * DAY,
               cancellation_reason="expired" if status == "canceled" else None)
    return obj


def failing_refund(refund_id, charge_id, amount, status, reason=None):
    obj = refund(refund_id, charge_id, amount, status=status)
    obj.update(created=T0 + 100, reason=reason)
    if status == "failed":
        obj.update(failure_reason="expired_or_canceled_card")
    return obj


# -- The sequences, each as Stripe sends it ------------------------------------------------------------------

def authorize_then_capture(jane):
    """docs.stripe.com/payments/place-a-hold-on-a-payment-method: authorize (charge.succeeded, captured:
    false; payment_intent.amount_capturable_updated), then capture (charge.captured,
    payment_intent.succeeded with amount_received)."""
    meta = {"affiliate_id": jane["id"]}
    return [
        event("charge.succeeded", authorized("ch_auth", 10000, T0, meta), T0),
        event("payment_intent.amount_capturable_updated", intent("pi_1", "ch_auth", 10000, 0, "requires_capture"), T0),
        event("charge.captured", captured("ch_auth", 10000, 10000, T0, meta), T0 + DAY),
        event("payment_intent.succeeded", intent("pi_1", "ch_auth", 10000, 10000, "succeeded", meta), T0 + DAY),
    ], [("ch_auth", 10000, 1000, "pending", None, "sale", 0, 1)]


def authorize_then_partial_capture(jane):
    """The same, capturing 6,000 of 10,000 (amount_to_capture): amount_captured and amount_received are
    6,000, and from 2025-03-31.basil nothing is refunded (changelog: "Partially capturing or canceling
    payments no longer creates a Refund")."""
    meta = {"affiliate_id": jane["id"]}
    return [
        event("charge.succeeded", authorized("ch_part", 10000, T0, meta), T0),
        event("charge.captured", captured("ch_part", 10000, 6000, T0, meta), T0 + DAY),
        event("payment_intent.succeeded", intent("pi_1", "ch_part", 10000, 6000, "succeeded", meta), T0 + DAY),
    ], [("ch_part", 6000, 600, "pending", None, "sale", 0, 1)]


def authorize_then_partial_capture_pre_basil(jane):
    """Before 2025-03-31.basil a partial capture refunded the rest: charge.captured and charge.refunded
    show amount_refunded 4,000 that never was the merchant's; a real refund of 1,000 later makes it
    5,000 (refund.created, charge.refunded). The rest is not counted twice."""
    meta = {"affiliate_id": jane["id"]}
    return [versioned(e, PRE_BASIL) for e in [
        event("charge.succeeded", authorized("ch_old", 10000, T0, meta), T0),
        event("charge.captured", captured("ch_old", 10000, 6000, T0, meta, refunded=4000), T0 + DAY),
        event("charge.refunded", captured("ch_old", 10000, 6000, T0, meta, refunded=4000), T0 + DAY),
        event("payment_intent.succeeded", intent("pi_1", "ch_old", 10000, 6000, "succeeded", meta), T0 + DAY),
        event("refund.created", dict(refund("re_real", "ch_old", 1000), created=T0 + 2 * DAY), T0 + 2 * DAY),
        event("charge.refunded", captured("ch_old", 10000, 6000, T0, meta, refunded=5000), T0 + 2 * DAY),
    ]], [("ch_old", 6000, 500, "pending", None, "sale", 1000, 1)]


def authorize_then_expire(jane, pre_basil):
    """An authorization never captured: charge.expired and payment_intent.canceled (cancellation_reason
    expired) end it (place-a-hold-on-a-payment-method; basil changelog). Before basil Stripe also
    refunded it (charge.refunded, a Refund with reason expired_uncaptured_charge)."""
    meta = {"affiliate_id": jane["id"]}
    events = [
        event("charge.succeeded", authorized("ch_exp", 10000, T0, meta), T0),
        event("charge.expired", expired("ch_exp", 10000, T0, meta, pre_basil), T0 + 7 * DAY),
        event("payment_intent.canceled", intent("pi_1", "ch_exp", 10000, 0, "canceled", meta), T0 + 7 * DAY),
    ]
    if pre_basil:
        events += [event("charge.refunded", expired("ch_exp", 10000, T0, meta, pre_basil), T0 + 7 * DAY),
                   event("refund.created", failing_refund("re_exp", "ch_exp", 10000, "succeeded",
                                                          reason="expired_uncaptured_charge"), T0 + 7 * DAY)]
        events = [versioned(e, PRE_BASIL) for e in events]
    return events, []


def refund_then_fail(jane, amount):
    """docs.stripe.com/refunds#failed-refunds: a refund is created (refund.created; charge.refunded with
    amount_refunded counting it), then fails days later: refund.updated and charge.refund.updated with
    status failed, refund.failed. The charge keeps earning as if it had never been refunded."""
    meta = {"affiliate_id": jane["id"]}
    return [
        event("charge.succeeded", charge("ch_rf", 10000, T0, metadata=meta), T0),
        event("refund.created", failing_refund("re_1", "ch_rf", amount, "pending"), T0 + 100),
        event("charge.refunded", charge("ch_rf", 10000, T0, metadata=meta, refunded=amount), T0 + 100),
        event("refund.updated", failing_refund("re_1", "ch_rf", amount, "succeeded"), T0 + 200),
        event("refund.updated", failing_refund("re_1", "ch_rf", amount, "failed"), T0 + 5 * DAY),
        event("charge.refund.updated", failing_refund("re_1", "ch_rf", amount, "failed"), T0 + 5 * DAY),
        event("refund.failed", failing_refund("re_1", "ch_rf", amount, "failed"), T0 + 5 * DAY),
    ], [("ch_rf", 10000, 1000, "pending", None, "sale", 0, 1)]


def refund_then_cancel(jane):
    """docs.stripe.com/refunds#cancel-refund: a refund that needs the customer's action
    (requires_action) can be canceled: refund.updated and charge.refund.updated with status canceled."""
    meta = {"affiliate_id": jane["id"]}
    return [
        event("charge.succeeded", charge("ch_rc", 10000, T0, metadata=meta), T0),
        event("refund.created", failing_refund("re_2", "ch_rc", 10000, "requires_action"), T0 + 100),
        event("charge.refunded", charge("ch_rc", 10000, T0, metadata=meta, refunded=10000), T0 + 100),
        event("refund.updated", failing_refund("re_2", "ch_rc", 10000, "canceled"), T0 + DAY),
        event("charge.refund.updated", failing_refund("re_2", "ch_rc", 10000, "canceled"), T0 + DAY),
    ], [("ch_rc", 10000, 1000, "pending", None, "sale", 0, 1)]


def payment_and_renewal_in_test_mode(jane):
    """stripe listen --forward-to: every event has livemode: false (docs.stripe.com/webhooks, "Event
    object": livemode). A payment with metadata, then a renewal of its subscription (invoice.paid,
    parent.subscription_details) a month later."""
    meta = {"affiliate_id": jane["id"]}
    return [
        event("charge.succeeded", charge("ch_t1", 2900, T0, customer="cus_t", metadata=meta), T0, livemode=False),
        event("invoice.paid", invoice_paid("cus_t", 2900, meta), T0 + 30 * DAY, livemode=False),
        event("charge.succeeded", charge("ch_t2", 2900, T0 + 30 * DAY, customer="cus_t"), T0 + 30 * DAY,
              livemode=False),
    ], [("ch_t1", 2900, 290, "pending", None, "sale", 0, 0), ("ch_t2", 2900, 290, "pending", None, "renewal", 0, 0)]


SEQUENCES = {
    "authorize, capture": authorize_then_capture,
    "authorize, partial capture": authorize_then_partial_capture,
    "authorize, partial capture, refund (before basil)": authorize_then_partial_capture_pre_basil,
    "authorize, expire": lambda jane: authorize_then_expire(jane, pre_basil=False),
    "authorize, expire (before basil)": lambda jane: authorize_then_expire(jane, pre_basil=True),
    "partial refund, fail": lambda jane: refund_then_fail(jane, 3000),
    "full refund, fail": lambda jane: refund_then_fail(jane, 10000),
    "refund, cancel": refund_then_cancel,
    "test-mode payment and renewal": payment_and_renewal_in_test_mode,
}


def slate_of(db):
    copy = sqlite3.connect(":memory:")
    db.backup(copy)
    return copy


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_each_sequence_in_any_order_with_any_repetition_reaches_the_same_exact_ledger(app, db, account, jane, name):
    events, expected = SEQUENCES[name](jane)
    slate = slate_of(db)

    @hypothesis.settings(max_examples=25, deadline=None, database=None,
                         suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
    @hypothesis.given(st.data())
    def deliveries(data):
        extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)), label="repeated")
        order = data.draw(st.permutations(events + extra), label="order")
        slate.backup(db)
        for evt in order:
            assert deliver(app, account, evt).json["received"] is True
        assert ledger(db) == expected

    deliveries()


def test_nothing_earns_before_capture_and_an_expired_authorization_never_does(app, db, account, jane):
    events, _ = authorize_then_capture(jane)
    deliver(app, account, events[0])
    assert ledger(db) == []
    assert affilut.approve_held_conversions(db, now=affilut.now_ms() + 400 * DAY * 1000) == 0
    for evt in events[1:]:
        deliver(app, account, evt)
    assert ledger(db) == [("ch_auth", 10000, 1000, "pending", None, "sale", 0, 1)]


@pytest.mark.parametrize("amount", [3000, 10000])
def test_a_refund_that_fails_after_a_payout_is_given_back_by_an_adjustment(app, db, account, jane, amount):
    """Once paid, commission is never rewritten: the clawback and its reversal are adjustments, and
    whatever the order, Jane ends up owed exactly her 10% of 10,000."""
    events, _ = refund_then_fail(jane, amount)
    slate = None
    for trial in range(6):
        if slate is None:
            deliver(app, account, events[0])
            conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
            affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
            affilut.pay_conversion(db, account, conversion_id)
            slate = slate_of(db)
        slate.backup(db)
        rest = events[1:] + events[1:3]
        order = rest[trial:] + rest[:trial] if trial % 2 else list(reversed(rest[trial:] + rest[:trial]))
        for evt in order:
            deliver(app, account, evt)
        assert commission_owed(db) == {jane["id"]: 1000}, [e["type"] for e in order]
        assert db.execute("SELECT status, commission_cents FROM conversions WHERE kind = 'sale'").fetchone()[:] \
            == ("paid", 1000)
    # The order the issue describes: clawed back, then given back.
    slate.backup(db)
    for evt in events[1:]:
        deliver(app, account, evt)
    assert [r[1:3] + r[4:6] for r in ledger(db) if r[5] == "adjustment"] == [
        (-amount, -amount // 10, "refunded", "adjustment"), (amount, amount // 10, "restored", "adjustment")]


def test_a_full_refund_that_fails_reopens_an_approved_conversion_as_approved(app, db, account, jane):
    events, _ = refund_then_fail(jane, 10000)
    deliver(app, account, events[0])
    conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    deliver(app, account, events[2])  # charge.refunded: the whole amount
    assert ledger(db)[0][3:5] == ("rejected", "refunded")
    deliver(app, account, events[6])  # refund.failed
    assert ledger(db) == [("ch_rf", 10000, 1000, "approved", None, "sale", 0, 1)]


# -- Test mode kept apart ------------------------------------------------------------------------------------

def test_test_mode_conversions_stay_out_of_the_live_ledger(app, db, account, api_key, jane):
    live = event("charge.succeeded", charge("ch_live", 5000, T0, metadata={"affiliate_id": jane["id"]}), T0)
    deliver(app, account, live)
    for evt in payment_and_renewal_in_test_mode(jane)[0]:
        assert deliver(app, account, evt).json == {"received": True, "duplicate": False, "handled": True}

    listed = app.get("/api/v1/conversions", headers=bearer(api_key)).json["data"]
    assert [(c["stripeChargeId"], c["livemode"]) for c in listed] == [("ch_live", True)]
    tests = app.get("/api/v1/conversions?livemode=false", headers=bearer(api_key)).json["data"]
    assert [(c["stripeChargeId"], c["livemode"]) for c in tests] == [("ch_t2", False), ("ch_t1", False)]
    one = app.get(f"/api/v1/conversions/{tests[0]['id']}", headers=bearer(api_key)).json
    assert one["livemode"] is False
    res = app.get("/api/v1/conversions?livemode=maybe", headers=bearer(api_key), status=400)
    assert res.json["error"]["param"] == "livemode"

    stats = affilut.program_stats(db, account["id"])
    assert (stats["conversions"], stats["revenue"]) == (1, [("usd", 5000)])
    assert affilut.earnings_by_status(db, account["id"], jane["id"])["pending"] == [("usd", 500, 1)]
    assert affilut.approve_held_conversions(db, now=affilut.now_ms() + 400 * DAY * 1000) == 1
    assert {r["stripe_charge_id"]: r["status"] for r in db.execute("SELECT * FROM conversions")} == {
        "ch_live": "approved", "ch_t1": "pending", "ch_t2": "pending"}
    # Even approved by hand, a test conversion is never paid out.
    affilut.set_conversion_status(db, account["id"], tests[0]["id"], "approved")
    due = affilut.due_payouts(db, account)
    assert [(d["affiliate_id"], d["amount_cents"], d["count"]) for d in due] == [(jane["id"], 500, 1)]


def test_a_test_mode_refund_after_a_test_conversion_was_paid_stays_out_of_the_live_ledger(app, db, account, jane):
    """A clawback adjustment takes its conversion's livemode: a test refund never nets against real money."""
    meta = {"affiliate_id": jane["id"]}
    deliver(app, account, event("charge.succeeded", charge("ch_tp", 10000, T0, metadata=meta), T0, livemode=False))
    row = db.execute("SELECT id FROM conversions WHERE stripe_charge_id = 'ch_tp'").fetchone()
    affilut.set_conversion_status(db, account["id"], row["id"], "approved")
    affilut.set_conversion_status(db, account["id"], row["id"], "paid")
    deliver(app, account, event("charge.refunded", charge("ch_tp", 10000, T0, metadata=meta, refunded=10000),
                                T0 + DAY, livemode=False))
    adjustments = db.execute("SELECT commission_cents, livemode FROM conversions WHERE kind = 'adjustment'").fetchall()
    assert [tuple(r) for r in adjustments] == [(-1000, 0)]
    assert affilut.due_payouts(db, account) == []
    assert db.execute("SELECT COALESCE(SUM(commission_cents), 0) FROM payable_balances").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM payouts").fetchone()[0] == 0  # test data is never paid out


def test_manual_conversions_are_live(app, db, account, api_key, jane):
    res = app.post_json("/api/v1/conversions", {"affiliate_id": jane["id"], "amount_cents": 4900},
                        headers=bearer(api_key), status=201)
    assert res.json["livemode"] is True
    assert app.get("/api/v1/conversions?livemode=false", headers=bearer(api_key)).json["data"] == []


def test_the_dashboard_shows_test_data_only_behind_its_switch(app, db, merchant):  # noqa: F811
    account = merchant["account"]
    affilut.update_program(db, account["id"], {"name": "Shop", "default_commission": "10", "hold_days": "30",
                                               "attribution_window_days": "30", "payout_minimum": "0"})
    account = affilut.rotate_webhook_secret(db, account["id"], "whsec_shop")
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    deliver(app, account, event("charge.succeeded", charge("ch_live", 5000, T0, metadata={"affiliate_id": jane["id"]}),
                                T0))
    for evt in payment_and_renewal_in_test_mode(jane)[0]:
        deliver(app, account, evt)
    live = app.get("/dashboard/conversions")
    assert live.text.count('class="badge badge-test"') == 0 and "$50.00" in live.text and "Test data." not in live.text
    test = app.get("/dashboard/conversions?test=1")
    assert test.text.count('class="badge badge-test"') == 2 and "$50.00" not in test.text
    assert "Test data." in test.text and "not real money" in test.text
    assert "ch_live" in app.get("/dashboard/conversions.csv").text
    csv_test = app.get("/dashboard/conversions.csv?test=1").text
    assert "ch_t1" in csv_test and "ch_live" not in csv_test
    assert "ch_t1" not in app.get("/dashboard/conversions.csv").text
