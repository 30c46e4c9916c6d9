"""Issue 14 as a merchant sees it: exports streamed from their own cursor, numbers that read right
(the link conversion rate, totals per currency, top affiliates with a currency, every chart label),
affiliates picked by search, and styled error pages with a way back."""

import csv
import http.client
import io
import re
import urllib.parse

import pytest

import affilut
from conftest import ServerProcess
from test_dashboard import approved_conversion, cheap_scrypt, merchant, new_affiliate, run_setup, throttle  # noqa: F401

DAY = affilut.DAY_MS


def many_conversions(db, account, affiliate_ids, count, currency="usd"):
    """count conversions recorded the way the API records them, spread over the affiliates."""
    for i in range(count):
        row = affilut.record_manual_conversion(db, account, affiliate_ids[i % len(affiliate_ids)], 1000 + i,
                                               f"order-{currency}-{i}")
        if currency != "usd":
            db.execute("UPDATE conversions SET currency = ? WHERE id = ?", (currency, row["id"]))


def test_the_conversions_export_streams_exactly_what_a_direct_query_gives(app, db, merchant, monkeypatch):
    monkeypatch.setattr(affilut, "CSV_BATCH", 7)  # many batches from a few rows
    account = merchant["account"]
    ids = [new_affiliate(db, account["id"], f"P{i}", f"p{i}@example.com")["id"] for i in range(3)]
    many_conversions(db, account, ids, 40)
    res = app.get(f"/dashboard/conversions.csv?affiliate_id={ids[1]}&status=pending")
    assert re.fullmatch(rf'attachment; filename="conversions_\d{{4}}-\d\d-\d\d_affiliate_id-{ids[1]}_status-pending\.csv"',
                        res.headers["Content-Disposition"])
    got = list(csv.reader(io.StringIO(res.text)))
    direct = db.execute("""SELECT id, amount_cents FROM conversions WHERE account_id = ? AND affiliate_id = ?
                           AND status = 'pending' ORDER BY seq DESC""", (account["id"], ids[1])).fetchall()
    assert [(r[0], r[7]) for r in got[1:]] == [(r[0], affilut.money_text(r[1])) for r in direct]
    assert len(direct) == 13 and got[0][0] == "id"


TRICKY_TEXT = ["=SUM(A1)", "+1", "-2", "@cmd", "\tx", "\rx", "plain", "a,b", 'say "hi"', "two\nlines", "é ü 漢",
               "'quoted", " =space first", "", None]


def test_the_sql_twins_of_the_formatting_rules_agree_with_the_rules(db):
    amounts = [0, 1, 5, 9, 10, 99, 100, 101, 1234, -1, -5, -99, -100, -1234, 123456789, -123456789, 2**40]
    currencies = ["usd", "eur", "jpy", "krw", "JPY", "USD", "vnd", "gbp", None]
    for cents in amounts:
        for currency in currencies:
            got = db.execute(f"SELECT {affilut.money_text_sql(':cents', ':currency')}",
                             {"cents": cents, "currency": currency}).fetchone()[0]
            assert got == affilut.money_text(cents, currency), (cents, currency)
    for ms in [0, 1, 999, 1000, 1001, 86_399_999, 951_782_400_000, 1_767_225_599_999, 1_767_225_600_000,
               1_764_590_000_123, 4_102_444_800_007]:
        assert db.execute(f"SELECT {affilut.iso_time_sql(':ms')}", {"ms": ms}).fetchone()[0] == affilut.iso_time(ms)
    for value in TRICKY_TEXT + [0, -3, 4.5]:
        assert db.execute(f"SELECT {affilut.csv_cell_sql(':v')}", {"v": value}).fetchone()[0] == affilut.csv_cell(value)


