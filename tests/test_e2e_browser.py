"""A referred visitor end to end in real headless Chromium: the affiliate link on affilut, the shop's
landing and checkout pages with snippet.js, then Stripe's signed charge.succeeded on the webhook."""

import functools
import http.server
import json
import os
import threading
import time
import urllib.request

import pytest

import affilut
from stripe_events import charge, event, sign

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
# A visitor's ordinary browser: HeadlessChrome's own user agent is, rightly, not counted as a click.
VISITOR_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/156.0.0.0 Safari/537.36")

SHOP_PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>{title}</title>
<script src="{affilut}/snippet.js" data-attribution-days="60"></script>
<h1>{title}</h1><a id="next" href="/checkout.html">Buy</a>"""


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements.txt")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shop(tmp_path, live_server):
    """The merchant's own site on another origin, including snippet.js from affilut."""
    for name, title in (("landing.html", "Welcome"), ("checkout.html", "Checkout")):
        (tmp_path / name).write_text(SHOP_PAGE.format(title=title, affilut=live_server))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_click_snippet_checkout_webhook(browser, live_server, shop, db):
    account = affilut.get_account(db, affilut.create_account(db, "Shop", "10", f"{shop}/landing.html?utm=x",
                                                             "whsec_e2e"))
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    context = browser.new_context(user_agent=VISITOR_AGENT)
    errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(error))

    page.goto(f"{live_server}/r/{jane['short_code']}")
    assert page.url.startswith(f"{shop}/landing.html?utm=x&ref={jane['id']}&aff_sess=clk_")
    click_id = page.url.split("aff_sess=")[1]
    page.click("#next")
    page.wait_for_url(f"{shop}/checkout.html")
    metadata = page.evaluate("window.affilut.metadata()")
    assert metadata == {"affiliate_id": jane["id"], "affiliate_session_id": click_id}

    # In a new tab (fresh sessionStorage), the checkout still knows the referral.
    later = context.new_page()
    later.on("pageerror", lambda error: errors.append(error))
    later.goto(f"{shop}/checkout.html")
    assert later.evaluate("window.affilut.metadata()") == metadata
    assert errors == []
    context.close()

    # The checkout put that metadata on the PaymentIntent; Stripe copies it to the charge and calls us.
    now = int(time.time())
    payload = json.dumps(event("charge.succeeded", charge("ch_e2e", 4900, now, metadata=metadata), now)).encode()
    request = urllib.request.Request(f"{live_server}/webhooks/stripe/{account['id']}", data=payload, method="POST",
                                     headers={"Stripe-Signature": sign(payload, "whsec_e2e"),
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as res:
        assert res.status == 200
    row = db.execute("SELECT affiliate_id, click_id, amount_cents, commission_cents, status FROM conversions").fetchone()
    assert tuple(row) == (jane["id"], click_id, 4900, 490, "pending")
    assert db.execute("SELECT COUNT(*) FROM clicks WHERE id = ?", (click_id,)).fetchone()[0] == 1
