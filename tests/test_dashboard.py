"""The merchant dashboard and the affiliate portal as a browser without JavaScript sees them (WebTest)."""

import csv
import io
import re
import sqlite3

import pytest

import affilut
from conftest import bearer, make_account

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch):
    """Real scrypt, cheaper parameters: the stored hash says which were used."""
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)


@pytest.fixture(autouse=True)
def throttle(clock, monkeypatch):
    throttle = affilut.SignInThrottle(clock=clock)
    monkeypatch.setitem(affilut.app.config, "affilut.signin_throttle", throttle)
    return throttle


def form_for(res, action):
    """The page's form that posts to this action."""
    for form in res.forms.values():
        if (form.action or "").split("?")[0] == action:
            return form
    raise AssertionError(f"no form posting to {action} on {res.request.path}")


def setup_link(db):
    """The path of the one-time setup link, as `serve` makes and prints it at start."""
    return f"/setup?token={affilut.new_setup_token(db)}"


def run_setup(app, db, email="owner@shop.example", password=PASSWORD, name="Shop"):
    res = app.get(setup_link(db))
    form = form_for(res, "/setup")
    form["name"], form["email"], form["password"] = name, email, password
    form["landing_url"] = "https://shop.example/"
    return form.submit()


def sign_in(app, email, password=PASSWORD, status=None, path="/signin", headers=None):
    res = app.get(path)
    form = form_for(res, res.request.path_qs if "?" in res.request.path_qs else res.request.path)
    form["email"], form["password"] = email, password
    return form.submit(status=status, headers=headers)


def csrf_of(res):
    return res.html.find("input", {"name": "csrf"})["value"]


def add_user(db, account_id, email, password=PASSWORD):
    """A team member who has accepted their invite."""
    user_id, token = affilut.invite_user(db, account_id, email)
    affilut.accept_invite(db, token, password)
    return user_id


@pytest.fixture
def merchant(app, db):
    """A fresh install set up through /setup, signed in as its admin."""
    res = run_setup(app, db)
    assert res.status_int == 303 and res.headers["Location"].endswith("/dashboard")
    user = db.execute("SELECT * FROM users").fetchone()
    return {"app": app, "account": affilut.get_account(db, user["account_id"]), "user": user}


def new_affiliate(db, account_id, name="Jane Smith", email="jane@example.com", status="active"):
    return affilut.create_affiliate(db, account_id, name, email, status)


def approved_conversion(db, account, affiliate_id, cents, external_id=None, currency="usd"):
    row = affilut.record_manual_conversion(db, account, affiliate_id, cents, external_id)
    if currency != "usd":
        db.execute("UPDATE conversions SET currency = ? WHERE id = ?", (currency, row["id"]))
    return affilut.set_conversion_status(db, account["id"], row["id"], "approved")


def adjustment(db, account_id, affiliate_id, source, commission_cents):
    """A refund adjustment as the webhook writes it: negative, approved, kind adjustment."""
    row_id = affilut.new_id("cnv")
    db.execute(f"""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents, commission_cents,
                       commission_rate, status, kind, adjusts_id, created_at, updated_at, seq)
                   VALUES (:id, :account, :affiliate, :charge, :amount, :commission, '10', 'approved', 'adjustment',
                       :adjusts, :now, :now, {affilut.NEXT_SEQ})""",
               {"id": row_id, "account": account_id, "affiliate": affiliate_id, "charge": f"adjustment:ch_x:{source}",
                "amount": commission_cents * 10, "commission": commission_cents, "adjusts": source,
                "now": affilut.now_ms()})
    return row_id


# -- First run -------------------------------------------------------------------------------------------


def test_fresh_install_sends_to_setup_which_works_exactly_once(app, db):
    assert app.get("/").headers["Location"].endswith("/setup")
    assert app.get("/signin").headers["Location"].endswith("/setup")
    res = run_setup(app, db, name="Zoë's Shop").follow()
    assert res.request.path == "/dashboard" and "Zoë&#039;s Shop" in res.text
    account = db.execute("SELECT * FROM accounts").fetchone()
    assert (account["name"], account["default_commission"], account["landing_url"]) == \
        ("Zoë's Shop", "10", "https://shop.example/")
    user = db.execute("SELECT * FROM users").fetchone()
    assert (user["account_id"], user["email"], user["role"]) == (account["id"], "owner@shop.example", "owner")
    # gone once a user exists, for a GET and for a replayed POST alike
    fresh = type(app)(affilut.app)
    assert fresh.get("/setup", status=404).status_int == 404
    res = fresh.get("/signin")
    fresh.post("/setup", {"csrf": csrf_of(res), "name": "Evil", "email": "evil@x.com", "password": PASSWORD},
               status=404)
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 1
    assert affilut.new_setup_token(db) is None  # a restart prints no link any more


def post_setup(app, token, **fields):
    """The setup form posted by a browser that holds the page's CSRF token, with or without a setup token."""
    app.get("/setup", status=403)  # sets the browser's CSRF cookie
    csrf = app.cookies["affilut_csrf"]
    body = {"csrf": csrf, "name": "Evil", "email": "evil@x.example", "password": PASSWORD, **fields}
    if token is not None:
        body["token"] = token
    return app.post("/setup", body, expect_errors=True)


@pytest.mark.parametrize("token", [None, "", "guessed-token", "x" * 43])
def test_setup_without_the_printed_token_creates_nothing_and_leaks_nothing(app, db, account, api_key, token):
    affilut.new_setup_token(db)  # the server started and printed its link, which this browser lacks
    res = app.get("/setup" + (f"?token={token}" if token is not None else ""), status=403)
    assert "python affilut.py serve" in res.text and "/setup?token=" in res.text
    assert "<code>python affilut.py serve</code>" in res.text and "`" not in res.text
    assert account["name"] not in res.text and account["id"] not in res.text and "whsec_" not in res.text
    assert res.html.find("form", {"action": "/setup"}) is None
    before = snapshot(db)
    res = post_setup(app, token, account=account["id"])
    assert res.status_int == 403 and account["id"] not in res.text and "whsec_" not in res.text
    assert snapshot(db) == before and db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
    assert affilut.get_account(db, account["id"]) == account


def test_setup_link_works_once_and_a_restart_replaces_it(app, db):
    old = affilut.new_setup_token(db)
    token = affilut.new_setup_token(db)  # each start prints a new link; the one before stops working
    assert token != old and db.execute("SELECT value FROM settings WHERE name = 'setup_token_hash'").fetchone()[0] \
        == affilut.token_hash(token)
    app.get(f"/setup?token={old}", status=403)
    form = form_for(app.get(f"/setup?token={token}"), "/setup")
    form["name"], form["email"], form["password"] = "Shop", "owner@shop.example", PASSWORD
    form["email"] = "not-an-email"
    form.submit(status=400)  # a refused form does not spend the link
    form["email"] = "owner@shop.example"
    form.submit(status=303)
    assert db.execute("SELECT value FROM settings WHERE name = 'setup_token_hash'").fetchone() is None
    again = type(app)(affilut.app)
    again.get(f"/setup?token={token}", status=404)
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1


def test_setup_makes_the_token_holder_owner_of_the_cli_account_and_changes_nothing(app, db, account, api_key):
    before = affilut.get_account(db, account["id"])
    res = app.get(setup_link(db))
    assert "Become the owner" in res.text and account["name"] in res.text and "whsec_" not in res.text
    form = form_for(res, "/setup")
    assert "name" not in form.fields and "default_commission" not in form.fields
    form["email"], form["password"] = "owner@shop.example", PASSWORD
    res = form.submit(status=303).follow()
    assert res.request.path == "/dashboard"
    user = db.execute("SELECT * FROM users").fetchone()
    assert (user["account_id"], user["role"]) == (account["id"], "owner")
    assert affilut.get_account(db, account["id"]) == before  # name, commission, landing URL, secret: as they were
    assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 1
    app.get("/api/v1/affiliates", headers=bearer(api_key), status=200)


def test_setup_post_that_names_no_existing_account_creates_nothing(app, db, account):
    token = affilut.new_setup_token(db)
    res = post_setup(app, token, account="acc_nope")
    assert res.status_int == 404
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 1
    assert affilut.setup_token_valid(db, token)  # nothing was spent


@pytest.mark.parametrize("field, value, message", [
    ("password", "short", "at least 10 characters"),
    ("email", "not-an-email", "Email must be an email address"),
    ("default_commission", "101", "percent from 0 to 100"),
    ("landing_url", "javascript:alert(1)", "absolute http"),
])
def test_setup_refuses_bad_fields_with_a_message(app, db, field, value, message):
    form = form_for(app.get(setup_link(db)), "/setup")
    form["name"], form["email"], form["password"] = "Shop", "a@b.example", PASSWORD
    form[field] = value
    res = form.submit(status=400)
    assert message in res.text
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0


