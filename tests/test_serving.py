"""The server as shipped: a slow or blocked write never holds up a read."""

import threading
import time

from conftest import ServerProcess, api_call
from test_faults import lock_held_elsewhere


def test_the_server_answers_a_read_while_a_write_waits_for_a_database_locked_elsewhere(db_path, tmp_path, tenant):
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_BUSY_TIMEOUT="3")
    api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])  # last_used_at is written now
    holder = lock_held_elsewhere(db_path)
    try:
        writes = []
        writer = threading.Thread(target=lambda: writes.append(api_call(
            server.port, "POST", "/api/v1/conversions", tenant["key"],
            {"affiliate_id": tenant["affiliate_id"], "amount_cents": 100})))
        writer.start()
        time.sleep(0.2)  # the write is now waiting for the lock
        status, _, body = api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])
        assert status == 200 and len(body["data"]) == 1
        assert writer.is_alive() and not writes  # answered while the write was still waiting
        writer.join(timeout=30)
        assert writes[0][0] == 503
    finally:
        holder.communicate(b"release\n", timeout=10)
        server.stop()
