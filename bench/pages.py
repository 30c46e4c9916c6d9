"""Every merchant page, portal page and CSV at 10,000 and at 1,000,000 conversions. Run by hand, never by the tests.

    python bench/pages.py                       # the issue's two programs (builds them once, ~2-3 min)
    python bench/pages.py --scale 0.1           # a quick look: 1,000 and 100,000 conversions
    python bench/pages.py --export-only 3       # only the full conversions export at 1M, three times
    python bench/pages.py --starvation-only 2   # only webhook and /r/ p99 under each heavy page at 1M, twice

Builds two programs of the same shape in bench/out/ (reused while their sizes match): 1,000,000
conversions, 10,000 affiliates (Zipf-skewed, the biggest with about 64,000 conversions), 3,000,000
clicks and 500 payouts over the last 365 days, and the same at 1/100 of that. Rows are inserted at
schema version 12 (kept as bench/out/pages-N-v12.db) and each run migrates a copy with the real
affilut.init_db, whose migration 13 builds the totals as it would on a merchant's database. Then, for each program, it starts `python affilut.py serve`, signs in as the
merchant and as the biggest affiliate, and prints per page and CSV the p50 at both sizes and their
ratio (for a CSV, the time to its first byte, each sample taken once the server has stopped
streaming the body the previous sample left after its first byte); the full conversions export's rows/s beside
`sqlite3 -csv` running the same query on the same file, and the server's RSS growth during it; and
the p99 of a Stripe webhook and of /r/ while four clients load the heaviest page, as a ratio to
their idle p99. Results go to bench/out/pages.json; bench/RESULTS.md is written by hand from them.
"""

import argparse
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import affilut  # noqa: E402
from run import BENCH_SECRET, Server, already_built, load, ulid  # noqa: E402

DAY_MS = affilut.DAY_MS
AGENT = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36"}


# -- Building a program ------------------------------------------------------------------------------------


def zipf_weights(n, top_share):
    """Weights 1/k^s for k = 1..n, s chosen so the first takes top_share of the total."""
    low, high = 0.0, 3.0
    for _ in range(60):
        s = (low + high) / 2
        share = 1 / sum(k ** -s for k in range(1, n + 1))
        low, high = (s, high) if share < top_share else (low, s)
    return [k ** -s for k in range(1, n + 1)]


