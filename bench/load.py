"""A small closed-loop HTTP load generator, run as its own process so it never shares the server's GIL.

    python bench/load.py '{"port": 8080, "method": "GET", "paths": ["/x"], "connections": 4, "duration": 8}'

Each connection is a thread with one keep-alive HTTP/1.1 connection that sends the next request as
soon as the last answer is read. Paths are used round-robin; in a body, {n} becomes a number unique
to this run; with "keys", request n sends the n-th key; with "total", the run stops after that many;
with "stripe_secret", each body is signed as Stripe signs webhooks (Stripe-Signature). Prints one JSON line: requests/s, latency percentiles in ms and the status counts.
"""

import collections
import hashlib
import hmac
import http.client
import itertools
import json
import sys
import threading
import time


def run(spec):
    port, method = spec["port"], spec.get("method", "GET")
    paths, body, keys, total = spec["paths"], spec.get("body"), spec.get("keys"), spec.get("total")
    secret = spec["stripe_secret"].encode() if spec.get("stripe_secret") else None
    shared_headers = dict(spec.get("headers", {}))
    if body is not None:
        shared_headers["Content-Type"] = "application/json"
    counter, lock = itertools.count(), threading.Lock()
    warmup, duration = spec.get("warmup", 1.0), spec.get("duration", 8.0)
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    latencies, statuses, errors = [], collections.Counter(), collections.Counter()

    def connection():
        headers = dict(shared_headers)
        conn = http.client.HTTPConnection(spec.get("host", "127.0.0.1"), port, timeout=60)
        mine, codes = [], collections.Counter()
        while True:
            n = next(counter)
            if total is not None and n >= total:
                break
            if keys:
                headers["Authorization"] = f"Bearer {keys[n % len(keys)]}"
            data = body.replace("{n}", str(n)).encode() if body is not None else None
            if secret:  # sign as Stripe does: HMAC-SHA256 of "<t>.<body>"
                stamp = int(time.time())
                digest = hmac.new(secret, b"%d." % stamp + data, hashlib.sha256).hexdigest()
                headers["Stripe-Signature"] = f"t={stamp},v1={digest}"
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            try:
                conn.request(method, paths[n % len(paths)], body=data, headers=headers)
                res = conn.getresponse()
                res.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors[type(error).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection(spec.get("host", "127.0.0.1"), port, timeout=60)
                continue
            done = time.perf_counter()
            if sent >= measure_from and done <= stop_at:
                mine.append(done - sent)
                codes[res.status] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(codes)

    threads = [threading.Thread(target=connection) for _ in range(spec.get("connections", 4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    duration = min(duration, time.perf_counter() - measure_from)

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else None
    return {"requests": len(latencies), "rps": round(len(latencies) / duration, 1),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "statuses": {str(k): v for k, v in statuses.items()}, "errors": dict(errors)}


if __name__ == "__main__":
    # The spec comes as the argument, or on stdin when it is "-" (a list of 100,000 keys is too long for argv).
    print(json.dumps(run(json.loads(sys.stdin.read() if sys.argv[1] == "-" else sys.argv[1]))), flush=True)