def test_passwords_are_salted_scrypt_with_their_parameters(db, account):
    add_user(db, account["id"], "a@shop.example")
    add_user(db, account["id"], "b@shop.example")
    hashes = [r[0] for r in db.execute("SELECT password_hash FROM users")]
    assert hashes[0] != hashes[1]
    for stored in hashes:
        scheme, n, r, p, salt, digest = stored.split("$")
        assert (scheme, n, r, p) == ("scrypt", str(2**10), "8", "1") and len(salt) == 32 and len(digest) == 64
        assert PASSWORD not in stored
    assert affilut.verify_password(PASSWORD, hashes[0]) and not affilut.verify_password("wrong", hashes[0])


# -- Sign-in, sessions, sign-out -------------------------------------------------------------------------


def session_cookie(res):
    return next(c for c in res.headers.getall("Set-Cookie") if c.startswith("affilut_session="))


def test_sign_in_sets_a_hardened_cookie_and_stores_only_a_hash(app, db, merchant):
    app.reset()
    app.get("/dashboard", status=303)
    assert sign_in(app, "owner@shop.example", "wrong password", status=401).status_int == 401
    res = sign_in(app, "OWNER@shop.example", status=303)
    cookie = session_cookie(res)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = [r[0] for r in db.execute("SELECT token_hash FROM sessions")]
    assert affilut.token_hash(token) in stored and token not in stored
    assert res.follow().request.path == "/dashboard"


def test_cookie_is_secure_over_https_and_a_header_alone_does_not_make_it_so(app, merchant):
    # The server decides the scheme (behind_proxies believes only a trusted proxy): see test_exposed.py.
    app.reset()
    res = sign_in(app, "owner@shop.example", status=303, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in session_cookie(res)
    app.reset()
    app.extra_environ = {"wsgi.url_scheme": "https"}
    res = sign_in(app, "owner@shop.example", status=303)
    assert "Secure" in session_cookie(res)


def test_sign_out_ends_the_session_on_the_server(app, db, merchant):
    res = app.get("/dashboard")
    cookie = app.cookies["affilut_session"]
    form_for(res, "/signout").submit(status=303)
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    app.set_cookie("affilut_session", cookie)  # a stolen copy of the cookie names nothing now
    assert app.get("/dashboard", status=303).headers["Location"].startswith("/signin")


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(app, merchant):
    app.reset()
    res = app.get("/dashboard/payouts", status=303)
    assert res.headers["Location"] == "/signin?next=%2Fdashboard%2Fpayouts"
    res = res.follow()
    form = form_for(res, "/signin")
    form["email"], form["password"] = "owner@shop.example", PASSWORD
    assert form.submit(status=303).headers["Location"].endswith("/dashboard/payouts")
    app.reset()
    res = app.get("/signin?next=//evil.example/x")
    form = form_for(res, "/signin")
    form["email"], form["password"] = "owner@shop.example", PASSWORD
    assert form.submit(status=303).headers["Location"].endswith("/dashboard")


@pytest.mark.parametrize("column, age_days", [("last_seen_at", 8), ("expires_at", 0.001)])
def test_sessions_expire_when_idle_or_old(app, db, merchant, column, age_days):
    app.get("/dashboard", status=200)
    shifted = affilut.now_ms() - int(age_days * affilut.DAY_MS)
    db.execute(f"UPDATE sessions SET {column} = ?", (shifted,))
    assert app.get("/dashboard", status=303).headers["Location"].startswith("/signin")
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_failed_sign_ins_are_slowed_per_email(app, merchant, clock):
    app.reset()
    for _ in range(5):
        sign_in(app, "owner@shop.example", "wrong password", status=401)
    res = sign_in(app, "owner@shop.example", status=429)  # even the right password waits
    assert "Try again in 30 seconds" in res.text
    clock.advance(31)
    sign_in(app, "owner@shop.example", "wrong again!", status=401)
    assert "Try again in 60 seconds" in sign_in(app, "owner@shop.example", status=429).text
    clock.advance(61)
    sign_in(app, "owner@shop.example", status=303)
    app.reset()
    sign_in(app, "owner@shop.example", "wrong password", status=401)  # success forgot the email's failures


def test_failed_sign_ins_are_slowed_per_ip(app, merchant, clock):
    app.reset()
    for i in range(20):
        sign_in(app, f"guess{i}@shop.example", "wrong password", status=401,
                headers={"X-Forwarded-For": f"10.0.0.{i}"})  # a header from afar changes nothing
    sign_in(app, "owner@shop.example", status=429)
    clock.advance(31)
    sign_in(app, "owner@shop.example", status=303)


def sign_in_from(app, address, email, password=PASSWORD, status=None, path="/signin"):
    """sign_in from a client address (as the server determined it: see test_exposed.py for the proxy)."""
    res = app.get(path, extra_environ={"REMOTE_ADDR": address})
    form = form_for(res, res.request.path)
    form["email"], form["password"] = email, password
    return form.submit(status=status, extra_environ={"REMOTE_ADDR": address})


def test_failures_from_one_address_never_refuse_the_right_password_from_another(app, db, merchant, clock):
    app.reset()
    for _ in range(30):  # past the limits of the pair and of the address
        sign_in_from(app, "203.0.113.66", "owner@shop.example", "wrong password", status="*")
    assert "Try again in" in sign_in_from(app, "203.0.113.66", "owner@shop.example", status=429).text
    sign_in_from(app, "198.51.100.7", "owner@shop.example", status=303)
    assert db.execute("SELECT COUNT(*) FROM signin_ceilings").fetchone()[0] == 0


def test_a_ceiling_of_failures_for_one_email_slows_it_everywhere_and_tells_the_merchant(app, db, merchant, clock,
                                                                                       throttle):
    app.reset()
    ceiling = throttle.free["email"]
    for i in range(ceiling):  # a guesser spread over many addresses, each below its own limits
        sign_in_from(app, f"10.1.{i // 4}.{i % 4}", "owner@shop.example", "wrong password", status=401)
        sign_in_from(app, f"10.1.{i // 4}.{i % 4}", "nobody@shop.example", "wrong password", status=401)
    res = sign_in_from(app, "198.51.100.7", "owner@shop.example", status=429)  # a fresh address waits a little
    assert "Try again in 30 seconds" in res.text
    [row] = db.execute("SELECT * FROM signin_ceilings").fetchall()  # the unknown email left nothing
    assert (row["kind"], row["subject_id"], row["email"], row["times"]) == ("user", merchant["user"]["id"],
                                                                           "owner@shop.example", 1)
    clock.advance(31)
    sign_in_from(app, "198.51.100.7", "owner@shop.example", status=303)  # slowed, never locked out
    overview = app.get("/dashboard")
    assert "Someone tried many wrong passwords" in overview.text and "owner@shop.example" in overview.text


def test_the_affiliate_ceiling_is_per_program_and_shown_to_its_merchant(app, db, merchant, clock, throttle):
    account = merchant["account"]
    join(type(app)(affilut.app), account["id"])
    browser = type(app)(affilut.app)
    for i in range(throttle.free["email"]):
        sign_in_from(browser, f"10.2.{i // 4}.{i % 4}", "pat@example.com", "wrong password", status=401,
                     path=f"/portal/signin/{account['id']}")
    [row] = db.execute("SELECT * FROM signin_ceilings").fetchall()
    assert (row["kind"], row["account_id"], row["email"]) == ("affiliate", account["id"], "pat@example.com")
    assert "the affiliate" in app.get("/dashboard").text and "pat@example.com" in app.get("/dashboard").text


def forget_cookie(browser, name):
    """The browser drops one cookie, keeping the others."""
    for kept in list(browser.cookiejar):
        if kept.name == name:
            browser.cookiejar.clear(kept.domain, kept.path, kept.name)


@pytest.mark.parametrize("kind", ["user", "affiliate"])
def test_past_the_ceiling_a_browser_that_signed_in_before_is_judged_only_by_its_own_failures(
        app, db, merchant, clock, monkeypatch, kind):
    account = merchant["account"]
    if kind == "user":
        email, path = "owner@shop.example", "/signin"
    else:
        email, path = "pat@example.com", f"/portal/signin/{account['id']}"
        join(type(app)(affilut.app), account["id"])
    throttle = affilut.SignInThrottle(clock=clock, free={"pair": 5, "ip": 20, "email": 3})
    monkeypatch.setitem(affilut.app.config, "affilut.signin_throttle", throttle)
    owner = type(app)(affilut.app)  # the person's own browser signs in once and is remembered
    sign_in_from(owner, "192.0.2.1", email, status=303, path=path)
    device = affilut.DEVICE_COOKIES[kind]
    assert owner.cookies[device]
    forget_cookie(owner, affilut.SESSION_COOKIES[kind])  # the session ended; the device cookie stays
    attacker = type(app)(affilut.app)
    for i in range(3):  # a guesser spread over many addresses takes the email past its ceiling
        sign_in_from(attacker, f"10.3.0.{i}", email, "wrong password", status=401, path=path)
    stranger = type(app)(affilut.app)  # the right password from a browser that never signed in as them waits
    assert "Try again in 30 seconds" in sign_in_from(stranger, "198.51.100.7", email, status=429, path=path).text
    # A device cookie given to someone else, or forged, counts for nothing.
    if kind == "user":
        add_user(db, account["id"], "member@shop.example")
    else:
        join(type(app)(affilut.app), account["id"], "Max Member", "member@shop.example")
    sign_in_from(stranger, "198.51.100.7", "member@shop.example", status=303, path=path)
    sign_in_from(stranger, "198.51.100.7", email, status=429, path=path)
    owners = owner.cookies[device]
    for forged in ["nonsense", owners.replace(owners.split(".")[0], stranger.cookies[device].split(".")[0], 1)]:
        stranger.set_cookie(device, forged)
        sign_in_from(stranger, "198.51.100.7", email, status=429, path=path)
    # The owner's browser, from a new address, right after the guesser's last failure: signed in.
    sign_in_from(owner, "203.0.113.5", email, status=303, path=path)
    # It is still held to the pair rule: five wrong passwords from one address make it wait there.
    forget_cookie(owner, affilut.SESSION_COOKIES[kind])
    for _ in range(5):
        sign_in_from(owner, "203.0.113.6", email, "wrong password", status=401, path=path)
    sign_in_from(owner, "203.0.113.6", email, status=429, path=path)
    [row] = db.execute("SELECT * FROM signin_ceilings").fetchall()  # the merchant is still told
    assert (row["kind"], row["email"]) == (kind, email)
    assert "Someone tried many wrong passwords" in app.get("/dashboard").text


# -- CSRF and headers -------------------------------------------------------------------------------------


@pytest.fixture
def world(merchant, db):
    """A merchant with an affiliate, a pending conversion, an approved one and an API key."""
    account = merchant["account"]
    affiliate = new_affiliate(db, account["id"])
    pending = affilut.record_manual_conversion(db, account, affiliate["id"], 4900, "order-1")
    approved = approved_conversion(db, account, affiliate["id"], 10000, "order-2")
    key_id, key = affilut.create_api_key(db, account["id"], "backend")
    return {**merchant, "affiliate": affiliate, "pending": pending, "approved": approved, "key_id": key_id, "key": key}


def state_changing_posts(w):
    aff, account = w["affiliate"]["id"], w["account"]
    due = affilut.due_payouts(affilut.connect(affilut.app.config["affilut.db"]), account)[0]
    return [
        ("/signout", {}),
        ("/dashboard/affiliates", {"name": "New", "email": "new@example.com"}),
        (f"/dashboard/affiliates/{aff}/status", {"action": "ban"}),
        (f"/dashboard/affiliates/{aff}/commission", {"commission_override": "50"}),
        (f"/dashboard/affiliates/{aff}/invite", {}),
        ("/dashboard/conversions/status", {"action": "approve", "id": w["pending"]["id"]}),
        ("/dashboard/conversions/new", {"affiliate_id": aff, "amount": "10"}),
        ("/dashboard/payouts", {"item": f"{aff}:usd:{due['digest']}"}),
        ("/dashboard/settings", {"name": "Hacked", "default_commission": "99", "attribution_window_days": "1",
                                 "hold_days": "0", "payout_minimum": "0"}),
        ("/dashboard/settings/keys", {"name": "evil"}),
        (f"/dashboard/settings/keys/{w['key_id']}/revoke", {}),
        ("/dashboard/settings/team", {"email": "evil@example.com"}),
    ]


def snapshot(db):
    return [list(map(tuple, db.execute(f"SELECT * FROM {t} ORDER BY 1")))
            for t in ("accounts", "affiliates", "conversions", "api_keys", "users", "invites", "payouts", "sessions")]


@pytest.mark.parametrize("token", [None, "forged-token-forged-token-forged-token"])
def test_every_dashboard_post_without_the_csrf_token_is_403(app, db, world, token):
    before = snapshot(db)
    for path, fields in state_changing_posts(world):
        body = dict(fields, **({"csrf": token} if token else {}))
        res = app.post(path, body, status=403)
        assert "This form has expired" in res.text, path
    assert snapshot(db) == before


@pytest.mark.parametrize("path", ["/setup", "/signin", "/join/{account}", "/portal/signin/{account}"])
def test_signed_out_forms_need_the_browser_token_too(app, db, account, path):
    token = affilut.new_setup_token(db)
    fields = {"name": "X", "email": "x@example.com", "password": PASSWORD, "password_again": PASSWORD,
              "token": token, "account": account["id"]}
    app.post(path.format(account=account["id"]), fields, status=403)
    app.get(path.format(account=account["id"]) + (f"?token={token}" if path == "/setup" else ""))  # the page
    # sets the browser's token cookie...
    app.post(path.format(account=account["id"]), fields, status=403)  # ...but the form must carry it
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM affiliates").fetchone()[0] == 0


def test_the_same_form_with_the_token_goes_through(app, db, world):
    res = app.get("/dashboard/settings/keys")
    app.post("/dashboard/settings/keys", {"name": "ok", "csrf": csrf_of(res)}, status=200)
    assert db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0] == 2


