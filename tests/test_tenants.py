"""Tenant isolation: one install holds several programs, and nothing of one program is read, changed,
listed, exported, counted or credited through another's API key, dashboard user, affiliate, Stripe
webhook, invite, reset link or sign-up link. "Ours" is the signed-in merchant's program (the
`merchant` fixture), "theirs" a rival program on the same install with one of everything."""

import json
import time

import pytest

import affilut
from conftest import bearer, make_account
from stripe_events import charge, customer, deliver, dispute, event, refund
from test_dashboard import (PASSWORD, add_user, approved_conversion, cheap_scrypt, csrf_of, merchant,  # noqa: F401
                            new_affiliate, sign_in, throttle)

T0 = int(time.time()) - 3600


def rows_of(db, table, account_id):
    """Every row of a table that belongs to one program, as tuples, in a stable order."""
    return [tuple(r) for r in db.execute(f"SELECT * FROM {table} WHERE account_id = ? ORDER BY 1", (account_id,))]


THEIR_TABLES = ("accounts", "affiliates", "conversions", "payouts", "api_keys", "users", "webhook_endpoints",
                "outbox", "invites", "password_resets", "charges", "refunds", "disputes", "bindings")


def their_state(db, account_id):
    """All that the rival program holds, to show that nothing of it changed."""
    state = {t: rows_of(db, t, account_id) for t in THEIR_TABLES if t != "accounts"}
    state["accounts"] = [tuple(r) for r in db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,))]
    state["logins"] = [tuple(r) for r in db.execute(
        "SELECT l.* FROM affiliate_logins l JOIN affiliates f ON f.id = l.affiliate_id WHERE f.account_id = ?",
        (account_id,))]
    return state


@pytest.fixture
def theirs(db, merchant):
    """The rival program: an owner, an affiliate who can sign in to its portal, a pending and a paid
    conversion, a payout, an API key, a webhook endpoint with a delivery, and emails in the outbox."""
    account = make_account(db, "Rival")
    user_id = add_user(db, account["id"], "rival-owner@rival.example")
    db.execute("UPDATE users SET role = 'owner' WHERE id = ?", (user_id,))
    endpoint, _ = affilut.create_webhook_endpoint(db, account["id"], "https://hooks.rival.example/affilut",
                                                  ["affiliate.created", "conversion.created"])
    affiliate = new_affiliate(db, account["id"], "Rhea Rival", "rhea@rival.example")
    affilut.set_affiliate_password(db, affiliate["id"], affilut.hash_password(PASSWORD + " rival"))
    paid = approved_conversion(db, account, affiliate["id"], 12300, "rival-paid")
    digest = affilut.due_payouts(db, account)[0]["digest"]
    payout_id = affilut.mark_payouts_paid(db, account, [(affiliate["id"], "usd", digest)])[0]
    pending = affilut.record_manual_conversion(db, account, affiliate["id"], 4500, "rival-pending")
    key_id, key = affilut.create_api_key(db, account["id"], "rival backend")
    delivery = db.execute("SELECT id FROM outbox WHERE account_id = ? AND kind = 'webhook' ORDER BY id LIMIT 1",
                          (account["id"],)).fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE account_id = ? AND kind = 'email'",
                      (account["id"],)).fetchone()[0] > 0
    return {"account": affilut.get_account(db, account["id"]), "user_id": user_id, "affiliate": affiliate,
            "paid": paid, "pending": pending, "payout_id": payout_id, "key_id": key_id, "key": key,
            "endpoint": endpoint, "delivery": delivery}


@pytest.fixture
def ours(db, merchant):
    """Our program's own affiliate, pending conversion and API key, beside the rival's."""
    account = merchant["account"]
    affiliate = new_affiliate(db, account["id"], "Otto Ours", "otto@ours.example")
    pending = affilut.record_manual_conversion(db, account, affiliate["id"], 3000, "ours-pending")
    key = affilut.create_api_key(db, account["id"], "our backend")[1]
    return {"account": account, "affiliate": affiliate, "pending": pending, "key": key}


