"""The server's thread pool: one request at a time while they are quick, more when one is slow;
and write requests queued behind a write carried into its commit."""

import sqlite3
import threading
import time
import types

import bottle
import pytest
from waitress.adjustments import Adjustments
from waitress.parser import HTTPRequestParser
from waitress.task import ThreadedTaskDispatcher

import affilut
from conftest import ServerProcess, api_call
from test_faults import lock_held_elsewhere


class Task:
    """A stand-in for waitress's task: service() runs `work` and counts how many run at once."""

    def __init__(self, pool, work=None):
        self.pool, self.work, self.done = pool, work, threading.Event()

    def service(self):
        with self.pool["lock"]:
            self.pool["now"] += 1
            self.pool["most"] = max(self.pool["most"], self.pool["now"])
            self.pool["threads"].add(threading.get_ident())
        try:
            if self.work:
                self.work()
        finally:
            with self.pool["lock"]:
                self.pool["now"] -= 1
            self.done.set()


def started(dispatcher, threads=4):
    dispatcher.set_thread_count(threads)
    return dispatcher, {"lock": threading.Lock(), "now": 0, "most": 0, "threads": set()}


def run_all(dispatcher, tasks):
    for task in tasks:
        dispatcher.add_task(task)
    for task in tasks:
        assert task.done.wait(30)


def sleep_a_little():
    time.sleep(0.001)  # releases the GIL, as a query or a socket write does


@pytest.mark.parametrize("name", ["ours", "waitress"])
def test_quick_requests_run_one_at_a_time_where_waitress_runs_them_together(name):
    dispatcher = affilut.OneAtATimeDispatcher(step_in_after=60) if name == "ours" else ThreadedTaskDispatcher()
    dispatcher, pool = started(dispatcher)
    try:
        tasks = [Task(pool, sleep_a_little) for _ in range(200)]
        run_all(dispatcher, tasks)
    finally:
        dispatcher.shutdown()
    if name == "ours":
        assert pool["most"] == 1
    else:  # the check above can fail: waitress's own pool runs these side by side
        assert pool["most"] > 1


def test_a_slow_request_does_not_hold_up_the_ones_queued_behind_it():
    # 0.2 s: far longer than a quick task takes even on a busy machine, so only the slow one is stuck.
    dispatcher, pool = started(affilut.OneAtATimeDispatcher(step_in_after=0.2))
    release = threading.Event()
    try:
        slow = Task(pool, lambda: release.wait(30))
        dispatcher.add_task(slow)
        quick = [Task(pool, sleep_a_little) for _ in range(20)]
        for task in quick:
            dispatcher.add_task(task)
        for task in quick:
            assert task.done.wait(10)
        assert not slow.done.is_set()  # they all ran while the slow one was still at it
        release.set()
        assert slow.done.wait(10)
    finally:
        release.set()
        dispatcher.shutdown()
    assert pool["most"] == 2  # one more thread stepped in, not the whole pool


def test_when_every_running_request_is_slow_another_thread_steps_in_each_time():
    dispatcher, pool = started(affilut.OneAtATimeDispatcher(step_in_after=0.01))
    release = threading.Event()
    try:
        slow = [Task(pool, lambda: release.wait(30)) for _ in range(3)]
        for task in slow:
            dispatcher.add_task(task)
        last = Task(pool)
        dispatcher.add_task(last)
        assert last.done.wait(10)  # three threads held, the fourth ran it
        assert pool["most"] == 4
    finally:
        release.set()
        dispatcher.shutdown()


def test_a_request_that_raises_leaves_its_thread_serving():
    dispatcher, pool = started(affilut.OneAtATimeDispatcher(), threads=1)

    def fail():
        raise RuntimeError("a broken task")
    try:
        failing, after = Task(pool, fail), Task(pool)
        run_all(dispatcher, [failing, after])
    finally:
        dispatcher.shutdown()
    assert len(pool["threads"]) == 1