PAGES = ["/dashboard", "/dashboard/affiliates", "/dashboard/affiliates/{aff}", "/dashboard/conversions",
         "/dashboard/conversions.csv", "/dashboard/payouts", "/dashboard/payouts/due.csv?format=paypal",
         "/dashboard/payouts/history.csv", "/dashboard/settings", "/dashboard/settings/keys",
         "/dashboard/settings/team"]
PUBLIC = ["/", "/signin", "/setup", "/join/{acc}", "/portal/signin/{acc}", "/portal/signin", "/portal",
          "/invite/nonsense", "/static/app.css", "/static/app.js", "/no/such/page", "/dashboard/affiliates/aff_nope"]


def test_every_page_sends_the_security_headers(app, world):
    paths = [p.format(aff=world["affiliate"]["id"], acc=world["account"]["id"]) for p in PAGES + PUBLIC]
    for path in paths + ["/api/v1/affiliates"]:
        res = app.get(path, expect_errors=True)
        assert res.headers["X-Frame-Options"] == "DENY", path
        assert res.headers["X-Content-Type-Options"] == "nosniff", path
        assert res.headers["Referrer-Policy"] == "same-origin", path
        csp = res.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        if res.content_type == "text/html":
            assert "<script>" not in res.text and " style=" not in res.text and " onclick=" not in res.text, path
    assert app.get("/static/../affilut.py", expect_errors=True).status_int in (403, 404)


def test_signed_in_pages_are_never_cached(app, world):
    for path in PAGES:
        res = app.get(path.format(aff=world["affiliate"]["id"]))
        assert res.headers["Cache-Control"] == "no-store", path


# -- Escaping and tenants -----------------------------------------------------------------------------------


XSS = "<script>alert(1)</script>"


def test_user_text_is_escaped_everywhere_it_shows(app, db, merchant):
    account = merchant["account"]
    affiliate = new_affiliate(db, account["id"], name=XSS, email="x@example.com")
    affilut.set_affiliate_status(db, account["id"], affiliate["id"], "paused", reason=XSS)
    conversion = affilut.record_manual_conversion(db, account, affiliate["id"], 5000, external_id=XSS)
    affilut.set_conversion_status(db, account["id"], conversion["id"], "rejected", reason=XSS)
    affilut.set_affiliate_password(db, affiliate["id"], affilut.hash_password(PASSWORD))
    pages = ["/dashboard", "/dashboard/affiliates", f"/dashboard/affiliates/{affiliate['id']}", "/dashboard/conversions",
             f"/dashboard/affiliates?q={XSS}"]
    for path in pages:
        res = app.get(path)
        assert XSS not in res.text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in app.get("/dashboard/affiliates").text
    portal = type(app)(affilut.app)
    res = sign_in(portal, "x@example.com", path=f"/portal/signin/{account['id']}", status=303).follow()
    assert XSS not in res.text and "&lt;script&gt;" in res.text


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(app, db, merchant):
    affiliate = new_affiliate(db, merchant["account"]["id"], name="=HYPERLINK(\"http://evil\")", email="e@example.com")
    affilut.record_manual_conversion(db, merchant["account"], affiliate["id"], 5000)
    rows = list(csv.reader(io.StringIO(app.get("/dashboard/conversions.csv").text)))
    assert rows[1][3].startswith("'=")


@pytest.fixture
def two_tenants(app, db, merchant):
    other = make_account(db, "Rival")
    add_user(db, other["id"], "rival@rival.example")
    theirs = new_affiliate(db, other["id"], "Their Affiliate", "theirs@example.com")
    conversion = approved_conversion(db, other, theirs["id"], 9900)
    key_id, _ = affilut.create_api_key(db, other["id"], "theirs")
    ours = new_affiliate(db, merchant["account"]["id"], "Our Affiliate", "ours@example.com")
    return {"other": other, "theirs": theirs, "conversion": conversion, "key_id": key_id, "ours": ours}