def their_marks(t):
    """Text that would only appear on a page or in a file if something of the rival program leaked."""
    a = t["affiliate"]
    return ["Rival", "Rhea", "rhea@rival.example", "rival-owner@", a["id"], a["short_code"], t["paid"]["id"],
            t["pending"]["id"], t["payout_id"], "hooks.rival.example", t["delivery"], "rival-paid", "rival-pending",
            "$123.00", "$12.30"]


def made_up(object_id):
    """An id of the same kind and shape that nobody has."""
    return object_id[:-4] + ("zzzz" if not object_id.endswith("zzzz") else "yyyy")


# -- API --------------------------------------------------------------------------------------------------


def test_a_key_answers_for_another_programs_ids_exactly_as_for_ids_nobody_has(app, db, ours, theirs):
    """Every read and write by id: 404, with the body a made-up id gets, and nothing of theirs changes."""
    key, before = bearer(ours["key"]), their_state(db, theirs["account"]["id"])
    calls = [
        ("GET", "/api/v1/affiliates/{}", theirs["affiliate"]["id"], None),
        ("PATCH", "/api/v1/affiliates/{}", theirs["affiliate"]["id"], {"status": "banned"}),
        ("PATCH", "/api/v1/affiliates/{}", theirs["affiliate"]["id"], {"commission_override": "90"}),
        ("GET", "/api/v1/conversions/{}", theirs["pending"]["id"], None),
        ("PATCH", "/api/v1/conversions/{}", theirs["pending"]["id"], {"status": "approved"}),
        ("PATCH", "/api/v1/conversions/{}", theirs["pending"]["id"], {"status": "rejected", "reason": "x"}),
        ("PATCH", "/api/v1/conversions/{}", theirs["paid"]["id"], {"status": "paid"}),
        ("GET", "/api/v1/webhook_endpoints/{}", theirs["endpoint"]["id"], None),
        ("PATCH", "/api/v1/webhook_endpoints/{}", theirs["endpoint"]["id"], {"status": "disabled"}),
        ("PATCH", "/api/v1/webhook_endpoints/{}", theirs["endpoint"]["id"], {"url": "https://evil.example/x"}),
        ("DELETE", "/api/v1/webhook_endpoints/{}", theirs["endpoint"]["id"], None),
    ]
    for method, path, their_id, body in calls:
        kwargs = {"headers": key, "status": 404}
        if body is not None:
            kwargs["body"], kwargs["content_type"] = json.dumps(body).encode(), "application/json"
        foreign = app.request(path.format(their_id), method=method, **kwargs).json
        unknown = app.request(path.format(made_up(their_id)), method=method, **kwargs).json
        assert foreign["error"]["code"] == unknown["error"]["code"] == "not_found", (method, path, body)
        assert foreign["error"]["message"].replace(their_id, "ID") == \
            unknown["error"]["message"].replace(made_up(their_id), "ID"), (method, path, body)
    # Recording a conversion for their affiliate, or reusing their external ids, is no way in either.
    for body in ({"affiliate_id": theirs["affiliate"]["id"], "amount_cents": 100},
                 {"affiliate_id": theirs["affiliate"]["short_code"], "amount_cents": 100}):
        assert app.post_json("/api/v1/conversions", body, headers=key, status=404).json["error"]["param"] == \
            "affiliate_id"
    mine = app.post_json("/api/v1/conversions", {"affiliate_id": ours["affiliate"]["id"], "amount_cents": 100,
                                                 "external_id": "rival-pending"}, headers=key, status=201).json
    assert mine["id"] != theirs["pending"]["id"]
    assert their_state(db, theirs["account"]["id"]) == before


