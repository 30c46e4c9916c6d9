"""The REST API as an integrator sees it: status codes, bodies, headers and rows in the database."""

import re
import time

import pytest

import affilut
from conftest import bearer, make_account

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def post_conversion(app, key, body, status=201):
    return app.post_json("/api/v1/conversions", body, headers=bearer(key), status=status)


def count(db, table):
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# -- Authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    None,                                   # missing
    "aff_" + "a" * 40,                      # no scheme
    "Basic dXNlcjpwYXNz",                   # wrong scheme
    "Bearer ",                              # empty
    "Bearer not-a-key",                     # malformed
    "Bearer aff_" + "b" * 40,               # unknown
])
def test_bad_credentials_get_401_with_challenge(app, api_key, header):
    headers = {"Authorization": header} if header else {}
    res = app.get("/api/v1/affiliates", headers=headers, status=401)
    assert res.headers["WWW-Authenticate"] == "Bearer"
    assert res.content_type == "application/json"
    assert res.json["error"]["code"] == "unauthorized"


def test_revoked_key_gets_401(app, db, account, api_key):
    app.get("/api/v1/affiliates", headers=bearer(api_key), status=200)
    key_id = db.execute("SELECT id FROM api_keys").fetchone()["id"]
    assert affilut.revoke_api_key(db, account["id"], key_id)
    res = app.get("/api/v1/affiliates", headers=bearer(api_key), status=401)
    assert res.json["error"]["code"] == "unauthorized"


def test_key_revoked_by_another_process_stops_working_at_once(app, db, api_key):
    app.get("/api/v1/affiliates", headers=bearer(api_key), status=200)
    other_process = affilut.connect(db.execute("PRAGMA database_list").fetchone()[2])
    with other_process:
        other_process.execute("UPDATE api_keys SET revoked_at = 1")
    other_process.close()
    assert app.get("/api/v1/affiliates", headers=bearer(api_key), status=401).json["error"]["code"] == "unauthorized"


def test_program_commission_change_applies_to_the_next_api_conversion(app, db, account, api_key):
    affiliate = app.post_json("/api/v1/affiliates", {"name": "Ann", "email": "ann@example.com"},
                              headers=bearer(api_key)).json
    first = app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 1000},
                          headers=bearer(api_key)).json
    affilut.update_program(db, account["id"], {"name": "Shop", "default_commission": "25",
                                               "attribution_window_days": "30", "hold_days": "0",
                                               "payout_minimum": "0"})
    second = app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 1000},
                           headers=bearer(api_key)).json
    assert (first["commissionCents"], second["commissionCents"]) == (100, 250)


def test_key_is_stored_only_as_a_hash_and_last_use_is_recorded(app, db, api_key):
    row = db.execute("SELECT * FROM api_keys").fetchone()
    assert api_key.startswith("aff_") and len(api_key) >= 36
    assert api_key not in [str(v) for v in tuple(row)]
    assert row["key_hash"] == affilut.hash_key(api_key)
    assert api_key.startswith(row["prefix"]) and len(row["prefix"]) < 16
    assert row["last_used_at"] is None
    app.get("/api/v1/affiliates", headers=bearer(api_key))
    assert db.execute("SELECT last_used_at FROM api_keys").fetchone()[0] is not None


# -- Affiliates ------------------------------------------------------------------------------


def test_create_affiliate_returns_reference_fields(app, db, account, api_key):
    res = app.post_json("/api/v1/affiliates", {"name": "Jane Smith", "email": "jane@example.com"},
                        headers=bearer(api_key), status=201)
    body = res.json
    assert set(body) == {"id", "name", "email", "shortCode", "status", "commissionOverride", "createdAt",
                         "activatedAt"}
    assert re.fullmatch(r"aff_[0-9a-z]{26}", body["id"])
    assert re.fullmatch(r"jane-smith-[0-9a-f]{4}", body["shortCode"])
    assert body["status"] == "active" and body["commissionOverride"] is None
    assert ISO_MS.fullmatch(body["createdAt"]) and body["activatedAt"] == body["createdAt"]
    row = db.execute("SELECT * FROM affiliates WHERE id = ?", (body["id"],)).fetchone()
    assert row["account_id"] == account["id"] and row["email"] == "jane@example.com"