def test_a_user_only_ever_sees_their_own_account(app, db, two_tenants):
    t = two_tenants
    for path in ["/dashboard", "/dashboard/affiliates", "/dashboard/conversions", "/dashboard/payouts",
                 "/dashboard/settings/keys", "/dashboard/settings/team", "/dashboard/conversions.csv",
                 "/dashboard/payouts/due.csv?format=generic", f"/dashboard/conversions?affiliate_id={t['theirs']['id']}"]:
        text = app.get(path).text
        assert "Their Affiliate" not in text and "rival@" not in text and t["conversion"]["id"] not in text, path
    app.get(f"/dashboard/affiliates/{t['theirs']['id']}", status=404)
    csrf = csrf_of(app.get("/dashboard"))
    before = snapshot(db)
    app.post(f"/dashboard/affiliates/{t['theirs']['id']}/status", {"csrf": csrf, "action": "ban"}, status=404)
    app.post(f"/dashboard/affiliates/{t['theirs']['id']}/commission", {"csrf": csrf, "commission_override": "90"},
             status=404)
    app.post(f"/dashboard/affiliates/{t['theirs']['id']}/invite", {"csrf": csrf}, status=404)
    app.post("/dashboard/conversions/status", {"csrf": csrf, "action": "pay", "id": t["conversion"]["id"]}, status=303)
    refused = app.post("/dashboard/conversions/status", {"csrf": csrf, "row_action": f"pay:{t['conversion']['id']}"},
                       status=303)
    assert refused.headers["Location"].endswith("/dashboard/conversions?notice=conversion_unchanged_not_found")
    app.post("/dashboard/conversions/new", {"csrf": csrf, "affiliate_id": t["theirs"]["id"], "amount": "10"},
             status=404)
    digest = affilut.due_payouts(db, t["other"])[0]["digest"]
    app.post("/dashboard/payouts", {"csrf": csrf, "item": f"{t['theirs']['id']}:usd:{digest}"}, status=404)
    app.post(f"/dashboard/settings/keys/{t['key_id']}/revoke", {"csrf": csrf}, status=404)
    rival = db.execute("SELECT id FROM users WHERE email = 'rival@rival.example'").fetchone()[0]
    app.post(f"/dashboard/settings/team/{rival}/remove", {"csrf": csrf}, status=404)
    assert snapshot(db) == before


def test_affiliate_and_merchant_sessions_do_not_cross(app, db, merchant):
    account = merchant["account"]
    affiliate = new_affiliate(db, account["id"])
    affilut.set_affiliate_password(db, affiliate["id"], affilut.hash_password(PASSWORD))
    portal = type(app)(affilut.app)
    sign_in(portal, "jane@example.com", path=f"/portal/signin/{account['id']}", status=303)
    assert portal.get("/dashboard", status=303).headers["Location"].startswith("/signin")
    portal.set_cookie("affilut_session", portal.cookies["affilut_portal"])  # an affiliate token as a user's
    assert portal.get("/dashboard", status=303).headers["Location"].startswith("/signin")
    assert app.get("/portal", status=303).headers["Location"].startswith("/portal/signin")


# -- Payouts ------------------------------------------------------------------------------------------------


def test_payout_nets_adjustments_and_flips_exactly_those_conversions(app, db, merchant):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    a = approved_conversion(db, account, jane["id"], 10000)    # 1000 commission
    b = approved_conversion(db, account, jane["id"], 5000)     # 500
    adj = adjustment(db, account["id"], jane["id"], a["id"], -300)
    pending = affilut.record_manual_conversion(db, account, jane["id"], 7000)
    res = app.get("/dashboard/payouts")
    assert "$12.00" in res.text  # 1000 + 500 - 300
    res = form_for(res, "/dashboard/payouts").submit(status=303).follow()
    assert "Payout recorded" in res.text
    payout = db.execute("SELECT * FROM payouts").fetchone()
    assert (payout["amount_cents"], payout["conversion_count"], payout["paid_to"], payout["created_by"]) == \
        (1200, 3, "jane@example.com", merchant["user"]["id"])
    rows = {r["id"]: r for r in db.execute("SELECT id, status, payout_id FROM conversions")}
    for conversion_id in (a["id"], b["id"], adj):
        assert (rows[conversion_id]["status"], rows[conversion_id]["payout_id"]) == ("paid", payout["id"])
    assert (rows[pending["id"]]["status"], rows[pending["id"]]["payout_id"]) == ("pending", None)
    assert "Nobody is owed anything" in app.get("/dashboard/payouts").text
    assert "$12.00" in app.get(f"/dashboard/affiliates/{jane['id']}").text


def test_payout_minimum_holds_back_small_balances(app, db, merchant):
    account = merchant["account"]
    db.execute("UPDATE accounts SET payout_minimum_cents = 5000 WHERE id = ?", (account["id"],))
    account = affilut.get_account(db, account["id"])
    small = new_affiliate(db, account["id"], "Small", "small@example.com")
    big = new_affiliate(db, account["id"], "Big", "big@example.com")
    approved_conversion(db, account, small["id"], 10000)       # 1000 < 5000
    approved_conversion(db, account, big["id"], 60000)         # 6000
    due = {item["name"]: item for item in affilut.due_payouts(db, account)}
    assert not due["Small"]["eligible"] and due["Big"]["eligible"]
    res = app.get("/dashboard/payouts")
    assert "below minimum" in res.text
    app.post("/dashboard/payouts", {"csrf": csrf_of(res), "item": f"{small['id']}:usd:{due['Small']['digest']}"},
             status=409)
    assert db.execute("SELECT COUNT(*) FROM payouts").fetchone()[0] == 0
    paypal = app.get("/dashboard/payouts/due.csv?format=paypal&currency=usd").text
    assert "small@example.com" not in paypal and "big@example.com" in paypal




@pytest.mark.parametrize("minimum", [0, 5000])
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_the_payout_minimum_is_one_rule_for_the_page_the_payout_and_the_csv(app, db, merchant, minimum, delta):
    """Owed the minimum - 1, the minimum, or + 1 minor unit (with a minimum of 0: -1, 0, 1): the payouts
    page, paying it and the payouts-due CSVs agree, because they compare with one number."""
    account = merchant["account"]
    db.execute("UPDATE accounts SET payout_minimum_cents = ? WHERE id = ?", (minimum, account["id"]))
    account = affilut.get_account(db, account["id"])
    jane = new_affiliate(db, account["id"])
    sale = approved_conversion(db, account, jane["id"], 1000)  # 100 commission
    owed = minimum + delta
    if owed != 100:
        adjustment(db, account["id"], jane["id"], sale["id"], owed - 100)
    payable = owed > 0 and owed >= minimum
    (item,) = affilut.due_payouts(db, account)
    assert (item["amount_cents"], item["eligible"]) == (owed, payable)
    generic = list(csv.reader(io.StringIO(app.get("/dashboard/payouts/due.csv").text)))
    assert [r[0] for r in generic[1:]] == ([jane["id"]] if payable else [])
    paypal = app.get("/dashboard/payouts/due.csv?format=paypal&currency=usd").text
    assert ("jane@example.com" in paypal) == payable
    res = app.post("/dashboard/payouts", {"csrf": csrf_of(app.get("/dashboard/payouts")),
                                          "item": f"{jane['id']}:usd:{item['digest']}"}, status=303 if payable else 409)
    assert db.execute("SELECT COUNT(*) FROM payouts").fetchone()[0] == int(payable), res.status

def test_a_rows_mark_paid_is_a_payout_under_the_minimum_like_the_payouts_page(app, db, merchant):
    account = merchant["account"]
    db.execute("UPDATE accounts SET payout_minimum_cents = 1000 WHERE id = ?", (account["id"],))
    jane = new_affiliate(db, account["id"])
    small = approved_conversion(db, account, jane["id"], 9990)   # 999: one cent below the minimum
    exact = approved_conversion(db, account, jane["id"], 10000)  # 1000: the minimum itself
    res = app.get("/dashboard/conversions?status=approved")
    refused = form_for(res, "/dashboard/conversions/status").submit("row_action", value=f"pay:{small['id']}",
                                                                    status=303).follow()
    # back on the list it came from, saying why
    assert refused.request.path_qs.startswith("/dashboard/conversions?status=approved")
    assert refused.html.find(class_="notice").text == \
        "That conversion was left as it was: its affiliate is owed less than the payout minimum."
    form_for(res, "/dashboard/conversions/status").submit("row_action", value=f"pay:{exact['id']}", status=303)
    payout = db.execute("SELECT * FROM payouts").fetchone()
    assert (payout["amount_cents"], payout["conversion_count"], payout["created_by"]) == \
        (1000, 1, merchant["user"]["id"])
    assert {r[0]: r[1:] for r in db.execute("SELECT id, status, payout_id FROM conversions")} == {
        small["id"]: ("approved", None), exact["id"]: ("paid", payout["id"])}
    # The payouts page and its CSVs tell the same story: paid 10.00, 9.99 still owed.
    page = app.get("/dashboard/payouts")
    assert "$9.99" in page.text and "$10.00" in page.text
    history = list(csv.reader(io.StringIO(app.get("/dashboard/payouts/history.csv").text)))
    assert [(r[0], r[5], r[7]) for r in history[1:]] == [(payout["id"], "10.00", "1")]
    assert "9.99" not in app.get("/dashboard/payouts/due.csv").text  # below the minimum: not in the file