def test_shutdown_stops_every_thread_idle_or_watching():
    dispatcher, pool = started(affilut.OneAtATimeDispatcher())
    run_all(dispatcher, [Task(pool) for _ in range(5)])  # one thread is now watching, the rest idle
    dispatcher.shutdown(timeout=5)
    assert dispatcher.threads == set()


@pytest.mark.slow
def test_the_server_answers_a_read_while_a_write_waits_for_a_database_locked_elsewhere(db_path, tmp_path, tenant):
    server = ServerProcess(db_path, tmp_path / "server.log", AFFILUT_BUSY_TIMEOUT="3")
    api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])  # last_used_at is written now
    holder = lock_held_elsewhere(db_path)
    try:
        writes = []
        writer = threading.Thread(target=lambda: writes.append(api_call(
            server.port, "POST", "/api/v1/conversions", tenant["key"],
            {"affiliate_id": tenant["affiliate_id"], "amount_cents": 100})))
        writer.start()
        time.sleep(0.2)  # the write is now waiting for the lock
        status, _, body = api_call(server.port, "GET", "/api/v1/affiliates", tenant["key"])
        assert status == 200 and len(body["data"]) == 1
        assert writer.is_alive() and not writes  # answered while the write was still waiting
        writer.join(timeout=30)
        assert writes[0][0] == 503
    finally:
        holder.communicate(b"release\n", timeout=10)
        server.stop()


# -- Write requests carried into the commit of the one running ----------------------------------------


class WriteRequest:
    """A stand-in for a waitress channel whose next request is an API POST: service() binds its own
    Bottle context, inserts one settings row through write_statement, and records what it saw when
    the write returned: whether its row was committed, and whether its Bottle context was its own."""

    def __init__(self, db_path, name, seen, before=None, command="POST", path="/api/v1/conversions", writes=1,
                 parsed=None):
        self.db_path, self.name, self.seen, self.before, self.writes = db_path, name, seen, before, writes
        self.requests = [parsed or types.SimpleNamespace(command=command, path=path, error=None)]
        self.done = threading.Event()

    def service(self):
        bottle.request.bind({"PATH_INFO": "/" + self.name})
        bottle.response.bind()
        bottle.response.status = 201
        db = affilut.connect(self.db_path)
        try:
            if self.before:
                self.before()
            for n in range(self.writes):  # a second write, as a key's last_used_at then the conversion
                affilut.write_statement(db, "INSERT INTO settings (name, value) VALUES (:name, 'x')",
                                        {"name": self.name + ("" if n == 0 else f".{n}")})
            with affilut.connect(self.db_path) as other:  # another connection sees only what is committed
                committed = other.execute("SELECT COUNT(*) FROM settings WHERE name = ?", (self.name,)).fetchone()[0]
            self.seen[self.name] = {"committed": committed == 1, "error": None, "thread": threading.get_ident(),
                                    "depth": affilut.carried_depth(),
                                    "own context": bottle.request.environ["PATH_INFO"] == "/" + self.name
                                    and bottle.response.status_code == 201}
        except Exception as error:
            self.seen[self.name] = {"error": error, "thread": threading.get_ident()}
        finally:
            db.close()
            self.done.set()


