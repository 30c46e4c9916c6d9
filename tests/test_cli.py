"""The command line as scripts use it: exact last lines, exit statuses, and a server that stops cleanly."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

import affilut
from conftest import bearer, free_port

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
