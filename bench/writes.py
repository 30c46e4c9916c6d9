"""The two write endpoints alone against the bare stack, at the given connection counts.

    python bench/writes.py [CONNECTIONS ...]      # default: 1 16

Needs bench/out/bench.db from bench/run.py (its rows grow by what this posts). Per count: POST
/api/v1/conversions, then a signed Stripe charge.succeeded, 5 s each on both stacks; prints req/s,
p50/p99 ms, the server's CPU milliseconds and context switches per request (from /proc: where a
write's cost goes when throughput is CPU-bound), and the ratio. Noise on 2 shared cores is ±15 %
in req/s: run it 2-3 times.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.chdir(os.path.dirname(HERE))
import run as R  # noqa: E402


def measured(server, spec):
    """bench/load.py's result for spec, with the server's CPU ms and context switches per request."""
    cpu, switches = server.usage()
    result = R.load({**spec, "warmup": 0, "duration": 5})
    cpu_after, switches_after = server.usage()
    requests = max(1, result["requests"])
    return {**result, "cpu_ms": (cpu_after - cpu) * 1000 / requests, "switches": (switches_after - switches) / requests}


def line(label, conns, ours, bare):
    def stack(r):
        return f"{r['rps']:7.0f} req/s p50 {r['p50_ms']:6.2f} p99 {r['p99_ms']:6.2f} cpu {r['cpu_ms']:.3f} ms " \
               f"switches {r['switches']:4.1f}"
    print(f"{conns:3d} {label:5} affilut {stack(ours)} | bare {stack(bare)} | ratio {ours['rps'] / bare['rps']:.2f}"
          + ("" if set(ours["statuses"]) <= {"200", "201"} else f" statuses {ours['statuses']}"), flush=True)


facts = json.load(open("bench/out/bench.db.json"))
db_path = "bench/out/bench.db"
R.prepare(db_path, facts)
aff, bare = R.affilut_server(db_path), R.bare_server(db_path)
time.sleep(1)
try:
    for conns in [int(c) for c in sys.argv[1:]] or (1, 16):
        stamp = time.time_ns()
        post = {"affiliate_id": facts["busiest_affiliate"], "amount_cents": 4900}
        ours = measured(aff, {"port": aff.port, "paths": ["/api/v1/conversions"], "method": "POST",
                              "body": json.dumps({**post, "external_id": f"w-{stamp}-{{n}}"}),
                              "headers": {"Authorization": "Bearer " + facts["main_key"]}, "connections": conns})
        theirs = measured(bare, {"port": bare.port, "paths": ["/conversions"], "method": "POST", "connections": conns,
                                 "body": json.dumps({**post, "account": facts["main_account"],
                                                     "external_id": f"wb-{stamp}-{{n}}"})})
        line("POST", conns, ours, theirs)
        charge = {"id": f"ch_w_{{n}}_{stamp}", "object": "charge", "amount": 4900, "currency": "usd",
                  "created": int(time.time()), "status": "succeeded", "paid": True, "captured": True, "amount_captured": 4900, "customer": None,
                  "payment_intent": None, "amount_refunded": 0, "billing_details": {"email": None},
                  "metadata": {"affiliate_id": facts["busiest_affiliate"]}}
        event = json.dumps({"id": f"evt_w_{{n}}_{stamp}", "object": "event", "type": "charge.succeeded",
                            "created": int(time.time()), "data": {"object": charge}})
        ours = measured(aff, {"port": aff.port, "paths": [f"/webhooks/stripe/{facts['main_account']}"],
                              "method": "POST", "body": event, "connections": conns,
                              "stripe_secret": R.BENCH_SECRET})
        theirs = measured(bare, {"port": bare.port, "paths": ["/webhook"], "method": "POST", "connections": conns,
                                 "body": event.replace("ch_w_", "ch_wb_")})
        line("HOOK", conns, ours, theirs)
finally:
    aff.stop()
    bare.stop()
