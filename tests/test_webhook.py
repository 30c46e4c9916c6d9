"""The Stripe webhook: every payment credited once, to the right affiliate, whatever the delivery order."""

import concurrent.futures
import json
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import pytest

import affilut
from conftest import bearer
from stripe_events import (charge, checkout_session, customer, deliver, dispute, event, invoice_paid,
                           invoice_paid_pre_basil, payment_intent, refund, sign)

T0 = int(time.time()) - 3600  # an hour ago: Stripe's times for the payments in these scenarios
DAY = 86400


@pytest.fixture
def jane(db, account):
    return affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")


@pytest.fixture
def bob(db, account):
    return affilut.create_affiliate(db, account["id"], "Bob Jones", "bob@example.com", commission_override="20")


def conversions(db, kind=None):
    """The conversions as (charge, affiliate, amount, commission, status, reason, kind), oldest first."""
    rows = db.execute("SELECT * FROM conversions ORDER BY id").fetchall()
    return [(r["stripe_charge_id"], r["affiliate_id"], r["amount_cents"], r["commission_cents"], r["status"],
             r["reason"], r["kind"]) for r in rows if kind is None or r["kind"] == kind]


def table_counts(db):
    return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("stripe_events", "charges", "bindings", "conversions", "refunds", "disputes")}


# -- Signatures ---------------------------------------------------------------------------------


def test_signed_charge_succeeded_alone_credits_the_affiliate(app, db, account, jane):
    evt = event("charge.succeeded", charge("ch_1", 4900, T0, metadata={"affiliate_id": jane["id"]}), T0)
    res = deliver(app, account, evt)
    assert res.json == {"received": True, "duplicate": False, "handled": True}
    assert conversions(db) == [("ch_1", jane["id"], 4900, 490, "pending", None, "sale")]


def test_new_webhook_secret_from_settings_applies_to_the_next_delivery(app, db, account):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0), T0))  # the account is now remembered
    affilut.rotate_webhook_secret(db, account["id"], "whsec_rotated")
    deliver(app, account, event("charge.succeeded", charge("ch_2", 1000, T0), T0), status=400)
    deliver(app, account, event("charge.succeeded", charge("ch_3", 1000, T0), T0), secret="whsec_rotated")
    assert [c[0] for c in conversions(db)] == []  # no metadata: nothing credited, but both were accepted
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == 2


def test_short_code_in_metadata_works_too(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0,
                                                           metadata={"affiliate_id": jane["short_code"]}), T0))
    assert conversions(db)[0][1] == jane["id"]


@pytest.mark.parametrize("mutate", [
    lambda h: {},                                                                  # missing
    lambda h: {"Stripe-Signature": "garbage"},                                     # malformed
    lambda h: {"Stripe-Signature": h.replace("v1=", "v1=0")},                      # wrong digest
    lambda h: {"Stripe-Signature": h.split(",")[0] + ",v0=" + h.split("v1=")[1]},  # wrong scheme
])
def test_bad_signatures_are_400_and_store_nothing(app, db, account, jane, mutate):
    payload = json.dumps(event("charge.succeeded", charge("ch_1", 4900, T0, metadata={"affiliate_id": jane["id"]}),
                               T0)).encode()
    headers = mutate(sign(payload, account["webhook_secret"]))
    res = app.post(f"/webhooks/stripe/{account['id']}", payload, headers=headers, status=400)
    assert res.json["error"]["code"] == "invalid_signature"
    assert table_counts(db)["stripe_events"] == 0 and conversions(db) == []


def test_stale_signature_and_another_accounts_secret_are_400(app, db, account, jane):
    evt = event("charge.succeeded", charge("ch_1", 4900, T0, metadata={"affiliate_id": jane["id"]}), T0)
    deliver(app, account, evt, timestamp=int(time.time()) - 301, status=400)
    other = affilut.get_account(db, affilut.create_account(db, "Other", "10", "", "whsec_other"))
    deliver(app, account, evt, secret=other["webhook_secret"], status=400)
    assert table_counts(db)["stripe_events"] == 0 and conversions(db) == []
    deliver(app, account, evt, timestamp=int(time.time()) - 250, status=200)


def test_a_signature_from_the_future_is_400_like_a_stale_one(app, db, account, jane):
    evt = event("charge.succeeded", charge("ch_1", 4900, T0, metadata={"affiliate_id": jane["id"]}), T0)
    res = deliver(app, account, evt, timestamp=int(time.time()) + 301, status=400)
    assert res.json["error"]["code"] == "invalid_signature"
    assert table_counts(db)["stripe_events"] == 0 and conversions(db) == []
    deliver(app, account, evt, timestamp=int(time.time()) + 250, status=200)  # clock skew within tolerance


@pytest.mark.parametrize("payload", [
    b'{"id": "evt_1", "object": "event", "type": "charge.succeeded", "created": 1, "data": {"object": "\xff"}}',
    b'not json at all',
    b'{"id": "evt_1", "object": "event", "type": "charge.succeeded"}',
    b'[1, 2, 3]',
    b'{"object": "charge", "id": "ch_1"}',
])
def test_signed_bodies_that_are_not_events_are_400(app, db, account, payload):
    headers = {"Stripe-Signature": sign(payload, account["webhook_secret"])}
    res = app.post(f"/webhooks/stripe/{account['id']}", payload, headers=headers, status=400)
    assert res.json["error"]["code"] in ("invalid_json", "invalid_event")
    assert table_counts(db)["stripe_events"] == 0


