"""One rule for an affiliate's status, from every entry point: the API's PATCH, the dashboard, the CLI."""

import json
import os
import subprocess
import sys

import pytest

import affilut
from conftest import ROOT, bearer
from test_dashboard import form_for, merchant  # noqa: F401  (the signed-in dashboard fixture)


def via_api(app, db, account_id, affiliate_id, status, reason):
    key = affilut.create_api_key(db, account_id, "rule")[1]
    app.patch_json(f"/api/v1/affiliates/{affiliate_id}", {"status": status}, headers=bearer(key))


def via_dashboard(app, db, account_id, affiliate_id, status, reason):
    action = {"active": "reactivate", "paused": "pause", "banned": "ban"}[status]
    form = form_for(app.get(f"/dashboard/affiliates/{affiliate_id}"), f"/dashboard/affiliates/{affiliate_id}/status")
    if "reason" in form.fields:
        form["reason"] = reason or ""
    form.submit("action", value=action, status=303)


def via_cli(app, db, account_id, affiliate_id, status, reason):
    args = ["set-affiliate-status", "--account", account_id, "--affiliate", affiliate_id, "--status", status]
    result = subprocess.run([sys.executable, os.path.join(ROOT, "affilut.py"), *args,
                             *(["--reason", reason] if reason else []), "--db", app.app.config["affilut.db"]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == status


@pytest.mark.parametrize("reactivate", [via_api, via_dashboard, via_cli])
def test_reactivating_clears_the_reason_from_every_entry_point(app, db, merchant, reactivate):  # noqa: F811
    account_id = merchant["account"]["id"]
    jane = affilut.create_affiliate(db, account_id, "Jane", "jane@example.com")
    affilut.set_affiliate_status(db, account_id, jane["id"], "paused", "suspected cookie stuffing")
    assert "Reason: suspected cookie stuffing" in app.get(f"/dashboard/affiliates/{jane['id']}").text
    reactivate(app, db, account_id, jane["id"], "active", None)
    row = db.execute("SELECT status, status_reason FROM affiliates WHERE id = ?", (jane["id"],)).fetchone()
    assert tuple(row) == ("active", None)
    assert "Reason:" not in app.get(f"/dashboard/affiliates/{jane['id']}").text


def test_the_cli_keeps_a_reason_for_a_ban_and_refuses_misuse_on_one_line(app, db, account):
    jane = affilut.create_affiliate(db, account["id"], "Jane", "jane@example.com")
    path = app.app.config["affilut.db"]
    base = [sys.executable, os.path.join(ROOT, "affilut.py"), "set-affiliate-status", "--account", account["id"],
            "--db", path]
    done = subprocess.run(base + ["--affiliate", jane["id"], "--status", "banned", "--reason", "Fraud"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["statusReason"] == "Fraud"
    for extra in (["--affiliate", jane["id"], "--status", "gone"], ["--affiliate", "aff_none", "--status", "active"]):
        bad = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
