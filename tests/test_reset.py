"""Password reset: 'Forgot password?' → an email with a one-time link → a new password, the other
sessions ended; the same answer for an unknown email; and the CLI's link for an owner without email."""

import os
import re
import subprocess
import sys
import time

import pytest
import webtest

import affilut
from conftest import ROOT
from test_mail import mailbox  # noqa: F401  (the SMTP server fixture)

CHROMIUM = os.environ.get("AFFILUT_CHROMIUM", "/usr/bin/chromium")
OLD, NEW = "the old password here", "a brand new password"


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    monkeypatch.setitem(affilut.app.config, "affilut.signin_throttle", affilut.SignInThrottle())


@pytest.fixture
def owner(db):
    account_id, user_id = affilut.setup_install(
        db, affilut.new_setup_token(db), "owner@acme.example", OLD,
        settings={"name": "Acme Goods", "commission": "10", "landing_url": "https://acme.example/"})
    return {"account_id": account_id, "user_id": user_id, "email": "owner@acme.example"}


def reset_link(box, address):
    [mail] = [m for m in box.to(address) if "Reset your" in m["subject"]]
    return re.search(r"https?://\S+/reset/\S+", mail["text"]).group(0)


def form_post(browser, path, **fields):
    page = browser.get(path)
    form = page.forms[0]
    for name, value in fields.items():
        form[name] = value
    return form.submit()


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}")
def test_password_reset_end_to_end_in_chromium(db, owner, mailbox, start_server, monkeypatch):  # noqa: F811
    from playwright.sync_api import sync_playwright
    monkeypatch.delenv("AFFILUT_BASE_URL")  # the link names the address the browser used
    server_url = start_server().url  # sends through the mailbox: AFFILUT_SMTP_URL is set
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        try:
            other = browser.new_context(base_url=server_url).new_page()  # a session elsewhere, to be ended
            other.goto("/signin")
            other.fill("input[name=email]", owner["email"])
            other.fill("input[name=password]", OLD)
            other.click("button[type=submit]")
            other.wait_for_url("**/dashboard")

            page = browser.new_context(base_url=server_url).new_page()
            page.set_default_timeout(10_000)
            page.goto("/signin")
            page.click("text=Forgot password?")
            page.wait_for_url("**/forgot")
            page.fill("input[name=email]", owner["email"])
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == "Check your email"

            deadline = time.monotonic() + 10  # the server's own outbox thread sends it
            while not mailbox.to(owner["email"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            link = reset_link(mailbox, owner["email"])
            assert link.startswith(server_url + "/reset/")
            page.goto(link)
            page.fill("input[name=password]", NEW)
            page.fill("input[name=password_again]", NEW)
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard")
            assert "Acme Goods" in page.locator(".brand").inner_text()

            other.goto("/dashboard")  # the other session has ended
            other.wait_for_url("**/signin**")
            other.fill("input[name=email]", owner["email"])
            other.fill("input[name=password]", OLD)  # and the old password no longer works
            other.click("button[type=submit]")
            assert "do not match" in other.locator(".error, [role=alert]").first.inner_text()

            page.goto(link)  # the link works once
            assert page.locator("h1").inner_text() == "This link has expired"
        finally:
            browser.close()
    assert affilut.check_user_password(db, owner["email"], NEW)["id"] == owner["user_id"]


def test_forgot_gives_the_same_answer_whether_or_not_the_email_exists(app, db, owner, mailbox):  # noqa: F811
    known = form_post(app, "/forgot", email=owner["email"])
    unknown = form_post(app, "/forgot", email="stranger@example.com")
    assert known.status_int == unknown.status_int == 200
    strip = lambda res: re.sub(r'name="csrf" value="[^"]+"', "", res.text)  # noqa: E731
    assert strip(known) == strip(unknown)
    affilut.deliver_due(db)
    assert [m["to"] for m in mailbox.messages] == [[owner["email"]]]
    row = db.execute("SELECT token_hash FROM password_resets").fetchone()
    assert reset_link(mailbox, owner["email"]).rsplit("/", 1)[1] not in row["token_hash"]  # stored hashed


def test_an_affiliate_resets_from_the_portal_and_its_sessions_end(app, db, owner, mailbox):  # noqa: F811
    affiliate = affilut.join_program(db, owner["account_id"], "Pat", "pat@example.com", OLD)
    session = affilut.create_session(db, "affiliate", affiliate["id"], owner["account_id"])
    signin = app.get(f"/portal/signin/{owner['account_id']}")
    assert f'href="/portal/forgot/{owner["account_id"]}"' in signin.text
    form_post(app, f"/portal/forgot/{owner['account_id']}", email="PAT@example.com")
    affilut.deliver_due(db)
    # found whatever the capitals, sent to the address on record, never to the one typed
    assert [m["to"] for m in mailbox.messages if "Reset" in m["subject"]] == [["pat@example.com"]]
    link = reset_link(mailbox, "pat@example.com")
    assert "affiliate portal" in [m for m in mailbox.messages if "Reset" in m["subject"]][0]["subject"]
    res = form_post(app, link.split("example", 1)[1], password=NEW, password_again=NEW)
    assert res.status_int == 303 and res.headers["Location"].endswith("/portal")
    assert affilut.load_session(db, "affiliate", session) is None
    assert affilut.check_affiliate_password(db, owner["account_id"], "pat@example.com", NEW) is not None
    assert affilut.check_affiliate_password(db, owner["account_id"], "pat@example.com", OLD) is None


def test_a_reset_link_expires_after_an_hour(app, db, owner, mailbox):  # noqa: F811
    form_post(app, "/forgot", email=owner["email"])
    affilut.deliver_due(db)
    link = reset_link(mailbox, owner["email"])
    db.execute("UPDATE password_resets SET expires_at = :now", {"now": affilut.now_ms()})
    res = webtest.TestApp(affilut.app).get(link.split("example", 1)[1], status=404)
    assert "This link has expired" in res.text


def cli(*args, db_path):
    return subprocess.run([sys.executable, os.path.join(ROOT, "affilut.py"), *args, "--db", db_path],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "AFFILUT_BASE_URL": "https://affiliates.acme.example"})


def test_cli_prints_a_one_time_reset_link_on_its_last_line(app, db, db_path, owner):
    result = cli("reset-password", "--email", owner["email"], db_path=db_path)
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"https://affiliates\.acme\.example/reset/[A-Za-z0-9_-]{43}", link)
    path = link.split("example", 1)[1]
    res = form_post(app, path, password=NEW, password_again=NEW)
    assert res.status_int == 303 and res.headers["Location"].endswith("/dashboard")
    assert "expired" in app.get(path, status=404).text


@pytest.mark.parametrize("args", [["--email", "nobody@example.com"], ["--email", "owner@acme.example",
                                                                      "--account", "acc_nope"], []])
def test_cli_reset_password_misuse_is_one_line_and_status_2(db_path, owner, args):
    result = cli("reset-password", *args, db_path=db_path)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("affilut")


def test_without_smtp_no_reset_link_waits_in_the_outbox(db, owner, monkeypatch):
    """A reset link in an email that cannot be sent would sit readable in the outbox until it
    expired: without SMTP none is queued (the CLI's reset-password makes one instead)."""
    monkeypatch.delenv("AFFILUT_SMTP_URL", raising=False)
    monkeypatch.setitem(affilut.app.config, "affilut.print_mail", False)
    affilut.request_password_reset(db, "user", owner["email"])
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE topic = 'password_reset'").fetchone()[0] == 0
    monkeypatch.setitem(affilut.app.config, "affilut.print_mail", True)  # serve --print-mail sends to the log
    affilut.request_password_reset(db, "user", owner["email"])
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE topic = 'password_reset'").fetchone()[0] == 1
