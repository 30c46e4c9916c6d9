"""Wall and CPU time per POST /api/v1/conversions in-process, with threads taking turns as waitress's do.

    python bench/write_cost.py [--requests 1000] [--threads 4] [--rounds 3]

Needs bench/out/bench.db (bench/run.py builds it). Calls the WSGI app in this process, one request
at a time, handed round-robin to --threads threads (each with its own read connection, as
waitress's pool has), and prints per round, interleaved:
- as shipped: every write on the database file's one write connection;
- each thread's own connection: the design before, where a write ran on the thread's connection
  (SQLite empties a connection's page cache whenever another connection has written);
- without its email and event: as shipped, with conversion_recorded (the affiliate's new-commission
  email and the conversion.created event) replaced by nothing.
"""

import argparse
import contextlib
import json
import os
import queue
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import affilut  # noqa: E402
from profile import call  # noqa: E402


@contextlib.contextmanager
def own_connection_transaction(db):
    """The write path before one write connection: BEGIN IMMEDIATE ... COMMIT on the caller's connection."""
    lock, _ = affilut.writer(db.execute("PRAGMA database_list").fetchone()[2])
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    db_path = os.path.join(HERE, "out", "bench.db")
    with open(db_path + ".json") as f:
        facts = json.load(f)
    affilut.app.config.update({"affilut.db": db_path, "affilut.background": False, "affilut.hold_every": 0,
                               "affilut.rate_limiter": affilut.RateLimiter({"read": 10**8, "write": 10**8})})
    auth = {"Authorization": "Bearer " + facts["main_key"]}
    stamp, numbers = time.time_ns(), iter(range(10**9))

    def post():
        body = json.dumps({"affiliate_id": facts["busiest_affiliate"], "amount_cents": 4900,
                           "external_id": f"cost-{stamp}-{next(numbers)}"})
        assert call("POST", "/api/v1/conversions", "", body, auth)[:3] == "201"

    inboxes, done = [queue.Queue() for _ in range(args.threads)], queue.Queue()

    def worker(inbox):
        while (task := inbox.get()) is not None:
            started = time.thread_time()
            task()
            done.put(time.thread_time() - started)
    threads = [threading.Thread(target=worker, args=(inbox,)) for inbox in inboxes]
    for t in threads:
        t.start()

    def run(n):
        """(wall ms, CPU ms) per request over n requests taking turns across the threads."""
        cpu, started = 0.0, time.perf_counter()
        for i in range(n):
            inboxes[i % len(inboxes)].put(post)
            cpu += done.get()
        return (time.perf_counter() - started) / n * 1000, cpu / n * 1000

    shipped_transaction, shipped_recorded = affilut.transaction, affilut.conversion_recorded
    variants = [("as shipped (one write connection)", shipped_transaction, shipped_recorded),
                ("each thread's own connection", own_connection_transaction, shipped_recorded),
                ("as shipped, without email and event", shipped_transaction, lambda db, row: None)]
    try:
        run(100)  # warm-up
        for round_ in range(1, args.rounds + 1):
            for label, transaction, recorded in variants:
                affilut.transaction, affilut.conversion_recorded = transaction, recorded
                wall, cpu = run(args.requests)
                print(f"round {round_}, {args.threads} threads: {label:38} wall {wall:.3f} ms  CPU {cpu:.3f} ms"
                      " per request", flush=True)
    finally:
        affilut.transaction, affilut.conversion_recorded = shipped_transaction, shipped_recorded
        for inbox in inboxes:
            inbox.put(None)


if __name__ == "__main__":
    main()
