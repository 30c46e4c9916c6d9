"""schema.sql's migrations: a database at an older version is migrated in place, every row kept."""

import hashlib
import os
import re
import sqlite3

import pytest

import affilut

ACCOUNT = "acc_" + "a" * 26
OTHER = "acc_" + "b" * 26


def database_at(path, version):
    """A database migrated only through schema.sql's section `version`, as a merchant's was then."""
    db = sqlite3.connect(path, isolation_level=None)
    for number, statements in affilut.schema_migrations():
        if number <= version:
            for statement in statements:
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    return db


def plan(db, sql, params=()):
    """The details of EXPLAIN QUERY PLAN's rows for a query."""
    return [r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, params)]


# -- Migration 8: stripe_events and charges WITHOUT ROWID, charge indexes partial ---------------------

EVENTS = [
    (ACCOUNT, "evt_1", "charge.succeeded", 1_700_000_000_000, 1_700_000_000_500),
    (ACCOUNT, "evt_2", "charge.refunded", 1_700_000_100_000, 1_700_000_100_200),
    (OTHER, "evt_1", "charge.succeeded", 1_700_000_000_000, 1_700_000_000_900),  # same id, other account
]
CHARGES = [  # every column, in the table's order: meta_at (added by migration 4) last
    (ACCOUNT, "ch_bare", None, None, 4900, "usd", 1_700_000_000_000, None, "aff_x", None, 0, None),
    (ACCOUNT, "ch_full", "pi_1", "cus_1", 12_345, "eur", 1_700_000_050_000, "payer@example.com", "jane",
     "clk_1", 345, 1_700_000_060_000),
    (ACCOUNT, "ch_refund_first", None, "cus_1", None, None, None, None, None, None, 100, None),
    (OTHER, "ch_full", "pi_2", "cus_2", 500, "usd", 1_700_000_070_000, None, None, None, 0, None),
]


def rows(db, table, width=None):
    return sorted(tuple(r)[:width] for r in db.execute(f"SELECT * FROM {table}"))


@pytest.fixture
def migrated(tmp_path):
    """A version-7 database with Stripe events and charges, migrated by init_db; its connection."""
    path = str(tmp_path / "v7.db")
    db = database_at(path, 7)
    for account_id in (ACCOUNT, OTHER):
        db.execute("INSERT INTO accounts (id, name, created_at) VALUES (?, 'Shop', 0)", (account_id,))
    db.executemany("INSERT INTO stripe_events VALUES (?, ?, ?, ?, ?)", EVENTS)
    db.executemany("INSERT INTO charges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", CHARGES)
    columns = [r[1] for r in db.execute("PRAGMA table_info(charges)")]
    assert columns[-1] == "meta_at"
    db.close()

    assert affilut.init_db(path) == affilut.schema_migrations()[-1][0] >= 8
    db = affilut.connect(path)
    # Later migrations add columns after these (12: captured_cents, refunded_at, livemode).
    assert [r[1] for r in db.execute("PRAGMA table_info(charges)")][:len(columns)] == columns
    yield db
    db.close()