def test_pending_affiliate_is_activated_once(app, api_key):
    created = app.post_json("/api/v1/affiliates", {"name": "Pat", "email": "pat@example.com", "status": "pending"},
                            headers=bearer(api_key), status=201).json
    assert created["activatedAt"] is None
    url = f"/api/v1/affiliates/{created['id']}"
    first = app.patch_json(url, {"status": "active"}, headers=bearer(api_key)).json
    assert ISO_MS.fullmatch(first["activatedAt"])
    app.patch_json(url, {"status": "paused"}, headers=bearer(api_key))
    again = app.patch_json(url, {"status": "active"}, headers=bearer(api_key)).json
    assert again["activatedAt"] == first["activatedAt"]


def test_patch_affiliate_name_and_override(app, api_key, affiliate):
    url = f"/api/v1/affiliates/{affiliate['id']}"
    res = app.patch_json(url, {"name": "Jane S.", "commission_override": "12.50"}, headers=bearer(api_key))
    assert res.json["name"] == "Jane S." and res.json["commissionOverride"] == "12.5"
    assert res.json["shortCode"] == affiliate["shortCode"]
    cleared = app.patch_json(url, {"commission_override": None}, headers=bearer(api_key)).json
    assert cleared["commissionOverride"] is None
    assert app.get(url, headers=bearer(api_key)).json == cleared


def test_duplicate_email_in_one_account_is_409_but_fine_in_another(app, db, api_key, affiliate, other_tenant):
    res = app.post_json("/api/v1/affiliates", {"name": "Jane Again", "email": "JANE@example.com"},
                        headers=bearer(api_key), status=409)
    assert res.json["error"]["code"] == "duplicate_email" and res.json["error"]["param"] == "email"
    app.post_json("/api/v1/affiliates", {"name": "Jane", "email": "jane@example.com"},
                  headers=bearer(other_tenant["key"]), status=201)
    assert count(db, "affiliates") == 3


@pytest.mark.parametrize("body, param", [
    ({"email": "a@example.com"}, "name"),
    ({"name": "", "email": "a@example.com"}, "name"),
    ({"name": "   ", "email": "a@example.com"}, "name"),
    ({"name": 42, "email": "a@example.com"}, "name"),
    ({"name": "x" * 201, "email": "a@example.com"}, "name"),
    ({"name": "a\x00b", "email": "a@example.com"}, "name"),
    ({"name": "Ann"}, "email"),
    ({"name": "Ann", "email": "not-an-email"}, "email"),
    ({"name": "Ann", "email": "a@example.com", "status": "vip"}, "status"),
    ({"name": "Ann", "email": "a@example.com", "commission_override": "101"}, "commission_override"),
    ({"name": "Ann", "email": "a@example.com", "commission_override": "-5"}, "commission_override"),
    ({"name": "Ann", "email": "a@example.com", "commission_override": "1e2"}, "commission_override"),
    ({"name": "Ann", "email": "a@example.com", "commission_override": "12.34567"}, "commission_override"),
    ({"name": "Ann", "email": "a@example.com", "commission_override": True}, "commission_override"),
    ({"name": "Ann", "email": "a@example.com", "nickname": "A"}, "nickname"),
])
def test_invalid_affiliate_is_400_naming_the_field(app, db, api_key, body, param):
    res = app.post_json("/api/v1/affiliates", body, headers=bearer(api_key), status=400)
    assert res.json["error"]["param"] == param
    assert count(db, "affiliates") == 0


