"""Affiliate links /r/<shortCode>, the snippet served at /snippet.js, and a click followed to a payment."""

import os
import time
import urllib.parse

import pytest

import affilut
from stripe_events import charge, deliver, event

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"


@pytest.fixture
def jane(db, account):
    return affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")


def visit(app, code, query="", status=302, REMOTE_ADDR="192.0.2.1", **headers):
    return app.get(f"/r/{code}{query}", headers={"User-Agent": BROWSER, **headers}, status=status,
                   extra_environ={"REMOTE_ADDR": REMOTE_ADDR})


def clicks(db):
    return db.execute("SELECT * FROM clicks").fetchall()


def test_link_counts_a_click_and_redirects_with_ref_and_session(app, db, account, jane):
    res = visit(app, jane["short_code"], Referer="https://blog.example/post", REMOTE_ADDR="203.0.113.7")
    target = urllib.parse.urlsplit(res.headers["Location"])
    query = dict(urllib.parse.parse_qsl(target.query))
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/landing")
    assert query["lang"] == "en" and query["ref"] == jane["id"]
    assert res.headers["Cache-Control"] == "no-store"
    [click] = clicks(db)
    assert query["aff_sess"] == click["id"] and click["id"].startswith("clk_")
    assert (click["affiliate_id"], click["referrer"], click["user_agent"]) == (jane["id"], "https://blog.example/post",
                                                                               BROWSER)
    assert "203.0.113.7" not in [str(v) for v in tuple(click)]
    assert len(click["ip_hash"]) == 32


def test_same_ip_hashes_the_same_and_other_ips_differently(app, db, jane):
    for ip, agent in (("203.0.113.7", BROWSER), ("203.0.113.7", BROWSER + " Edg/1"), ("198.51.100.1", BROWSER)):
        visit(app, jane["short_code"], REMOTE_ADDR=ip, **{"User-Agent": agent})
    hashes = [c["ip_hash"] for c in clicks(db)]
    assert hashes[0] == hashes[1] != hashes[2]


def session_of(res):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(res.headers["Location"]).query)).get("aff_sess")


@pytest.fixture
def moving_now(monkeypatch):
    """affilut's clock, moved by hand: [milliseconds]."""
    now = [1_800_000_000_000]
    monkeypatch.setattr(affilut, "now_ms", lambda: now[0])
    return now


def test_repeat_clicks_within_30_minutes_count_once_and_share_the_session(app, db, account, jane, moving_now):
    first = session_of(visit(app, jane["short_code"]))
    for minutes in (1, 9, 19):  # 1, 10 and 29 minutes after the first click
        moving_now[0] += minutes * 60_000
        assert session_of(visit(app, jane["short_code"])) == first
    assert len(clicks(db)) == 1
    # Another browser at the same address, another affiliate, another address: each its own click.
    bob = affilut.create_affiliate(db, account["id"], "Bob", "bob@example.com")
    others = {session_of(visit(app, jane["short_code"], **{"User-Agent": BROWSER + " Firefox"})),
              session_of(visit(app, bob["short_code"])), session_of(visit(app, jane["short_code"], REMOTE_ADDR="192.0.2.9"))}
    assert len(others) == 3 and first not in others and len(clicks(db)) == 4
    moving_now[0] += 2 * 60_000  # 31 minutes after the first click
    assert session_of(visit(app, jane["short_code"])) not in (first, None)
    assert len(clicks(db)) == 5


def test_the_unique_index_decides_between_racing_requests(app, db, jane, moving_now):
    # What another process wrote for this visitor's window a moment before: the lookup of recent
    # clicks misses it (its time is off), the INSERT hits the index, and that click is the answer.
    visitor = f"{affilut.ip_hash(db, '192.0.2.1')}:{affilut.hashlib.sha256(BROWSER.encode()).hexdigest()[:16]}"
    window = moving_now[0] // affilut.CLICK_SESSION_MS
    db.execute("""INSERT INTO clicks (id, account_id, affiliate_id, created_at, visit)
                  VALUES ('clk_other', :account, :affiliate, 0, :visit)""",
               {"account": jane["account_id"], "affiliate": jane["id"], "visit": f"{visitor}:{window}"})
    assert session_of(visit(app, jane["short_code"])) == "clk_other"
    assert len(clicks(db)) == 1