def test_migration_8_keeps_every_event_and_charge_in_without_rowid_tables(migrated):
    db = migrated
    assert rows(db, "stripe_events") == sorted(EVENTS)
    assert rows(db, "charges", len(CHARGES[0])) == sorted(CHARGES)
    tables = {r[0]: r[1] for r in db.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table'")}
    for table in ("stripe_events", "charges"):
        assert re.search(r"\)\s*WITHOUT ROWID$", tables[table]), tables[table]
    assert not any(name.endswith("_v8") for name in tables)
    # A rowid table's primary key was an automatic index; a WITHOUT ROWID table is its own.
    indexes = {r[0]: r[1] for r in db.execute("""SELECT name, sql FROM sqlite_schema WHERE type = 'index'
                                                 AND tbl_name IN ('stripe_events', 'charges')""")}
    assert indexes == {
        "charges_customer":
            "CREATE INDEX charges_customer ON charges(account_id, customer_id) WHERE customer_id IS NOT NULL",
        "charges_payment_intent": "CREATE INDEX charges_payment_intent ON charges(account_id, payment_intent_id)"
                                  " WHERE payment_intent_id IS NOT NULL",
    }
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []

    # The primary keys still refuse a second copy: an event id once per account, a charge once.
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO stripe_events VALUES (?, 'evt_1', 'charge.succeeded', 0, 0)", (ACCOUNT,))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO charges (account_id, charge_id) VALUES (?, 'ch_bare')", (ACCOUNT,))
    db.execute("INSERT INTO stripe_events VALUES (?, 'evt_2', 'charge.succeeded', 0, 0)", (OTHER,))
    # ...and the columns keep their constraints and default.
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO stripe_events VALUES (?, 'evt_3', NULL, 0, 0)", (ACCOUNT,))
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are on: the account must exist
        db.execute("INSERT INTO charges (account_id, charge_id) VALUES ('acc_none', 'ch_new')")
    db.execute("INSERT INTO charges (account_id, charge_id) VALUES (?, 'ch_new')", (ACCOUNT,))
    assert db.execute("SELECT amount_refunded, meta_at FROM charges WHERE charge_id = 'ch_new'").fetchone()[:] \
        == (0, None)


@pytest.mark.parametrize("column, index", [("customer_id", "charges_customer"),
                                           ("payment_intent_id", "charges_payment_intent")])
def test_migration_8s_partial_charge_indexes_serve_equality_lookups(migrated, column, index):
    details = plan(migrated, f"SELECT charge_id FROM charges WHERE account_id = ? AND {column} = ?", (ACCOUNT, "x"))
    assert any(re.search(rf"USING (COVERING )?INDEX {index} \(account_id=\? AND {column}=\?\)", d)
               for d in details), details
    # A charge without one has no entry in that index: only those with a value are found through it.
    found = migrated.execute(f"SELECT COUNT(*) FROM charges INDEXED BY {index} WHERE account_id = ? "
                             f"AND {column} IS NOT NULL", (ACCOUNT,)).fetchone()[0]
    assert found == sum(1 for c in CHARGES if c[0] == ACCOUNT and c[2 if column == "payment_intent_id" else 3])


def test_every_query_of_charges_by_customer_or_payment_intent_uses_its_partial_index(migrated):
    """The queries affilut runs, as it runs them (traced): each compares with "=", which implies
    IS NOT NULL, so SQLite may use a partial index for it; and, with the statistics init_db takes, it
    does (without them, on a WITHOUT ROWID table, SQLite would walk the account's charges instead)."""
    db = migrated
    traced = []
    db.set_trace_callback(traced.append)
    assert affilut.charges_of(db, ACCOUNT, intents=["pi_1"], customers=["cus_1"]) == {"ch_full", "ch_refund_first"}
    charges = affilut.with_customer_charges(db, ACCOUNT, ["ch_full"])
    assert [c["charge_id"] for c in charges] == ["ch_refund_first", "ch_full"]
    assert affilut.attribute_charge(db, ACCOUNT, charges[1]) is None  # no affiliate: every rule is tried
    assert affilut.first_payment_of(db, ACCOUNT, "cus_1") == 1_700_000_050_000
    db.set_trace_callback(None)

    by_column = {"customer_id": set(), "payment_intent_id": set()}
    for sql in traced:
        if re.search(r"\bFROM charges\b", sql):
            for column in by_column:
                if re.search(rf"\b{column} = ", sql):
                    by_column[column].add(sql)
    assert len(by_column["customer_id"]) >= 4 and len(by_column["payment_intent_id"]) >= 1
    for column, index in (("customer_id", "charges_customer"), ("payment_intent_id", "charges_payment_intent")):
        for sql in by_column[column]:
            details = plan(db, sql)
            assert any(re.search(rf"USING (COVERING )?INDEX {index} \(account_id=\? AND {column}=\?\)", d)
                       for d in details), (sql, details)
            assert not any(re.match(r"SCAN (charges|c)\b", d) for d in details), (sql, details)


# -- Every earlier version migrates, and no shipped section changes -------------------------------------

CHECKSUMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migration_checksums.txt")


