"""Benchmark affilut against the bare stack it is built on. Run by hand, never by the test suite.

    python bench/run.py                         # the issue's sizes: 1,000,000 conversions, 10,000 affiliates
    python bench/run.py --conversions 100000 --duration 3 --keys 10000    # a quick look

Builds (once, then reuses) bench/out/bench.db with the real schema (affilut.init_db) and rows bulk
inserted in one transaction, ids valid ULIDs in creation order. The first account holds
--main-share of the conversions, so a page 10,000 deep (offset 500,000) exists in one account.
Then it starts `python affilut.py serve` and `python bench/bare.py` as their own processes, drives
each over loopback with bench/load.py (a third process), and prints requests/s, p50/p99 and the
ratio to bare for every endpoint, the servers' peak RSS, the first page at 10,000 rows, and the
server's RSS after 100,000 distinct API keys have been seen. Results go to bench/out/results.json;
bench/RESULTS.md is written by hand from them.
"""

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, ROOT)

import affilut  # noqa: E402

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
START_MS = 1_735_689_600_000  # 2025-01-01: rows are 30 s apart from here on
BENCH_SECRET = "whsec_bench"
STATUSES = ["pending"] * 3 + ["approved"] * 3 + ["paid"] * 3 + ["rejected"]


def ulid(prefix, ms, rng):
    """prefix_ + a lowercase ULID for time ms: sorts by ms, as affilut.new_id's do."""
    value, chars = (ms << 80) | rng.getrandbits(79), []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return prefix + "_" + "".join(reversed(chars))


# -- Building the database -------------------------------------------------------------------------------