def hostile_objects(jane):
    """Signed events whose objects have the wrong types, missing ids, absurd numbers or unstorable text."""
    meta = {"affiliate_id": jane["id"]}
    return {
        "charge without id": ("charge.succeeded", {"object": "charge", "amount": 100, "metadata": meta}),
        "empty charge": ("charge.succeeded", {}),
        "amount beyond SQLite": ("charge.succeeded", charge("ch_h", 10**30, T0, metadata=meta)),
        "created beyond SQLite": ("charge.succeeded", charge("ch_c", 100, 10**20, metadata=meta)),
        "created in year 9999": ("charge.succeeded", charge("ch_y", 100, 253402300000, customer="cus_y", metadata=meta)),
        "surrogate in metadata": ("charge.succeeded", charge("ch_s", 100, T0, metadata={"affiliate_id": "\ud800"})),
        "surrogate charge id": ("charge.succeeded", charge("\ud800", 100, T0, metadata=meta)),
        "metadata as a list": ("charge.succeeded", {**charge("ch_l", 100, T0), "metadata": [1, 2]}),
        "amount as a string": ("charge.succeeded", {**charge("ch_a", 100, T0, metadata=meta), "amount": "100"}),
        "created as a float": ("charge.succeeded", {**charge("ch_f", 100, T0, metadata=meta), "created": 1.5e9}),
        "status as a list": ("charge.succeeded", {**charge("ch_t", 100, T0), "status": [1]}),
        "intent charges data as a number": ("payment_intent.succeeded",
                                            {**payment_intent("pi_x", None, 100), "charges": {"data": 5}}),
        "refund without id": ("refund.created", {"object": "refund", "charge": "ch_1", "amount": 100}),
        "refund beyond SQLite": ("refund.created", refund("re_h", "ch_1", 10**30)),
        "dispute without id": ("charge.dispute.created", {"object": "dispute", "charge": "ch_1", "status": "lost"}),
        "dispute status as a list": ("charge.dispute.created", {**dispute("dp_1", "ch_1", 100, "lost"), "status": [1]}),
        "dispute status as an object": ("charge.dispute.closed", {**dispute("dp_2", "ch_1", 100, "lost"), "status": {}}),
        "surrogate client_reference_id": ("checkout.session.completed",
                                          checkout_session("subscription", client_reference_id="\udfff", customer="c")),
        "surrogate customer email": ("customer.updated", customer("cus_4", email="\ud800@example.com")),
    }


@pytest.mark.parametrize("case", list(hostile_objects({"id": "aff_x"})))
def test_hostile_but_signed_events_are_2xx_or_400_never_500(app, db, account, jane, case):
    event_type, obj = hostile_objects(jane)[case]
    res = deliver(app, account, event(event_type, obj, T0), status="*")
    assert res.status_int in (200, 400), res.body
    if res.status_int == 400:
        assert table_counts(db) == dict.fromkeys(table_counts(db), 0)  # refused whole, nothing written
    # The webhook still works afterwards.
    deliver(app, account, event("charge.succeeded", charge("ch_ok", 1000, T0, metadata={"affiliate_id": jane["id"]}), T0))
    assert ("ch_ok", jane["id"], 1000, 100, "pending", None, "sale") in conversions(db)


@pytest.mark.parametrize("created", [10**20, -10**15, True, "1700000000"])
def test_event_times_out_of_range_are_400(app, db, account, jane, created):
    evt = event("charge.succeeded", charge("ch_1", 100, T0, metadata={"affiliate_id": jane["id"]}), created)
    assert deliver(app, account, evt, status=400).json["error"]["code"] == "invalid_event"
    assert table_counts(db)["stripe_events"] == 0


@pytest.mark.parametrize("field", ["id", "type"])
def test_event_id_or_type_that_cannot_be_stored_is_400(app, db, account, jane, field):
    evt = event("charge.succeeded", charge("ch_1", 100, T0, metadata={"affiliate_id": jane["id"]}), T0)
    evt[field] += "\ud800"
    assert deliver(app, account, evt, status=400).json["error"]["code"] == "invalid_json"
    assert table_counts(db)["stripe_events"] == 0


def test_unknown_event_type_is_recorded_and_ignored(app, db, account):
    res = deliver(app, account, event("plan.created", {"id": "plan_1", "object": "plan"}, T0))
    assert res.json["handled"] is False
    assert table_counts(db)["stripe_events"] == 1 and conversions(db) == []


def test_unknown_account_is_404(app, account):
    evt = event("charge.succeeded", charge("ch_1", 100, T0), T0)
    deliver(app, account, evt, path="/webhooks/stripe/acc_01jdzzzzzzzzzzzzzzzzzzzzzz", status=404)


def test_single_account_install_may_use_the_environment_secret(app, db, monkeypatch):
    account_id = affilut.create_account(db, "Solo")  # no secret of its own
    account = affilut.get_account(db, account_id)
    jane = affilut.create_affiliate(db, account_id, "Jane", "jane@example.com")
    evt = event("charge.succeeded", charge("ch_1", 1000, T0, metadata={"affiliate_id": jane["id"]}), T0)
    deliver(app, account, evt, secret="whsec_env", status=400)  # no secret configured yet
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_env")
    deliver(app, account, evt, secret="whsec_env", path="/webhooks/stripe")
    assert len(conversions(db)) == 1
    affilut.create_account(db, "Second")  # now the shortcut is ambiguous
    deliver(app, account, event("charge.succeeded", charge("ch_2", 1000, T0), T0), secret="whsec_env",
            path="/webhooks/stripe", status=404)


def test_redelivery_changes_nothing(app, db, account, jane):
    evt = event("charge.succeeded", charge("ch_1", 4900, T0, metadata={"affiliate_id": jane["id"]}), T0)
    deliver(app, account, evt)
    before = table_counts(db)
    again = deliver(app, account, evt)
    assert again.json["duplicate"] is True
    assert table_counts(db) == before and len(conversions(db)) == 1


