"""`python affilut.py backup PATH`: a consistent online copy, taken while the server takes writes."""

import http.client
import os
import subprocess
import sys
import threading
import time

import pytest

import affilut
from conftest import ROOT, ServerProcess, api_call


def cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "affilut.py"), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_backup_under_load_has_every_row_acknowledged_before_it_started(db_path, tmp_path, db, account):
    key = affilut.create_api_key(db, account["id"])[1]
    affiliate = affilut.create_affiliate(db, account["id"], "Backed Up", "backup@example.com")
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_RATE_POST="1000000")
    acked, sent, lock, stop = {}, set(), threading.Lock(), threading.Event()

    def writer(worker):
        conn, n = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30), 0
        while not stop.is_set():
            external_id = f"bk-{worker}-{n}"
            n += 1
            with lock:
                sent.add(external_id)
            status, _, body = api_call(server.port, "POST", "/api/v1/conversions", key,
                                       {"affiliate_id": affiliate["id"], "amount_cents": 500,
                                        "external_id": external_id}, connection=conn)
            assert status == 201, body
            with lock:
                acked[external_id] = (body["id"], time.monotonic())

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    copy_path = str(tmp_path / "copy.db")
    try:
        for t in threads:
            t.start()
        while len(acked) < 150:
            time.sleep(0.01)
        started = time.monotonic()
        result = cli("backup", copy_path, "--db", db_path)   # writes go on during the backup
        while len(acked) < len([a for a in acked.values() if a[1] < started]) + 50:
            time.sleep(0.01)                                  # and after it
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == copy_path
    assert not os.path.exists(copy_path + "-wal") and not os.path.exists(copy_path + ".partial")

    before_backup = {external_id: cid for external_id, (cid, at) in acked.items() if at < started}
    copy = affilut.connect(copy_path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = {r["external_id"]: r["id"] for r in copy.execute("SELECT id, external_id FROM conversions")}
    copy.close()
    assert len(before_backup) >= 150
    assert all(rows.get(external_id) == cid for external_id, cid in before_backup.items())
    assert set(rows) <= sent and len(rows) < len(acked)  # a snapshot: later writes are not in it

    # Restore: serve the copy and read a conversion back through the API.
    restored = ServerProcess(copy_path, tmp_path / "restored.log")
    try:
        external_id, cid = next(iter(before_backup.items()))
        status, _, body = api_call(restored.port, "GET", f"/api/v1/conversions/{cid}", key)
        assert status == 200 and body["externalId"] == external_id
    finally:
        restored.stop()


def test_backup_refuses_a_missing_database_and_the_database_itself(db_path, tmp_path):
    missing = cli("backup", str(tmp_path / "copy.db"), "--db", str(tmp_path / "missing.db"))
    assert missing.returncode == 2 and "no database" in missing.stderr
    assert not os.path.exists(tmp_path / "missing.db") and not os.path.exists(tmp_path / "copy.db")
    itself = cli("backup", db_path, "--db", db_path)
    assert itself.returncode == 2 and "must not be the database itself" in itself.stderr