def test_commission_override_accepts_json_numbers_exactly(app, api_key):
    res = app.post("/api/v1/affiliates", '{"name": "Num", "email": "n@example.com", "commission_override": 12.5}',
                   headers={**bearer(api_key), "Content-Type": "application/json"}, status=201)
    assert res.json["commissionOverride"] == "12.5"


def test_short_codes_are_unique_and_readable(app, api_key):
    codes = {app.post_json("/api/v1/affiliates", {"name": "Zoë Ümlaut!", "email": f"z{i}@example.com"},
                           headers=bearer(api_key)).json["shortCode"] for i in range(30)}
    assert len(codes) == 30
    assert all(re.fullmatch(r"zoe-umlaut-[0-9a-f]{4}", c) for c in codes)


def test_list_affiliates_pages_newest_first(app, api_key):
    ids = [app.post_json("/api/v1/affiliates", {"name": f"A{i}", "email": f"a{i}@example.com"},
                         headers=bearer(api_key)).json["id"] for i in range(5)]
    first = app.get("/api/v1/affiliates?limit=2", headers=bearer(api_key)).json
    assert [a["id"] for a in first["data"]] == ids[::-1][:2]
    assert (first["page"], first["limit"], first["hasMore"]) == (1, 2, True)
    last = app.get("/api/v1/affiliates?limit=2&page=3", headers=bearer(api_key)).json
    assert [a["id"] for a in last["data"]] == [ids[0]] and last["hasMore"] is False
    default = app.get("/api/v1/affiliates", headers=bearer(api_key)).json
    assert (default["page"], default["limit"], len(default["data"])) == (1, 50, 5)
    after = app.get(f"/api/v1/affiliates?limit=2&starting_after={ids[3]}", headers=bearer(api_key)).json
    assert [a["id"] for a in after["data"]] == [ids[2], ids[1]]


# -- Conversions ------------------------------------------------------------------------------


def test_manual_conversion_at_program_default(app, db, account, api_key, affiliate):
    res = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 4905,
                                         "external_id": "inv_2026_00142"})
    body = res.json
    assert body["commissionCents"] == 491 and re.fullmatch(r"cnv_[0-9a-z]{26}", body["id"])
    assert body["stripeChargeId"] == "manual:inv_2026_00142" and body["status"] == "pending"
    assert body["amountCents"] == 4905 and body["affiliateId"] == affiliate["id"]
    row = db.execute("SELECT * FROM conversions").fetchone()
    assert (row["account_id"], row["commission_rate"], row["commission_cents"]) == (account["id"], "10", 491)


@pytest.mark.parametrize("body", [
    {"amount_cents": 4905, "external_id": "inv_2026_00143"},
    {"amount_cents": 1},
])
def test_created_conversion_answer_is_the_stored_row(app, api_key, affiliate, body):
    # The 201 is built from the values written, not read back: it must match what GET reads.
    created = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], **body}).json
    assert app.get(f"/api/v1/conversions/{created['id']}", headers=bearer(api_key)).json == created


def test_created_conversion_has_one_history_line_from_the_api(app, db, api_key, affiliate):
    created = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 500}).json
    post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 500, "external_id": "x1"})
    post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 500, "external_id": "x1"},
                    status=409)
    history = db.execute("""SELECT conversion_id, from_status, to_status, actor, reason FROM conversion_history
                            ORDER BY id""").fetchall()
    assert len(history) == 2  # the refused duplicate left nothing
    assert tuple(history[0]) == (created["id"], None, "pending", "api", None)


def test_manual_conversion_without_external_id(app, api_key, affiliate):
    body = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100}).json
    assert body["stripeChargeId"] == f"manual:{body['id']}" and body["externalId"] is None
    post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100})


