"""Email: every message affilut owes arrives once, through a real SMTP server in the test process
(aiosmtpd), to the right person with the right content; without SMTP nothing is lost."""

import re
import subprocess
import sys
import threading
import time

import pytest
import webtest
from aiosmtpd.controller import Controller

import affilut
from conftest import ROOT, bearer, free_port
from outbox_helpers import Mailbox

OWNER, MEMBER = "owner@shop.example", "member@shop.example"


@pytest.fixture
def mailbox(monkeypatch):
    """A real SMTP server on loopback; affilut is configured to send through it."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("AFFILUT_SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
    monkeypatch.setenv("AFFILUT_MAIL_FROM", "affiliates@shop.example")
    monkeypatch.setenv("AFFILUT_BASE_URL", "https://affiliates.shop.example")
    yield box
    controller.stop()


@pytest.fixture
def team(db, account):
    """The program's two merchant users, able to sign in."""
    for address in (OWNER, MEMBER):
        user_id, _ = affilut.invite_user(db, account["id"], address)
        db.execute("UPDATE users SET password_hash = 'set' WHERE id = :id", {"id": user_id})
    return account


def only(messages):
    assert len(messages) == 1, [m["subject"] for m in messages]
    return messages[0]


def test_each_email_arrives_once_to_the_right_person(app, db, api_key, team, mailbox, monkeypatch):
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    account = team
    applicant = affilut.join_program(db, account["id"], "Ann Applicant", "ann@example.com", "a long password")
    affilut.deliver_due(db)
    mail = only(mailbox.to("ann@example.com"))
    assert mail["subject"] == "Your application to Shop arrived"
    assert mail["message"]["From"] == "Shop <affiliates@shop.example>"
    assert "Hello Ann Applicant" in mail["text"] and "Ann Applicant" in mail["html"]
    for address in (OWNER, MEMBER):
        notice = only(mailbox.to(address))
        assert notice["subject"] == "New affiliate application: Ann Applicant"
        assert f"https://affiliates.shop.example/dashboard/affiliates/{applicant['id']}" in notice["text"]
        assert f'href="https://affiliates.shop.example/dashboard/affiliates/{applicant["id"]}"' in notice["html"]

    app.patch_json(f"/api/v1/affiliates/{applicant['id']}", {"status": "active"}, headers=bearer(api_key))
    affilut.deliver_due(db)
    approved = mailbox.to("ann@example.com")[1]
    assert approved["subject"] == "You are approved: welcome to the Shop affiliate program"
    assert f"https://affiliates.shop.example/portal/signin/{account['id']}" in approved["text"]

    conversion = app.post_json("/api/v1/conversions", {"affiliate_id": applicant["id"], "amount_cents": 4900},
                               headers=bearer(api_key), status=201).json
    affilut.deliver_due(db)
    commission = mailbox.to("ann@example.com")[2]
    assert commission["subject"] == "New commission: $4.90 from Shop"
    assert "on a sale of $49.00" in commission["text"]

    affilut.set_mail_preference(db, applicant["id"], "new_commission", False)  # turned off in the portal
    app.post_json("/api/v1/conversions", {"affiliate_id": applicant["id"], "amount_cents": 1000},
                  headers=bearer(api_key), status=201)
    affilut.deliver_due(db)
    assert len(mailbox.to("ann@example.com")) == 3

    app.patch_json(f"/api/v1/conversions/{conversion['id']}", {"status": "approved"}, headers=bearer(api_key))
    [due] = affilut.due_payouts(db, account)
    [payout_id] = affilut.mark_payouts_paid(db, account, [(due["affiliate_id"], due["currency"], due["digest"])],
                                            note="June commission")
    affilut.deliver_due(db)
    paid = mailbox.to("ann@example.com")[3]
    assert paid["subject"] == "Shop sent you $4.90"
    assert "$4.90 (USD) for 1 conversion, to ann@example.com" in paid["text"]
    assert "June commission" in paid["text"] and payout_id in paid["text"]

    # each exactly once: nothing more is due, and nothing arrived twice
    assert affilut.deliver_due(db) == 0
    assert len(mailbox.messages) == 6
    assert len({m["message"]["Message-ID"] for m in mailbox.messages}) == 6
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0] == 0


