"""The write path: each write is one BEGIN IMMEDIATE ... COMMIT that stands or falls whole, and
writers on many threads and in other processes take turns without losing or merging work."""

import sqlite3
import subprocess
import sys
import threading

import pytest

import affilut
from conftest import make_account


def names(db):
    return sorted(r[0] for r in db.execute("SELECT name FROM settings WHERE name != 'ip_salt'"))


def write_on_own_connection(db_path, block):
    """Run block(tx) in a transaction on a connection of its own, as a request's thread does; the
    exception it raised, or None."""
    db = affilut.connect(db_path)
    try:
        with affilut.transaction(db) as tx:
            block(tx)
    except Exception as error:
        return error
    finally:
        db.close()
    return None


def test_a_failed_write_rolls_back_whole_and_the_connection_writes_again(db):
    with pytest.raises(ValueError):
        with affilut.transaction(db) as tx:
            tx.execute("INSERT INTO settings (name, value) VALUES ('doomed', 'x')")
            raise ValueError("refused")
    assert not db.in_transaction and names(db) == []
    with affilut.transaction(db) as tx:
        tx.execute("INSERT INTO settings (name, value) VALUES ('ok', 'x')")
    assert names(db) == ["ok"]


def test_writes_cannot_nest(db):
    with affilut.transaction(db) as tx:
        with pytest.raises(RuntimeError):
            with affilut.transaction(tx):
                pass
    with affilut.transaction(db) as tx:  # and the connection is free again
        tx.execute("INSERT INTO settings (name, value) VALUES ('ok', 'x')")
    assert names(db) == ["ok"]


def test_a_failing_write_beside_good_ones_on_other_threads_fails_alone(db, db_path):
    barrier = threading.Barrier(20)
    outcomes = {}

    def worker(i):
        def block(tx):
            tx.execute("INSERT INTO settings (name, value) VALUES (:name, 'x')", {"name": f"w{i:02d}"})
            if i % 5 == 0:
                raise ValueError("refused after its insert")
        barrier.wait()
        outcomes[i] = write_on_own_connection(db_path, block)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(i for i, error in outcomes.items() if error) == [0, 5, 10, 15]
    assert names(db) == [f"w{i:02d}" for i in range(20) if i % 5]


def test_racing_read_modify_writes_lose_no_update(db, db_path):
    # BEGIN IMMEDIATE takes the write lock before the read, so no two writers read the same value.
    db.execute("INSERT INTO settings (name, value) VALUES ('counter', '0')")
    barrier = threading.Barrier(8)

    def bump(tx):
        value = int(tx.execute("SELECT value FROM settings WHERE name = 'counter'").fetchone()[0])
        tx.execute("UPDATE settings SET value = :v WHERE name = 'counter'", {"v": str(value + 1)})

    def worker():
        barrier.wait()
        for _ in range(25):
            assert write_on_own_connection(db_path, bump) is None
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert db.execute("SELECT value FROM settings WHERE name = 'counter'").fetchone()[0] == "200"


def test_a_write_from_another_process_waits_its_turn(db, db_path):
    # Another process holds the write lock for a moment; our write waits (busy timeout), then commits.
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, sys, time
db = sqlite3.connect({db_path!r}, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO settings (name, value) VALUES ('theirs', 'x')")
print("held", flush=True)
time.sleep(0.5)
db.execute("COMMIT")
"""], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    assert write_on_own_connection(db_path, lambda tx: tx.execute(
        "INSERT INTO settings (name, value) VALUES ('ours', 'x')")) is None
    holder.wait(timeout=10)
    assert names(db) == ["ours", "theirs"]


def test_a_write_rolled_back_gives_its_conversion_number_back(db):
    account = make_account(db)
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")

    def sale(tx, charge_id):
        affilut.learn_charge(tx, account["id"], charge_id, authoritative=True, amount_cents=1000, captured_cents=1000,
                             currency="usd", charged_at=affilut.now_ms(), meta_affiliate=jane["id"])
        [charge] = affilut.with_customer_charges(tx, account["id"], [charge_id])
        return affilut.settle_charge(tx, account, charge)
    with affilut.transaction(db) as tx:
        sale(tx, "ch_1")
    with pytest.raises(ValueError):
        with affilut.transaction(db) as tx:
            sale(tx, "ch_2")
            raise ValueError("refused after its insert")
    with affilut.transaction(db) as tx:
        sale(tx, "ch_3")
    rows = db.execute("SELECT stripe_charge_id, seq FROM conversions ORDER BY seq").fetchall()
    assert [tuple(r) for r in rows] == [("ch_1", 1), ("ch_3", 2)]


def test_a_failed_commit_leaves_nothing_and_the_connection_usable(db):
    # A deferred foreign key is checked only at COMMIT, so this write's COMMIT fails.
    db.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE children (parent TEXT REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        with affilut.transaction(db) as tx:
            tx.execute("INSERT INTO settings (name, value) VALUES ('a', 'x')")
            tx.execute("INSERT INTO children (parent) VALUES ('nobody')")
    assert not db.in_transaction and names(db) == []
    with affilut.transaction(db) as tx:
        tx.execute("INSERT INTO settings (name, value) VALUES ('after', 'x')")
    assert names(db) == ["after"]


def test_a_running_server_plans_with_statistics_taken_after_its_connections_opened(app, db):
    # SQLite reads statistics when a connection opens; the hourly refresh must still reach the
    # request threads' connections and the write connection, or a server that started on a small
    # program keeps the query plans of that day.
    db.execute("CREATE TABLE scratch (x INTEGER, y INTEGER)")
    db.execute("CREATE INDEX scratch_x ON scratch(x)")
    db.execute("CREATE INDEX scratch_y ON scratch(y)")
    plan = "EXPLAIN QUERY PLAN SELECT * FROM scratch WHERE x = 1 AND y = 1"

    def fill(rows):
        with affilut.transaction(db) as tx:
            tx.execute("DELETE FROM scratch")
            tx.executemany("INSERT INTO scratch (x, y) VALUES (?, ?)", rows)
        affilut.refresh_statistics(db)  # as the hold period's hourly duty does, on its own connection

    def plans():
        app.get("/healthz")  # a request: this thread's connection is the one requests read through
        with affilut.transaction(db) as tx:
            written = tx.execute(plan).fetchone()[3]
        return affilut.get_db().execute(plan).fetchone()[3], written
    fill([(i, i % 2) for i in range(5000)])  # x tells rows apart, y does not
    assert plans() == ("SEARCH scratch USING INDEX scratch_x (x=?)",) * 2
    fill([(i % 2, i) for i in range(5000)])  # now the other way round
    assert plans() == ("SEARCH scratch USING INDEX scratch_y (y=?)",) * 2
