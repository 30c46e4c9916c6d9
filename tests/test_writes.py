"""Group commit: writes queued behind each other share one COMMIT, yet each stands or falls whole."""

import sqlite3
import threading
import time

import pytest

import affilut
from conftest import make_account


def write_on_own_connection(db_path, block):
    """Run block(tx) in a transaction, or block as SQL text through write_statement, on a connection
    of its own, as a request's thread does; the exception it raised, or None."""
    db = affilut.connect(db_path)
    try:
        if isinstance(block, str):
            affilut.write_statement(db, block, {})
        else:
            with affilut.transaction(db) as tx:
                block(tx)
    except Exception as error:
        return error
    finally:
        db.close()
    return None


def run_group(db_path, blocks):
    """Run each block(tx) in its own thread, all queued behind a first writer that holds the connection
    until they wait, so they share its commit; a block that is SQL text goes through write_statement
    instead. Returns each block's outcome: None or the exception."""
    outcomes = [None] * (len(blocks) + 1)
    holding = threading.Event()

    def first(tx):
        tx.execute("INSERT INTO settings (name, value) VALUES ('first', 'x')")
        holding.set()
        writer = affilut.writer_for(tx)
        deadline = time.monotonic() + 5
        while writer.queued < len(blocks) and time.monotonic() < deadline:
            time.sleep(0.01)

    def worker(i, block):
        if i > 0:
            holding.wait()
        outcomes[i] = write_on_own_connection(db_path, block)
    threads = [threading.Thread(target=worker, args=(i, block)) for i, block in enumerate([first, *blocks])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def insert(name):
    return lambda tx: tx.execute("INSERT INTO settings (name, value) VALUES (:name, 'x')", {"name": name})


def names(db):
    return sorted(r[0] for r in db.execute("SELECT name FROM settings WHERE name != 'ip_salt'"))


def test_a_failed_write_rolls_back_alone(db, db_path):
    def failing(tx):
        tx.execute("INSERT INTO settings (name, value) VALUES ('doomed', 'x')")
        raise ValueError("refused")
    outcomes = run_group(db_path, [insert("a"), failing, insert("b"), insert("c")])
    assert outcomes[0] is None and isinstance(outcomes[2], ValueError)
    assert [o for i, o in enumerate(outcomes) if i != 2] == [None] * 4
    assert names(db) == ["a", "b", "c", "first"]


def test_a_failed_commit_fails_every_write_of_the_group(db, db_path):
    # A deferred foreign key is checked only at COMMIT, so this write makes the shared COMMIT fail.
    db.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE children (parent TEXT REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)")
    orphan = lambda tx: tx.execute("INSERT INTO children (parent) VALUES ('nobody')")  # noqa: E731
    outcomes = run_group(db_path, [insert("a"), orphan, insert("b")])
    assert all(isinstance(o, sqlite3.IntegrityError) for o in outcomes), outcomes
    assert names(db) == [] and db.execute("SELECT COUNT(*) FROM children").fetchone()[0] == 0
    # The connection is usable again afterwards.
    assert run_group(db_path, [insert("after")]) == [None, None]
    assert names(db) == ["after", "first"]


def test_writes_cannot_nest(db):
    with affilut.transaction(db) as tx:
        with pytest.raises(RuntimeError):
            with affilut.transaction(tx):
                pass
    with affilut.transaction(db) as tx:  # and the connection is free again
        tx.execute("INSERT INTO settings (name, value) VALUES ('ok', 'x')")
    assert names(db) == ["ok"]


def test_a_lone_failed_write_rolls_back_whole_and_alone(db):
    # The writer that opens the transaction takes no savepoint: its failure rolls back all of it.
    with pytest.raises(ValueError):
        with affilut.transaction(db) as tx:
            tx.execute("INSERT INTO settings (name, value) VALUES ('doomed', 'x')")
            raise ValueError("refused")
    writer = affilut.writer_for(db)
    assert not writer.db.in_transaction and writer.group is None
    assert run_group(str(db.execute("PRAGMA database_list").fetchone()[2]), [insert("a")]) == [None, None]
    assert names(db) == ["a", "first"]


def test_a_write_rolled_back_inside_a_group_gives_its_conversion_number_back(db, db_path):
    # Three writes in one transaction, in a fixed order: the first holds it until the doomed one
    # queues; the doomed one takes the next number, holds until the last queues, then fails. Its
    # savepoint rolls back, and the last write must take that same number: no gap.
    account = make_account(db)
    jane = affilut.create_affiliate(db, account["id"], "Jane Smith", "jane@example.com")
    writer = affilut.writer_for(db)
    running = {name: threading.Event() for name in ("first", "doomed")}
    numbers, outcomes = {}, {}

    def sale(tx, charge_id):
        affilut.learn_charge(tx, account["id"], charge_id, authoritative=True, amount_cents=1000, currency="usd",
                             charged_at=affilut.now_ms(), meta_affiliate=jane["id"])
        [charge] = affilut.with_customer_charges(tx, account["id"], [charge_id])
        conversion_id = affilut.settle_charge(tx, account, charge)
        numbers[charge_id] = tx.execute("SELECT seq FROM conversions WHERE id = ?", (conversion_id,)).fetchone()[0]

    def until_one_queues():
        deadline = time.monotonic() + 5
        while writer.queued < 1 and time.monotonic() < deadline:
            time.sleep(0.01)

    def first(tx):
        sale(tx, "ch_1")
        running["first"].set()
        until_one_queues()

    def doomed(tx):
        sale(tx, "ch_2")
        running["doomed"].set()
        until_one_queues()
        raise ValueError("refused after its insert")

    def worker(name, block):
        outcomes[name] = write_on_own_connection(db_path, block)
    threads = []
    for name, block, after in (("first", first, None), ("doomed", doomed, "first"),
                               ("last", lambda tx: sale(tx, "ch_3"), "doomed")):
        if after:
            assert running[after].wait(timeout=5)
        threads.append(threading.Thread(target=worker, args=(name, block)))
        threads[-1].start()
    for t in threads:
        t.join(timeout=30)
    assert [name for name, error in outcomes.items() if error] == ["doomed"]
    assert isinstance(outcomes["doomed"], ValueError)
    assert numbers == {"ch_1": 1, "ch_2": 2, "ch_3": 2}
    rows = db.execute("SELECT stripe_charge_id, seq FROM conversions ORDER BY seq").fetchall()
    assert [tuple(r) for r in rows] == [("ch_1", 1), ("ch_3", 2)]


def test_a_lone_statement_commits_by_itself(db):
    affilut.write_statement(db, "INSERT INTO settings (name, value) VALUES ('lone', 'x')", {})
    writer = affilut.writer_for(db)
    assert not writer.db.in_transaction and writer.group is None and not writer.lock.locked()
    assert names(db) == ["lone"]  # visible on another connection: committed


def test_a_lone_statement_joins_an_open_group_and_fails_alone(db, db_path):
    outcomes = run_group(db_path, [
        "INSERT INTO settings (name, value) VALUES ('b', 'x')",
        "INSERT INTO settings (name, value) VALUES ('first', 'again')",  # the first writer's name: refused
        insert("c"),
    ])
    assert outcomes[0] is None and outcomes[1] is None and outcomes[3] is None
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert names(db) == ["b", "c", "first"]
    assert db.execute("SELECT value FROM settings WHERE name = 'first'").fetchone()[0] == "x"


def test_a_transaction_left_open_without_a_group_is_rolled_back_not_committed_by_the_next_write(db):
    # What a group leaves behind when its COMMIT and then its ROLLBACK both fail: its writers were
    # answered with the error, so the next write must not commit their work.
    writer = affilut.writer_for(db)
    writer.db.execute("BEGIN IMMEDIATE")
    writer.db.execute("INSERT INTO settings (name, value) VALUES ('orphan', 'x')")
    affilut.write_statement(db, "INSERT INTO settings (name, value) VALUES ('next', 'x')", {})
    assert not writer.db.in_transaction
    assert names(db) == ["next"]


def test_the_write_connection_keeps_statement_journals_in_memory_and_readers_do_not(db):
    # A big statement inside a transaction still undoes itself alone with its journal in memory.
    affilut.write_statement(db, "INSERT INTO settings (name, value) VALUES ('kept', 'x')", {})
    with pytest.raises(sqlite3.IntegrityError):
        with affilut.transaction(db) as tx:
            tx.execute("INSERT INTO settings (name, value) VALUES ('gone', 'x')")
            # ~400 KiB in one statement, well past the 64 KiB at which SQLite spills a statement journal
            tx.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
                          INSERT INTO settings (name, value) SELECT 'bulk' || i, zeroblob(1000) FROM n""")
            tx.execute("INSERT INTO settings (name, value) VALUES ('kept', 'again')")
    assert names(db) == ["kept"]
    assert affilut.writer_for(db).db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    assert db.execute("PRAGMA temp_store").fetchone()[0] == 0  # a reader's sorts may go to disk
