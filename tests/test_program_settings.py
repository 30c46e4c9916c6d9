"""One rule per program setting (issues 11 and 13): every value is accepted or refused alike, with the
same message, by `create-account`, `update-account`, Settings in the dashboard and, for what it asks,
/setup. The table states the rules; clean_program_settings is the one function behind all of them."""

import pytest
import webtest

import affilut

PASSWORD = "correct horse battery"
REFUSED = object()

# setting (the form's name), a value as typed, and what is stored (or REFUSED)
ROWS = [
    ("name", "  Zoë's Shop  ", "Zoë's Shop"),
    ("name", "", REFUSED),
    ("name", "x" * 201, REFUSED),
    ("default_commission", "12.50", "12.5"),
    ("default_commission", "0", "0"),
    ("default_commission", "100", "100"),
    ("default_commission", "100.0001", REFUSED),
    ("default_commission", "12.12345", REFUSED),
    ("default_commission", "-1", REFUSED),
    ("default_commission", "ten", REFUSED),
    ("landing_url", "https://shop.example/?a=1", "https://shop.example/?a=1"),
    ("landing_url", "", ""),
    ("landing_url", "ftp://shop.example/", REFUSED),
    ("landing_url", "javascript:alert(1)", REFUSED),
    ("attribution_window_days", "1", 1),
    ("attribution_window_days", "400", 400),
    ("attribution_window_days", "3650", 3650),
    ("attribution_window_days", "0", REFUSED),
    ("attribution_window_days", "3651", REFUSED),
    ("attribution_window_days", "", REFUSED),
    ("attribution_window_days", "7.5", REFUSED),
    ("hold_days", "0", 0),
    ("hold_days", "3650", 3650),
    ("hold_days", "3651", REFUSED),
    ("hold_days", "-1", REFUSED),
    ("renewal_months", "", None),
    ("renewal_months", "0", 0),
    ("renewal_months", "1200", 1200),
    ("renewal_months", "1201", REFUSED),
    ("renewal_months", "twelve", REFUSED),
    ("payout_minimum", "0", 0),
    ("payout_minimum", "50.00", 5000),
    ("payout_minimum", "1,049.5", 104950),
    ("payout_minimum", "50.001", REFUSED),
    ("payout_minimum", "-5", REFUSED),
    ("webhook_secret", "whsec_abc123", "whsec_abc123"),
    ("webhook_secret", "", None),
    ("webhook_secret", "nope", REFUSED),
    ("webhook_secret", "whsec_", REFUSED),
    ("webhook_secret", "whsec_with space", REFUSED),
]
CLI_FLAGS = {"name": "--name", "default_commission": "--commission", "landing_url": "--landing-url",
             "attribution_window_days": "--attribution-days", "hold_days": "--hold-days",
             "renewal_months": "--renewal-months", "payout_minimum": "--payout-minimum",
             "webhook_secret": "--webhook-secret"}
COLUMNS = {"payout_minimum": "payout_minimum_cents"}
# a stored value no row of the table expects, so an accepted change always shows
UNLIKE = {"name": "Before", "default_commission": "7", "landing_url": "https://before.example/",
          "attribution_window_days": 77, "hold_days": 7, "renewal_months": 7, "payout_minimum_cents": 700,
          "webhook_secret": "whsec_before"}


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch):
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)


def cli(capsys, *argv):
    """`python affilut.py ...` in this process: (outcome, stdout's last line or the error's message)."""
    try:
        status = affilut.main(list(argv))
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    if status == 0:
        return "accepted", out.strip().splitlines()[-1]
    assert status == 2 and len(err.strip().splitlines()) == 1, (status, err)
    return "refused", err.strip().removeprefix("affilut: error: ")


def page_outcome(res):
    """(outcome, the refusal's message as the CLI words it) of a posted form."""
    if res.status_int == 303:
        return "accepted", None
    assert res.status_int == 400, res.status
    text = res.html.find(class_="error").text.strip()
    return "refused", text[:1].lower() + text[1:].removesuffix(".")