@pytest.mark.parametrize("amount, rate, expected", [
    (999, "12.5", 125), (4905, "10", 491), (4900, "10", 490), (1, "50", 1), (1, "49.9999", 0),
    (100_000_000_000, "100", 100_000_000_000), (333, "33.3333", 111), (5, "10", 1), (4, "12.5", 1),
])
def test_commission_is_exact_decimal_rounded_half_up(app, api_key, affiliate, amount, rate, expected):
    app.patch_json(f"/api/v1/affiliates/{affiliate['id']}", {"commission_override": rate}, headers=bearer(api_key))
    body = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": amount}).json
    assert body["commissionCents"] == expected and body["commissionRate"] == rate


def test_rate_change_never_rewrites_history(app, api_key, affiliate):
    old = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 1000}).json
    app.patch_json(f"/api/v1/affiliates/{affiliate['id']}", {"commission_override": "50"}, headers=bearer(api_key))
    new = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 1000}).json
    assert (old["commissionCents"], new["commissionCents"]) == (100, 500)
    again = app.get(f"/api/v1/conversions/{old['id']}", headers=bearer(api_key)).json
    assert (again["commissionCents"], again["commissionRate"]) == (100, "10")


def test_duplicate_external_id_is_409_naming_the_existing_conversion(app, db, api_key, affiliate, other_tenant):
    body = {"affiliate_id": affiliate["id"], "amount_cents": 4900, "external_id": "inv_1"}
    first = post_conversion(app, api_key, body).json
    res = post_conversion(app, api_key, {**body, "amount_cents": 1}, status=409)
    assert res.json["error"]["code"] == "duplicate_external_id"
    assert res.json["error"]["conversionId"] == first["id"]
    assert count(db, "conversions") == 1
    # Another account's external ids are its own business.
    post_conversion(app, other_tenant["key"], {**body, "affiliate_id": other_tenant["affiliate"]["id"]})
    assert count(db, "conversions") == 2


@pytest.mark.parametrize("raw_amount", ["true", "49.5", '"4900"', "null", "0", "-5", "100000000001", "1e3",
                                        "[4900]", "4900.0", "99999999999999999999999999"])
def test_bad_amounts_are_400(app, db, api_key, affiliate, raw_amount):
    raw = f'{{"affiliate_id": "{affiliate["id"]}", "amount_cents": {raw_amount}}}'
    res = app.post("/api/v1/conversions", raw, headers={**bearer(api_key), "Content-Type": "application/json"},
                   status=400)
    assert res.json["error"]["param"] == "amount_cents"
    assert count(db, "conversions") == 0


@pytest.mark.parametrize("body, param", [
    ({"amount_cents": 100}, "affiliate_id"),
    ({"affiliate_id": "", "amount_cents": 100}, "affiliate_id"),
    ({"affiliate_id": 7, "amount_cents": 100}, "affiliate_id"),
    ({"affiliate_id": "AFF", "amount_cents": 100, "external_id": ""}, "external_id"),
    ({"affiliate_id": "AFF", "amount_cents": 100, "external_id": "x" * 256}, "external_id"),
    ({"affiliate_id": "AFF", "amount_cents": 100, "external_id": 12}, "external_id"),
    ({"affiliate_id": "AFF"}, "amount_cents"),
    ({"affiliate_id": "AFF", "amount_cents": 100, "amount": 100}, "amount"),
])
def test_bad_conversion_fields_are_400(app, db, api_key, affiliate, body, param):
    if body.get("affiliate_id") == "AFF":
        body = {**body, "affiliate_id": affiliate["id"]}
    res = post_conversion(app, api_key, body, status=400)
    assert res.json["error"]["param"] == param and res.json["error"]["message"]
    assert count(db, "conversions") == 0


def test_external_id_of_255_characters_is_fine(app, api_key, affiliate):
    body = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 1,
                                          "external_id": "x" * 255}).json
    assert body["externalId"] == "x" * 255


