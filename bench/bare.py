"""The bare stack affilut is measured against: Bottle and waitress over the same SQLite file, with no
auth, no rate limits, no validation and naive LIMIT/OFFSET paging. Same rows, same JSON fields.

    python bench/bare.py --db bench/out/bench.db --port 8081
"""

import argparse
import json
import os
import sqlite3
import threading
import time

import waitress
from bottle import Bottle, request, response

app = Bottle()
DB_PATH = None
_local = threading.local()


def db():
    if getattr(_local, "db", None) is None:
        _local.db = sqlite3.connect(DB_PATH, timeout=5, isolation_level=None)
        _local.db.row_factory = sqlite3.Row
        _local.db.execute("PRAGMA synchronous = FULL")  # the same durability as affilut
    return _local.db


def new_id(prefix):
    value, chars = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big"), []
    for _ in range(26):
        chars.append("0123456789abcdefghjkmnpqrstvwxyz"[value & 31])
        value >>= 5
    return prefix + "_" + "".join(reversed(chars))


def iso(ms):
    return None if ms is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def conversion(r):
    return {"id": r["id"], "affiliateId": r["affiliate_id"], "stripeChargeId": r["stripe_charge_id"],
            "amountCents": r["amount_cents"], "commissionCents": r["commission_cents"], "status": r["status"],
            "createdAt": iso(r["created_at"]), "currency": r["currency"], "reason": r["reason"],
            "externalId": r["external_id"], "commissionRate": r["commission_rate"], "updatedAt": iso(r["updated_at"])}


@app.get("/conversions")
def list_conversions():
    q = request.query
    page, limit = int(q.get("page", 1)), int(q.get("limit", 50))
    where, params = ["account_id = ?"], [q.get("account")]
    for name in ("affiliate_id", "status"):
        if q.get(name):
            where.append(f"{name} = ?")
            params.append(q.get(name))
    if q.get("starting_after"):
        where.append("seq < (SELECT seq FROM conversions WHERE id = ?)")
        params.append(q.get("starting_after"))
    rows = db().execute(f"SELECT * FROM conversions WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ? OFFSET ?",
                        params + [limit, (page - 1) * limit]).fetchall()
    response.content_type = "application/json"
    return json.dumps({"data": [conversion(r) for r in rows], "page": page, "limit": limit})


@app.post("/conversions")
def create_conversion():
    body = json.loads(request.body.read())
    now = int(time.time() * 1000)
    cid = new_id("cnv")
    db().execute("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, external_id,
                        amount_cents, commission_cents, commission_rate, status, kind, created_at, updated_at, seq)
                    VALUES (?, ?, ?, ?, ?, ?, ?, '10', 'pending', 'manual', ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1
                        FROM conversions WHERE account_id = ?))""",
                 (cid, body["account"], body["affiliate_id"], "manual:" + body["external_id"], body["external_id"],
                  body["amount_cents"], body["amount_cents"] // 10, now, now, body["account"]))
    response.status = 201
    response.content_type = "application/json"
    return json.dumps({"id": cid})


@app.post("/webhook")
def stripe_event():
    """A charge.succeeded event: one conversion per charge, no signature, no attribution rules."""
    charge = json.loads(request.body.read())["data"]["object"]
    now = int(time.time() * 1000)
    affiliate = db().execute("SELECT id, account_id FROM affiliates WHERE id = ?",
                             (charge["metadata"]["affiliate_id"],)).fetchone()
    db().execute("""INSERT OR IGNORE INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                        commission_cents, commission_rate, status, kind, created_at, updated_at, seq)
                    VALUES (?, ?, ?, ?, ?, ?, '10', 'pending', 'sale', ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1
                        FROM conversions WHERE account_id = ?))""",
                 (new_id("cnv"), affiliate["account_id"], affiliate["id"], charge["id"], charge["amount"],
                  charge["amount"] // 10, now, now, affiliate["account_id"]))
    response.content_type = "application/json"
    return json.dumps({"received": True})


@app.get("/r/<code>")
def follow(code):
    """An affiliate link: record the click, redirect with ref and aff_sess."""
    row = db().execute("""SELECT f.id, f.account_id, a.landing_url FROM affiliates f JOIN accounts a
                          ON a.id = f.account_id WHERE f.short_code = ?""", (code,)).fetchone()
    click = new_id("clk")
    db().execute("INSERT INTO clicks (id, account_id, affiliate_id, created_at, user_agent) VALUES (?, ?, ?, ?, ?)",
                 (click, row["account_id"], row["id"], int(time.time() * 1000), request.get_header("User-Agent")))
    response.status = 302
    response.set_header("Location", f"{row['landing_url']}?ref={row['id']}&aff_sess={click}")
    return ""


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    DB_PATH = args.db
    server = waitress.create_server(app, host="127.0.0.1", port=args.port, threads=4)
    print(f"bare serving http://127.0.0.1:{server.effective_port}/", flush=True)
    server.run()