def already_built(path, sizes):
    """The facts of the database at path when it was built with these sizes; else None, with any
    other database there (and its -wal, -shm and facts) removed so it can be built anew."""
    facts_path = path + ".json"
    if os.path.exists(path) and os.path.exists(facts_path):
        with open(facts_path) as f:
            facts = json.load(f)
        if facts["sizes"] == sizes:
            return facts
    for suffix in ("", "-wal", "-shm", ".json"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return None


def build(path, conversions, affiliates, accounts, main_share, extra_keys=0):
    """Create the bench database unless one of the same sizes is there; return its facts."""
    sizes = {"conversions": conversions, "affiliates": affiliates, "accounts": accounts, "main_share": main_share,
             "extra_keys": extra_keys}
    facts_path = path + ".json"
    built = already_built(path, sizes)
    if built:
        return built
    started = time.perf_counter()
    rng = random.Random(5)
    affilut.init_db(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    db.execute("BEGIN")
    account_ids = [ulid("acc", START_MS - 10_000_000 + i, rng) for i in range(accounts)]
    db.executemany("INSERT INTO accounts (id, name, default_commission, created_at) VALUES (?, ?, '10', ?)",
                   [(a, f"Shop {i}", START_MS) for i, a in enumerate(account_ids)])
    keys = {}
    for i, account_id in enumerate(account_ids):
        plaintext = "aff_" + "".join(rng.choice(affilut.API_KEY_ALPHABET) for _ in range(40))
        keys[account_id] = plaintext
        db.execute("INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                   (ulid("key", START_MS - 5_000_000 + i, rng), account_id, "bench", plaintext[:12],
                    affilut.hash_key(plaintext), START_MS))
    extra = ["aff_bench%031d" % i for i in range(extra_keys)]  # many distinct keys of the main account
    db.executemany("INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at) VALUES (?, ?, '', ?, ?, ?)",
                   ((ulid("key", START_MS - 4_000_000 + i, rng), account_ids[0], k[:12], affilut.hash_key(k), START_MS)
                    for i, k in enumerate(extra)))
    by_account = {a: [] for a in account_ids}
    affiliate_rows = []
    for i in range(affiliates):
        account_id = account_ids[i % accounts]
        affiliate_id = ulid("aff", START_MS - 1_000_000 + i, rng)
        by_account[account_id].append(affiliate_id)
        affiliate_rows.append((affiliate_id, account_id, f"Partner {i}", f"partner{i}@example.com",
                               f"partner-{i}-{rng.getrandbits(16):04x}", START_MS, START_MS, START_MS))
    db.executemany("""INSERT INTO affiliates (id, account_id, name, email, short_code, status, created_at,
                          activated_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)""", affiliate_rows)

    def conversion_rows():
        seqs = dict.fromkeys(account_ids, 0)  # each account numbers its conversions 1, 2, 3, ... in id order
        for i in range(conversions):
            account_id = account_ids[0] if rng.random() < main_share else account_ids[rng.randrange(1, accounts)]
            affiliate_id = rng.choice(by_account[account_id])
            ms = START_MS + i * 30_000
            amount = rng.randrange(500, 50_000)
            seqs[account_id] += 1
            yield (ulid("cnv", ms, rng), account_id, affiliate_id, f"ch_bench{i:08d}", amount, amount // 10,
                   rng.choice(STATUSES), ms, ms, seqs[account_id])
    db.executemany("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                          commission_cents, commission_rate, status, kind, created_at, updated_at, seq)
                      VALUES (?, ?, ?, ?, ?, ?, '10', ?, 'sale', ?, ?, ?)""", conversion_rows())
    db.execute("COMMIT")
    main = account_ids[0]
    main_rows = db.execute("SELECT COUNT(*) FROM conversions WHERE account_id = ?", (main,)).fetchone()[0]
    depth = min(500_000, main_rows - 1000)  # page 10,000 of 50 when the account is big enough
    cursor = db.execute("SELECT id FROM conversions WHERE account_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                        (main, depth - 1)).fetchone()[0]
    busiest = db.execute("""SELECT affiliate_id FROM conversions WHERE account_id = ? GROUP BY affiliate_id
                            ORDER BY COUNT(*) DESC LIMIT 1""", (main,)).fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    facts = {"sizes": sizes, "main_account": main, "main_key": keys[main], "main_rows": main_rows,
             "cursor_depth": depth, "cursor_id": cursor, "busiest_affiliate": busiest, "extra_keys": extra,
             "build_seconds": round(time.perf_counter() - started, 1), "bytes": os.path.getsize(path)}
    with open(facts_path, "w") as f:
        json.dump(facts, f)
    return facts


# -- Servers and load -------------------------------------------------------------------------------------


class Server:
    """A server in its own process on a free port; its peak RSS is read from /proc before it stops."""

    def __init__(self, argv, env=None):
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env={**os.environ, **(env or {})}, cwd=ROOT)
        line = self.process.stdout.readline().decode()
        self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])

    def memory(self):
        """(current RSS, peak RSS) in MB."""
        fields = {}
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def usage(self):
        """(CPU seconds used so far, context switches so far, over all its threads)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        switches = 0
        for task in os.listdir(f"/proc/{self.process.pid}/task"):
            try:
                with open(f"/proc/{self.process.pid}/task/{task}/status") as f:
                    switches += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
            except FileNotFoundError:  # a thread that ended meanwhile
                pass
        return cpu, switches

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def prepare(db_path, facts):
    """Set, on every run, what the webhook and the links need, and keep the hold-period duty idle:
    the built rows are months old, so with the default 30 days the server would spend the run
    approving ~200,000 pending conversions (batches of 500 that every write then queues behind)
    and measure that backlog instead of the endpoints. Adds the short code to the facts."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE accounts SET webhook_secret = ?, landing_url = 'https://shop.example/' WHERE id = ?",
                     (BENCH_SECRET, facts["main_account"]))
        conn.execute("UPDATE accounts SET hold_days = 3650")
        facts["busiest_code"] = conn.execute("SELECT short_code FROM affiliates WHERE id = ?",
                                             (facts["busiest_affiliate"],)).fetchone()[0]


def affilut_server(db_path):
    return Server([sys.executable, os.path.join(ROOT, "affilut.py"), "serve", "--db", db_path, "--port", "0"],
                  {"AFFILUT_RATE_GET": "999999999", "AFFILUT_RATE_POST": "999999999"})


def bare_server(db_path):
    return Server([sys.executable, os.path.join(HERE, "bare.py"), "--db", db_path, "--port", "0"])


def load(spec):
    """Run bench/load.py in its own process; its JSON result."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "load.py"), "-"], input=json.dumps(spec),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def scenarios(facts, connections):
    """(name, affilut spec, bare spec or None): the same work on both stacks."""
    account, key = facts["main_account"], facts["main_key"]
    auth = {"Authorization": f"Bearer {key}"}
    filters = f"affiliate_id={facts['busiest_affiliate']}&status=approved"
    cursor = f"limit=50&starting_after={facts['cursor_id']}"
    deep_page = facts["cursor_depth"] // 50

    def pair(name, api_path, bare_path, **extra):
        return (name, {"paths": [api_path], "headers": auth, "connections": connections, **extra},
                {"paths": [bare_path], "connections": connections, **extra})
    post_api = '{"affiliate_id": "%s", "amount_cents": 4900, "external_id": "bench-{n}-%d"}' % (
        facts["busiest_affiliate"], time.time_ns())
    post_bare = '{"account": "%s", "affiliate_id": "%s", "amount_cents": 4900, "external_id": "bare-{n}-%d"}' % (
        account, facts["busiest_affiliate"], time.time_ns())
    yield pair("GET first page", "/api/v1/conversions", f"/conversions?account={account}")
    yield pair(f"GET page {deep_page} (limit 50)", f"/api/v1/conversions?page={deep_page}&limit=50",
               f"/conversions?account={account}&page={deep_page}&limit=50")
    yield pair("GET by affiliate+status", f"/api/v1/conversions?{filters}", f"/conversions?account={account}&{filters}")
    yield pair(f"GET cursor at depth {facts['cursor_depth']}", f"/api/v1/conversions?{cursor}",
               f"/conversions?account={account}&{cursor}")
    name, api, bare = pair("POST /conversions (16 conn)", "/api/v1/conversions", "/conversions", method="POST")
    yield name, {**api, "body": post_api, "connections": 16}, {**bare, "body": post_bare, "connections": 16}
    stamp = time.time_ns()
    event = ('{"id": "evt_bench_{n}_%d", "object": "event", "type": "charge.succeeded", "created": %d, '
             '"data": {"object": {"id": "ch_live_{n}_%d", "object": "charge", "amount": 4900, "currency": "usd", '
             '"created": %d, "status": "succeeded", "paid": true, "captured": true, "amount_captured": 4900, "customer": null, "payment_intent": null, '
             '"amount_refunded": 0, "billing_details": {"email": null}, '
             '"metadata": {"affiliate_id": "%s"}}}}') % (stamp, time.time(), stamp, time.time(),
                                                          facts["busiest_affiliate"])
    yield ("POST Stripe charge.succeeded (16 conn)",
           {"paths": [f"/webhooks/stripe/{account}"], "method": "POST", "body": event, "connections": 16,
            "stripe_secret": BENCH_SECRET},
           {"paths": ["/webhook"], "method": "POST", "body": event.replace("ch_live", "ch_bare"), "connections": 16})
    agent = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36"}
    yield ("GET /r/<shortCode>", {"paths": [f"/r/{facts['busiest_code']}"], "headers": agent,
                                  "connections": connections},
           {"paths": [f"/r/{facts['busiest_code']}"], "headers": agent, "connections": connections})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversions", type=int, default=1_000_000)
    parser.add_argument("--affiliates", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--main-share", type=float, default=0.6, help="share of conversions in the first account")
    parser.add_argument("--small", type=int, default=10_000, help="conversions in the small database (first page)")
    parser.add_argument("--keys", type=int, default=100_000, help="distinct API keys for the RSS measure (0: skip)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per endpoint")
    parser.add_argument("--connections", type=int, default=4, help="connections for the GET endpoints")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    results = {"args": vars(args), "endpoints": {}}

    t = time.perf_counter()
    facts = build(os.path.join(OUT, "bench.db"), args.conversions, args.affiliates, args.accounts, args.main_share,
                  args.keys)
    print(f"database: {args.conversions:,} conversions, {args.affiliates:,} affiliates, {args.accounts} accounts, "
          f"{facts['main_rows']:,} in the measured account, {facts['bytes'] / 2**20:.0f} MB "
          f"(built in {facts['build_seconds']} s; ready in {time.perf_counter() - t:.1f} s)", flush=True)
    db_path = os.path.join(OUT, "bench.db")
    duration = {"duration": args.duration}
    prepare(db_path, facts)

    print(f"\n{'endpoint':34} {'affilut req/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'bare req/s':>10} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}", flush=True)
    runs = list(scenarios(facts, args.connections))
    servers = {"affilut": affilut_server(db_path), "bare": bare_server(db_path)}
    try:
        for name, api_spec, bare_spec in runs:
            ours = load({"port": servers["affilut"].port, **duration, **api_spec})
            bare = load({"port": servers["bare"].port, **duration, **bare_spec}) if bare_spec else None
            ratio = ours["rps"] / bare["rps"] if bare and bare["rps"] else None
            results["endpoints"][name] = {"affilut": ours, "bare": bare, "ratio": ratio}
            print(f"{name:34} {ours['rps']:13.0f} {ours['p50_ms']:7.2f} {ours['p99_ms']:7.2f} "
                  f"{bare['rps']:10.0f} {bare['p50_ms']:7.2f} {bare['p99_ms']:7.2f} {ratio:6.2f}"
                  + ("" if set(ours["statuses"]) <= {"200", "201"} else f"  statuses {ours['statuses']}"), flush=True)
        for label, server in servers.items():
            rss, peak = server.memory()
            results[f"{label}_rss_mb"] = {"now": round(rss, 1), "peak": round(peak, 1)}
            print(f"{label} server RSS {rss:.0f} MB, peak {peak:.0f} MB", flush=True)
    finally:
        for server in servers.values():
            server.stop()

    # First page at 1M rows against first page at 10,000 rows.
    small = build(os.path.join(OUT, "small.db"), args.small, max(100, args.affiliates // 100), args.accounts,
                  args.main_share)
    prepare(os.path.join(OUT, "small.db"), small)
    server = affilut_server(os.path.join(OUT, "small.db"))
    try:
        first_small = load({"port": server.port, **duration, "paths": ["/api/v1/conversions"],
                            "headers": {"Authorization": f"Bearer {small['main_key']}"},
                            "connections": args.connections})
    finally:
        server.stop()
    big = results["endpoints"]["GET first page"]["affilut"]
    results["first_page_small"] = first_small
    print(f"\nfirst page at {args.small:,} rows: {first_small['rps']:.0f} req/s, p50 {first_small['p50_ms']} ms; "
          f"at {args.conversions:,}: p50 {big['p50_ms']} ms ({big['p50_ms'] / first_small['p50_ms']:.2f}x)", flush=True)

    if args.keys:
        server = affilut_server(db_path)
        try:
            base, _ = server.memory()
            keys = facts["extra_keys"][:args.keys]
            seen = load({"port": server.port, "paths": ["/api/v1/conversions?limit=1"], "keys": keys,
                         "total": len(keys), "warmup": 0, "duration": 3600, "connections": 4})
            rss, peak = server.memory()
        finally:
            server.stop()
        results["keys"] = {"count": len(keys), "rss_before_mb": round(base, 1), "rss_mb": round(rss, 1),
                           "peak_mb": round(peak, 1), "load": seen}
        print(f"{len(keys):,} distinct API keys seen ({seen['rps']:.0f} req/s, statuses {seen['statuses']}): "
              f"RSS {base:.0f} MB at start, {rss:.0f} MB after, peak {peak:.0f} MB", flush=True)

    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwritten {os.path.join(OUT, 'results.json')}")


if __name__ == "__main__":
    main()
