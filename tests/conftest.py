"""Shared fixtures: a fresh SQLite file per test, the app bound to it, and helpers that act as users do."""

import os
import socket
import sys

import pytest
import webtest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import affilut  # noqa: E402

# In-process tests drive the outbox themselves (affilut.deliver_due); a server process runs its own threads.
affilut.app.config["affilut.background"] = False


class FakeClock:
    """A clock the rate-limit tests move by hand instead of sleeping."""

    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def bearer(key):
    """The Authorization header for an API key."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(autouse=True)
def hold_period_off(monkeypatch):
    """The hold-period duty runs only in the tests that turn it on, and every duty a test started
    stops with the test."""
    monkeypatch.setitem(affilut.app.config, "affilut.hold_every", 0)
    yield
    affilut.stop_hold_period()


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    path = str(tmp_path / "affilut.db")
    affilut.init_db(path)
    monkeypatch.setitem(affilut.app.config, "affilut.db", path)
    yield path
    affilut.close_writer(path)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def app(db_path, clock, monkeypatch):
    limiter = affilut.RateLimiter({"read": 120, "write": 30}, clock=clock)
    monkeypatch.setitem(affilut.app.config, "affilut.rate_limiter", limiter)
    monkeypatch.setitem(affilut.app.config, "affilut.visitor_limiter",
                        affilut.RateLimiter(affilut.VISITOR_LIMITS, clock=clock))
    return webtest.TestApp(affilut.app)


@pytest.fixture
def db(db_path):
    conn = affilut.connect(db_path)
    yield conn
    conn.close()


def make_account(db, name="Shop", commission="10"):
    """An account row with a landing URL and a webhook secret."""
    account_id = affilut.create_account(db, name, commission, "https://shop.example/landing?lang=en",
                                        "whsec_" + name.lower().replace(" ", ""))
    return affilut.get_account(db, account_id)


@pytest.fixture
def account(db):
    return make_account(db)


@pytest.fixture
def tenant(db_path, db, account):
    """An account with a key and an affiliate, made directly in the database (no server running yet),
    for the tests that start a real server on the file."""
    key = affilut.create_api_key(db, account["id"], "faults")[1]
    affiliate = affilut.create_affiliate(db, account["id"], "Fault Finder", "faults@example.com")
    return {"key": key, "affiliate_id": affiliate["id"], "account": account}


@pytest.fixture
def api_key(db, account):
    return affilut.create_api_key(db, account["id"], "test")[1]


@pytest.fixture
def other_tenant(db):
    """A second account with its own key and affiliate, to prove isolation."""
    account = make_account(db, "Other Shop")
    key = affilut.create_api_key(db, account["id"])[1]
    affiliate = affilut.affiliate_json(affilut.create_affiliate(db, account["id"], "Olga Other", "olga@example.com"))
    return {"account": account, "key": key, "affiliate": affiliate}


@pytest.fixture
def affiliate(app, api_key):
    return app.post_json("/api/v1/affiliates", {"name": "Jane Smith", "email": "jane@example.com"},
                         headers=bearer(api_key), status=201).json


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(start_server):
    """The address of `python affilut.py serve` on this test's database file, for the pages a real
    browser drives."""
    return start_server().url


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes seconds (real server processes, kills, timeouts); CI runs it too")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServerProcess:
    """`python affilut.py serve` in a child process on a free loopback port, as a merchant runs it."""

    def __init__(self, db_path, log_path, **env):
        import subprocess
        self.db_path, self.log = db_path, open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "affilut.py"), "serve", "--db", db_path, "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, env={**os.environ, **env})
        line = self.process.stdout.readline().decode()  # "affilut serving http://127.0.0.1:PORT/ ..."
        if "serving" not in line:
            self.process.kill()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = line.split()[2].rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])

    def next_line(self):
        """The server's next line of output, after "affilut serving ...": on a fresh install the
        setup link. Call it only when the line is due, as it waits for one."""
        return self.process.stdout.readline().decode()

    def setup_link(self):
        """The one-time setup link serve prints while no merchant user exists, as a path and query."""
        line = self.next_line()
        if "/setup?token=" not in line:
            raise AssertionError(f"no setup link in {line!r}")
        return "/setup?token=" + line.split("/setup?token=", 1)[1].split()[0]

    def kill(self):
        """SIGKILL: no cleanup, no atexit, like a power cut to the process."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def start_server(db_path, tmp_path):
    """start_server(**env): `python affilut.py serve` on this test's database file, as shipped (its own
    waitress thread pool, its own rate limits unless env sets AFFILUT_RATE_GET / _POST); every server
    started is stopped when the test ends."""
    started = []

    def start(**env):
        server = ServerProcess(db_path, tmp_path / f"server{len(started)}.log", **{"AFFILUT_HOLD_EVERY": "0", **env})
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


def assert_written_whole(db):
    """What every write leaves behind, however it ended (refused, raced, killed): a sound file with no
    dangling reference, each conversion with exactly one first line of history, and the totals the
    pages read (schema.sql, migration 13) equal to a recount of the rows."""
    from test_totals import assert_totals_match
    assert db.execute("PRAGMA integrity_check").fetchall()[0][0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    firsts = dict(db.execute("SELECT conversion_id, COUNT(*) FROM conversion_history WHERE from_status IS NULL "
                             "GROUP BY conversion_id").fetchall())
    assert firsts == dict.fromkeys((r[0] for r in db.execute("SELECT id FROM conversions")), 1)
    assert_totals_match(db)


def api_call(port, method, path, key=None, body=None, timeout=30, connection=None, headers=None):
    """One request over loopback; (status, headers, parsed JSON or None)."""
    import http.client
    import json
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {**(bearer(key) if key else {}), **(headers or {})}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        raw = res.read()
        return res.status, dict(res.getheaders()), (json.loads(raw) if raw else None)
    finally:
        if connection is None:
            conn.close()
