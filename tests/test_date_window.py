"""A date window of the conversions list and its CSV: the rows whose created_at lies in it, in the order
recorded, found at the same cost whatever the window's age; and the dashboard's lists page with older and
newer links (keyset), so any depth costs what the first page does."""

import csv
import io
import re

import pytest

import affilut
from conftest import bearer
from test_dashboard import cheap_scrypt, merchant, new_affiliate, throttle  # noqa: F401  (fixtures)

DAY = affilut.DAY_MS
T0 = 1_780_000_000_000 // DAY * DAY  # a UTC midnight in 2026


def day_text(ms):
    return affilut.format_day(ms)


@pytest.fixture
def recorded(db, merchant, monkeypatch):
    """Conversions recorded one a day over 40 days, then one whose clock was set back to day 5 (as a
    writer that read the clock before waiting for the lock, or a clock set back, would record it),
    then two more days. Statuses alternate. Returns them in recording order as (id, created_at, status)."""
    account = merchant["account"]
    jane = new_affiliate(db, account["id"])
    times = [T0 + d * DAY + 3_600_000 for d in range(40)] + [T0 + 5 * DAY + 7_200_000] + \
            [T0 + d * DAY + 3_600_000 for d in (40, 41)]
    rows = []
    for n, at in enumerate(times):
        with monkeypatch.context() as patch:
            patch.setattr(affilut, "now_ms", lambda at=at: at)
            row = affilut.record_manual_conversion(db, account, jane["id"], 1000 + n)
            if n % 2:
                affilut.set_conversion_status(db, account["id"], row["id"], "approved")
        rows.append((row["id"], at, "approved" if n % 2 else "pending"))
    return rows


def shown_ids(res):
    return re.findall(r'<input type="checkbox" name="id" value="(cnv_[0-9a-z]{26})"', res.text)


def window(rows, first_day, last_day, status=None):
    """The ids a window from first_day to last_day (inclusive, as the form's dates) must list, newest recorded first."""
    lo, hi = T0 + first_day * DAY, T0 + (last_day + 1) * DAY
    return [i for i, at, s in reversed(rows) if lo <= at < hi and status in (None, s)]


@pytest.mark.parametrize("first_day, last_day, status", [(3, 7, None), (3, 7, "approved"), (0, 2, None),
                                                           (38, 41, None), (5, 5, None), (0, 41, "pending")])
def test_a_date_window_lists_its_rows_in_recording_order_on_the_page_and_in_the_csv(
        app, recorded, first_day, last_day, status):
    query = f"from={day_text(T0 + first_day * DAY)}&to={day_text(T0 + last_day * DAY)}" + \
        (f"&status={status}" if status else "")
    expected = window(recorded, first_day, last_day, status)
    assert expected  # every case lists something
    if 5 in range(first_day, last_day + 1) and status is None:
        assert recorded[40][0] in expected  # the row recorded late, its clock set back, is in its window
    assert shown_ids(app.get(f"/dashboard/conversions?{query}"))[:25] == expected[:25]
    exported = list(csv.reader(io.StringIO(app.get(f"/dashboard/conversions.csv?{query}").text)))
    assert [r[0] for r in exported[1:]] == expected


def test_the_api_lists_every_conversion_in_recording_order_with_the_same_fields(app, db, merchant, recorded):
    _, key = affilut.create_api_key(db, merchant["account"]["id"], "test")
    body = app.get("/api/v1/conversions?limit=100", headers=bearer(key)).json
    assert [c["id"] for c in body["data"]] == [i for i, _, _ in reversed(recorded)]
    late = next(c for c in body["data"] if c["id"] == recorded[40][0])
    assert late["createdAt"] == affilut.iso_time(recorded[40][1])  # stored as recorded, never moved
    assert {"id", "affiliateId", "stripeChargeId", "amountCents", "commissionCents", "status",
            "createdAt"} <= set(late)


def walk(app, url, link):
    """The ids on each page from url on, following the link named `link` until there is none."""
    pages, res = [], app.get(url)
    while True:
        pages.append(shown_ids(res) if "conversions" in url else
                     re.findall(r'href="/dashboard/affiliates/(aff_[0-9a-z]{26})"', res.text))
        if link not in res.text:
            return pages, res
        res = res.click(description=re.escape(link))


@pytest.mark.parametrize("query, first_day, last_day, status", [
    ("", 0, 41, None), ("status=approved", 0, 41, "approved"), ("from={a}&to={b}", 2, 30, None),
    ("from={a}&to={b}&status=pending", 2, 30, "pending"), ("from={a}", 4, 41, None)])