def test_a_keys_lists_and_cursors_never_reach_another_program(app, db, ours, theirs):
    """Lists, filters and cursors naming their ids: only our rows, as the reference says of an id the
    account does not have (the items whose id sorts below it)."""
    key, account = bearer(ours["key"]), ours["account"]
    # Ours and theirs interleaved in time, so their ids fall between ours.
    later = affilut.record_manual_conversion(db, account, ours["affiliate"]["id"], 700, "ours-later")
    newest_theirs = affilut.record_manual_conversion(db, theirs["account"], theirs["affiliate"]["id"], 800, "t-later")
    newest = affilut.record_manual_conversion(db, account, ours["affiliate"]["id"], 900, "ours-newest")
    our_conversions = [newest["id"], later["id"], ours["pending"]["id"]]

    def ids(path):
        res = app.get(path, headers=key)
        assert all(mark not in res.text for mark in their_marks(theirs) if mark != "Rival"), path
        return [row["id"] for row in res.json["data"]]

    assert ids("/api/v1/conversions") == our_conversions
    assert ids(f"/api/v1/conversions?starting_after={newest_theirs['id']}") == our_conversions[1:]
    cursor = theirs["pending"]["id"]
    assert ids(f"/api/v1/conversions?starting_after={cursor}") == [i for i in our_conversions if i < cursor]
    assert ids(f"/api/v1/conversions?affiliate_id={theirs['affiliate']['id']}") == []
    assert ids(f"/api/v1/conversions?affiliate_id={theirs['affiliate']['id']}&status=paid") == []
    assert ids("/api/v1/conversions?livemode=false") == []
    assert ids("/api/v1/affiliates") == [ours["affiliate"]["id"]]
    cursor = theirs["affiliate"]["id"]
    assert ids(f"/api/v1/affiliates?starting_after={cursor}") == \
        ids(f"/api/v1/affiliates?starting_after={made_up(cursor)}") == [ours["affiliate"]["id"]]
    assert ids("/api/v1/webhook_endpoints") == []
    # And the other way round: their key sees none of ours.
    assert [r["id"] for r in app.get("/api/v1/conversions", headers=bearer(theirs["key"])).json["data"]] == \
        [newest_theirs["id"], theirs["pending"]["id"], theirs["paid"]["id"]]


def test_nothing_in_a_request_but_its_key_chooses_the_program(app, db, ours, theirs):
    """Nothing in a request names the program but the key: an account id in the query or body is no switch."""
    key = bearer(ours["key"])
    res = app.get(f"/api/v1/affiliates?account_id={theirs['account']['id']}", headers=key)
    assert [r["id"] for r in res.json["data"]] == [ours["affiliate"]["id"]]
    app.post_json("/api/v1/affiliates", {"name": "X", "email": "x@example.com", "account_id": theirs["account"]["id"]},
                  headers=key, status=400)
    affilut.revoke_api_key(db, theirs["account"]["id"], theirs["key_id"])
    app.get("/api/v1/affiliates", headers=bearer(theirs["key"]), status=401)


# -- Dashboard --------------------------------------------------------------------------------------------