def serve_queued_behind_a_first(db_path, names, **kinds):
    """Queue a first write request that waits until the others are queued, then the others (a name in
    kinds gets those WriteRequest arguments). Returns what each saw and the statements the write
    connection ran."""
    writer = affilut.writer_for(affilut.connect(db_path))
    statements = []
    writer.db.set_trace_callback(statements.append)
    dispatcher = affilut.OneAtATimeDispatcher(step_in_after=60)
    dispatcher.set_thread_count(4)
    queued, seen = threading.Event(), {}
    try:
        tasks = [WriteRequest(db_path, "first", seen, before=lambda: queued.wait(10))]
        tasks += [WriteRequest(db_path, name, seen, **kinds.get(name, {})) for name in names]
        for task in tasks:
            dispatcher.add_task(task)
        queued.set()
        for task in tasks:
            assert task.done.wait(30)
    finally:
        writer.db.set_trace_callback(None)
        dispatcher.shutdown()
    return seen, [s.split()[0] for s in statements if s.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK")]


def stored(db_path):
    with affilut.connect(db_path) as db:
        return sorted(r[0] for r in db.execute("SELECT name FROM settings WHERE name != 'ip_salt'"))


def test_write_requests_queued_behind_a_write_share_its_commit_and_each_answers_only_after_it(db_path):
    seen, statements = serve_queued_behind_a_first(db_path, ["b", "c", "d", "e"])
    assert statements == ["BEGIN", "COMMIT"]  # five writes, one transaction
    assert stored(db_path) == ["b", "c", "d", "e", "first"]
    assert all(s["committed"] and s["own context"] for s in seen.values())  # answered after the COMMIT
    assert len({s["thread"] for s in seen.values()}) == 1  # carried on the first one's thread


def test_a_carried_write_that_fails_fails_alone(db_path):
    with affilut.connect(db_path) as db:
        affilut.write_statement(db, "INSERT INTO settings (name, value) VALUES ('taken', 'x')", {})
    seen, statements = serve_queued_behind_a_first(db_path, ["b", "taken", "c"])
    assert isinstance(seen["taken"]["error"], sqlite3.IntegrityError)
    assert statements == ["BEGIN", "COMMIT"]
    assert stored(db_path) == ["b", "c", "first", "taken"]
    assert all(seen[name]["committed"] and seen[name]["own context"] for name in ("first", "b", "c"))


def test_a_carried_request_that_does_not_write_leaves_the_commit_to_the_carrier(db_path):
    seen, statements = serve_queued_behind_a_first(db_path, ["refused", "c"], refused={"writes": 0})
    assert statements == ["BEGIN", "COMMIT"]
    assert stored(db_path) == ["c", "first"]
    assert seen["first"]["committed"] and seen["c"]["committed"]


def test_only_api_and_webhook_writes_are_carried(db_path):
    # A read, or a dashboard form's POST (which may hash a password), waits for its turn instead.
    seen, statements = serve_queued_behind_a_first(db_path, ["read", "form"], read={"command": "GET"},
                                                   form={"path": "/dashboard/settings"})
    assert statements == []  # no group was opened: each write committed by itself
    assert stored(db_path) == ["first", "form", "read"]
    assert all(s["committed"] for s in seen.values())


def test_one_commit_carries_at_most_max_carried_requests(db_path, monkeypatch):
    monkeypatch.setattr(affilut, "MAX_CARRIED", 3)
    names = [f"w{i:02d}" for i in range(11)]
    seen, statements = serve_queued_behind_a_first(db_path, names)
    assert statements == ["BEGIN", "COMMIT"] * 3  # 1 + 3, 1 + 3, then the last 4
    assert stored(db_path) == sorted(names + ["first"])
    assert all(s["committed"] for s in seen.values())


def test_a_request_waitress_could_not_parse_is_not_carried_and_the_commit_still_happens(db_path):
    junk = HTTPRequestParser(Adjustments())
    junk.received(b"hello\r\n\r\n")  # no method, no path: waitress queues it with its error
    assert junk.error is not None and not hasattr(junk, "command")
    seen, statements = serve_queued_behind_a_first(db_path, ["b", "junk", "c"], junk={"parsed": junk, "writes": 0})
    assert statements == ["BEGIN", "COMMIT"]  # first carried b; b stopped at the junk and committed
    assert stored(db_path) == ["b", "c", "first"]
    assert all(s["committed"] for name, s in seen.items() if name != "junk")


def test_requests_that_write_twice_do_not_nest_deeper_than_max_carried(db_path, monkeypatch):
    # Each carried request's second write opens a new group that could carry again, one level down.
    monkeypatch.setattr(affilut, "MAX_CARRIED", 3)
    names = [f"w{i:02d}" for i in range(20)]
    seen, statements = serve_queued_behind_a_first(db_path, names, **{name: {"writes": 2} for name in names})
    assert max(s["depth"] for s in seen.values()) <= 3
    assert len(stored(db_path)) == 1 + 2 * 20 and all(s["committed"] for s in seen.values())