def test_older_and_newer_links_visit_every_conversion_once(app, recorded, monkeypatch, query, first_day,
                                                           last_day, status):
    monkeypatch.setattr(affilut, "DASHBOARD_PAGE_SIZE", 4)
    url = "/dashboard/conversions?" + query.format(a=day_text(T0 + first_day * DAY), b=day_text(T0 + last_day * DAY))
    expected = window(recorded, first_day, last_day, status)
    down, last = walk(app, url, "Older →")
    assert sum(down, []) == expected and all(len(p) == 4 for p in down[:-1])
    up, top = walk(app, last.request.url, "← Newer")
    assert sum(reversed(up[1:]), []) == expected[:-len(down[-1])]
    assert shown_ids(top) == expected[:4] and "Newer" not in top.text
    assert shown_ids(last.click(description="« Newest")) == expected[:4]


def test_older_and_newer_links_visit_every_affiliate_once(app, db, merchant, monkeypatch):
    monkeypatch.setattr(affilut, "DASHBOARD_PAGE_SIZE", 3)
    account_id = merchant["account"]["id"]
    made = [new_affiliate(db, account_id, f"P{i}", f"p{i}@example.com", "pending" if i % 3 else "active")["id"]
            for i in range(11)]
    for url, expected in (("/dashboard/affiliates", made[::-1]),
                          ("/dashboard/affiliates?status=pending", [a for i, a in enumerate(made) if i % 3][::-1])):
        down, last = walk(app, url, "Older →")
        assert sum(down, []) == expected
        up, _ = walk(app, last.request.url, "← Newer")
        assert sum(reversed(up), []) == expected[:-len(down[-1])] + down[-1]


def test_an_odd_position_in_the_url_shows_the_newest_page(app, recorded):
    newest = shown_ids(app.get("/dashboard/conversions"))
    for odd in ("before=x", "after=cnv_", "before=aff_" + "0" * 26, "page=3"):
        assert shown_ids(app.get("/dashboard/conversions?" + odd)) == newest


class Recorder:
    """A connection that remembers the statements a list runs, to ask SQLite how it plans them."""

    def __init__(self, db):
        self.db, self.statements = db, []

    def execute(self, sql, params=()):
        self.statements.append((sql, params))
        return self.db.execute(sql, params)


@pytest.mark.parametrize("chosen", [{"from": "2026-06-01", "to": "2026-06-07"}, {"to": "2026-06-07"},
                                    {"from": "2026-06-01", "status": "approved"},
                                    {"to": "2026-06-07", "affiliate_id": "aff_" + "1" * 26}])
@pytest.mark.parametrize("cursor", [None, "starting_after", "ending_before"])
def test_a_date_window_is_found_by_seeks_never_by_walking_the_accounts_conversions(db, recorded, merchant,
                                                                                   chosen, cursor):
    """Constant cost is the requirement here, so the plan itself is checked: the window's ends are seeks in
    the created_at index and the rows a range of the list's index by seq, with no scan or sort."""
    db.execute("ANALYZE")  # as the server keeps statistics: the plan must hold with them
    filters, params, _ = affilut.conversion_filters(chosen)
    spy = Recorder(db)
    affilut.list_conversions(spy, filters, {"account": merchant["account"]["id"], **params}, 1, 25,
                             **({cursor: recorded[20][0]} if cursor else {}))
    sql, bound = spy.statements[-1]
    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, bound)]
    assert not [step for step in plan if step.startswith("SCAN conversions")], plan
    assert plan.count("USE TEMP B-TREE FOR ORDER BY") <= 1, plan  # only the page's own rows are put in order
    page_rows = next(step for step in plan if step.startswith("SEARCH conversions USING"))
    assert re.search(r"seq[<>]\?", page_rows), plan  # a range of seq, seeked at both its ends
    assert sum("conversions_by_time" in step for step in plan) == len([k for k in chosen if k in ("from", "to")]), plan


