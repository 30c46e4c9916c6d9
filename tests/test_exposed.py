"""Safe to expose: the real `python affilut.py serve` behind a reverse proxy and in front of clients
that hold connections open or send too much."""

import http.client
import re
import resource
import secrets
import socket
import time
import urllib.parse

import pytest

import affilut
from conftest import ServerProcess, api_call

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "owner@shop.example", "correct horse battery"
# What Caddy or nginx adds to a request for https://aff.shop.example/ from 198.51.100.7.
FORWARDED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "aff.shop.example"}


def http_request(port, method, path, headers=None, form=None, cookies=None):
    """One request as a browser would send it; (status, Set-Cookie headers, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = dict(headers or {})
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    try:
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.headers.get_all("Set-Cookie") or [], res.read().decode()
    finally:
        conn.close()


def sign_in(port, email, password, headers=None, path="/signin"):
    """Post the sign-in form with a browser's CSRF cookie; (status, Set-Cookie headers, body)."""
    csrf = secrets.token_urlsafe(32)
    return http_request(port, "POST", path, headers, cookies={"affilut_csrf": csrf},
                        form={"csrf": csrf, "email": email, "password": password})


def cookie(set_cookies, name):
    [line] = [c for c in set_cookies if c.startswith(name + "=")]
    return line


@pytest.fixture
def merchant(db, account):
    """A merchant user of the account, with a password (the install's sign-in works)."""
    user_id, token = affilut.invite_user(db, account["id"], EMAIL)
    affilut.accept_invite(db, token, PASSWORD)
    return account


def server(db_path, tmp_path, name="server", **env):
    return ServerProcess(db_path, tmp_path / f"{name}.log", **env)


# -- Reverse proxy --------------------------------------------------------------------------------


def test_a_listed_proxy_is_believed(db_path, tmp_path, merchant):
    # 127.0.0.1 (where the tests connect from) is the second address of the list.
    proxied = server(db_path, tmp_path, AFFILUT_TRUSTED_PROXY="192.0.2.10, 127.0.0.1")
    try:
        status, set_cookies, _ = sign_in(proxied.port, EMAIL, PASSWORD, FORWARDED)
        assert status == 303
        session = cookie(set_cookies, "affilut_session")
        assert "Secure" in session and "HttpOnly" in session
        token = session.split(";")[0].split("=", 1)[1]
        status, _, text = http_request(proxied.port, "GET", "/dashboard/settings", FORWARDED,
                                       cookies={"affilut_session": token})
        assert status == 200
        assert f"https://aff.shop.example/webhooks/stripe/{merchant['id']}" in text
        assert "https://aff.shop.example/snippet.js" in text
    finally:
        proxied.stop()


def test_anyone_else_cannot_claim_to_be_a_proxy(db_path, tmp_path, merchant):
    direct = server(db_path, tmp_path, AFFILUT_TRUSTED_PROXY="192.0.2.10")  # not us
    try:
        status, set_cookies, _ = sign_in(direct.port, EMAIL, PASSWORD, FORWARDED)
        assert status == 303
        session = cookie(set_cookies, "affilut_session")
        assert "Secure" not in session
        token = session.split(";")[0].split("=", 1)[1]
        _, _, text = http_request(direct.port, "GET", "/dashboard/settings", FORWARDED,
                                  cookies={"affilut_session": token})
        assert f"http://127.0.0.1:{direct.port}/webhooks/stripe/{merchant['id']}" in text
        assert "aff.shop.example" not in text
        # A client cannot escape its own failures by claiming another address.
        for i in range(5):
            assert sign_in(direct.port, EMAIL, "wrong password", {"X-Forwarded-For": f"198.51.100.{i}"})[0] == 401
        assert sign_in(direct.port, EMAIL, PASSWORD, {"X-Forwarded-For": "198.51.100.99"})[0] == 429
    finally:
        direct.stop()


@pytest.mark.parametrize("header, value", [("X-Forwarded-Proto", "gopher"), ("X-Forwarded-For", "not-an-address"),
                                           ("X-Forwarded-Host", "evil.example/<script>")])
def test_a_proxy_that_says_nonsense_gets_a_400(db_path, tmp_path, merchant, header, value):
    proxied = server(db_path, tmp_path, AFFILUT_TRUSTED_PROXY="127.0.0.1")
    try:
        status, _, text = http_request(proxied.port, "GET", "/signin", {**FORWARDED, header: value})
        assert status == 400 and header in text
        assert http_request(proxied.port, "GET", "/signin", FORWARDED)[0] == 200
    finally:
        proxied.stop()