def test_failure_inside_is_500_with_nothing_written(app, db, account, jane, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")
    original = affilut.settle_charge
    monkeypatch.setattr(affilut, "settle_charge", broken)
    evt = event("charge.succeeded", charge("ch_1", 4900, T0, metadata={"affiliate_id": jane["id"]}), T0)
    res = deliver(app, account, evt, status=500)
    assert res.json["error"]["code"] == "internal_error"
    assert table_counts(db)["stripe_events"] == 0 and table_counts(db)["charges"] == 0
    monkeypatch.setattr(affilut, "settle_charge", original)
    deliver(app, account, evt)  # Stripe's retry succeeds
    assert len(conversions(db)) == 1


# -- One payment, several announcements -----------------------------------------------------------


def one_time_payment(jane, amount=4900):
    """A Checkout payment: the session, the payment intent and the charge, metadata on the intent."""
    meta = {"affiliate_id": jane["id"]}
    return [
        event("checkout.session.completed", checkout_session("payment", metadata=meta, intent="pi_1"), T0 + 2),
        event("payment_intent.succeeded", payment_intent("pi_1", "ch_1", amount, metadata=meta), T0 + 1),
        event("charge.succeeded", charge("ch_1", amount, T0, intent="pi_1", metadata=meta), T0),
    ]


def test_one_time_payment_announced_three_ways_is_one_conversion(app, db, account, jane):
    for evt in one_time_payment(jane):
        deliver(app, account, evt)
    assert conversions(db) == [("ch_1", jane["id"], 4900, 490, "pending", None, "sale")]


@pytest.mark.parametrize("which", [0, 1])
def test_payment_intent_or_session_binding_credits_a_charge_without_metadata(app, db, account, jane, which):
    if which == 0:  # Checkout in payment mode: the session's metadata names the affiliate
        deliver(app, account, event("checkout.session.completed",
                                    checkout_session("payment", client_reference_id=jane["short_code"], intent="pi_1"),
                                    T0 + 5))
    else:  # the payment intent carried the metadata and succeeded
        deliver(app, account, event("payment_intent.succeeded",
                                    payment_intent("pi_1", "ch_1", 3000, metadata={"affiliate_id": jane["id"]}),
                                    T0 + 1))
    deliver(app, account, event("charge.succeeded", charge("ch_1", 3000, T0, intent="pi_1"), T0))
    assert conversions(db) == [("ch_1", jane["id"], 3000, 300, "pending", None, "sale")]


def test_payment_without_any_referral_credits_nobody(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 3000, T0, customer="cus_1"), T0))
    deliver(app, account, event("charge.succeeded",
                                charge("ch_2", 3000, T0, metadata={"affiliate_id": "aff_unknown"}), T0))
    assert conversions(db) == []


# -- Subscriptions ----------------------------------------------------------------------------------


def test_subscription_first_charge_credited_when_the_session_arrives_later(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 2900, T0, customer="cus_1"), T0))
    assert conversions(db) == []
    deliver(app, account, event("checkout.session.completed",
                                checkout_session("subscription", metadata={"affiliate_id": jane["id"]},
                                                 customer="cus_1"), T0 + 30))
    assert conversions(db) == [("ch_1", jane["id"], 2900, 290, "pending", None, "sale")]
    # The renewal a month later is credited through the same customer binding.
    deliver(app, account, event("charge.succeeded", charge("ch_2", 2900, T0 + 30 * DAY, customer="cus_1"),
                                T0 + 30 * DAY))
    assert conversions(db)[1] == ("ch_2", jane["id"], 2900, 290, "pending", None, "renewal")


def test_renewal_via_subscription_metadata_on_current_invoices(app, db, account, jane):
    deliver(app, account, event("invoice.paid", invoice_paid("cus_1", 2900, {"affiliate_id": jane["id"]}), T0 + 3))
    deliver(app, account, event("charge.succeeded", charge("ch_1", 2900, T0, customer="cus_1"), T0))
    assert conversions(db) == [("ch_1", jane["id"], 2900, 290, "pending", None, "sale")]


def test_renewal_via_pre_basil_invoice_which_names_its_charge(app, db, account, jane):
    deliver(app, account, event("invoice.paid", invoice_paid_pre_basil("cus_1", "ch_9", 1500, {"affiliate_id": jane["id"]},
                                                                      intent="pi_9"), T0))
    assert conversions(db) == [("ch_9", jane["id"], 1500, 150, "pending", None, "sale")]
    deliver(app, account, event("charge.succeeded", charge("ch_9", 1500, T0 - 2, customer="cus_1", intent="pi_9"),
                                T0 - 2))
    assert len(conversions(db)) == 1


def test_renewal_via_customer_metadata(app, db, account, jane):
    deliver(app, account, event("customer.created", customer("cus_1", {"affiliate_id": jane["id"]}), T0 - 60))
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, customer="cus_1"), T0))
    deliver(app, account, event("charge.succeeded", charge("ch_2", 1000, T0 + 31 * DAY, customer="cus_1"),
                                T0 + 31 * DAY))
    assert [c[1] for c in conversions(db)] == [jane["id"], jane["id"]]
    assert [c[6] for c in conversions(db)] == ["sale", "renewal"]


def test_renewal_via_the_remembered_first_payment(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, customer="cus_1",
                                                           metadata={"affiliate_id": jane["id"]}), T0))
    deliver(app, account, event("charge.succeeded", charge("ch_2", 1000, T0 + 30 * DAY, customer="cus_1"),
                                T0 + 30 * DAY))
    assert conversions(db)[1] == ("ch_2", jane["id"], 1000, 100, "pending", None, "renewal")


def test_customer_metadata_learned_weeks_later_does_not_reach_back(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0 - 20 * DAY, customer="cus_1"),
                                T0 - 20 * DAY))
    deliver(app, account, event("customer.updated", customer("cus_1", {"affiliate_id": jane["id"]}), T0))
    assert conversions(db) == []
    deliver(app, account, event("charge.succeeded", charge("ch_2", 1000, T0 + 10, customer="cus_1"), T0 + 10))
    assert [c[0] for c in conversions(db)] == ["ch_2"]


