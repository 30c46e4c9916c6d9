"""The hold period runs however the app is served, and never approves one conversion twice."""

import os
import subprocess
import sys
import threading
import time

import pytest

import affilut
from conftest import ROOT, free_port

DAY_MS = affilut.DAY_MS


def held_conversions(db, account, affiliate_id, count, livemode=1):
    """count pending conversions recorded 31 days ago: past the default 30-day hold."""
    old = affilut.now_ms() - 31 * DAY_MS
    ids = []
    with affilut.transaction(db) as tx:
        for _ in range(count):
            ids.append(affilut.new_id("cnv"))
            affilut.insert_conversion(tx, {
                "id": ids[-1], "account_id": account["id"], "affiliate_id": affiliate_id,
                "stripe_charge_id": "manual:" + ids[-1], "amount_cents": 1000, "commission_cents": 100,
                "commission_rate": "10", "currency": "usd", "status": "pending", "kind": "manual",
                "created_at": old, "updated_at": old, "livemode": livemode})
    return ids


def statuses(db):
    return {r["id"]: r["status"] for r in db.execute("SELECT id, status FROM conversions")}


def wait_until(check, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_waitress_serve_affilut_app_approves_held_conversions(db_path, db, tenant, tmp_path):
    """README, 'Serving': waitress-serve affilut:app. Its first request starts the hold period."""
    [live] = held_conversions(db, tenant["account"], tenant["affiliate_id"], 1)
    [test] = held_conversions(db, tenant["account"], tenant["affiliate_id"], 1, livemode=0)
    port = free_port()
    log = open(tmp_path / "waitress.log", "wb")
    server = subprocess.Popen(["waitress-serve", f"--listen=127.0.0.1:{port}", "affilut:app"], cwd=ROOT,
                              stdout=log, stderr=log,
                              env={**os.environ, "AFFILUT_DB": db_path, "AFFILUT_HOLD_EVERY": "1"})
    try:
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz")), "waitress-serve did not start"
        assert wait_until(lambda: statuses(db)[live] == "approved")
        history = db.execute("SELECT actor, from_status, to_status FROM conversion_history WHERE conversion_id = ?"
                             " ORDER BY id", (live,)).fetchall()
        assert [tuple(h) for h in history] == [("api", None, "pending"), ("hold", "pending", "approved")]
        assert statuses(db)[test] == "pending"  # test-mode data is never approved
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _answers(url):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            return res.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def test_the_apps_first_request_starts_the_duty_once_per_database(app, db, account, monkeypatch):
    affiliate = affilut.create_affiliate(db, account["id"], "Jane", "jane@example.com")
    [held] = held_conversions(db, account, affiliate["id"], 1)
    monkeypatch.setitem(affilut.app.config, "affilut.hold_every", 1)
    def threads():
        return [t for t in threading.enumerate() if t.name == "affilut-hold-period"]
    before = len(threads())
    for _ in range(3):
        app.get("/healthz")
    assert len(threads()) == before + 1
    assert wait_until(lambda: statuses(db)[held] == "approved")
    affilut.stop_hold_period()
    assert wait_until(lambda: len(threads()) == before, 5)



def test_with_the_hold_period_off_the_server_still_refreshes_the_planners_statistics(app, db, account, monkeypatch):
    """AFFILUT_HOLD_EVERY=0 (approvals left to cron) must not leave the planner with the statistics
    of the day the server started: the affiliates added since reach sqlite_stat1 all the same."""
    monkeypatch.setattr(affilut, "STATISTICS_EVERY_SECONDS", 0.2)
    assert affilut.app.config["affilut.hold_every"] == 0
    app.get("/healthz")  # the server is up and has taken its statistics at start
    for n in range(30):
        affilut.create_affiliate(db, account["id"], f"P{n}", f"p{n}@example.com")
    [held] = held_conversions(db, account, affilut.create_affiliate(db, account["id"], "H", "h@example.com")["id"], 1)

    def affiliates_counted():
        row = db.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'affiliates' AND stat IS NOT NULL").fetchone()
        return row is not None and int(row[0].split()[0]) == 31
    assert not affiliates_counted()
    assert wait_until(affiliates_counted, 10)
    assert statuses(db)[held] == "pending"  # statistics only: approving stays with approve-held

def run_cli(*args, db_path):
    return subprocess.run([sys.executable, os.path.join(ROOT, "affilut.py"), *args, "--db", db_path],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_approve_held_from_two_processes_approves_each_conversion_once(db_path, db, tenant):
    """The README's cron example runs approve-held; two at once (or beside a server) never approve
    one conversion twice: each conversion gets one 'hold' line of history."""
    ids = held_conversions(db, tenant["account"], tenant["affiliate_id"], 1200)
    runs = [subprocess.Popen([sys.executable, os.path.join(ROOT, "affilut.py"), "approve-held", "--db", db_path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    counts = [int(out.split()[1]) for out, _ in outputs]
    assert sum(counts) == len(ids)
    assert set(statuses(db).values()) == {"approved"}
    lines = db.execute("""SELECT conversion_id, COUNT(*) FROM conversion_history WHERE actor = 'hold'
                          GROUP BY conversion_id""").fetchall()
    assert len(lines) == len(ids) and {r[1] for r in lines} == {1}
    assert run_cli("approve-held", db_path=db_path).stdout.strip() == \
        "approved 0 conversion(s) whose hold period had passed"
