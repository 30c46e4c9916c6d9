"""Where a request's time goes: pyinstrument over affilut's WSGI app, called in-process on the bench database.

    python bench/profile.py [--requests 2000] [--endpoint first|deep|filtered|cursor|post|hook]

Run bench/run.py first (it builds bench/out/bench.db). Calls go straight to the WSGI app in one
thread, so the profile shows affilut and Bottle without waitress or the network; the run.py ratio
to the bare stack shows what those add. Prints pyinstrument's tree and the per-request average.
"""

import argparse
import hashlib
import hmac
import io
import json
import os
import sys
import time

from pyinstrument import Profiler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import affilut  # noqa: E402
from run import BENCH_SECRET  # noqa: E402


def call(method, path, query="", body=None, headers=None):
    """One WSGI request; the status line."""
    raw = body.encode() if body else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "bench",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(raw), "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(len(raw)),
               "CONTENT_TYPE": "application/json" if body else "", "wsgi.multithread": True,
               "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0)}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"] = status
    b"".join(affilut.app(environ, start_response))
    return seen["status"]


def stripe_event(facts, unique):
    """A charge.succeeded event for a new charge and its Stripe-Signature header."""
    now = int(time.time())
    charge = {"id": f"ch_p_{unique}", "object": "charge", "amount": 4900, "currency": "usd", "created": now,
              "status": "succeeded", "paid": True, "captured": True, "amount_captured": 4900, "customer": None, "payment_intent": None, "amount_refunded": 0,
              "billing_details": {"email": None}, "metadata": {"affiliate_id": facts["busiest_affiliate"]}}
    body = json.dumps({"id": f"evt_p_{unique}", "object": "event", "type": "charge.succeeded", "created": now,
                       "data": {"object": charge}})
    digest = hmac.new(BENCH_SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={now},v1={digest}"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--endpoint", default="first", choices=["first", "deep", "filtered", "cursor", "post", "hook"])
    args = parser.parse_args()
    db_path = os.path.join(HERE, "out", "bench.db")
    with open(db_path + ".json") as f:
        facts = json.load(f)
    affilut.app.config["affilut.db"] = db_path
    affilut.app.config["affilut.rate_limiter"] = affilut.RateLimiter({"read": 10**9, "write": 10**9})
    auth = {"Authorization": "Bearer " + facts["main_key"]}
    deep = facts["cursor_depth"] // 50
    requests = {
        "first": ("GET", "/api/v1/conversions", "", None),
        "deep": ("GET", "/api/v1/conversions", f"page={deep}&limit=50", None),
        "filtered": ("GET", "/api/v1/conversions", f"affiliate_id={facts['busiest_affiliate']}&status=approved", None),
        "cursor": ("GET", "/api/v1/conversions", f"limit=50&starting_after={facts['cursor_id']}", None),
        "post": ("POST", "/api/v1/conversions", "", None),
        "hook": ("POST", f"/webhooks/stripe/{facts['main_account']}", "", None),
    }
    method, path, query, _ = requests[args.endpoint]
    stamp = time.time_ns()

    def one(n):
        body, headers = None, auth
        if args.endpoint == "post":
            body = json.dumps({"affiliate_id": facts["busiest_affiliate"], "amount_cents": 4900,
                               "external_id": f"profile-{stamp}-{n}"})
        elif args.endpoint == "hook":  # a signed charge.succeeded for a new charge, as bench/run.py sends
            body, headers = stripe_event(facts, f"{stamp}_{n}")
        status = call(method, path, query, body, headers)
        assert status[:3] in ("200", "201"), status
    for n in range(50):  # warm the connection and SQLite's page cache
        one(-n - 1)
    profiler = Profiler(interval=0.0002)
    started = time.perf_counter()
    profiler.start()
    for n in range(args.requests):
        one(n)
    profiler.stop()
    elapsed = time.perf_counter() - started
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"{args.endpoint}: {args.requests} requests, {elapsed / args.requests * 1000:.3f} ms each in-process "
          "(with the profiler's overhead)")


if __name__ == "__main__":
    main()