def test_no_page_download_list_position_or_suggestion_shows_another_programs_data(app, db, ours, theirs):
    a, c = theirs["affiliate"], theirs["pending"]
    paths = [
        "/dashboard", "/dashboard/affiliates", f"/dashboard/affiliates?before={a['id']}",
        f"/dashboard/affiliates?after={a['id']}", "/dashboard/affiliates?q=rhea", "/dashboard/affiliates?q=rival",
        f"/dashboard/affiliates?q={a['short_code']}",
        "/dashboard/conversions", f"/dashboard/conversions?before={c['id']}", f"/dashboard/conversions?after={c['id']}",
        f"/dashboard/conversions?before={theirs['paid']['id']}&status=paid",
        f"/dashboard/conversions?affiliate_id={a['id']}", f"/dashboard/conversions?affiliate_id={a['short_code']}",
        "/dashboard/conversions?affiliate_id=rhea@rival.example", "/dashboard/conversions?test=1",
        "/dashboard/conversions.csv", f"/dashboard/conversions.csv?affiliate_id={a['id']}",
        "/dashboard/conversions.csv?status=paid",
        "/dashboard/payouts", f"/dashboard/payouts?before={theirs['payout_id']}",
        f"/dashboard/payouts?after={a['id']}:usd",
        "/dashboard/payouts/history.csv", "/dashboard/payouts/due.csv", "/dashboard/payouts/due.csv?format=paypal",
        "/dashboard/settings", "/dashboard/settings/keys", "/dashboard/settings/team", "/dashboard/settings/webhooks",
        "/dashboard/settings/notifications",
        "/dashboard/affiliates/suggest?q=R", "/dashboard/affiliates/suggest?q=rhea",
        f"/dashboard/affiliates/suggest?q={a['short_code'][:3]}", f"/dashboard/affiliates/suggest?q={a['id']}",
    ]
    for path in paths:
        res = app.get(path, status="*")
        assert res.status_int == 200, path
        for mark in their_marks(theirs):
            if mark == "Rival" and path.startswith("/dashboard/affiliates?q=rival"):
                continue  # the search box shows what was typed
            if mark in path:
                continue  # the page repeats what it was asked for (the search box, the form's own address)
            assert mark not in res.text, (path, mark)
    assert app.get("/dashboard/affiliates/suggest?q=R").json == []
    # Our own rows are still there, so the checks above looked at real pages.
    assert "Otto Ours" in app.get("/dashboard/affiliates").text
    assert ours["pending"]["id"] in app.get("/dashboard/conversions.csv").text
    assert [r["id"] for r in app.get("/dashboard/affiliates/suggest?q=ot").json] == [ours["affiliate"]["id"]]
    # Their affiliate's own page, by id, is as unknown as a made-up one.
    foreign = app.get(f"/dashboard/affiliates/{a['id']}", status=404).text
    unknown = app.get(f"/dashboard/affiliates/{made_up(a['id'])}", status=404).text
    assert foreign.replace(a["id"], "ID") == unknown.replace(made_up(a["id"]), "ID")


def test_no_form_or_bulk_action_reaches_another_programs_rows(app, db, ours, theirs):
    """Owner-only actions and bulk lists of ids: their ids are refused or skipped, ours still act."""
    csrf, before = csrf_of(app.get("/dashboard")), their_state(db, theirs["account"]["id"])
    for path in [f"/dashboard/settings/webhooks/{theirs['endpoint']['id']}/disable",
                 f"/dashboard/settings/webhooks/{theirs['endpoint']['id']}/enable",
                 f"/dashboard/settings/webhooks/{theirs['endpoint']['id']}/delete",
                 f"/dashboard/settings/webhooks/deliveries/{theirs['delivery']}/resend",
                 f"/dashboard/settings/keys/{theirs['key_id']}/revoke",
                 f"/dashboard/settings/team/{theirs['user_id']}/remove",
                 f"/dashboard/affiliates/{theirs['affiliate']['id']}/status",
                 f"/dashboard/affiliates/{theirs['affiliate']['id']}/invite"]:
        app.post(path, {"csrf": csrf, "action": "ban"}, status=404)
    # A bulk action over our conversion and theirs changes ours only, and says one was left.
    for action in ("approve", "reject", "pay"):
        res = app.post("/dashboard/conversions/status",
                       {"csrf": csrf, "action": action, "id": [ours["pending"]["id"], theirs["pending"]["id"]],
                        "back": f"/dashboard/conversions?affiliate_id={theirs['affiliate']['id']}"}, status=303)
        if action == "approve":
            assert "changed=1" in res.headers["Location"] and "skipped=1" in res.headers["Location"]
    assert affilut.get_conversion(db, ours["account"]["id"], ours["pending"]["id"])["status"] == "rejected"
    # The payout form with their affiliate's balance, even with its true digest.
    app.post("/dashboard/payouts", {"csrf": csrf, "item": f"{theirs['affiliate']['id']}:usd:1"}, status=404)
    assert their_state(db, theirs["account"]["id"]) == before


# -- Sessions across areas and programs ---------------------------------------------------------------------