@pytest.mark.parametrize("raw, content_type", [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    ("", "application/json"),
    ('{"affiliate_id": "x", "amount_cents": NaN}', "application/json"),
    ("affiliate_id=x&amount_cents=1", "application/x-www-form-urlencoded"),
    ('{"affiliate_id": "x", "amount_cents": 1}', "text/plain"),
    ("[" * 30_000 + "]" * 30_000, "application/json"),  # deep nesting, valid JSON under 64 KiB
])
def test_malformed_bodies_are_400(app, db, api_key, raw, content_type):
    res = app.post("/api/v1/conversions", raw.encode()[:60_000],
                   headers={**bearer(api_key), "Content-Type": content_type}, status=400)
    assert res.json["error"]["code"] in ("invalid_json", "invalid_content_type")
    assert count(db, "conversions") == 0


def test_non_utf8_body_is_400(app, api_key):
    res = app.post("/api/v1/conversions", b'{"affiliate_id": "\xff\xfe", "amount_cents": 1}',
                   headers={**bearer(api_key), "Content-Type": "application/json"}, status=400)
    assert res.json["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("path", ["/api/v1/affiliates", "/api/v1/conversions"])
def test_lone_surrogate_escape_is_400_not_500(app, db, api_key, affiliate, path):
    raw = ('{"name": "\\ud800", "email": "s@example.com"}' if path.endswith("affiliates") else
           '{"affiliate_id": "%s", "amount_cents": 1, "external_id": "inv\\udfff"}' % affiliate["id"])
    res = app.post(path, raw.encode(), headers={**bearer(api_key), "Content-Type": "application/json"}, status=400)
    assert res.json["error"]["code"] == "invalid_json"
    assert count(db, "affiliates") == 1 and count(db, "conversions") == 0


def test_body_over_64_kib_is_413(app, db, api_key, affiliate):
    body = {"affiliate_id": affiliate["id"], "amount_cents": 1, "external_id": "x" * (64 * 1024)}
    res = post_conversion(app, api_key, body, status=413)
    assert res.json["error"]["code"] == "payload_too_large"
    assert count(db, "conversions") == 0


def test_unknown_and_foreign_affiliates_are_404(app, db, api_key, other_tenant):
    for affiliate_id in ("aff_01jdzzzzzzzzzzzzzzzzzzzzzz", other_tenant["affiliate"]["id"]):
        res = post_conversion(app, api_key, {"affiliate_id": affiliate_id, "amount_cents": 100}, status=404)
        assert res.json["error"]["code"] == "not_found" and res.json["error"]["param"] == "affiliate_id"
    assert count(db, "conversions") == 0


def test_list_conversions_filters_and_pages(app, api_key, affiliate):
    other = app.post_json("/api/v1/affiliates", {"name": "Bo", "email": "bo@example.com"},
                          headers=bearer(api_key)).json
    made = []
    for i in range(6):
        who = affiliate if i % 2 == 0 else other
        made.append(post_conversion(app, api_key, {"affiliate_id": who["id"], "amount_cents": 100 + i}).json)
    app.patch_json(f"/api/v1/conversions/{made[0]['id']}", {"status": "approved"}, headers=bearer(api_key))
    app.patch_json(f"/api/v1/conversions/{made[2]['id']}", {"status": "approved"}, headers=bearer(api_key))

    everything = app.get("/api/v1/conversions", headers=bearer(api_key)).json
    assert [c["id"] for c in everything["data"]] == [c["id"] for c in reversed(made)]
    assert set(everything["data"][0]) >= {"id", "affiliateId", "stripeChargeId", "amountCents", "commissionCents",
                                          "status", "createdAt", "currency", "reason"}
    mine = app.get(f"/api/v1/conversions?affiliate_id={affiliate['id']}", headers=bearer(api_key)).json
    assert [c["id"] for c in mine["data"]] == [made[4]["id"], made[2]["id"], made[0]["id"]]
    approved = app.get(f"/api/v1/conversions?status=approved&affiliate_id={affiliate['id']}",
                       headers=bearer(api_key)).json
    assert [c["id"] for c in approved["data"]] == [made[2]["id"], made[0]["id"]]
    page2 = app.get("/api/v1/conversions?limit=4&page=2", headers=bearer(api_key)).json
    assert [c["id"] for c in page2["data"]] == [made[1]["id"], made[0]["id"]] and page2["hasMore"] is False
    cursor = app.get(f"/api/v1/conversions?limit=4&starting_after={made[2]['id']}", headers=bearer(api_key)).json
    assert [c["id"] for c in cursor["data"]] == [made[1]["id"], made[0]["id"]]


@pytest.mark.parametrize("path", ["/api/v1/conversions", "/api/v1/affiliates"])
@pytest.mark.parametrize("query, param", [
    ("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=1.5", "page"), ("page=", "page"),
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("limit=%201", "limit"),
    ("starting_after=nope", "starting_after"),
])
def test_bad_paging_is_400(app, api_key, path, query, param):
    res = app.get(f"{path}?{query}", headers=bearer(api_key), status=400)
    assert res.json["error"]["param"] == param


def test_limit_bounds_are_accepted(app, api_key):
    for limit in (1, 100):
        assert app.get(f"/api/v1/conversions?limit={limit}", headers=bearer(api_key)).json["limit"] == limit


def test_unknown_status_filter_is_400(app, api_key):
    res = app.get("/api/v1/conversions?status=refunded", headers=bearer(api_key), status=400)
    assert res.json["error"]["param"] == "status"


# -- Lifecycle ----------------------------------------------------------------------------------

ALLOWED = {("pending", "approved"), ("approved", "paid"), ("pending", "rejected"), ("approved", "rejected")}
PATHS_TO = {"pending": [], "approved": ["approved"], "paid": ["approved", "paid"], "rejected": ["rejected"]}


@pytest.mark.parametrize("start", affilut.CONVERSION_STATUSES)
@pytest.mark.parametrize("target", affilut.CONVERSION_STATUSES)
def test_lifecycle_transitions(app, db, api_key, affiliate, start, target):
    conversion = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100}).json
    url = f"/api/v1/conversions/{conversion['id']}"
    for step in PATHS_TO[start]:
        app.patch_json(url, {"status": step}, headers=bearer(api_key), status=200)
    if (start, target) in ALLOWED:
        res = app.patch_json(url, {"status": target}, headers=bearer(api_key), status=200)
        assert res.json["status"] == target
    else:
        res = app.patch_json(url, {"status": target}, headers=bearer(api_key), status=409)
        assert res.json["error"]["code"] == "invalid_transition"
        assert res.json["error"]["currentStatus"] == start
    assert db.execute("SELECT status FROM conversions").fetchone()[0] == res.json.get("status", start)