def test_a_negative_balance_is_never_paid(db, merchant):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    a = approved_conversion(db, account, jane["id"], 1000)
    adjustment(db, account["id"], jane["id"], a["id"], -500)
    (item,) = affilut.due_payouts(db, account)
    assert item["amount_cents"] == -400 and not item["eligible"]
    with pytest.raises(affilut.ApiError) as refused:
        affilut.mark_payouts_paid(db, account, [(jane["id"], "usd", item["digest"])])
    assert refused.value.status == 409


def test_mark_paid_refuses_when_what_is_owed_changed_and_pays_nothing(app, db, merchant):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    bob = new_affiliate(db, account["id"], "Bob", "bob@example.com")
    approved_conversion(db, account, jane["id"], 10000)
    approved_conversion(db, account, bob["id"], 10000)
    res = app.get("/dashboard/payouts")
    mark_all = [f for f in res.forms.values() if f.action == "/dashboard/payouts" and "note" in f.fields][0]
    approved_conversion(db, account, bob["id"], 2000)   # approved after the page was shown
    res = mark_all.submit(status=409)
    assert "Bob is owed changed since the page was shown" in res.text
    # Jane's part was still right, but the payouts share one transaction: nobody is paid
    assert db.execute("SELECT COUNT(*) FROM payouts").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM conversions WHERE status = 'paid'").fetchone()[0] == 0
    res = app.get("/dashboard/payouts")
    assert "$12.00" in res.text  # the fresh page shows Bob's new total


def test_mark_paid_refuses_when_an_amount_changed_though_the_conversions_are_the_same(app, db, merchant):
    # The merchant exported the PayPal file and sent $100; a partial refund then cut the commission
    # of the very same conversion. Recording a $70 payout would leave $30 paid and never clawed back.
    from stripe_events import charge, deliver, event
    account = merchant["account"]
    db.execute("UPDATE accounts SET webhook_secret = 'whsec_shop' WHERE id = ?", (account["id"],))
    account = affilut.get_account(db, account["id"])
    jane = new_affiliate(db, account["id"])
    sale = charge("ch_1", 10000, 1_700_000_000, metadata={"affiliate_id": jane["id"]})
    deliver(app, account, event("charge.succeeded", sale, int(affilut.now_ms() / 1000)))
    conversion_id = db.execute("SELECT id FROM conversions").fetchone()[0]
    affilut.set_conversion_status(db, account["id"], conversion_id, "approved")
    res = app.get("/dashboard/payouts")
    assert "$10.00" in res.text
    sale.update(amount_refunded=3000)
    deliver(app, account, event("charge.refunded", sale, int(affilut.now_ms() / 1000)))
    assert db.execute("SELECT commission_cents FROM conversions").fetchone()[0] == 700
    form_for(res, "/dashboard/payouts").submit(status=409)
    assert db.execute("SELECT COUNT(*) FROM payouts").fetchone()[0] == 0
    assert "$7.00" in app.get("/dashboard/payouts").text


def test_mark_all_pays_everyone_over_the_minimum_in_one_go(app, db, merchant):
    account = merchant["account"]
    for i in range(3):
        approved_conversion(db, account, new_affiliate(db, account["id"], f"A{i}", f"a{i}@example.com")["id"], 1000 * (i + 1))
    res = app.get("/dashboard/payouts")
    form = [f for f in res.forms.values() if f.action == "/dashboard/payouts" and "note" in f.fields][0]
    form["note"] = "PayPal batch 42"
    form.submit(status=303)
    payouts = db.execute("SELECT amount_cents, note FROM payouts ORDER BY amount_cents").fetchall()
    assert [tuple(p) for p in payouts] == [(100, "PayPal batch 42"), (200, "PayPal batch 42"), (300, "PayPal batch 42")]


def test_payout_csv_files(app, db, merchant):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    bob = new_affiliate(db, account["id"], "Bob, Jr.", "bob@example.com")
    db.execute("UPDATE affiliates SET payout_email = 'jane.paypal@example.com' WHERE id = ?", (jane["id"],))
    approved_conversion(db, account, jane["id"], 123456)
    approved_conversion(db, account, bob["id"], 5000)
    approved_conversion(db, account, bob["id"], 7000, currency="eur")
    paypal = app.get("/dashboard/payouts/due.csv?format=paypal&currency=usd")
    assert paypal.content_type == "text/csv" and "attachment" in paypal.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(paypal.text)))
    assert sorted(rows) == sorted([
        ["jane.paypal@example.com", "123.46", "USD", jane["id"], "Affiliate commission from Shop", "PAYPAL"],
        ["bob@example.com", "5.00", "USD", bob["id"], "Affiliate commission from Shop", "PAYPAL"]])
    assert all(len(row[3]) <= 30 for row in rows)  # PayPal's customer id limit
    eur = list(csv.reader(io.StringIO(app.get("/dashboard/payouts/due.csv?format=paypal&currency=eur").text)))
    assert eur == [["bob@example.com", "7.00", "EUR", bob["id"], "Affiliate commission from Shop", "PAYPAL"]]
    generic = list(csv.DictReader(io.StringIO(app.get("/dashboard/payouts/due.csv?format=generic").text)))
    assert {(r["name"], r["amount"], r["currency"], r["conversions"]) for r in generic} == \
        {("Jane Smith", "123.46", "USD", "1"), ("Bob, Jr.", "5.00", "USD", "1"), ("Bob, Jr.", "7.00", "EUR", "1")}
    for item in affilut.due_payouts(db, account):
        affilut.mark_payouts_paid(db, account, [(item["affiliate_id"], item["currency"], item["digest"])])
    history = list(csv.DictReader(io.StringIO(app.get("/dashboard/payouts/history.csv").text)))
    assert sorted(r["amount"] for r in history) == ["123.46", "5.00", "7.00"]
    assert app.get("/dashboard/payouts/due.csv?format=paypal&currency=usd").text == ""


@pytest.mark.parametrize("currency", ["us", "usdd", "us1", "u%0D%0Ad", 'us"', "%C3%BCsd", "%E2%84%AAur"])
def test_payout_csv_refuses_a_currency_that_is_not_three_letters(app, db, merchant, currency):
    approved_conversion(db, merchant["account"], new_affiliate(db, merchant["account"]["id"])["id"], 5000)
    res = app.get(f"/dashboard/payouts/due.csv?format=paypal&currency={currency}", status=400)
    assert res.content_type == "text/html" and "Content-Disposition" not in res.headers
    assert "The currency must be a three-letter code such as usd." in res.text
    assert "Traceback" not in res.text


# -- Affiliates and conversions pages ------------------------------------------------------------------------


def test_add_approve_pause_ban_reactivate_and_override(app, db, merchant):
    res = app.get("/dashboard/affiliates")
    form = form_for(res, "/dashboard/affiliates")
    form["name"], form["email"], form["commission_override"] = "Zoë Ünïcode", "zoe@example.com", "12.5"
    res = form.submit(status=303).follow()
    zoe = db.execute("SELECT * FROM affiliates").fetchone()
    assert (zoe["name"], zoe["status"], zoe["commission_override"]) == ("Zoë Ünïcode", "active", "12.5")
    assert f"/r/{zoe['short_code']}" in res.text
    for action, status, reason in [("pause", "paused", "Spammy ads"), ("reactivate", "active", ""),
                                   ("ban", "banned", "Fraud"), ("reactivate", "active", "")]:
        res = app.get(f"/dashboard/affiliates/{zoe['id']}")
        form = form_for(res, f"/dashboard/affiliates/{zoe['id']}/status")
        if "reason" in form.fields:
            form["reason"] = reason
        form.submit("action", value=action, status=303)
        row = db.execute("SELECT status, status_reason FROM affiliates").fetchone()
        assert (row["status"], row["status_reason"]) == (status, reason or None)
    form = form_for(app.get(f"/dashboard/affiliates/{zoe['id']}"), f"/dashboard/affiliates/{zoe['id']}/commission")
    form["commission_override"] = ""
    form.submit(status=303)
    assert db.execute("SELECT commission_override FROM affiliates").fetchone()[0] is None
    form["commission_override"] = "150"
    assert "percent from 0 to 100" in form.submit(status=400).text


def test_affiliate_list_searches_filters_and_pages(app, db, merchant):
    account_id = merchant["account"]["id"]
    for i in range(30):
        new_affiliate(db, account_id, f"Partner {i:02d}", f"p{i}@example.com", "pending" if i % 3 == 0 else "active")
    new_affiliate(db, account_id, "100%_match", "odd@example.com")
    first = app.get("/dashboard/affiliates")
    assert first.text.count('href="/dashboard/affiliates/aff_') == 25 and "Older →" in first.text
    second = first.click(linkid=None, description="Older →")
    assert second.text.count('href="/dashboard/affiliates/aff_') == 6 and "Older →" not in second.text
    assert second.click(description="← Newer").text.count('href="/dashboard/affiliates/aff_') == 25
    assert app.get("/dashboard/affiliates?status=pending").text.count('badge-pending') == 10
    assert "Partner 07" in app.get("/dashboard/affiliates?q=partner+07").text
    assert app.get("/dashboard/affiliates?q=%25_").text.count('href="/dashboard/affiliates/aff_') == 1  # wildcards literal
    newest_pending = db.execute("SELECT id FROM affiliates WHERE status = 'pending' ORDER BY id DESC").fetchone()[0]
    res = app.get("/dashboard/affiliates?status=pending")
    form_for(res, f"/dashboard/affiliates/{newest_pending}/status").submit("action", value="approve", status=303)
    assert db.execute("SELECT COUNT(*) FROM affiliates WHERE status = 'pending'").fetchone()[0] == 9