def test_binding_precedence_session_over_customer_metadata(app, db, account, jane, bob):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, customer="cus_1"), T0))
    deliver(app, account, event("customer.updated", customer("cus_1", {"affiliate_id": bob["id"]}), T0 + 5))
    assert conversions(db)[0][1:4] == (bob["id"], 1000, 200)
    deliver(app, account, event("checkout.session.completed",
                                checkout_session("subscription", client_reference_id=jane["id"], customer="cus_1"),
                                T0 + 6))
    assert conversions(db) == [("ch_1", jane["id"], 1000, 100, "pending", None, "sale")]


def test_renewal_commission_stops_after_the_programs_months(app, db, jane):
    account = affilut.get_account(db, affilut.create_account(db, "Capped", "10", "", "whsec_cap", renewal_months=3))
    capped = affilut.create_affiliate(db, account["id"], "Cap", "cap@example.com")
    times = [T0 - 200 * DAY + m * 30 * DAY for m in range(6)]  # monthly, about 30 days apart
    deliver(app, account, event("charge.succeeded", charge("ch_0", 1000, times[0], customer="cus_1",
                                                           metadata={"affiliate_id": capped["id"]}), times[0]))
    for i, at in enumerate(times[1:], start=1):
        deliver(app, account, event("charge.succeeded", charge(f"ch_{i}", 1000, at, customer="cus_1"), at))
    # Payments within 3 calendar months of the first earn; later ones are recorded, rejected.
    assert [(c[0], c[4], c[5]) for c in conversions(db)] == [
        ("ch_0", "pending", None), ("ch_1", "pending", None), ("ch_2", "pending", None), ("ch_3", "pending", None),
        ("ch_4", "rejected", "renewal_period_ended"), ("ch_5", "rejected", "renewal_period_ended")]


@pytest.mark.parametrize("make_binding", [
    lambda affiliate, at: event("customer.updated", customer("cus_1", {"affiliate_id": affiliate["id"]}), at),
    lambda affiliate, at: event("invoice.paid", invoice_paid("cus_1", 0, {"affiliate_id": affiliate["id"]}), at),
], ids=["customer_metadata", "subscription_metadata"])
@pytest.mark.parametrize("reverse", [False, True])
def test_the_newest_binding_of_one_source_wins_whatever_the_delivery_order(app, db, account, jane, bob,
                                                                           make_binding, reverse):
    # The customer was Jane's, then the merchant moved them to Bob; a later payment is Bob's,
    # an earlier one stays Jane's, and the order Stripe delivers in changes nothing.
    events = [make_binding(jane, T0 - 20 * DAY), make_binding(bob, T0 - 5 * DAY),
              event("charge.succeeded", charge("ch_early", 1000, T0 - 10 * DAY, customer="cus_1"), T0 - 10 * DAY),
              event("charge.succeeded", charge("ch_late", 1000, T0, customer="cus_1"), T0)]
    for evt in reversed(events) if reverse else events:
        deliver(app, account, evt)
    assert {c[0]: c[1] for c in conversions(db)} == {"ch_early": jane["id"], "ch_late": bob["id"]}


@pytest.mark.parametrize("reverse", [False, True])
def test_self_referral_does_not_depend_on_which_customer_email_arrives_first(app, db, account, jane, reverse):
    # The customer once had the affiliate's own email: that is a self-referral in any delivery order.
    events = [event("customer.created", customer("cus_1", email="jane@example.com"), T0 - 60),
              event("customer.updated", customer("cus_1", email="someone@else.example"), T0 - 30),
              event("charge.succeeded", charge("ch_1", 1000, T0, customer="cus_1",
                                               metadata={"affiliate_id": jane["id"]}), T0)]
    for evt in reversed(events) if reverse else events:
        deliver(app, account, evt)
    assert conversions(db)[0][4:6] == ("rejected", "self_referral")


@pytest.mark.parametrize("reverse", [False, True])
def test_charge_metadata_changed_later_follows_the_newest_event_in_any_order(app, db, account, jane, bob, reverse):
    # charge.updated after the merchant corrected the charge's metadata from Jane to Bob.
    events = [event("charge.succeeded", charge("ch_1", 1000, T0, metadata={"affiliate_id": jane["id"]}), T0),
              event("charge.updated", charge("ch_1", 1000, T0, metadata={"affiliate_id": bob["id"]}), T0 + 60)]
    for evt in reversed(events) if reverse else events:
        deliver(app, account, evt)
    assert conversions(db)[0][1:4] == (bob["id"], 1000, 200)


# -- Who may earn ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "paused", "banned"])
def test_inactive_affiliate_is_recorded_rejected(app, db, account, status):
    affiliate = affilut.create_affiliate(db, account["id"], "Idle", "idle@example.com", status=status)
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, metadata={"affiliate_id": affiliate["id"]}),
                                T0))
    assert conversions(db) == [("ch_1", affiliate["id"], 1000, 100, "rejected", "affiliate_not_active", "sale")]


def test_self_referral_is_rejected(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, metadata={"affiliate_id": jane["id"]},
                                                           email="JANE@example.com"), T0))
    assert conversions(db)[0][4:6] == ("rejected", "self_referral")


def test_self_referral_learned_from_the_customer_later(app, db, account, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, customer="cus_1",
                                                           metadata={"affiliate_id": jane["id"]}), T0))
    assert conversions(db)[0][4] == "pending"
    deliver(app, account, event("customer.updated", customer("cus_1", email="jane@example.com"), T0 + 5))
    assert conversions(db)[0][4:6] == ("rejected", "self_referral")