def test_reject_keeps_a_reason(app, api_key, affiliate):
    conversion = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100}).json
    res = app.patch_json(f"/api/v1/conversions/{conversion['id']}", {"status": "rejected", "reason": "fraud"},
                         headers=bearer(api_key))
    assert (res.json["status"], res.json["reason"]) == ("rejected", "fraud")


@pytest.mark.parametrize("body", [{}, {"status": "done"}, {"status": None}, {"status": "paid", "x": 1}])
def test_bad_status_patch_is_400(app, api_key, affiliate, body):
    conversion = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100}).json
    app.patch_json(f"/api/v1/conversions/{conversion['id']}", body, headers=bearer(api_key), status=400)



# -- Paid: a payout of one conversion, under the payouts' rules -------------------------------------


def approved_via_api(app, key, affiliate, amount_cents):
    conversion = post_conversion(app, key, {"affiliate_id": affiliate["id"], "amount_cents": amount_cents}).json
    app.patch_json(f"/api/v1/conversions/{conversion['id']}", {"status": "approved"}, headers=bearer(key))
    return conversion


def test_patch_paid_records_a_payout_of_that_conversion_alone(app, db, account, api_key, affiliate):
    from test_totals import assert_totals_match
    paid = approved_via_api(app, api_key, affiliate, 4900)      # 490 commission
    waiting = approved_via_api(app, api_key, affiliate, 10000)  # 1000, still owed afterwards
    res = app.patch_json(f"/api/v1/conversions/{paid['id']}", {"status": "paid"}, headers=bearer(api_key))
    assert (res.json["id"], res.json["status"], res.json["commissionCents"]) == (paid["id"], "paid", 490)
    payout = db.execute("SELECT * FROM payouts").fetchone()
    assert (payout["affiliate_id"], payout["amount_cents"], payout["currency"], payout["conversion_count"],
            payout["paid_to"]) == (affiliate["id"], 490, "usd", 1, "jane@example.com")
    rows = {r["id"]: tuple(r)[1:] for r in db.execute("SELECT id, status, payout_id FROM conversions")}
    assert rows == {paid["id"]: ("paid", payout["id"]), waiting["id"]: ("approved", None)}
    # What the payouts page reads: only the other conversion is still owed.
    fresh = affilut.get_account(db, account["id"])
    assert [(d["amount_cents"], d["count"]) for d in affilut.due_payouts(db, fresh)] == [(1000, 1)]
    history = db.execute("SELECT actor, from_status, to_status, reason FROM conversion_history "
                         "WHERE conversion_id = ? ORDER BY id DESC LIMIT 1", (paid["id"],)).fetchone()
    assert tuple(history) == ("api", "approved", "paid", f"payout {payout['id']}")
    assert_totals_match(db)