def build(path, conversions, affiliates, clicks, payouts):
    """The program's database, built unless one of these sizes is there; its facts."""
    sizes = {"conversions": conversions, "affiliates": affiliates, "clicks": clicks, "payouts": payouts}
    facts_path = path + ".json"
    built = already_built(path, sizes)
    if built:
        return built
    started = time.perf_counter()
    rng = random.Random(14)
    now = affilut.now_ms()
    first_ms = now - 365 * DAY_MS
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for number, statements in affilut.schema_migrations():
        if number < 13:  # this branch's totals come from the migration itself, below
            for statement in statements:
                db.execute(statement)
    db.execute("PRAGMA user_version = 12")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    db.execute("BEGIN")
    # Two triggers check and log each conversion one by one; the rows below are numbered and logged
    # in bulk instead, and the triggers are made again from schema.sql before the commit.
    per_row = [statement for _, statements in affilut.schema_migrations() for statement in statements
               if statement.startswith(("CREATE TRIGGER conversions_seq_next", "CREATE TRIGGER conversion_recorded"))]
    db.execute("DROP TRIGGER conversions_seq_next")
    db.execute("DROP TRIGGER conversion_recorded")
    account = ulid("acc", first_ms - 10_000, rng)
    db.execute("""INSERT INTO accounts (id, name, default_commission, landing_url, webhook_secret, hold_days,
                      created_at) VALUES (?, 'Bench Shop', '10', 'https://shop.example/', ?, 3650, ?)""",
               (account, BENCH_SECRET, first_ms))
    ids = [ulid("aff", first_ms - 5_000 + i, rng) for i in range(affiliates)]
    db.executemany("""INSERT INTO affiliates (id, account_id, name, email, short_code, status, created_at,
                          activated_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)""",
                   [(a, account, f"Partner {i}", f"partner{i}@example.com", f"p{i}-{rng.getrandbits(20):05x}",
                     first_ms, first_ms, first_ms) for i, a in enumerate(ids)])
    ranked = ids[:]
    rng.shuffle(ranked)  # the biggest affiliate is not the oldest
    weights = zipf_weights(affiliates, 0.064)
    # Every conversion and click in time order over the year, so ids, seq and created_at agree.
    total = conversions + clicks
    picks = rng.choices(range(affiliates), weights=weights, k=total)
    is_click = [True] * clicks + [False] * conversions
    rng.shuffle(is_click)
    last_click, seq = {}, 0
    paid_by = {ranked[i]: ulid("pay", now - 30 * DAY_MS + i, rng) for i in range(payouts)}
    click_rows, conversion_rows = [], []

    def flush():
        db.executemany("INSERT INTO clicks (id, account_id, affiliate_id, created_at) VALUES (?, ?, ?, ?)",
                       click_rows)
        db.executemany("""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                              commission_cents, commission_rate, currency, status, kind, click_id, payout_id,
                              created_at, updated_at, seq)
                          VALUES (?, ?, ?, ?, ?, ?, '10', ?, ?, ?, ?, ?, ?, ?, ?)""", conversion_rows)
        click_rows.clear(), conversion_rows.clear()

    for i in range(total):
        ms = first_ms + i * (365 * DAY_MS - 60_000) // total
        affiliate = ranked[picks[i]]
        if is_click[i]:
            click_id = ulid("clk", ms, rng)
            last_click[affiliate] = click_id
            click_rows.append((click_id, account, affiliate, ms))
        else:
            seq += 1
            roll = rng.random()
            kind = "manual" if roll < 0.05 else "renewal" if roll < 0.2 else "sale"
            amount = rng.randrange(500, 50_000)
            age = now - ms
            if age < 30 * DAY_MS:
                status = rng.choice(["pending"] * 9 + ["rejected"])
            else:
                status = rng.choice(["approved"] * 4 + ["paid"] * 5 + ["rejected"])
            payout = paid_by.get(affiliate) if status == "paid" else None
            if status == "paid" and payout is None:
                status = "approved"
            click = last_click.get(affiliate) if kind == "sale" and rng.random() < 0.5 else None
            conversion_rows.append((ulid("cnv", ms, rng), account, affiliate, f"ch_bench{i:08d}", amount, amount // 10,
                                    "eur" if rng.random() < 0.15 else "usd", status, kind, click, payout, ms, ms, seq))
        if len(click_rows) + len(conversion_rows) >= 50_000:
            flush()
    flush()
    db.execute("""INSERT INTO conversion_history (conversion_id, at, from_status, to_status, actor, reason)
                  SELECT id, created_at, NULL, status, CASE kind WHEN 'manual' THEN 'api' ELSE 'stripe' END, reason
                  FROM conversions ORDER BY seq""")
    for statement in per_row:
        db.execute(statement)
    db.executemany("""INSERT INTO payouts (id, account_id, affiliate_id, amount_cents, currency, conversion_count,
                          paid_to, created_at)
                      SELECT :id, :account, :affiliate, COALESCE(SUM(commission_cents), 0), 'usd', COUNT(*),
                             'partner@example.com', :at FROM conversions WHERE account_id = :account AND payout_id = :id""",
                      [{"id": p, "account": account, "affiliate": a, "at": now - 30 * DAY_MS}
                       for a, p in paid_by.items()])
    db.execute("COMMIT")
    counts = db.execute("""SELECT affiliate_id, COUNT(*) FROM conversions GROUP BY affiliate_id
                           ORDER BY COUNT(*) DESC""").fetchall()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    facts = {"sizes": sizes, "account": account, "biggest": counts[0][0], "biggest_count": counts[0][1],
             "median": counts[len(counts) // 2][0], "median_count": counts[len(counts) // 2][1],
             "build_seconds": round(time.perf_counter() - started, 1), "bytes": os.path.getsize(path)}
    with open(facts_path, "w") as f:
        json.dump(facts, f)
    return facts


def migrated_copy(base, path, facts):
    """A fresh copy of the program at version 12, migrated by affilut.init_db as a merchant's database
    would be (migration 13 sums its totals); the seconds the migration took go into the facts."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    subprocess.run(["cp", base, path], check=True)
    started = time.perf_counter()
    affilut.init_db(path)
    facts["migration_seconds"] = round(time.perf_counter() - started, 1)


def sign_in(path, facts):
    """A merchant session and the biggest affiliate's portal session: their cookies."""
    db = affilut.connect(path)
    try:
        user = db.execute("SELECT id FROM users WHERE account_id = ?", (facts["account"],)).fetchone()
        if user is None:
            with affilut.transaction(db) as tx:
                tx.execute("INSERT INTO users (id, account_id, email, created_at) VALUES (?, ?, ?, ?)",
                           (affilut.new_id("usr"), facts["account"], f"owner+{facts['account']}@shop.example", 0))
            user = db.execute("SELECT id FROM users WHERE account_id = ?", (facts["account"],)).fetchone()
        merchant = affilut.create_session(db, "user", user[0], facts["account"])
        portal = affilut.create_session(db, "affiliate", facts["biggest"], facts["account"])
        code = db.execute("SELECT short_code FROM affiliates WHERE id = ?", (facts["biggest"],)).fetchone()[0]
    finally:
        db.close()
    return ({"Cookie": f"{affilut.SESSION_COOKIES['user']}={merchant}"},
            {"Cookie": f"{affilut.SESSION_COOKIES['affiliate']}={portal}"}, code)


# -- Measuring ------------------------------------------------------------------------------------------


def timed_get(port, path, headers, first_byte=False):
    """(seconds to the answer, or to its first body byte; bytes read; status) of one GET."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    res = conn.getresponse()
    if first_byte:
        res.read(1)
        elapsed, size = time.perf_counter() - started, 1
    else:
        size = len(res.read())
        elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, size, res.status


def pages(facts, merchant, portal):
    """(name, path, headers, first byte only) of every page and export measured."""
    today = affilut.now_ms() // DAY_MS * DAY_MS
    week = f"from={affilut.format_day(today - 6 * DAY_MS)}&to={affilut.format_day(today)}"
    return [
        ("overview /dashboard", "/dashboard", merchant, False),
        ("affiliates list", "/dashboard/affiliates", merchant, False),
        ("median affiliate's page", f"/dashboard/affiliates/{facts['median']}", merchant, False),
        ("biggest affiliate's page", f"/dashboard/affiliates/{facts['biggest']}", merchant, False),
        ("portal of the biggest affiliate", "/portal", portal, False),
        ("payouts page", "/dashboard/payouts", merchant, False),
        ("conversions list", "/dashboard/conversions", merchant, False),
        ("conversions, 7-day filter", f"/dashboard/conversions?{week}", merchant, False),
        ("conversions of the biggest affiliate", f"/dashboard/conversions?affiliate_id={facts['biggest']}", merchant, False),
        ("affiliate suggestions", "/dashboard/affiliates/suggest?q=Partner%201", merchant, False),
        ("conversions CSV, first byte", "/dashboard/conversions.csv", merchant, True),
        ("payouts-due CSV, first byte", "/dashboard/payouts/due.csv?format=generic", merchant, True),
        ("payouts-due CSV, whole", "/dashboard/payouts/due.csv?format=generic", merchant, False),
        ("payout history CSV, first byte", "/dashboard/payouts/history.csv", merchant, True),
    ]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def full_export(server, path, facts, merchant):
    """The whole conversions CSV: rows/s, the server's RSS growth meanwhile, and sqlite3 -csv's rows/s."""
    before, peak, done = rss_mb(server.process.pid), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server.process.pid))
            time.sleep(0.05)
    sampler = threading.Thread(target=sample)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", "/dashboard/conversions.csv", headers=merchant)
    res = conn.getresponse()
    lines = 0
    while chunk := res.read(1 << 20):
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    conn.close()
    done.set()
    sampler.join()
    rows = lines - 1
    # The same query as the export, on the same file, written by SQLite's own shell.
    query = (f"SELECT c.*, f.name AS affiliate_name, f.email AS affiliate_email FROM conversions c "
             f"JOIN affiliates f ON f.id = c.affiliate_id WHERE c.account_id = '{facts['account']}' ORDER BY c.seq DESC;")
    started = time.perf_counter()
    shell = subprocess.run(["sqlite3", "-csv", "-header", path, query], stdout=subprocess.PIPE, check=True)
    shell_elapsed = time.perf_counter() - started
    shell_rows = shell.stdout.count(b"\n") - 1
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed),
            "sqlite3_rows": shell_rows, "sqlite3_seconds": round(shell_elapsed, 2),
            "sqlite3_rows_per_s": round(shell_rows / shell_elapsed),
            "ratio_to_sqlite3": round((rows / elapsed) / (shell_rows / shell_elapsed), 2),
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak[0], 1),
            "rss_growth_mb": round(peak[0] - before, 1)}


def starvation(server, facts, heavy_path, heavy_headers, code, seconds):
    """p99 of a webhook and of /r/ alone, then while four clients load heavy_path (with heavy_headers)."""
    stamp = time.time_ns()
    event = ('{"id": "evt_pages_{n}_%d", "object": "event", "type": "charge.succeeded", "created": %d, '
             '"data": {"object": {"id": "ch_pages_{n}_%d", "object": "charge", "amount": 4900, "currency": "usd", '
             '"created": %d, "status": "succeeded", "paid": true, "captured": true, "amount_captured": 4900, "customer": null, "payment_intent": null, '
             '"amount_refunded": 0, "billing_details": {"email": null}, '
             '"metadata": {"affiliate_id": "%s"}}}}') % (stamp, time.time(), stamp, time.time(), facts["median"])
    hook = {"port": server.port, "paths": [f"/webhooks/stripe/{facts['account']}"], "method": "POST", "body": event,
            "connections": 1, "stripe_secret": BENCH_SECRET, "duration": seconds, "warmup": 1}
    link = {"port": server.port, "paths": [f"/r/{code}"], "headers": AGENT, "connections": 1, "duration": seconds,
            "warmup": 1}
    heavy = {"port": server.port, "paths": [heavy_path], "headers": heavy_headers, "connections": 4,
             "duration": seconds + 1, "warmup": 0.5}

    def together(specs):
        results = [None] * len(specs)

        def one(i):
            results[i] = load(specs[i])
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(specs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    idle_hook, idle_link = together([hook, link])
    busy_hook, busy_link, busy_heavy = together([{**hook, "body": event.replace("evt_pages", "evt_busy")}, link, heavy])
    return {"heavy_page": heavy_path,
            "hook": {"idle_p99_ms": idle_hook["p99_ms"], "busy_p99_ms": busy_hook["p99_ms"],
                     "ratio": round(busy_hook["p99_ms"] / idle_hook["p99_ms"], 2),
                     "idle_statuses": idle_hook["statuses"], "busy_statuses": busy_hook["statuses"]},
            "link": {"idle_p99_ms": idle_link["p99_ms"], "busy_p99_ms": busy_link["p99_ms"],
                     "ratio": round(busy_link["p99_ms"] / idle_link["p99_ms"], 2),
                     "idle_statuses": idle_link["statuses"], "busy_statuses": busy_link["statuses"]},
            "heavy": {"rps": busy_heavy["rps"], "p50_ms": busy_heavy["p50_ms"],
                      "statuses": busy_heavy["statuses"]}}


def settle(server, quiet=0.05, longest=10.0):
    """Wait until the server has stopped working on a body its client left after the first byte: a
    first-byte sample must not share the CPU with the rest of the export before it."""
    deadline = time.perf_counter() + longest
    while time.perf_counter() < deadline:
        before = server.usage()[0]
        time.sleep(quiet)
        if server.usage()[0] == before:
            return


def measure(path, facts, repeats):
    """Every page's p50 in ms on one program (and the server it ran on, still running)."""
    merchant, portal, code = sign_in(path, facts)
    server = Server([sys.executable, os.path.join(ROOT, "affilut.py"), "serve", "--db", path, "--port", "0"])
    # The first request starts the server's duties (the hold period's first pass, statistics), which
    # take a while on the big program: the pages are timed after them, not beside them.
    timed_get(server.port, "/healthz", {})
    settle(server, quiet=0.25, longest=120.0)
    times = {}
    for name, page_path, headers, first_byte in pages(facts, merchant, portal):
        samples = []
        for i in range(repeats + 1):
            elapsed, size, status = timed_get(server.port, page_path, headers, first_byte)
            if first_byte:
                settle(server)
            if status != 200:
                raise SystemExit(f"{name}: {page_path} answered {status}")
            if i:  # the first warms the caches
                samples.append(elapsed * 1000)
        times[name] = {"p50_ms": round(statistics.median(samples), 2), "bytes": size}
    return server, times, merchant, portal, code


def exports_only(sizes, runs):
    """The full conversions export, runs times on one server, each beside its sqlite3 -csv run."""
    base = os.path.join(OUT, f"pages-{sizes['conversions']}-v12.db")
    path = os.path.join(OUT, f"pages-{sizes['conversions']}.db")
    facts = build(base, **sizes)
    migrated_copy(base, path, facts)
    merchant, _, _ = sign_in(path, facts)
    server = Server([sys.executable, os.path.join(ROOT, "affilut.py"), "serve", "--db", path, "--port", "0"])
    try:
        settle(server, quiet=0.5, longest=60)  # the duties a server runs as it starts
        for run in range(1, runs + 1):
            e = full_export(server, path, facts, merchant)
            print(f"run {run}: {e['rows']:,} rows in {e['seconds']} s = {e['rows_per_s']:,} rows/s; "
                  f"sqlite3 -csv {e['sqlite3_rows_per_s']:,} rows/s; ratio {e['ratio_to_sqlite3']} (target >= 0.5); "
                  f"server RSS {e['rss_before_mb']} -> peak {e['rss_peak_mb']} MB (+{e['rss_growth_mb']}, target < 50); "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        server.stop()


def starvation_only(sizes, runs, seconds):
    """Webhook and /r/ p99 idle and under four clients of each heavy page, runs times on one server."""
    base = os.path.join(OUT, f"pages-{sizes['conversions']}-v12.db")
    path = os.path.join(OUT, f"pages-{sizes['conversions']}.db")
    facts = build(base, **sizes)
    migrated_copy(base, path, facts)
    merchant, portal, code = sign_in(path, facts)
    heavy = [(n, p, h) for n, p, h, _ in pages(facts, merchant, portal)
             if n in ("overview /dashboard", "biggest affiliate's page", "portal of the biggest affiliate")]
    server = Server([sys.executable, os.path.join(ROOT, "affilut.py"), "serve", "--db", path, "--port", "0"])
    try:
        settle(server, quiet=0.5, longest=60)  # the duties a server runs as it starts
        for run in range(1, runs + 1):
            for name, page_path, headers in heavy:
                s = starvation(server, facts, page_path, headers, code, seconds)
                print(f"run {run}, 4 clients on {name} ({s['heavy']['rps']} req/s, p50 {s['heavy']['p50_ms']} ms, "
                      f"{s['heavy']['statuses']}): webhook p99 {s['hook']['idle_p99_ms']} -> {s['hook']['busy_p99_ms']} ms "
                      f"= {s['hook']['ratio']}x, /r/ p99 {s['link']['idle_p99_ms']} -> {s['link']['busy_p99_ms']} ms "
                      f"= {s['link']['ratio']}x (target <= 3); load average {os.getloadavg()[0]:.1f}", flush=True)
                settle(server)
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's sizes (default 1)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each starvation run")
    parser.add_argument("--export-only", type=int, metavar="RUNS", default=0,
                        help="measure only the full conversions export on the big program, RUNS times")
    parser.add_argument("--starvation-only", type=int, metavar="RUNS", default=0,
                        help="measure only webhook and /r/ p99 under each heavy page on the big program, RUNS times")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    big = {k: max(1, int(v * args.scale)) for k, v in
           {"conversions": 1_000_000, "affiliates": 10_000, "clicks": 3_000_000, "payouts": 500}.items()}
    small = {k: max(1, v // 100) for k, v in big.items()}
    if args.export_only:
        return exports_only(big, args.export_only)
    if args.starvation_only:
        return starvation_only(big, args.starvation_only, args.seconds)
    results = {}
    for label, sizes in (("small", small), ("big", big)):
        base = os.path.join(OUT, f"pages-{sizes['conversions']}-v12.db")
        path = os.path.join(OUT, f"pages-{sizes['conversions']}.db")
        facts = build(base, **sizes)
        migrated_copy(base, path, facts)
        print(f"{label}: {sizes} built in {facts['build_seconds']} s + migration 13 in {facts['migration_seconds']} s; "
              f"biggest affiliate {facts['biggest_count']} conversions, median {facts['median_count']}", flush=True)
        server, times, merchant, portal, code = measure(path, facts, args.repeats)
        result = {"facts": facts, "pages": times}
        try:
            if label == "big":
                heavy = max(times, key=lambda n: times[n]["p50_ms"] if "CSV" not in n else 0)
                # The heaviest page with its own visitor's cookie (the portal's is the affiliate's).
                heavy_path, heavy_headers = {n: (p, h) for n, p, h, _ in pages(facts, merchant, portal)}[heavy]
                result["starvation"] = starvation(server, facts, heavy_path, heavy_headers, code, args.seconds)
                result["export"] = full_export(server, path, facts, merchant)
        finally:
            server.stop()
        results[label] = result
    with open(os.path.join(OUT, "pages.json"), "w") as f:
        json.dump(results, f, indent=1)
    small_pages, big_pages = results["small"]["pages"], results["big"]["pages"]
    print(f"\n{'page or export':44} {'p50 small':>10} {'p50 big':>10} {'ratio':>6}")
    for name in small_pages:
        a, b = small_pages[name]["p50_ms"], big_pages[name]["p50_ms"]
        print(f"{name:44} {a:8.1f}ms {b:8.1f}ms {b / a:5.2f}x{'' if b / a <= 2 else '  > 2x'}")
    export = results["big"]["export"]
    print(f"\nfull conversions export: {export['rows']:,} rows in {export['seconds']} s = {export['rows_per_s']:,} rows/s; "
          f"sqlite3 -csv {export['sqlite3_rows_per_s']:,} rows/s; ratio {export['ratio_to_sqlite3']} (target >= 0.5); "
          f"server RSS {export['rss_before_mb']} -> peak {export['rss_peak_mb']} MB (+{export['rss_growth_mb']}, target < 50)")
    starved = results["big"]["starvation"]
    print(f"\nwhile 4 clients load {starved['heavy_page']} ({starved['heavy']['rps']} req/s, "
          f"p50 {starved['heavy']['p50_ms']} ms, statuses {starved['heavy']['statuses']}):")
    for name in ("hook", "link"):
        s = starved[name]
        print(f"  {'webhook' if name == 'hook' else '/r/':8} p99 idle {s['idle_p99_ms']} ms, loaded {s['busy_p99_ms']} ms: "
              f"{s['ratio']}x (target <= 3); statuses {s['busy_statuses']}")


if __name__ == "__main__":
    main()