def test_a_merchant_session_opens_no_portal_and_an_affiliate_of_one_program_none_of_another(app, db, ours, theirs):
    # The merchant's session token in the portal's cookie is no affiliate's session.
    app.set_cookie("affilut_portal", app.cookies["affilut_session"])
    assert app.get("/portal", status=303).headers["Location"].startswith("/portal/signin")
    # Otto (ours) and an affiliate of theirs with Otto's email and his password too: each program's
    # sign-in finds only its own affiliate, and the session is of that program.
    twin = new_affiliate(db, theirs["account"]["id"], "Otto Twin", "otto@ours.example")
    affilut.set_affiliate_password(db, ours["affiliate"]["id"], affilut.hash_password(PASSWORD))
    portal = type(app)(affilut.app)
    # Rhea's email and password at our program: no such affiliate here.
    sign_in(portal, "rhea@rival.example", PASSWORD + " rival", path=f"/portal/signin/{ours['account']['id']}",
            status=401)
    res = sign_in(portal, "otto@ours.example", path=f"/portal/signin/{ours['account']['id']}", status=303).follow()
    assert "Otto Ours" in res.text and "Otto Twin" not in res.text and "Rival" not in res.text
    portal.reset()
    sign_in(portal, "otto@ours.example", path=f"/portal/signin/{theirs['account']['id']}", status=401)
    affilut.set_affiliate_password(db, twin["id"], affilut.hash_password(PASSWORD + " twin"))
    res = sign_in(portal, "otto@ours.example", PASSWORD + " twin", path=f"/portal/signin/{theirs['account']['id']}",
                  status=303).follow()
    assert "Otto Twin" in res.text and "Otto Ours" not in res.text and "$3.00" not in res.text
    session = db.execute("SELECT * FROM sessions WHERE kind = 'affiliate' ORDER BY created_at DESC").fetchone()
    assert (session["subject_id"], session["account_id"]) == (twin["id"], theirs["account"]["id"])
    # The affiliate's session opens no dashboard of either program.
    portal.set_cookie("affilut_session", portal.cookies["affilut_portal"])
    assert portal.get("/dashboard", status=303).headers["Location"].startswith("/signin")


def test_reset_invite_and_join_links_act_only_in_their_own_program(app, db, ours, theirs):
    otto = ours["affiliate"]
    twin = new_affiliate(db, theirs["account"]["id"], "Otto Twin", "otto@ours.example")
    affilut.set_affiliate_password(db, twin["id"], affilut.hash_password(PASSWORD + " twin"))
    before = their_state(db, theirs["account"]["id"])
    browser = type(app)(affilut.app)
    # A reset asked at our program's page makes a link for our Otto only, even with a twin there.
    res = browser.get(f"/portal/forgot/{ours['account']['id']}")
    browser.post(f"/portal/forgot/{ours['account']['id']}", {"csrf": csrf_of(res), "email": "otto@ours.example"})
    resets = db.execute("SELECT subject_id, account_id FROM password_resets").fetchall()
    assert [tuple(r) for r in resets] == [(otto["id"], ours["account"]["id"])]
    # Rhea's email at our program's page: no link for anyone.
    browser.post(f"/portal/forgot/{ours['account']['id']}", {"csrf": csrf_of(res), "email": "rhea@rival.example"})
    assert db.execute("SELECT COUNT(*) FROM password_resets").fetchone()[0] == 1
    # Our reset link and our invite link set our Otto's password and open our portal; the twin's stays.
    for path in (f"/reset/{affilut.insert_password_reset(db, 'affiliate', otto['id'], ours['account']['id'])}",
                 f"/invite/{affilut.invite_affiliate(db, ours['account']['id'], otto['id'])}"):
        browser.reset()
        res = browser.get(path)
        new_password = PASSWORD + " new"
        res = browser.post(path, {"csrf": csrf_of(res), "password": new_password, "password_again": new_password},
                           status=303).follow()
        assert "Otto Ours" in res.text and "Otto Twin" not in res.text
    assert their_state(db, theirs["account"]["id"]) == before
    # Their join link with our Otto's email makes an applicant of theirs and touches nothing of ours.
    ours_before = rows_of(db, "affiliates", ours["account"]["id"])
    res = browser.get(f"/join/{theirs['account']['id']}")
    browser.post(f"/join/{theirs['account']['id']}", {"csrf": csrf_of(res), "name": "Ann", "email": "ann@ours.example",
                                                      "password": PASSWORD, "password_again": PASSWORD}, status=303)
    joined = db.execute("SELECT * FROM affiliates WHERE email = 'ann@ours.example'").fetchall()
    assert [(r["account_id"], r["status"]) for r in joined] == [(theirs["account"]["id"], "pending")]
    assert rows_of(db, "affiliates", ours["account"]["id"]) == ours_before


