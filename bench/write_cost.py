"""CPU per POST /api/v1/conversions in-process, with and without what a new conversion owes others.

    python bench/write_cost.py [--requests 400]

Needs bench/out/bench.db (bench/run.py builds it). Calls the WSGI app in this process, as
bench/profile.py does, and prints the CPU milliseconds per request three ways: as shipped; with
conversion_recorded (the affiliate's new-commission email and the conversion.created webhook
event) replaced by nothing, which leaves the write itself (BEGIN IMMEDIATE, the INSERT with its
seq, history and totals triggers, COMMIT); and as shipped again, to show the noise.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import affilut  # noqa: E402
from profile import call  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    db_path = os.path.join(HERE, "out", "bench.db")
    with open(db_path + ".json") as f:
        facts = json.load(f)
    affilut.app.config.update({"affilut.db": db_path, "affilut.background": False, "affilut.hold_every": 0,
                               "affilut.rate_limiter": affilut.RateLimiter({"read": 10**8, "write": 10**8})})
    auth = {"Authorization": "Bearer " + facts["main_key"]}
    stamp = time.time_ns()

    def run(label, n):
        started = time.process_time()
        for i in range(n):
            body = json.dumps({"affiliate_id": facts["busiest_affiliate"], "amount_cents": 4900,
                               "external_id": f"cost-{label}-{stamp}-{i}"})
            assert call("POST", "/api/v1/conversions", "", body, auth)[:3] == "201"
        print(f"{label:32} {(time.process_time() - started) / n * 1000:.3f} ms CPU per request", flush=True)
    run("warm-up", 50)
    run("as shipped", args.requests)
    shipped = affilut.conversion_recorded
    affilut.conversion_recorded = lambda db, row: None
    run("without its email and event", args.requests)
    affilut.conversion_recorded = shipped
    run("as shipped, again", args.requests)


if __name__ == "__main__":
    main()