def test_api_shows_currency_and_reason(app, db, account, api_key, jane):
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, T0, currency="eur",
                                                           metadata={"affiliate_id": jane["id"]},
                                                           email="jane@example.com"), T0))
    shown = app.get("/api/v1/conversions", headers=bearer(api_key)).json["data"][0]
    assert (shown["stripeChargeId"], shown["currency"], shown["status"], shown["reason"]) == \
        ("ch_1", "eur", "rejected", "self_referral")


# -- Refunds and disputes ----------------------------------------------------------------------------


def paid_charge(app, account, jane, amount=10000):
    deliver(app, account, event("charge.succeeded", charge("ch_1", amount, T0, metadata={"affiliate_id": jane["id"]}),
                                T0))


def refunded(amount, refunded_amount, at=T0 + 100, jane=None):
    return event("charge.refunded", charge("ch_1", amount, T0, metadata={"affiliate_id": jane["id"]},
                                           refunded=refunded_amount), at)


def test_partial_refund_reduces_commission_pro_rata(app, db, account, jane):
    paid_charge(app, account, jane, 4905)
    deliver(app, account, refunded(4905, 1000, jane=jane))
    assert conversions(db) == [("ch_1", jane["id"], 4905, 391, "pending", None, "sale")]  # 3905 × 10% = 390.5 → 391
    assert db.execute("SELECT refunded_cents FROM conversions").fetchone()[0] == 1000


def test_full_refund_rejects(app, db, account, jane):
    paid_charge(app, account, jane)
    deliver(app, account, refunded(10000, 10000, jane=jane))
    assert conversions(db) == [("ch_1", jane["id"], 10000, 0, "rejected", "refunded", "sale")]


def test_refund_object_before_its_charge_is_applied_when_the_charge_arrives(app, db, account, jane):
    deliver(app, account, event("refund.created", refund("re_1", "ch_1", 2500), T0 + 100))
    assert conversions(db) == []
    paid_charge(app, account, jane)
    assert conversions(db) == [("ch_1", jane["id"], 10000, 750, "pending", None, "sale")]


def mark_paid(db, account):
    conversion_id = db.execute("SELECT id FROM conversions WHERE kind != 'adjustment'").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    affilut.pay_conversion(db, account, conversion_id)


def test_refunds_after_payout_become_negative_adjustments(app, db, account, jane):
    paid_charge(app, account, jane)
    mark_paid(db, account)
    deliver(app, account, refunded(10000, 3000, jane=jane))
    deliver(app, account, refunded(10000, 3000, at=T0 + 101, jane=jane))  # same total again: nothing new
    deliver(app, account, refunded(10000, 10000, at=T0 + 200, jane=jane))
    assert conversions(db) == [
        ("ch_1", jane["id"], 10000, 1000, "paid", None, "sale"),
        ("adjustment:ch_1:1", jane["id"], -3000, -300, "approved", "refunded", "adjustment"),
        ("adjustment:ch_1:2", jane["id"], -7000, -700, "approved", "refunded", "adjustment"),
    ]
    net = db.execute("SELECT SUM(commission_cents) FROM conversions WHERE affiliate_id = ?", (jane["id"],)).fetchone()
    assert net[0] == 0


@pytest.mark.parametrize("ending", ["won", "warning_closed", "prevented"])
def test_a_dispute_that_takes_no_money_back_releases_the_hold(app, db, account, jane, ending):
    paid_charge(app, account, jane)
    deliver(app, account, event("charge.dispute.created", dispute("dp_1", "ch_1", 10000, "warning_needs_response"),
                                T0 + 10))
    assert db.execute("SELECT disputed FROM conversions").fetchone()[0] == 1
    deliver(app, account, event("charge.dispute.closed", dispute("dp_1", "ch_1", 10000, ending), T0 + 20))
    assert tuple(db.execute("SELECT status, disputed FROM conversions").fetchone()) == ("pending", 0)


def test_dispute_lost_rejects_and_won_restores(app, db, account, jane):
    paid_charge(app, account, jane)
    deliver(app, account, event("charge.dispute.created", dispute("dp_1", "ch_1", 10000, "needs_response"), T0 + 10))
    row = db.execute("SELECT status, disputed FROM conversions").fetchone()
    assert tuple(row) == ("pending", 1)
    deliver(app, account, event("charge.dispute.closed", dispute("dp_1", "ch_1", 10000, "won"), T0 + 20))
    assert conversions(db) == [("ch_1", jane["id"], 10000, 1000, "pending", None, "sale")]
    assert db.execute("SELECT disputed FROM conversions").fetchone()[0] == 0
    deliver(app, account, event("charge.dispute.created", dispute("dp_2", "ch_1", 10000, "needs_response"), T0 + 30))
    deliver(app, account, event("charge.dispute.closed", dispute("dp_2", "ch_1", 10000, "lost"), T0 + 40))
    assert conversions(db)[0][4:6] == ("rejected", "disputed")
    # A late "open" update for the lost dispute changes nothing.
    deliver(app, account, event("charge.dispute.updated", dispute("dp_2", "ch_1", 10000, "under_review"), T0 + 15))
    assert conversions(db)[0][4:6] == ("rejected", "disputed")


def test_dispute_lost_after_payout_is_a_negative_adjustment_and_won_restores_it(app, db, account, jane):
    paid_charge(app, account, jane)
    mark_paid(db, account)
    deliver(app, account, event("charge.dispute.closed", dispute("dp_1", "ch_1", 10000, "lost"), T0 + 20))
    assert conversions(db)[1][2:6] == (-10000, -1000, "approved", "refunded")