def test_the_daily_digest_is_queued_once_per_user_and_day(db, team, mailbox):
    account = team
    affiliate = affilut.create_affiliate(db, account["id"], "Dee", "dee@example.com")
    for amount in (4900, 1000):
        affilut.record_manual_conversion(db, account, affiliate["id"], amount)
    yesterday = affilut.now_ms() - affilut.DAY_MS
    db.execute("UPDATE conversions SET created_at = :t", {"t": yesterday})
    member = db.execute("SELECT id FROM users WHERE email = :e", {"e": MEMBER}).fetchone()["id"]
    affilut.set_mail_preference(db, member, "daily_digest", False)
    assert affilut.queue_digests(db) == 1
    assert affilut.queue_digests(db) == 0  # a second run (or a second process) queues nothing more
    affilut.deliver_due(db)
    digest = only(mailbox.to(OWNER))
    assert digest["subject"] == f"Shop: 2 conversions on {affilut.format_day(yesterday)}"
    assert "USD: $59.00 in sales, $5.90 in commission." in digest["text"]
    assert "- Dee: $49.00 sale, $4.90 commission (pending)" in digest["text"]
    assert mailbox.to(MEMBER) == []



def test_the_digest_says_what_a_recount_of_the_days_rows_says_without_scanning_them(db, team, mailbox):
    account = team
    dee = affilut.create_affiliate(db, account["id"], "Dee", "dee@example.com")
    eve = affilut.create_affiliate(db, account["id"], "Eve", "eve@example.com")
    day = affilut.now_ms() // affilut.DAY_MS - 1
    yesterday = day * affilut.DAY_MS + 3_600_000
    ids = [affilut.record_manual_conversion(db, account, (dee, eve)[n % 2]["id"], 1000 + n)["id"] for n in range(54)]
    db.execute("UPDATE conversions SET created_at = :t + seq", {"t": yesterday})
    db.execute("UPDATE conversions SET currency = 'eur' WHERE id = :id", {"id": ids[1]})
    affilut.set_conversion_status(db, account["id"], ids[2], "approved")
    affilut.pay_conversion(db, account, ids[2])
    affilut.set_conversion_status(db, account["id"], ids[3], "rejected")  # not counted
    db.execute("UPDATE conversions SET created_at = :t WHERE id = :id",  # the day before: not counted
               {"t": yesterday - affilut.DAY_MS, "id": ids[4]})
    with affilut.transaction(db) as tx:  # a refund adjustment and a test-mode sale: not counted
        for kind, livemode, amount in (("adjustment", 1, -500), ("sale", 0, 7000)):
            affilut.insert_conversion(tx, {
                "id": affilut.new_id("cnv"), "account_id": account["id"], "affiliate_id": dee["id"],
                "stripe_charge_id": f"ch_{kind}", "amount_cents": amount, "commission_cents": amount // 10,
                "commission_rate": "10", "currency": "usd", "status": "approved", "kind": kind,
                "created_at": yesterday, "updated_at": yesterday, "livemode": livemode})
    recount = {r[0]: r[1:] for r in db.execute(
        """SELECT currency, COUNT(*), SUM(amount_cents), SUM(commission_cents) FROM conversions
           WHERE created_at / 86400000 = :day AND kind != 'adjustment' AND status != 'rejected' AND livemode = 1
           GROUP BY currency""", {"day": day})}
    assert sorted(recount) == ["eur", "usd"] and sum(c for c, _, _ in recount.values()) == 52

    statements = []
    db.set_trace_callback(statements.append)
    assert affilut.queue_digests(db) == 2  # both users want it
    db.set_trace_callback(None)
    read = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "conversions" in s]
    assert read
    for sql in read:
        details = [r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql)]
        assert not any(re.match(r"SCAN (c|conversions)\b", d) for d in details), (sql, details)

    affilut.deliver_due(db)
    digest = only(mailbox.to(OWNER))
    assert digest["subject"] == f"Shop: 52 conversions on {affilut.format_day(yesterday)}"
    for currency, (_, revenue, commission) in recount.items():
        assert (f"{currency.upper()}: {affilut.format_money(revenue, currency)} in sales, "
                f"{affilut.format_money(commission, currency)} in commission.") in digest["text"]
    assert digest["text"].count(" commission (") == affilut.DIGEST_ROWS  # the first 50, one line each
    assert "- and 2 more" in digest["text"]

