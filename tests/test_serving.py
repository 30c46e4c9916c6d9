"""The server as shipped: a slow or blocked write never holds up a read, and pages never take every thread."""

import threading
import time

import affilut
from conftest import ServerProcess, api_call
from test_exposed import EMAIL, PASSWORD, http_request, sign_in
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


def test_sign_ins_waiting_for_the_database_hold_up_no_page_link_or_api_call(start_server, db, tenant):
    """Six sign-ins at once, each stuck on the write that starts its session (another process holds
    the lock). Public pages take no page turn and the server has threads to spare, so a signed-in
    merchant's dashboard, an API read, a link and /healthz are answered while every sign-in still
    waits, and all six succeed once the lock goes."""
    user_id, token = affilut.invite_user(db, tenant["account"]["id"], EMAIL)
    affilut.accept_invite(db, token, PASSWORD)
    code = db.execute("SELECT short_code FROM affiliates WHERE id = :id", {"id": tenant["affiliate_id"]}).fetchone()[0]
    server = start_server(AFFILUT_BUSY_TIMEOUT="20")  # stopped when the test ends, however it ends
    api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])  # last_used_at is written now
    status, cookies, _ = sign_in(server.port, EMAIL, PASSWORD)
    assert status == 303
    session = [c.split(";")[0] for c in cookies if c.startswith(affilut.SESSION_COOKIES["user"] + "=")][0]
    holder = lock_held_elsewhere(server.db_path)
    try:
        signed_in = []
        pages = [threading.Thread(target=lambda: signed_in.append(sign_in(server.port, EMAIL, PASSWORD)[0]))
                 for _ in range(6)]
        for page in pages:
            page.start()
        time.sleep(1.5)  # every sign-in has checked its password and waits for the lock
        status, _, text = http_request(server.port, "GET", "/dashboard", headers={"Cookie": session})
        assert status == 200 and "Overview" in text
        status, _, body = api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"], timeout=10)
        assert status == 200 and body["data"][0]["id"] == tenant["affiliate_id"]
        assert http_request(server.port, "HEAD", f"/r/{code}")[0] == 302  # a bot's look: no click to write
        assert http_request(server.port, "GET", "/healthz")[0] == 200
        assert not signed_in and all(page.is_alive() for page in pages)  # answered while all six waited
    finally:
        holder.communicate(b"release\n", timeout=10)
    for page in pages:
        page.join(timeout=60)
    assert signed_in == [303] * 6
