"""The command line as scripts use it: exact last lines, exit statuses, and a server that stops cleanly."""

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
import webtest

import affilut
from conftest import ServerProcess, api_call, bearer, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, db=None, env=None):
    command = [sys.executable, os.path.join(ROOT, "affilut.py"), *args] + (["--db", db] if db else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def last_line(result):
    return result.stdout.strip().splitlines()[-1]


def test_bootstrap_commands_print_what_scripts_need(tmp_path):
    db = str(tmp_path / "cli.db")
    made = run("create-account", "--name", "Shop", "--commission", "12.5", "--landing-url", "https://shop.example/",
               "--webhook-secret", "whsec_abc", db=db)
    assert made.returncode == 0, made.stderr
    account_id = last_line(made)
    assert re.fullmatch(r"acc_[0-9a-z]{26}", account_id)

    key = run("create-key", "--account", account_id, "--name", "ci", db=db)
    assert key.returncode == 0 and re.fullmatch(r"aff_[a-z0-9]{32,}", last_line(key))

    affiliate = run("create-affiliate", "--account", account_id, "--name", "Jane Smith", "--email",
                    "jane@example.com", "--commission-override", "15", db=db)
    assert affiliate.returncode == 0, affiliate.stderr
    shown = json.loads(last_line(affiliate))
    assert shown["status"] == "active" and shown["commissionOverride"] == "15"

    with affilut.connect(db) as conn:
        account = affilut.get_account(conn, account_id)
        assert (account["default_commission"], account["webhook_secret"]) == ("12.5", "whsec_abc")
        stored = conn.execute("SELECT key_hash, name FROM api_keys").fetchone()
        assert tuple(stored) == (affilut.hash_key(last_line(key)), "ci")
        assert affilut.affiliate_json(affilut.get_affiliate(conn, account_id, shown["id"])) == shown


def test_db_defaults_to_the_environment(tmp_path):
    db = str(tmp_path / "from-env.db")
    made = run("create-account", "--name", "Env Shop", env={"AFFILUT_DB": db})
    assert made.returncode == 0 and os.path.exists(db)


@pytest.mark.parametrize("args", [
    ["create-account"],
    ["create-account", "--name", "Shop", "--commission", "abc"],
    ["create-account", "--name", "Shop", "--landing-url", "ftp://x"],
    ["create-key", "--account", "acc_missing"],
    ["create-affiliate", "--account", "acc_missing", "--name", "A", "--email", "a@example.com"],
    ["create-affiliate", "--account", "acc_x", "--name", "A", "--email", "a@example.com", "--status", "vip"],
    ["frobnicate"],
    ["--port", "eighty"],
])
def test_bad_arguments_are_one_line_on_stderr_and_exit_2(tmp_path, args):
    result = run(*args, db=str(tmp_path / "bad.db"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("affilut: error:")


def test_duplicate_affiliate_email_is_exit_2(tmp_path):
    db = str(tmp_path / "dup.db")
    account_id = last_line(run("create-account", "--name", "Shop", db=db))
    args = ["create-affiliate", "--account", account_id, "--name", "A", "--email", "a@example.com"]
    assert run(*args, db=db).returncode == 0
    again = run(*args, db=db)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_serve_logs_requests_and_stops_cleanly_on_sigterm(tmp_path):
    db, port = str(tmp_path / "serve.db"), free_port()
    account_id = last_line(run("create-account", "--name", "Shop", db=db))
    key = last_line(run("create-key", "--account", account_id, db=db))
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "affilut.py"), "--port", str(port), "--db", db],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}/" in server.stdout.readline()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/affiliates", headers=bearer(key))
        with urllib.request.urlopen(request, timeout=10) as res:
            assert res.status == 200
        log_line = server.stderr.readline()
        assert re.fullmatch(r"GET /api/v1/affiliates 200 \d+\.\dms\n", log_line)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=10)
    assert server.returncode == 0
    assert "affilut stopped" in out


# -- Misuse, accounts and users (issue 11) -------------------------------------------------------------



@pytest.mark.parametrize("text, number", [("1", 1), (" 42 ", 42), ("999999999", 999_999_999), ("1000000000", None),
                                          ("9999999999", None), ("0", None), ("-1", None), ("1.5", None),
                                          ("01", None), ("", None), ("9" * 5000, None)])
def test_a_whole_number_setting_is_one_rule_in_the_environment_and_on_the_command_line(monkeypatch, text, number):
    monkeypatch.setenv("AFFILUT_RATE_GET", text)
    if number is None and text.strip():
        with pytest.raises(affilut.ConfigError, match="from 1 to 999999999"):
            affilut.env_int("AFFILUT_RATE_GET", 120)
    else:
        assert affilut.env_int("AFFILUT_RATE_GET", 120) == (number or 120)  # unset: the default
    parser = affilut.cli_parser()
    if number is None:
        with pytest.raises(SystemExit):
            parser.parse_args(["--connection-limit", text])
    else:
        assert parser.parse_args(["--connection-limit", text]).connection_limit == number