@pytest.mark.parametrize("minimum, commission, paid", [(491, 490, False), (490, 490, True), (489, 490, True)])
def test_patch_paid_keeps_the_payout_minimum(app, db, account, api_key, affiliate, minimum, commission, paid):
    db.execute("UPDATE accounts SET payout_minimum_cents = ? WHERE id = ?", (minimum, account["id"]))
    conversion = approved_via_api(app, api_key, affiliate, commission * 10)
    url = f"/api/v1/conversions/{conversion['id']}"
    if paid:
        assert app.patch_json(url, {"status": "paid"}, headers=bearer(api_key)).json["status"] == "paid"
    else:
        res = app.patch_json(url, {"status": "paid"}, headers=bearer(api_key), status=409)
        assert res.json["error"]["code"] == "below_minimum"
        assert app.get(url, headers=bearer(api_key)).json["status"] == "approved"
    assert count(db, "payouts") == int(paid)


def test_the_lifecycle_alone_never_pays_a_live_conversion(app, db, account, api_key, affiliate):
    conversion = approved_via_api(app, api_key, affiliate, 4900)
    with pytest.raises(affilut.ApiError) as refused:
        affilut.set_conversion_status(db, account["id"], conversion["id"], "paid")
    assert refused.value.code == "payout_required"
    assert app.get(f"/api/v1/conversions/{conversion['id']}", headers=bearer(api_key)).json["status"] == "approved"

# -- Tenant isolation ------------------------------------------------------------------------------