def test_a_conversion_under_an_open_dispute_cannot_be_marked_paid(app, db, account, api_key, jane):
    paid_charge(app, account, jane)
    url = f"/api/v1/conversions/{db.execute('SELECT id FROM conversions').fetchone()[0]}"
    app.patch_json(url, {"status": "approved"}, headers=bearer(api_key))
    deliver(app, account, event("charge.dispute.created", dispute("dp_1", "ch_1", 10000, "needs_response"), T0 + 10))
    res = app.patch_json(url, {"status": "paid"}, headers=bearer(api_key), status=409)
    assert res.json["error"]["code"] == "disputed"
    assert tuple(db.execute("SELECT status, disputed, payout_id FROM conversions").fetchone()) == ("approved", 1, None)
    assert db.execute("SELECT COUNT(*) FROM payouts").fetchone()[0] == 0

def test_merchant_rejection_is_never_reopened(app, db, account, jane):
    paid_charge(app, account, jane)
    conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], conversion_id, "rejected", "fraud")
    deliver(app, account, event("charge.dispute.closed", dispute("dp_1", "ch_1", 10000, "won"), T0 + 20))
    deliver(app, account, refunded(10000, 100, jane=jane))
    assert conversions(db)[0][4:6] == ("rejected", "fraud")


# -- Hold period ---------------------------------------------------------------------------------------


def test_hold_period_approves_pending_but_never_refunded_or_disputed(app, db, account, jane):
    for i, (amount, refunded_amount) in enumerate([(1000, 0), (1000, 1000), (1000, 400), (1000, 0)]):
        deliver(app, account, event("charge.succeeded", charge(f"ch_{i}", amount, T0, refunded=refunded_amount,
                                                               metadata={"affiliate_id": jane["id"]}), T0))
    deliver(app, account, event("charge.dispute.created", dispute("dp_1", "ch_3", 1000, "needs_response"), T0))
    assert affilut.approve_held_conversions(db, now=affilut.now_ms() + 29 * DAY * 1000) == 0
    assert affilut.approve_held_conversions(db, now=affilut.now_ms() + 30 * DAY * 1000 + 1000) == 2
    states = {r["stripe_charge_id"]: r["status"] for r in db.execute("SELECT * FROM conversions")}
    assert states == {"ch_0": "approved", "ch_1": "rejected", "ch_2": "approved", "ch_3": "pending"}
    history = db.execute("""SELECT actor, from_status, to_status FROM conversion_history h
                            JOIN conversions c ON c.id = h.conversion_id WHERE c.stripe_charge_id = 'ch_0'
                            ORDER BY h.id""").fetchall()
    assert [tuple(h) for h in history] == [("stripe", None, "pending"), ("hold", "pending", "approved")]


# -- Order independence -----------------------------------------------------------------------------------


def scenario(jane, bob):
    """A program's month: a one-time sale, a subscription whose binding comes late, renewals by three
    kinds of binding, refunds before and after their charges, and a dispute that is lost."""
    meta_j, meta_b = {"affiliate_id": jane["id"]}, {"affiliate_id": bob["id"]}
    return [
        *one_time_payment(jane),
        event("charge.succeeded", charge("ch_s1", 2900, T0 + 10, customer="cus_s"), T0 + 10),
        event("checkout.session.completed", checkout_session("subscription", metadata=meta_b, customer="cus_s"),
              T0 + 40),
        event("charge.succeeded", charge("ch_s2", 2900, T0 + 10 + 30 * DAY, customer="cus_s"), T0 + 10 + 30 * DAY),
        event("invoice.paid", invoice_paid("cus_i", 1500, meta_j), T0 + 60),
        event("charge.succeeded", charge("ch_i1", 1500, T0 + 55, customer="cus_i"), T0 + 55),
        event("invoice.paid", invoice_paid_pre_basil("cus_p", "ch_p1", 1200, meta_b), T0 + 70),
        event("customer.created", customer("cus_c", meta_j, email="c@example.com"), T0 + 80),
        event("charge.succeeded", charge("ch_c1", 800, T0 + 90, customer="cus_c"), T0 + 90),
        event("charge.succeeded", charge("ch_m1", 5000, T0 + 100, customer="cus_m", metadata=meta_b), T0 + 100),
        event("charge.succeeded", charge("ch_m2", 5000, T0 + 100 + 31 * DAY, customer="cus_m"), T0 + 100 + 31 * DAY),
        event("charge.refunded", charge("ch_m2", 5000, T0 + 100 + 31 * DAY, customer="cus_m", refunded=1234),
              T0 + 200 + 31 * DAY),
        event("refund.created", refund("re_9", "ch_i1", 1500), T0 + 300),
        event("charge.dispute.created", dispute("dp_9", "ch_c1", 800, "needs_response"), T0 + 400),
        event("charge.dispute.closed", dispute("dp_9", "ch_c1", 800, "lost"), T0 + 500),
        event("charge.succeeded", charge("ch_self", 700, T0 + 600, metadata=meta_j, email="jane@example.com"),
              T0 + 600),
    ]


def outcome(db):
    rows = db.execute("SELECT * FROM conversions ORDER BY stripe_charge_id").fetchall()
    return [(r["stripe_charge_id"], r["affiliate_id"], r["amount_cents"], r["commission_cents"], r["status"],
             r["reason"], r["kind"], r["refunded_cents"], r["disputed"]) for r in rows]


def snapshot(db):
    """A copy of the database as it is now, to start again from: conversions cannot be deleted."""
    copy = sqlite3.connect(":memory:")
    db.backup(copy)
    return copy


def assert_any_order_gives(app, db, account, slate, events, expected, seed, trials):
    """Deliver the events shuffled, with random repeats, onto the slate (a snapshot from before
    any event), `trials` times: every time the conversions must be `expected`."""
    rng = random.Random(seed)
    for trial in range(trials):
        slate.backup(db)
        shuffled = events + rng.sample(events, k=rng.randint(1, len(events)))
        rng.shuffle(shuffled)
        for evt in shuffled:
            deliver(app, account, evt)
        assert outcome(db) == expected, f"trial {trial}: {[(e['type'], e['data']['object'].get('id')) for e in shuffled]}"