def test_conversions_record_filter_act_in_bulk_and_export(app, db, merchant):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    bob = new_affiliate(db, account["id"], "Bob", "bob@example.com")
    res = app.get("/dashboard/conversions")
    form = form_for(res, "/dashboard/conversions/new")
    form["affiliate_id"], form["amount"], form["external_id"] = jane["id"], "1,049.50", "inv-9"
    form.submit(status=303)
    row = db.execute("SELECT * FROM conversions").fetchone()
    assert (row["amount_cents"], row["commission_cents"], row["kind"], row["external_id"]) == (104950, 10495, "manual", "inv-9")
    form["amount"] = "12.345"
    assert "amount like 49.00" in form.submit(status=400).text
    form["amount"] = "5"
    assert "already recorded" in form.submit(status=409).text
    for i in range(3):
        affilut.record_manual_conversion(db, account, bob["id"], 1000 * (i + 1))
    ids = [r[0] for r in db.execute("SELECT id FROM conversions WHERE affiliate_id = ?", (bob["id"],))]
    res = app.get(f"/dashboard/conversions?affiliate_id={bob['id']}")
    assert res.text.count('name="id"') == 3
    bulk = form_for(res, "/dashboard/conversions/status")
    for checkbox in bulk.fields["id"]:
        checkbox.checked = True
    bulk["reason"] = "Test orders"
    res = bulk.submit("action", value="reject", status=303)
    assert res.headers["Location"].endswith(f"/dashboard/conversions?affiliate_id={bob['id']}&notice=conversions_updated")
    assert {tuple(r) for r in db.execute("SELECT status, reason FROM conversions WHERE affiliate_id = ?", (bob["id"],))} \
        == {("rejected", "Test orders")}
    # one row's own buttons: approve, then mark paid; a rejected one stays rejected
    res = app.get("/dashboard/conversions?status=pending")
    form_for(res, "/dashboard/conversions/status").submit("row_action", value=f"approve:{row['id']}", status=303)
    res = app.get("/dashboard/conversions?status=approved")
    form_for(res, "/dashboard/conversions/status").submit("row_action", value=f"pay:{row['id']}", status=303)
    assert db.execute("SELECT status FROM conversions WHERE id = ?", (row["id"],)).fetchone()[0] == "paid"
    # Paid and rejected rows are final: no box to tick; a stale row button is refused back on the list.
    res = app.get(f"/dashboard/conversions?affiliate_id={bob['id']}")
    ticks = [box["value"] for box in res.html.find_all("input", {"type": "checkbox", "name": "id"})]
    final = db.execute("SELECT COUNT(*) FROM conversions WHERE affiliate_id = ? AND status IN ('paid', 'rejected')",
                       (bob["id"],)).fetchone()[0]
    assert len(res.html.select("table.conversions-table tbody tr")) == final >= 2 and ticks == []
    res = app.post("/dashboard/conversions/status", {"csrf": csrf_of(res), "row_action": f"approve:{row['id']}",
                                                     "back": "/dashboard/conversions?status=paid"}, status=303)
    assert res.headers["Location"].endswith("/dashboard/conversions?status=paid&notice=conversion_unchanged")
    res = res.follow()
    assert "its status does not allow that action" in res.html.find(class_="notice").text
    # A bulk action changes the rows it can, leaves the rest, and goes back to the list saying so.
    pending = affilut.record_manual_conversion(db, account, bob["id"], 500)
    res = app.post("/dashboard/conversions/status", {"csrf": csrf_of(res), "action": "approve",
                                                     "id": ids + [pending["id"]], "back": "/dashboard/conversions"},
                   status=303)
    assert res.headers["Location"].endswith("/dashboard/conversions?changed=1&skipped=3&notice=conversions_partly_updated")
    assert "1 conversion(s) changed; 3 left as they were" in res.follow().text
    assert db.execute("SELECT status FROM conversions WHERE id = ?", (pending["id"],)).fetchone()[0] == "approved"
    assert affilut.notice_text({"notice": "conversions_partly_updated", "changed": "1", "skipped": "<b>"}) is None
    # CSV of the current filter
    rows = list(csv.DictReader(io.StringIO(app.get(f"/dashboard/conversions.csv?status=rejected").text)))
    assert len(rows) == 3 and {r["affiliate_name"] for r in rows} == {"Bob"} and {r["reason"] for r in rows} == {"Test orders"}
    assert sorted(r["amount"] for r in rows) == ["10.00", "20.00", "30.00"]
    everything = list(csv.DictReader(io.StringIO(app.get("/dashboard/conversions.csv").text)))
    assert len(everything) == 5
    today = affilut.format_day(affilut.now_ms())
    assert len(list(csv.DictReader(io.StringIO(app.get(f"/dashboard/conversions.csv?from={today}&to={today}").text)))) == 5
    assert list(csv.DictReader(io.StringIO(app.get("/dashboard/conversions.csv?to=2000-01-01").text))) == []


def test_overview_counts_clicks_conversions_and_money(app, db, merchant):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    now = affilut.now_ms()
    for i in range(8):
        db.execute("INSERT INTO clicks (id, account_id, affiliate_id, created_at) VALUES (?, ?, ?, ?)",
                   (affilut.new_id("clk"), account["id"], jane["id"], now - (i % 2) * 40 * affilut.DAY_MS))
    linked = approved_conversion(db, account, jane["id"], 200000)
    db.execute("UPDATE conversions SET click_id = (SELECT MIN(id) FROM clicks) WHERE id = ?", (linked["id"],))
    approved_conversion(db, account, jane["id"], 50000)  # a sale recorded by hand: no click to divide by
    rejected = affilut.record_manual_conversion(db, account, jane["id"], 999999)
    affilut.set_conversion_status(db, account["id"], rejected["id"], "rejected")
    recent = affilut.program_stats(db, account["id"], now - 29 * affilut.DAY_MS)
    assert (recent["clicks"], recent["conversions"], recent["linked"], recent["other"], recent["revenue"],
            recent["commission"]) == (4, 2, 1, 1, [("usd", 250000)], [("usd", 25000)])
    assert affilut.program_stats(db, account["id"])["clicks"] == 8
    res = app.get("/dashboard")
    # The rate is the link's: one conversion through a click over 4 clicks (30 days) and over 8 (all time).
    assert "$2,500.00" in res.text and "$250.00" in res.text and "25.0%" in res.text and "12.5%" in res.text
    assert "Link conversion rate" in res.text and "1 through a link · 1 other sources" in res.text
    assert res.text.count('class="clicks"') == 30 and "<svg" in res.text and "Jane Smith" in res.text


@pytest.mark.parametrize("cents, currency, text", [
    (123456, "usd", "$1,234.56"), (-300, "eur", "−€3.00"), (500, "jpy", "¥500"), (1999, "chf", "19.99 CHF"), (0, "usd", "$0.00")])
def test_money_is_shown_with_its_currency(cents, currency, text):
    assert affilut.format_money(cents, currency) == text


# -- Settings, keys, team ------------------------------------------------------------------------------------


def test_program_settings_save_and_show_webhook_and_snippet(app, db, merchant):
    account_id = merchant["account"]["id"]
    res = app.get("/dashboard/settings")
    assert f"http://localhost:80/webhooks/stripe/{account_id}" in res.text or \
        f"http://localhost/webhooks/stripe/{account_id}" in res.text
    form = form_for(res, "/dashboard/settings")
    form["name"], form["default_commission"], form["attribution_window_days"] = "New Name", "12.5", "45"
    form["hold_days"], form["renewal_months"], form["payout_minimum"] = "14", "12", "50.00"
    form["landing_url"] = "https://new.example/"
    res = form.submit(status=303).follow()
    form = form_for(res, "/dashboard/settings/webhook-secret")
    form["webhook_secret"] = "whsec_abc"
    res = form.submit(status=303).follow()
    assert "Events signed with the previous one are refused" in res.text
    account = affilut.get_account(db, account_id)
    assert (account["name"], account["default_commission"], account["attribution_window_days"], account["hold_days"],
            account["renewal_months"], account["payout_minimum_cents"], account["webhook_secret"],
            account["landing_url"]) == ("New Name", "12.5", 45, 14, 12, 5000, "whsec_abc", "https://new.example/")
    snippet = res.html.find(id="snippet").text
    assert re.fullmatch(r'<script src="http://localhost(:80)?/snippet\.js" data-attribution-days="45"></script>', snippet)
    checkout = res.html.find(id="checkout-code").text
    assert "window.affilut.metadata()" in checkout and "payment_intent_data: {metadata: referral}" in checkout
    form = form_for(res, "/dashboard/settings")
    form["renewal_months"], form["attribution_window_days"] = "", "0"
    assert "from 1 to 3650" in form.submit(status=400).text
    form["attribution_window_days"] = "60"
    form.submit(status=303)
    assert affilut.get_account(db, account_id)["renewal_months"] is None