def test_the_conversions_export_formats_every_cell_by_the_rules(app, db, merchant, monkeypatch):
    """Byte for byte what the Python rules (iso_time, money_text, csv_cell) and csv.writer make of the rows."""
    monkeypatch.setattr(affilut, "CSV_BATCH", 3)
    account = merchant["account"]
    affiliates = [new_affiliate(db, account["id"], f"P{i}", f"p{i}@example.com")["id"] for i in range(3)]
    for i, text in enumerate(TRICKY_TEXT):
        db.execute("UPDATE affiliates SET name = ?, email = ? WHERE id = ?",
                   (text or "x", f"{text or ''}{i}@example.com", affiliates[i % 3]))
        row = affilut.record_manual_conversion(db, account, affiliates[i % 3], 1000 + i, f"order-{i}")
        currency = ["usd", "jpy", "eur", "krw", "gbp"][i % 5]
        cents = -(137 * i + 5) if i % 4 == 1 else 137 * i  # negative adjustments among them
        db.execute("""UPDATE conversions SET currency = ?, amount_cents = ?, commission_cents = ?, created_at = ?,
                          reason = ?, external_id = ?, stripe_charge_id = ?, kind = ? WHERE id = ?""",
                   (currency, cents, cents // 10, 1_764_590_000_000 + i * 86_400_001 + i, text,
                    text if text else None, f"{text}ch_{i}", "adjustment" if cents < 0 else "manual", row["id"]))
    res = app.get("/dashboard/conversions.csv")
    direct = db.execute("""SELECT c.*, f.name AS affiliate_name, f.email AS affiliate_email FROM conversions c
                           JOIN affiliates f ON f.id = c.affiliate_id WHERE c.account_id = ? ORDER BY c.seq DESC""",
                        (account["id"],)).fetchall()
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(["id", "created_at", "affiliate_id", "affiliate_name", "affiliate_email", "kind", "status",
                     "amount", "commission", "currency", "commission_rate", "external_id", "stripe_charge_id",
                     "reason", "payout_id"])
    for r in direct:
        writer.writerow([r["id"], affilut.iso_time(r["created_at"]), r["affiliate_id"], affilut.csv_cell(r["affiliate_name"]),
                         affilut.csv_cell(r["affiliate_email"]), r["kind"], r["status"],
                         affilut.money_text(r["amount_cents"], r["currency"]),
                         affilut.money_text(r["commission_cents"], r["currency"]), r["currency"].upper(),
                         r["commission_rate"], affilut.csv_cell(r["external_id"]), affilut.csv_cell(r["stripe_charge_id"]),
                         affilut.csv_cell(r["reason"]), r["payout_id"]])
    assert len(direct) == len(TRICKY_TEXT)
    assert res.body.decode() == expected.getvalue()
    # A few cells as a spreadsheet user reads them, so the rules themselves are pinned too.
    rows = {r[11]: r for r in csv.reader(io.StringIO(res.text))}
    assert rows["'=SUM(A1)"][7:10] == ["0.00", "0.00", "USD"]
    assert rows["'+1"][7:10] == ["-142", "-15", "JPY"]  # a zero-decimal currency, a negative adjustment
    assert rows["'-2"][7:10] == ["2.74", "0.27", "EUR"]
    assert rows["'@cmd"][1] == "2025-12-04T11:53:20.006Z"
    assert rows["'\tx"][7:10] == ["5.48", "0.54", "GBP"] and rows["'\rx"][7] == "-6.90"
    assert rows["a,b"][13] == "a,b" and rows['say "hi"'][13] == 'say "hi"' and rows["two\nlines"][13] == "two\nlines"



def test_joined_lines_are_the_csv_writers_or_left_to_it():
    """plain_csv_lines gives csv.writer's bytes for text needing no quotes, and None for the writer otherwise."""
    def written(rows):
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(rows)
        return out.getvalue()
    cells = [t for t in TRICKY_TEXT if t is not None] + [None, 7]
    joined = 0
    for a in cells:
        for b in cells:
            rows = [("id_1", a, "x"), ("id_2", "y", b)]
            got = affilut.plain_csv_lines(rows)
            assert got is None or got == written(rows), rows
            joined += got is not None
            needs_writer = any(not isinstance(c, str) or any(ch in c for ch in ',"\r\n') for c in (a, b))
            assert (got is None) == needs_writer, rows
    assert joined == 100  # the 10 plain texts, in every pair
    assert affilut.plain_csv_lines([("",)]) is None and written([("",)]) == '""\r\n'  # one empty cell is quoted
    assert affilut.plain_csv_lines([("a", "b,c"), ("d,e", "f")]) is None  # commas inside cells