def test_the_trusted_proxy_option_is_checked(db_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        affilut.main(["serve", "--db", db_path, "--trusted-proxy", "127.0.0.1,localhost"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("affilut: error: argument --trusted-proxy: "
                                       "'localhost' is not an IP address\n")
    args = affilut.cli_parser().parse_args(["serve", "--trusted-proxy", " 127.0.0.1 , [::1] "])
    assert args.trusted_proxy == {"127.0.0.1", "::1"}


def test_sign_in_failures_slow_the_client_behind_the_proxy_not_everyone_behind_it(db_path, tmp_path, merchant):
    proxied = server(db_path, tmp_path, AFFILUT_TRUSTED_PROXY="127.0.0.1")
    try:
        def from_client(address, email=EMAIL, password=PASSWORD):
            return sign_in(proxied.port, email, password, {**FORWARDED, "X-Forwarded-For": address})[0]
        # Five wrong passwords for one email from one client: that client waits, even with the right one...
        assert [from_client("198.51.100.7", password="wrong password") for _ in range(5)] == [401] * 5
        assert from_client("198.51.100.7") == 429
        # ...while its owner, elsewhere, signs in.
        assert from_client("198.51.100.8") == 303
        # Twenty failures from one client, whatever the emails: that client waits, no one else.
        assert {from_client("203.0.113.9", f"guess{i}@shop.example", "wrong password") for i in range(20)} == {401}
        assert from_client("203.0.113.9") == 429
        assert from_client("203.0.113.10") == 303
    finally:
        proxied.stop()


# -- Limits of the server itself ------------------------------------------------------------------


def open_file_limit(pid):
    """The soft limit on open files of a running process, from /proc."""
    with open(f"/proc/{pid}/limits") as f:
        return int(re.search(r"^Max open files\s+(\d+)", f.read(), re.MULTILINE).group(1))


def test_hundreds_of_idle_and_trickling_connections_leave_room_for_a_real_client(db_path, tmp_path, tenant):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 400:  # this test process holds the 300 client ends
        if hard != resource.RLIM_INFINITY and hard < 400:
            pytest.skip(f"ulimit -n allows only {hard} open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (400, hard))
    live = server(db_path, tmp_path)
    sockets = []
    try:
        assert open_file_limit(live.process.pid) >= 3 * affilut.CONNECTION_LIMIT or \
            open_file_limit(live.process.pid) == hard
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", live.port), timeout=5)
            if i % 10 == 0:  # a request that trickles in and never ends
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sockets.append(s)
        time.sleep(0.5)  # the server has accepted them all
        started = time.monotonic()
        status, _, body = api_call(live.port, "GET", "/api/v1/affiliates", tenant["key"], timeout=10)
        assert status == 200 and len(body["data"]) == 1
        assert time.monotonic() - started < 5
    finally:
        for s in sockets:
            s.close()
        live.stop()


def test_a_body_larger_than_any_route_takes_is_refused_before_it_is_read(db_path, tmp_path, tenant):
    live = server(db_path, tmp_path)
    try:
        for length in (2 * 1024 * 1024, affilut.MAX_WEBHOOK_BODY + 1):
            with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
                started = time.monotonic()
                s.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % length)  # and not one byte of the body
                answer = s.recv(65536)
                assert answer.startswith(b"HTTP/1.1 413 ") and b"Request Entity Too Large" in answer
                assert time.monotonic() - started < 3
        # The largest body affilut takes still reaches the app, which says what is wrong with it.
        status, _, body = api_call(live.port, "POST", f"/webhooks/stripe/{tenant['account']['id']}",
                                   body=b" " * affilut.MAX_WEBHOOK_BODY, headers={"Stripe-Signature": "t=1,v1=00"})
        assert status == 400 and body["error"]["code"] == "invalid_signature"
    finally:
        live.stop()


def test_a_guesser_at_the_ceiling_cannot_keep_the_owner_out_of_a_browser_they_used_before(db_path, db, tmp_path,
                                                                                         merchant):
    proxied = server(db_path, tmp_path, AFFILUT_TRUSTED_PROXY="127.0.0.1")
    try:
        def attempt(address, password=PASSWORD, device=None):
            csrf = secrets.token_urlsafe(32)
            cookies = {"affilut_csrf": csrf, **({"affilut_device": device} if device else {})}
            return http_request(proxied.port, "POST", "/signin", {**FORWARDED, "X-Forwarded-For": address},
                                cookies=cookies, form={"csrf": csrf, "email": EMAIL, "password": password})
        status, set_cookies, _ = attempt("198.51.100.7")  # the owner signs in at the office
        assert status == 303
        device = cookie(set_cookies, "affilut_device")
        assert "HttpOnly" in device and "Secure" in device and "Max-Age=31536000" in device
        device = device.split(";")[0].split("=", 1)[1].strip('"')
        # A guesser spread over 100 addresses, one wrong password from each, reaches the email's ceiling...
        assert {attempt(f"10.9.{i // 250}.{i % 250}", "wrong password")[0] for i in range(100)} == {401}
        # ...and keeps trying: right after its failure, a browser new to this email waits,
        assert attempt("10.9.1.1", "wrong password")[0] == 429
        status, _, text = attempt("203.0.113.20")
        assert status == 429 and "Try again in 30 seconds" in text
        # while the owner's own browser, from home, signs in.
        assert attempt("203.0.113.21", device=device)[0] == 303
        [row] = db.execute("SELECT kind, email FROM signin_ceilings").fetchall()
        assert tuple(row) == ("user", EMAIL)
    finally:
        proxied.stop()
