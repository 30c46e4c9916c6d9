"""Rate limits per key: token buckets driven by an injected clock, and real threads for the race."""

import concurrent.futures
import json
import time
import urllib.error
import urllib.request

import pytest

import affilut
from conftest import FakeClock, bearer


def test_every_authenticated_response_carries_the_headers(app, api_key, clock):
    ok = app.get("/api/v1/affiliates", headers=bearer(api_key))
    assert ok.headers["X-RateLimit-Limit"] == "120"
    assert ok.headers["X-RateLimit-Remaining"] == "119"
    assert int(ok.headers["X-RateLimit-Reset"]) == int(clock.now) + 1
    error = app.get("/api/v1/affiliates/aff_01jdzzzzzzzzzzzzzzzzzzzzzz", headers=bearer(api_key), status=404)
    assert error.headers["X-RateLimit-Remaining"] == "118"
    bad = app.post_json("/api/v1/conversions", {}, headers=bearer(api_key), status=400)
    assert (bad.headers["X-RateLimit-Limit"], bad.headers["X-RateLimit-Remaining"]) == ("30", "29")


def test_reads_are_limited_to_120_a_minute_then_429(app, api_key, clock):
    for i in range(120):
        res = app.get("/api/v1/affiliates", headers=bearer(api_key))
        assert res.headers["X-RateLimit-Remaining"] == str(119 - i)
    limited = app.get("/api/v1/affiliates", headers=bearer(api_key), status=429)
    assert limited.json["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "1"  # one token is back after half a second
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) == int(clock.now) + 60
    clock.advance(0.5)
    app.get("/api/v1/affiliates", headers=bearer(api_key), status=200)
    app.get("/api/v1/affiliates", headers=bearer(api_key), status=429)


def test_writes_have_their_own_budget_of_30(app, db, api_key, affiliate, clock):
    # The affiliate fixture spent one write.
    for _ in range(29):
        app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 1},
                      headers=bearer(api_key), status=201)
    res = app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 1},
                        headers=bearer(api_key), status=429)
    assert res.headers["Retry-After"] == "2"  # 30 a minute: one token every 2 s
    assert db.execute("SELECT COUNT(*) FROM conversions").fetchone()[0] == 29
    app.patch_json(f"/api/v1/affiliates/{affiliate['id']}", {"name": "X"}, headers=bearer(api_key), status=429)
    assert app.get("/api/v1/conversions", headers=bearer(api_key)).headers["X-RateLimit-Remaining"] == "119"
    clock.advance(60)
    assert app.post_json("/api/v1/conversions", {"affiliate_id": affiliate["id"], "amount_cents": 1},
                         headers=bearer(api_key)).headers["X-RateLimit-Remaining"] == "29"


def test_keys_have_separate_buckets(app, db, account, api_key):
    other_key = affilut.create_api_key(db, account["id"])[1]
    for _ in range(120):
        app.get("/api/v1/affiliates", headers=bearer(api_key))
    app.get("/api/v1/affiliates", headers=bearer(api_key), status=429)
    app.get("/api/v1/affiliates", headers=bearer(other_key), status=200)


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AFFILUT_RATE_GET", "7")
    monkeypatch.setenv("AFFILUT_RATE_POST", "3")
    limiter = affilut.make_rate_limiter()
    assert limiter.limits == {"read": 7, "write": 3}
    results = [limiter.take("key_1", "write")[0] for _ in range(4)]
    assert results == [True, True, True, False]


def test_idle_buckets_are_dropped_without_losing_anything():
    clock = FakeClock()
    limiter = affilut.RateLimiter({"read": 120, "write": 30}, clock=clock)
    for i in range(10_000):
        limiter.take(f"key_{i}", "read")
    assert len(limiter.buckets) == 10_000
    clock.advance(61)
    allowed, headers = limiter.take("key_new", "read")
    assert len(limiter.buckets) == 1
    assert headers["X-RateLimit-Remaining"] == "119"
    assert limiter.take("key_5", "read")[1]["X-RateLimit-Remaining"] == "119"  # a full bucket, as before


def test_concurrent_burst_is_limited_to_exactly_the_bucket(start_server, db, account):
    key = affilut.create_api_key(db, account["id"])[1]
    server = start_server(AFFILUT_RATE_GET="40")

    def get(_):
        request = urllib.request.Request(server.url + "/api/v1/affiliates", headers=bearer(key))
        try:
            with urllib.request.urlopen(request, timeout=30) as res:
                return res.status
        except urllib.error.HTTPError as error:
            return error.code
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(get, range(100)))
    # The server's clock is real: the bucket refills at 40 a minute while the burst runs, and no faster.
    refilled = int((time.monotonic() - started) * 40 / 60)
    assert 40 <= statuses.count(200) <= 40 + refilled and statuses.count(429) == 100 - statuses.count(200)