def stored(db, account_id, setting):
    return affilut.get_account(db, account_id)[COLUMNS.get(setting, setting)]


@pytest.mark.parametrize("setting, value, expected", ROWS,
                         ids=[f"{s}={v[:12]!r}" for s, v, _ in ROWS])
def test_each_setting_is_accepted_or_refused_alike_everywhere(db_path, db, capsys, setting, value, expected):
    outcomes = {}  # entry point -> (outcome, message)
    app = webtest.TestApp(affilut.app)

    def submit_setup(values):
        res = app.get(f"/setup?token={affilut.new_setup_token(db)}")
        form = next(f for f in res.forms.values() if f.action == "/setup")
        form["email"], form["password"] = "owner@shop.example", PASSWORD
        for name, typed in values.items():
            form[name] = typed
        return form.submit(expect_errors=True)

    # /setup asks a new program for its name, commission and landing URL
    if setting in affilut.SETUP_FIELDS:
        res = submit_setup({"name": "Shop", setting: value})
        outcomes["setup"] = page_outcome(res)
        if res.status_int == 303:
            account_id = db.execute("SELECT id FROM accounts").fetchone()[0]
            assert stored(db, account_id, setting) == expected
    if db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
        submit_setup({"name": "Shop"}).follow()
    account_id = db.execute("SELECT account_id FROM users").fetchone()[0]

    # create-account: the one setting given, the others their defaults
    argv = ["create-account", "--db", db_path] + (["--name", "CLI Shop"] if setting != "name" else [])
    outcome, said = cli(capsys, *argv, f"{CLI_FLAGS[setting]}={value}")
    outcomes["create-account"] = (outcome, said if outcome == "refused" else None)
    if outcome == "accepted":
        assert stored(db, said, setting) == expected

    # update-account and the dashboard change the program made by /setup from a value unlike the row's;
    # a refusal changes nothing
    column = COLUMNS.get(setting, setting)
    for entry in ("update-account", "settings"):
        db.execute(f"UPDATE accounts SET {column} = ? WHERE id = ?", (UNLIKE[column], account_id))
        before = dict(affilut.get_account(db, account_id))
        if entry == "update-account":
            outcome, said = cli(capsys, "update-account", "--db", db_path, "--account", account_id,
                                f"{CLI_FLAGS[setting]}={value}")
            outcomes[entry] = (outcome, said if outcome == "refused" else None)
        else:
            page = app.get("/dashboard/settings")
            action = "/dashboard/settings/webhook-secret" if setting == "webhook_secret" else "/dashboard/settings"
            form = next(f for f in page.forms.values() if f.action == action)
            form[setting] = value
            outcomes[entry] = page_outcome(form.submit(expect_errors=True))
        if outcomes[entry][0] == "accepted":
            assert stored(db, account_id, setting) == expected, entry
        else:
            assert dict(affilut.get_account(db, account_id)) == before, entry

    want = "refused" if expected is REFUSED else "accepted"
    assert {entry: outcome for entry, (outcome, _) in outcomes.items()} == dict.fromkeys(outcomes, want)
    assert len({message for _, message in outcomes.values()}) == 1, outcomes  # the same words everywhere


def test_a_program_made_with_a_400_day_window_saves_its_settings_page_unchanged(app, db, capsys, db_path):
    """The disagreement issue 13 found: create-account took 400 days, the page refused them."""
    _, account_id = cli(capsys, "create-account", "--db", db_path, "--name", "Long Memory",
                        "--attribution-days", "400", "--renewal-months", "0", "--hold-days", "400")
    before = dict(affilut.get_account(db, account_id))
    _, link = cli(capsys, "create-user", "--db", db_path, "--account", account_id, "--email", "o@shop.example")
    form = app.get(link.split("8080", 1)[1]).forms[0]
    form["password"] = form["password_again"] = PASSWORD
    form.submit(status=303)
    page = app.get("/dashboard/settings")
    next(f for f in page.forms.values() if f.action == "/dashboard/settings").submit(status=303)
    assert dict(affilut.get_account(db, account_id)) == before
