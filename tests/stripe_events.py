"""Stripe events for tests: real object shapes from tests/fixtures/stripe, signed as Stripe signs them."""

import copy
import hashlib
import hmac
import itertools
import json
import os
import time

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "stripe")
_ids = itertools.count(1)
_cache = {}


def fixture(name):
    """A fresh copy of a Stripe object fixture."""
    if name not in _cache:
        with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as f:
            _cache[name] = json.load(f)
    return copy.deepcopy(_cache[name])


def event(event_type, obj, created, event_id=None, livemode=True):
    """A Stripe event wrapping obj."""
    return {"id": event_id or f"evt_test_{next(_ids):06d}", "object": "event", "type": event_type,
            "api_version": "2025-03-31.basil", "created": created, "livemode": livemode, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj}}


def sign(payload, secret, timestamp=None):
    """The Stripe-Signature header for a raw body: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def deliver(app, account, evt, secret=None, status=200, timestamp=None, path=None):
    """POST an event to the account's webhook as Stripe would, signed with the account's secret."""
    payload = json.dumps(evt).encode()
    headers = {"Stripe-Signature": sign(payload, secret or account["webhook_secret"], timestamp),
               "Content-Type": "application/json; charset=utf-8"}
    return app.post(path or f"/webhooks/stripe/{account['id']}", payload, headers=headers, status=status)


def charge(charge_id, amount, created, customer=None, intent=None, metadata=None, email=None, refunded=0,
           currency="usd"):
    obj = fixture("charge")
    obj.update(id=charge_id, amount=amount, amount_captured=amount, created=created, customer=customer,
               payment_intent=intent, metadata=metadata or {}, amount_refunded=refunded, refunded=refunded >= amount,
               currency=currency, captured=True, paid=True, status="succeeded")
    obj["billing_details"]["email"] = email
    return obj


def payment_intent(intent_id, charge_id, amount, customer=None, metadata=None):
    obj = fixture("payment_intent")
    obj.update(id=intent_id, latest_charge=charge_id, amount=amount, amount_received=amount, customer=customer,
               metadata=metadata or {}, status="succeeded", canceled_at=None)
    return obj


def checkout_session(mode, metadata=None, client_reference_id=None, intent=None, customer=None, email=None):
    obj = fixture("checkout_session")
    obj.update(id=f"cs_test_{next(_ids):06d}", mode=mode, metadata=metadata or {},
               client_reference_id=client_reference_id, payment_intent=intent, customer=customer,
               payment_status="paid", status="complete", subscription="sub_1" if mode == "subscription" else None)
    obj["customer_details"]["email"] = email
    return obj


def customer(customer_id, metadata=None, email=None):
    obj = fixture("customer")
    obj.update(id=customer_id, metadata=metadata or {}, email=email)
    return obj


def invoice_paid(customer_id, amount, subscription_metadata=None, email=None):
    """A current (2025-03-31 basil and later) invoice: no charge, metadata under parent."""
    obj = fixture("invoice")
    obj.update(id=f"in_test_{next(_ids):06d}", customer=customer_id, amount_paid=amount, amount_due=amount,
               amount_remaining=0, status="paid", customer_email=email, billing_reason="subscription_cycle")
    obj["parent"] = {"type": "subscription_details", "quote_details": None,
                     "subscription_details": {"metadata": subscription_metadata or {}, "subscription": "sub_1"}}
    return obj


def invoice_paid_pre_basil(customer_id, charge_id, amount, subscription_metadata=None, intent=None, email=None):
    """An invoice before 2025-03-31: names its charge and payment intent, subscription_details at the top."""
    obj = fixture("invoice_pre_basil_2025-02")
    obj.update(id=f"in_test_{next(_ids):06d}", customer=customer_id, charge=charge_id, payment_intent=intent,
               amount_paid=amount, paid=True, status="paid", customer_email=email, subscription="sub_1",
               subscription_details={"metadata": subscription_metadata or {}}, billing_reason="subscription_cycle")
    return obj


def refund(refund_id, charge_id, amount, status="succeeded"):
    obj = fixture("refund")
    obj.update(id=refund_id, charge=charge_id, amount=amount, status=status)
    return obj


def dispute(dispute_id, charge_id, amount, status):
    obj = fixture("dispute")
    obj.update(id=dispute_id, charge=charge_id, amount=amount, status=status)
    return obj
