"""Settings → Webhooks and Settings → Notifications, the portal's email switch and the banners, as a
signed-in person sees them."""

import pytest

import affilut
from outbox_helpers import Receiver
from test_dashboard import cheap_scrypt, form_for, merchant, run_setup, sign_in, throttle  # noqa: F401
from test_outbox import loopback_hooks  # noqa: F401


@pytest.fixture
def hook():
    receiver = Receiver(statuses=[500])
    yield receiver
    receiver.close()


def test_webhooks_page_adds_an_endpoint_lists_deliveries_and_resends_one(merchant, db, hook, loopback_hooks):  # noqa: F811
    app, account = merchant["app"], merchant["account"]
    affiliate = affilut.create_affiliate(db, account["id"], "Hal", "hal@example.com")
    page = app.get("/dashboard/settings/webhooks")
    form = form_for(page, "/dashboard/settings/webhooks")
    form["url"] = hook.url  # every event type is ticked by default
    created = form.submit()
    secret = created.html.find(id="new-secret")["value"]
    assert secret.startswith("whsec_")
    assert secret not in app.get("/dashboard/settings/webhooks").text  # shown once
    affilut.record_manual_conversion(db, account, affiliate["id"], 4900)
    affilut.deliver_due(db)  # the receiver answers 500
    listed = app.get("/dashboard/settings/webhooks")
    row = listed.html.find("td", string="conversion.created").find_parent("tr")
    assert "retrying" in row.text and "500" in row.text
    event_id = row.find("td").text
    resend = form_for(listed, row.find("form")["action"]).submit()
    assert resend.status_int == 303
    affilut.deliver_due(db)  # the resend is sent at once (the first waits for its retry) and succeeds
    assert [r["json"]["id"] for r in hook.requests] == [event_id, event_id]
    after = app.get("/dashboard/settings/webhooks")
    assert "sent" in after.html.find_all("td", string="conversion.created")[0].find_parent("tr").text


def test_a_disabled_endpoint_shows_a_banner_on_every_page(merchant, db):
    account = merchant["account"]
    endpoint, _ = affilut.create_webhook_endpoint(db, account["id"], "https://hooks.example.com/x", ["payout.created"])
    with affilut.transaction(db) as tx:
        affilut.endpoint_disabled(tx, account["id"], endpoint["id"], "deliveries failed for 3 days")
    page = merchant["app"].get("/dashboard/affiliates")
    assert "The webhook endpoint https://hooks.example.com/x is disabled" in page.text
    enable = form_for(merchant["app"].get("/dashboard/settings/webhooks"),
                      f"/dashboard/settings/webhooks/{endpoint['id']}/enable")
    enable.submit(status=303)
    assert "is disabled" not in merchant["app"].get("/dashboard/affiliates").text


def test_a_merchant_turns_the_digest_off(merchant, db):
    user = merchant["user"]
    assert affilut.mail_wanted(db, user["id"], "daily_digest") is True
    form = form_for(merchant["app"].get("/dashboard/settings/notifications"), "/dashboard/settings/notifications")
    form["daily_digest"] = False
    form.submit(status=303)
    assert affilut.mail_wanted(db, user["id"], "daily_digest") is False


def test_an_affiliate_turns_commission_emails_off_in_the_portal(app, db):
    run_setup(app, db)
    account = affilut.sole_account(db)
    affiliate = affilut.join_program(db, account["id"], "Pia", "pia@example.com", "pia's long password")
    sign_in(app, "pia@example.com", "pia's long password", path=f"/portal/signin/{account['id']}")
    form = form_for(app.get("/portal"), "/portal/notifications")
    assert form["new_commission"].checked
    form["new_commission"] = False
    form.submit(status=303)
    assert affilut.mail_wanted(db, affiliate["id"], "new_commission") is False
    affilut.set_affiliate_status(db, account["id"], affiliate["id"], "active")
    affilut.record_manual_conversion(db, account, affiliate["id"], 4900)
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE topic = 'new_commission'").fetchone()[0] == 0