def test_the_outbox_duty_queues_and_sends_the_digest_from_its_own_thread(db_path, db, team, mailbox):
    """serve runs the outbox (and the digests) in a thread of its own that never served a request:
    the digest's link must not need one, or that thread stops sending every email and webhook."""
    account = team
    affiliate = affilut.create_affiliate(db, account["id"], "Dee", "dee@example.com")
    affilut.record_manual_conversion(db, account, affiliate["id"], 4900)
    yesterday = affilut.now_ms() - affilut.DAY_MS
    db.execute("UPDATE conversions SET created_at = :t", {"t": yesterday})
    stopping = threading.Event()
    duty = threading.Thread(target=affilut.run_outbox, args=(db_path, stopping), daemon=True)
    duty.start()
    try:
        deadline = time.monotonic() + 20
        while not mailbox.to(OWNER) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopping.set()
        affilut._outbox_wake.set()  # end its wait for the next poll now
        duty.join(timeout=10)
    digest = only(mailbox.to(OWNER))
    assert digest["subject"] == f"Shop: 1 conversion on {affilut.format_day(yesterday)}"
    assert "https://affiliates.shop.example/dashboard/conversions" in digest["text"]


def test_invites_can_be_sent_by_email(db, team, mailbox):
    account = team
    _, token = affilut.invite_user(db, account["id"], "new@shop.example", send_email=True)
    affiliate = affilut.create_affiliate(db, account["id"], "Ivy", "ivy@example.com")
    affiliate_token = affilut.invite_affiliate(db, account["id"], affiliate["id"], send_email=True)
    affilut.deliver_due(db)
    invite = only(mailbox.to("new@shop.example"))
    assert invite["subject"] == "You are invited to Shop's affiliate dashboard"
    assert f"https://affiliates.shop.example/invite/{token}" in invite["text"]
    portal = only(mailbox.to("ivy@example.com"))
    assert f"https://affiliates.shop.example/invite/{affiliate_token}" in portal["text"]
    # the link is a secret: once sent it is no longer kept in the outbox
    bodies = [r["body"] for r in db.execute("SELECT body FROM outbox WHERE topic IN ('team_invite', 'affiliate_invite')")]
    assert bodies == ["", ""]


def test_a_refused_recipient_is_given_up_and_others_still_arrive(db, team, mailbox, monkeypatch):
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    class Refusing(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("nobody@"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"
    box = Refusing()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        monkeypatch.setenv("AFFILUT_SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
        affilut.join_program(db, team["id"], "Sam", "sam@example.com", "a long password")
        affilut.invite_user(db, team["id"], "nobody@shop.example", send_email=True)
        affilut.deliver_due(db)
    finally:
        controller.stop()
    assert box.to("sam@example.com")
    row = db.execute("SELECT status, last_error FROM outbox WHERE recipient = 'nobody@shop.example'").fetchone()
    assert row["status"] == "failed" and row["last_error"].startswith("550")


def test_without_smtp_emails_wait_and_the_dashboard_says_so(db, team, monkeypatch, capsys):
    monkeypatch.delenv("AFFILUT_SMTP_URL", raising=False)
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    affilut.join_program(db, team["id"], "Wes Waiting", "wes@example.com", "a long password")
    assert affilut.deliver_due(db) == 0
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0] == 3
    # a signed-in merchant sees the banner and the waiting emails
    owner = db.execute("SELECT * FROM users WHERE email = :e", {"e": OWNER}).fetchone()
    db.execute("UPDATE users SET password_hash = :h WHERE id = :id",
               {"h": affilut.hash_password("a long password"), "id": owner["id"]})
    browser = webtest.TestApp(affilut.app)
    form = browser.get("/signin").forms[0]
    form["email"], form["password"] = OWNER, "a long password"
    form.submit(status=303)
    page = browser.get("/dashboard")
    assert "Email is not configured (AFFILUT_SMTP_URL): 3 emails wait in the outbox" in page.text
    # however many wait, the banner counts no further than it shows
    monkeypatch.setattr(affilut, "WAITING_EMAILS_SHOWN", 5)
    with affilut.transaction(db) as tx:
        for n in range(4):
            affilut.enqueue(tx, "email", "digest", f"x{n}@example.com", "{}", team["id"])
    assert "Email is not configured (AFFILUT_SMTP_URL): 5+ emails wait" in browser.get("/dashboard").text
    monkeypatch.setattr(affilut, "WAITING_EMAILS_SHOWN", 1000)
    with affilut.transaction(db) as tx:
        tx.execute("DELETE FROM outbox WHERE topic = 'digest'")
    listed = browser.get("/dashboard/settings/notifications")
    assert "Your application to Shop arrived" in listed.text and "wes@example.com" in listed.text
    # serve --print-mail writes them to the log instead
    monkeypatch.setitem(affilut.app.config, "affilut.print_mail", True)
    assert affilut.deliver_due(db) == 3
    log = capsys.readouterr().err
    assert "to wes@example.com: Your application to Shop arrived" in log and "Hello Wes Waiting" in log
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0] == 3


@pytest.mark.parametrize("url, expected", [
    ("smtp://user:p%40ss@mail.example:587", {"tls": False, "host": "mail.example", "port": 587, "user": "user",
                                             "password": "p@ss"}),
    ("smtps://user:pass@mail.example", {"tls": True, "port": 465, "user": "user"}),
    ("smtp://127.0.0.1:1025", {"tls": False, "port": 1025, "user": None}),
])
def test_smtp_url_forms(url, expected, monkeypatch):
    monkeypatch.setenv("AFFILUT_SMTP_URL", url)
    monkeypatch.setenv("AFFILUT_MAIL_FROM", "Shop <affiliates@shop.example>")
    settings = affilut.mail_settings()
    assert {k: settings[k] for k in expected} == expected and settings["sender"] == "affiliates@shop.example"


@pytest.mark.parametrize("url, sender", [("http://mail.example", "a@b.example"), ("smtp://mail.example:99999", "a@b.example"),
                                         ("smtp://mail.example", ""), ("smtp://mail.example", "not an address")])
def test_serve_refuses_a_malformed_mail_setup_in_one_line(url, sender, tmp_path):
    result = subprocess.run([sys.executable, f"{ROOT}/affilut.py", "serve", "--db", str(tmp_path / "x.db"), "--port", "0"],
                            capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "AFFILUT_SMTP_URL": url, "AFFILUT_MAIL_FROM": sender})
    assert result.returncode != 0
    assert re.fullmatch(r"affilut: error: AFFILUT_(SMTP_URL|MAIL_FROM) [^\n]+\n", result.stderr)