@pytest.mark.slow
def test_a_real_server_sends_the_export_in_chunks_as_it_reads(tmp_path, db_path, db):
    account_id = affilut.create_account(db, "Shop")
    account = affilut.get_account(db, account_id)
    jane = new_affiliate(db, account_id)
    many_conversions(db, account, [jane["id"]], 30)
    user_id = affilut.new_id("usr")
    with affilut.transaction(db) as tx:
        tx.execute("INSERT INTO users (id, account_id, email, created_at) VALUES (?, ?, 'o@shop.example', 0)",
                   (user_id, account_id))
    token = affilut.create_session(db, "user", user_id, account_id)
    server = ServerProcess(db_path, str(tmp_path / "server.log"))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", "/dashboard/conversions.csv", headers={"Cookie": f"affilut_session={token}"})
        res = conn.getresponse()
        body = res.read().decode()
        assert res.status == 200 and res.getheader("Transfer-Encoding") == "chunked"
        assert res.getheader("Content-Length") is None and len(body.strip().split("\r\n")) == 31
        # The body's own connection is closed when it ends: the server still writes and answers.
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        server.stop()


def test_top_affiliates_rank_each_currency_with_a_currency_column(app, db, merchant):
    account = merchant["account"]
    jane, bob = new_affiliate(db, account["id"]), new_affiliate(db, account["id"], "Bob", "bob@example.com")
    approved_conversion(db, account, jane["id"], 50000)
    approved_conversion(db, account, jane["id"], 7000, currency="eur")
    approved_conversion(db, account, bob["id"], 9000, currency="eur")
    res = app.get("/dashboard")
    table = res.html.find("table", class_="top-affiliates")
    assert [th.text for th in table.find("thead").find_all("th")][:2] == ["Affiliate", "Currency"]
    rows = [[td.text.strip() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    assert [(r[0], r[1], r[3]) for r in rows] == [("Bob", "EUR", "€90.00"), ("Jane Smith", "EUR", "€70.00"),
                                                  ("Jane Smith", "USD", "$500.00")]
    # Totals per currency, each labelled with its code.
    revenue = [s for s in res.html.find_all("div", class_="stat") if s.find(class_="label").text == "Revenue"][0]
    assert [v.text.split() for v in revenue.find_all(class_="money-line")] == [["$500.00", "USD"], ["€160.00", "EUR"]]


def test_every_chart_label_stays_inside_the_chart():
    series = [(d * DAY, 3, 1) for d in range(20_000, 20_030)]
    svg = affilut.daily_chart_svg(series, width=720)
    labels = re.findall(r'<text class="axis" x="([\d.]+)" y="174" text-anchor="(\w+)">([^<]+)</text>', svg)
    width_of_label = 6.5 * 6  # "Oct 12" at 11px, generously
    for x, anchor, text in labels:
        left = float(x) - {"start": 0, "middle": width_of_label / 2, "end": width_of_label}[anchor]
        assert 0 <= left and left + width_of_label <= 720, (text, x, anchor)
    assert labels[-1][2] == affilut.time.strftime("%b %d", affilut.time.gmtime(series[-1][0] // 1000))


def test_the_affiliate_filter_is_a_search_not_a_menu_of_every_affiliate(app, db, merchant):
    account = merchant["account"]
    ids = [new_affiliate(db, account["id"], f"Partner {i:02d}", f"partner{i}@example.com")["id"] for i in range(30)]
    many_conversions(db, account, ids[:2], 4)
    res = app.get("/dashboard/conversions")
    assert res.html.find("select", {"name": "affiliate_id"}) is None
    assert res.text.count("Partner ") == 4  # the rows' names only, never all thirty
    found = app.get("/dashboard/affiliates/suggest?q=partner%201").json  # by name, without case
    assert [r["name"] for r in found] == [f"Partner {i}" for i in range(10, 20)]
    assert [r["id"] for r in app.get("/dashboard/affiliates/suggest?q=PARTNER1@").json] == [ids[1]]  # by email
    assert app.get("/dashboard/affiliates/suggest?q=%25").json == []  # LIKE's wildcards are literal
    by_email = app.get("/dashboard/conversions?affiliate_id=partner1%40example.com")
    assert by_email.text.count('name="id"') == 2 and "Partner 01" in by_email.text
    assert "No affiliate of this program" in app.get("/dashboard/conversions?affiliate_id=nobody").text


def test_payouts_page_through_balances(app, db, merchant, monkeypatch):
    monkeypatch.setattr(affilut, "DASHBOARD_PAGE_SIZE", 2)
    account = merchant["account"]
    for i in range(5):
        approved_conversion(db, account, new_affiliate(db, account["id"], f"A{i}", f"a{i}@example.com")["id"], 1000)
    seen, path = [], "/dashboard/payouts"
    while path:
        res = app.get(path)
        seen += [a.text for a in res.html.find("table", class_="owed-table").find_all("a")]
        nxt = res.html.find("a", string="Next →")
        path = nxt["href"] if nxt else None
    assert seen == [f"A{i}" for i in range(5)]
    assert len(list(csv.reader(io.StringIO(app.get("/dashboard/payouts/due.csv?format=generic").text)))) == 6


def test_payout_history_pages_newest_first_each_payout_once(app, db, merchant, monkeypatch):
    monkeypatch.setattr(affilut, "DASHBOARD_PAGE_SIZE", 2)
    account = merchant["account"]
    for i in range(5):
        approved_conversion(db, account, new_affiliate(db, account["id"], f"A{i}", f"a{i}@example.com")["id"], 1000)
    fresh = affilut.get_account(db, account["id"])
    affilut.mark_payouts_paid(db, fresh, [(d["affiliate_id"], d["currency"], d["digest"])
                                          for d in affilut.due_payouts(db, fresh)])
    newest_first = [r[0] for r in db.execute("SELECT id FROM payouts ORDER BY id DESC")]
    seen, path, pages = [], "/dashboard/payouts", 0
    while path:
        res = app.get(path)
        pages += 1
        seen += [td["title"] for td in res.html.find("table", class_="payouts-table").find_all("td", title=True)]
        assert (res.html.find("a", string="← Newest payouts") is None) == (pages == 1)
        older = res.html.find("a", string="Older payouts →")
        path = older["href"] if older else None
    assert seen == newest_first and pages == 3


@pytest.mark.parametrize("path, status, back", [
    ("/r/no-such-code", 404, "/"), ("/dashboard/no-such-page", 404, "/dashboard"), ("/portal/nope", 404, "/portal"),
    ("/nothing-here", 404, "/")])
def test_dead_ends_are_styled_pages_with_a_way_back(app, path, status, back):
    res = app.get(path, status=status)
    assert res.content_type == "text/html"
    assert res.html.find("link", rel="stylesheet")["href"] == "/static/app.css"
    assert res.html.find("a", class_="button")["href"] == back
    assert res.html.find("a", class_="brand")["href"] in ("/", "/dashboard", "/portal")


def boom(*args, **kwargs):
    raise RuntimeError("a bug nobody foresaw")


@pytest.mark.parametrize("area, path, broken, back", [
    ("dashboard", "/dashboard", "program_stats", "/dashboard"),
    ("portal", "/portal", "affiliate_record", "/portal"),
    ("public", "/signin", "has_merchant_user", "/"),
    ("link", "/r/{code}", "landing_target", "/"),
])
def test_a_page_that_fails_unexpectedly_is_a_styled_500_with_a_way_back(app, db, merchant, monkeypatch, capsys,
                                                                        area, path, broken, back):
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    if area == "portal":
        affilut.set_affiliate_password(db, jane["id"], affilut.hash_password("correct horse battery"))
        app.reset()
        form = app.get(f"/portal/signin/{account['id']}").forms[0]
        form["email"], form["password"] = "jane@example.com", "correct horse battery"
        form.submit(status=303)
    monkeypatch.setattr(affilut, broken, boom)
    # expect_errors: outside the page routes Bottle logs the traceback to wsgi.errors, which WebTest checks.
    res = app.get(path.format(code=jane["short_code"]), status=500, expect_errors=True)
    assert res.content_type == "text/html"
    assert res.html.find("link", rel="stylesheet")["href"] == "/static/app.css"
    assert res.html.find("h1").text == "Something went wrong"
    assert res.html.find("a", class_="button")["href"] == back
    assert res.html.find("a", class_="brand")["href"] == {"dashboard": "/dashboard", "portal": "/portal"}.get(area, "/")
    assert "a bug nobody foresaw" not in res.text
    assert "a bug nobody foresaw" in capsys.readouterr().err + res.errors  # logged for the operator


def test_an_unknown_link_offers_the_page_the_visitor_came_from(app):
    res = app.get("/r/gone", headers={"Referer": "https://blog.example/post"}, status=404)
    assert res.html.find("a", class_="button")["href"] == "https://blog.example/post"
    res = app.get("/r/gone", headers={"Referer": "javascript:alert(1)"}, status=404)
    assert res.html.find("a", class_="button")["href"] == "/"
