"""The request log of `python affilut.py serve`: one line per request, and never a secret in it."""

import http.client

import pytest

import affilut
from conftest import ServerProcess


def get_status(port, path):
    """GET a page over loopback, as a browser following a link would; its status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        res.read()
        return res.status
    finally:
        conn.close()


@pytest.mark.slow
def test_invite_tokens_never_reach_the_request_log(db_path, db, tmp_path, tenant):
    account_id = tenant["account"]["id"]
    user_token = affilut.invite_user(db, account_id, "teammate@example.com")[1]
    affiliate_token = affilut.invite_affiliate(db, account_id, tenant["affiliate_id"])
    unknown, reset = "not-a-token-0123456789", "a-reset-token-0123456789"
    server = ServerProcess(db_path, tmp_path / "server.log")
    try:
        statuses = [get_status(server.port, path) for path in
                    [f"/invite/{user_token}", f"/invite/{affiliate_token}", f"/invite/{unknown}", f"/reset/{reset}"]]
    finally:
        server.stop()
    assert statuses == [200, 200, 404, 404]
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    for secret in [user_token, affiliate_token, unknown, reset]:
        assert secret not in log
    assert log.count("GET /invite/… 200") == 2 and "GET /invite/… 404" in log and "GET /reset/… 404" in log


@pytest.mark.slow
def test_a_request_cannot_write_lines_of_its_own_into_the_log(db_path, tmp_path, tenant):
    import socket
    server = ServerProcess(db_path, tmp_path / "server.log")
    try:
        for target in [b"/r/x%0d%0aGET%20/fake%20200%201ms", b"/r/y%1b[2J%e2%80%a8z%5c", b"/invite/tok%0aen"]:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
                s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert s.recv(65536).startswith(b"HTTP/1.1 404 ")
    finally:
        server.stop()
    lines = (tmp_path / "server.log").read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.startswith("GET /fake")]
    assert any(line.startswith("GET /r/x\\r\\nGET /fake 200 1ms 404 ") for line in lines)
    assert any(line.startswith("GET /r/y\\x1b[2J\\u2028z\\\\ 404 ") for line in lines)
    assert any(line.startswith("GET /invite/… 404 ") for line in lines) and "en 404" not in "\n".join(lines)