@pytest.mark.parametrize("renewal_months", [None, 1])
def test_any_order_and_any_repetition_gives_the_same_conversions(app, db, account, jane, bob, renewal_months):
    db.execute("UPDATE accounts SET renewal_months = ?", (renewal_months,))
    slate = snapshot(db)
    events = scenario(jane, bob)
    for evt in events:
        deliver(app, account, evt)
    expected = outcome(db)
    assert [row[0] for row in expected] == ["ch_1", "ch_c1", "ch_i1", "ch_m1", "ch_m2", "ch_p1", "ch_s1", "ch_s2",
                                            "ch_self"]
    by_charge = {row[0]: row for row in expected}
    assert by_charge["ch_s1"][1:7] == (bob["id"], 2900, 580, "pending", None, "sale")
    assert by_charge["ch_s2"][6] == "renewal" and by_charge["ch_m2"][3] == 753  # (5000 - 1234) × 20%
    if renewal_months == 1:  # a payment 31 days after the first is past one calendar month
        assert by_charge["ch_m2"][4:6] == ("rejected", "renewal_period_ended")
    assert by_charge["ch_i1"][4:6] == ("rejected", "refunded")
    assert by_charge["ch_c1"][4:6] == ("rejected", "disputed")
    assert by_charge["ch_self"][4:6] == ("rejected", "self_referral")

    assert_any_order_gives(app, db, account, slate, events, expected, seed=20261125, trials=12)


# -- Concurrency through the real server ----------------------------------------------------------------


def post_event(url, evt, secret):
    payload = json.dumps(evt).encode()
    request = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Stripe-Signature": sign(payload, secret),
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status
    except urllib.error.HTTPError as error:
        return error.code