def test_a_key_sees_only_its_own_account(app, api_key, affiliate, other_tenant):
    theirs = other_tenant["affiliate"]["id"]
    their_conversion = post_conversion(app, other_tenant["key"], {"affiliate_id": theirs, "amount_cents": 500}).json
    mine = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 500}).json
    key = bearer(api_key)

    assert [a["id"] for a in app.get("/api/v1/affiliates", headers=key).json["data"]] == [affiliate["id"]]
    assert [c["id"] for c in app.get("/api/v1/conversions", headers=key).json["data"]] == [mine["id"]]
    assert app.get(f"/api/v1/conversions?affiliate_id={theirs}", headers=key).json["data"] == []

    unknown = app.get("/api/v1/affiliates/aff_01jdzzzzzzzzzzzzzzzzzzzzzz", headers=key, status=404).json
    foreign = app.get(f"/api/v1/affiliates/{theirs}", headers=key, status=404).json
    assert foreign["error"]["code"] == unknown["error"]["code"] == "not_found"
    app.patch_json(f"/api/v1/affiliates/{theirs}", {"status": "banned"}, headers=key, status=404)
    app.get(f"/api/v1/conversions/{their_conversion['id']}", headers=key, status=404)
    app.patch_json(f"/api/v1/conversions/{their_conversion['id']}", {"status": "approved"}, headers=key, status=404)
    # Nothing of theirs changed.
    other = bearer(other_tenant["key"])
    assert app.get(f"/api/v1/affiliates/{theirs}", headers=other).json["status"] == "active"
    assert app.get(f"/api/v1/conversions/{their_conversion['id']}", headers=other).json["status"] == "pending"


# -- Routing and errors ------------------------------------------------------------------------------


def test_unknown_api_route_is_json_404(app, api_key):
    res = app.get("/api/v1/payouts", headers=bearer(api_key), status=404)
    assert res.content_type == "application/json" and res.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("method, path, allow", [
    ("DELETE", "/api/v1/conversions", "GET,POST"),
    ("PUT", "/api/v1/affiliates/aff_x", "GET,PATCH"),
    ("POST", "/api/v1/conversions/cnv_x", "GET,PATCH"),
])
def test_wrong_method_is_json_405_with_allow(app, api_key, method, path, allow):
    res = app.request(path, method=method, headers=bearer(api_key), status=405)
    assert res.headers["Allow"] == allow
    assert res.json["error"]["code"] == "method_not_allowed"


def test_healthz_reports_schema_version(app):
    res = app.get("/healthz")
    assert res.json == {"status": "ok", "schemaVersion": affilut.schema_migrations()[-1][0]}


def test_locked_database_is_503_with_retry_after(app, db_path, api_key, affiliate, monkeypatch):
    monkeypatch.setattr(affilut, "BUSY_TIMEOUT_SECONDS", 0.2)
    blocker = affilut.connect(db_path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        affilut.writer(blocker.execute("PRAGMA database_list").fetchone()[2])[1].execute("PRAGMA busy_timeout = 200")
        res = post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100}, status=503)
        assert res.json["error"]["code"] == "database_busy" and int(res.headers["Retry-After"]) >= 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    post_conversion(app, api_key, {"affiliate_id": affiliate["id"], "amount_cents": 100}, status=201)


def test_unexpected_failure_is_json_500_without_traceback(app, api_key, monkeypatch):
    def broken(*args):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(affilut, "affiliate_json", broken)
    app.post_json("/api/v1/affiliates", {"name": "A", "email": "a@example.com"}, headers=bearer(api_key), status=500)
    res = app.get("/api/v1/affiliates", headers=bearer(api_key), status=500)
    assert res.json["error"]["code"] == "internal_error"
    assert "secret internals" not in res.text and "Traceback" not in res.text


# -- Schema -------------------------------------------------------------------------------------------


def test_database_settings(db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_init_is_idempotent_and_versions_the_schema(db_path, account):
    latest = affilut.schema_migrations()[-1][0]
    assert affilut.init_db(db_path) == latest
    assert affilut.init_db(db_path) == latest
    with affilut.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 1


def test_ids_sort_by_creation():
    ids = [affilut.new_id("cnv") for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(re.fullmatch(r"cnv_[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)


def test_time_format():
    assert affilut.iso_time(1768467600000) == "2026-01-15T09:00:00.000Z"
    assert affilut.iso_time(1768467600007) == "2026-01-15T09:00:00.007Z"


def test_accounts_on_one_install_are_independent(db):
    a, b = make_account(db, "A"), make_account(db, "B", "12.5")
    assert (a["default_commission"], b["default_commission"]) == ("10", "12.5")
