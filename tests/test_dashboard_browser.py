"""The dashboard and the portal in a real browser: Debian's headless Chromium driven by Playwright.

Playwright is only the driver: it never downloads a browser (no `playwright install`). Without
/usr/bin/chromium (apt-get install chromium) or the playwright package these tests skip.
Screenshots of every main page at desktop and phone width land in screenshots/ (git-ignored).
"""

import csv
import io
import json
import os
import urllib.request

import pytest

import affilut

CHROMIUM = os.environ.get("AFFILUT_CHROMIUM", "/usr/bin/chromium")
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    pytest.skip("playwright is not installed: pip install -r requirements.txt", allow_module_level=True)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` (Debian/Ubuntu) "
                "to run the browser tests", allow_module_level=True)

SCREENSHOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "screenshots")
PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module; each test gets fresh contexts."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def fast_and_fresh(monkeypatch):
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    monkeypatch.setitem(affilut.app.config, "affilut.signin_throttle", affilut.SignInThrottle())


@pytest.fixture
def site(browser, live_server):
    """The live server and a way to open browser tabs on it; fails the test on any JS dialog or CSP error."""
    contexts, problems = [], []

    def open_page(viewport=DESKTOP, **options):
        context = browser.new_context(base_url=live_server, viewport=viewport, accept_downloads=True, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        # a 401 or 404 answer logs "Failed to load resource"; anything else (CSP, script errors) is a problem
        page.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
                and problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        return page

    yield {"url": live_server, "open": open_page, "problems": problems}
    for context in contexts:
        context.close()
    assert problems == []


def set_up(page, db):
    """The first-run page, as a merchant fills it in: without the link `serve` printed it only says where
    to find it; with it, the form."""
    page.goto("/")
    assert page.url.endswith("/setup")
    expect(page.locator("h1")).to_have_text("Open the setup link")
    page.goto(f"/setup?token={affilut.new_setup_token(db)}")
    page.fill("input[name=name]", "Acme Goods")
    page.fill("input[name=landing_url]", "https://acme.example/")
    page.fill("input[name=email]", "owner@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Create program')")
    expect(page.locator("h1")).to_have_text("Overview")


def sign_in(page, email="owner@acme.example", password=PASSWORD):
    page.goto("/signin")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Sign in')")


def add_affiliate(page, name, email, status="active"):
    page.goto("/dashboard/affiliates")
    page.click("summary:has-text('Add an affiliate')")
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", email)
    page.select_option("select[name=status]", status)
    page.click("button:has-text('Add affiliate')")
    expect(page.locator("h1")).to_have_text(name)
    return page.url.split("?")[0].rsplit("/", 1)[1]


def record_conversion(page, affiliate_name, amount, external_id):
    page.goto("/dashboard/conversions")
    page.click("summary:has-text('Record a manual conversion')")
    # The affiliate is picked by search, as among thousands: type the start of the name, take the suggestion.
    field = page.locator("details input[name=affiliate_id]")
    field.fill(affiliate_name[:5])
    pick = "name => [...document.querySelectorAll('#affiliate-suggestions option')].find(o => o.label.startsWith(name))"
    page.wait_for_function(f"name => !!({pick})(name)", arg=affiliate_name)
    field.fill(page.evaluate(f"name => ({pick})(name).value", affiliate_name))
    page.fill("input[name=amount]", amount)
    page.fill("input[name=external_id]", external_id)
    page.click("button:has-text('Record conversion')")
    expect(page.locator(".notice")).to_have_text("Conversion recorded.")


def download_text(page, link_text):
    with page.expect_download() as info:
        page.click(f"a:has-text('{link_text}')")
    with open(info.value.path(), encoding="utf-8") as f:
        return f.read()


def shoot(page, name):
    """The page at desktop and at phone width, into screenshots/."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}-{label}.png"), full_page=True)
        if label == "phone":  # nothing may stick out sideways on a phone
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is {overflow}px wider than a phone"
    page.set_viewport_size(DESKTOP)


def test_merchant_runs_the_program_from_setup_to_payout(site, db):
    page = site["open"]()
    set_up(page, db)
    page.click("button:has-text('Sign out')")
    expect(page.locator(".notice")).to_have_text("You are signed out.")
    sign_in(page, password="wrong password!")
    expect(page.locator(".error")).to_contain_text("do not match")
    sign_in(page)
    expect(page.locator("h1")).to_have_text("Overview")

    affiliate_id = add_affiliate(page, "Jane Smith", "jane@example.com", status="pending")
    expect(page.locator(".badge").first).to_have_text("pending")
    page.click("button[value=approve]")
    expect(page.locator(".notice")).to_have_text("Status changed.")
    expect(page.locator(".badge").first).to_have_text("active")

    page.goto("/dashboard/settings/keys")
    page.fill("input[name=name]", "billing backend")
    page.click("button:has-text('Create API key')")
    key = page.input_value("#new-key")
    request = urllib.request.Request(site["url"] + "/api/v1/affiliates", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as answer:
        assert [a["id"] for a in json.load(answer)["data"]] == [affiliate_id]
    page.goto("/dashboard/settings/keys")  # shown once: gone on the next look
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.locator("td.mono")).to_have_text(key[:12] + "…")

    record_conversion(page, "Jane Smith", "249.00", "order-1001")
    row = page.locator("tr", has_text="order-1001")
    expect(row.locator(".badge")).to_have_text("pending")
    row.locator("button:has-text('Approve')").click()
    expect(page.locator("tr", has_text="order-1001").locator(".badge")).to_have_text("approved")

    page.click("nav.nav >> text=Payouts")
    due = page.locator("tr", has_text="Jane Smith")
    expect(due.locator("td.num").last).to_have_text("$24.90")
    paypal = download_text(page, "PayPal Payouts CSV (USD)")
    assert list(csv.reader(io.StringIO(paypal))) == [
        ["jane@example.com", "24.90", "USD", affiliate_id, "Affiliate commission from Acme Goods", "PAYPAL"]]
    due.locator("button:has-text('Mark paid')").click()
    expect(page.locator(".notice")).to_contain_text("Payout recorded")
    expect(page.locator("text=Nobody is owed anything right now.")).to_be_visible()
    history = list(csv.DictReader(io.StringIO(download_text(page, "Export CSV"))))
    assert [(h["name"], h["amount"], h["currency"], h["conversions"]) for h in history] == \
        [("Jane Smith", "24.90", "USD", "1")]
    assert db.execute("SELECT status FROM conversions").fetchone()[0] == "paid"

    page.goto("/dashboard/conversions")
    exported = list(csv.DictReader(io.StringIO(download_text(page, "Export CSV"))))
    assert [(c["external_id"], c["amount"], c["commission"], c["status"]) for c in exported] == \
        [("order-1001", "249.00", "24.90", "paid")]

    page.goto("/dashboard")
    expect(page.locator(".stat", has_text="Revenue").first).to_contain_text("$249.00")
    expect(page.locator("svg.chart")).to_be_visible()


def test_affiliate_signs_up_is_approved_and_sees_the_conversion(site, db):
    merchant = site["open"]()
    set_up(merchant, db)
    account_id = db.execute("SELECT id FROM accounts").fetchone()[0]

    affiliate = site["open"](viewport=PHONE)
    affiliate.goto(f"/join/{account_id}")
    affiliate.fill("input[name=name]", "Pat Partner")
    affiliate.fill("input[name=email]", "pat@example.com")
    affiliate.fill("input[name=password]", PASSWORD)
    affiliate.fill("input[name=password_again]", PASSWORD)
    affiliate.click("button:has-text('Apply')")
    expect(affiliate.locator(".callout")).to_contain_text("waiting for approval")

    merchant.goto("/dashboard")
    merchant.click("text=1 affiliate waiting for approval")
    merchant.locator("tr", has_text="Pat Partner").locator("button:has-text('Approve')").click()
    expect(merchant.locator(".notice")).to_have_text("Status changed.")
    record_conversion(merchant, "Pat Partner", "80", "order-2002")
    merchant.locator("tr", has_text="order-2002").locator("button:has-text('Approve')").click()
    expect(merchant.locator("tr", has_text="order-2002").locator(".badge")).to_have_text("approved")

    affiliate.reload()
    expect(affiliate.locator(".callout")).to_have_count(0)
    expect(affiliate.locator("tr", has_text="order-2002")).to_contain_text("$8.00")
    expect(affiliate.locator(".stat", has_text="Approved")).to_contain_text("$8.00")
    short_code = db.execute("SELECT short_code FROM affiliates").fetchone()[0]
    expect(affiliate.locator("#my-link")).to_have_value(f"{site['url']}/r/{short_code}")
    affiliate.fill("input[name=to]", "/pricing")  # the builder updates as one types
    expect(affiliate.locator("#built-link")).to_have_value(f"{site['url']}/r/{short_code}?to=%2Fpricing")
    affiliate.fill("input[name=payout_email]", "pat.paypal@example.com")
    affiliate.click("button:has-text('Save')")
    expect(affiliate.locator(".notice")).to_have_text("Payout email saved.")

    # paused: still signs in, and sees why
    merchant.goto(merchant.url.split("/dashboard")[0] + "/dashboard/affiliates")
    merchant.click("text=Pat Partner")
    merchant.fill("input[name=reason]", "Please stop bidding on our brand name")
    merchant.click("button[value=pause]")
    affiliate.reload()
    expect(affiliate.locator(".callout")).to_contain_text("Please stop bidding on our brand name")


def test_a_forged_form_is_refused_and_changes_nothing(site, db):
    page = site["open"]()
    set_up(page, db)
    page.goto("/dashboard/settings/keys")
    page.eval_on_selector("form[action='/dashboard/settings/keys'] input[name=csrf]",
                          "input => { input.value = 'forged-by-another-site' }")
    page.fill("input[name=name]", "sneaky")
    page.click("button:has-text('Create API key')")
    expect(page.locator("h1")).to_have_text("This form has expired")
    assert db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0] == 0
    # a cross-site POST carries no token at all
    status = page.evaluate("""async () => (await fetch('/dashboard/settings/keys', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'name=x'})).status""")
    assert status == 403
    assert db.execute("SELECT COUNT(*) FROM api_keys").fetchone()[0] == 0


def test_a_script_for_a_name_is_shown_as_text(site, db):
    page = site["open"]()
    set_up(page, db)
    add_affiliate(page, XSS, "xss@example.com")
    expect(page.locator("h1")).to_have_text(XSS)
    page.goto("/dashboard/affiliates")
    expect(page.locator("td a", has_text=XSS)).to_be_visible()
    record_conversion(page, XSS, "10", "<img src=x onerror=alert(2)>")
    expect(page.locator("td", has_text="<img src=x onerror=alert(2)>")).to_be_visible()
    assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0
    # site["problems"] fails the test if any alert() ran


def test_copy_buttons_put_the_snippet_on_the_clipboard(site, db):
    page = site["open"](permissions=["clipboard-read", "clipboard-write"])
    set_up(page, db)
    page.goto("/dashboard/settings")
    snippet = page.input_value("#snippet")
    assert snippet == f'<script src="{site["url"]}/snippet.js" data-attribution-days="60"></script>'
    button = page.locator("button[data-copy=snippet]")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    account_id = db.execute("SELECT id FROM accounts").fetchone()[0]
    expect(page.locator("#webhook-url")).to_have_value(f"{site['url']}/webhooks/stripe/{account_id}")
    page.click("button[data-copy=webhook-url]")
    assert page.evaluate("navigator.clipboard.readText()") == f"{site['url']}/webhooks/stripe/{account_id}"


def test_every_main_page_at_desktop_and_phone_width(site, db):
    page = site["open"]()
    page.goto(f"/setup?token={affilut.new_setup_token(db)}")
    shoot(page, "setup")
    set_up(page, db)
    account = affilut.get_account(db, db.execute("SELECT id FROM accounts").fetchone()[0])
    names = ["Jane Smith", "Bob Builder", "Zoë Ünïcode", "Long Name Partner With A Very Long Name Indeed"]
    ids = [affilut.create_affiliate(db, account["id"], n, f"a{i}@example.com", "pending" if i == 3 else "active")["id"]
           for i, n in enumerate(names)]
    now = affilut.now_ms()
    for day in range(30):
        for i in range(day % 7):
            db.execute("INSERT INTO clicks (id, account_id, affiliate_id, created_at) VALUES (?, ?, ?, ?)",
                       (affilut.new_id("clk"), account["id"], ids[i % 3], now - day * affilut.DAY_MS))
    for i, cents in enumerate([4900, 12900, 99900, 2500, 7900]):
        row = affilut.record_manual_conversion(db, account, ids[i % 3], cents, f"order-{i}")
        if i % 2 == 0:
            affilut.set_conversion_status(db, account["id"], row["id"], "approved")
    page.goto("/dashboard")
    shoot(page, "overview")
    for path, name in (("/dashboard/affiliates", "affiliates"), (f"/dashboard/affiliates/{ids[0]}", "affiliate"),
                       ("/dashboard/conversions", "conversions"), ("/dashboard/payouts", "payouts"),
                       ("/dashboard/settings", "settings-program"), ("/dashboard/settings/keys", "settings-keys"),
                       ("/dashboard/settings/team", "settings-team")):
        page.goto(path)
        shoot(page, name)
    page.goto("/signin")
    shoot(page, "signin")
    affilut.set_affiliate_password(db, ids[0], affilut.hash_password(PASSWORD))
    portal = site["open"]()
    portal.goto(f"/join/{account['id']}")
    shoot(portal, "join")
    portal.goto(f"/portal/signin/{account['id']}")
    portal.fill("input[name=email]", "a0@example.com")
    portal.fill("input[name=password]", PASSWORD)
    portal.click("button:has-text('Sign in')")
    expect(portal.locator("h1")).to_have_text("Hello, Jane Smith")
    shoot(portal, "portal")
    assert len([f for f in os.listdir(SCREENSHOTS) if f.endswith(".png")]) >= 24


# The columns a phone must show: money, status, where the money goes; and the action column.
COLUMNS_THAT_MATTER = ("Amount", "Commission", "Owed", "Status", "Pay to")


def assert_columns_that_matter_in_view(page, table, where):
    """Every cell of each column that matters is shown whole within the phone's width, with no sideways
    scrolling; the money and address cells carry their column's name, as the table's header row is
    folded into each card on a phone; every action button is in view."""
    cells = page.eval_on_selector(f"table.{table}", """(table) => {
        const heads = [...table.tHead.rows[0].cells], found = [];
        heads.forEach((th, i) => {
            const name = th.textContent.trim();
            if (!%s.includes(name) && !(name === "" && i === heads.length - 1)) { return; }
            for (const row of table.tBodies[0].rows) {
                const td = row.cells[i], box = td.getBoundingClientRect();
                found.push({name: name || "action", display: getComputedStyle(td).display, left: box.left,
                            right: box.right, width: box.width, label: getComputedStyle(td, "::before").content,
                            buttons: [...td.querySelectorAll("button")].map(b => {
                                const r = b.getBoundingClientRect(); return [r.left, r.right, r.width]; })});
            }
        });
        return found;
    }""" % json.dumps(COLUMNS_THAT_MATTER))
    assert cells, (where, table)
    for cell in cells:
        assert cell["display"] != "none" and cell["width"] > 0, (where, table, cell)
        assert cell["left"] >= 0 and cell["right"] <= PHONE["width"], (where, table, cell)
        if cell["name"] not in ("Status", "action"):
            assert cell["label"] == f'"{cell["name"]} "', (where, table, cell)
        for left, right, width in cell["buttons"]:
            assert width > 0 and left >= 0 and right <= PHONE["width"], (where, table, cell)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1, (where, table)


def test_money_status_and_actions_stay_in_view_on_a_phone(site, db):
    page = site["open"]()
    set_up(page, db)
    account = affilut.get_account(db, db.execute("SELECT id FROM accounts").fetchone()[0])
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith-Featherstonehaugh", "jane.featherstonehaugh@example.com")
    for i in range(3):
        row = affilut.record_manual_conversion(db, account, jane["id"], 1234567 + i, f"order-with-a-long-number-{i}")
        if i:
            affilut.set_conversion_status(db, account["id"], row["id"], "approved")
    due = affilut.due_payouts(db, account)[0]
    affilut.mark_payouts_paid(db, account, [(jane["id"], "usd", due["digest"])], note="PayPal batch 12345")
    affilut.record_manual_conversion(db, account, jane["id"], 99900, "order-after-the-payout")
    row = affilut.record_manual_conversion(db, account, jane["id"], 5000, "order-approved")
    affilut.set_conversion_status(db, account["id"], row["id"], "approved")
    page.set_viewport_size(PHONE)
    for path, table in (("/dashboard/conversions", "conversions-table"), ("/dashboard/payouts", "owed-table"),
                        ("/dashboard/payouts", "payouts-table"), (f"/dashboard/affiliates/{jane['id']}", "conversions-table")):
        page.goto(path)
        assert_columns_that_matter_in_view(page, table, path)
    affilut.set_affiliate_password(db, jane["id"], affilut.hash_password(PASSWORD))
    portal = site["open"](viewport=PHONE)
    portal.goto(f"/portal/signin/{account['id']}")
    portal.fill("input[name=email]", jane["email"])
    portal.fill("input[name=password]", PASSWORD)
    portal.click("button:has-text('Sign in')")
    expect(portal.locator("h1")).to_contain_text("Hello")
    for table in ("conversions-table", "payouts-table"):
        assert_columns_that_matter_in_view(portal, table, "/portal")
    page.goto("/dashboard/conversions")
    page.locator("table.conversions-table button:has-text('Approve')").first.click()
    expect(page.locator(".notice")).to_have_text("Conversions updated.")


def test_select_all_ticks_only_rows_an_action_can_change_and_a_refusal_stays_on_the_list(site, db):
    page = site["open"]()
    set_up(page, db)
    account = affilut.get_account(db, db.execute("SELECT id FROM accounts").fetchone()[0])
    db.execute("UPDATE accounts SET payout_minimum_cents = 0 WHERE id = ?", (account["id"],))
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    rows = {status: affilut.record_manual_conversion(db, account, jane["id"], 5000, f"order-{status}")
            for status in ("pending", "approved", "paid", "rejected")}
    for status in ("approved", "paid", "rejected"):
        affilut.set_conversion_status(db, account["id"], rows[status]["id"],
                                      "rejected" if status == "rejected" else "approved")
    affilut.pay_conversion(db, affilut.get_account(db, account["id"]), rows["paid"]["id"])
    db.execute("UPDATE accounts SET payout_minimum_cents = 100000 WHERE id = ?", (account["id"],))
    page.goto("/dashboard/conversions")
    page.check("input[data-check-all=id]")
    ticked = page.eval_on_selector_all("table.conversions-table input[type=checkbox]:checked", "boxes => boxes.map(b => b.value)")
    assert sorted(ticked) == sorted([rows["pending"]["id"], rows["approved"]["id"]])
    for status in ("paid", "rejected"):
        expect(page.locator("tr", has_text=f"order-{status}").locator("input[type=checkbox]")).to_have_count(0)
    page.locator("tr", has_text="order-approved").locator("button:has-text('Mark paid')").click()
    expect(page.locator("h1")).to_have_text("Conversions")
    expect(page.locator(".notice")).to_have_text(
        "That conversion was left as it was: its affiliate is owed less than the payout minimum.")
    assert db.execute("SELECT status FROM conversions WHERE id = ?", (rows["approved"]["id"],)).fetchone()[0] == "approved"