def test_concurrent_redelivery_and_concurrent_announcements_make_one_conversion(start_server, db, account, jane):
    url = f"{start_server().url}/webhooks/stripe/{account['id']}"
    meta = {"affiliate_id": jane["id"]}
    same = event("charge.succeeded", charge("ch_1", 4900, T0, intent="pi_1", metadata=meta), T0)
    pair = [event("charge.succeeded", charge("ch_2", 3000, T0, intent="pi_2", metadata=meta), T0),
            event("payment_intent.succeeded", payment_intent("pi_2", "ch_2", 3000, metadata=meta), T0 + 1)] * 5
    start = threading.Barrier(30)

    def send(evt):
        start.wait()
        return post_event(url, evt, account["webhook_secret"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(send, [same] * 20 + pair))
    assert statuses == [200] * 30
    assert sorted(c[0] for c in conversions(db)) == ["ch_1", "ch_2"]
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == 3


def scenario_two(jane, bob):
    """A harder month: one refund announced by both charge.refunded and refund.created, a refund
    that fails, a dispute on a partly refunded charge, a customer bound by three sources that
    change their minds, affiliates named by short code and by id, renewals, a customer whose
    email once was the affiliate's, and a charge whose metadata was corrected later."""
    meta_j, meta_b = {"affiliate_id": jane["id"]}, {"affiliate_id": bob["short_code"]}
    return [
        # cus_a: customer metadata says Bob, then Jane; the subscription's metadata (Bob) outranks it later.
        event("customer.created", customer("cus_a", meta_b, email="a@example.com"), T0 - 40 * DAY),
        event("customer.updated", customer("cus_a", {"affiliate_id": jane["short_code"]}), T0 - 30 * DAY),
        event("charge.succeeded", charge("ch_a1", 3000, T0 - 35 * DAY, customer="cus_a"), T0 - 35 * DAY),
        event("charge.succeeded", charge("ch_a2", 3000, T0 - 5 * DAY, customer="cus_a"), T0 - 5 * DAY),
        event("invoice.paid", invoice_paid("cus_a", 3000, meta_b), T0 - 5 * DAY + 2),
        event("charge.succeeded", charge("ch_a3", 3000, T0, customer="cus_a"), T0),
        # ch_r: a partial refund announced twice (charge.refunded and refund.created), a second one failing.
        event("charge.succeeded", charge("ch_r", 9999, T0 + 5, metadata=meta_b), T0 + 5),
        event("refund.created", refund("re_1", "ch_r", 3333), T0 + 50),
        event("charge.refunded", charge("ch_r", 9999, T0 + 5, metadata=meta_b, refunded=3333), T0 + 50),
        event("refund.created", refund("re_2", "ch_r", 1000, status="pending"), T0 + 60),
        event("refund.updated", refund("re_2", "ch_r", 1000, status="failed"), T0 + 70),
        # ch_d: partly refunded, then disputed and won.
        event("charge.succeeded", charge("ch_d", 5000, T0 + 6, metadata=meta_j), T0 + 6),
        event("refund.created", refund("re_3", "ch_d", 1), T0 + 80),
        event("charge.dispute.created", dispute("dp_1", "ch_d", 4999, "needs_response"), T0 + 90),
        event("charge.dispute.closed", dispute("dp_1", "ch_d", 4999, "won"), T0 + 95),
        # ch_x: disputed and lost after a partial refund.
        event("charge.succeeded", charge("ch_x", 2000, T0 + 7, metadata=meta_j), T0 + 7),
        event("charge.refunded", charge("ch_x", 2000, T0 + 7, metadata=meta_j, refunded=500), T0 + 40),
        event("charge.dispute.closed", dispute("dp_2", "ch_x", 1500, "lost"), T0 + 99),
        # cus_e: once had Jane's email.
        event("customer.created", customer("cus_e", email="jane@example.com"), T0 - 60),
        event("customer.updated", customer("cus_e", email="e@example.com"), T0 - 30),
        event("charge.succeeded", charge("ch_e", 1200, T0 + 8, customer="cus_e", metadata=meta_j), T0 + 8),
        # ch_m: metadata said Jane, the merchant corrected it to Bob.
        event("charge.succeeded", charge("ch_m", 700, T0 + 9, metadata=meta_j), T0 + 9),
        event("charge.updated", charge("ch_m", 700, T0 + 9, metadata=meta_b), T0 + 300),
        # cus_f: first payment attributed by a payment intent's checkout session, renewals remembered.
        event("checkout.session.completed", checkout_session("payment", client_reference_id=bob["id"], intent="pi_f",
                                                             customer="cus_f"), T0 + 12),
        event("charge.succeeded", charge("ch_f1", 4444, T0 + 10, customer="cus_f", intent="pi_f"), T0 + 10),
        event("charge.succeeded", charge("ch_f2", 4444, T0 + 10 + 31 * DAY, customer="cus_f"), T0 + 10 + 31 * DAY),
    ]


def test_harder_scenario_in_any_order_with_any_repetition(app, db, account, jane, bob):
    slate = snapshot(db)
    events = scenario_two(jane, bob)
    for evt in events:
        deliver(app, account, evt)
    expected = outcome(db)
    by_charge = {row[0]: row[1:] for row in expected}
    # (affiliate, amount, commission, status, reason, kind, refunded, disputed)
    assert by_charge["ch_a1"] == (bob["id"], 3000, 600, "pending", None, "sale", 0, 0)   # the binding of its time
    assert by_charge["ch_a2"][0] == bob["id"] and by_charge["ch_a3"][0] == bob["id"]    # the subscription's
    assert by_charge["ch_r"] == (bob["id"], 9999, 1333, "pending", None, "sale", 3333, 0)  # 6666 × 20%
    assert by_charge["ch_d"] == (jane["id"], 5000, 500, "pending", None, "sale", 1, 0)     # 4999 × 10% = 499.9
    assert by_charge["ch_x"][3:5] == ("rejected", "disputed")
    assert by_charge["ch_e"][3:5] == ("rejected", "self_referral")
    assert by_charge["ch_m"][:3] == (bob["id"], 700, 140)
    assert by_charge["ch_f1"][0] == by_charge["ch_f2"][0] == bob["id"] and by_charge["ch_f2"][5] == "renewal"

    assert_any_order_gives(app, db, account, slate, events, expected, seed=4242, trials=15)


def test_another_tenants_affiliate_is_never_credited_by_any_source(app, db, account, jane, other_tenant):
    # Olga belongs to the other shop: her id or short code in this shop's events credits nobody here
    # and writes nothing there; a click of hers never attaches to Jane's conversion either.
    olga = affilut.get_affiliate(db, other_tenant["account"]["id"], other_tenant["affiliate"]["id"])
    olga_click = "clk_" + "0" * 26
    db.execute("INSERT INTO clicks (id, account_id, affiliate_id, created_at) VALUES (?, ?, ?, 0)",
               (olga_click, olga["account_id"], olga["id"]))
    for i, ref in enumerate([olga["id"], olga["short_code"]]):
        for evt in [
            event("charge.succeeded", charge(f"ch_m{i}", 1000, T0, metadata={"affiliate_id": ref}), T0),
            event("checkout.session.completed", checkout_session("payment", client_reference_id=ref, intent=f"pi_{i}"),
                  T0 + 1),
            event("charge.succeeded", charge(f"ch_p{i}", 1000, T0, intent=f"pi_{i}"), T0),
            event("customer.created", customer(f"cus_c{i}", {"affiliate_id": ref}), T0 - 5),
            event("charge.succeeded", charge(f"ch_c{i}", 1000, T0, customer=f"cus_c{i}"), T0),
            event("invoice.paid", invoice_paid(f"cus_i{i}", 1000, {"affiliate_id": ref}), T0 + 2),
            event("charge.succeeded", charge(f"ch_i{i}", 1000, T0, customer=f"cus_i{i}"), T0),
        ]:
            deliver(app, account, evt)
    assert conversions(db) == []
    deliver(app, account, event("charge.succeeded", charge("ch_j", 1000, T0, metadata={
        "affiliate_id": jane["id"], "affiliate_session_id": olga_click}), T0))
    assert [tuple(r) for r in db.execute("SELECT affiliate_id, click_id FROM conversions")] == [(jane["id"], None)]


@pytest.mark.parametrize("fake_id", ["manual:inv_1", "adjustment:ch_1:1"])
def test_a_signed_charge_id_can_never_name_a_manual_conversion_or_an_adjustment(app, db, account, jane, bob,
                                                                                fake_id):
    affilut.record_manual_conversion(db, account, jane["id"], 4900, "inv_1")
    paid_charge(app, account, jane)
    mark_paid(db, account)
    deliver(app, account, refunded(10000, 3000, jane=jane))
    before = conversions(db)
    deliver(app, account, event("charge.succeeded", charge(fake_id, 100, T0, metadata={"affiliate_id": bob["id"]}), T0))
    deliver(app, account, event("charge.refunded", charge(fake_id, 100, T0, refunded=100), T0 + 1))
    assert conversions(db) == before


@pytest.mark.parametrize("approved_by", ["merchant", "hold"])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_refund_that_fails_leaves_an_approved_conversion_approved_in_any_order(app, db, account, jane,
                                                                                  approved_by, reverse):
    paid_charge(app, account, jane)
    if approved_by == "merchant":
        conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
        affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    else:
        affilut.approve_held_conversions(db, now=affilut.now_ms() + 31 * DAY * 1000)
    events = [event("refund.created", refund("re_1", "ch_1", 10000, status="pending"), T0 + 100),
              event("refund.updated", refund("re_1", "ch_1", 10000, status="failed"), T0 + 200)]
    for evt in reversed(events) if reverse else events:
        deliver(app, account, evt)
    assert conversions(db) == [("ch_1", jane["id"], 10000, 1000, "approved", None, "sale")]