# -- Stripe webhook -------------------------------------------------------------------------------------------


def test_a_charge_or_customer_id_both_programs_know_is_two_separate_things(app, db, ours, theirs):
    """Stripe ids are per Stripe account: the same charge id, customer id, refund and dispute ids in two
    programs' events are settled apart, and an event for one never moves the other's conversion."""
    affilut.rotate_webhook_secret(db, ours["account"]["id"], "whsec_ours")
    mine, rival = affilut.get_account(db, ours["account"]["id"]), theirs["account"]
    rhea = theirs["affiliate"]
    deliver(app, rival, event("customer.created", customer("cus_shared", {"affiliate_id": rhea["id"]}), T0 - 10))
    deliver(app, rival, event("charge.succeeded", charge("ch_shared", 5000, T0, customer="cus_shared"), T0))
    theirs_row = db.execute("SELECT * FROM conversions WHERE account_id = ? AND stripe_charge_id = 'ch_shared'",
                            (rival["id"],)).fetchone()
    assert (theirs_row["affiliate_id"], theirs_row["status"]) == (rhea["id"], "pending")
    before = their_state(db, rival["id"])
    # Our events: the same customer paying us without a referral, then refunds and disputes of the same ids.
    for evt in [
        event("charge.succeeded", charge("ch_shared", 5000, T0, customer="cus_shared"), T0 + 1),
        event("charge.succeeded", charge("ch_second", 7000, T0 + 5, customer="cus_shared"), T0 + 5),
        event("charge.refunded", charge("ch_shared", 5000, T0, customer="cus_shared", refunded=5000), T0 + 6),
        event("refund.created", refund("re_shared", "ch_shared", 5000), T0 + 7),
        event("charge.dispute.closed", dispute("dp_shared", "ch_shared", 5000, "lost"), T0 + 8),
        event("charge.succeeded", charge("ch_meta", 1000, T0, metadata={"affiliate_id": rhea["short_code"]}), T0 + 9),
    ]:
        deliver(app, mine, evt)
    assert db.execute("SELECT COUNT(*) FROM conversions WHERE account_id = ? AND kind != 'manual'",
                      (mine["id"],)).fetchone()[0] == 0
    assert their_state(db, rival["id"]) == before
    # Their charge settled again by an event of theirs counts none of our refunds and disputes of the same ids.
    deliver(app, rival, event("charge.updated", charge("ch_shared", 5000, T0, customer="cus_shared"), T0 + 10))
    again = db.execute("SELECT * FROM conversions WHERE id = ?", (theirs_row["id"],)).fetchone()
    assert (again["status"], again["refunded_cents"], again["disputed"], again["commission_cents"]) == \
        ("pending", 0, 0, 500)
    before = their_state(db, rival["id"])
    # Our event signed with our secret and sent to their address: refused, nothing stored anywhere.
    counts = db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0]
    res = deliver(app, rival, event("charge.refunded", charge("ch_shared", 5000, T0, refunded=5000), T0 + 20),
                  secret=mine["webhook_secret"], status=400)
    assert res.json["error"]["code"] == "invalid_signature"
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == counts
    assert their_state(db, rival["id"]) == before