def guess(browser, path, email, address):
    """One wrong password for this email from this address, through the sign-in form."""
    form = [f for f in browser.get(path, extra_environ={"REMOTE_ADDR": address}).forms.values()
            if f.action == path][0]
    form["email"], form["password"] = email, "wrong password"
    form.submit(status=401, extra_environ={"REMOTE_ADDR": address})


def test_reaching_the_sign_in_ceiling_emails_the_person_at_most_once_an_hour(app, db, team, mailbox, clock,
                                                                            monkeypatch):
    account = team
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    db.execute("UPDATE users SET password_hash = :hash", {"hash": affilut.hash_password("a long password")})
    affilut.create_affiliate(db, account["id"], "Ivy", "ivy@example.com")

    def reach_ceiling(email, path="/signin"):
        # a fresh throttle each time, as after a restart: only the database remembers the alert
        throttle = affilut.SignInThrottle(clock=clock, free={"pair": 5, "ip": 20, "email": 3})
        monkeypatch.setitem(affilut.app.config, "affilut.signin_throttle", throttle)
        for i in range(3):
            guess(app, path, email, f"10.4.0.{i}")
        affilut.deliver_due(db)

    reach_ceiling(OWNER)
    alert = only(mailbox.to(OWNER))
    assert alert["subject"] == "Many failed sign-ins to your Shop dashboard"
    assert "You can still sign in as usual from a browser you have signed in with before." in alert["text"]
    assert "(\"Forgot password?\"):\r\nhttps://affiliates.shop.example/forgot\r\n" in alert["text"]
    assert 'href="https://affiliates.shop.example/forgot"' in alert["html"]
    reach_ceiling(OWNER)  # again within the hour: the merchant's banner counts it, no second email
    assert len(mailbox.to(OWNER)) == 1
    assert db.execute("SELECT times FROM signin_ceilings").fetchone()[0] == 2
    db.execute("UPDATE signin_ceilings SET last_at = last_at - 61 * 60 * 1000")
    reach_ceiling(OWNER)
    assert len(mailbox.to(OWNER)) == 2
    reach_ceiling("ivy@example.com", f"/portal/signin/{account['id']}")
    portal = only(mailbox.to("ivy@example.com"))
    assert portal["subject"] == "Many failed sign-ins to your Shop affiliate portal"
    assert f"https://affiliates.shop.example/portal/forgot/{account['id']}" in portal["text"]
    assert mailbox.to(MEMBER) == []