def test_api_key_is_shown_once_then_only_its_prefix(app, db, merchant):
    res = app.get("/dashboard/settings/keys")
    form = form_for(res, "/dashboard/settings/keys")
    form["name"] = "billing"
    res = form.submit(status=200)
    plaintext = res.html.find(id="new-key")["value"]
    assert affilut.API_KEY_PATTERN.fullmatch(plaintext)
    app.get("/api/v1/affiliates", headers=bearer(plaintext), status=200)
    listing = app.get("/dashboard/settings/keys")
    assert plaintext not in listing.text and plaintext[:12] in listing.text and "billing" in listing.text
    key_id = db.execute("SELECT id FROM api_keys").fetchone()[0]
    form_for(listing, f"/dashboard/settings/keys/{key_id}/revoke").submit(status=303)
    app.get("/api/v1/affiliates", headers=bearer(plaintext), status=401)
    assert "revoked" in app.get("/dashboard/settings/keys").text


def test_team_invite_link_works_once_and_only_for_its_account(app, db, merchant):
    res = app.get("/dashboard/settings/team")
    form = form_for(res, "/dashboard/settings/team")
    form["email"] = "colleague@shop.example"
    res = form.submit(status=200)
    link = res.html.find(id="invite-link")["value"]
    token = link.rsplit("/", 1)[1]
    assert db.execute("SELECT token_hash FROM invites").fetchone()[0] == affilut.token_hash(token)
    assert token not in app.get("/dashboard/settings/team").text
    colleague = type(app)(affilut.app)
    res = colleague.get(f"/invite/{token}")
    assert "colleague@shop.example" in res.text
    form = res.forms[0]
    form["password"], form["password_again"] = PASSWORD, PASSWORD + "x"
    assert "The two passwords differ" in form.submit(status=400).text
    form["password_again"] = PASSWORD
    res = form.submit(status=303).follow()
    assert res.request.path == "/dashboard" and "Shop" in res.text
    user = db.execute("SELECT * FROM users WHERE email = 'colleague@shop.example'").fetchone()
    assert user["account_id"] == merchant["account"]["id"]
    assert "expired" in type(app)(affilut.app).get(f"/invite/{token}", status=404).text
    colleague.reset()
    sign_in(colleague, "colleague@shop.example", status=303)
    # removing a colleague ends their sessions
    res = app.get("/dashboard/settings/team")
    form_for(res, f"/dashboard/settings/team/{user['id']}/remove").submit(status=303)
    assert colleague.get("/dashboard", status=303).headers["Location"].startswith("/signin")


# -- Roles: owners and members ---------------------------------------------------------------------------------


@pytest.fixture
def member(app, db, merchant):
    """A member of the merchant's program, signed in in a browser of their own."""
    user_id = add_user(db, merchant["account"]["id"], "member@shop.example")
    browser = type(app)(affilut.app)
    sign_in(browser, "member@shop.example", status=303)
    return {"app": browser, "id": user_id}


def test_a_member_runs_the_program_but_never_sees_the_secret_keys_or_team(app, db, merchant, member):
    account_id, owner_id = merchant["account"]["id"], merchant["user"]["id"]
    affilut.rotate_webhook_secret(db, account_id, "whsec_topsecret")
    key_id, _ = affilut.create_api_key(db, account_id, "billing")
    browser = member["app"]
    for path in ["/dashboard", "/dashboard/affiliates", "/dashboard/conversions", "/dashboard/payouts",
                 "/dashboard/settings"]:
        text = browser.get(path, status=200).text
        assert "whsec_topsecret" not in text, path
        assert 'href="/dashboard/settings/keys"' not in text and 'href="/dashboard/settings/team"' not in text, path
    settings = browser.get("/dashboard/settings")
    assert settings.html.find("form", {"action": "/dashboard/settings/webhook-secret"}) is None
    assert "an owner of the program puts its signing secret here" in settings.text
    for path in ["/dashboard/settings/keys", "/dashboard/settings/team"]:
        res = browser.get(path, status=403)
        assert "Owners only" in res.text and "Only an owner of this program" in res.text
        assert "billing" not in res.text and "owner@shop.example" not in res.text
    csrf = csrf_of(settings)
    before = snapshot(db)
    browser.post("/dashboard/settings/keys", {"csrf": csrf, "name": "mine"}, status=403)
    browser.post(f"/dashboard/settings/keys/{key_id}/revoke", {"csrf": csrf}, status=403)
    browser.post("/dashboard/settings/team", {"csrf": csrf, "email": "friend@else.example", "role": "owner"},
                 status=403)
    browser.post(f"/dashboard/settings/team/{owner_id}/remove", {"csrf": csrf}, status=403)
    browser.post("/dashboard/settings/webhook-secret", {"csrf": csrf, "webhook_secret": "whsec_mine"}, status=403)
    assert snapshot(db) == before
    # members keep the program's rules; a secret slipped into that form is not among them
    fields = {name: field[0].value for name, field in form_for(settings, "/dashboard/settings").fields.items() if name}
    browser.post("/dashboard/settings", {**fields, "name": "Run by member", "webhook_secret": "whsec_mine"},
                 status=303)
    account = affilut.get_account(db, account_id)
    assert (account["name"], account["webhook_secret"]) == ("Run by member", "whsec_topsecret")
    # and run it: add an affiliate, approve a conversion
    browser.post("/dashboard/affiliates", {"csrf": csrf, "name": "Mia Member", "email": "mia@example.com"})
    mia = db.execute("SELECT * FROM affiliates WHERE email = 'mia@example.com'").fetchone()
    conversion = affilut.record_manual_conversion(db, account, mia["id"], 5000)
    browser.post("/dashboard/conversions/status", {"csrf": csrf, "action": "approve", "id": conversion["id"]},
                 status=303)
    assert affilut.get_conversion(db, account_id, conversion["id"])["status"] == "approved"


def test_the_last_owner_cannot_be_removed_and_removal_ends_sessions_and_invites(app, db, merchant):
    account_id, first_id = merchant["account"]["id"], merchant["user"]["id"]
    form = form_for(app.get("/dashboard/settings/team"), "/dashboard/settings/team")
    form["email"], form["role"] = "second@shop.example", "owner"
    link = form.submit(status=200).html.find(id="invite-link")["value"]
    second = type(app)(affilut.app)
    form = second.get(link.split("localhost", 1)[1].lstrip(":80")).forms[0]
    form["password"] = form["password_again"] = PASSWORD
    form.submit(status=303)
    second_id = db.execute("SELECT id FROM users WHERE email = 'second@shop.example'").fetchone()[0]
    assert affilut.get_user(db, account_id, second_id)["role"] == "owner"
    assert 'href="/dashboard/settings/team"' in second.get("/dashboard/settings").text
    # an invited member removed before accepting: the link no longer works
    late_id, token = affilut.invite_user(db, account_id, "late@shop.example")
    form_for(app.get("/dashboard/settings/team"), f"/dashboard/settings/team/{late_id}/remove").submit(status=303)
    type(app)(affilut.app).get(f"/invite/{token}", status=404)
    # one owner removes the other: allowed while another remains; their sessions end; rotate what they saw
    res = form_for(second.get("/dashboard/settings/team"), f"/dashboard/settings/team/{first_id}/remove").submit(
        status=303).follow()
    assert "roll the secret in Stripe" in res.text and "revoke the keys" in res.text
    assert app.get("/dashboard", status=303).headers["Location"].startswith("/signin")
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE subject_id = ?", (first_id,)).fetchone()[0] == 0
    # the one left is the last owner: nobody removes them, not even themselves
    with pytest.raises(affilut.ApiError) as refused:
        affilut.remove_user(db, account_id, second_id)
    assert (refused.value.status, refused.value.code) == (409, "last_owner")
    csrf = csrf_of(second.get("/dashboard/settings/team"))
    second.post(f"/dashboard/settings/team/{second_id}/remove", {"csrf": csrf}, status=409)
    assert [tuple(r) for r in db.execute("SELECT id, role FROM users")] == [(second_id, "owner")]


def test_rotating_the_webhook_secret_refuses_events_signed_with_the_old_one(app, db, merchant):
    from stripe_events import charge, deliver, event
    account_id = merchant["account"]["id"]
    settings = app.get("/dashboard/settings")
    assert "No signing secret yet" in settings.text
    form = form_for(settings, "/dashboard/settings/webhook-secret")
    form["webhook_secret"] = "whsec_first"
    settings = form.submit(status=303).follow()
    assert settings.html.find(id="webhook-secret")["value"] == "whsec_first"
    account = affilut.get_account(db, account_id)
    deliver(app, account, event("charge.succeeded", charge("ch_1", 1000, 1_700_000_000), 1_700_000_000))
    form = form_for(settings, "/dashboard/settings/webhook-secret")
    form["webhook_secret"] = "nope"
    res = form.submit(status=400)
    assert "Webhook_secret must be a Stripe webhook signing secret" in res.text
    form["webhook_secret"] = "whsec_second"
    res = form.submit(status=303).follow()
    assert "make sure your Stripe endpoint signs with this one" in res.text
    evt = event("charge.succeeded", charge("ch_2", 1000, 1_700_000_000), 1_700_000_000)
    res = deliver(app, account, evt, secret="whsec_first", status=400)
    assert res.json["error"]["code"] == "invalid_signature"
    deliver(app, account, evt, secret="whsec_second", status=200)
    assert db.execute("SELECT COUNT(*) FROM stripe_events").fetchone()[0] == 2