def shipped_checksums():
    with open(CHECKSUMS, encoding="utf-8") as f:
        return {int(v): digest for v, digest in (line.split() for line in f if line.strip() and line[0] != "#")}


def test_no_shipped_migration_section_is_edited_and_every_section_is_listed():
    sections = {version: hashlib.sha256("\n".join(statements).encode()).hexdigest()
                for version, statements in affilut.schema_migrations()}
    assert list(sections) == sorted(sections), "sections must stand in schema.sql in version order"
    assert sections == shipped_checksums()


@pytest.mark.parametrize("version", [v for v, _ in affilut.schema_migrations()][:-1])
def test_a_database_of_every_earlier_version_migrates_with_its_rows(tmp_path, version):
    path = str(tmp_path / f"v{version}.db")
    db = database_at(path, version)
    # Columns every version has had since the first.
    db.execute("INSERT INTO accounts (id, name, default_commission, created_at) VALUES (?, 'Shop', '10', 0)",
               (ACCOUNT,))
    db.execute("""INSERT INTO affiliates (id, account_id, name, email, short_code, status, created_at, updated_at)
                  VALUES ('aff_01', ?, 'Jane', 'jane@example.com', 'jane-1', 'active', 0, 0)""", (ACCOUNT,))
    has_seq = "seq" in [r[1] for r in db.execute("PRAGMA table_info(conversions)")]  # since migration 6
    db.execute(f"""INSERT INTO conversions (id, account_id, affiliate_id, stripe_charge_id, amount_cents,
                       commission_cents, commission_rate, status, created_at, updated_at{', seq' if has_seq else ''})
                   VALUES ('cnv_01', ?, 'aff_01', 'ch_1', 4900, 490, '10', 'pending', 1, 1{', 1' if has_seq else ''})""",
               (ACCOUNT,))
    db.close()
    assert affilut.init_db(path) == affilut.schema_migrations()[-1][0]
    db = affilut.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        conversion = affilut.conversion_json(affilut.get_conversion(db, ACCOUNT, "cnv_01"))
        assert (conversion["amountCents"], conversion["commissionCents"], conversion["status"]) == (4900, 490, "pending")
        assert affilut.get_affiliate(db, ACCOUNT, "aff_01")["email"] == "jane@example.com"
    finally:
        db.close()


# -- Migration 12: money captured, refunds in time, livemode ------------------------------------------


def test_migration_12_keeps_every_older_charge_captured_and_live(migrated):
    """Before issue 13 every charge with an amount earned as captured, and every event counted as live:
    the migrated rows keep earning the same, and an old conversion stays in the live ledger."""
    db = migrated
    got = {r["charge_id"]: (r["captured_cents"], r["refunded_at"], r["livemode"])
           for r in db.execute("SELECT * FROM charges WHERE account_id = ?", (ACCOUNT,))}
    assert got == {"ch_bare": (4900, None, 1), "ch_full": (12_345, None, 1), "ch_refund_first": (None, None, 1)}
    full = db.execute(affilut.CHARGE_FACTS + affilut.CHARGES_BY_ID, {"account": ACCOUNT, "charge": "ch_full"}).fetchone()
    assert affilut.refunded_amount(full) == 345  # the stored amount_refunded still counts
    columns = {r[1]: r[4] for r in db.execute("PRAGMA table_info(conversions)")}
    assert columns["livemode"] == "1"


def test_the_outbox_worker_finds_due_webhooks_on_an_index_however_many_emails_wait(tmp_path):
    """Emails wait, pending, while SMTP is not configured; the worker's poll must still be one
    index seek per kind, never a walk of the waiting emails (it runs after every write)."""
    path = str(tmp_path / "outbox.db")
    affilut.init_db(path)
    db = affilut.connect(path)
    traced = []
    db.set_trace_callback(traced.append)
    assert affilut.claim_due(db) is None
    db.set_trace_callback(None)
    [poll] = [sql for sql in traced if "FROM outbox" in sql]
    details = plan(db, poll)
    assert any("USING INDEX outbox_due (kind=? AND next_attempt_at<?)" in d for d in details), details
    assert not any(d.startswith("USE TEMP B-TREE") for d in details), details
    db.close()