def test_racing_clicks_through_the_real_server_make_one_row(start_server, db, jane):
    import concurrent.futures
    import http.client
    port = start_server().port

    def follow(_):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/r/{jane['short_code']}", headers={"User-Agent": BROWSER})
        location = conn.getresponse().headers["Location"]
        conn.close()
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["aff_sess"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        sessions = set(pool.map(follow, range(16)))
    assert len(sessions) == 1 and len(clicks(db)) == 1


def test_stored_agent_and_referrer_are_cut_to_a_sane_length(app, db, jane):
    visit(app, jane["short_code"], Referer="https://blog.example/" + "p" * 5000, **{"User-Agent": BROWSER + "x" * 5000})
    [click] = clicks(db)
    assert click["user_agent"] == (BROWSER + "x" * 5000)[:affilut.MAX_CLICK_AGENT]
    assert click["referrer"] == ("https://blog.example/" + "p" * 5000)[:affilut.MAX_CLICK_REFERRER]


def test_past_the_rate_of_one_address_visitors_are_redirected_and_nothing_is_stored(app, db, jane, clock):
    limit = affilut.VISITOR_LIMITS["click"]
    results = [visit(app, jane["short_code"], **{"User-Agent": f"{BROWSER} #{i}"}) for i in range(limit + 10)]
    assert len(clicks(db)) == limit
    for res in results[limit:]:
        location = urllib.parse.urlsplit(res.headers["Location"])
        assert location.netloc == "shop.example"
        assert dict(urllib.parse.parse_qsl(location.query)) == {"lang": "en", "ref": jane["id"]}  # no session
    assert session_of(visit(app, jane["short_code"], REMOTE_ADDR="198.51.100.1")) is not None  # others still count
    clock.advance(60)
    assert session_of(visit(app, jane["short_code"], **{"User-Agent": "Mozilla/5.0 later"})) is not None
    assert len(clicks(db)) == limit + 2


@pytest.mark.parametrize("to, expected", [
    ("/pricing", "https://shop.example/pricing"),
    ("/pricing?plan=pro#faq", "https://shop.example/pricing?plan=pro"),
    ("https://shop.example/blog/post", "https://shop.example/blog/post"),
    ("https://evil.example/phish", "https://shop.example/landing?lang=en"),
    ("//evil.example/phish", "https://shop.example/landing?lang=en"),
    ("/\\evil.example", "https://shop.example/landing?lang=en"),
    ("http://shop.example/downgrade", "https://shop.example/landing?lang=en"),
    ("javascript:alert(1)", "https://shop.example/landing?lang=en"),
    ("/ok\r\nSet-Cookie: x=1", "https://shop.example/landing?lang=en"),
    ("https://shop.example.evil.example/", "https://shop.example/landing?lang=en"),
])
def test_to_only_lands_on_the_landing_pages_origin(app, jane, to, expected):
    res = visit(app, jane["short_code"], "?to=" + urllib.parse.quote(to, safe=""))
    location = res.headers["Location"]
    parts = urllib.parse.urlsplit(location)
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in ("ref", "aff_sess")]
    assert urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept), fragment="")) == expected
    assert "\r" not in location and "\n" not in location


def test_fragment_is_kept_after_the_referral_parameters(app, jane):
    res = visit(app, jane["short_code"], "?to=" + urllib.parse.quote("/pricing#faq", safe=""))
    assert res.headers["Location"].endswith("#faq") and "ref=" in res.headers["Location"]


@pytest.mark.parametrize("agent", ["Googlebot/2.1 (+http://www.google.com/bot.html)", "facebookexternalhit/1.1",
                                   "Mozilla/5.0 (compatible; bingbot/2.0)", "curl/8.5.0", ""])
def test_bots_are_redirected_but_not_counted(app, db, jane, agent):
    res = app.get(f"/r/{jane['short_code']}", headers={"User-Agent": agent}, status=302)
    assert "ref=" not in res.headers["Location"] and clicks(db) == []


def test_head_requests_are_not_counted(app, db, jane):
    app.head(f"/r/{jane['short_code']}", headers={"User-Agent": BROWSER}, status=302)
    assert clicks(db) == []


@pytest.mark.parametrize("status", ["pending", "paused", "banned"])
def test_inactive_affiliates_link_lands_without_referral(app, db, account, status):
    affiliate = affilut.create_affiliate(db, account["id"], "Idle", "idle@example.com", status=status)
    res = visit(app, affiliate["short_code"])
    assert res.headers["Location"] == "https://shop.example/landing?lang=en" and clicks(db) == []


def test_unknown_code_is_a_plain_404_page(app, account):
    res = visit(app, "nobody-0000", status=404)
    assert res.content_type == "text/html" and "does not exist" in res.text


def test_program_without_landing_page_is_a_clear_404(app, db):
    account_id = affilut.create_account(db, "No Landing")
    affiliate = affilut.create_affiliate(db, account_id, "A", "a@example.com")
    assert "landing page" in visit(app, affiliate["short_code"], status=404).text


def test_snippet_is_served_as_cacheable_cross_origin_javascript(app):
    res = app.get("/snippet.js")
    assert res.headers["Content-Type"].startswith("text/javascript")
    assert "max-age" in res.headers["Cache-Control"]
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    with open(os.path.join(os.path.dirname(affilut.__file__), "snippet.js"), "rb") as f:
        assert res.body == f.read()
    assert b"aff_ref" in res.body and b"aff_sess" in res.body


def test_click_to_checkout_to_payment_credits_the_click(app, db, account, jane):
    """A visitor follows the link; the checkout copies ref and aff_sess into the payment's metadata
    (what snippet.js's affilut.metadata() returns); Stripe's charge.succeeded credits that click."""
    landing = urllib.parse.urlsplit(visit(app, jane["short_code"]).headers["Location"])
    params = dict(urllib.parse.parse_qsl(landing.query))
    metadata = {"affiliate_id": params["ref"], "affiliate_session_id": params["aff_sess"]}
    now = int(time.time())
    deliver(app, account, event("charge.succeeded", charge("ch_e2e", 4900, now, metadata=metadata), now))
    row = db.execute("SELECT * FROM conversions").fetchone()
    assert (row["affiliate_id"], row["click_id"], row["commission_cents"]) == (jane["id"], params["aff_sess"], 490)


def test_a_click_id_of_another_affiliate_is_not_linked(app, db, account, jane):
    bob = affilut.create_affiliate(db, account["id"], "Bob", "bob@example.com")
    bobs_click = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        visit(app, bob["short_code"]).headers["Location"]).query))["aff_sess"]
    now = int(time.time())
    deliver(app, account, event("charge.succeeded", charge("ch_x", 100, now, metadata={
        "affiliate_id": jane["id"], "affiliate_session_id": bobs_click}), now))
    row = db.execute("SELECT affiliate_id, click_id FROM conversions").fetchone()
    assert tuple(row) == (jane["id"], None)