def test_a_database_whose_rows_were_recorded_out_of_order_lists_its_windows_whole_after_migrating(tmp_path):
    from test_schema import database_at
    path = str(tmp_path / "v17.db")
    db = database_at(path, 17)
    account = "acc_" + "a" * 26
    db.execute("INSERT INTO accounts (id, name, default_commission, created_at) VALUES (?, 'Shop', '10', 0)", (account,))
    db.execute("""INSERT INTO affiliates (id, account_id, name, email, short_code, status, created_at, updated_at)
                  VALUES ('aff_01', ?, 'Jane', 'jane@example.com', 'jane-1', 'active', 0, 0)""", (account,))
    days = [10, 2, 11, 3]  # the second and fourth recorded with a clock set back
    for seq, day in enumerate(days, 1):
        db.execute("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                          commission_cents, commission_rate, status, created_at, updated_at, seq)
                      VALUES (?, ?, 'aff_01', ?, 100, 10, '10', 'pending', ?, ?, ?)""",
                   (f"cnv_{seq}", account, f"ch_{seq}", T0 + day * DAY, T0 + day * DAY, seq))
    db.close()
    affilut.init_db(path)
    db = affilut.connect(path)
    try:
        for first, last, expected in ((2, 2, ["cnv_2"]), (2, 3, ["cnv_4", "cnv_2"]), (3, 10, ["cnv_4", "cnv_1"]),
                                      (11, 11, ["cnv_3"]), (0, 20, ["cnv_4", "cnv_3", "cnv_2", "cnv_1"])):
            filters, params, _ = affilut.conversion_filters({"from": day_text(T0 + first * DAY),
                                                             "to": day_text(T0 + last * DAY)})
            rows, _ = affilut.list_conversions(db, filters, {"account": account, **params}, 1, 25)
            assert [r["id"] for r in rows] == expected, (first, last)
    finally:
        db.close()


def test_recording_and_approving_a_conversion_does_the_same_work_in_a_big_account(app, db, api_key, affiliate):
    """What SQLite does for one conversion (its indexes, totals and bounds kept by triggers) must not
    grow with the account: counted in SQLite's own steps on the write connection (a progress handler
    called at every virtual machine instruction), at 10 and at 4,000 earlier conversions. A trigger
    that walks the account's rows (one did) takes thousands of steps more at the bigger size."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    writer = affilut.writer(path)[1]
    account_id = db.execute("SELECT account_id FROM affiliates WHERE id = :id", {"id": affiliate["id"]}).fetchone()[0]

    def fill(count):
        now = affilut.now_ms()
        rows = [{**affilut.CONVERSION_DEFAULTS, "id": affilut.new_id("cnv"), "account_id": account_id,
                 "affiliate_id": affiliate["id"], "stripe_charge_id": f"manual:fill-{now}-{n}", "external_id": f"fill-{now}-{n}",
                 "amount_cents": 1000, "commission_cents": 100, "commission_rate": "10", "currency": "usd",
                 "status": "pending", "kind": "manual", "created_at": now - n, "updated_at": now,
                 "account": account_id} for n in range(count)]
        with affilut.transaction(db) as tx:
            tx.executemany(f"""INSERT INTO conversions ({', '.join(affilut.CONVERSION_COLUMNS)}, seq)
                               VALUES ({', '.join(':' + c for c in affilut.CONVERSION_COLUMNS)}, {affilut.NEXT_SEQ})""",
                           rows)

    def steps():
        counted = [0]

        def count():
            counted[0] += 1
        writer.set_progress_handler(count, 1)
        try:
            made = app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 4900},
                                 headers=bearer(api_key), status=201).json
            app.patch_json(f"/api/v1/conversions/{made['id']}", {"status": "approved"},
                           headers=bearer(api_key), status=200)
        finally:
            writer.set_progress_handler(None, 1)
        return counted[0]

    fill(10)
    small = steps()
    fill(4000)
    big = steps()
    assert small > 0
    assert big < small + 500, (small, big)


def test_an_action_on_an_older_page_returns_to_that_page_of_the_same_filter(app, recorded, monkeypatch):
    monkeypatch.setattr(affilut, "DASHBOARD_PAGE_SIZE", 4)
    second = app.get("/dashboard/conversions?status=pending").click(description=re.escape("Older →"))
    shown = shown_ids(second)
    form = second.forms[[i for i, f in second.forms.items() if f.action == "/dashboard/conversions/status"][0]]
    form["id"] = [shown[0]] + [False] * (len(form.fields["id"]) - 1)
    back = form.submit("action", value="approve").follow()
    assert "status=pending" in back.request.url and f"before={second.request.GET['before']}" in back.request.url
    assert "Conversions updated." in back.text
    assert shown_ids(back)[:3] == shown[1:]  # the approved one left the pending filter; the page goes on below it


def test_an_emptied_older_page_still_leads_back(app, recorded, monkeypatch):
    monkeypatch.setattr(affilut, "DASHBOARD_PAGE_SIZE", 4)
    newest = shown_ids(app.get("/dashboard/conversions?status=pending"))
    oldest = shown_ids(walk(app, "/dashboard/conversions", "Older →")[1])[-1]
    empty = app.get(f"/dashboard/conversions?status=pending&before={oldest}")  # nothing is older than the oldest
    assert shown_ids(empty) == []
    assert shown_ids(empty.click(description="« Newest")) == newest
    assert "status=pending" in empty.click(description=re.escape("← Newer")).request.url
    assert shown_ids(empty.click(description=re.escape("← Newer")))
