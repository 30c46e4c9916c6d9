"""The two write endpoints alone against the bare stack, at the given connection counts.

    python bench/writes.py [CONNECTIONS ...]      # default: 1 16

Needs bench/out/bench.db from bench/run.py (its rows grow by what this posts). Per count: POST
/api/v1/conversions, then a signed Stripe charge.succeeded, 5 s each on both stacks; prints req/s,
p50/p99 ms, statuses and the ratio. Noise on 2 shared cores is ±15 %: run it 2-3 times.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.chdir(os.path.dirname(HERE))
import run as R  # noqa: E402

facts = json.load(open('bench/out/bench.db.json'))
db_path = 'bench/out/bench.db'
R.prepare(db_path, facts)
aff = R.affilut_server(db_path); bare = R.bare_server(db_path)
time.sleep(1)
try:
    for conns in [int(c) for c in sys.argv[1:]] or (1, 16):
        stamp = time.time_ns()
        post_api = '{"affiliate_id": "%s", "amount_cents": 4900, "external_id": "iso-{n}-%d"}' % (facts["busiest_affiliate"], stamp)
        post_bare = '{"account": "%s", "affiliate_id": "%s", "amount_cents": 4900, "external_id": "isob-{n}-%d"}' % (facts["main_account"], facts["busiest_affiliate"], stamp)
        a = R.load({"port": aff.port, "paths": ["/api/v1/conversions"], "method": "POST", "body": post_api, "headers": {"Authorization": "Bearer " + facts["main_key"]}, "connections": conns, "duration": 5})
        b = R.load({"port": bare.port, "paths": ["/conversions"], "method": "POST", "body": post_bare, "connections": conns, "duration": 5})
        print(conns, "POST affilut", a["rps"], a["p50_ms"], a["p99_ms"], a["statuses"], "| bare", b["rps"], b["p50_ms"], b["p99_ms"], "ratio %.2f" % (a["rps"]/b["rps"]), flush=True)
        event = ('{"id": "evt_iso_{n}_%d", "object": "event", "type": "charge.succeeded", "created": %d, '
             '"data": {"object": {"id": "ch_live_{n}_%d", "object": "charge", "amount": 4900, "currency": "usd", '
             '"created": %d, "status": "succeeded", "paid": true, "customer": null, "payment_intent": null, '
             '"amount_refunded": 0, "billing_details": {"email": null}, '
             '"metadata": {"affiliate_id": "%s"}}}}') % (stamp, time.time(), stamp, time.time(), facts["busiest_affiliate"])
        a = R.load({"port": aff.port, "paths": [f"/webhooks/stripe/{facts['main_account']}"], "method": "POST", "body": event, "connections": conns, "duration": 5, "stripe_secret": R.BENCH_SECRET})
        b = R.load({"port": bare.port, "paths": ["/webhook"], "method": "POST", "body": event.replace("ch_live", "ch_isob"), "connections": conns, "duration": 5})
        print(conns, "HOOK affilut", a["rps"], a["p50_ms"], a["p99_ms"], a["statuses"], "| bare", b["rps"], b["p50_ms"], b["p99_ms"], "ratio %.2f" % (a["rps"]/b["rps"]), flush=True)
finally:
    aff.stop(); bare.stop()