@pytest.mark.parametrize("args, env", [
    (["--port", "99999"], {}),
    (["--port", "-1"], {}),
    (["serve", "--port", "65536"], {}),
    (["--host", "999.1.1.1"], {}),
    (["serve", "--host", "no such host"], {}),
    (["--host", "192.0.2.1", "--port", "0"], {}),  # TEST-NET-1: an address this machine does not have
    (["--port", "0"], {"AFFILUT_BUSY_TIMEOUT": "abc"}),
    (["--port", "0"], {"AFFILUT_BUSY_TIMEOUT": "-1"}),
    (["--port", "0"], {"AFFILUT_RATE_GET": "0"}),
    (["--port", "0"], {"AFFILUT_RATE_POST": "1.5"}),
    (["--port", "0"], {"AFFILUT_RATE_POST": "1000000000"}),
    (["--port", "0", "--connection-limit", "1000000000"], {}),
    (["--port", "0"], {"AFFILUT_CHANNEL_TIMEOUT": "9999999999"}),
    (["--port", "0"], {"AFFILUT_BASE_URL": "partners.example.com"}),
    (["--port", "0"], {"STRIPE_WEBHOOK_SECRET": "nope"}),
    (["accounts"], {"AFFILUT_RATE_GET": "many"}),
    (["create-account", "--name", "Shop", "--webhook-secret", "nope"], {}),
    (["create-account", "--name", "Shop", "--webhook-secret", "whsec_"], {}),
    (["update-account", "--account", "acc_missing", "--name", "Shop"], {}),
    (["update-account", "--account", "{account}"], {}),  # nothing to change
    (["update-account", "--account", "{account}", "--webhook-secret", "nope"], {}),
    (["create-user", "--account", "acc_missing", "--email", "a@shop.example"], {}),
    (["create-user", "--account", "{account}", "--email", "not-an-email"], {}),
    (["create-user", "--account", "{account}", "--email", "a@shop.example", "--role", "admin"], {}),
    (["create-user", "--account", "{account}", "--email", "a@shop.example", "--base-url", "shop.example"], {}),
])
def test_every_misuse_is_one_line_on_stderr_and_exit_2(tmp_path, args, env):
    db = str(tmp_path / "misuse.db")
    affilut.init_db(db)
    with affilut.connect(db) as conn:
        account_id = affilut.create_account(conn, "Shop")
    result = run(*[a.format(account=account_id) for a in args], db=db, env=env)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("affilut: error:"), result
    assert "Traceback" not in result.stderr and result.stdout == ""
    with affilut.connect(db) as conn:  # nothing was made or changed
        assert [tuple(r) for r in conn.execute("SELECT id, name, webhook_secret FROM accounts")] == \
            [(account_id, "Shop", None)]
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), db=str(tmp_path / "busy.db"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"affilut: error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"affilut {affilut.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", affilut.__version__)


def test_accounts_update_account_and_create_user(tmp_path, monkeypatch):
    db = str(tmp_path / "cli.db")
    first = last_line(run("create-account", "--name", "My Shop", "--attribution-days", "400", db=db))
    second = last_line(run("create-account", "--name", "Other", "--webhook-secret", "whsec_old", db=db))
    updated = run("update-account", "--account", second, "--name", "Other Shop", "--commission", "12.5",
                  "--landing-url", "https://other.example/", "--webhook-secret", "whsec_new", db=db)
    assert updated.returncode == 0 and last_line(updated) == second and "whsec" not in updated.stdout
    with affilut.connect(db) as conn:
        row = affilut.get_account(conn, second)
        assert (row["name"], row["default_commission"], row["landing_url"], row["webhook_secret"],
                row["attribution_window_days"]) == ("Other Shop", "12.5", "https://other.example/", "whsec_new", 60)

    link = last_line(run("create-user", "--account", first, "--email", "Owner@Shop.example", db=db))
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/invite/[A-Za-z0-9_-]{43}", link)
    member = run("create-user", "--account", first, "--email", "helper@shop.example", db=db,
                 env={"AFFILUT_BASE_URL": "https://partners.shop.example/"})
    assert last_line(member).startswith("https://partners.shop.example/invite/") and "(member)" in member.stdout
    given = last_line(run("create-user", "--account", second, "--email", "o@other.example", "--role", "member",
                          "--base-url", "https://x.example", db=db))
    assert given.startswith("https://x.example/invite/")
    duplicate = run("create-user", "--account", second, "--email", "owner@shop.example", db=db)
    assert duplicate.returncode == 2 and "already signs in" in duplicate.stderr

    listing = run("accounts", db=db)
    assert listing.returncode == 0
    rows = [line.split("\t") for line in listing.stdout.strip().splitlines()]
    assert rows[0] == ["id", "name", "created", "users"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [(first, "My Shop", "2"), (second, "Other Shop", "1")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r[2]) for r in rows[1:])

    # the link is the dashboard's own invite: it sets the password once and signs in an owner
    monkeypatch.setitem(affilut.app.config, "affilut.db", db)
    monkeypatch.setattr(affilut, "SCRYPT_N", 2**10)
    browser = webtest.TestApp(affilut.app)
    form = browser.get(link.replace("http://127.0.0.1:8080", "")).forms[0]
    form["password"] = form["password_again"] = "correct horse battery"
    res = form.submit(status=303).follow()
    assert res.request.path == "/dashboard" and "My Shop" in res.text
    assert "/dashboard/settings/team" in browser.get("/dashboard/settings").text  # an owner's tabs
    browser.get(link.replace("http://127.0.0.1:8080", ""), status=404)
    with affilut.connect(db) as conn:
        roles = dict(conn.execute("SELECT email, role FROM users"))
    assert roles == {"Owner@Shop.example": "owner", "helper@shop.example": "member", "o@other.example": "member"}


def browser_opener():
    """A urllib opener that keeps cookies, as a browser does."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def fetch(opener, url, form=None):
    """(status, final path, body) of a GET, or of a form POST (redirects followed)."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with opener.open(url, data=data, timeout=30) as res:
            return res.status, urllib.parse.urlsplit(res.url).path, res.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, urllib.parse.urlsplit(url).path, error.read().decode()


def hidden(body, name):
    return re.search(rf'name="{name}" value="([^"]*)"', body).group(1)


def test_the_readme_flow_keeps_one_account_from_quick_start_to_dashboard(tmp_path):
    db = str(tmp_path / "readme.db")
    earlier = ServerProcess(db, tmp_path / "earlier.log")
    stale_link = earlier.setup_link()
    earlier.stop()
    server = ServerProcess(db, tmp_path / "server.log")  # each start prints a new link
    try:
        link = server.setup_link()
        assert link != stale_link
        account_id = last_line(run("create-account", "--name", "My Shop", "--commission", "10", db=db))
        key = last_line(run("create-key", "--account", account_id, "--name", "laptop", db=db))
        run("create-affiliate", "--account", account_id, "--name", "Jane Smith", "--email", "jane@example.com", db=db)
        updated = run("update-account", "--account", account_id, "--landing-url", "https://shop.example/",
                      "--webhook-secret", "whsec_from_stripe_listen", db=db)
        assert updated.returncode == 0, updated.stderr

        # /setup without the printed link, or with the one of the earlier start: nothing, and no names
        stranger = browser_opener()
        for path in ("/", "/setup", stale_link):
            status, _, body = fetch(stranger, server.url + path)
            assert status == 403 and "My Shop" not in body and "whsec_" not in body and account_id not in body
        csrf = hidden(fetch(stranger, server.url + f"/join/{account_id}")[2], "csrf")  # a valid form token
        status, _, body = fetch(stranger, server.url + "/setup", {
            "csrf": csrf, "token": stale_link.split("=", 1)[1], "account": account_id,
            "email": "evil@example.com", "password": "correct horse battery"})
        assert status == 403 and "Open the setup link" in body

        # with it, the merchant becomes the owner of the quick start's account and sees its affiliate
        merchant = browser_opener()
        status, _, body = fetch(merchant, server.url + link)
        assert status == 200 and "My Shop" in body and account_id in body
        status, path, body = fetch(merchant, server.url + "/setup", {
            "csrf": hidden(body, "csrf"), "token": hidden(body, "token"), "account": account_id,
            "email": "owner@shop.example", "password": "correct horse battery"})
        assert (status, path) == (200, "/dashboard") and "My Shop" in body
        assert "Jane Smith" in fetch(merchant, server.url + "/dashboard/affiliates")[2]
        assert "whsec_from_stripe_listen" in fetch(merchant, server.url + "/dashboard/settings")[2]
        assert api_call(server.port, "GET", "/api/v1/affiliates", key)[0] == 200
        # the link worked once
        assert fetch(browser_opener(), server.url + link)[0] == 404
    finally:
        server.stop()
    with affilut.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 1
        assert [tuple(r) for r in conn.execute("SELECT account_id, email, role FROM users")] == \
            [(account_id, "owner@shop.example", "owner")]
        assert conn.execute("SELECT COUNT(*) FROM settings WHERE name = 'setup_token_hash'").fetchone()[0] == 0
    log = open(tmp_path / "server.log").read()
    assert "GET /setup 200" in log and link.split("=", 1)[1] not in log  # the token never reaches the log