def test_invites_expire(app, db, merchant):
    _, token = affilut.invite_user(db, merchant["account"]["id"], "late@shop.example")
    db.execute("UPDATE invites SET expires_at = ?", (affilut.now_ms() - 1,))
    app.get(f"/invite/{token}", status=404)
    with pytest.raises(affilut.ApiError):
        affilut.accept_invite(db, token, PASSWORD)


# -- Affiliate portal -----------------------------------------------------------------------------------------


def join(app, account_id, name="Pat Partner", email="pat@example.com", password=PASSWORD):
    form = app.get(f"/join/{account_id}").forms[0]
    form["name"], form["email"], form["password"], form["password_again"] = name, email, password, password
    return form.submit(expect_errors=True)


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "name"), ("email", "not-an-email", "email"), ("password", "short", "at least 10 characters"),
])
def test_a_sign_up_is_checked_before_its_password_is_hashed(app, db, merchant, monkeypatch, field, value, message):
    hashed = []
    monkeypatch.setattr(affilut, "hash_password", lambda password: hashed.append(password) or "scrypt$")
    fields = {"name": "Pat Partner", "email": "pat@example.com", "password": PASSWORD, field: value}
    form = app.get(f"/join/{merchant['account']['id']}").forms[0]
    form["name"], form["email"] = fields["name"], fields["email"]
    form["password"] = form["password_again"] = fields["password"]
    res = form.submit(status=400)
    assert message in res.text and hashed == []
    assert db.execute("SELECT COUNT(*) FROM affiliates").fetchone()[0] == 0


def test_a_sign_up_that_fails_part_way_leaves_no_affiliate_and_can_be_tried_again(app, db, merchant, monkeypatch):
    """The affiliate, its portal password and the application emails are one write: a failure after
    the insert leaves nothing behind, so the applicant's next try is not a duplicate email."""
    account_id = merchant["account"]["id"]
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    real = affilut.set_affiliate_password

    def disk_full(tx, affiliate_id, password_hash):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(affilut, "set_affiliate_password", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        affilut.join_program(db, account_id, "Pat Partner", "pat@example.com", PASSWORD)
    assert db.execute("SELECT COUNT(*) FROM affiliates").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    monkeypatch.setattr(affilut, "set_affiliate_password", real)
    row = affilut.join_program(db, account_id, "Pat Partner", "pat@example.com", PASSWORD)
    assert db.execute("SELECT COUNT(*) FROM affiliate_logins WHERE affiliate_id = ?", (row["id"],)).fetchone()[0] == 1


def test_sign_ups_from_one_address_are_limited(app, db, merchant, clock):
    account_id = merchant["account"]["id"]
    limit = affilut.VISITOR_LIMITS["join"]
    for i in range(limit):
        assert join(type(app)(affilut.app), account_id, email=f"pat{i}@example.com").status_int == 303
    res = join(type(app)(affilut.app), account_id, email="one.more@example.com")
    assert res.status_int == 429 and "Too many sign-ups from your address" in res.text
    assert db.execute("SELECT COUNT(*) FROM affiliates").fetchone()[0] == limit
    other = type(app)(affilut.app, extra_environ={"REMOTE_ADDR": "198.51.100.7"})
    assert join(other, account_id, email="elsewhere@example.com").status_int == 303
    clock.advance(60)
    assert join(type(app)(affilut.app), account_id, email="one.more@example.com").status_int == 303


def test_affiliate_signs_up_waits_for_approval_then_sees_earnings(app, db, merchant):
    account = merchant["account"]
    pat_browser = type(app)(affilut.app)
    res = join(pat_browser, account["id"])
    assert res.status_int == 303
    pat = db.execute("SELECT * FROM affiliates WHERE email = 'pat@example.com'").fetchone()
    assert pat["status"] == "pending" and pat["account_id"] == account["id"]
    portal = res.follow()
    assert "waiting for approval" in portal.text and f"/r/{pat['short_code']}" in portal.text
    assert join(type(app)(affilut.app), account["id"]).status_int == 400  # the email already joined
    # the merchant sees and approves the application
    assert "1 affiliate waiting for approval" in app.get("/dashboard").text
    res = app.get("/dashboard/affiliates?status=pending")
    form_for(res, f"/dashboard/affiliates/{pat['id']}/status").submit("action", value="approve", status=303)
    conversion = approved_conversion(db, account, pat["id"], 20000, "order-77")
    portal = pat_browser.get("/portal")
    assert "waiting for approval" not in portal.text and "order-77" in portal.text and "$20.00" in portal.text
    item = affilut.due_payouts(db, account)[0]
    affilut.mark_payouts_paid(db, account, [(pat["id"], "usd", item["digest"])])
    portal = pat_browser.get("/portal")
    assert "Payouts received" in portal.text and "pat@example.com" in portal.text
    assert db.execute("SELECT status FROM conversions WHERE id = ?", (conversion["id"],)).fetchone()[0] == "paid"
    # the link builder, without JavaScript
    built = pat_browser.get("/portal?to=/pricing?plan=pro").html.find(id="built-link")["value"]
    assert built.endswith(f"/r/{pat['short_code']}?to=%2Fpricing%3Fplan%3Dpro")
    # payout email
    form = form_for(portal, "/portal/payout-email")
    form["payout_email"] = "nope"
    assert "Payout_email must be an email address" in form.submit(status=400).text
    form["payout_email"] = "pat.paypal@example.com"
    form.submit(status=303)
    assert db.execute("SELECT payout_email FROM affiliates WHERE id = ?", (pat["id"],)).fetchone()[0] == \
        "pat.paypal@example.com"


def test_paused_or_banned_affiliates_sign_in_and_see_why(app, db, merchant):
    account = merchant["account"]
    pat_browser = type(app)(affilut.app)
    join(pat_browser, account["id"])
    pat = db.execute("SELECT * FROM affiliates").fetchone()
    affilut.set_affiliate_status(db, account["id"], pat["id"], "banned", "Trademark bidding")
    pat_browser.reset()
    res = sign_in(pat_browser, "pat@example.com", path=f"/portal/signin/{account['id']}", status=303).follow()
    assert "Your account is banned" in res.text and "Trademark bidding" in res.text and "earns nothing" in res.text


def test_affiliate_sign_in_is_per_program_and_throttled(app, db, merchant, clock):
    account = merchant["account"]
    join(type(app)(affilut.app), account["id"])
    other = make_account(db, "Other")
    browser = type(app)(affilut.app)
    sign_in(browser, "pat@example.com", path=f"/portal/signin/{other['id']}", status=401)
    which = browser.get("/portal/signin", status=404)  # two programs: which one?
    assert "Use the sign-in link your program gave you" in which.text
    # Its way out leads somewhere else: /portal would send a visitor with no session back here.
    way_out = which.html.select_one("main a.button")["href"]
    assert way_out == "/" and browser.get(way_out, status=303).headers["Location"] != "/portal/signin"
    unknown = browser.get("/portal/signin/acc_00000000000000000000000000", status=404)
    assert unknown.html.select_one("main a.button")["href"] == "/"
    for _ in range(5):
        sign_in(browser, "pat@example.com", "wrong password", path=f"/portal/signin/{account['id']}", status=401)
    sign_in(browser, "pat@example.com", path=f"/portal/signin/{account['id']}", status=429)
    clock.advance(31)
    res = sign_in(browser, "pat@example.com", path=f"/portal/signin/{account['id']}", status=303)
    assert res.headers["Location"].endswith("/portal")
    form_for(browser.get("/portal"), "/portal/signout").submit(status=303)
    assert browser.get("/portal", status=303)


def test_merchant_invites_an_affiliate_to_the_portal(app, db, merchant):
    res = app.get("/dashboard/affiliates")
    form = form_for(res, "/dashboard/affiliates")
    form["name"], form["email"], form["invite"] = "Ivy Invited", "ivy@example.com", True
    res = form.submit(status=200)
    link = res.html.find(id="invite-link")["value"]
    ivy = type(app)(affilut.app)
    form = ivy.get(link.replace("http://localhost:80", "").replace("http://localhost", "")).forms[0]
    form["password"] = form["password_again"] = PASSWORD
    portal = form.submit(status=303).follow()
    assert portal.request.path == "/portal" and "Hello, Ivy Invited" in portal.text
    assert db.execute("SELECT COUNT(*) FROM affiliate_logins").fetchone()[0] == 1


def test_join_page_of_an_unknown_program_is_404(app, db):
    app.get("/join/acc_nope", status=404)
