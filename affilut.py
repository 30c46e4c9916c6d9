"""affilut: a self-hosted affiliate-program server for merchants who take payments with Stripe.

Affiliates share links; affilut follows a referred visitor from the link to the Stripe payment,
credits the right affiliate with the right commission, and lets the merchant approve, pay and
export those commissions by REST API and from the Stripe webhook.

One module on Bottle, served by waitress, with SQLite as the embedded database. It reads top to
bottom in this order, and each section uses only the sections above it:

    Configuration       paths, the environment, the install's public address (base URL, client
                        address, HTTPS), the templates' folder
    Database            schema migrations, connections, the one write path (transaction), statistics
    Values              ids and times, input validation (ApiError), money: the commission rounding
                        rule, formatting and parsing amounts, times and rates for people
    Accounts and keys   program settings and their one validation, API keys, the webhook secret
    Messages            the outbox (enqueue), outbound webhook endpoints and events, emails
    Affiliates          short codes, creating and changing affiliates, the one status rule, listing
    Conversions and commission
                        the lifecycle and its transitions, manual conversions, test mode (LIVE_LEDGER),
                        the hold period, listing
    Stripe attribution  facts from Stripe's events (charges, captures, refunds, disputes, referrals)
                        and settling them into conversions: credit, verdict, apply
    Payouts and stats   payable balances, paying out, the per-day totals, the daily digest
    People, sessions and throttles
                        passwords, users and roles, first-run setup, invites, sign-up, password
                        resets, sessions, sign-in throttling, rate limits
    HTTP helpers        security headers, JSON bodies and errors, API authentication; pages: sessions,
                        CSRF, rendering, redirects, CSV downloads
    API                 the /api/v1 routes
    Stripe webhook      signature checks and the intake of events
    Links and snippet   /r/<code>: clicks and redirects; snippet.js
    Dashboard           the merchant's pages
    Portal              the affiliate's pages
    Outbox delivery     sending emails (SMTP) and webhooks (HTTP), retries, the delivery threads
    Serving             waitress's settings, trusted proxies, the request log, background duties
    Command line        the commands, and main()

Running it:

    python affilut.py                      # serve on http://127.0.0.1:8080 with ./affilut.db; on a fresh
                                           # install it prints the one-time setup link
    python affilut.py create-account --name "My Shop"
    python affilut.py update-account --account acc_... --webhook-secret whsec_...
    python affilut.py accounts             # id, name, created, users
    python affilut.py create-user --account acc_... --email you@shop.example   # prints a set-password link
    python affilut.py create-key --account acc_...
    python affilut.py create-affiliate --account acc_... --name "Jane Smith" --email jane@example.com
    python affilut.py backup copy.db       # a consistent copy, while the server runs
    python affilut.py --version
    python affilut.py --help               # every command and option

Environment:
    AFFILUT_DB          database file (default: affilut.db in the working directory)
    AFFILUT_RATE_GET    API GET requests per minute and key (default 120)
    AFFILUT_RATE_POST   API writes (POST, PATCH) per minute and key (default 30)
    AFFILUT_BUSY_TIMEOUT  seconds a request waits for a locked database before 503 (default 5)
    AFFILUT_BASE_URL    the public address shown in links and snippets (default: the address the browser used)
    AFFILUT_TRUSTED_PROXY  comma-separated addresses of reverse proxies whose X-Forwarded-For, -Proto
                        and -Host are believed (default: none; also serve --trusted-proxy)
    AFFILUT_CONNECTION_LIMIT  open connections kept at once, idle ones included (default 1000)
    AFFILUT_CHANNEL_TIMEOUT  seconds an idle connection stays open (default 30)
    AFFILUT_HOLD_EVERY  seconds between the hold period's runs while serving (default 60; 0: only approve-held;
                        the planner's statistics are refreshed hourly either way)
    STRIPE_WEBHOOK_SECRET  the webhook signing secret of an install with exactly one account
A value affilut cannot use stops it at start with one line on stderr and exit status 2.
"""

import argparse
import calendar
import contextlib
import csv
import datetime
import email.message
import email.utils
import functools
import hashlib
import hmac
import html
import http.client
import io
import ipaddress
import json
import math
import os
import random
import re
import secrets
import signal
import smtplib
import socket
import sqlite3
import ssl
import sys
import threading
import time
import traceback
import unicodedata
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal, localcontext

import bottle
import stripe
import waitress
from bottle import Bottle, HTTPResponse, request, response


###############################################################################
# Configuration ###############################################################
###############################################################################


HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_PATH = os.path.join(HERE, "schema.sql")


__version__ = "0.9.0"


class ConfigError(Exception):
    """A setting from the environment that affilut cannot use; the message names it, in one line."""


def at_start(read, *args):
    """Read settings from the environment as the module loads: a bad one stops affilut with one line
    on stderr and exit status 2, under `python affilut.py` and `waitress-serve affilut:app` alike."""
    try:
        return read(*args)
    except ConfigError as error:
        sys.stderr.write(f"affilut: error: {error}\n")
        raise SystemExit(2)


def env_seconds(name, default, high=3600):
    """A number of seconds from 0 to high from the environment, or the default when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,6})?", value) or float(value) > high:
        raise ConfigError(f"{name} must be a number of seconds from 0 to {high}, not {value!r}")
    return float(value)


# How long a request waits for a busy database before 503; tests shorten it with AFFILUT_BUSY_TIMEOUT.
BUSY_TIMEOUT_SECONDS = at_start(env_seconds, "AFFILUT_BUSY_TIMEOUT", 5.0)
MAX_API_BODY = 64 * 1024            # the largest JSON body the API accepts
MAX_AMOUNT_CENTS = 100_000_000_000  # a sane upper bound for one sale
PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX = 50, 100
KEY_LAST_USED_RESOLUTION_MS = 60_000  # last_used_at is written at most once a minute per key


SETTING_INT_MAX = 999_999_999  # the largest whole-number setting, from the environment or the command line


def setting_int(text):
    """A whole-number setting (a limit, a count, seconds) as written: 1 to SETTING_INT_MAX digits
    only, or None. The one rule for env_int and the command line's positive_int."""
    text = text.strip()
    if len(text) > len(str(SETTING_INT_MAX)) or not re.fullmatch(r"[1-9][0-9]*", text):
        return None
    return int(text) if int(text) <= SETTING_INT_MAX else None


def env_int(name, default):
    """A positive integer from the environment, or the default when unset; else a ConfigError."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    number = setting_int(value)
    if number is None:
        raise ConfigError(f"{name} must be a whole number from 1 to {SETTING_INT_MAX}, not {value!r}")
    return number


# A Stripe webhook signing secret as Stripe hands it out: "whsec_" and its key (letters and digits
# from the Dashboard and the Stripe CLI); anything else pasted in would only fail every signature.
WEBHOOK_SECRET_PATTERN = re.compile(r"whsec_[A-Za-z0-9+/=_-]{1,249}")
BASE_URL_PATTERN = re.compile(r"https?://[^/\s?#]+(/[^\s?#]*)?")


LOCAL_BASE_URL = "http://127.0.0.1:8080"  # where `python affilut.py` serves unless told otherwise


def env_base_url():
    """AFFILUT_BASE_URL without a trailing slash, or "" when unset; a ConfigError when not an http(s) URL."""
    value = os.environ.get("AFFILUT_BASE_URL", "").strip()
    if value and not BASE_URL_PATTERN.fullmatch(value):
        raise ConfigError(f"AFFILUT_BASE_URL must be an absolute http:// or https:// URL, not {value!r}")
    return value.rstrip("/")


def env_webhook_secret():
    """STRIPE_WEBHOOK_SECRET, or None when unset; a ConfigError when it is not a Stripe signing secret."""
    value = os.environ.get("STRIPE_WEBHOOK_SECRET", "").strip()
    if value and not WEBHOOK_SECRET_PATTERN.fullmatch(value):
        raise ConfigError("STRIPE_WEBHOOK_SECRET must be a Stripe webhook signing secret, whsec_...")
    return value or None


at_start(env_base_url)
at_start(env_webhook_secret)


app = Bottle()
app.config["affilut.db"] = os.environ.get("AFFILUT_DB", "affilut.db")
# Seconds between the hold period's runs in a serving process (0: none; cron runs approve-held instead).
_HOLD_EVERY = os.environ.get("AFFILUT_HOLD_EVERY", "").strip()
app.config["affilut.hold_every"] = int(_HOLD_EVERY) if re.fullmatch(r"[0-9]{1,9}", _HOLD_EVERY) else 60


# Pages and emails are rendered on the server from views/, with a little CSS and JS from static/:
# no CDN and no build step.

VIEWS_DIR = os.path.join(HERE, "views")    # absolute: template lookup must not depend on the cwd
# One list for every page: Bottle keeps a compiled template under its lookup list's identity, so a
# new list per call would read, parse and compile the template (and its includes) on every request.
VIEWS_LOOKUP = [VIEWS_DIR]
STATIC_DIR = os.path.join(HERE, "static")


# The server decides what a request's address, scheme and host are (behind_proxies believes a
# trusted proxy's X-Forwarded-* and drops them from anyone else); the app reads only its verdict,
# never a forwarded header itself.


def client_ip():
    """The client's address, as the server determined it."""
    return request.environ.get("REMOTE_ADDR") or ""


def is_https():
    """True when the browser reached us over HTTPS, directly or through a trusted proxy."""
    return request.environ.get("wsgi.url_scheme") == "https"


def base_url():
    """This install's public address: AFFILUT_BASE_URL, else the address the browser used."""
    configured = env_base_url()
    if configured:
        return configured
    environ = request.environ
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    return f"{'https' if is_https() else 'http'}://{host}"


def link_base():
    """Where links in emails point: this install's public address (base_url) while a request is
    served, AFFILUT_BASE_URL or the default local address otherwise (the CLI, background duties)."""
    try:
        serving = request.environ.get("bottle.app") is not None
    except RuntimeError:  # bottle's request exists only in threads that served one; the outbox's never did
        serving = False
    if serving:
        return base_url()
    return env_base_url() or LOCAL_BASE_URL


###############################################################################
# Database ####################################################################
###############################################################################


def schema_migrations():
    """The (version, statements) pairs of schema.sql, in order."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        text = f.read()
    parts = re.split(r"^-- migrate: (\d+)\s*$", text, flags=re.MULTILINE)
    migrations = []
    for version, body in zip(parts[1::2], parts[2::2]):
        statements, pending = [], ""
        for line in body.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                statements.append(pending.strip())
                pending = ""
        migrations.append((int(version), statements))
    return migrations


def schema_version(db):
    """The version of schema.sql this database has been migrated to."""
    return db.execute("PRAGMA user_version").fetchone()[0]


def connect(path, check_same_thread=True):
    """A connection in autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                         check_same_thread=check_same_thread)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    # FULL: an acknowledged conversion survives a power cut too, not only a crash.
    db.execute("PRAGMA synchronous = FULL")
    return db


# How many times this process has taken statistics. SQLite reads them when a connection opens, not
# when another connection runs ANALYZE, so each long-lived connection (a request thread's, the write
# connection) compares this count with the one it last saw, to plan with the program's size of today.
_statistics_taken = [0]


def refresh_statistics(db):
    """Let SQLite's planner know the tables' sizes again (ANALYZE, on a sample so it stays quick).

    Without statistics it may walk a whole account's charges in primary-key order instead of using
    the index by customer; statistics taken when a table was small mislead it the same way, so the
    server refreshes them now and then as well as at start.
    """
    db.execute("PRAGMA analysis_limit = 1000")
    db.execute("ANALYZE")
    _statistics_taken[0] += 1


def init_db(path):
    """Create or migrate the database at path to the newest schema version; return that version."""
    db = connect(path)
    try:
        db.execute("PRAGMA journal_mode = WAL")  # outside any transaction, where it can change
        for version, statements in schema_migrations():
            db.execute("BEGIN IMMEDIATE")
            try:
                # Read under the lock: another process may have migrated while we waited.
                if schema_version(db) < version:
                    for statement in statements:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if db.execute("SELECT 1 FROM settings WHERE name = 'ip_salt'").fetchone() is None:
            db.execute("INSERT OR IGNORE INTO settings (name, value) VALUES ('ip_salt', :salt)",
                       {"salt": secrets.token_hex(16)})
        refresh_statistics(db)
        return schema_version(db)
    finally:
        db.close()


_thread_state = threading.local()
_migrated_paths = set()
_migrate_lock = threading.Lock()


def get_db():
    """This thread's connection to the configured database, migrated on first use."""
    path = app.config["affilut.db"]
    if getattr(_thread_state, "path", None) != path:
        if getattr(_thread_state, "db", None) is not None:
            _thread_state.db.close()
        with _migrate_lock:
            if path not in _migrated_paths:
                init_db(path)
                _migrated_paths.add(path)
        _thread_state.db, _thread_state.path = connect(path), path
        _thread_state.statistics = _statistics_taken[0]
    return _thread_state.db


def plans_with_newest_statistics():
    """Between requests: reopen this thread's connection if statistics were taken since it opened."""
    if getattr(_thread_state, "db", None) is not None and _thread_state.statistics != _statistics_taken[0]:
        _thread_state.db.close()
        _thread_state.db = _thread_state.path = None  # get_db opens it again, reading them


# One way to write, as datasette's writer does: each database file has one connection kept for
# writing, and a write is BEGIN IMMEDIATE ... COMMIT on it while holding that file's lock, so this
# process's threads queue on the lock instead of spinning in SQLite's busy handler. One connection
# rather than each thread's own because SQLite empties a connection's page cache whenever another
# connection has written: with waitress's threads writing in turn, every write started cold and read
# again each index and totals page it changes; one connection keeps them warm between writes. Another
# process on the same file is kept out by BEGIN IMMEDIATE itself, which waits up to the busy timeout.
_writers = {}  # absolute path SQLite reports for the file -> (lock, write connection)
_writers_guard = threading.Lock()
_writing = threading.local()  # set while this thread is inside transaction()
_writer_statistics = {}  # path -> the _statistics_taken its write connection plans with


def writer(path):
    """The lock and the write connection of one database file (by the absolute name SQLite reports)."""
    with _writers_guard:
        if path not in _writers:
            db = connect(path, check_same_thread=False)  # used by one thread at a time, under the lock
            # A statement inside a transaction keeps the pages it changes in a statement journal so
            # it can undo itself alone; in memory, not in a temporary file made and removed per write.
            db.execute("PRAGMA temp_store = MEMORY")
            _writers[path] = (threading.Lock(), db)
        return _writers[path]


def close_writer(path):
    """Close the write connection of one database file; for when nothing writes to it any more."""
    with _writers_guard:
        lock, db = _writers.pop(path, (None, None))
    if db is not None:
        with lock:
            db.close()


@contextlib.contextmanager
def transaction(db):
    """Run the block as one all-or-nothing write to db's database file: committed when it ends,
    rolled back if it raises. The block gets the write connection and must read through it too."""
    if getattr(_writing, "active", False):
        raise RuntimeError("a write transaction cannot open inside another")
    path = db.execute("PRAGMA database_list").fetchone()[2]
    lock, tx = writer(path) if path else (threading.Lock(), db)  # an in-memory database has only db
    with lock:
        _writing.active = True
        try:
            tx.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout for other processes
            try:
                if _writer_statistics.get(path) != _statistics_taken[0]:
                    # Reread the statistics (SQLite's ANALYZE documentation); under the write lock
                    # already, so its bookkeeping write costs nothing more.
                    tx.execute("ANALYZE sqlite_schema")
                    _writer_statistics[path] = _statistics_taken[0]
                yield tx
                tx.execute("COMMIT")
            except BaseException:
                if tx.in_transaction:  # SQLite may already have rolled back (a full disk)
                    tx.execute("ROLLBACK")
                raise
        finally:
            _writing.active = False


def unique_violation(error, *columns):
    """True when an IntegrityError comes from the unique index over exactly these columns."""
    return "UNIQUE constraint failed: " + ", ".join(columns) in str(error)


###############################################################################
# Values: ids, time, validation and money #####################################
###############################################################################


DAY_MS = 24 * 3600 * 1000  # times are integer milliseconds since the epoch, UTC
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_id_lock = threading.Lock()
_id_last = [0, 0]  # the last (milliseconds, random) pair handed out


def now_ms():
    """The current time in integer milliseconds since the epoch."""
    return int(time.time() * 1000)


def new_id(prefix):
    """A prefix and a lowercase ULID, monotonic within this process so ids sort by creation."""
    with _id_lock:
        ms = now_ms()
        if ms <= _id_last[0]:
            ms, rand = _id_last[0], _id_last[1] + 1
            if rand >> 80:  # the random part overflowed within one millisecond
                ms, rand = ms + 1, secrets.randbits(79)
        else:
            rand = secrets.randbits(79)  # a spare top bit leaves room to count up
        _id_last[:] = [ms, rand]
    value = (ms << 80) | rand
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return prefix + "_" + "".join(reversed(chars))


def is_id(text, prefix):
    """True when text is an id new_id(prefix) could have made: the prefix, "_" and 26 ULID characters."""
    return isinstance(text, str) and re.fullmatch(prefix + r"_[0-9a-z]{26}", text) is not None


def iso_time(ms):
    """UTC ISO 8601 with milliseconds and Z, as the API shows times; None stays None."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def iso_time_sql(column):
    """iso_time as an SQL expression over a column of milliseconds, for exports SQLite formats as it
    reads (times are never negative, so SQL's / and % agree with Python's // and %)."""
    return f"(strftime('%Y-%m-%dT%H:%M:%S', {column} / 1000, 'unixepoch') || printf('.%03dZ', {column} % 1000))"


class ApiError(Exception):
    """A refusal the caller can act on: an HTTP status, a stable code, a message and the field."""

    def __init__(self, status, code, message, param=None, headers=None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers, self.extra = headers or {}, extra

    def body(self):
        """The JSON error object of the API."""
        return {"error": {"code": self.code, "message": self.message, "param": self.param, **self.extra}}


def invalid(param, message):
    """A 400 for one field."""
    return ApiError(400, "invalid_parameter", message, param)


def not_found(kind, object_id, param=None):
    """The 404 for an id this account does not have."""
    return ApiError(404, "not_found", f"no {kind} {object_id}", param)


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PERCENT = re.compile(r"\d{1,3}(\.\d{1,4})?")


def clean_text(value, param, max_length=200, required=True):
    """A trimmed single-line string of at most max_length characters."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(param, f"{param} must be a non-empty string")
    value = value.strip()
    if len(value) > max_length:
        raise invalid(param, f"{param} must be at most {max_length} characters")
    if _CONTROL_CHARS.search(value):
        raise invalid(param, f"{param} must not contain control characters")
    return value


def clean_email(value, param="email"):
    """A plausible email address."""
    value = clean_text(value, param, max_length=254)
    if not _EMAIL.fullmatch(value):
        raise invalid(param, f"{param} must be an email address")
    return value


def clean_url(value, param):
    """An absolute http(s) URL."""
    value = clean_text(value, param, max_length=2000)
    if not re.match(r"https?://[^/\s?#]+", value):
        raise invalid(param, f"{param} must be an absolute http:// or https:// URL")
    return value


def clean_days(value, param, low, high, required=True):
    """A whole number of days or months within [low, high], given as an int or typed as digits;
    blank is None when not required."""
    text = "" if value is None else str(value).strip()  # str(True) is "True": refused below
    if not text and not required:
        return None
    if not re.fullmatch(r"\d{1,9}", text) or not low <= int(text) <= high:
        raise invalid(param, f"{param.replace('_', ' ')} must be a whole number from {low} to {high}")
    return int(text)


def clean_percent(value, param):
    """An exact decimal percent between 0 and 100 with at most 4 decimals, in canonical form.

    JSON numbers arrive as int or Decimal (the API parses floats as Decimal), so 12.5 is exact.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise invalid(param, f"{param} must be a percent as a decimal string, like \"12.5\"")
    text = str(value).strip()
    if not _PERCENT.fullmatch(text) or Decimal(text) > 100:
        raise invalid(param, f"{param} must be a percent from 0 to 100 with at most 4 decimals")
    return format(Decimal(text).normalize(), "f")


def clean_choice(value, param, choices):
    """One of a fixed set of strings."""
    if value not in choices:
        raise invalid(param, f"{param} must be one of: {', '.join(choices)}")
    return value


def clean_amount(value, param="amount_cents"):
    """A positive whole number of minor units, sent as a JSON integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(param, f"{param} must be an integer number of cents")
    if not 1 <= value <= MAX_AMOUNT_CENTS:
        raise invalid(param, f"{param} must be from 1 to {MAX_AMOUNT_CENTS}")
    return value


def reject_unknown(body, allowed):
    """Refuse fields we do not know, so a typo never passes silently."""
    for name in body:
        if name not in allowed:
            raise ApiError(400, "unknown_parameter", f"unknown field {name!r}", name)


def commission_cents(amount_cents, percent):
    """amount × percent / 100 in exact decimal, rounded half away from zero to a whole cent.

    999 × 12.5% = 124.875 → 125; 4905 × 10% = 490.5 → 491; -490.5 → -491.
    """
    with localcontext() as ctx:
        ctx.prec = 50
        exact = Decimal(amount_cents) * Decimal(percent) / 100
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# Stripe's zero-decimal currencies: their minor unit is the whole unit.
ZERO_DECIMAL_CURRENCIES = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
# Stripe's three-decimal currencies (Stripe: "Supported currencies", three-decimal currencies): 5.120 KWD
# is amount 5120, so showing it with two decimals would write ten times the money into a payout file.
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())
CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹"}


def currency_digits(currency):
    """How many decimals the currency shows."""
    currency = (currency or "usd").lower()
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 3 if currency in THREE_DECIMAL_CURRENCIES else 2


def money_parts(cents, currency):
    """The size of an amount in minor units, as whole units and the decimals shown after them:
    123456 usd → (1234, ".56"), 123456 jpy → (123456, "")."""
    digits = currency_digits(currency)
    whole, part = divmod(abs(cents), 10 ** digits)
    return whole, f".{part:0{digits}d}" if digits else ""


def money_text(cents, currency="usd"):
    """Minor units as a plain decimal string for files: 1234 → "12.34"."""
    whole, decimals = money_parts(cents, currency)
    return f"{'-' if cents < 0 else ''}{whole}{decimals}"


def money_text_sql(cents, currency):
    """money_text as an SQL expression over a column of minor units and a column (or parameter) of currency."""
    zero_decimal = ", ".join(f"'{code}'" for code in sorted(ZERO_DECIMAL_CURRENCIES))
    three_decimal = ", ".join(f"'{code}'" for code in sorted(THREE_DECIMAL_CURRENCIES))
    code, sign = f"lower(COALESCE({currency}, 'usd'))", f"CASE WHEN {cents} < 0 THEN '-' ELSE '' END"
    return (f"(CASE WHEN {code} IN ({zero_decimal}) THEN printf('%d', {cents}) "
            f"WHEN {code} IN ({three_decimal}) THEN printf('%s%d.%03d', {sign}, "
            f"abs({cents}) / 1000, abs({cents}) % 1000) "
            f"ELSE printf('%s%d.%02d', {sign}, abs({cents}) / 100, "
            f"abs({cents}) % 100) END)")


def format_money(cents, currency="usd"):
    """Minor units for people: 123456 usd → "$1,234.56", -300 eur → "−€3.00"."""
    currency = (currency or "usd").lower()
    whole, decimals = money_parts(cents or 0, currency)
    number = f"{whole:,}{decimals}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    text = f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"
    return ("−" + text) if (cents or 0) < 0 else text


def parse_money(value, param, currency="usd", allow_zero=False):
    """A decimal amount typed by a person ("49", "1,049.50") in minor units, exactly."""
    text = (value or "").strip().replace(",", "").lstrip("$€£¥").strip()
    digits = currency_digits(currency)
    pattern = r"\d{1,12}" + (rf"(\.\d{{1,{digits}}})?" if digits else "")
    if not re.fullmatch(pattern, text):
        raise invalid(param, f"{param.replace('_', ' ')} must be an amount like " + ("49.00" if digits else "4900"))
    cents = int(Decimal(text) * 10 ** digits)
    if cents == 0 and allow_zero:
        return 0
    return clean_amount(cents, param)


def format_day(ms):
    """A UTC date: 2026-01-15."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000)) if ms else ""


def format_when(ms):
    """A UTC date and minute: 2026-01-15 09:00 (the tables say UTC in their heading)."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms // 1000)) if ms else "—"


def format_rate(rate):
    """A conversion rate as a percent with one decimal, or a dash with no clicks."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


###############################################################################
# Accounts and keys ###########################################################
###############################################################################


API_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
API_KEY_PATTERN = re.compile(r"aff_[a-z0-9]{32,128}")


def hash_key(plaintext):
    """The SHA-256 hex digest under which an API key is stored."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def clean_webhook_secret(value, param="webhook_secret"):
    """A Stripe webhook signing secret (whsec_...), or None for blank: the account then has none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not WEBHOOK_SECRET_PATTERN.fullmatch(value.strip()):
        raise invalid(param, f"{param} must be a Stripe webhook signing secret: whsec_ and the rest of it")
    return value.strip()


# Every program setting's rule, stated once: create-account, update-account, /setup and the Settings
# page all clean their values here, so one value is accepted or refused alike everywhere. The
# snippet keeps a click for 1..3650 days (snippet.js), which bounds the attribution window. A renewal
# period of 0 months lets only first payments earn; none (blank) lets every renewal earn.
PROGRAM_SETTINGS = {
    "name": lambda v: clean_text(v, "name"),
    "default_commission": lambda v: clean_percent(v, "default_commission"),
    "landing_url": lambda v: clean_url(v, "landing_url") if v is not None and str(v).strip() else "",
    "attribution_window_days": lambda v: clean_days(v, "attribution_window_days", 1, 3650),
    "hold_days": lambda v: clean_days(v, "hold_days", 0, 3650),
    "renewal_months": lambda v: clean_days(v, "renewal_months", 0, 1200, required=False),
    "payout_minimum_cents": lambda v: parse_money(None if v is None else str(v), "payout_minimum", allow_zero=True),
    "webhook_secret": clean_webhook_secret,
}
# The form and CLI name of each setting, where it differs from its column.
PROGRAM_SETTING_INPUTS = {"payout_minimum_cents": "payout_minimum"}


def clean_program_settings(values):
    """The settings present in `values` (the form's names, strings or ints), cleaned into the
    accounts table's columns; an ApiError names the first one refused."""
    cleaned = {}
    for column, rule in PROGRAM_SETTINGS.items():
        name = PROGRAM_SETTING_INPUTS.get(column, column)
        if name in values:
            cleaned[column] = rule(values[name])
    return cleaned


def create_account(db, name, commission="10", landing_url="", webhook_secret=None, attribution_days=60,
                   hold_days=30, renewal_months=None, payout_minimum="0"):
    """Create a merchant's program; return its id."""
    fields = clean_program_settings({
        "name": name, "default_commission": commission, "landing_url": landing_url,
        "webhook_secret": webhook_secret, "attribution_window_days": attribution_days, "hold_days": hold_days,
        "renewal_months": renewal_months, "payout_minimum": payout_minimum})
    fields.update(id=new_id("acc"), now=now_ms())
    with transaction(db) as tx:
        insert_account(tx, fields)
    return fields["id"]


def insert_account(db, fields):
    """Inside a transaction: the accounts row of cleaned settings (clean_program_settings), id and now."""
    columns = [column for column in PROGRAM_SETTINGS if column in fields]
    db.execute(f"""INSERT INTO accounts (id, created_at, {", ".join(columns)})
                   VALUES (:id, :now, {", ".join(":" + column for column in columns)})""", fields)


def update_account(db, account_id, values):
    """Change the program settings present in `values` (see clean_program_settings); return the row."""
    fields = clean_program_settings(values)
    with transaction(db) as tx:
        if get_account(tx, account_id) is None:
            raise not_found("account", account_id, "account")
        if fields:
            tx.execute(f"""UPDATE accounts SET {", ".join(f"{column} = :{column}" for column in fields)}
                           WHERE id = :id""", {**fields, "id": account_id})
    return get_account(db, account_id)


def get_account(db, account_id):
    """The account row, or None."""
    return db.execute("SELECT * FROM accounts WHERE id = :id", {"id": account_id}).fetchone()


def sole_account(db):
    """The install's account when it has exactly one, else None: such an install may leave the id out."""
    accounts = db.execute("SELECT * FROM accounts ORDER BY id LIMIT 2").fetchall()
    return accounts[0] if len(accounts) == 1 else None


def create_api_key(db, account_id, name=""):
    """Create an API key; return (its id, the plaintext, shown this once and never stored)."""
    plaintext = "aff_" + "".join(secrets.choice(API_KEY_ALPHABET) for _ in range(40))
    fields = {"id": new_id("key"), "account_id": account_id, "name": clean_text(name or None, "name", required=False) or "",
              "prefix": plaintext[:12], "hash": hash_key(plaintext), "now": now_ms()}
    with transaction(db) as tx:
        if get_account(tx, account_id) is None:
            raise not_found("account", account_id, "account")
        tx.execute("""INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at)
                      VALUES (:id, :account_id, :name, :prefix, :hash, :now)""", fields)
    return fields["id"], plaintext


def revoke_api_key(db, account_id, key_id):
    """Revoke a key of this account; True when it was live."""
    with transaction(db) as tx:
        cursor = tx.execute("""UPDATE api_keys SET revoked_at = :now
                               WHERE id = :id AND account_id = :account AND revoked_at IS NULL""",
                            {"now": now_ms(), "id": key_id, "account": account_id})
    return cursor.rowcount == 1


# The fields of Settings → Program, which every user may save.
PROGRAM_FORM_FIELDS = ("name", "default_commission", "landing_url", "attribution_window_days", "hold_days",
                       "renewal_months", "payout_minimum")


def update_program(db, account_id, form):
    """Save Settings → Program from the form's strings; return the account row. The webhook secret
    is not among them: only an owner replaces it, with rotate_webhook_secret."""
    return update_account(db, account_id, {name: form[name] for name in PROGRAM_FORM_FIELDS if name in form})


def rotate_webhook_secret(db, account_id, secret):
    """Replace the Stripe webhook signing secret: events signed with the old one are refused from now on."""
    return update_account(db, account_id, {"webhook_secret": secret})


###############################################################################
# Messages: the outbox, emails and outbound webhooks ##########################
###############################################################################


# Every message affilut owes, an email or a webhook delivery, is a row of the outbox written by
# enqueue() inside the transaction of the change that causes it: committed with the change or not
# at all. The delivery worker (section "Outbox delivery") sends due rows and retries failures.

OUTBOX_RETRY_WINDOW_MS = 3 * DAY_MS   # a message that has failed for this long is given up
OUTBOX_MAX_DELAY_MS = DAY_MS          # the doubling retry delay stops growing here
WEBHOOK_EVENTS = ("affiliate.created", "affiliate.updated", "conversion.created", "conversion.updated",
                  "payout.created")
MAX_WEBHOOK_ENDPOINTS = 16            # per account
MAIL_TOPICS_DEFAULT_ON = {"new_commission": True, "daily_digest": True}
# One list for every email template: Bottle caches a compiled template by the identity of its lookup list.
MAIL_TEMPLATE_LOOKUP = [os.path.join(HERE, "views")]
_outbox_wake = threading.Event()      # set by enqueue so this process's delivery threads look soon


def outbox_retry_seconds():
    """The first retry delay: AFFILUT_OUTBOX_RETRY_SECONDS (default 30), doubling after each failure."""
    return env_int("AFFILUT_OUTBOX_RETRY_SECONDS", 30)


def retry_delay_ms(attempts):
    """How long to wait after the attempts-th failure: doubling from the first delay, with up to
    20% jitter either way so that many failures at once do not all retry at the same instant."""
    delay = min(OUTBOX_MAX_DELAY_MS, outbox_retry_seconds() * 1000 * 2 ** min(attempts - 1, 30))
    return int(delay * random.uniform(0.8, 1.2))


def enqueue(db, kind, topic, recipient, body, account_id=None, subject="", event_id=None, endpoint_id=None,
            sensitive=False, dedupe_key=None):
    """Inside the transaction of the change that causes it: queue one message; return its id, or
    None when a message with this dedupe_key was queued before."""
    message_id, now = new_id("msg" if kind == "email" else "dlv"), now_ms()
    cursor = db.execute("""INSERT INTO outbox (id, account_id, kind, topic, event_id, endpoint_id, recipient, subject,
                               body, sensitive, dedupe_key, created_at, next_attempt_at)
                           VALUES (:id, :account, :kind, :topic, :event, :endpoint, :recipient, :subject, :body,
                               :sensitive, :dedupe, :now, :now)
                           ON CONFLICT (dedupe_key) DO NOTHING""",
                        {"id": message_id, "account": account_id, "kind": kind, "topic": topic,
                         "event": event_id or message_id, "endpoint": endpoint_id, "recipient": recipient,
                         "subject": subject, "body": body, "sensitive": int(sensitive), "dedupe": dedupe_key,
                         "now": now})
    if kind == "webhook" or mail_mode() is not None:  # an email with nowhere to go wakes nobody
        _outbox_wake.set()
    return message_id if cursor.rowcount == 1 else None


def webhook_endpoint_json(row, secret=None):
    """A webhook endpoint as the API shows it; the secret only when it was just made."""
    body = {"id": row["id"], "url": row["url"], "events": json.loads(row["events"]),
            "createdAt": iso_time(row["created_at"]),
            "status": "disabled" if row["disabled_at"] else "enabled",
            "disabledAt": iso_time(row["disabled_at"]), "disabledReason": row["disabled_reason"]}
    if secret is not None:
        body["secret"] = secret
    return body


def forbidden_address(address):
    """True for an address a webhook must not reach unless AFFILUT_WEBHOOK_ALLOW_PRIVATE=1: loopback,
    private, link-local, multicast, reserved or unspecified (an IPv4-mapped IPv6 address as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved \
        or ip.is_unspecified


def webhook_allows(name):
    """AFFILUT_WEBHOOK_ALLOW_HTTP or AFFILUT_WEBHOOK_ALLOW_PRIVATE, read when used."""
    return os.environ.get(f"AFFILUT_WEBHOOK_ALLOW_{name}", "").strip() == "1"


def clean_webhook_url(value, param="url"):
    """An https:// URL (http:// with AFFILUT_WEBHOOK_ALLOW_HTTP=1) whose host is not a private address.
    A host name is resolved and checked again each time a delivery connects (see webhook_address)."""
    value = clean_url(value, param)
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:
        raise invalid(param, f"{param} must be a URL with a valid host and port")
    if parts.scheme != "https" and not (parts.scheme == "http" and webhook_allows("HTTP")):
        raise invalid(param, f"{param} must start with https:// (set AFFILUT_WEBHOOK_ALLOW_HTTP=1 to allow http://)")
    host = parts.hostname or ""
    if not host or parts.username is not None or parts.fragment or port == 0:
        raise invalid(param, f"{param} must be a URL with a host, without credentials or a #fragment")
    if not webhook_allows("PRIVATE"):
        try:
            private = forbidden_address(host)
        except ValueError:  # a name, not an address: checked when a delivery connects
            private = host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost")
        if private:
            raise invalid(param, f"{param} must not point at a loopback, private or link-local address")
    return value


def clean_webhook_events(value, param="events"):
    """A non-empty list of distinct event types, in the order of WEBHOOK_EVENTS."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise invalid(param, f"{param} must be a non-empty list of event types: {', '.join(WEBHOOK_EVENTS)}")
    for name in value:
        clean_choice(name, param, WEBHOOK_EVENTS)
    return [name for name in WEBHOOK_EVENTS if name in value]


def get_webhook_endpoint(db, account_id, endpoint_id):
    """This account's webhook endpoint, or None."""
    return db.execute("SELECT * FROM webhook_endpoints WHERE id = :id AND account_id = :account",
                      {"id": endpoint_id, "account": account_id}).fetchone()


def create_webhook_endpoint(db, account_id, url, events):
    """Add an endpoint; return (its row, the signing secret, shown this once)."""
    fields = {"id": new_id("we"), "account": account_id, "url": clean_webhook_url(url),
              "events": json.dumps(clean_webhook_events(events)), "secret": "whsec_" + secrets.token_hex(24),
              "now": now_ms(), "max": MAX_WEBHOOK_ENDPOINTS}
    with transaction(db) as tx:
        cursor = tx.execute("""INSERT INTO webhook_endpoints (id, account_id, url, events, secret, created_at)
                               SELECT :id, :account, :url, :events, :secret, :now
                               WHERE (SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = :account) < :max""",
                            fields)
        if cursor.rowcount != 1:
            raise ApiError(409, "too_many_endpoints", f"an account has at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints")
    return get_webhook_endpoint(db, account_id, fields["id"]), fields["secret"]


def update_webhook_endpoint(db, account_id, endpoint_id, changes):
    """Change an endpoint's url, events or status; enabling it again clears why it was disabled."""
    fields = {"id": endpoint_id, "account": account_id, "now": now_ms()}
    assignments = []
    if "url" in changes:
        fields["url"] = clean_webhook_url(changes["url"])
        assignments.append("url = :url")
    if "events" in changes:
        fields["events"] = json.dumps(clean_webhook_events(changes["events"]))
        assignments.append("events = :events")
    if "status" in changes:
        status = clean_choice(changes["status"], "status", ("enabled", "disabled"))
        assignments.append("disabled_at = NULL, disabled_reason = NULL" if status == "enabled" else
                           "disabled_at = COALESCE(disabled_at, :now), "
                           "disabled_reason = COALESCE(disabled_reason, 'disabled by the merchant')")
    with transaction(db) as tx:
        if get_webhook_endpoint(tx, account_id, endpoint_id) is None:
            raise not_found("webhook endpoint", endpoint_id)
        if assignments:
            tx.execute(f"UPDATE webhook_endpoints SET {', '.join(assignments)} WHERE id = :id", fields)
        if changes.get("status") == "disabled":
            cancel_deliveries(tx, endpoint_id)
    return get_webhook_endpoint(db, account_id, endpoint_id)


def delete_webhook_endpoint(db, account_id, endpoint_id):
    """Remove an endpoint; what was queued for it is cancelled."""
    with transaction(db) as tx:
        cursor = tx.execute("DELETE FROM webhook_endpoints WHERE id = :id AND account_id = :account",
                            {"id": endpoint_id, "account": account_id})
        if cursor.rowcount != 1:
            raise not_found("webhook endpoint", endpoint_id)
        cancel_deliveries(tx, endpoint_id)


def cancel_deliveries(db, endpoint_id):
    """Inside a transaction: an endpoint that is disabled or gone gets nothing more."""
    db.execute("""UPDATE outbox SET status = 'cancelled', last_error = 'endpoint disabled'
                  WHERE endpoint_id = :id AND status = 'pending'""", {"id": endpoint_id})


def resend_delivery(db, account_id, delivery_id):
    """Queue a delivery's event again to its endpoint: a new delivery with the same event id and body."""
    with transaction(db) as tx:
        row = tx.execute("""SELECT o.* FROM outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id
                            WHERE o.id = :id AND o.account_id = :account AND o.kind = 'webhook'
                              AND e.disabled_at IS NULL""", {"id": delivery_id, "account": account_id}).fetchone()
        if row is None:
            raise not_found("delivery to an enabled endpoint", delivery_id)
        return enqueue(tx, "webhook", row["topic"], row["recipient"], row["body"], account_id,
                       event_id=row["event_id"], endpoint_id=row["endpoint_id"])


def emit_event(db, account_id, event_type, data, livemode=True):
    """Inside the transaction of the change: queue one event (one id) for every enabled endpoint of
    the account that takes its type; return the event id, or None when no endpoint takes it.

    data is the API's object, or a function that makes it (or the pair (object, livemode), or None
    for nothing to say), called only when some endpoint listens: most changes have no listener."""
    endpoints = [e for e in db.execute("""SELECT id, url, events FROM webhook_endpoints
                                          WHERE account_id = :account AND disabled_at IS NULL""",
                                       {"account": account_id}) if event_type in json.loads(e["events"])]
    if not endpoints:
        return None
    if callable(data):
        data = data()
        if data is None:
            return None
        if isinstance(data, tuple):
            data, livemode = data
    event_id, now = new_id("evt"), now_ms()
    body = json.dumps({"id": event_id, "type": event_type, "createdAt": iso_time(now), "livemode": bool(livemode),
                       "data": data}, separators=(",", ":"))
    for endpoint in endpoints:
        enqueue(db, "webhook", event_type, endpoint["url"], body, account_id, event_id=event_id,
                endpoint_id=endpoint["id"])
    return event_id


def mail_wanted(db, subject_id, topic):
    """Whether this person wants emails of this topic (new_commission, daily_digest): on unless turned off."""
    row = db.execute("SELECT enabled FROM mail_preferences WHERE subject_id = :subject AND topic = :topic",
                     {"subject": subject_id, "topic": topic}).fetchone()
    return MAIL_TOPICS_DEFAULT_ON.get(topic, True) if row is None else bool(row["enabled"])


def set_mail_preference(db, subject_id, topic, enabled):
    """Turn one topic of emails on or off for this person."""
    clean_choice(topic, "topic", tuple(MAIL_TOPICS_DEFAULT_ON))
    with transaction(db) as tx:
        tx.execute("""INSERT INTO mail_preferences (subject_id, topic, enabled) VALUES (:subject, :topic, :enabled)
                      ON CONFLICT (subject_id, topic) DO UPDATE SET enabled = excluded.enabled""",
                   {"subject": subject_id, "topic": topic, "enabled": int(bool(enabled))})


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"]+")


def paragraph_html(text):
    """One paragraph of an email's text as HTML: escaped, its links clickable, its line breaks kept."""
    escaped = html.escape(text)
    return _URL_IN_TEXT.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped).replace("\n", "<br>\n")


def render_email(topic, program, **values):
    """(subject, text, html) of an email from views/mail_<topic>.tpl, whose first line is "Subject: ...".

    The text template is plain text (nothing escaped); the HTML part is views/mail_layout.tpl around
    the same paragraphs, escaped there."""
    text = bottle.template(f"mail_{topic}", template_lookup=MAIL_TEMPLATE_LOOKUP, template_settings={"noescape": True},
                           program=program, money=format_money, day=format_day, **values)
    first, _, rest = text.strip().partition("\n")
    subject, text = first.removeprefix("Subject:").strip(), rest.strip() + "\n"
    paragraphs = [paragraph_html(p.strip()) for p in re.split(r"\n\s*\n", text.strip())]
    body = bottle.template("mail_layout", template_lookup=MAIL_TEMPLATE_LOOKUP, program=program, subject=subject,
                           paragraphs=paragraphs)
    return subject, text, body


def queue_email(db, account_id, topic, to, sensitive=False, dedupe_key=None, **values):
    """Inside the transaction of the change: render an email of this program and queue it.

    A sensitive email (one holding a one-time link) is queued only while email can be sent: its link
    sits readable in the outbox until it is, and without SMTP that could be until it expires. The
    pages show invite links themselves, and `reset-password` makes a reset link without email."""
    if sensitive and mail_mode() is None:
        return None
    account = get_account(db, account_id)
    subject, text, body = render_email(topic, account["name"], account=account, **values)
    return enqueue(db, "email", topic, to, json.dumps({"text": text, "html": body}), account_id, subject=subject,
                   sensitive=sensitive, dedupe_key=dedupe_key)


def merchant_emails(db, account_id):
    """The addresses of the program's users who can sign in."""
    return [r["email"] for r in db.execute("""SELECT email FROM users WHERE account_id = :a
                                              AND password_hash IS NOT NULL ORDER BY id""", {"a": account_id})]


def endpoint_disabled(db, account_id, endpoint_id, reason):
    """Inside a transaction: disable an endpoint that kept failing, cancel what waits for it, and tell
    the merchant's users (the dashboard shows a banner too)."""
    cursor = db.execute("""UPDATE webhook_endpoints SET disabled_at = :now, disabled_reason = :reason
                           WHERE id = :id AND disabled_at IS NULL""",
                        {"now": now_ms(), "reason": reason, "id": endpoint_id})
    if cursor.rowcount != 1:
        return
    cancel_deliveries(db, endpoint_id)
    endpoint = get_webhook_endpoint(db, account_id, endpoint_id)
    for email in merchant_emails(db, account_id):
        queue_email(db, account_id, "webhook_disabled", email, endpoint=endpoint, reason=reason,
                    settings_url=link_base() + "/dashboard/settings/webhooks")


def mail_settings():
    """How to send email, from AFFILUT_SMTP_URL and AFFILUT_MAIL_FROM; None when SMTP is not configured.

    smtp://user:pass@host:587 signs in after STARTTLS; smtp://host:port sends without TLS or sign-in
    (a local catcher); smtps://user:pass@host:465 is TLS from the first byte."""
    url = os.environ.get("AFFILUT_SMTP_URL", "").strip()
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ApiError(400, "invalid_smtp_url", "AFFILUT_SMTP_URL has an invalid port")
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ApiError(400, "invalid_smtp_url", "AFFILUT_SMTP_URL must look like smtp://user:pass@host:587 "
                                                "or smtps://user:pass@host:465")
    sender = os.environ.get("AFFILUT_MAIL_FROM", "").strip()
    if not _EMAIL.fullmatch(email.utils.parseaddr(sender)[1] or ""):
        raise ApiError(400, "invalid_mail_from", "AFFILUT_MAIL_FROM must be the address emails come from, "
                                                 "like affiliates@shop.example")
    return {"tls": parts.scheme == "smtps", "host": parts.hostname,
            "port": port or (465 if parts.scheme == "smtps" else 587 if parts.username else 25),
            "user": urllib.parse.unquote(parts.username) if parts.username else None,
            "password": urllib.parse.unquote(parts.password or ""), "sender": email.utils.parseaddr(sender)[1]}


def mail_mode():
    """'smtp' when email is configured, 'print' under serve --print-mail, else None: emails wait."""
    if os.environ.get("AFFILUT_SMTP_URL", "").strip():
        return "smtp"
    return "print" if app.config.get("affilut.print_mail") else None


###############################################################################
# Affiliates ##################################################################
###############################################################################


AFFILIATE_STATUSES = ("pending", "active", "paused", "banned")
# In an UPDATE that sets :status: activatedAt records the first activation and never moves after it.
FIRST_ACTIVATION = "activated_at = COALESCE(activated_at, CASE WHEN :status = 'active' THEN :now END)"


def short_code_base(name):
    """The readable part of a short code: the name in lowercase ASCII words joined by dashes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:32].strip("-")
    return slug or "partner"


def affiliate_json(row):
    """An affiliate as the API shows it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "shortCode": row["short_code"],
        "status": row["status"],
        "commissionOverride": row["commission_override"],
        "createdAt": iso_time(row["created_at"]),
        "activatedAt": iso_time(row["activated_at"]),
    }


def get_affiliate(db, account_id, affiliate_id):
    """This account's affiliate, or None: another tenant's id is as unknown as a made-up one."""
    return db.execute("SELECT * FROM affiliates WHERE id = :id AND account_id = :account",
                      {"id": affiliate_id, "account": account_id}).fetchone()


def create_affiliate(db, account_id, name, email, status="active", commission_override=None, and_then=None):
    """Create an affiliate with a unique short code; return its row. and_then(tx, row), if given, runs
    in the same transaction after the insert: what must stand or fall with the affiliate."""
    name = clean_text(name, "name")
    fields = {
        "id": new_id("aff"), "account_id": account_id, "name": name,
        "email": clean_email(email),
        "status": clean_choice(status, "status", AFFILIATE_STATUSES),
        "override": None if commission_override is None else clean_percent(commission_override, "commission_override"),
        "now": now_ms(),
    }
    fields["activated_at"] = fields["now"] if fields["status"] == "active" else None
    base = short_code_base(name)
    for _ in range(20):  # the unique index decides; a clash only means another random suffix
        fields["short_code"] = f"{base}-{secrets.token_hex(2)}"
        try:
            with transaction(db) as tx:
                if get_account(tx, account_id) is None:
                    raise not_found("account", account_id, "account")
                tx.execute("""INSERT INTO affiliates (id, account_id, name, email, short_code, status,
                                  commission_override, created_at, activated_at, updated_at)
                              VALUES (:id, :account_id, :name, :email, :short_code, :status,
                                  :override, :now, :activated_at, :now)""", fields)
                emit_event(tx, account_id, "affiliate.created", lambda: affiliate_json(get_affiliate(tx, account_id, fields["id"])))
                if and_then:
                    and_then(tx, get_affiliate(tx, account_id, fields["id"]))
            return get_affiliate(db, account_id, fields["id"])
        except sqlite3.IntegrityError as error:
            if unique_violation(error, "affiliates.account_id", "affiliates.email"):
                raise ApiError(409, "duplicate_email", "an affiliate with this email already exists", "email")
            if not unique_violation(error, "affiliates.short_code"):
                raise
    raise ApiError(503, "short_code_exhausted", "could not find a free short code; try again")


def update_affiliate(db, account_id, affiliate_id, changes):
    """Apply name, status and commission_override changes; activatedAt is set on first activation."""
    fields = {"id": affiliate_id, "account": account_id, "now": now_ms()}
    assignments = ["updated_at = :now"]
    if "name" in changes:
        fields["name"] = clean_text(changes["name"], "name")
        assignments.append("name = :name")
    if "status" in changes:
        clean_choice(changes["status"], "status", AFFILIATE_STATUSES)
    if "commission_override" in changes:
        value = changes["commission_override"]
        fields["override"] = None if value is None else clean_percent(value, "commission_override")
        assignments.append("commission_override = :override")
    with transaction(db) as tx:
        before = get_affiliate(tx, account_id, affiliate_id)
        cursor = tx.execute(f"UPDATE affiliates SET {', '.join(assignments)} WHERE id = :id AND account_id = :account",
                            fields)
        if cursor.rowcount and "status" in changes:
            change_affiliate_status(tx, account_id, affiliate_id, changes["status"])
        affiliate_changed(tx, account_id, affiliate_id, before)
    if cursor.rowcount == 0:
        raise not_found("affiliate", affiliate_id)
    return get_affiliate(db, account_id, affiliate_id)


def change_affiliate_status(db, account_id, affiliate_id, status, reason=None):
    """Inside a transaction: the one rule for an affiliate's status, from the API, the dashboard and the
    CLI alike. A reason goes only with a pause or a ban (the affiliate sees it); any other status
    clears it, so a reactivated affiliate shows no old reason. Return False when there is no such affiliate."""
    fields = {"status": clean_choice(status, "status", AFFILIATE_STATUSES),
              "reason": clean_text(reason or None, "reason", max_length=500, required=False),
              "now": now_ms(), "id": affiliate_id, "account": account_id}
    cursor = db.execute(f"""UPDATE affiliates SET status = :status, updated_at = :now,
                               status_reason = CASE WHEN :status IN ('paused', 'banned') THEN :reason END,
                               {FIRST_ACTIVATION}
                           WHERE id = :id AND account_id = :account""", fields)
    return cursor.rowcount == 1


def list_affiliates(db, filters, params, page, limit, starting_after=None, ending_before=None):
    """One page of an account's affiliates, newest first, plus whether more follow.

    Ids are ULIDs, so ordering by id is creation order with a unique, stable tie-break. The ids of
    the page are found on a covering index first, so a deep OFFSET walks the index, not the rows.
    ending_before keeps the affiliates added after that one instead: the page just above it, and
    whether more follow above.
    """
    where = ["account_id = :account"] + filters
    if starting_after is not None:
        where.append("id < :starting_after")
        params = {**params, "starting_after": starting_after}
    if ending_before is not None:
        where.append("id > :ending_before")
        params = {**params, "ending_before": ending_before}
    rows = db.execute(f"""SELECT a.* FROM (SELECT id FROM affiliates WHERE {' AND '.join(where)}
                                          ORDER BY id {'ASC' if ending_before else 'DESC'}
                                          LIMIT :limit OFFSET :offset) AS page
                          JOIN affiliates AS a ON a.id = page.id ORDER BY a.id DESC""",
                      {**params, "limit": limit + 1, "offset": (page - 1) * limit}).fetchall()
    return keyset_page(rows, limit, ending_before)


def keyset_page(rows, limit, ending_before):
    """A list's page from its query's rows (newest first, one more than the page asked for when more
    follow), and whether more follow. Going up (ending_before), that one more is the newest row."""
    if ending_before is not None and len(rows) > limit:
        return rows[1:], True
    return rows[:limit], len(rows) > limit


def set_affiliate_status(db, account_id, affiliate_id, status, reason=None):
    """Approve, pause, ban or reactivate; the reason for a pause or ban is shown to the affiliate."""
    with transaction(db) as tx:
        before = get_affiliate(tx, account_id, affiliate_id)
        found = change_affiliate_status(tx, account_id, affiliate_id, status, reason)
        affiliate_changed(tx, account_id, affiliate_id, before)
    if not found:
        raise not_found("affiliate", affiliate_id)
    return get_affiliate(db, account_id, affiliate_id)


def affiliate_changed(db, account_id, affiliate_id, before):
    """Inside a transaction, after an affiliate changed: affiliate.updated when what the API shows
    changed, and the approval email when a pending applicant became active."""
    row = get_affiliate(db, account_id, affiliate_id)
    if row is None or before is None or affiliate_json(before) == affiliate_json(row):
        return
    emit_event(db, account_id, "affiliate.updated", lambda: affiliate_json(row))
    if before["status"] == "pending" and row["status"] == "active":
        queue_email(db, account_id, "affiliate_approved", row["email"], affiliate=row,
                    portal_url=link_base() + f"/portal/signin/{account_id}")


###############################################################################
# Conversions and commission ##################################################
###############################################################################


CONVERSION_STATUSES = ("pending", "approved", "paid", "rejected")
# pending → approved → paid; pending or approved → rejected. Paid and rejected are final.
CONVERSION_TRANSITIONS = {"pending": ("approved", "rejected"), "approved": ("paid", "rejected")}
# An account's next conversion number, for the seq of every INSERT INTO conversions: the write
# transaction serializes writers, so two never take one number, and a write rolled back gives
# its number back (the next one reads MAX again). schema.sql's triggers refuse any other.
NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM conversions WHERE account_id = :account)"
# The columns a new conversion may set; any left out of the row take their default (NULL, 0).
CONVERSION_COLUMNS = ("id", "account_id", "affiliate_id", "stripe_charge_id", "external_id", "amount_cents",
                      "commission_cents", "commission_rate", "currency", "status", "reason", "kind", "customer_id",
                      "payment_intent_id", "click_id", "adjusts_id", "refunded_cents", "disputed", "created_at",
                      "updated_at", "livemode")
CONVERSION_DEFAULTS = {"external_id": None, "reason": None, "customer_id": None, "payment_intent_id": None,
                       "click_id": None, "adjusts_id": None, "refunded_cents": 0, "disputed": 0, "livemode": 1}
# The live ledger: conversions from Stripe's test mode (livemode 0) are kept apart, out of the
# hold period, payouts, stats and exports. Manual conversions are live.
LIVE_LEDGER = "livemode = 1"


def insert_conversion(db, row):
    """Inside a transaction: add a conversion (its first history line comes from a trigger), numbered
    next in its account."""
    db.execute(f"""INSERT INTO conversions ({', '.join(CONVERSION_COLUMNS)}, seq)
                   VALUES ({', '.join(':' + c for c in CONVERSION_COLUMNS)}, {NEXT_SEQ})""",
               {**CONVERSION_DEFAULTS, **row, "account": row["account_id"]})
    conversion_recorded(db, {**CONVERSION_DEFAULTS, **row})


def conversion_json(row):
    """A conversion as the API shows it."""
    return {
        "id": row["id"],
        "affiliateId": row["affiliate_id"],
        "stripeChargeId": row["stripe_charge_id"],
        "amountCents": row["amount_cents"],
        "commissionCents": row["commission_cents"],
        "status": row["status"],
        "createdAt": iso_time(row["created_at"]),
        "currency": row["currency"],
        "reason": row["reason"],
        "externalId": row["external_id"],
        "commissionRate": row["commission_rate"],
        "updatedAt": iso_time(row["updated_at"]),
        "livemode": bool(row["livemode"]),
    }


def get_conversion(db, account_id, conversion_id):
    """This account's conversion, or None."""
    return db.execute("SELECT * FROM conversions WHERE id = :id AND account_id = :account",
                      {"id": conversion_id, "account": account_id}).fetchone()


def commission_rate(account, affiliate):
    """The percent that applies to this affiliate now: its override, else the program's default."""
    return affiliate["commission_override"] or account["default_commission"]


def record_manual_conversion(db, account, affiliate_id, amount_cents, external_id=None):
    """Record a conversion that did not flow through Stripe; return its row.

    The unique index on (account_id, external_id) decides duplicates, so concurrent requests with
    one external_id store exactly one row and the others get a 409 naming it.
    """
    affiliate = get_affiliate(db, account["id"], affiliate_id)
    if affiliate is None:
        raise not_found("affiliate", affiliate_id, "affiliate_id")
    conversion_id, now, rate = new_id("cnv"), now_ms(), commission_rate(account, affiliate)
    # Every column the API shows is set here, so the answer is built from these values.
    row = {"id": conversion_id, "account_id": account["id"], "affiliate_id": affiliate_id,
           "stripe_charge_id": "manual:" + (external_id or conversion_id), "external_id": external_id,
           "amount_cents": amount_cents, "commission_cents": commission_cents(amount_cents, rate),
           "commission_rate": rate, "currency": "usd", "status": "pending", "reason": None, "kind": "manual",
           "created_at": now, "updated_at": now, "livemode": 1}
    try:
        with transaction(db) as tx:
            insert_conversion(tx, row)
    except sqlite3.IntegrityError as error:
        if not unique_violation(error, "conversions.account_id", "conversions.external_id") and \
                not unique_violation(error, "conversions.account_id", "conversions.stripe_charge_id"):
            raise
        # The other row's transaction has committed (ours waited for its lock): it is visible.
        existing = db.execute("""SELECT id FROM conversions WHERE account_id = :account_id
                                 AND (external_id = :external_id OR stripe_charge_id = :stripe_charge_id)""",
                              row).fetchone()
        raise ApiError(409, "duplicate_external_id", "a conversion with this external_id is already recorded",
                       "external_id", conversionId=existing["id"])
    return row


def record_history(db, conversion_id, from_status, to_status, actor, reason=None):
    """Keep one line of a conversion's audit trail: who moved it from what to what, and why."""
    db.execute("""INSERT INTO conversion_history (conversion_id, at, from_status, to_status, actor, reason)
                  VALUES (:id, :now, :from_status, :to_status, :actor, :reason)""",
               {"id": conversion_id, "now": now_ms(), "from_status": from_status, "to_status": to_status,
                "actor": actor, "reason": reason})


def conversion_changeable(row):
    """True while the lifecycle still allows the conversion a step (pending, approved); paid and
    rejected are final, so no action of the dashboard can change them."""
    return row["status"] in CONVERSION_TRANSITIONS


def check_transition(row, new_status):
    """Refuse (409 invalid_transition, naming the current status) a step the lifecycle does not allow."""
    if new_status not in CONVERSION_TRANSITIONS.get(row["status"], ()):
        raise ApiError(409, "invalid_transition", f"a {row['status']} conversion cannot become {new_status}",
                       "status", currentStatus=row["status"])


def set_conversion_status(db, account_id, conversion_id, new_status, reason=None, actor="api"):
    """Move a conversion along its lifecycle as the merchant decides; refuse any other step.

    A merchant's rejection is final: later Stripe events never reopen it. A live conversion becomes
    paid only by a payout (pay_conversion, mark_payouts_paid), never here.
    """
    clean_choice(new_status, "status", CONVERSION_STATUSES)
    with transaction(db) as tx:
        row = get_conversion(tx, account_id, conversion_id)
        if row is None:
            raise not_found("conversion", conversion_id)
        check_transition(row, new_status)
        if new_status == "paid" and conversion_livemode(row):
            raise ApiError(409, "payout_required", "a live conversion is paid by recording a payout", "status")
        reason = reason if new_status == "rejected" else row["reason"]
        tx.execute("""UPDATE conversions SET status = :status, reason = :reason, decided_by = 'merchant',
                          updated_at = :now WHERE id = :id""",
                   {"status": new_status, "reason": reason, "now": now_ms(), "id": conversion_id})
        record_history(tx, conversion_id, row["status"], new_status, actor, reason)
        conversion_event(tx, account_id, conversion_id, "conversion.updated", row)
    return get_conversion(db, account_id, conversion_id)


HOLD_BATCH = 500  # conversions approved per transaction, so the duty never holds up requests for long


def approve_held_conversions(db, now=None):
    """Approve pending conversions whose hold period has passed; return how many.

    Never one with an open dispute or fully refunded (those are not pending anyway), never an
    adjustment (those are approved when made), and never test-mode data. Runs account by account,
    in small batches, so a large backlog (a first start on an old database) never blocks writers for long.
    """
    now = now_ms() if now is None else now
    approved = 0
    for account in db.execute("SELECT id, hold_days FROM accounts").fetchall():
        params = {"account": account["id"], "cutoff": now - account["hold_days"] * DAY_MS, "now": now,
                  "batch": HOLD_BATCH}
        while True:
            with transaction(db) as tx:
                due = tx.execute(f"""SELECT id FROM conversions
                                     WHERE status = 'pending' AND created_at <= :cutoff AND account_id = :account
                                       AND disputed = 0 AND refunded_cents < amount_cents AND {LIVE_LEDGER}
                                     LIMIT :batch""", params).fetchall()
                for row in due:
                    # The status it expects is checked again, and history written only for a row changed:
                    # another process on the same database never approves one conversion twice.
                    cursor = tx.execute("""UPDATE conversions SET status = 'approved', updated_at = :now
                                           WHERE id = :id AND status = 'pending'""", {"now": now, "id": row["id"]})
                    if cursor.rowcount == 1:
                        record_history(tx, row["id"], "pending", "approved", "hold", "hold period passed")
                        conversion_event(tx, account["id"], row["id"], "conversion.updated")
                        approved += 1
            if len(due) < HOLD_BATCH:
                break
    return approved


def cursor_seq(db, account_id, conversion_id):
    """The seq of the account's conversion a list's cursor names, or None when it names none of them."""
    row = db.execute("SELECT seq FROM conversions WHERE id = :id AND account_id = :account",
                     {"id": conversion_id, "account": account_id}).fetchone()
    return row["seq"] if row else None


def list_conversions(db, filters, params, page, limit, starting_after=None, livemode=True, ending_before=None):
    """One page of an account's conversions, newest first in the order recorded, plus whether more follow.

    starting_after keeps the conversions recorded before that one, ending_before those recorded after
    it (the page just above it, and whether more follow above). The page's rows are found on an
    index ending in seq (their rowids are in it) before any row is read. livemode=False lists the
    test-mode conversions instead of the live ones.
    """
    where, below, bounds = ["account_id = :account"] + filters, None, []
    params = {**params, "starting_after": starting_after}
    if not livemode:
        where.append("livemode = 0")
    elif db.execute("SELECT 1 FROM conversions WHERE account_id = :account "
                    "AND livemode = 0 LIMIT 1", params).fetchone() is not None:
        where.append(LIVE_LEDGER)  # only then: an account without test data keeps the one-seek pages
    if starting_after is not None:
        below = cursor_seq(db, params["account"], starting_after)
        if below is None:  # not one of this account's: as before seq, the conversions whose id sorts below it
            where.append("id < :starting_after")
    if ending_before is not None:
        params["ending_before"], above = ending_before, cursor_seq(db, params["account"], ending_before)
        if above is None:  # as after seq: the conversions whose id sorts above it
            where.append("id > :ending_before")
        else:
            bounds.append("seq > :above")
            params["above"] = above
    # Unfiltered, the numbers under the top (the newest, or the cursor) are gapless, so the page
    # starts `offset` numbers down: one seek at any depth. A filter's rows are spread out, so its
    # index is walked past `offset` of them.
    offset = (page - 1) * limit
    seek, skip = (offset, 0) if len(where) == 1 and not bounds else (0, offset)
    if below is not None or seek:
        bounds.append("seq < COALESCE(:below, (SELECT MAX(seq) + 1 FROM conversions WHERE account_id = :account)) - :seek")
    # Without a cursor the top is no bound at all, and left out. The cursor's bounds stand before the
    # filters': of two bounds on one side of seq (a cursor's and a date window's) SQLite seeks the
    # first written, and the cursor's is the nearer, so a page deep in a window costs what the first does.
    where[1:1] = bounds
    rows = db.execute(f"""SELECT c.* FROM (SELECT rowid FROM conversions WHERE {' AND '.join(where)}
                                           ORDER BY seq {'ASC' if ending_before else 'DESC'}
                                           LIMIT :limit OFFSET :skip) AS page
                          JOIN conversions AS c ON c.rowid = page.rowid ORDER BY c.seq DESC""",
                      {**params, "below": below, "seek": seek, "skip": skip, "limit": limit + 1}).fetchall()
    return keyset_page(rows, limit, ending_before)


def conversion_livemode(row):
    """Whether a conversion came from live payments (Stripe's livemode; manual ones are live)."""
    return bool(row["livemode"])


def conversion_event(db, account_id, conversion_id, event_type, before=None):
    """Inside a transaction: conversion.created, or conversion.updated when what the API shows of it
    changed since `before` (its row before the change)."""
    def data():
        row = get_conversion(db, account_id, conversion_id)
        if row is None or (before is not None and conversion_json(before) == conversion_json(row)):
            return None
        return conversion_json(row), conversion_livemode(row)
    emit_event(db, account_id, event_type, data)


def conversion_recorded(db, row):
    """Inside the transaction that inserts a conversion: conversion.created, and the new-commission
    email when it earns something (not a rejected one, not an adjustment) and the affiliate wants it."""
    conversion_event(db, row["account_id"], row["id"], "conversion.created")
    if row["status"] in ("pending", "approved") and row.get("kind") != "adjustment" and row["commission_cents"] > 0:
        affiliate = get_affiliate(db, row["account_id"], row["affiliate_id"])
        if mail_wanted(db, affiliate["id"], "new_commission"):
            queue_email(db, row["account_id"], "new_commission", affiliate["email"], affiliate=affiliate,
                        conversion=row, portal_url=link_base() + f"/portal/signin/{row['account_id']}")


###############################################################################
# Stripe attribution ##########################################################
###############################################################################


# A webhook event only adds facts: what a charge is, who referred a payment intent or a
# customer, how much was captured and refunded, how a dispute ended. Facts merge so that arrival
# order does not matter (first non-empty value, the newest charge snapshot by Stripe's time, a
# final dispute status wins, bindings are kept per event). Then every charge the event touches is
# settled: its conversion is made to agree with the facts. Any permutation or repetition of the
# same events settles the same way.

# Customer-level bindings in order of precedence (README, "Attribution"); the customer's first
# attributed payment comes after all of them.
CUSTOMER_SOURCES = ("checkout_session", "subscription_metadata", "customer_metadata")
# A binding credits payments made before it was learned by at most this much: the checkout
# session or invoice that explains a payment arrives seconds after it, while a customer
# metadata change weeks later speaks only for the payments that follow it.
BINDING_REACH_BACK_MS = DAY_MS
# Reasons Stripe's facts can give a rejection; these are reopened when the facts change
# (a dispute won). A merchant's own rejection is never reopened.
FACT_REASONS = ("refunded", "disputed", "self_referral", "affiliate_not_active", "renewal_period_ended")
# Stripe's dispute statuses that end one; "prevented" (stopped before it became a chargeback) and
# "warning_closed" (an inquiry that closed) take no money back, as a won dispute.
DISPUTE_FINAL = {"won": "won", "warning_closed": "won", "prevented": "won", "lost": "lost"}


_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def stripe_id(value):
    """The id of a Stripe reference, whether it came as an id or as an expanded object.

    Stripe's ids are letters, digits and underscores: anything else (a "manual:..." or
    "adjustment:..." that would name one of our own conversions) is no id at all."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and _STRIPE_ID.fullmatch(value) else None


def metadata_ref(metadata):
    """(affiliate reference, click id) from a Stripe metadata dict; empty values are None."""
    if not isinstance(metadata, dict):
        return None, None
    return (stripe_text(metadata.get("affiliate_id")), stripe_text(metadata.get("affiliate_session_id")))


def stripe_text(value, max_length=255):
    """A short non-empty string from a Stripe payload, else None."""
    if isinstance(value, str) and 0 < len(value.strip()) <= max_length:
        return value.strip()
    return None


def stripe_amount(value):
    """A non-negative integer amount from a Stripe payload no larger than a sane sale, else None.

    The bound keeps a hostile number from overflowing SQLite's 64-bit INTEGER (a 500)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_AMOUNT_CENTS \
        else None


# Stripe's times are Unix seconds; anything outside 1970..2100 is not a real payment's time, and a far
# future one would overflow SQLite or the calendar arithmetic of the renewal period.
STRIPE_TIME_MAX = 4102444800  # 2100-01-01


def stripe_time_ms(value):
    """Milliseconds from a Stripe Unix time in seconds, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < STRIPE_TIME_MAX:
        return value * 1000
    return None


def learn_charge(db, account_id, charge_id, authoritative=False, **facts):
    """Merge what an event says of a charge: the first value given for a field stays.

    The charge object itself is authoritative for its amount and its metadata, the newest charge
    event (meta_at, Stripe's time) for the metadata, whichever order they arrive in; other events
    only fill gaps. charged_at keeps the earliest time any event gives. The money captured only
    grows (Stripe captures once, or more with multicapture, and never takes a capture back: refunds
    are apart). amount_refunded is the newest snapshot's (refunded_at, Stripe's time), since a
    failed refund makes it drop. One test-mode event makes the charge test data.
    """
    fields = {"account": account_id, "charge": charge_id, "authoritative": authoritative,
              **{name: facts.get(name) for name in ("payment_intent_id", "customer_id", "amount_cents", "currency",
                                                    "charged_at", "customer_email", "meta_affiliate", "meta_session",
                                                    "amount_refunded", "meta_at", "captured_cents", "refunded_at",
                                                    "livemode")}}
    fields["amount_refunded"] = fields["amount_refunded"] or 0
    fields["refunded_at"] = fields["refunded_at"] if authoritative else None
    fields["livemode"] = 0 if fields["livemode"] is False else 1
    fields["meta_at"] = fields["meta_at"] if authoritative and fields["meta_affiliate"] else None
    learn_payer_email(db, account_id, "charge", charge_id, fields["customer_email"])
    # The stored metadata gives way to a charge event's that is newer by Stripe's time (at the same
    # second, the greater value wins: arbitrary, but the same in every order).
    newer = """:authoritative AND excluded.meta_affiliate IS NOT NULL AND (meta_at IS NULL
               OR excluded.meta_at > meta_at OR (excluded.meta_at = meta_at AND excluded.meta_affiliate > meta_affiliate))"""
    snapshot_newer = """excluded.refunded_at IS NOT NULL AND (refunded_at IS NULL OR excluded.refunded_at > refunded_at
                        OR (excluded.refunded_at = refunded_at AND excluded.amount_refunded > amount_refunded))"""
    db.execute(f"""INSERT INTO charges (account_id, charge_id, payment_intent_id, customer_id, amount_cents, currency,
                      charged_at, customer_email, meta_affiliate, meta_session, amount_refunded, meta_at,
                      captured_cents, refunded_at, livemode)
                  VALUES (:account, :charge, :payment_intent_id, :customer_id, :amount_cents, :currency,
                      :charged_at, :customer_email, :meta_affiliate, :meta_session, :amount_refunded, :meta_at,
                      :captured_cents, :refunded_at, :livemode)
                  ON CONFLICT (account_id, charge_id) DO UPDATE SET
                      payment_intent_id = COALESCE(payment_intent_id, excluded.payment_intent_id),
                      customer_id = COALESCE(customer_id, excluded.customer_id),
                      amount_cents = CASE WHEN :authoritative AND excluded.amount_cents IS NOT NULL
                                          THEN excluded.amount_cents
                                          ELSE COALESCE(amount_cents, excluded.amount_cents) END,
                      currency = COALESCE(currency, excluded.currency),
                      charged_at = MIN(COALESCE(charged_at, excluded.charged_at),
                                       COALESCE(excluded.charged_at, charged_at)),
                      customer_email = COALESCE(customer_email, excluded.customer_email),
                      meta_affiliate = CASE WHEN {newer} THEN excluded.meta_affiliate
                                            ELSE COALESCE(meta_affiliate, excluded.meta_affiliate) END,
                      -- a click id belongs with the affiliate it came with, never with another one
                      meta_session = CASE WHEN {newer} THEN excluded.meta_session
                                          WHEN excluded.meta_affiliate IS NOT NULL
                                               AND excluded.meta_affiliate IS NOT meta_affiliate THEN meta_session
                                          ELSE COALESCE(meta_session, excluded.meta_session) END,
                      meta_at = CASE WHEN {newer} THEN excluded.meta_at ELSE meta_at END,
                      captured_cents = MAX(COALESCE(captured_cents, excluded.captured_cents),
                                           COALESCE(excluded.captured_cents, captured_cents)),
                      amount_refunded = CASE WHEN {snapshot_newer} THEN excluded.amount_refunded
                                             ELSE amount_refunded END,
                      refunded_at = CASE WHEN {snapshot_newer} THEN excluded.refunded_at ELSE refunded_at END,
                      livemode = MIN(livemode, excluded.livemode)""", fields)


def learn_binding(db, account_id, subject_kind, subject_id, source, reference, event):
    """Remember that a payment intent or customer was referred, as one event said."""
    affiliate, click = reference
    if not subject_id or not affiliate:
        return False
    db.execute("""INSERT OR IGNORE INTO bindings (account_id, subject_kind, subject_id, source, affiliate, click_id,
                      learned_at, event_id)
                  VALUES (:account, :kind, :subject, :source, :affiliate, :click, :learned_at, :event_id)""",
               {"account": account_id, "kind": subject_kind, "subject": subject_id, "source": source,
                "affiliate": affiliate, "click": click, "learned_at": event["created_ms"], "event_id": event["id"]})
    return True


def learn_customer_email(db, account_id, customer_id, email):
    """Remember a customer's email for the self-referral rule."""
    learn_payer_email(db, account_id, "customer", customer_id, email)


def learn_payer_email(db, account_id, subject_kind, subject_id, email):
    """Add an email a charge or customer had: every one is kept, so no delivery order hides one."""
    if subject_id and email:
        db.execute("""INSERT OR IGNORE INTO payer_emails (account_id, subject_kind, subject_id, email)
                      VALUES (:account, :kind, :subject, :email)""",
                   {"account": account_id, "kind": subject_kind, "subject": subject_id, "email": email})


# The API version from which partially capturing or canceling a payment no longer creates a Refund
# nor counts the released amount in the charge's amount_refunded (Stripe changelog, 2025-03-31.basil:
# "Partially capturing or canceling payments no longer creates a Refund"). Before it, a capture of
# 6,000 of 10,000 showed amount_refunded 4,000 with no money returned.
RELEASE_NOT_REFUNDED_SINCE = "2025-03-31"


def event_livemode(event):
    """False for an event from Stripe's test mode (its livemode is false), else True."""
    return event.get("livemode") is not False


def captured_amount(charge):
    """What a Stripe Charge moved to the merchant, or None while it is only authorized.

    Stripe's Charge object: `captured` says whether an authorization was captured, `amount_captured`
    how much (less than `amount` after a partial capture); objects from before amount_captured
    existed captured their whole amount."""
    amount = stripe_amount(charge.get("amount"))
    if charge.get("captured") is not True or amount is None:
        return None  # an amount that is no real sale's makes the whole charge none
    captured = stripe_amount(charge.get("amount_captured"))
    return min(captured, amount) if captured else amount


def refunded_of_captured(charge, event):
    """The charge's amount_refunded, less the uncaptured rest of a partial capture where the API
    version counted that as refunded (see RELEASE_NOT_REFUNDED_SINCE)."""
    refunded, amount, captured = (stripe_amount(charge.get("amount_refunded")), stripe_amount(charge.get("amount")),
                                  captured_amount(charge))
    version = event.get("api_version") if isinstance(event.get("api_version"), str) else RELEASE_NOT_REFUNDED_SINCE
    if refunded and amount and captured is not None and version[:10] < RELEASE_NOT_REFUNDED_SINCE:
        refunded = max(0, refunded - (amount - captured))
    return refunded


def charge_facts(charge, event):
    """The facts a Stripe Charge object gives."""
    billing = charge.get("billing_details") if isinstance(charge.get("billing_details"), dict) else {}
    affiliate, click = metadata_ref(charge.get("metadata"))
    return {
        "payment_intent_id": stripe_id(charge.get("payment_intent")),
        "customer_id": stripe_id(charge.get("customer")),
        "amount_cents": stripe_amount(charge.get("amount")),
        "currency": stripe_text(charge.get("currency"), 3),
        "charged_at": stripe_time_ms(charge.get("created")) or event["created_ms"],
        "customer_email": stripe_text(billing.get("email")) or stripe_text(charge.get("receipt_email")),
        "meta_affiliate": affiliate, "meta_session": click,
        "amount_refunded": refunded_of_captured(charge, event), "refunded_at": event["created_ms"],
        "meta_at": event["created_ms"], "captured_cents": captured_amount(charge), "livemode": event_livemode(event),
    }


def on_charge(db, account, event, charge):
    """charge.succeeded, .captured, .expired, .refunded, .updated: the charge itself, a snapshot.

    With capture_method=manual, charge.succeeded says the card was authorized (captured: false) and
    charge.captured that the money moved; an authorization never captured ends with charge.expired
    (Stripe: "Place a hold on a payment method")."""
    charge_id = stripe_id(charge)
    if not charge_id or (charge.get("status") not in ("succeeded", None) and not charge.get("paid")):
        return set()
    learn_charge(db, account["id"], charge_id, authoritative=True, **charge_facts(charge, event))
    return {charge_id}


def on_payment_intent(db, account, event, intent):
    """payment_intent.succeeded and .canceled: its latest charge, and the intent's metadata.

    A succeeded intent has received amount_received (less than amount after a partial capture); a
    canceled one (an authorization released or expired) received nothing."""
    charges = intent.get("charges") if isinstance(intent.get("charges"), dict) else {}
    listed = charges.get("data") if isinstance(charges.get("data"), list) else []
    charge_id = stripe_id(intent.get("latest_charge")) or next((stripe_id(c) for c in listed if stripe_id(c)), None)
    if not charge_id:
        return set()
    affiliate, click = metadata_ref(intent.get("metadata"))
    received = stripe_amount(intent.get("amount_received")) if intent.get("status") == "succeeded" else None
    learn_charge(db, account["id"], charge_id, payment_intent_id=stripe_id(intent),
                 customer_id=stripe_id(intent.get("customer")), amount_cents=stripe_amount(intent.get("amount")),
                 currency=stripe_text(intent.get("currency"), 3), charged_at=event["created_ms"],
                 customer_email=stripe_text(intent.get("receipt_email")), meta_affiliate=affiliate, meta_session=click,
                 captured_cents=received or None, livemode=event_livemode(event))
    return {charge_id}


def on_invoice_paid(db, account, event, invoice):
    """invoice.paid and invoice.payment_succeeded: subscription metadata binds the customer;
    before API version 2025-03-31 the invoice also names its charge."""
    customer_id = stripe_id(invoice.get("customer"))
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    details = parent.get("subscription_details") or invoice.get("subscription_details") or {}
    learn_customer_email(db, account["id"], customer_id, stripe_text(invoice.get("customer_email")))
    if isinstance(details, dict):
        learn_binding(db, account["id"], "customer", customer_id, "subscription_metadata",
                      metadata_ref(details.get("metadata")), event)
    charge_id = stripe_id(invoice.get("charge"))
    if charge_id:
        learn_charge(db, account["id"], charge_id, payment_intent_id=stripe_id(invoice.get("payment_intent")),
                     customer_id=customer_id, amount_cents=stripe_amount(invoice.get("amount_paid")),
                     currency=stripe_text(invoice.get("currency"), 3), charged_at=event["created_ms"],
                     customer_email=stripe_text(invoice.get("customer_email")),
                     captured_cents=stripe_amount(invoice.get("amount_paid")) or None, livemode=event_livemode(event))
    return charges_of(db, account["id"], customers=[customer_id]) | ({charge_id} if charge_id else set())


def on_checkout_session(db, account, event, session):
    """checkout.session.completed: metadata or client_reference_id binds the payment intent
    (payment mode) or the customer (subscription mode)."""
    affiliate, click = metadata_ref(session.get("metadata"))
    reference = (affiliate or stripe_text(session.get("client_reference_id"), 200), click)
    customer_id = stripe_id(session.get("customer"))
    details = session.get("customer_details") if isinstance(session.get("customer_details"), dict) else {}
    learn_customer_email(db, account["id"], customer_id, stripe_text(details.get("email")))
    if session.get("mode") == "payment":
        intent_id = stripe_id(session.get("payment_intent"))
        learn_binding(db, account["id"], "pi", intent_id, "checkout_session", reference, event)
        return charges_of(db, account["id"], intents=[intent_id], customers=[customer_id])
    if session.get("mode") == "subscription":
        learn_binding(db, account["id"], "customer", customer_id, "checkout_session", reference, event)
    return charges_of(db, account["id"], customers=[customer_id])


def on_customer(db, account, event, customer):
    """customer.created and customer.updated: metadata.affiliate_id binds the customer."""
    customer_id = stripe_id(customer)
    learn_customer_email(db, account["id"], customer_id, stripe_text(customer.get("email")))
    learn_binding(db, account["id"], "customer", customer_id, "customer_metadata",
                  metadata_ref(customer.get("metadata")), event)
    return charges_of(db, account["id"], customers=[customer_id])


def on_refund(db, account, event, refund):
    """refund.created, refund.updated, refund.failed, charge.refund.updated: a refund, possibly before
    its charge.

    Stripe's Refund: pending or requires_action, then succeeded, failed or canceled; a succeeded
    refund can still fail later, and a failed or canceled one is final (Stripe: "Refund and cancel
    payments", failed refunds). ended_at keeps Stripe's earliest time that said it failed or was
    canceled, so the charge snapshots taken before that still count it. A refund Stripe made itself
    to release an uncaptured authorization (reason expired_uncaptured_charge) returned no money."""
    charge_id, amount = stripe_id(refund.get("charge")), stripe_amount(refund.get("amount"))
    status = stripe_text(refund.get("status"), 40) or "pending"
    if not charge_id or amount is None or not stripe_id(refund):
        return set()
    if refund.get("reason") == "expired_uncaptured_charge":
        return {charge_id}
    db.execute("""INSERT INTO refunds (account_id, refund_id, charge_id, amount_cents, status, created_at, ended_at)
                  VALUES (:account, :refund, :charge, :amount, :status, :created, :ended)
                  ON CONFLICT (account_id, refund_id) DO UPDATE SET
                      status = CASE
                          WHEN status IN ('failed', 'canceled') THEN status
                          WHEN excluded.status IN ('failed', 'canceled', 'succeeded') THEN excluded.status
                          ELSE status END,
                      created_at = COALESCE(created_at, excluded.created_at),
                      ended_at = MIN(COALESCE(ended_at, excluded.ended_at), COALESCE(excluded.ended_at, ended_at))""",
               {"account": account["id"], "refund": stripe_id(refund), "charge": charge_id, "amount": amount,
                "status": status, "created": stripe_time_ms(refund.get("created")) or event["created_ms"],
                "ended": event["created_ms"] if status in ("failed", "canceled") else None})
    return {charge_id}


def on_dispute(db, account, event, dispute):
    """charge.dispute.*: open until it closes won or lost; a final status is never undone."""
    charge_id = stripe_id(dispute.get("charge"))
    if not charge_id or not stripe_id(dispute):
        return set()
    status = DISPUTE_FINAL.get(stripe_text(dispute.get("status"), 40), "open")
    db.execute("""INSERT INTO disputes (account_id, dispute_id, charge_id, status)
                  VALUES (:account, :dispute, :charge, :status)
                  ON CONFLICT (account_id, dispute_id) DO UPDATE SET
                      status = CASE WHEN status = 'open' THEN excluded.status ELSE status END""",
               {"account": account["id"], "dispute": stripe_id(dispute), "charge": charge_id, "status": status})
    return {charge_id}


STRIPE_HANDLERS = {
    "charge.succeeded": on_charge,
    "charge.captured": on_charge,
    "charge.expired": on_charge,
    "charge.refunded": on_charge,
    "charge.updated": on_charge,
    "payment_intent.succeeded": on_payment_intent,
    "payment_intent.canceled": on_payment_intent,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "checkout.session.completed": on_checkout_session,
    "customer.created": on_customer,
    "customer.updated": on_customer,
    "refund.created": on_refund,
    "refund.updated": on_refund,
    "refund.failed": on_refund,
    "charge.refund.updated": on_refund,
    "charge.dispute.created": on_dispute,
    "charge.dispute.updated": on_dispute,
    "charge.dispute.closed": on_dispute,
}


def charges_of(db, account_id, intents=(), customers=()):
    """The ids of the charges of these payment intents and customers."""
    found = set()
    for column, values in (("payment_intent_id", intents), ("customer_id", customers)):
        for value in values:
            if value:
                found |= {r[0] for r in db.execute(f"SELECT charge_id FROM charges WHERE account_id = :account "
                                                   f"AND {column} = :value", {"account": account_id, "value": value})}
    return found


# A charge with every fact settling it needs, read in one statement: its refunds (the total of those
# that stand, and the total its newest snapshot counted: made by then and not yet failed or canceled),
# its disputes' statuses and every email its payer had (JSON arrays). The caller adds which charges:
# CHARGES_BY_ID or CHARGES_OF_CUSTOMER. A snapshot of unknown time (refunded_at NULL, kept from
# before migration 12) is taken as the newest.
CHARGE_FACTS = """SELECT c.*,
    (SELECT COALESCE(SUM(r.amount_cents), 0) FROM refunds r WHERE r.account_id = c.account_id
       AND r.charge_id = c.charge_id AND r.status NOT IN ('failed', 'canceled')) AS refunds_cents,
    (SELECT COALESCE(SUM(r.amount_cents), 0) FROM refunds r WHERE r.account_id = c.account_id
       AND r.charge_id = c.charge_id AND COALESCE(r.created_at, 0) <= COALESCE(c.refunded_at, 9223372036854775807)
       AND (r.status NOT IN ('failed', 'canceled')
            OR COALESCE(r.ended_at, 0) > COALESCE(c.refunded_at, 9223372036854775807))) AS snapshot_refunds_cents,
    (SELECT json_group_array(d.status) FROM disputes d
       WHERE d.account_id = c.account_id AND d.charge_id = c.charge_id) AS dispute_statuses,
    (SELECT json_group_array(e.email) FROM payer_emails e WHERE e.account_id = c.account_id
       AND ((e.subject_kind = 'charge' AND e.subject_id = c.charge_id)
            OR (e.subject_kind = 'customer' AND e.subject_id = c.customer_id))) AS payer_emails
  FROM charges c """
CHARGES_BY_ID = "WHERE c.account_id = :account AND c.charge_id = :charge"
CHARGES_OF_CUSTOMER = "WHERE c.account_id = :account AND c.customer_id = :customer"


def with_customer_charges(db, account_id, charge_ids):
    """The charges, with their facts (CHARGE_FACTS), and every other charge of their customers,
    oldest first: a customer's payments depend on each other (the first attributed payment, the
    renewal period)."""
    rows, customers = {}, set()
    for charge_id in charge_ids:
        charge = db.execute(CHARGE_FACTS + CHARGES_BY_ID,
                            {"account": account_id, "charge": charge_id}).fetchone()
        if charge is None:
            continue
        rows[charge_id] = charge
        if charge["customer_id"] and charge["customer_id"] not in customers:
            customers.add(charge["customer_id"])
            for other in db.execute(CHARGE_FACTS + CHARGES_OF_CUSTOMER,
                                    {"account": account_id, "customer": charge["customer_id"]}):
                rows[other["charge_id"]] = other
    return sorted(rows.values(), key=lambda r: (r["charged_at"] or 0, r["charge_id"]))


def find_affiliate(db, account_id, reference):
    """The affiliate a Stripe reference names: its id or its short code, in this account."""
    if not reference:
        return None
    return db.execute("""SELECT * FROM affiliates WHERE account_id = :account AND (id = :ref OR short_code = :ref)""",
                      {"account": account_id, "ref": reference}).fetchone()


def bound_affiliate(db, account_id, kind, subject_id, sources, charged_at):
    """(affiliate, click id, source) from the bindings of a subject that may explain a payment at
    charged_at: the first source in precedence order, the newest binding within it."""
    if not subject_id:
        return None
    for source in sources:
        rows = db.execute("""SELECT affiliate, click_id FROM bindings
                             WHERE account_id = :account AND subject_kind = :kind AND subject_id = :subject
                               AND source = :source AND learned_at <= :latest
                             ORDER BY learned_at DESC, event_id DESC""",
                          {"account": account_id, "kind": kind, "subject": subject_id, "source": source,
                           "latest": charged_at + BINDING_REACH_BACK_MS}).fetchall()
        for row in rows:
            affiliate = find_affiliate(db, account_id, row["affiliate"])
            if affiliate is not None:
                return affiliate, row["click_id"], source
    return None


def direct_attribution(db, account_id, charge):
    """Rules 1 and 2: the payment's own metadata, else a binding for its payment intent."""
    affiliate = find_affiliate(db, account_id, charge["meta_affiliate"])
    if affiliate is not None:
        return affiliate, charge["meta_session"], "payment_metadata"
    return bound_affiliate(db, account_id, "pi", charge["payment_intent_id"], ("checkout_session",),
                           charge["charged_at"])


def attribute_charge(db, account_id, charge):
    """Who gets the credit for a charge, first match wins: (affiliate, click id, source) or None."""
    found = direct_attribution(db, account_id, charge)
    if found or not charge["customer_id"]:
        return found
    found = bound_affiliate(db, account_id, "customer", charge["customer_id"], CUSTOMER_SOURCES,
                            charge["charged_at"])
    if found:
        return found
    earlier = db.execute("""SELECT * FROM charges
                            WHERE account_id = :account AND customer_id = :customer
                              AND captured_cents IS NOT NULL
                              AND (charged_at < :at OR (charged_at = :at AND charge_id < :charge))
                            ORDER BY charged_at, charge_id""",
                         {"account": account_id, "customer": charge["customer_id"], "at": charge["charged_at"],
                          "charge": charge["charge_id"]}).fetchall()
    for other in earlier:
        found = direct_attribution(db, account_id, other)
        if found:
            return found[0], None, "first_payment"
    return None


def add_months(ms, months):
    """The same day and time of day `months` calendar months later (clamped to the month's end)."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp() * 1000)


def first_payment_of(db, account_id, customer_id):
    """When this customer first paid, as far as we know."""
    row = db.execute("""SELECT MIN(charged_at) FROM charges
                        WHERE account_id = :account AND customer_id = :customer AND captured_cents IS NOT NULL""",
                     {"account": account_id, "customer": customer_id}).fetchone()
    return row[0]


def refunded_amount(charge):
    """How much of the money captured for a charge has gone back: the refunds that stand, plus what
    the charge's newest snapshot counts beyond the refunds we know it counted (refunds we were never
    told of apart). Never the largest value ever seen: a refund that failed or was canceled stops
    counting, whether its failure or the charge's lower amount_refunded told us."""
    unknown = max(0, charge["amount_refunded"] - charge["snapshot_refunds_cents"])
    return min(charge["captured_cents"], unknown + charge["refunds_cents"])


def dispute_state(charge):
    """lost, open, won or None, for the charge's disputes taken together."""
    states = set(json.loads(charge["dispute_statuses"]))
    return next((s for s in ("lost", "open", "won") if s in states), None)


def is_self_referral(charge, affiliate):
    """True when the paying customer is the affiliate: any email the charge or its customer ever had."""
    emails = [charge["customer_email"], *json.loads(charge["payer_emails"])]
    return affiliate["email"].lower() in {e.lower() for e in emails if e}


def reopens_to(db, conversion):
    """The status a conversion that Stripe's facts rejected returns to when the facts change (a
    refund that failed, a dispute won): the one it had before, so an approved conversion comes back
    approved. None for any other conversion; a merchant's own rejection is final."""
    if conversion is None or conversion["status"] != "rejected" or conversion["reason"] not in FACT_REASONS:
        return None
    last = db.execute("""SELECT actor, from_status FROM conversion_history WHERE conversion_id = :id
                         ORDER BY id DESC LIMIT 1""", {"id": conversion["id"]}).fetchone()
    if last is None or last["actor"] != "stripe":
        return None
    return last["from_status"] or "pending"


def settle_charge(db, account, charge):
    """Make the conversion of a charge (read with CHARGE_FACTS) agree with what we know; return its
    id, or None.

    One conversion per charge (a unique index guards it), settled in three steps: who is credited
    and at what rate (charge_credit), what the facts decide (charge_verdict), and applying that: a
    new conversion, an update of a pending or approved one, or an adjustment of a paid one. What
    the facts never undo: a merchant's decision to reject, and commission already paid.
    """
    if not charge["captured_cents"]:
        return None  # nothing earns before the money is captured; a refund or dispute first waits for it
    conversion = db.execute("""SELECT * FROM conversions WHERE account_id = :account AND stripe_charge_id = :charge""",
                            {"account": account["id"], "charge": charge["charge_id"]}).fetchone()
    credit = charge_credit(db, account, charge, conversion)
    if credit is None:
        return conversion and conversion["id"]
    outcome = charge_verdict(db, account, charge, credit)
    if conversion is None:
        return insert_charge_conversion(db, account, charge, credit, outcome)
    if conversion["status"] == "paid":
        earned = outcome["reason"] is None
        settle_paid_conversion(db, conversion, outcome["net"] if earned else 0, outcome["commission"] if earned else 0)
    elif conversion["status"] in ("pending", "approved") or credit["reopen"]:
        update_charge_conversion(db, conversion, credit, outcome)
    return conversion["id"]


def charge_credit(db, account, charge, conversion):
    """Settling, step one: who is credited for a charge and at what rate, or None.

    While its conversion is pending (or reopens to pending) the credit follows the facts; once
    decided, it stays with the affiliate and the rate it was given. The rate, and whether the
    affiliate may earn at all, are fixed when the credit is given."""
    found = attribute_charge(db, account["id"], charge)
    if found is None:
        return None
    affiliate, click_id, _source = found
    reopen = reopens_to(db, conversion)
    if conversion is None or (conversion["affiliate_id"] != affiliate["id"]
                              and (conversion["status"] == "pending" or reopen == "pending")):
        rate, inactive = commission_rate(account, affiliate), affiliate["status"] != "active"
    else:
        affiliate = get_affiliate(db, account["id"], conversion["affiliate_id"])
        rate, inactive = conversion["commission_rate"], conversion["reason"] == "affiliate_not_active"
    if click_id and db.execute("SELECT 1 FROM clicks WHERE id = :click AND affiliate_id = :affiliate",
                               {"click": click_id, "affiliate": affiliate["id"]}).fetchone() is None:
        click_id = None  # a click id counts only with the affiliate it belongs to
    return {"affiliate": affiliate, "click_id": click_id, "rate": rate, "inactive": inactive, "reopen": reopen}


def charge_verdict(db, account, charge, credit):
    """Settling, step two: what the facts decide for a credited charge, written nowhere yet.

    The verdict is None (it earns) or why it earns nothing, first match wins: a self-referral, an
    affiliate not active, a renewal after the program's renewal period, refunded in full, a dispute
    lost. The money: what was captured, what of it went back, and the commission on the rest."""
    first_paid = first_payment_of(db, account["id"], charge["customer_id"]) if charge["customer_id"] else None
    renewal = first_paid is not None and first_paid < charge["charged_at"]
    period_ended = renewal and account["renewal_months"] is not None and \
        charge["charged_at"] >= add_months(first_paid, account["renewal_months"])
    received, refunded = charge["captured_cents"], refunded_amount(charge)
    net, dispute = received - refunded, dispute_state(charge)
    reasons = (("self_referral", is_self_referral(charge, credit["affiliate"])),
               ("affiliate_not_active", credit["inactive"]), ("renewal_period_ended", period_ended),
               ("refunded", net <= 0), ("disputed", dispute == "lost"))
    return {"reason": next((reason for reason, applies in reasons if applies), None),
            "kind": "renewal" if renewal else "sale", "amount": received, "refunded": refunded, "net": net,
            "commission": commission_cents(max(net, 0), credit["rate"]), "disputed": int(dispute == "open")}


def insert_charge_conversion(db, account, charge, credit, outcome):
    """Settling, step three for a charge not yet credited: its conversion, rejected at once when the
    verdict says so; return its id. Its first line of history comes from the conversion_recorded trigger."""
    conversion_id, now = new_id("cnv"), now_ms()
    insert_conversion(db, {
        "id": conversion_id, "account_id": account["id"], "affiliate_id": credit["affiliate"]["id"],
        "stripe_charge_id": charge["charge_id"], "amount_cents": outcome["amount"],
        "commission_cents": outcome["commission"], "commission_rate": credit["rate"],
        "currency": charge["currency"] or "usd", "status": "rejected" if outcome["reason"] else "pending",
        "reason": outcome["reason"], "kind": outcome["kind"], "customer_id": charge["customer_id"],
        "payment_intent_id": charge["payment_intent_id"], "click_id": credit["click_id"],
        "refunded_cents": outcome["refunded"], "disputed": outcome["disputed"], "created_at": now,
        "updated_at": now, "livemode": charge["livemode"]})
    return conversion_id


def update_charge_conversion(db, conversion, credit, outcome):
    """Settling, step three for a pending or approved conversion, or one the facts rejected: make it
    agree with the verdict. When the facts that rejected it change (a dispute won, a refund that
    failed or was canceled) it returns to the status it had before."""
    if outcome["reason"]:
        status = "rejected"
    elif conversion["status"] == "rejected":
        status = credit["reopen"]
    else:
        status = conversion["status"]
    db.execute("""UPDATE conversions SET affiliate_id = :affiliate, amount_cents = :amount,
                      commission_cents = :commission, commission_rate = :rate, status = :status, reason = :reason,
                      click_id = :click, kind = :kind, refunded_cents = :refunded, disputed = :disputed,
                      updated_at = :now
                  WHERE id = :id""",
               {"affiliate": credit["affiliate"]["id"], "amount": outcome["amount"],
                "commission": outcome["commission"], "rate": credit["rate"], "status": status,
                "reason": outcome["reason"], "click": credit["click_id"], "kind": outcome["kind"],
                "refunded": outcome["refunded"], "disputed": outcome["disputed"], "now": now_ms(),
                "id": conversion["id"]})
    if status != conversion["status"]:
        record_history(db, conversion["id"], conversion["status"], status, "stripe", outcome["reason"])
    conversion_event(db, conversion["account_id"], conversion["id"], "conversion.updated", conversion)


def settle_paid_conversion(db, conversion, net_amount, net_commission):
    """Commission already paid is never rewritten: an adjustment conversion carries the difference
    (negative after a refund or lost dispute), approved at once so the next payout nets it out."""
    credited = db.execute("""SELECT COALESCE(SUM(amount_cents), 0), COALESCE(SUM(commission_cents), 0), COUNT(*)
                             FROM conversions WHERE adjusts_id = :id""", {"id": conversion["id"]}).fetchone()
    paid_amount = conversion["amount_cents"] - conversion["refunded_cents"] + credited[0]
    paid_commission = conversion["commission_cents"] + credited[1]
    if net_commission == paid_commission:
        return
    now = now_ms()
    insert_conversion(db, {
        "id": new_id("cnv"), "account_id": conversion["account_id"], "affiliate_id": conversion["affiliate_id"],
        "stripe_charge_id": f"adjustment:{conversion['stripe_charge_id']}:{credited[2] + 1}",
        "amount_cents": net_amount - paid_amount, "commission_cents": net_commission - paid_commission,
        "commission_rate": conversion["commission_rate"], "currency": conversion["currency"], "status": "approved",
        "reason": "refunded" if net_commission < paid_commission else "restored", "kind": "adjustment",
        "customer_id": conversion["customer_id"], "payment_intent_id": conversion["payment_intent_id"],
        "adjusts_id": conversion["id"], "created_at": now, "updated_at": now,
        "livemode": conversion["livemode"]})  # a test-mode refund never touches the live ledger


def process_stripe_event(db, account, event):
    """Record a verified event and settle what it touches, in one transaction.

    Returns False for a redelivery, which changes nothing.
    """
    with transaction(db) as tx:
        try:
            tx.execute("""INSERT INTO stripe_events (account_id, event_id, type, created_at, received_at)
                          VALUES (:account, :id, :type, :created, :now)""",
                       {"account": account["id"], "id": event["id"], "type": event["type"],
                        "created": event["created_ms"], "now": now_ms()})
        except sqlite3.IntegrityError:
            return False
        handler = STRIPE_HANDLERS.get(event["type"])
        if handler is not None:
            for charge in with_customer_charges(tx, account["id"], handler(tx, account, event,
                                                                          event["data"]["object"])):
                settle_charge(tx, account, charge)
    return True


###############################################################################
# Payouts and stats ###########################################################
###############################################################################


# The conversions a payout may cover: approved, not yet paid out, and not held by an open dispute.
PAYABLE = f"c.status = 'approved' AND c.payout_id IS NULL AND c.disputed = 0 AND c.{LIVE_LEDGER}"


def payout_floor(account):
    """The least an affiliate may be paid, in minor units: the program's minimum, and never nothing.
    Python (reaches_minimum) and SQL (the payouts-due CSV) compare with this one number."""
    return max(account["payout_minimum_cents"], 1)


def reaches_minimum(account, total_cents):
    """True when an affiliate owed this much may be paid: more than zero and at least the program's minimum."""
    return total_cents >= payout_floor(account)


def due_payouts(db, account, after=None, limit=None):
    """Per affiliate and currency: approved, unpaid commission with adjustments netted, in affiliate
    order, from the balances schema.sql's triggers keep; `after` ((affiliate id, currency)) and
    `limit` page through them.

    Each item says whether it reaches the program's payout minimum (and is above zero), and carries
    the balance's version as its digest: the payout form sends it back, and any change since refuses it.
    """
    after = after or ("", "")
    rows = db.execute("""SELECT b.affiliate_id, b.currency, b.conversions, b.commission_cents, b.version,
                                f.name, f.email, f.payout_email, f.status
                         FROM payable_balances b JOIN affiliates f ON f.id = b.affiliate_id
                         WHERE b.account_id = :account AND b.conversions > 0
                           AND (b.affiliate_id, b.currency) > (:after_affiliate, :after_currency)
                         ORDER BY b.affiliate_id, b.currency LIMIT :limit""",
                      {"account": account["id"], "after_affiliate": after[0], "after_currency": after[1],
                       "limit": -1 if limit is None else limit}).fetchall()
    return [{"affiliate_id": r["affiliate_id"], "currency": r["currency"], "name": r["name"], "email": r["email"],
             "paid_to": r["payout_email"] or r["email"], "status": r["status"], "amount_cents": r["commission_cents"],
             "count": r["conversions"], "digest": str(r["version"]),
             "eligible": reaches_minimum(account, r["commission_cents"])} for r in rows]


def owed_currencies(db, account_id):
    """The currencies in which some affiliate of the program is owed anything."""
    return distinct_values(db, "payable_balances", "currency", "account_id = :account AND conversions > 0",
                           {"account": account_id})


def mark_payouts_paid(db, account, items, user_id=None, note=None):
    """Record one payout per (affiliate, currency, digest) item and flip exactly its conversions to paid.

    All items share one transaction: when any affiliate's due commission changed since the page
    was shown (the digest differs), nothing is paid and a 409 says to look again.
    """
    note = clean_text(note or None, "note", max_length=500, required=False)
    payout_ids = []
    with transaction(db) as tx:
        for affiliate_id, currency, digest in items:
            affiliate = get_affiliate(tx, account["id"], affiliate_id)
            if affiliate is None:
                raise not_found("affiliate", affiliate_id)
            params = {"account": account["id"], "affiliate": affiliate_id, "currency": currency}
            balance = tx.execute("""SELECT conversions, commission_cents, version FROM payable_balances
                                    WHERE account_id = :account AND affiliate_id = :affiliate AND currency = :currency""",
                                 params).fetchone()
            if balance is None or balance["conversions"] <= 0 or str(balance["version"]) != digest:
                raise ApiError(409, "payout_changed",
                               f"what {affiliate['name']} is owed changed since the page was shown; review it again")
            payout_ids.append(record_payout(tx, account, affiliate, currency, balance["commission_cents"],
                                            balance["conversions"], user_id=user_id, note=note))
    return payout_ids


def record_payout(tx, account, affiliate, currency, total, count, only=None, user_id=None, note=None,
                  actor="dashboard"):
    """Inside a transaction: the one way a live conversion becomes paid. Record a payout of `total`
    to the affiliate and flip to paid exactly its `count` payable conversions in that currency (or
    only the conversion `only`); return the payout's id.

    Refused (409) below the program's payout minimum, and when the rows disagree with what the
    caller was shown: never a partial set.
    """
    if not reaches_minimum(account, total):
        raise ApiError(409, "below_minimum", f"{affiliate['name']} is owed less than the payout minimum")
    payout_id, now = new_id("pay"), now_ms()
    params = {"account": account["id"], "affiliate": affiliate["id"], "currency": currency, "only": only}
    tx.execute("""INSERT INTO payouts (id, account_id, affiliate_id, amount_cents, currency, conversion_count,
                      paid_to, note, created_by, created_at)
                  VALUES (:id, :account, :affiliate, :amount, :currency, :count, :paid_to, :note, :user, :now)""",
               {"id": payout_id, "account": account["id"], "affiliate": affiliate["id"], "amount": total,
                "currency": currency, "count": count, "paid_to": affiliate["payout_email"] or affiliate["email"],
                "note": note, "user": user_id, "now": now})
    # Under the write lock the balance is exactly these rows (the triggers keep it so). One conversion
    # is found by its id: an OR of the two cases would walk all the affiliate's payable rows.
    one = "" if only is None else "AND c.id = :only"
    cursor = tx.execute(f"""UPDATE conversions AS c SET status = 'paid', payout_id = :payout, updated_at = :now,
                                decided_by = 'merchant'
                            WHERE c.account_id = :account AND c.affiliate_id = :affiliate
                              AND c.currency = :currency AND {PAYABLE} {one}""",
                        {**params, "payout": payout_id, "now": now})
    if cursor.rowcount != count:  # the totals disagree with the rows: never pay a partial set
        raise ApiError(409, "payout_changed", "the conversions changed while paying; nothing was paid")
    tx.execute("""INSERT INTO conversion_history (conversion_id, at, from_status, to_status, actor, reason)
                  SELECT id, :now, 'approved', 'paid', :actor, 'payout ' || :payout FROM conversions
                  WHERE account_id = :account AND payout_id = :payout""",
               {"account": account["id"], "payout": payout_id, "now": now, "actor": actor})
    for row in tx.execute("SELECT id FROM conversions WHERE account_id = :account AND payout_id = :payout",
                          {"account": account["id"], "payout": payout_id}).fetchall():
        conversion_event(tx, account["id"], row["id"], "conversion.updated")
    payout_recorded(tx, account["id"], payout_id)
    return payout_id


def pay_conversion(db, account, conversion_id, actor="api", user_id=None):
    """Mark one approved conversion paid (PATCH status paid, the dashboard's "mark paid"); return its row.

    A live one is paid by a payout of that conversion alone, under the payouts' rules: the payout
    minimum, no open dispute, a payout row the payouts page, its CSVs and the affiliate see. Test
    data is never paid out, so it only changes status.
    """
    found = get_conversion(db, account["id"], conversion_id)
    if found is not None and not conversion_livemode(found):  # livemode never changes once recorded
        return set_conversion_status(db, account["id"], conversion_id, "paid", actor=actor)
    with transaction(db) as tx:
        account = get_account(tx, account["id"])  # the minimum as it is now, under the lock
        row = get_conversion(tx, account["id"], conversion_id)
        if row is None:
            raise not_found("conversion", conversion_id)
        check_transition(row, "paid")
        if row["disputed"]:
            raise ApiError(409, "disputed", "a conversion under an open dispute cannot be paid", "status")
        record_payout(tx, account, get_affiliate(tx, account["id"], row["affiliate_id"]), row["currency"],
                      row["commission_cents"], 1, only=conversion_id, user_id=user_id, actor=actor)
    return get_conversion(db, account["id"], conversion_id)


def list_payouts(db, account_id, affiliate_id=None, limit=200, before=None):
    """Payout history, newest first, with each affiliate's name; `before` (a payout id) pages on.
    One affiliate's are found on their own index (an OR of the two cases would walk every payout)."""
    mine = "" if affiliate_id is None else "AND p.affiliate_id = :affiliate"
    older = "" if before is None else "AND p.id < :before"
    return db.execute(f"""SELECT p.*, f.name AS affiliate_name, f.email AS affiliate_email FROM payouts p
                          JOIN affiliates f ON f.id = p.affiliate_id
                          WHERE p.account_id = :account {mine} {older}
                          ORDER BY p.id DESC LIMIT :limit""",
                      {"account": account_id, "affiliate": affiliate_id, "before": before, "limit": limit}).fetchall()


# Every number is read from the totals schema.sql's triggers keep (migrations 13 and 17), never summed from
# the program's conversions and clicks, so a page costs the same for ten affiliates or ten thousand.

RECENT_DAYS = 30  # "Last 30 days": this UTC day and the 29 before it, as the chart shows them
# What counts as a conversion in the numbers: real sales, not refund adjustments, not rejected ones.
# The statuses are named (not "!= 'rejected'") so a query on conversions can seek them by index.
COUNTED_STATUSES = ", ".join(f"'{status}'" for status in CONVERSION_STATUSES if status != "rejected")
COUNTED = f"adjustment = 0 AND status IN ({COUNTED_STATUSES})"


def recent_since(now=None):
    """The first moment of the last RECENT_DAYS UTC days."""
    return ((now or now_ms()) // DAY_MS - RECENT_DAYS + 1) * DAY_MS


def month_of(ms):
    """The calendar month (UTC) of a time as affiliate_months keys it: 202603 for March 2026."""
    moment = time.gmtime(ms // 1000)
    return moment.tm_year * 100 + moment.tm_mon


def distinct_values(db, table, column, where, params):
    """The distinct values of an indexed column among the rows `where` selects, by one index seek
    per value (SQLite would otherwise read every row)."""
    return [r[0] for r in db.execute(f"""
        WITH RECURSIVE found(value) AS (
            SELECT MIN({column}) FROM {table} WHERE {where}
            UNION ALL
            SELECT (SELECT MIN({column}) FROM {table} WHERE {where} AND {column} > found.value)
            FROM found WHERE found.value IS NOT NULL)
        SELECT value FROM found WHERE value IS NOT NULL""", params)]


def program_stats(db, account_id, since_ms=None, affiliate_id=None):
    """Clicks; conversions, and how many came through a link's click; the links' conversion rate
    (those over clicks: payments credited another way, such as subscriptions, Payment Links or
    manual sales, have no click to divide by); revenue and commission per currency, net of
    adjustments. For the program, or one affiliate of it, since a UTC day."""
    params = {"account": account_id, "affiliate": affiliate_id or "", "since": (since_ms or 0) // DAY_MS}
    clicks = db.execute("""SELECT COALESCE(SUM(clicks), 0) FROM click_days
                           WHERE account_id = :account AND affiliate_id = :affiliate AND day >= :since""",
                        params).fetchone()[0]
    # All time from the totals without a day (a few rows however long the history), a window from the day rows.
    totals, window = ("conversion_days", "AND day >= :since") if since_ms else ("conversion_totals", "")
    money = db.execute(f"""SELECT currency, SUM(CASE WHEN adjustment = 0 THEN conversions ELSE 0 END) AS conversions,
                                 SUM(CASE WHEN adjustment = 0 AND linked = 1 THEN conversions ELSE 0 END) AS linked,
                                 SUM(amount_cents) AS revenue, SUM(commission_cents) AS commission
                          FROM {totals}
                          WHERE account_id = :account AND affiliate_id = :affiliate {window}
                            AND status IN ({COUNTED_STATUSES})
                          GROUP BY currency HAVING SUM(conversions) != 0 ORDER BY SUM(amount_cents) DESC""",
                       params).fetchall()
    conversions, linked = sum(r["conversions"] for r in money), sum(r["linked"] for r in money)
    return {
        "clicks": clicks, "conversions": conversions, "linked": linked, "other": conversions - linked,
        "rate": (linked / clicks) if clicks else None,
        "revenue": [(r["currency"], r["revenue"]) for r in money] or [("usd", 0)],
        "commission": [(r["currency"], r["commission"]) for r in money] or [("usd", 0)],
    }


def daily_series(db, account_id, days=RECENT_DAYS, now=None, affiliate_id=None):
    """Clicks and conversions per UTC day for the last `days` days, oldest first: [(day ms, clicks, conversions)]."""
    today = (now or now_ms()) // DAY_MS
    first = today - days + 1
    params = {"account": account_id, "since": first, "affiliate": affiliate_id or ""}
    clicks = dict(db.execute("""SELECT day, SUM(clicks) FROM click_days
                                WHERE account_id = :account AND affiliate_id = :affiliate AND day >= :since
                                GROUP BY day""", params).fetchall())
    conversions = dict(db.execute(f"""SELECT day, SUM(conversions) FROM conversion_days
                                      WHERE account_id = :account AND affiliate_id = :affiliate AND day >= :since
                                        AND {COUNTED} GROUP BY day""", params).fetchall())
    return [(day * DAY_MS, clicks.get(day, 0), conversions.get(day, 0)) for day in range(first, today + 1)]


def top_affiliates(db, account_id, month=None, limit=5):
    """Per currency, the affiliates who brought the most revenue in a calendar month (UTC), with
    their conversions and commission: one ranked walk of an index per currency."""
    params = {"account": account_id, "month": month or month_of(now_ms()), "limit": limit}
    rows = []
    for currency in distinct_values(db, "affiliate_months", "currency", "account_id = :account AND month = :month",
                                    params):
        rows += db.execute("""SELECT f.id, f.name, f.status, m.currency, m.conversions, m.amount_cents AS revenue,
                                     m.commission_cents AS commission
                              FROM affiliate_months m JOIN affiliates f ON f.id = m.affiliate_id
                              WHERE m.account_id = :account AND m.month = :month AND m.currency = :currency
                                AND m.conversions != 0
                              ORDER BY m.amount_cents DESC LIMIT :limit""", {**params, "currency": currency}).fetchall()
    return rows


def earnings_by_status(db, account_id, affiliate_id):
    """An affiliate's commission per status and currency: {status: [(currency, cents, count)]}."""
    rows = db.execute("""SELECT status, currency, SUM(commission_cents) AS cents,
                                SUM(CASE WHEN adjustment = 0 THEN conversions ELSE 0 END) AS count
                         FROM conversion_totals WHERE account_id = :account AND affiliate_id = :affiliate
                         GROUP BY status, currency HAVING SUM(conversions) != 0 ORDER BY status, currency""",
                      {"account": account_id, "affiliate": affiliate_id}).fetchall()
    earnings = {status: [] for status in CONVERSION_STATUSES}
    for row in rows:
        earnings[row["status"]].append((row["currency"], row["cents"], row["count"]))
    return earnings


def payout_json(row):
    """A payout as webhooks show it."""
    return {"id": row["id"], "affiliateId": row["affiliate_id"], "amountCents": row["amount_cents"],
            "currency": row["currency"], "conversionCount": row["conversion_count"], "paidTo": row["paid_to"],
            "note": row["note"], "createdAt": iso_time(row["created_at"])}


def payout_recorded(db, account_id, payout_id):
    """Inside the transaction that records a payout: payout.created, and the affiliate's email."""
    row = db.execute("SELECT * FROM payouts WHERE id = :id", {"id": payout_id}).fetchone()
    emit_event(db, account_id, "payout.created", lambda: payout_json(row))
    affiliate = get_affiliate(db, account_id, row["affiliate_id"])
    queue_email(db, account_id, "payout_sent", affiliate["email"], affiliate=affiliate, payout=row,
                portal_url=link_base() + f"/portal/signin/{account_id}")


DIGEST_ROWS = 50  # the conversions a digest lists one by one; the rest it counts


def queue_digests(db, now=None):
    """Queue yesterday's (UTC) conversions digest for each merchant user who wants it, in programs
    that had conversions that day; once per user and day, whichever process gets there first.

    The count and the sums come from that day's totals (conversion_days), and only a program that
    had conversions reads its first rows of the day, so a run costs the same however old the program."""
    now = now_ms() if now is None else now
    day = now // DAY_MS - 1
    params = {"day": day, "since": day * DAY_MS, "until": (day + 1) * DAY_MS}
    queued = 0
    for account in db.execute("SELECT id FROM accounts").fetchall():
        account_id = account["id"]
        sums = db.execute(f"""SELECT currency, SUM(conversions) AS conversions, SUM(amount_cents) AS revenue,
                                     SUM(commission_cents) AS commission
                              FROM conversion_days WHERE account_id = :account AND affiliate_id = '' AND day = :day
                                AND {COUNTED} GROUP BY currency HAVING SUM(conversions) != 0""",
                          {**params, "account": account_id}).fetchall()
        count = sum(r["conversions"] for r in sums)
        if not count:
            continue
        totals = {r["currency"]: (r["revenue"], r["commission"]) for r in sums}
        # COUNTED's statuses, so the (account, status, created_at) index finds the day's rows.
        rows = db.execute(f"""SELECT c.*, f.name AS affiliate_name FROM conversions c
                              JOIN affiliates f ON f.id = c.affiliate_id
                              WHERE c.account_id = :account AND c.status IN ({COUNTED_STATUSES})
                                AND c.created_at >= :since AND c.created_at < :until
                                AND c.kind != 'adjustment' AND c.{LIVE_LEDGER}
                              ORDER BY c.seq LIMIT :shown""", {**params, "account": account_id, "shown": DIGEST_ROWS}
                          ).fetchall()
        users = db.execute("SELECT id, email FROM users WHERE account_id = :a AND password_hash IS NOT NULL",
                           {"a": account_id}).fetchall()
        for user in users:
            if not mail_wanted(db, user["id"], "daily_digest"):
                continue
            with transaction(db) as tx:
                if queue_email(tx, account_id, "daily_digest", user["email"], dedupe_key=f"digest:{user['id']}:{day}",
                               rows=rows, count=count, totals=totals, digest_day=day * DAY_MS,
                               dashboard_url=link_base() + "/dashboard/conversions"):
                    queued += 1
    return queued


###############################################################################
# People, sessions and throttles ##############################################
###############################################################################


# scrypt's cost is stored with every hash, so raising it later only affects new passwords.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1   # 32 MiB of memory per guess: slow and costly to guess in bulk
SCRYPT_MAXMEM = 256 * 1024 * 1024
PASSWORD_MIN, PASSWORD_MAX = 10, 1024
SESSION_IDLE_MS = 7 * DAY_MS     # a session unused this long has ended
SESSION_MAX_MS = 30 * DAY_MS     # and none lives longer than this, used or not
SESSION_TOUCH_MS = 60_000        # last_seen_at is written at most once a minute
INVITE_TTL_MS = 7 * DAY_MS


def clean_password(value, param="password"):
    """A password long enough to resist guessing and short enough to hash cheaply."""
    if not isinstance(value, str) or len(value) < PASSWORD_MIN:
        raise invalid(param, f"the password must be at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise invalid(param, f"the password must be at most {PASSWORD_MAX} characters")
    return value


def hash_password(password):
    """A salted scrypt hash with its parameters: scrypt$n$r$p$salt$digest."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32, maxmem=SCRYPT_MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password, stored):
    """True when the password matches the stored hash; with no hash, take as long and say no."""
    if not stored:
        hash_password(password or "")  # an unknown email costs the same time as a known one
        return False
    _, n, r, p, salt, digest = stored.split("$")
    computed = hashlib.scrypt((password or "").encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                              p=int(p), dklen=len(digest) // 2, maxmem=SCRYPT_MAXMEM)
    return hmac.compare_digest(computed.hex(), digest)


def token_hash(token):
    """The SHA-256 under which session and invite tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def has_merchant_user(db):
    """True when the install has a merchant user; with none, the setup page is open."""
    return bool(db.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0])


def get_user(db, account_id, user_id):
    """This account's user, or None."""
    return db.execute("SELECT * FROM users WHERE id = :id AND account_id = :account",
                      {"id": user_id, "account": account_id}).fetchone()


def insert_invite(db, kind, subject_id, account_id):
    """Inside a transaction: a new invite; return the token, which only the link ever holds."""
    token = secrets.token_urlsafe(32)
    now = now_ms()
    db.execute("""INSERT INTO invites (token_hash, kind, subject_id, account_id, created_at, expires_at)
                  VALUES (:hash, :kind, :subject, :account, :now, :expires)""",
               {"hash": token_hash(token), "kind": kind, "subject": subject_id, "account": account_id,
                "now": now, "expires": now + INVITE_TTL_MS})
    return token


ROLES = ("owner", "member")  # an owner also holds the webhook secret, the API keys and the team
SETUP_TOKEN = "setup_token_hash"  # the settings row of the setup link's token, while no user exists
SETUP_FIELDS = ("name", "default_commission", "landing_url")  # what /setup asks of a new program


def new_setup_token(db):
    """While no merchant user exists: a new setup token, replacing any earlier one; return it, for the
    link `serve` prints (only its hash is kept). Once a user exists: None, and no token is kept."""
    token = secrets.token_urlsafe(32)
    with transaction(db) as tx:
        if has_merchant_user(tx):
            tx.execute("DELETE FROM settings WHERE name = :name", {"name": SETUP_TOKEN})
            return None
        tx.execute("""INSERT INTO settings (name, value) VALUES (:name, :hash)
                      ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                   {"name": SETUP_TOKEN, "hash": token_hash(token)})
    return token


def setup_token_valid(db, token):
    """True when token is the setup link's, not yet spent."""
    row = db.execute("SELECT value FROM settings WHERE name = :name", {"name": SETUP_TOKEN}).fetchone()
    return bool(token) and row is not None and hmac.compare_digest(row["value"], token_hash(token))


def setup_install(db, token, email, password, account_id=None, settings=None):
    """First run, with the setup link's token: the first merchant user, an owner, of a new program
    made from `settings` (SETUP_FIELDS) or, given account_id, of that existing account, whose
    settings stay as they are. Return (account id, user id).

    The token is spent in the one transaction that checks that no user exists and makes the owner:
    a link works once, and two racing forms make one owner.
    """
    email = clean_email(email)
    password_hash = hash_password(clean_password(password))
    fields = None
    if account_id is None:  # a program's name is required, the rest has defaults
        fields = clean_program_settings({"name": None, **{k: v for k, v in (settings or {}).items()
                                                          if k in SETUP_FIELDS}})
    now, user_id = now_ms(), new_id("usr")
    with transaction(db) as tx:
        if has_merchant_user(tx):
            raise ApiError(409, "already_set_up", "this install is already set up; sign in instead")
        spent = tx.execute("DELETE FROM settings WHERE name = :name AND value = :hash",
                           {"name": SETUP_TOKEN, "hash": token_hash(token or "")})
        if spent.rowcount != 1:
            raise ApiError(403, "setup_link_invalid", "this setup link is not valid (any more): use the one "
                           "`python affilut.py serve` printed when it last started")
        if fields is not None:
            account_id = new_id("acc")
            insert_account(tx, {**fields, "id": account_id, "now": now})
        elif get_account(tx, account_id) is None:
            raise not_found("program", account_id, "account")
        tx.execute("""INSERT INTO users (id, account_id, email, password_hash, role, created_at)
                      VALUES (:id, :account, :email, :hash, 'owner', :now)""",
                   {"id": user_id, "account": account_id, "email": email, "hash": password_hash, "now": now})
    return account_id, user_id


def invite_user(db, account_id, email, role="member", send_email=False):
    """Add a user, owner or member, without a password; return (user id, the invite token, shown once).
    Role None: an owner for a program that has none yet, else a member. With send_email the link is
    also emailed to them."""
    email, user_id = clean_email(email), new_id("usr")
    role = None if role is None else clean_choice(role, "role", ROLES)
    try:
        with transaction(db) as tx:
            if get_account(tx, account_id) is None:
                raise not_found("account", account_id, "account")
            if role is None:
                owned = tx.execute("SELECT 1 FROM users WHERE account_id = :a AND role = 'owner'",
                                   {"a": account_id}).fetchone()
                role = "member" if owned else "owner"
            tx.execute("""INSERT INTO users (id, account_id, email, role, created_at)
                          VALUES (:id, :account, :email, :role, :now)""",
                       {"id": user_id, "account": account_id, "email": email, "role": role, "now": now_ms()})
            token = insert_invite(tx, "user", user_id, account_id)
            if send_email:
                queue_email(tx, account_id, "team_invite", email, sensitive=True, invite_url=link_base() + f"/invite/{token}")
    except sqlite3.IntegrityError as error:
        if not unique_violation(error, "users.email"):
            raise
        raise ApiError(409, "duplicate_email", "someone with this email already signs in here", "email")
    return user_id, token


def remove_user(db, account_id, user_id):
    """Remove a user and end their sessions and invites; the program's last owner cannot be removed."""
    with transaction(db) as tx:
        user = get_user(tx, account_id, user_id)
        if user is None:
            raise not_found("user", user_id)
        owners = tx.execute("SELECT COUNT(*) FROM users WHERE account_id = :a AND role = 'owner'",
                            {"a": account_id}).fetchone()[0]
        if user["role"] == "owner" and owners <= 1:
            raise ApiError(409, "last_owner", "a program keeps at least one owner")
        tx.execute("DELETE FROM users WHERE id = :id AND account_id = :a", {"id": user_id, "a": account_id})
        tx.execute("DELETE FROM invites WHERE kind = 'user' AND subject_id = :id", {"id": user_id})
        tx.execute("DELETE FROM sessions WHERE kind = 'user' AND subject_id = :id", {"id": user_id})
    return user


def invite_affiliate(db, account_id, affiliate_id, send_email=False):
    """A portal invite for this account's affiliate; return the token, shown once. With send_email
    the link is also emailed to them."""
    with transaction(db) as tx:
        affiliate = get_affiliate(tx, account_id, affiliate_id)
        if affiliate is None:
            raise not_found("affiliate", affiliate_id)
        token = insert_invite(tx, "affiliate", affiliate_id, account_id)
        if send_email:
            queue_email(tx, account_id, "affiliate_invite", affiliate["email"], sensitive=True, affiliate=affiliate,
                        invite_url=link_base() + f"/invite/{token}")
        return token


def open_invite(db, token):
    """The unused, unexpired invite this token names, or None."""
    return db.execute("""SELECT * FROM invites WHERE token_hash = :hash AND used_at IS NULL
                         AND expires_at > :now""", {"hash": token_hash(token or ""), "now": now_ms()}).fetchone()


def accept_invite(db, token, password):
    """Set the invited person's password and spend the invite; return the invite row."""
    password_hash = hash_password(clean_password(password))
    fields = {"now": now_ms(), "hash": token_hash(token or "")}
    with transaction(db) as tx:
        # the UPDATE, not a read before it, decides: a link works exactly once
        cursor = tx.execute("""UPDATE invites SET used_at = :now WHERE token_hash = :hash
                               AND used_at IS NULL AND expires_at > :now""", fields)
        if cursor.rowcount != 1:
            raise ApiError(404, "invite_invalid", "this invite link has expired or was already used")
        invite = tx.execute("SELECT * FROM invites WHERE token_hash = :hash", fields).fetchone()
        if invite["kind"] == "user":
            tx.execute("UPDATE users SET password_hash = :hash WHERE id = :id",
                       {"hash": password_hash, "id": invite["subject_id"]})
        else:
            set_affiliate_password(tx, invite["subject_id"], password_hash)
    return invite


def set_affiliate_password(db, affiliate_id, password_hash):
    """Inside a transaction: create or replace an affiliate's portal password."""
    db.execute("""INSERT INTO affiliate_logins (affiliate_id, password_hash, created_at) VALUES (:id, :hash, :now)
                  ON CONFLICT (affiliate_id) DO UPDATE SET password_hash = excluded.password_hash""",
               {"id": affiliate_id, "hash": password_hash, "now": now_ms()})


def join_program(db, account_id, name, email, password, admit=None):
    """Public sign-up: a pending affiliate with a portal password; return the affiliate row.

    Every field is checked before the password is hashed, the costly step; admit(), if given, runs
    just before it and may refuse by raising.
    """
    if get_account(db, account_id) is None:
        raise not_found("program", account_id)
    name, email, password = clean_text(name, "name"), clean_email(email), clean_password(password)
    if admit:
        admit()
    password_hash = hash_password(password)

    def with_login(tx, row):  # one transaction: never an applicant without a password
        set_affiliate_password(tx, row["id"], password_hash)
        application_received(tx, account_id, row)
    return create_affiliate(db, account_id, name, email, status="pending", and_then=with_login)


def check_user_password(db, email, password):
    """The user with this email and password, or None."""
    row = db.execute("SELECT * FROM users WHERE email = :email", {"email": (email or "").strip()}).fetchone()
    if not verify_password(password, row["password_hash"] if row else None):
        return None
    with transaction(db) as tx:
        tx.execute("UPDATE users SET last_login_at = :now WHERE id = :id", {"now": now_ms(), "id": row["id"]})
    return row


def check_affiliate_password(db, account_id, email, password):
    """This program's affiliate with this email and portal password, or None."""
    row = db.execute("""SELECT f.*, l.password_hash FROM affiliates f JOIN affiliate_logins l ON l.affiliate_id = f.id
                        WHERE f.account_id = :account AND f.email = :email""",
                     {"account": account_id, "email": (email or "").strip()}).fetchone()
    if not verify_password(password, row["password_hash"] if row else None):
        return None
    with transaction(db) as tx:
        tx.execute("UPDATE affiliate_logins SET last_login_at = :now WHERE affiliate_id = :id",
                   {"now": now_ms(), "id": row["id"]})
    return row


def record_signin_ceiling(db, kind, email, account_id=None):
    """Note that failed sign-ins for this email reached the ceiling, for the merchant to see; return
    the (kind, subject id, account id) it was noted for, or None for an email nobody has."""
    if kind == "user":
        row = db.execute("SELECT id, account_id FROM users WHERE email = :email", {"email": email}).fetchone()
    else:
        row = db.execute("SELECT id, account_id FROM affiliates WHERE account_id = :account AND email = :email",
                         {"account": account_id, "email": email}).fetchone()
    if row is None:
        return None
    now = now_ms()
    with transaction(db) as tx:
        # read under the write lock: two processes reaching the ceiling together send one alert
        before = tx.execute("SELECT last_at FROM signin_ceilings WHERE kind = :kind AND subject_id = :id",
                            {"kind": kind, "id": row["id"]}).fetchone()
        tx.execute("""INSERT INTO signin_ceilings (kind, subject_id, account_id, email, times, first_at, last_at)
                      VALUES (:kind, :id, :account, :email, 1, :now, :now)
                      ON CONFLICT (kind, subject_id) DO UPDATE SET times = times + 1, email = excluded.email,
                                                                  last_at = excluded.last_at""",
                   {"kind": kind, "id": row["id"], "account": row["account_id"], "email": email, "now": now})
        if before is None or now - before["last_at"] >= SIGNIN_ALERT_EVERY_MS:
            forgot = "/forgot" if kind == "user" else f"/portal/forgot/{row['account_id']}"
            queue_email(tx, row["account_id"], "signin_alert", email, who=kind, forgot_url=link_base() + forgot)
    return kind, row["id"], row["account_id"]


SIGNIN_ALERT_EVERY_MS = 3600 * 1000  # the sign-in alert email reaches one person at most once an hour
DEVICE_COOKIE_MAX_AGE = 365 * 86400  # seconds a browser stays known to the person who signed in with it


def device_secret(db):
    """The install's key for signing device cookies, made on first use and kept in settings."""
    row = db.execute("SELECT value FROM settings WHERE name = 'device_secret'").fetchone()
    if row is None:
        with transaction(db) as tx:
            tx.execute("INSERT INTO settings (name, value) VALUES ('device_secret', :value) ON CONFLICT (name) DO NOTHING",
                       {"value": secrets.token_hex(32)})
        row = db.execute("SELECT value FROM settings WHERE name = 'device_secret'").fetchone()
    return row["value"]


def device_signature(db, kind, subject_id, nonce):
    """The HMAC that makes a device cookie unforgeable: it names this person and this browser's nonce."""
    return hmac.new(device_secret(db).encode(), f"{kind}:{subject_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def device_token(db, kind, subject_id):
    """A device cookie's value for a person who just signed in: proof, later, that this browser once
    did (OWASP, "Slow Down Online Guessing Attacks with Device Cookies")."""
    nonce = secrets.token_urlsafe(16)
    return f"{subject_id}.{nonce}.{device_signature(db, kind, subject_id, nonce)}"


def known_device(db, kind, token, email, account_id=None):
    """True when this device cookie was given to the person (kind "user", or this program's affiliate)
    who has this email now."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not hmac.compare_digest(parts[2], device_signature(db, kind, parts[0], parts[1])):
        return False
    if kind == "user":
        row = db.execute("SELECT 1 FROM users WHERE id = :id AND email = :email",
                         {"id": parts[0], "email": email}).fetchone()
    else:
        row = db.execute("SELECT 1 FROM affiliates WHERE id = :id AND account_id = :account AND email = :email",
                         {"id": parts[0], "account": account_id, "email": email}).fetchone()
    return row is not None


def recent_signin_ceilings(db, account_id, days=7):
    """This program's people whose sign-ins reached the ceiling in the last `days` days, newest first."""
    return db.execute("""SELECT * FROM signin_ceilings WHERE account_id = :account AND last_at >= :since
                         ORDER BY last_at DESC""", {"account": account_id, "since": now_ms() - days * DAY_MS}).fetchall()


def create_session(db, kind, subject_id, account_id):
    """Start a session; return its token for the cookie (only the token's hash is stored)."""
    token, now = secrets.token_urlsafe(32), now_ms()
    with transaction(db) as tx:
        tx.execute("""INSERT INTO sessions (token_hash, kind, subject_id, account_id, csrf_token,
                          created_at, last_seen_at, expires_at)
                      VALUES (:hash, :kind, :subject, :account, :csrf, :now, :now, :expires)""",
                   {"hash": token_hash(token), "kind": kind, "subject": subject_id, "account": account_id,
                    "csrf": secrets.token_urlsafe(32), "now": now, "expires": now + SESSION_MAX_MS})
        # sign-ins are rare: sweep everybody's ended sessions now and then
        tx.execute("DELETE FROM sessions WHERE expires_at <= :now OR last_seen_at <= :idle",
                   {"now": now, "idle": now - SESSION_IDLE_MS})
    return token


def load_session(db, kind, token):
    """The live session of this kind the token names, or None; ended sessions are deleted."""
    if not token:
        return None
    row = db.execute("SELECT * FROM sessions WHERE token_hash = :hash AND kind = :kind",
                     {"hash": token_hash(token), "kind": kind}).fetchone()
    if row is None:
        return None
    now = now_ms()
    if now >= row["expires_at"] or now - row["last_seen_at"] >= SESSION_IDLE_MS:
        end_session(db, token)
        return None
    if now - row["last_seen_at"] >= SESSION_TOUCH_MS:
        with transaction(db) as tx:
            tx.execute("UPDATE sessions SET last_seen_at = :now WHERE token_hash = :hash",
                       {"now": now, "hash": row["token_hash"]})
    return row


def end_session(db, token):
    """Sign out: the session's row is gone, so its cookie names nothing."""
    with transaction(db) as tx:
        tx.execute("DELETE FROM sessions WHERE token_hash = :hash", {"hash": token_hash(token)})


def application_received(db, account_id, affiliate):
    """Inside the transaction of a sign-up: tell the applicant it arrived and the merchant's users
    that someone applied."""
    queue_email(db, account_id, "affiliate_applied", affiliate["email"], affiliate=affiliate)
    for email in merchant_emails(db, account_id):
        queue_email(db, account_id, "new_application", email, affiliate=affiliate,
                    review_url=link_base() + f"/dashboard/affiliates/{affiliate['id']}")


RESET_TTL_MS = 3600 * 1000  # a reset link works once, for one hour
RESETS_PER_HOUR = 5         # reset emails one person can be sent in an hour


def insert_password_reset(db, kind, subject_id, account_id):
    """Inside a transaction: a new reset link's token (only its hash is stored)."""
    token, now = secrets.token_urlsafe(32), now_ms()
    db.execute("""INSERT INTO password_resets (token_hash, kind, subject_id, account_id, created_at, expires_at)
                  VALUES (:hash, :kind, :subject, :account, :now, :expires)""",
               {"hash": token_hash(token), "kind": kind, "subject": subject_id, "account": account_id, "now": now,
                "expires": now + RESET_TTL_MS})
    return token


def reset_subject(db, kind, email, account_id=None):
    """(subject id, account id, stored email) of the merchant user, or of this program's affiliate,
    with this email; or None."""
    email = (email or "").strip()
    if kind == "user":
        row = db.execute("SELECT id, account_id, email FROM users WHERE email = :email", {"email": email}).fetchone()
    else:
        row = db.execute("""SELECT id, account_id, email FROM affiliates WHERE account_id = :account
                            AND email = :email COLLATE NOCASE""", {"account": account_id, "email": email}).fetchone()
    return (row["id"], row["account_id"], row["email"]) if row else None


def request_password_reset(db, kind, email, account_id=None):
    """Email a reset link to this person if the email is theirs; say nothing of whether it was."""
    found = reset_subject(db, kind, email, account_id)
    if found is None:
        return False
    with transaction(db) as tx:
        recent = tx.execute("""SELECT COUNT(*) FROM password_resets WHERE subject_id = :id AND created_at > :since""",
                            {"id": found[0], "since": now_ms() - RESET_TTL_MS}).fetchone()[0]
        if recent >= RESETS_PER_HOUR:  # the form must not become a way to flood someone's inbox
            return False
        token = insert_password_reset(tx, kind, found[0], found[1])
        # To the address on record, never as typed: a mailbox may tell "Pat@" from "pat@", and the
        # link must reach the person whose account it opens.
        queue_email(tx, found[1], "password_reset", found[2], sensitive=True, who=kind,
                    reset_url=link_base() + f"/reset/{token}")
    return True


def open_password_reset(db, token):
    """The unused, unexpired reset this token names, or None."""
    return db.execute("""SELECT * FROM password_resets WHERE token_hash = :hash AND used_at IS NULL
                         AND expires_at > :now""", {"hash": token_hash(token or ""), "now": now_ms()}).fetchone()


def complete_password_reset(db, token, password):
    """Set a new password through a reset link, spend the link, and end every session of that person;
    return the reset row."""
    password_hash = hash_password(clean_password(password))
    fields = {"now": now_ms(), "hash": token_hash(token or "")}
    with transaction(db) as tx:
        # the UPDATE decides: a link works exactly once
        cursor = tx.execute("""UPDATE password_resets SET used_at = :now WHERE token_hash = :hash
                               AND used_at IS NULL AND expires_at > :now""", fields)
        if cursor.rowcount != 1:
            raise ApiError(404, "reset_invalid", "this reset link has expired or was already used")
        reset = tx.execute("SELECT * FROM password_resets WHERE token_hash = :hash", fields).fetchone()
        if reset["kind"] == "user":
            tx.execute("UPDATE users SET password_hash = :hash WHERE id = :id",
                       {"hash": password_hash, "id": reset["subject_id"]})
        else:
            set_affiliate_password(tx, reset["subject_id"], password_hash)
        tx.execute("DELETE FROM sessions WHERE kind = :kind AND subject_id = :id",
                   {"kind": reset["kind"], "id": reset["subject_id"]})
        tx.execute("UPDATE password_resets SET used_at = :now WHERE subject_id = :id AND used_at IS NULL",
                   {"now": fields["now"], "id": reset["subject_id"]})
    return reset


class RateLimiter:
    """Token buckets per API key and budget: `limit` requests a minute, refilled continuously.

    A bucket untouched for a minute is full again, so dropping it loses nothing: a sweep once a
    minute keeps memory bounded by the keys used in the last minute.
    """

    def __init__(self, limits, clock=time.time):
        self.limits, self.clock = limits, clock
        self.buckets = {}  # (key id, budget) -> (tokens, time of last update)
        self.lock = threading.Lock()
        self.last_sweep = clock()

    def take(self, key_id, budget):
        """Spend one token; return (allowed, headers)."""
        limit = self.limits[budget]
        per_second = limit / 60.0
        with self.lock:
            now = self.clock()
            tokens, stamp = self.buckets.get((key_id, budget), (limit, now))
            tokens = min(limit, tokens + (now - stamp) * per_second)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self.buckets[(key_id, budget)] = (tokens, now)
            if now - self.last_sweep >= 60:
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 60}
                self.last_sweep = now
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(int(tokens)),
            "X-RateLimit-Reset": str(math.ceil(now + (limit - tokens) / per_second)),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1 - tokens) / per_second)))
        return allowed, headers


def make_rate_limiter():
    """The limiter with the limits this install was started with."""
    return RateLimiter({"read": env_int("AFFILUT_RATE_GET", 120), "write": env_int("AFFILUT_RATE_POST", 30)})


app.config["affilut.rate_limiter"] = at_start(make_rate_limiter)
# The public routes anyone may call, limited per client address with the same token buckets: past
# the rate a link still redirects but stores no click, and a sign-up is refused before its costly hash.
VISITOR_LIMITS = {"click": 30, "join": 3}  # a minute, per address
app.config["affilut.visitor_limiter"] = RateLimiter(VISITOR_LIMITS)


class SignInThrottle:
    """Slows password guessing without letting a guesser lock anyone out.

    Failures count against one email from one address ("pair") and against one address ("ip");
    past a few, that address must wait before its next try, the wait doubling up to a cap. A right
    password from another address is never refused. Past a ceiling of failures for one email from
    anywhere ("email"), a try for that email waits a little after each failure (the wait does not
    grow), the merchant is told and the person is emailed. The ceiling holds back only browsers that
    never signed in as that person: throttled_sign_in judges a try that carries the person's device
    cookie by the pair and address rules alone, so a guesser spread over many addresses is slowed
    and cannot keep the owner out (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").
    In memory, like the rate limits.
    """

    def __init__(self, clock=time.time, free=None, first_wait=30, max_wait=900, forget_after=3600):
        self.clock, self.first_wait, self.max_wait = clock, first_wait, max_wait
        # Failures before waits begin; one address may be many people, and the ceiling is about an hour's worth.
        self.free = free or {"pair": 5, "ip": 20, "email": 100}
        self.forget_after = forget_after
        self.failures = {}  # (kind, value) -> (count, time of the last failure)
        self.lock = threading.Lock()

    def delay(self, kind, count):
        """Seconds to wait after `count` failures of this kind."""
        if count < self.free[kind]:
            return 0
        if kind == "email":
            return self.first_wait
        return min(self.max_wait, self.first_wait * 2 ** (count - self.free[kind]))

    def wait(self, keys):
        """Seconds until these keys may try again; 0 when they may now."""
        now, longest = self.clock(), 0
        with self.lock:
            for key in keys:
                count, last = self.failures.get(key, (0, 0))
                if now - last < self.forget_after:
                    longest = max(longest, math.ceil(last + self.delay(key[0], count) - now))
        return max(0, longest)

    def failed(self, keys):
        """Count a failed attempt against every key; return True when an email key just reached the ceiling."""
        now, reached = self.clock(), False
        with self.lock:
            if len(self.failures) > 10_000:  # keep memory bounded: drop what is forgotten anyway
                self.failures = {k: v for k, v in self.failures.items() if now - v[1] < self.forget_after}
            for key in keys:
                count, last = self.failures.get(key, (0, 0))
                count = 1 if now - last >= self.forget_after else count + 1
                self.failures[key] = (count, now)
                reached = reached or (key[0] == "email" and count == self.free["email"])
        return reached

    def succeeded(self, keys):
        """A right password clears the failures of its email from its address (not the address's, nor the email's)."""
        with self.lock:
            for key in keys:
                if key[0] == "pair":
                    self.failures.pop(key, None)


app.config["affilut.signin_throttle"] = SignInThrottle()


###############################################################################
# HTTP helpers ################################################################
###############################################################################


SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Only our own files: no inline script or style, no other origin, no framing, forms post home.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


@app.hook("after_request")
def security_headers():
    """Every response carries the browser-hardening headers, unless a route chose its own."""
    # After a route returns an HTTPResponse, Bottle's response shares that response's header
    # dict, so headers set here reach the client on every path, error pages included.
    for name, value in SECURITY_HEADERS.items():
        if name not in response.headers:
            response.set_header(name, value)


# Set whole when the response is made: cheaper than the hook adding them one by one.
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", **SECURITY_HEADERS}


def json_response(status, body, headers=None):
    """A JSON HTTPResponse that is never cached."""
    return HTTPResponse(json.dumps(body, separators=(",", ":")), status, {**JSON_HEADERS, **(headers or {})})


# A \u escape of a UTF-16 surrogate: the only way JSON text can carry a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def read_body(limit, message):
    """The request's raw body, refused with a 413 past limit bytes (read no further than that)."""
    if request.content_length > limit:
        raise ApiError(413, "payload_too_large", message)
    raw = request.body.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "payload_too_large", message)
    return raw


def parse_json(raw, **options):
    """JSON text as Python, refusing what SQLite could not store; ValueError (or UnicodeError,
    RecursionError) when it is not valid UTF-8 JSON."""
    value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, **options)
    # "\ud800" is valid JSON but no text SQLite can store: refuse it here rather than fail at the INSERT.
    if _SURROGATE_ESCAPE.search(raw):
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    return value


def json_body():
    """The request's JSON object, or a 400/413 that says what is wrong with it."""
    raw = read_body(MAX_API_BODY, f"the request body must be at most {MAX_API_BODY} bytes")
    content_type = request.content_type.split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(400, "invalid_content_type", "send a JSON body with Content-Type: application/json")
    try:
        body = parse_json(raw, parse_float=Decimal)
    except (UnicodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid UTF-8 JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


def query_int(name, default, low, high):
    """An integer query parameter within [low, high]."""
    text = request.query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?\d{1,12}", text) or not low <= int(text) <= high:
        raise invalid(name, f"{name} must be an integer from {low} to {high}")
    return int(text)


def query_id(name, prefix):
    """An optional id query parameter of the given prefix."""
    text = request.query.get(name)
    if text is not None and not is_id(text, prefix):
        raise invalid(name, f"{name} must be an id starting with {prefix}_")
    return text


def paging():
    """page and limit from the query, validated."""
    page = query_int("page", 1, 1, 10**9)
    limit = query_int("limit", PAGE_LIMIT_DEFAULT, 1, PAGE_LIMIT_MAX)
    return page, limit


def page_envelope(data, page, limit, has_more):
    """The reference's page envelope, with hasMore added."""
    return {"data": data, "page": page, "limit": limit, "hasMore": has_more}


def authenticate(db):
    """The (key id, account row) a Bearer key belongs to, or a 401."""
    scheme, _, token = request.get_header("Authorization", "").partition(" ")
    token = token.strip()
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send your API key as Authorization: Bearer <key>", headers=challenge)
    if not API_KEY_PATTERN.fullmatch(token):
        raise ApiError(401, "unauthorized", "the API key is malformed", headers=challenge)
    digest = hash_key(token)
    account = db.execute("""SELECT a.*, k.id AS key_id, k.last_used_at AS key_last_used_at
                            FROM api_keys k JOIN accounts a ON a.id = k.account_id
                            WHERE k.key_hash = :hash AND k.revoked_at IS NULL""", {"hash": digest}).fetchone()
    if account is None:
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked", headers=challenge)
    now = now_ms()
    if account["key_last_used_at"] is None or now - account["key_last_used_at"] >= KEY_LAST_USED_RESOLUTION_MS:
        with transaction(db) as tx:
            tx.execute("UPDATE api_keys SET last_used_at = :now WHERE id = :id", {"now": now, "id": account["key_id"]})
    return account["key_id"], account


def database_error(error):
    """The ApiError for a database that is busy or full: 503, try again later; else None."""
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return ApiError(503, "database_busy", "the database is busy; retry shortly", headers={"Retry-After": "1"})
    if name == "SQLITE_FULL":
        return ApiError(503, "storage_full", "the server's disk is full; nothing was written",
                        headers={"Retry-After": "60"})
    return None


def api(method, path):
    """Route an authenticated, rate-limited JSON endpoint under /api/v1.

    The handler gets (db, account, **url_args) and returns a body, or (status, body).
    Every outcome is JSON; every authenticated outcome carries the rate-limit headers.
    """
    def decorate(handler):
        @functools.wraps(handler)
        def endpoint(**url_args):
            headers = {}
            try:
                db = get_db()
                key_id, account = authenticate(db)
                budget = "read" if request.method in ("GET", "HEAD") else "write"
                allowed, headers = app.config["affilut.rate_limiter"].take(key_id, budget)
                if not allowed:
                    raise ApiError(429, "rate_limited", "too many requests; see Retry-After")
                result = handler(db, account, **url_args)
                status, body = result if isinstance(result, tuple) else (200, result)
                return json_response(status, body, headers)
            except Exception as error:
                return error_response(error, headers)
        app.route("/api/v1" + path, method, endpoint)
        return handler
    return decorate


def as_refusal(error):
    """What anything raised while handling a request tells the client, as an ApiError: the refusal
    itself, 503 for a busy or full database, else a logged 500 that reveals nothing."""
    if isinstance(error, ApiError):
        return error
    return (isinstance(error, sqlite3.Error) and database_error(error)) or internal_error(error)


def error_response(error, headers=None):
    """The JSON answer to anything raised while handling an API request (see as_refusal)."""
    error = as_refusal(error)
    return json_response(error.status, error.body(), {**(headers or {}), **error.headers})


def internal_error(error):
    """Log an unexpected failure and answer a JSON 500 that reveals nothing of it."""
    traceback.print_exception(error, file=sys.stderr)
    return ApiError(500, "internal_error", "something went wrong on our side; nothing was changed")


ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               500: "internal_error"}


def dead_end_html(title, text, link):
    """A page in the dashboard's style for a request that ends nowhere: what happened and a
    (path, label) link back. Self-contained, so it renders even when the database does not."""
    href, label = link
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)} · affilut</title><link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="/static/app.css"></head><body class="area-public">'
            f'<header class="top"><div class="top-inner"><a class="brand" href="/">affilut</a></div></header>'
            f'<main class="main"><section class="narrow card"><h1>{html.escape(title)}</h1>'
            f'<p>{html.escape(text)}</p><p><a class="button" href="{html.escape(href)}">{html.escape(label)}</a></p>'
            f'</section></main></body></html>')


# The portal's public pages: /portal would send a visitor with no session straight back to them.
PORTAL_PUBLIC_PATHS = ("/portal/signin", "/portal/forgot")


def way_back():
    """Where a person who reached a dead end can go: their area's start page."""
    if request.path.startswith("/dashboard"):
        return "/dashboard", "Back to the dashboard"
    if request.path.startswith("/portal") and not request.path.startswith(PORTAL_PUBLIC_PATHS):
        return "/portal", "Back to your affiliate page"
    return "/", "Go to the start page"


def error_page(error):
    """Bottle's own errors (unknown route, wrong method, crash): JSON under /api, a styled page elsewhere."""
    if request.path.startswith("/api/"):
        response.content_type = "application/json"
        message = {404: "no such endpoint", 405: f"use one of: {response.get_header('Allow', '')}"}.get(
            error.status_code, "the request could not be handled")
        return json.dumps(ApiError(error.status_code, ERROR_CODES.get(error.status_code, "error"), message).body())
    response.content_type = "text/html; charset=utf-8"
    response.set_header("Cache-Control", "no-store")
    title, text = {404: ("Page not found", "There is no page at this address."),
                   405: ("Not here", "This address does not take that kind of request.")}.get(
        error.status_code, ("Something went wrong", "The request could not be handled; nothing was changed."))
    return dead_end_html(title, text, way_back())


app.default_error_handler = error_page


SESSION_COOKIES = {"user": "affilut_session", "affiliate": "affilut_portal"}
DEVICE_COOKIES = {"user": "affilut_device", "affiliate": "affilut_portal_device"}  # kept past sign-out
CSRF_COOKIE = "affilut_csrf"               # signed-out forms (sign-in, setup, join) use this token
DASHBOARD_PAGE_SIZE = 25


def set_cookie(result, name, value, max_age=None):
    """On a response: a cookie scripts cannot read, sent only to us, only over HTTPS when we are behind it."""
    extra = {"max_age": max_age} if max_age is not None else {}  # Bottle would write "Max-Age=None"
    result.set_cookie(name, value, path="/", httponly=True, samesite="lax", secure=is_https(), **extra)


def browser_csrf_token():
    """The signed-out form token: one per browser, kept in its own cookie."""
    token = request.environ.get("affilut.csrf") or request.get_cookie(CSRF_COOKIE)
    if not token or not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token):
        token = secrets.token_urlsafe(32)
    request.environ["affilut.csrf"] = token
    return token


def form_data():
    """The posted form, decoded as UTF-8 (Bottle's .get() alone gives Latin-1 mojibake)."""
    if "affilut.form" not in request.environ:
        request.environ["affilut.form"] = request.forms.decode()
    return request.environ["affilut.form"]


def query_data():
    """The query string, decoded as UTF-8."""
    if "affilut.query" not in request.environ:
        request.environ["affilut.query"] = request.query.decode()
    return request.environ["affilut.query"]


def csrf_valid(session):
    """True when the posted form carries the token of this session (or of this browser)."""
    sent = form_data().get("csrf") or ""
    expected = session["csrf_token"] if session else (request.get_cookie(CSRF_COOKIE) or "")
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


class Page:
    """What a page handler knows of its request: the database, who is signed in, and their account."""

    def __init__(self, db, area, session=None):
        self.db, self.area, self.session = db, area, session
        self.account = get_account(db, session["account_id"]) if session else None
        self.user = get_user(db, session["account_id"], session["subject_id"]) \
            if session and session["kind"] == "user" else None
        self.affiliate = get_affiliate(db, session["account_id"], session["subject_id"]) \
            if session and session["kind"] == "affiliate" else None
        self.csrf = session["csrf_token"] if session else browser_csrf_token()
        self.notice = notice_text(query_data())
        self.path = request.path
        self.base = base_url()
        self.banners = dashboard_banners(db, self.account["id"]) if self.area == "dashboard" and self.account else []


# Messages after a redirect are chosen by code, so a link can never make us say something else.
NOTICES = {
    "affiliate_added": "Affiliate added.", "status_changed": "Status changed.", "commission_saved": "Commission saved.",
    "conversions_updated": "Conversions updated.", "conversion_recorded": "Conversion recorded.",
    "paid": "Payout recorded; those conversions are now paid.", "settings_saved": "Settings saved.",
    "key_revoked": "API key revoked.", "user_removed": "User removed.", "payout_email_saved": "Payout email saved.",
    "owner_removed": "Owner removed. They have seen the webhook secret and the API keys: roll the secret in Stripe "
                     "and put the new one in Settings → Program, and revoke the keys they may have kept.",
    "webhook_secret_saved": "Webhook signing secret saved. Events signed with the previous one are refused from now "
                            "on: make sure your Stripe endpoint signs with this one.",
    "signed_out": "You are signed out.", "password_set": "Your password is set. Sign in with it.",
    "delivery_resent": "The event is queued to be sent again.",
    "conversions_partly_updated": "{changed} conversion(s) changed; {skipped} left as they were, as their status "
                                  "does not allow that action.",
    # A row's own action that was refused, by the refusal's code (conversions_status_action).
    "conversion_unchanged": "That conversion was left as it was: its status does not allow that action.",
    "conversion_unchanged_below_minimum": "That conversion was left as it was: its affiliate is owed less than "
                                          "the payout minimum.",
    "conversion_unchanged_disputed": "That conversion was left as it was: it is under an open dispute.",
    "conversion_unchanged_not_found": "That conversion was left as it was: this program has no such conversion.",
}


WAITING_EMAILS_SHOWN = 1000


def dashboard_banners(db, account_id):
    """What every dashboard page warns of: emails waiting because email is not configured, and
    webhook endpoints that were disabled after failing."""
    banners = []
    if mail_mode() is None:
        # Counted up to a bound: every dashboard page shows this, however long email has been off.
        waiting = db.execute("""SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE account_id = :a AND kind = 'email'
                                    AND status = 'pending' LIMIT :bound)""",
                             {"a": account_id, "bound": WAITING_EMAILS_SHOWN + 1}).fetchone()[0]
        count = f"{WAITING_EMAILS_SHOWN:,}+" if waiting > WAITING_EMAILS_SHOWN else f"{waiting}"
        banners.append(f"Email is not configured (AFFILUT_SMTP_URL): {count} "
                       f"{'email waits' if waiting == 1 else 'emails wait'} in the outbox. See Settings → Notifications.")
    for row in db.execute("""SELECT url FROM webhook_endpoints WHERE account_id = :a AND disabled_at IS NOT NULL
                             ORDER BY id""", {"a": account_id}):
        banners.append(f"The webhook endpoint {row['url']} is disabled after failing deliveries. See Settings → Webhooks.")
    return banners


def notice_text(query):
    """The message a redirect asked for by code; its counts, if any, are whole numbers from the query."""
    text = NOTICES.get(query.get("notice") or "")
    if text and "{" in text:
        counts = {name: query.get(name) or "" for name in ("changed", "skipped")}
        if not all(re.fullmatch(r"\d{1,6}", value) for value in counts.values()):
            return None
        text = text.format(**counts)
    return text


def render(name, page, code=200, **values):
    """A template from views/ as an HTML response (HTTP status `code`) that no cache keeps."""
    body = bottle.template(name, template_lookup=VIEWS_LOOKUP, page=page, money=format_money,
                           day=format_day, when=format_when, percent=format_rate,
                           changeable=conversion_changeable, **values)
    return HTTPResponse(body, code, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


def message_page(status, title, text, page=None, link=None):
    """A page that only says what happened, and where to go next: link, a (path, label), or else the
    way back to the start of the area it happened in. text is a string, or a tuple of strings whose
    second, fourth... are shown as code (a command to run)."""
    page = page or Page(get_db(), "public")
    return render("message", page, status, title=title, text=text, link=link or way_back())


def see_other(path, notice=None, **query):
    """Redirect after a form: 303 to a path of ours, with a notice code."""
    if notice:
        query["notice"] = notice
    query = {k: v for k, v in query.items() if v not in (None, "")}
    separator = "&" if "?" in path else "?"
    location = path + (separator + urllib.parse.urlencode(query) if query else "")
    return HTTPResponse(status=303, headers={"Location": location})


def here():
    """This request's path and query, for a form that posts back to where it was shown."""
    return request.fullpath + ("?" + request.query_string if request.query_string else "")


def local_path(target, default):
    """A `next` path only if it stays on this site: "/x" yes, "//evil" or "https://evil" no."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not _CONTROL_CHARS.search(target):
        return target
    return default


def form_error_message(error):
    """What a person reads when a form field is refused."""
    return error.message[:1].upper() + error.message[1:] + ("" if error.message.endswith(".") else ".")


def is_owner(page):
    """True when the signed-in merchant user is an owner of the program."""
    return page.user is not None and page.user["role"] == "owner"


def require_owner(page):
    """Refuse a member what only an owner may see or do: the webhook secret, API keys, the team,
    outbound webhooks."""
    if not is_owner(page):
        raise ApiError(403, "owner_only", "only an owner of this program can open this page or do this; "
                       "ask an owner of the program")


# What a page says at the top when a request is refused (as_refusal): 503 is a busy database.
PAGE_ERROR_TITLES = {403: "Owners only", 404: "Not found", 409: "That did not work", 429: "Slow down",
                     500: "Something went wrong", 503: "Please try again"}


# Signed-in pages take turns: at most PAGE_TURNS run at once. A page is mostly Python work that
# holds the GIL (its template, and as much again around it), and with a page on every thread a
# webhook, a link or an API call waits for the GIL again each time it comes back from SQLite or the
# socket; a page waiting for its turn waits idle, off the GIL. One turn: pages in all run no slower
# for it, as they share one GIL anyway. The server has more threads than turns (SERVER_THREADS), so
# requests that are not pages find a free thread while several clients load pages. The public pages
# (sign-in, setup, invites, resets) take no turn: their slow part is a password hash that anyone can
# ask for, which must not hold up signed-in people's pages. A streamed export takes a turn only
# until its handler returns: its body is sent after.
PAGE_TURNS = 1
_page_turns = threading.BoundedSemaphore(PAGE_TURNS)


def page_route(path, method="GET", area="dashboard"):
    """Route an HTML page of an area: 'dashboard' needs a merchant user, 'portal' an affiliate,
    'public' nobody. Every POST must carry the CSRF token (403 otherwise); refusals become pages.
    The handler gets (page, **url_args), on a signed-in area's page when its turn comes (PAGE_TURNS).
    """
    kind = {"dashboard": "user", "portal": "affiliate"}.get(area)
    turns = _page_turns if kind else contextlib.nullcontext()

    def decorate(handler):
        @functools.wraps(handler)
        def endpoint(**url_args):
            with turns:
                page = None
                try:
                    db = get_db()
                    session = load_session(db, kind, request.get_cookie(SESSION_COOKIES[kind])) if kind else None
                    page = Page(db, area if session or not kind else "public", session)
                    if kind and (session is None or (page.user or page.affiliate) is None):
                        target = "/signin" if kind == "user" else portal_signin_path()
                        next_path = here() if request.method == "GET" else None
                        return see_other(target, next=next_path if kind == "user" else None)
                    if request.method == "POST" and not csrf_valid(session):
                        return message_page(403, "This form has expired",
                                            "The form was missing its security token or it no longer matches. "
                                            "Go back, reload the page and try again.", page)
                    result = handler(page, **url_args)
                    if not session and page.csrf != request.get_cookie(CSRF_COOKIE):
                        set_cookie(result, CSRF_COOKIE, page.csrf)
                    return result
                except Exception as raised:
                    error = as_refusal(raised)
                    return message_page(error.status, PAGE_ERROR_TITLES.get(error.status, "That did not work"),
                                        form_error_message(error), page)
        app.route(path, method, endpoint)
        return handler
    return decorate


def signed_in_response(kind, subject_id, account_id, target):
    """Start a session for this person and send them on with its cookie, and with the device cookie
    that keeps this browser trusted for their sign-ins when their email is under attack."""
    token = create_session(get_db(), kind, subject_id, account_id)
    result = see_other(target)
    set_cookie(result, SESSION_COOKIES[kind], token, max_age=SESSION_MAX_MS // 1000)
    set_cookie(result, DEVICE_COOKIES[kind], device_token(get_db(), kind, subject_id), max_age=DEVICE_COOKIE_MAX_AGE)
    return result


def signed_out_response(kind, target):
    """End this person's session and send them on with its cookie cleared."""
    end_session(get_db(), request.get_cookie(SESSION_COOKIES[kind]))
    result = see_other(target, "signed_out")
    set_cookie(result, SESSION_COOKIES[kind], "", max_age=0)
    return result


def throttled_sign_in(email, check, reached_ceiling, known_device=lambda: False):
    """Run a password check for `email` (as the throttle keys it) unless this address must wait:
    (row, None, 200), or (None, what to say, status). reached_ceiling() runs when this failure was
    the one that took the email to the ceiling; known_device() says whether this browser carries the
    device cookie of the person with this email, which exempts it from the email's ceiling."""
    throttle, address = app.config["affilut.signin_throttle"], client_ip()
    keys = [("pair", (email, address)), ("ip", address), ("email", email)]
    wait = throttle.wait(keys)
    if wait and known_device():
        wait = throttle.wait(keys[:2])
    if wait:
        return None, f"Too many failed sign-ins. Try again in {wait} seconds.", 429
    row = check()
    if row is None:
        if throttle.failed(keys):
            reached_ceiling()
        return None, "That email and password do not match.", 401
    throttle.succeeded(keys)
    return row, None, 200


def posted_password(form):
    """The password a form posted twice, or a 400 when the two copies differ."""
    if form.get("password") != form.get("password_again"):
        raise invalid("password_again", "the two passwords differ")
    return form.get("password")


def sign_in_form(page, kind, account_id, target, **shown):
    """The sign-in page of merchant users (kind "user") or of one program's affiliates: the form, and
    on POST the throttled password check that signs the person in and sends them to target."""
    form, error, status = form_data(), None, 200
    if request.method == "POST":
        email, password = (form.get("email") or "").strip().lower(), form.get("password")
        if kind == "user":
            key, check = email, lambda: check_user_password(page.db, email, password)
        else:
            key, check = f"{account_id}:{email}", lambda: check_affiliate_password(page.db, account_id, email, password)
        person, error, status = throttled_sign_in(
            key, check, lambda: record_signin_ceiling(page.db, kind, email, account_id),
            lambda: known_device(page.db, kind, request.get_cookie(DEVICE_COOKIES[kind]), email, account_id))
        if person:
            return signed_in_response(kind, person["id"], person["account_id"], target)
    return render("signin", page, status, form=form, error=error, action=here(), **shown)


def csv_cell(value):
    """A CSV value a spreadsheet will not run: text starting with = + - @ gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_cell_sql(column):
    """csv_cell as an SQL expression over a column, for exports SQLite formats as it reads."""
    return (f"(CASE WHEN typeof({column}) = 'text' AND substr({column}, 1, 1) IN "
            f"('=', '+', '-', '@', char(9), char(13)) THEN '''' || {column} ELSE {column} END)")


def csv_response(filename, header, query, params, to_row=None):
    """A CSV download streamed row by row: the header goes out at once, then each batch of the
    query's rows as to_row writes them, so memory stays flat whatever the size. The rows are read on
    a connection of the body's own, opened when the first batch is wanted and closed when the last
    is sent or the client goes away (the request's connection may serve another request meanwhile).
    Header None writes no header row. Without to_row the query's columns are the cells, already
    formatted by SQLite (iso_time_sql, money_text_sql, csv_cell_sql), and Python only joins them."""
    path = app.config["affilut.db"]

    def body():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        if header:
            writer.writerow(header)
            yield out.getvalue().encode()
            out.seek(0), out.truncate()
        db = connect(path)
        if to_row is None:
            db.row_factory = None  # plain tuples, handed to the csv writer as they are
        try:
            cursor = db.execute(query, params)
            # A small first batch, so the first rows leave at once; then larger ones.
            batch = 100
            while rows := cursor.fetchmany(batch):
                batch = CSV_BATCH
                text = plain_csv_lines(rows) if to_row is None else None
                if text is None:
                    writer.writerows(rows if to_row is None else map(to_row, rows))
                    text = out.getvalue()
                    out.seek(0), out.truncate()
                yield text.encode()
        finally:
            db.close()
    return HTTPResponse(body(), 200, {"Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
                                      "Content-Disposition": f'attachment; filename="{filename}"'})


CSV_BATCH = 2000  # rows read and sent at a time


def plain_csv_lines(rows):
    """The lines csv.writer (minimal quoting, CRLF) writes for a query's rows of two or more cells, made by joining
    them, when every cell is text that needs no quotes; None when some cell does (a comma, a quote or a
    line break in it) or is not text (NULL, a number), for the writer to do. The writer's work on each
    cell is most of a big export's Python; a join costs a fraction of it, and a batch of rows whose
    separators, quotes and line ends count exactly as the join put them holds no cell that needed quoting."""
    width = len(rows[0]) if rows else 0
    if width < 2:  # a row of one empty cell is written as "" by the writer
        return None
    try:
        text = "\r\n".join(map(",".join, rows)) + "\r\n"
    except TypeError:
        return None
    lines = len(rows)
    if (text.count(",") != lines * (width - 1) or text.count("\n") != lines or text.count("\r") != lines
            or '"' in text):
        return None
    return text


def export_name(kind, chosen):
    """A download's file name that says what it holds: its kind, the day, then each filter."""
    parts = [kind, format_day(now_ms())] + [f"{name}-{value}" for name, value in sorted(chosen.items())]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "_".join(parts)) + ".csv"


def portal_signin_path(account_id=None):
    """The affiliate sign-in page of a program (of the only one, on a single-program install)."""
    return f"/portal/signin/{account_id}" if account_id else "/portal/signin"


###############################################################################
# API #########################################################################
###############################################################################


@api("GET", "/affiliates")
def api_list_affiliates(db, account):
    """The program's affiliates, newest first."""
    page, limit = paging()
    rows, has_more = list_affiliates(db, [], {"account": account["id"]}, page, limit,
                                     query_id("starting_after", "aff"))
    return page_envelope([affiliate_json(r) for r in rows], page, limit, has_more)


@api("POST", "/affiliates")
def api_create_affiliate(db, account):
    """Add an affiliate."""
    body = json_body()
    reject_unknown(body, ("name", "email", "status", "commission_override"))
    row = create_affiliate(db, account["id"], body.get("name"), body.get("email"),
                           body.get("status", "active"), body.get("commission_override"))
    return 201, affiliate_json(row)


@api("GET", "/affiliates/<affiliate_id>")
def api_get_affiliate(db, account, affiliate_id):
    """One affiliate."""
    row = get_affiliate(db, account["id"], affiliate_id)
    if row is None:
        raise not_found("affiliate", affiliate_id)
    return affiliate_json(row)


@api("PATCH", "/affiliates/<affiliate_id>")
def api_update_affiliate(db, account, affiliate_id):
    """Change an affiliate's name, status or commission override."""
    body = json_body()
    reject_unknown(body, ("name", "status", "commission_override"))
    return affiliate_json(update_affiliate(db, account["id"], affiliate_id, body))


@api("GET", "/conversions")
def api_list_conversions(db, account):
    """The program's conversions, newest first in the order recorded, by affiliate and status."""
    page, limit = paging()
    filters, params = [], {"account": account["id"]}
    if request.query.get("affiliate_id") is not None:
        filters.append("affiliate_id = :affiliate_id")
        params["affiliate_id"] = request.query.get("affiliate_id")
    if request.query.get("status") is not None:
        filters.append("status = :status")
        params["status"] = clean_choice(request.query.get("status"), "status", CONVERSION_STATUSES)
    # Test-mode conversions (from Stripe events with livemode: false) only when asked for: ?livemode=false.
    livemode = clean_choice(request.query.get("livemode", "true"), "livemode", ("true", "false")) == "true"
    rows, has_more = list_conversions(db, filters, params, page, limit, query_id("starting_after", "cnv"), livemode)
    return page_envelope([conversion_json(r) for r in rows], page, limit, has_more)


@api("POST", "/conversions")
def api_create_conversion(db, account):
    """Record a manual conversion; external_id makes it idempotent."""
    body = json_body()
    reject_unknown(body, ("affiliate_id", "amount_cents", "external_id"))
    if "affiliate_id" not in body:
        raise invalid("affiliate_id", "affiliate_id is required")
    if "amount_cents" not in body:
        raise invalid("amount_cents", "amount_cents is required")
    affiliate_id = clean_text(body["affiliate_id"], "affiliate_id", max_length=255)
    amount = clean_amount(body["amount_cents"])
    external_id = body.get("external_id")
    if external_id is not None:
        external_id = clean_text(external_id, "external_id", max_length=255)
    row = record_manual_conversion(db, account, affiliate_id, amount, external_id)
    return 201, conversion_json(row)


@api("GET", "/conversions/<conversion_id>")
def api_get_conversion(db, account, conversion_id):
    """One conversion."""
    row = get_conversion(db, account["id"], conversion_id)
    if row is None:
        raise not_found("conversion", conversion_id)
    return conversion_json(row)


@api("PATCH", "/conversions/<conversion_id>")
def api_update_conversion(db, account, conversion_id):
    """Approve, pay or reject a conversion, as its lifecycle allows."""
    body = json_body()
    reject_unknown(body, ("status", "reason"))
    if "status" not in body:
        raise invalid("status", "status is required")
    reason = clean_text(body.get("reason"), "reason", max_length=500, required=False)
    if body["status"] == "paid":  # a payout of this conversion alone, under the payouts' rules
        return conversion_json(pay_conversion(db, account, conversion_id))
    return conversion_json(set_conversion_status(db, account["id"], conversion_id, body["status"], reason))


@api("GET", "/webhook_endpoints")
def api_list_webhook_endpoints(db, account):
    """The program's outbound webhook endpoints, newest first (their secrets are never shown again)."""
    rows = db.execute("SELECT * FROM webhook_endpoints WHERE account_id = :a ORDER BY id DESC",
                      {"a": account["id"]}).fetchall()
    return {"data": [webhook_endpoint_json(r) for r in rows]}


@api("POST", "/webhook_endpoints")
def api_create_webhook_endpoint(db, account):
    """Add an outbound webhook endpoint; the answer holds its signing secret, this once."""
    body = json_body()
    reject_unknown(body, ("url", "events"))
    if "url" not in body:
        raise invalid("url", "url is required")
    if "events" not in body:
        raise invalid("events", "events is required")
    row, secret = create_webhook_endpoint(db, account["id"], body["url"], body["events"])
    return 201, webhook_endpoint_json(row, secret)


@api("GET", "/webhook_endpoints/<endpoint_id>")
def api_get_webhook_endpoint(db, account, endpoint_id):
    """One webhook endpoint."""
    row = get_webhook_endpoint(db, account["id"], endpoint_id)
    if row is None:
        raise not_found("webhook endpoint", endpoint_id)
    return webhook_endpoint_json(row)


@api("PATCH", "/webhook_endpoints/<endpoint_id>")
def api_update_webhook_endpoint(db, account, endpoint_id):
    """Change an endpoint's url, events, or status (enabled, disabled)."""
    body = json_body()
    reject_unknown(body, ("url", "events", "status"))
    return webhook_endpoint_json(update_webhook_endpoint(db, account["id"], endpoint_id, body))


@api("DELETE", "/webhook_endpoints/<endpoint_id>")
def api_delete_webhook_endpoint(db, account, endpoint_id):
    """Remove an endpoint; nothing more is sent to it."""
    delete_webhook_endpoint(db, account["id"], endpoint_id)
    return {"id": endpoint_id, "deleted": True}


@app.get("/healthz")
def healthz():
    """Liveness for monitors: 200 with the schema version while the database answers."""
    try:
        version = schema_version(get_db())
    except sqlite3.Error:
        return json_response(503, {"status": "unavailable"})
    return json_response(200, {"status": "ok", "schemaVersion": version})


OPENAPI_PATH = os.path.join(HERE, "openapi.json")


@functools.lru_cache(maxsize=1)
def openapi_text():
    """The hand-written OpenAPI document of /api/v1, read once (tests/test_contract.py keeps it true)."""
    with open(OPENAPI_PATH, encoding="utf-8") as f:
        return f.read()


@app.get("/api/v1/openapi.json")
def api_openapi():
    """The API's contract as OpenAPI 3.1; no key needed, so a client generator can fetch it."""
    return HTTPResponse(openapi_text(), 200, {"Content-Type": "application/json"})


###############################################################################
# Stripe webhook ##############################################################
###############################################################################


MAX_WEBHOOK_BODY = 1024 * 1024  # Stripe events are far smaller; an invoice with many lines stays under this
SIGNATURE_TOLERANCE_SECONDS = 300


def webhook_account(db, account_id):
    """The account a webhook is for and the secret that signs it, or an ApiError.

    STRIPE_WEBHOOK_SECRET serves an install with exactly one account, which may then also use
    /webhooks/stripe without its id.
    """
    if account_id is None:
        account = sole_account(db)
        if account is None:
            raise ApiError(404, "not_found", "with several accounts, use /webhooks/stripe/<account_id>")
    else:
        account = get_account(db, account_id)
        if account is None:
            raise not_found("account", account_id)
    secret = account["webhook_secret"]
    if not secret and (account_id is None or sole_account(db) is not None):
        secret = env_webhook_secret()
    if not secret:
        raise ApiError(400, "no_webhook_secret", "this account has no Stripe webhook secret configured")
    return account, secret


def verified_event(secret):
    """The request's Stripe event, once its signature is checked on the raw body; else an ApiError."""
    payload = read_body(MAX_WEBHOOK_BODY, "the event is too large")
    try:
        header = request.get_header("Stripe-Signature")
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
        # Stripe's "Check the webhook signatures" (Preventing replay attacks): the timestamp tolerance is
        # what keeps a captured delivery from being replayed. verify_header bounds only the past; a
        # timestamp in the future would stay replayable until then, so bound it the same way.
        signed_at = int([item.split("=", 2)[1] for item in header.split(",") if item.split("=", 2)[0] == "t"][0])
        if signed_at > time.time() + SIGNATURE_TOLERANCE_SECONDS:
            raise stripe.SignatureVerificationError(f"Timestamp in the future, outside the tolerance zone "
                                                    f"({signed_at})", header, payload)
        event = parse_json(payload)
    except stripe.SignatureVerificationError as error:
        raise ApiError(400, "invalid_signature", f"Stripe-Signature does not verify: {error.user_message or error}")
    except (UnicodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the event is not valid UTF-8 JSON")
    data = event.get("data") if isinstance(event, dict) else None
    if not (isinstance(event, dict) and event.get("object") == "event" and stripe_text(event.get("id"))
            and stripe_text(event.get("type")) and stripe_time_ms(event.get("created")) is not None
            and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise ApiError(400, "invalid_event", "the body is not a Stripe event")
    event["created_ms"] = stripe_time_ms(event["created"])
    return event


def receive_stripe_event(account_id=None):
    """Verify, record and settle one event. Handled or ignored → 200; a failure → 500 so Stripe
    retries, with nothing written, since each event runs in one transaction."""
    try:
        db = get_db()
        account, secret = webhook_account(db, account_id)
        event = verified_event(secret)
        fresh = process_stripe_event(db, account, event)
        handled = event["type"] in STRIPE_HANDLERS
        return json_response(200, {"received": True, "duplicate": not fresh, "handled": handled})
    except Exception as error:
        return error_response(error)


@app.post("/webhooks/stripe/<account_id>")
def stripe_webhook(account_id):
    """Stripe's webhook for one account: `stripe listen --forward-to host/webhooks/stripe/<account_id>`."""
    return receive_stripe_event(account_id)


@app.post("/webhooks/stripe")
def stripe_webhook_single_account():
    """Stripe's webhook on an install with exactly one account."""
    return receive_stripe_event()


###############################################################################
# Links and snippet ###########################################################
###############################################################################


BOT_USER_AGENT = re.compile(r"bot|crawl|spider|slurp|preview|facebookexternalhit|embedly|headless|monitor|"
                            r"curl|wget|python-requests|httpclient|go-http-client|scrapy", re.IGNORECASE)
_ip_salts = {}


def ip_hash(db, ip):
    """A salted hash of the visitor's IP: enough to spot repeats, never the address itself."""
    path = app.config["affilut.db"]
    if path not in _ip_salts:
        _ip_salts[path] = db.execute("SELECT value FROM settings WHERE name = 'ip_salt'").fetchone()[0]
    return hashlib.sha256(f"{_ip_salts[path]}:{ip}".encode()).hexdigest()[:32]


# What stays as it is in a Location: URL syntax and existing %-escapes; anything else (spaces,
# non-ASCII such as U+2028) is %-encoded as UTF-8, so a header only ever carries printable ASCII.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def landing_target(landing_url, to):
    """Where a link sends the visitor: `to` (a path or URL, decoded text) only on the landing URL's
    own origin; always as printable ASCII."""
    target = landing_url
    if to and not _CONTROL_CHARS.search(to) and len(to) <= 2000 and "\\" not in to:
        try:
            candidate = urllib.parse.urljoin(landing_url, to.strip())
            base, parts = urllib.parse.urlsplit(landing_url), urllib.parse.urlsplit(candidate)
        except ValueError:  # a host that NFKC-normalises into another one ("\uff0f" is "/")
            parts = None
        if parts and (parts.scheme, parts.netloc.lower()) == (base.scheme, base.netloc.lower()):
            target = candidate
    return urllib.parse.quote(target, safe=_URL_SAFE)


def with_referral(url, affiliate_id, click_id):
    """The URL with ref and aff_sess set (ref alone without a click), every other query parameter and the fragment kept."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if k not in ("ref", "aff_sess")]
    query += [("ref", affiliate_id)] + ([("aff_sess", click_id)] if click_id else [])
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def plain_page(status, title, text):
    """A styled page for a visitor who reached a dead end, with the page they came from as the way back."""
    referrer = request.get_header("Referer") or ""
    link = (referrer, "Back to the page you came from") if re.match(r"https?://", referrer) and \
        not _CONTROL_CHARS.search(referrer) else ("/", "Go to the start page")
    return HTTPResponse(dead_end_html(title, text, link), status,
                        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


CLICK_SESSION_MS = 30 * 60 * 1000  # a visitor's repeat clicks on one affiliate within this count once
MAX_CLICK_AGENT, MAX_CLICK_REFERRER = 300, 500  # characters kept of each


def record_click(db, account_id, affiliate_id, address, user_agent, referrer):
    """Count a visitor's click on an affiliate's link; return its click id. A repeat by the same
    visitor (address and user agent) within CLICK_SESSION_MS of the click it repeats is that click."""
    now = now_ms()
    with transaction(db) as tx:
        visitor = f"{ip_hash(tx, address)}:{hashlib.sha256(user_agent.encode()).hexdigest()[:16]}"
        window = now // CLICK_SESSION_MS
        visits = {"affiliate": affiliate_id, "this": f"{visitor}:{window}", "previous": f"{visitor}:{window - 1}"}
        recent = tx.execute("""SELECT id FROM clicks WHERE affiliate_id = :affiliate AND visit IN (:this, :previous)
                               AND created_at > :since ORDER BY created_at DESC LIMIT 1""",
                            {**visits, "since": now - CLICK_SESSION_MS}).fetchone()
        if recent:
            return recent["id"]
        # One row per visitor, affiliate and window: the unique index decides between racing requests.
        click_id = new_id("clk")
        inserted = tx.execute("""INSERT INTO clicks (id, account_id, affiliate_id, created_at, referrer, user_agent,
                                                     ip_hash, visit)
                                 VALUES (:id, :account, :affiliate, :now, :referrer, :agent, :ip, :this)
                                 ON CONFLICT (affiliate_id, visit) WHERE visit IS NOT NULL DO NOTHING""",
                              {**visits, "id": click_id, "account": account_id, "now": now,
                               "referrer": referrer[:MAX_CLICK_REFERRER] or None,
                               "agent": user_agent[:MAX_CLICK_AGENT], "ip": visitor.split(":")[0]})
        if inserted.rowcount == 0:
            return tx.execute("SELECT id FROM clicks WHERE affiliate_id = :affiliate AND visit = :this",
                              visits).fetchone()["id"]
    return click_id


def visitor_allowed(budget, message):
    """Spend one of this client address's tokens of a public route's budget, or refuse with a 429."""
    allowed, headers = app.config["affilut.visitor_limiter"].take(client_ip(), budget)
    if not allowed:
        raise ApiError(429, "rate_limited", message, headers={"Retry-After": headers["Retry-After"]})


@app.route("/r/<short_code>", method=["GET", "HEAD"])
def follow_link(short_code):
    """An affiliate's link: count the click and send the visitor to the program's landing page."""
    db = get_db()
    row = db.execute("""SELECT f.id, f.status, f.account_id, a.landing_url FROM affiliates f
                        JOIN accounts a ON a.id = f.account_id WHERE f.short_code = :code""",
                     {"code": short_code}).fetchone()
    if row is None:
        return plain_page(404, "Link not found", "This referral link does not exist.")
    if not row["landing_url"]:
        return plain_page(404, "No landing page", "This program has not set its landing page yet.")
    # getunicode: the parameter as UTF-8 text (None if it is not), not WSGI's latin-1 view of its bytes.
    target = landing_target(row["landing_url"], request.query.getunicode("to"))
    user_agent = request.get_header("User-Agent", "")
    is_bot = request.method == "HEAD" or not user_agent.strip() or BOT_USER_AGENT.search(user_agent)
    if row["status"] == "active" and not is_bot:
        click_id = None
        if app.config["affilut.visitor_limiter"].take(client_ip(), "click")[0]:
            try:
                click_id = record_click(db, row["account_id"], row["id"], client_ip(), user_agent,
                                        request.get_header("Referer") or "")
            except sqlite3.OperationalError as error:
                # A busy database or a full disk costs one click, never the visitor: they still
                # reach the merchant, credited to the affiliate by the referral parameter alone.
                sys.stderr.write(f"click not recorded for link {short_code}: {error}\n")
        target = with_referral(target, row["id"], click_id)
    return HTTPResponse(status=302, headers={"Location": target, "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer-when-downgrade"})


@app.get("/snippet.js")
def snippet():
    """The checkout snippet, for any merchant page to include from any origin."""
    res = bottle.static_file("snippet.js", root=HERE, mimetype="text/javascript", charset="utf-8")
    res.set_header("Cache-Control", "public, max-age=3600")
    res.set_header("Access-Control-Allow-Origin", "*")
    res.set_header("Cross-Origin-Resource-Policy", "cross-origin")
    res.set_header("X-Content-Type-Options", "nosniff")
    return res


###############################################################################
# Dashboard ###################################################################
###############################################################################


@app.get("/static/<filename:path>")
def static(filename):
    """The dashboard's own CSS and JS."""
    result = bottle.static_file(filename, root=STATIC_DIR)
    result.set_header("Cache-Control", "public, max-age=300")
    return result


@app.get("/")
def home():
    """Where a person starts: setup on a fresh install, else the dashboard or its sign-in."""
    db = get_db()
    if not has_merchant_user(db):
        return see_other("/setup")
    if load_session(db, "user", request.get_cookie(SESSION_COOKIES["user"])):
        return see_other("/dashboard")
    return see_other("/signin")


@page_route("/setup", ["GET", "POST"], area="public")
def setup_page(page):
    """First run, only through the link `serve` printed: the first owner, of a new program or of one
    made with the CLI (left as it is); gone once any user exists."""
    if has_merchant_user(page.db):
        return message_page(404, "Already set up", "This install already has a merchant user.", page,
                            link=("/signin", "Sign in"))
    form = form_data()
    token = form.get("token") if request.method == "POST" else query_data().get("token")
    if not setup_token_valid(page.db, token):
        return message_page(403, "Open the setup link",
                            ("For safety, this install is set up only through the one-time link that ",
                             "python affilut.py serve", " printed when it started: look in the server's output "
                             "for the line with /setup?token=. Restarting the server prints a new link."), page)
    accounts = page.db.execute("SELECT id, name FROM accounts ORDER BY id").fetchall()
    error = None
    if request.method == "POST":
        try:
            settings = {"name": form.get("name"), "default_commission": form.get("default_commission") or "10",
                        "landing_url": form.get("landing_url") or ""}
            account_id, user_id = setup_install(page.db, token, form.get("email"), form.get("password"),
                                                (form.get("account") or "") if accounts else None, settings)
            return signed_in_response("user", user_id, account_id, "/dashboard")
        except ApiError as refused:
            error = refused
    return render("setup", page, error.status if error else 200, form=form, error=error, token=token,
                  accounts=accounts)


@page_route("/signin", ["GET", "POST"], area="public")
def signin_page(page):
    """The merchant's sign-in."""
    if not has_merchant_user(page.db):
        return see_other("/setup")
    return sign_in_form(page, "user", None, local_path(query_data().get("next"), "/dashboard"),
                        title="Sign in to affilut", who="merchant")


@page_route("/signout", "POST")
def signout(page):
    """End the merchant's session."""
    return signed_out_response("user", "/signin")


@page_route("/invite/<token>", ["GET", "POST"], area="public")
def invite_page(page, token):
    """Accept an invite: the team member or affiliate chooses a password."""
    invite = open_invite(page.db, token)
    if invite is None:
        return message_page(404, "This link has expired", "Invite links work once and for seven days. "
                            "Ask for a new one.", page)
    account = get_account(page.db, invite["account_id"])
    if invite["kind"] == "user":
        who = get_user(page.db, invite["account_id"], invite["subject_id"])
    else:
        who = get_affiliate(page.db, invite["account_id"], invite["subject_id"])
    error = None
    if request.method == "POST":
        try:
            accept_invite(page.db, token, posted_password(form_data()))
            if invite["kind"] == "user":
                return signed_in_response("user", invite["subject_id"], invite["account_id"], "/dashboard")
            return signed_in_response("affiliate", invite["subject_id"], invite["account_id"], "/portal")
        except ApiError as refused:
            error = refused
    return render("invite", page, error.status if error else 200, invite=invite, account=account,
                  email=who["email"] if who else "", error=error)


@page_route("/dashboard")
def overview_page(page):
    """Overview: the last 30 days and all time, a daily chart, this month's top affiliates per currency."""
    account_id, now = page.account["id"], now_ms()
    return render("overview", page, recent=program_stats(page.db, account_id, recent_since(now)),
                  total=program_stats(page.db, account_id),
                  chart=daily_chart_svg(daily_series(page.db, account_id, now=now)),
                  top=top_affiliates(page.db, account_id, month_of(now)),
                  month=time.strftime("%B %Y", time.gmtime(now // 1000)),
                  pending=page.db.execute("""SELECT COUNT(*) FROM affiliates WHERE account_id = :a
                                             AND status = 'pending'""", {"a": account_id}).fetchone()[0],
                  ceilings=recent_signin_ceilings(page.db, account_id))


def daily_chart_svg(series, width=720, height=180):
    """Clicks (bars) and conversions (darker bars in front) per day, as inline SVG drawn here."""
    pad_left, pad_bottom, pad_top = 34, 22, 10
    plot_w, plot_h = width - pad_left - 6, height - pad_bottom - pad_top
    peak = max([max(c, v) for _, c, v in series] + [4])
    peak += peak % 2  # an even top keeps the middle gridline a whole number
    scale = plot_h / peak
    slot = plot_w / max(1, len(series))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Clicks and conversions per day, last {len(series)} days">']
    for fraction in (0, 0.5, 1):
        y = pad_top + plot_h - fraction * plot_h
        parts.append(f'<line class="grid" x1="{pad_left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{pad_left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{round(peak * fraction)}</text>')
    for i, (day_ms, clicks, conversions) in enumerate(series):
        x = pad_left + i * slot + slot * 0.15
        w = slot * 0.7
        label = html.escape(f"{format_day(day_ms)}: {clicks} clicks, {conversions} conversions")
        parts.append(f'<g><title>{label}</title>')
        parts.append(f'<rect class="clicks" x="{x:.1f}" y="{pad_top + plot_h - clicks * scale:.1f}" '
                     f'width="{w:.1f}" height="{clicks * scale:.1f}"/>')
        parts.append(f'<rect class="conversions" x="{x + w * 0.25:.1f}" '
                     f'y="{pad_top + plot_h - conversions * scale:.1f}" width="{w * 0.5:.1f}" '
                     f'height="{conversions * scale:.1f}"/></g>')
        if (i % 7 == 0 and i < len(series) - 4) or i == len(series) - 1:  # labels never overlap
            # The first and last labels align with their bar's outer edge, so neither runs off the chart.
            anchor, at = ("start", x) if i == 0 else ("end", x + w) if i == len(series) - 1 else ("middle", x + w / 2)
            parts.append(f'<text class="axis" x="{at:.1f}" y="{height - 6}" text-anchor="{anchor}">'
                         f'{time.strftime("%b %d", time.gmtime(day_ms // 1000))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def affiliate_filters(query):
    """SQL filters for the affiliates list from its search box and status menu."""
    filters, params = [], {}
    q = (query.get("q") or "").strip()[:100]
    if q:
        filters.append(r"(name LIKE :q ESCAPE '\' OR email LIKE :q ESCAPE '\' OR short_code LIKE :q ESCAPE '\')")
        params["q"] = "%" + re.sub(r"([\\%_])", r"\\\1", q) + "%"
    status = query.get("status") or ""
    if status in AFFILIATE_STATUSES:
        filters.append("status = :status")
        params["status"] = status
    return filters, params, q, status


def list_position(prefix):
    """Where a dashboard list stands: ?before=<id> pages older than that row, ?after=<id> newer
    (the API's starting_after and the list's ending_before); anything odd is the newest page."""
    before, after = (query_data().get(name) or "" for name in ("before", "after"))
    return (before if is_id(before, prefix) else None), (after if is_id(after, prefix) else None)


def pager_links(rows, has_more, before, after):
    """The older and newer links' ids of a dashboard list's page (None where there is nothing more)."""
    if not rows:
        # Every row past the cursor left the filter (or never matched): lead back the way the visitor
        # came, so an emptied page is never a dead end.
        return after, before
    # Older rows exist when more follow below, or when this page was reached going up from them;
    # newer ones when more follow above going up, or when going down started below the top.
    older = rows[-1]["id"] if has_more or after is not None else None
    newer = rows[0]["id"] if (has_more if after is not None else before is not None) else None
    return older, newer


@page_route("/dashboard/affiliates", ["GET", "POST"])
def affiliates_page(page):
    """Affiliates: search, filter by status, page through; add one (optionally with a portal invite)."""
    error, invite_link, created = None, None, None
    if request.method == "POST":
        form = form_data()
        try:
            override = (form.get("commission_override") or "").strip() or None
            status = "pending" if form.get("status") == "pending" else "active"
            created = create_affiliate(page.db, page.account["id"], form.get("name"), form.get("email"),
                                       status, override)
            if form.get("invite"):
                token = invite_affiliate(page.db, page.account["id"], created["id"], bool(form.get("send_email")))
                invite_link = f"{page.base}/invite/{token}"
            else:
                return see_other(f"/dashboard/affiliates/{created['id']}", "affiliate_added")
        except ApiError as refused:
            error = refused
    filters, params, q, status = affiliate_filters(query_data())
    before, after = list_position("aff")
    rows, has_more = list_affiliates(page.db, filters, {"account": page.account["id"], **params},
                                     1, DASHBOARD_PAGE_SIZE, before, after)
    older, newer = pager_links(rows, has_more, before, after)
    return render("affiliates", page, error.status if error else 200, rows=rows, older=older, newer=newer,
                  q=q, status=status, error=error, form=form_data(), invite_link=invite_link, created=created)


def affiliate_record(db, account_id, affiliate_id, payouts_shown):
    """What the merchant's page of an affiliate and the affiliate's own portal both show: the numbers
    of the last 30 days and of all time, earnings by status, the latest conversions and payouts."""
    return {"recent": program_stats(db, account_id, recent_since(), affiliate_id),
            "total": program_stats(db, account_id, None, affiliate_id),
            "earnings": earnings_by_status(db, account_id, affiliate_id),
            "conversions": list_conversions(db, ["affiliate_id = :affiliate"],
                                            {"account": account_id, "affiliate": affiliate_id}, 1, 20)[0],
            "payouts": list_payouts(db, account_id, affiliate_id, payouts_shown)}


@page_route("/dashboard/affiliates/<affiliate_id>", ["GET"])
def affiliate_page(page, affiliate_id, invite_link=None, error=None):
    """One affiliate: link, clicks, conversions, earnings, payouts, and what the merchant can change."""
    affiliate = get_affiliate(page.db, page.account["id"], affiliate_id)
    if affiliate is None:
        raise not_found("affiliate", affiliate_id)
    has_login = page.db.execute("SELECT 1 FROM affiliate_logins WHERE affiliate_id = :id",
                                {"id": affiliate_id}).fetchone() is not None
    return render("affiliate", page, error.status if error else 200, affiliate=affiliate,
                  invite_link=invite_link, has_login=has_login, error=error,
                  **affiliate_record(page.db, page.account["id"], affiliate_id, payouts_shown=20))


AFFILIATE_ACTIONS = {"approve": "active", "reactivate": "active", "pause": "paused", "ban": "banned"}


@page_route("/dashboard/affiliates/<affiliate_id>/status", "POST")
def affiliate_status_action(page, affiliate_id):
    """Approve, pause, ban or reactivate an affiliate."""
    action = form_data().get("action")
    if action not in AFFILIATE_ACTIONS:
        raise invalid("action", "choose approve, pause, ban or reactivate")
    set_affiliate_status(page.db, page.account["id"], affiliate_id, AFFILIATE_ACTIONS[action],
                         form_data().get("reason"))
    return see_other(local_path(form_data().get("back"), f"/dashboard/affiliates/{affiliate_id}"),
                     "status_changed")


@page_route("/dashboard/affiliates/<affiliate_id>/commission", "POST")
def affiliate_commission_action(page, affiliate_id):
    """Set or clear an affiliate's commission override."""
    value = (form_data().get("commission_override") or "").strip() or None
    try:
        update_affiliate(page.db, page.account["id"], affiliate_id, {"commission_override": value})
    except ApiError as error:
        if error.status != 400:
            raise
        return affiliate_page(page, affiliate_id, error=error)
    return see_other(f"/dashboard/affiliates/{affiliate_id}", "commission_saved")


@page_route("/dashboard/affiliates/<affiliate_id>/invite", "POST")
def affiliate_invite_action(page, affiliate_id):
    """A portal invite link for this affiliate, shown this once."""
    token = invite_affiliate(page.db, page.account["id"], affiliate_id, bool(form_data().get("send_email")))
    return affiliate_page(page, affiliate_id, invite_link=f"{page.base}/invite/{token}")


def conversion_filters(query):
    """SQL filters for the conversions list and its CSV from status, affiliate and dates (UTC)."""
    filters, params, chosen = [], {}, {}
    status = query.get("status") or ""
    if status in CONVERSION_STATUSES:
        filters.append("status = :status")
        params["status"] = chosen["status"] = status
    affiliate_id = (query.get("affiliate_id") or "").strip()
    if is_id(affiliate_id, "aff"):
        filters.append("affiliate_id = :affiliate")
        params["affiliate"] = chosen["affiliate_id"] = affiliate_id
    for name, op, shift in (("from", ">=", 0), ("to", "<", DAY_MS)):
        text = (query.get(name) or "").strip()
        try:
            stamp = calendar.timegm(time.strptime(text, "%Y-%m-%d")) * 1000 + shift
        except ValueError:
            continue
        filters.extend(date_window_filters(name, op))
        params[name], chosen[name] = stamp, text
    if query.get("test") == "1":  # the 'Test data' switch: Stripe test-mode conversions instead of live ones
        chosen["test"] = "1"
    return filters, params, chosen


# How far a conversion's created_at may lie below that of one recorded before it (schema.sql, migration 18).
CONVERSION_SKEW = "COALESCE((SELECT skew_ms FROM conversion_skew WHERE account_id = :account), 0)"


def date_window_filters(name, op):
    """The filters of one end of a date window (:from, created_at >= it, or :to, created_at < it) over a
    list ordered by seq. The window's rows lie in a range of seq whose ends two seeks in
    conversions_by_time find: a row more than the account's skew outside the window bounds it, as no
    row recorded beyond it can lie inside. So a window costs the same whatever its age, and the list
    still walks its own index by seq; created_at itself is compared as an expression (+ 0), so that no
    plan reads the whole window to sort it. Each filter starts with its column, as the CSV qualifies them."""
    if op == ">=":
        return [f"""seq > COALESCE((SELECT seq FROM conversions WHERE account_id = :account
                                    AND created_at < :{name} - {CONVERSION_SKEW} ORDER BY created_at DESC LIMIT 1), 0)""",
                f"created_at + 0 >= :{name}"]
    return [f"""seq < COALESCE((SELECT seq FROM conversions WHERE account_id = :account
                                AND created_at >= :{name} + {CONVERSION_SKEW} ORDER BY created_at LIMIT 1),
                               9223372036854775807)""",
            f"created_at + 0 < :{name}"]


def affiliate_names(db, account_id, ids):
    """{affiliate id: name} for these affiliates of the program (the ones a page shows)."""
    ids = sorted(set(ids))
    marks = {f"i{n}": affiliate_id for n, affiliate_id in enumerate(ids)}
    return {r["id"]: r["name"] for r in db.execute(
        f"SELECT id, name FROM affiliates WHERE account_id = :a AND id IN ({', '.join(':' + m for m in marks) or 'NULL'})",
        {"a": account_id, **marks})}


def chosen_affiliate(db, account_id, text):
    """The affiliate a person typed into a search field: its id (as the suggestions fill in), its
    email or its link's short code; None when none of the program's matches."""
    text = (text or "").strip()[:200]
    row = db.execute("""SELECT id, name FROM affiliates WHERE account_id = :a AND id = :t
                        UNION ALL SELECT id, name FROM affiliates WHERE account_id = :a AND email = :t
                        UNION ALL SELECT id, name FROM affiliates WHERE short_code = :t AND account_id = :a
                        LIMIT 1""", {"a": account_id, "t": text}).fetchone() if text else None
    return row


SUGGESTIONS = 10  # affiliates offered as a person types


@page_route("/dashboard/affiliates/suggest")
def affiliate_suggestions(page):
    """Up to SUGGESTIONS affiliates whose name, email or short code starts with ?q=, as JSON, for the
    search fields that pick an affiliate (a program may have thousands: never a menu of them all)."""
    q = (query_data().get("q") or "").strip()[:100]
    # Prefixes as ranges, so each is a seek in an index (name and email compare without case).
    params = {"a": page.account["id"], "lo": q, "hi": q + "\U0010ffff", "n": SUGGESTIONS if q else 0}
    rows = page.db.execute("""SELECT id, name, email FROM (
                                  SELECT * FROM (SELECT id, name, email FROM affiliates WHERE account_id = :a
                                                 AND name COLLATE NOCASE >= :lo AND name COLLATE NOCASE < :hi
                                                 ORDER BY name COLLATE NOCASE LIMIT :n)
                                  UNION SELECT * FROM (SELECT id, name, email FROM affiliates WHERE account_id = :a
                                                       AND email >= :lo AND email < :hi LIMIT :n)
                                  UNION SELECT * FROM (SELECT id, name, email FROM affiliates WHERE short_code >= :lo
                                                       AND short_code < :hi AND +account_id = :a LIMIT :n))
                              ORDER BY name COLLATE NOCASE, id LIMIT :n""", params).fetchall()
    rows = [{"id": r["id"], "name": r["name"], "email": r["email"]} for r in rows]
    return HTTPResponse(json.dumps(rows), 200, {"Content-Type": "application/json", "Cache-Control": "no-store"})


@page_route("/dashboard/conversions")
def conversions_page(page, error=None, form=None):
    """Conversions: filter, act on one or many, record a manual one, export the filter as CSV."""
    query = query_data()
    typed = (query.get("affiliate_id") or "").strip()
    found = chosen_affiliate(page.db, page.account["id"], typed)
    if typed and found is None:
        error = error or f"No affiliate of this program has the id, email or link code {typed[:100]!r}."
    filters, params, chosen = conversion_filters({**query, "affiliate_id": found["id"] if found else ""})
    before, after = list_position("cnv")
    rows, has_more = list_conversions(page.db, filters, {"account": page.account["id"], **params},
                                      1, DASHBOARD_PAGE_SIZE, before, livemode="test" not in chosen, ending_before=after)
    older, newer = pager_links(rows, has_more, before, after)
    # where an action on this page returns: the same filter and the same page of it
    position = {name: value for name, value in (("before", before), ("after", after)) if value}
    return render("conversions", page, error.status if isinstance(error, ApiError) else 200,
                  rows=rows, older=older, newer=newer, chosen=chosen, typed=typed,
                  chosen_name=found["name"] if found else None,
                  names=affiliate_names(page.db, page.account["id"], [r["affiliate_id"] for r in rows]), error=error,
                  form=form or {}, query=urllib.parse.urlencode(chosen),
                  back_query=urllib.parse.urlencode({**chosen, **position}))


CONVERSION_ACTIONS = {"approve": "approved", "reject": "rejected", "pay": "paid"}


@page_route("/dashboard/conversions/status", "POST")
def conversions_status_action(page):
    """Approve, reject (with a reason) or mark paid the checked conversions, each as its lifecycle allows."""
    action, ids = form_data().get("action"), form_data().getall("id")[:500]
    if form_data().get("row_action"):  # a row's own button acts on that row alone
        action, _, single = form_data().get("row_action").partition(":")
        ids = [single]
    if action not in CONVERSION_ACTIONS:
        raise invalid("action", "choose approve, reject or mark paid")
    if not ids:
        raise invalid("id", "tick at least one conversion")
    reason = clean_text(form_data().get("reason") or None, "reason", max_length=500, required=False)
    changed, refused = 0, []
    for conversion_id in ids:
        try:
            if action == "pay":  # each one a payout of its own, under the payouts' rules
                pay_conversion(page.db, page.account, conversion_id, actor="dashboard", user_id=page.user["id"])
            else:
                set_conversion_status(page.db, page.account["id"], conversion_id, CONVERSION_ACTIONS[action],
                                      reason, actor="dashboard")
            changed += 1
        except ApiError as error:
            refused.append(error.code)
    back = local_path(form_data().get("back"), "/dashboard/conversions")
    if refused and not changed and form_data().get("row_action"):  # back on the list, saying why
        notice = f"conversion_unchanged_{refused[0]}"
        return see_other(back, notice if notice in NOTICES else "conversion_unchanged")
    # A bulk action changes the ticked rows it can and leaves the rest (a paid one cannot be approved):
    # back on the list, a message says how many of each.
    if refused:
        return see_other(back, "conversions_partly_updated", changed=changed, skipped=len(refused))
    return see_other(back, "conversions_updated")


@page_route("/dashboard/conversions/new", "POST")
def conversion_create_action(page):
    """Record a manual conversion, e.g. a sale paid outside Stripe."""
    form = form_data()
    try:
        amount = parse_money(form.get("amount"), "amount")
        external_id = clean_text((form.get("external_id") or "").strip() or None, "external_id", 255, required=False)
        typed = (form.get("affiliate_id") or "").strip()
        found = chosen_affiliate(page.db, page.account["id"], typed)
        record_manual_conversion(page.db, page.account, found["id"] if found else typed, amount, external_id)
    except ApiError as error:
        if error.status in (400, 404, 409):
            return conversions_page(page, error=error, form=form)
        raise
    return see_other("/dashboard/conversions", "conversion_recorded")


@page_route("/dashboard/conversions.csv")
def conversions_csv(page):
    """Every conversion the current filter shows, as CSV."""
    filters, params, chosen = conversion_filters(query_data())
    filters.append("livemode = 0" if "test" in chosen else LIVE_LEDGER)
    where = " AND ".join(["c.account_id = :account"] + ["c." + f for f in filters])
    return csv_response(export_name("conversions", chosen),
                        ["id", "created_at", "affiliate_id", "affiliate_name", "affiliate_email", "kind", "status",
                         "amount", "commission", "currency", "commission_rate", "external_id", "stripe_charge_id",
                         "reason", "payout_id"],
                        # SQLite formats every cell as it reads: a million rows leave at its pace, not Python's.
                        # Empty text for NULL (the writer writes None as nothing) keeps a batch for the join.
                        f"""SELECT c.id, {iso_time_sql("c.created_at")}, c.affiliate_id, {csv_cell_sql("f.name")},
                                   {csv_cell_sql("f.email")}, c.kind, c.status,
                                   {money_text_sql("c.amount_cents", "c.currency")},
                                   {money_text_sql("c.commission_cents", "c.currency")}, upper(c.currency),
                                   c.commission_rate, COALESCE({csv_cell_sql("c.external_id")}, ''),
                                   {csv_cell_sql("c.stripe_charge_id")}, COALESCE({csv_cell_sql("c.reason")}, ''),
                                   COALESCE(c.payout_id, '')
                            FROM conversions c JOIN affiliates f ON f.id = c.affiliate_id
                            WHERE {where} ORDER BY c.seq DESC""",
                        {"account": page.account["id"], **params})


@page_route("/dashboard/payouts", ["GET", "POST"])
def payouts_page(page):
    """Payouts: what each affiliate is owed, marking it paid, and the history."""
    if request.method == "POST":
        items = []
        for value in form_data().getall("item")[:1000]:
            parts = value.split(":")
            if len(parts) != 3:
                raise invalid("item", "the payout form is malformed; reload the page")
            items.append(tuple(parts))
        if not items:
            raise invalid("item", "choose at least one affiliate to pay")
        mark_payouts_paid(page.db, page.account, items, page.user["id"], form_data().get("note"))
        return see_other("/dashboard/payouts", "paid")
    # Keyset paging: ?after=<affiliate id>:<currency> of the last item on the previous page, and the
    # history's own ?before=<payout id> of the last payout shown.
    after = (query_data().get("after") or "").partition(":")[::2]
    due = due_payouts(page.db, page.account, after, DASHBOARD_PAGE_SIZE + 1)
    more = len(due) > DASHBOARD_PAGE_SIZE
    due = due[:DASHBOARD_PAGE_SIZE]
    before = query_data().get("before") or None
    history = list_payouts(page.db, page.account["id"], limit=DASHBOARD_PAGE_SIZE + 1, before=before)
    older = history[DASHBOARD_PAGE_SIZE - 1]["id"] if len(history) > DASHBOARD_PAGE_SIZE else None
    return render("payouts", page, due=due, history=history[:DASHBOARD_PAGE_SIZE], newest=before is None,
                  older=older, first=not any(after),
                  next_after=f"{due[-1]['affiliate_id']}:{due[-1]['currency']}" if more else None,
                  currencies=owed_currencies(page.db, page.account["id"]))


@page_route("/dashboard/payouts/due.csv")
def payouts_due_csv(page):
    """What is owed and over the minimum: PayPal Payouts' bulk upload file (one currency), or a generic CSV."""
    account = page.account
    query = """SELECT b.affiliate_id, b.currency, b.conversions, b.commission_cents, f.name, f.email,
                      COALESCE(f.payout_email, f.email) AS paid_to
               FROM payable_balances b JOIN affiliates f ON f.id = b.affiliate_id
               WHERE b.account_id = :account AND b.conversions > 0 AND b.commission_cents >= :floor
                 AND (:currency IS NULL OR b.currency = :currency)
               ORDER BY b.affiliate_id, b.currency"""
    params = {"account": account["id"], "floor": payout_floor(account), "currency": None}
    if query_data().get("format") == "paypal":
        # PayPal's web upload: no header; recipient, amount, currency, customer id, note, wallet.
        currency = query_data().get("currency") or next(iter(owed_currencies(page.db, account["id"])), "usd")
        if not re.fullmatch(r"[A-Za-z]{3}", currency):  # it goes into the filename header
            raise invalid("currency", "the currency must be a three-letter code such as usd")
        currency = currency.lower()
        note = csv_cell(f"Affiliate commission from {account['name']}"[:400])
        return csv_response(f"paypal-payouts-{currency}-{format_day(now_ms())}.csv", None, query,
                            {**params, "currency": currency},
                            lambda r: [csv_cell(r["paid_to"]), money_text(r["commission_cents"], currency),
                                       currency.upper(), r["affiliate_id"], note, "PAYPAL"])
    return csv_response(f"payouts-due-{format_day(now_ms())}.csv",
                        ["affiliate_id", "name", "email", "payout_email", "amount", "currency", "conversions"],
                        query, params,
                        lambda r: [r["affiliate_id"], csv_cell(r["name"]), csv_cell(r["email"]), csv_cell(r["paid_to"]),
                                   money_text(r["commission_cents"], r["currency"]), r["currency"].upper(),
                                   r["conversions"]])


@page_route("/dashboard/payouts/history.csv")
def payouts_history_csv(page):
    """Every payout recorded, as CSV."""
    return csv_response(f"payouts-{format_day(now_ms())}.csv",
                        ["payout_id", "paid_at", "affiliate_id", "name", "paid_to", "amount", "currency",
                         "conversions", "note"],
                        """SELECT p.*, f.name AS affiliate_name FROM payouts p JOIN affiliates f ON f.id = p.affiliate_id
                           WHERE p.account_id = :account ORDER BY p.id DESC""", {"account": page.account["id"]},
                        lambda r: [r["id"], iso_time(r["created_at"]), r["affiliate_id"], csv_cell(r["affiliate_name"]),
                                   csv_cell(r["paid_to"]), money_text(r["amount_cents"], r["currency"]),
                                   r["currency"].upper(), r["conversion_count"], csv_cell(r["note"])])


@page_route("/dashboard/settings", ["GET", "POST"])
def settings_page(page):
    """Settings → Program: the program's rules, the Stripe webhook and the checkout snippet."""
    error, form = None, None
    if request.method == "POST":
        form = form_data()
        try:
            update_program(page.db, page.account["id"], form)
            return see_other("/dashboard/settings", "settings_saved")
        except ApiError as refused:
            error = refused
    return settings_view(page, form, error)


def settings_view(page, form=None, error=None, secret_error=None):
    """Settings → Program as shown: the form as posted (else as stored), and the webhook secret to owners only."""
    account = page.account
    form = form or {
        "name": account["name"], "default_commission": account["default_commission"],
        "landing_url": account["landing_url"], "attribution_window_days": str(account["attribution_window_days"]),
        "hold_days": str(account["hold_days"]),
        "renewal_months": "" if account["renewal_months"] is None else str(account["renewal_months"]),
        "payout_minimum": money_text(account["payout_minimum_cents"])}
    snippet = (f'<script src="{page.base}/snippet.js" '
               f'data-attribution-days="{account["attribution_window_days"]}"></script>')
    status = (error or secret_error).status if (error or secret_error) else 200
    return render("settings", page, status, form=form, error=error, snippet=snippet,
                  checkout_code=CHECKOUT_CODE, secret_error=secret_error,
                  webhook_secret=account["webhook_secret"] if is_owner(page) else None,
                  webhook_url=f"{page.base}/webhooks/stripe/{account['id']}",
                  join_url=f"{page.base}/join/{account['id']}")


@page_route("/dashboard/settings/webhook-secret", "POST")
def webhook_secret_action(page):
    """Settings → Program, owners only: put in the webhook signing secret, or replace it by a rolled one."""
    require_owner(page)
    try:
        rotate_webhook_secret(page.db, page.account["id"], form_data().get("webhook_secret"))
    except ApiError as refused:
        return settings_view(page, secret_error=refused)
    return see_other("/dashboard/settings", "webhook_secret_saved")


# What the merchant's checkout does with the referral snippet.js kept (Settings → Program).
CHECKOUT_CODE = """// In the browser, send this with the order to your server:
var referral = window.affilut.metadata();  // {affiliate_id, affiliate_session_id} or {}

// On your server, creating the Stripe Checkout Session:
//   mode "payment":      payment_intent_data: {metadata: referral}
//   mode "subscription": metadata: referral, client_reference_id: referral.affiliate_id,
//                        subscription_data: {metadata: {affiliate_id: referral.affiliate_id}}"""


@page_route("/dashboard/settings/keys", ["GET", "POST"])
def keys_page(page):
    """Settings → API Keys, owners only: create one (its plaintext shown this once), see them all, revoke."""
    require_owner(page)
    created, error = None, None
    if request.method == "POST":
        try:
            created = create_api_key(page.db, page.account["id"], (form_data().get("name") or "").strip())[1]
        except ApiError as refused:
            error = refused
    keys = page.db.execute("SELECT * FROM api_keys WHERE account_id = :a ORDER BY id DESC",
                           {"a": page.account["id"]}).fetchall()
    return render("keys", page, error.status if error else 200, keys=keys, created=created, error=error)


@page_route("/dashboard/settings/keys/<key_id>/revoke", "POST")
def key_revoke_action(page, key_id):
    """Revoke an API key of this program (owners only)."""
    require_owner(page)
    if not revoke_api_key(page.db, page.account["id"], key_id):
        raise not_found("live API key", key_id)
    return see_other("/dashboard/settings/keys", "key_revoked")


@page_route("/dashboard/settings/team", ["GET", "POST"])
def team_page(page):
    """Settings → Team, owners only: the program's users; invite one with a set-password link shown once."""
    require_owner(page)
    invite_link, error = None, None
    if request.method == "POST":
        try:
            form = form_data()
            token = invite_user(page.db, page.account["id"], form.get("email"), form.get("role") or "member",
                                bool(form.get("send_email")))[1]
            invite_link = f"{page.base}/invite/{token}"
        except ApiError as refused:
            error = refused
    users = page.db.execute("SELECT * FROM users WHERE account_id = :a ORDER BY id",
                            {"a": page.account["id"]}).fetchall()
    return render("team", page, error.status if error else 200, users=users, invite_link=invite_link, error=error)


@page_route("/dashboard/settings/team/<user_id>/remove", "POST")
def team_remove_action(page, user_id):
    """Remove a team member (owners only, not yourself, never the last owner)."""
    require_owner(page)
    if user_id == page.user["id"]:
        raise ApiError(409, "self", "you cannot remove yourself")
    removed = remove_user(page.db, page.account["id"], user_id)
    # an owner saw the webhook secret and may have kept API keys: the notice says what to rotate
    return see_other("/dashboard/settings/team", "owner_removed" if removed["role"] == "owner" else "user_removed")


@page_route("/dashboard/settings/webhooks", ["GET", "POST"])
def webhooks_page(page):
    """Settings → Webhooks, owners only: every endpoint with its recent deliveries; add one (its secret
    shown once)."""
    require_owner(page)
    created, error = None, None
    if request.method == "POST":
        form = form_data()
        try:
            created = create_webhook_endpoint(page.db, page.account["id"], (form.get("url") or "").strip(),
                                              form.getall("events"))
        except ApiError as refused:
            error = refused
    endpoints = page.db.execute("SELECT * FROM webhook_endpoints WHERE account_id = :a ORDER BY id DESC",
                                {"a": page.account["id"]}).fetchall()
    deliveries = {e["id"]: page.db.execute(
        """SELECT o.*, (SELECT response_code FROM outbox_attempts a WHERE a.message_id = o.id
                        ORDER BY attempt DESC LIMIT 1) AS response_code,
                       (SELECT COALESCE(finished_at, started_at) FROM outbox_attempts a WHERE a.message_id = o.id
                        ORDER BY attempt DESC LIMIT 1) AS attempted_at
           FROM outbox o WHERE o.endpoint_id = :id ORDER BY o.id DESC LIMIT 10""", {"id": e["id"]}).fetchall()
        for e in endpoints}
    return render("webhooks", page, error.status if error else 200, endpoints=endpoints, deliveries=deliveries,
                  subscribed={e["id"]: json.loads(e["events"]) for e in endpoints},
                  created=created, error=error, events=WEBHOOK_EVENTS, form=form_data())


@page_route("/dashboard/settings/webhooks/<endpoint_id>/<action>", "POST")
def webhook_endpoint_action(page, endpoint_id, action):
    """Enable, disable or delete an endpoint (owners only)."""
    require_owner(page)
    if action == "delete":
        delete_webhook_endpoint(page.db, page.account["id"], endpoint_id)
    elif action in ("enable", "disable"):
        update_webhook_endpoint(page.db, page.account["id"], endpoint_id, {"status": action + "d"})
    else:
        raise not_found("action", action)
    return see_other("/dashboard/settings/webhooks", "settings_saved")


@page_route("/dashboard/settings/webhooks/deliveries/<delivery_id>/resend", "POST")
def webhook_resend_action(page, delivery_id):
    """Send a delivery's event again, as a new delivery with the same event id and body (owners only)."""
    require_owner(page)
    resend_delivery(page.db, page.account["id"], delivery_id)
    return see_other("/dashboard/settings/webhooks", "delivery_resent")


@page_route("/dashboard/settings/notifications", ["GET", "POST"])
def notifications_page(page):
    """Settings → Notifications: whether email is configured, my digest, and the program's emails."""
    if request.method == "POST":
        set_mail_preference(page.db, page.user["id"], "daily_digest", form_data().get("daily_digest") == "1")
        return see_other("/dashboard/settings/notifications", "settings_saved")
    emails = page.db.execute("""SELECT id, recipient, subject, status, attempts, created_at, sent_at, last_error
                                FROM outbox WHERE account_id = :a AND kind = 'email' ORDER BY id DESC LIMIT 100""",
                             {"a": page.account["id"]}).fetchall()
    return render("notifications", page, emails=emails, mode=mail_mode(),
                  digest=mail_wanted(page.db, page.user["id"], "daily_digest"))


def reset_request_page(page, kind, account=None):
    """'Forgot password?': the same answer whether or not the email belongs to anyone."""
    if request.method == "POST":
        request_password_reset(page.db, kind, form_data().get("email"), account and account["id"])
        return message_page(200, "Check your email",
                            "If that address belongs to an account here, we sent it a link to choose a new "
                            "password. The link works once, for one hour.", page)
    back = portal_signin_path(account["id"]) if account else "/signin"
    return render("forgot", page, account=account, back=back)


@page_route("/forgot", ["GET", "POST"], area="public")
def forgot_page(page):
    """A merchant user asks for a password reset link."""
    return reset_request_page(page, "user")


@page_route("/reset/<token>", ["GET", "POST"], area="public")
def reset_page(page, token):
    """Choose a new password through a reset link; every other session of that person ends."""
    reset = open_password_reset(page.db, token)
    if reset is None:
        return message_page(404, "This link has expired", "Password reset links work once and for one hour. "
                            "Ask for a new one from the sign-in page.", page)
    error = None
    if request.method == "POST":
        try:
            complete_password_reset(page.db, token, posted_password(form_data()))
            target = "/dashboard" if reset["kind"] == "user" else "/portal"
            return signed_in_response(reset["kind"], reset["subject_id"], reset["account_id"], target)
        except ApiError as refused:
            error = refused
    return render("reset", page, error.status if error else 200, error=error)


###############################################################################
# Portal ######################################################################
###############################################################################


@page_route("/portal/forgot/<account_id>", ["GET", "POST"], area="public")
def portal_forgot_page(page, account_id):
    """An affiliate of this program asks for a password reset link."""
    account = get_account(page.db, account_id)
    if account is None:
        return message_page(404, "No such program", "This link does not belong to any program.", page)
    return reset_request_page(page, "affiliate", account)


@page_route("/join/<account_id>", ["GET", "POST"], area="public")
def join_page(page, account_id):
    """A program's public sign-up: name, email, password → a pending affiliate, signed in."""
    account = get_account(page.db, account_id)
    if account is None:
        return message_page(404, "No such program", "This sign-up link does not belong to any program.", page)
    error = None
    if request.method == "POST":
        form = form_data()
        try:
            affiliate = join_program(page.db, account_id, form.get("name"), form.get("email"), posted_password(form),
                                     admit=lambda: visitor_allowed("join", "too many sign-ups from your address; "
                                                                           "wait a minute and try again"))
            return signed_in_response("affiliate", affiliate["id"], account_id, "/portal")
        except ApiError as refused:
            error = refused
            if refused.code == "duplicate_email":
                error = invalid("email", "this email has already joined; sign in instead")
    return render("join", page, error.status if error else 200, account=account, form=form_data(), error=error)


@page_route("/portal/signin", ["GET", "POST"], area="public")
@page_route("/portal/signin/<account_id>", ["GET", "POST"], area="public")
def portal_signin_page(page, account_id=None):
    """Affiliates sign in per program; with one program the plain address is enough."""
    if account_id is None:
        only = sole_account(page.db)
        if only is None:
            return message_page(404, "Which program?", "Use the sign-in link your program gave you.", page)
        return see_other(portal_signin_path(only["id"]))
    account = get_account(page.db, account_id)
    if account is None:
        return message_page(404, "No such program", "This sign-in link does not belong to any program.", page)
    return sign_in_form(page, "affiliate", account_id, "/portal", title=f"{account['name']} affiliates",
                        who="affiliate", account=account)


@page_route("/portal/signout", "POST", area="portal")
def portal_signout(page):
    """End the affiliate's session."""
    return signed_out_response("affiliate", portal_signin_path(page.account["id"]))


@page_route("/portal", ["GET"], area="portal")
def portal_page(page, error=None):
    """The affiliate's own page: their link and link builder, numbers, earnings, payouts, payout email."""
    affiliate, account = page.affiliate, page.account
    link = f"{page.base}/r/{affiliate['short_code']}"
    to = (query_data().get("to") or "").strip()[:2000]
    return render("portal", page, error.status if error else 200, affiliate=affiliate, link=link, to=to,
                  commission_emails=mail_wanted(page.db, affiliate["id"], "new_commission"),
                  built=f"{link}?{urllib.parse.urlencode({'to': to})}" if to else "", error=error,
                  **affiliate_record(page.db, account["id"], affiliate["id"], payouts_shown=50))


@page_route("/portal/payout-email", "POST", area="portal")
def portal_payout_email_action(page):
    """The affiliate sets where their payouts go."""
    try:
        email = clean_email(form_data().get("payout_email"), "payout_email")
    except ApiError as error:
        return portal_page(page, error=error)
    with transaction(page.db) as tx:
        tx.execute("""UPDATE affiliates SET payout_email = :email, updated_at = :now
                      WHERE id = :id AND account_id = :a""",
                   {"email": email, "now": now_ms(), "id": page.affiliate["id"], "a": page.account["id"]})
    return see_other("/portal", "payout_email_saved")


@page_route("/portal/notifications", "POST", area="portal")
def portal_notifications_action(page):
    """The affiliate turns new-commission emails on or off."""
    set_mail_preference(page.db, page.affiliate["id"], "new_commission", form_data().get("new_commission") == "1")
    return see_other("/portal", "settings_saved")


###############################################################################
# Outbox delivery #############################################################
###############################################################################


# A few daemon threads per process and database send what the outbox holds: each claims a due row
# (see schema.sql, migration 14), sends it, and records the attempt. Sent at least once: a process
# that dies after sending and before recording sends again once the lease runs out, which receivers
# absorb by the message's stable id.
#
# A destination (a webhook endpoint, or the SMTP server for every email) has one attempt in flight
# at a time, across all processes: a slow or hanging receiver holds one thread however many messages
# wait for it, the other threads serve everyone else, and no endpoint gets several events at once.

WEBHOOK_TIMEOUT_SECONDS = 10        # a 2xx within this is success
SMTP_TIMEOUT_SECONDS = 30
LEASE_MS = {"webhook": (WEBHOOK_TIMEOUT_SECONDS + 5) * 1000, "email": (SMTP_TIMEOUT_SECONDS * 2 + 5) * 1000}
OUTBOX_POLL_SECONDS = 1.0           # how often an idle worker looks for due rows (other processes may add them)
OUTBOX_THREADS = 4                  # delivery threads per process and database: destinations sent to at once
WEBHOOK_RESPONSE_KEPT = 64 * 1024   # bytes of a receiver's answer read before the connection is closed


# The rows of a kind in flight: claimed and leased until a time still to come (a finished attempt
# clears its claim_token; a dead claimant's row is due again, no longer in flight, once its lease ends).
OUTBOX_IN_FLIGHT = """SELECT {column} FROM outbox WHERE status = 'pending' AND kind = :kind AND claim_token IS NOT NULL
                          AND next_attempt_at > :now AND next_attempt_at <= :now + :lease"""


def oldest_due(db, kinds, now):
    """The oldest due row of these kinds whose destination has no attempt in flight, or None."""
    free = {"webhook": "endpoint_id NOT IN ({} AND endpoint_id IS NOT NULL)".format(
                OUTBOX_IN_FLIGHT.format(column="endpoint_id")),
            "email": "NOT EXISTS ({})".format(OUTBOX_IN_FLIGHT.format(column="1"))}
    due = [db.execute(f"""SELECT id, next_attempt_at FROM outbox WHERE status = 'pending' AND kind = :kind
                          AND next_attempt_at <= :now AND {free[kind]} ORDER BY next_attempt_at LIMIT 1""",
                      {"kind": kind, "now": now, "lease": LEASE_MS[kind]}).fetchone() for kind in kinds]
    due = [row for row in due if row is not None]
    return min(due, key=lambda row: row["next_attempt_at"]) if due else None


def claim_due(db, now=None):
    """Claim the next due row for one attempt; return it (with its attempt number and claim token), or None.

    One UPDATE under BEGIN IMMEDIATE picks and leases the row, so two processes or threads never
    claim one attempt. Emails are left waiting while no way to send them is configured."""
    now = now_ms() if now is None else now
    kinds = ("webhook", "email") if mail_mode() is not None else ("webhook",)
    if oldest_due(db, kinds, now) is None:  # the idle worker's poll is a read on an index, and takes no write lock
        return None
    with transaction(db) as tx:
        # Chosen again under the lock: another thread or process may have claimed the row seen above,
        # and then the next one is taken rather than none.
        oldest = oldest_due(tx, kinds, now)
        if oldest is None:
            return None
        row = tx.execute("""UPDATE outbox SET claim_token = :token, attempts = attempts + 1,
                                next_attempt_at = :now + CASE kind WHEN 'email' THEN :email_lease ELSE :hook_lease END
                            WHERE id = :id AND status = 'pending' AND next_attempt_at <= :now
                            RETURNING *""",
                         {"token": secrets.token_hex(12), "now": now, "id": oldest["id"],
                          "email_lease": LEASE_MS["email"], "hook_lease": LEASE_MS["webhook"]}).fetchone()
        if row is None:
            return None
        tx.execute("""INSERT INTO outbox_attempts (message_id, attempt, started_at) VALUES (:id, :attempt, :now)""",
                   {"id": row["id"], "attempt": row["attempts"], "now": now})
    return row


def finish_attempt(db, row, ok, code=None, error=None, permanent=False):
    """Record how a claimed attempt ended: sent, retried later with backoff, or given up (and a
    webhook endpoint that failed for OUTBOX_RETRY_WINDOW_MS disabled). Nothing is recorded when the
    claim was lost (this process outlived its lease and another took the row)."""
    now = now_ms()
    with transaction(db) as tx:
        current = tx.execute("SELECT claim_token, status, created_at FROM outbox WHERE id = :id",
                             {"id": row["id"]}).fetchone()
        if current is None or current["claim_token"] != row["claim_token"] or current["status"] != "pending":
            return
        tx.execute("""UPDATE outbox_attempts SET finished_at = :now, ok = :ok, response_code = :code, error = :error
                      WHERE message_id = :id AND attempt = :attempt""",
                   {"now": now, "ok": int(ok), "code": code, "error": error and error[:500], "id": row["id"],
                    "attempt": row["attempts"]})
        given_up = not ok and (permanent or now - current["created_at"] >= OUTBOX_RETRY_WINDOW_MS)
        tx.execute("""UPDATE outbox SET status = :status, sent_at = CASE WHEN :ok THEN :now END, last_error = :error,
                          next_attempt_at = :next, claim_token = NULL,
                          body = CASE WHEN sensitive AND :done THEN '' ELSE body END
                      WHERE id = :id""",
                   {"status": "sent" if ok else "failed" if given_up else "pending", "ok": int(ok), "now": now,
                    "error": None if ok else (error or f"status {code}")[:500], "done": int(ok or given_up),
                    "next": now if ok or given_up else now + retry_delay_ms(row["attempts"]), "id": row["id"]})
        if given_up and row["kind"] == "webhook":
            endpoint_disabled(tx, row["account_id"], row["endpoint_id"],
                              f"deliveries failed for 3 days; the last: {(error or f'status {code}')[:200]}")


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a host name that connects to one address checked beforehand, so DNS
    cannot answer differently between the check and the connection. TLS still verifies the
    certificate against the host name, which is also the SNI and the Host header."""

    def __init__(self, host, port, address, timeout, tls):
        super().__init__(host, port, timeout=timeout)
        self.address, self.tls = address, tls

    def connect(self):
        """Connect to the checked address, not to whatever the name resolves to now."""
        sock = socket.create_connection((self.address, self.port), self.timeout)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def webhook_address(host, port):
    """The address to connect to for a webhook's host: resolved now, every answer checked, unless
    AFFILUT_WEBHOOK_ALLOW_PRIVATE=1; raise ValueError naming the refused address."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    if not webhook_allows("PRIVATE"):
        for address in addresses:
            if forbidden_address(address):
                raise ValueError(f"{host} resolves to {address}, a loopback, private or link-local address")
    return addresses[0]


def webhook_signature(secret, body, timestamp):
    """Affilut-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>"> with the endpoint's secret,
    Stripe's scheme (https://docs.stripe.com/webhooks#verify-manually), so Stripe's verifiers work."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def send_webhook(db, row):
    """POST one delivery; return (ok, response code, error, permanent). Redirects are not followed."""
    endpoint = db.execute("SELECT * FROM webhook_endpoints WHERE id = :id", {"id": row["endpoint_id"]}).fetchone()
    if endpoint is None or endpoint["disabled_at"]:
        return False, None, "endpoint disabled or deleted", True
    parts = urllib.parse.urlsplit(endpoint["url"])
    tls = parts.scheme == "https"
    if not tls and not webhook_allows("HTTP"):
        return False, None, "http:// targets need AFFILUT_WEBHOOK_ALLOW_HTTP=1", False
    port = parts.port or (443 if tls else 80)
    started = time.monotonic()
    try:
        address = webhook_address(parts.hostname, port)
        conn = PinnedConnection(parts.hostname, port, address, WEBHOOK_TIMEOUT_SECONDS, tls)
        try:
            conn.request("POST", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                         body=row["body"].encode(),
                         headers={"Content-Type": "application/json", "User-Agent": "affilut-webhooks/1",
                                  "Affilut-Signature": webhook_signature(endpoint["secret"], row["body"],
                                                                         int(time.time()))})
            response = conn.getresponse()
            response.read(WEBHOOK_RESPONSE_KEPT)
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException) as error:
        return False, None, f"{type(error).__name__}: {error}", False
    if time.monotonic() - started > WEBHOOK_TIMEOUT_SECONDS:
        return False, response.status, f"answered after more than {WEBHOOK_TIMEOUT_SECONDS} s", False
    ok = 200 <= response.status < 300
    return ok, response.status, None if ok else f"status {response.status}", False


def email_message(db, row, sender):
    """The MIME message of a queued email: From the program's name, plain text and HTML parts, and
    a Message-ID made of the row's id, which stays the same when a retry sends it again."""
    parts = json.loads(row["body"])
    account = get_account(db, row["account_id"]) if row["account_id"] else None
    message = email.message.EmailMessage()
    message["Subject"] = row["subject"]
    message["From"] = email.utils.formataddr((account["name"] if account else "affilut", sender))
    message["To"] = row["recipient"]
    message["Date"] = email.utils.formatdate(row["created_at"] / 1000, usegmt=True)
    message["Message-ID"] = f"<{row['event_id']}@{sender.rpartition('@')[2]}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(parts["text"])
    message.add_alternative(parts["html"], subtype="html")
    return message


def send_email(db, row):
    """Send one email by SMTP (or write it to the log under --print-mail); return (ok, code, error, permanent).

    A refusal with a 5xx code is permanent; anything else is tried again."""
    settings = mail_settings() if mail_mode() == "smtp" else None
    if settings is None:
        sys.stderr.write(f"--- email {row['id']} to {row['recipient']}: {row['subject']}\n"
                         f"{json.loads(row['body'])['text']}--- end of email {row['id']}\n")
        return True, None, None, False
    message = email_message(db, row, settings["sender"])
    try:
        if settings["tls"]:
            client = smtplib.SMTP_SSL(settings["host"], settings["port"], timeout=SMTP_TIMEOUT_SECONDS,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings["host"], settings["port"], timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if settings["user"]:
                if not settings["tls"]:
                    client.starttls(context=ssl.create_default_context())
                client.login(settings["user"], settings["password"])
            client.send_message(message, from_addr=settings["sender"], to_addrs=[row["recipient"]])
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        return False, code, f"{code} {text.decode(errors='replace')}", code >= 500
    except smtplib.SMTPResponseException as error:
        return False, error.smtp_code, f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}", \
            error.smtp_code >= 500 and not isinstance(error, smtplib.SMTPAuthenticationError)
    except (OSError, smtplib.SMTPException) as error:
        return False, None, f"{type(error).__name__}: {error}", False
    return True, 250, None, False


def deliver_due(db, limit=None):
    """Send due rows one after another until none is due (or `limit` were tried); return how many were tried."""
    tried = 0
    while limit is None or tried < limit:
        row = claim_due(db)
        if row is None:
            break
        try:
            sender = send_email if row["kind"] == "email" else send_webhook
            ok, code, error, permanent = sender(db, row)
        except Exception as failure:  # a bug in one message must not stop the others
            traceback.print_exception(failure, file=sys.stderr)
            ok, code, error, permanent = False, None, f"{type(failure).__name__}", False
        finish_attempt(db, row, ok, code, error, permanent)
        tried += 1
    return tried


def run_outbox(path, stopping, digests=True):
    """Background duty: deliver the outbox, and (with digests) queue each day's digests, until stopping is set."""
    db = connect(path)
    digest_day = None
    while not stopping.is_set():
        tried = 0
        try:
            if digests and digest_day != now_ms() // DAY_MS:
                queue_digests(db)
                digest_day = now_ms() // DAY_MS
            tried = deliver_due(db, limit=100)
        except sqlite3.Error as error:
            sys.stderr.write(f"outbox: {error}; will retry\n")
        except Exception as error:
            traceback.print_exception(error, file=sys.stderr)
        if not tried:
            _outbox_wake.wait(OUTBOX_POLL_SECONDS)
            _outbox_wake.clear()


_outbox_workers = {}
_outbox_workers_guard = threading.Lock()


def start_outbox_worker(path):
    """Start this process's OUTBOX_THREADS delivery threads for the database at path, once; later
    calls do nothing. Return the event that stops them all.

    Claims are atomic, so no two threads (or processes) send one attempt; the first thread alone
    queues the daily digests, whose dedupe key keeps other processes from queueing them again."""
    if path in _outbox_workers:  # asked on every request: a dict lookup
        return _outbox_workers[path]
    with _outbox_workers_guard:
        if path in _outbox_workers:
            return _outbox_workers[path]
        stopping = threading.Event()
        for n in range(OUTBOX_THREADS):
            threading.Thread(target=run_outbox, args=(path, stopping, n == 0), daemon=True,
                             name=f"affilut-outbox-{n}").start()
        _outbox_workers[path] = stopping
        return stopping


###############################################################################
# Serving #####################################################################
###############################################################################


def start_background_duties(path):
    """What runs beside the requests, once per process and database, however the app is served
    (`python affilut.py serve` or `waitress-serve affilut:app`): the hold period's approvals
    (every affilut.hold_every seconds; 0 leaves them to `approve-held`) with the planner's statistics
    refresh, which runs either way, and the outbox's delivery
    threads (app.config["affilut.background"] = False keeps them off: tests drive delivery themselves).
    Each starts once per database and answers later calls with a dict lookup."""
    start_hold_period(path, app.config["affilut.hold_every"])
    if app.config.get("affilut.background", True):
        start_outbox_worker(path)


@app.hook("before_request")
def background_duties_on_first_use():
    """However the app is served, its first request starts the background duties for its database."""
    start_background_duties(app.config["affilut.db"])


# At a request's start, never during one: the handler uses the thread's connection until it returns.
# A streamed export reads on after that, but through a connection csv_response opens for its body, so
# reopening the thread's connection never cuts an export short.
app.hook("before_request")(plans_with_newest_statistics)


def url_host(host):
    """A host as it stands in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


# Requests served at once: a slow one (a big export) never holds up the rest, and as pages take
# at most PAGE_TURNS of them, webhooks, links and the API find a free thread beside a few page loads.
SERVER_THREADS = 8
# Open connections waitress keeps, idle ones included: enough that several hundred idle or trickling
# clients still leave room for everyone else, few enough for the file descriptors of a small VPS
# (each connection may hold up to three: its socket and two spooled buffers).
CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT = 30  # seconds a connection may sit idle before waitress closes it
# The largest body any route takes is a Stripe event; waitress answers a longer declared (or
# chunked) body with its own 413 before reading it, so nothing larger is ever spooled to disk.
MAX_REQUEST_BODY = MAX_WEBHOOK_BODY + 1  # waitress refuses a body of this many bytes or more
# What a reverse proxy may say of the request it passes on. Only X-Forwarded-For, -Proto and -Host
# are believed, and only from a trusted proxy; the app never sees any of these headers.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                 "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_BY", "HTTP_FORWARDED")
_FORWARDED_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def proxy_addresses(text):
    """The set of addresses in a comma-separated list (AFFILUT_TRUSTED_PROXY, --trusted-proxy)."""
    addresses = set()
    for item in (text or "").split(","):
        if item.strip():
            try:
                addresses.add(str(ipaddress.ip_address(item.strip().strip("[]"))))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{item.strip()!r} is not an IP address") from None
    return frozenset(addresses)


def believe_proxy(environ, said):
    """Apply what a trusted proxy said (header name -> value) to the WSGI environ; ValueError if it makes no sense."""
    # The proxy appends the address it saw to whatever the client sent: only its own, last entry is known.
    client = said["HTTP_X_FORWARDED_FOR"].split(",")[-1].strip()
    if client:
        try:
            environ["REMOTE_ADDR"] = environ["REMOTE_HOST"] = str(ipaddress.ip_address(client.strip("[]")))
        except ValueError:
            raise ValueError("X-Forwarded-For does not end in an IP address") from None
    proto = said["HTTP_X_FORWARDED_PROTO"].lower()
    if proto:
        if proto not in ("http", "https"):
            raise ValueError(f"X-Forwarded-Proto must be http or https, not {proto!r}")
        environ["wsgi.url_scheme"] = proto
    host = said["HTTP_X_FORWARDED_HOST"].split(",")[-1].strip()
    if host:
        if not _FORWARDED_HOST.fullmatch(host):
            raise ValueError("X-Forwarded-Host is not a host name")
        environ["HTTP_HOST"] = host


def behind_proxies(wsgi_app, proxies):
    """WSGI middleware: the client's address, scheme and host as a trusted proxy reports them.

    From a peer in `proxies` X-Forwarded-For, -Proto and -Host become REMOTE_ADDR, wsgi.url_scheme
    and HTTP_HOST; from anyone else they are dropped. waitress's own trusted_proxy setting takes one
    address (or "*"), and its middleware wraps the application from outside, where a list cannot be
    checked first; so waitress passes the headers through untouched and this does its job.
    """
    def proxied(environ, start_response):
        said = {name: environ.pop(name, "").strip() for name in PROXY_HEADERS}
        if environ.get("REMOTE_ADDR") in proxies:
            try:
                believe_proxy(environ, said)
            except ValueError as error:
                start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
                return [f"400 Bad Request\n{error}\n".encode()]
        return wsgi_app(environ, start_response)
    return proxied


def raise_open_file_limit(connections):
    """Let the process open the descriptors its connections may need, up to the system's hard limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3 * connections + 100  # a socket and two spooled buffers each, and the databases and logs
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            sys.stderr.write(f"affilut: only {raised} open files allowed (ulimit -n); "
                             f"{connections} connections may need {wanted}\n")


_SECRET_IN_PATH = re.compile(r"(/(?:invite|reset)/)[^/]+", re.IGNORECASE)


def loggable_path(path):
    """The path as the log shows it: the token of an invite or reset link works like a password."""
    return _SECRET_IN_PATH.sub(r"\1…", path)


def log_safe(text):
    """Text from a request (WSGI hands it over as Latin-1) as one log line can hold it: read as the
    UTF-8 it usually is, with every control or unprintable character (and the backslash that escapes
    them) written as a Python escape, so a %-encoded CR LF cannot add lines of its own to the log nor
    an escape sequence reach the terminal that shows it."""
    with contextlib.suppress(UnicodeError):
        text = text.encode("latin-1").decode("utf-8")
    return "".join(c if c.isprintable() and c != "\\" else ascii(c)[1:-1] for c in text)


def log_requests(wsgi_app):
    """WSGI middleware: one line per request with method, path (secrets redacted), status and milliseconds."""
    def logged(environ, start_response):
        started, seen = time.perf_counter(), {}

        def start(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)
        try:
            return wsgi_app(environ, start)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            sys.stderr.write(f"{log_safe(environ['REQUEST_METHOD'])} {log_safe(loggable_path(environ.get('PATH_INFO', '')))} "
                             f"{seen.get('status', '-')} {elapsed:.1f}ms\n")
    return logged


STATISTICS_EVERY_SECONDS = 3600


def run_hold_period(path, stopping, every_seconds=60):
    """Background duty of the server: approve conversions whose hold period has passed (every
    every_seconds; 0 leaves that to `approve-held`), and keep the query planner's statistics fresh
    as the tables grow, whether or not it approves."""
    db = connect(path)
    analyzed = time.monotonic()
    try:
        while not stopping.wait(every_seconds or STATISTICS_EVERY_SECONDS):
            try:
                if every_seconds:
                    approve_held_conversions(db)
                if not every_seconds or time.monotonic() - analyzed >= STATISTICS_EVERY_SECONDS:
                    refresh_statistics(db)
                    analyzed = time.monotonic()
            except sqlite3.Error as error:
                sys.stderr.write(f"hold period: {error}; will retry\n")
    finally:
        db.close()


_hold_duties = {}            # database path → the Event that stops this process's duty for it
_hold_duties_guard = threading.Lock()


def start_hold_period(path, every_seconds):
    """Start this process's hold-period duty for the database at path, once; later calls do nothing.

    Approving twice is harmless (approve_held_conversions checks the status it changes), so several
    processes on one database, each with its duty, or a cron job beside them, agree. With every_seconds
    0 the duty still runs, only to refresh the planner's statistics."""
    if path in _hold_duties:
        return
    with _hold_duties_guard:
        if path in _hold_duties:
            return
        stopping = _hold_duties[path] = threading.Event()
    threading.Thread(target=run_hold_period, args=(path, stopping, every_seconds), daemon=True,
                     name="affilut-hold-period").start()


def stop_hold_period():
    """Stop every hold-period duty this process started (at shutdown, and between tests)."""
    with _hold_duties_guard:
        stopping = list(_hold_duties.values())
        _hold_duties.clear()
    for event in stopping:
        event.set()


def serve(args):
    """Serve until SIGTERM or Ctrl-C, then close cleanly."""
    app.config["affilut.db"] = args.db
    app.config["affilut.print_mail"] = getattr(args, "print_mail", False)
    try:
        mail_settings()  # refuse a malformed AFFILUT_SMTP_URL now rather than at the first email
    except ApiError as error:
        raise SystemExit(f"affilut: error: {error.message}")
    version = init_db(args.db)
    with _migrate_lock:  # so the first request does not migrate again
        _migrated_paths.add(args.db)
    raise_open_file_limit(args.connection_limit)
    try:
        # poll(), unlike select(), watches descriptors numbered past 1024, which a thousand connections reach.
        server = waitress.create_server(log_requests(behind_proxies(app, args.trusted_proxy)), host=args.host,
                                        port=args.port, threads=SERVER_THREADS, asyncore_use_poll=True,
                                        connection_limit=args.connection_limit, channel_timeout=args.channel_timeout,
                                        cleanup_interval=min(10, args.channel_timeout),
                                        max_request_body_size=MAX_REQUEST_BODY, clear_untrusted_proxy_headers=False)
    except (OSError, ValueError) as error:  # the port is taken, the address is not this machine's, ...
        reason = getattr(error, "strerror", None) or str(error)
        sys.stderr.write(f"affilut: error: cannot listen on {url_host(args.host)}:{args.port}: {reason}\n")
        return 2

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    address = f"http://{url_host(args.host)}:{server.effective_port}"
    print(f"affilut serving {address}/ "
          f"(database {os.path.abspath(args.db)}, schema version {version})", flush=True)
    db = connect(args.db)
    try:
        token = new_setup_token(db)  # the first owner is made only through this link
    finally:
        db.close()
    if token:
        print(f"no merchant user yet: open {env_base_url() or address}/setup?token={token} "
              "(it works once; each start prints a new one)", flush=True)
    start_background_duties(args.db)  # as a first request would; started once either way
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop_hold_period()
        server.close()
        print("affilut stopped", flush=True)


###############################################################################
# Command line ################################################################
###############################################################################


class CliParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"affilut: error: {message}\n")
        sys.exit(2)


def positive_int(text):
    """argparse type: a whole number from 1 to SETTING_INT_MAX, by the environment's rule (setting_int)."""
    number = setting_int(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {SETTING_INT_MAX}, not {text!r}")
    return number


def cli_port(value):
    """--port: a TCP port from 1 to 65535, or 0 for any free one."""
    if not re.fullmatch(r"\d{1,5}", value.strip()) or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, or 0 for any free port, not {value!r}")
    return int(value)


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def cli_host(value):
    """--host: an IP address, or a host name of RFC 1123 labels whose last is not all digits
    (so 999.1.1.1 is neither)."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(value))
    labels = (value[:-1] if value.endswith(".") else value).split(".")
    if len(value) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit():
        return value
    raise argparse.ArgumentTypeError(f"must be an IP address or a host name, not {value!r}")


def cli_base_url(value):
    """--base-url: the public address links start with."""
    if not BASE_URL_PATTERN.fullmatch(value.strip()):
        raise argparse.ArgumentTypeError(f"must be an absolute http:// or https:// URL, not {value!r}")
    return value.strip().rstrip("/")


def cli_parser():
    """The command line: serve (the default) and the bootstrap commands."""
    db_default = os.environ.get("AFFILUT_DB", "affilut.db")
    db_help = "SQLite database file (default: $AFFILUT_DB or affilut.db)"
    parser = CliParser(prog="affilut.py", description="affilut: a self-hosted affiliate-program server.")
    commands = parser.add_subparsers(dest="command", parser_class=CliParser)

    # Options may stand before or after the command: a command's own copies default to nothing,
    # so they never overwrite what was given before it.
    parser.add_argument("--version", action="version", version=f"affilut {__version__}")
    parser.add_argument("--db", default=db_default, help=db_help)
    parser.add_argument("--host", type=cli_host, default="127.0.0.1")
    parser.add_argument("--port", type=cli_port, default=8080)
    parser.add_argument("--trusted-proxy", type=proxy_addresses, default=os.environ.get("AFFILUT_TRUSTED_PROXY", ""))
    parser.add_argument("--connection-limit", type=positive_int,
                        default=os.environ.get("AFFILUT_CONNECTION_LIMIT") or str(CONNECTION_LIMIT))
    parser.add_argument("--channel-timeout", type=positive_int,
                        default=os.environ.get("AFFILUT_CHANNEL_TIMEOUT") or str(CHANNEL_TIMEOUT))

    def command(name, help_text):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--db", default=argparse.SUPPRESS, help=db_help)
        return sub

    serve = command("serve", "serve the web app and API with waitress (the default command)")
    serve.add_argument("--host", type=cli_host, default=argparse.SUPPRESS,
                       help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=cli_port, default=argparse.SUPPRESS,
                       help="port to listen on, 0 for any free one (default 8080)")
    serve.add_argument("--trusted-proxy", type=proxy_addresses, default=argparse.SUPPRESS, metavar="ADDRESSES",
                       help="comma-separated addresses of reverse proxies whose X-Forwarded-For, -Proto and "
                            "-Host are believed (default: $AFFILUT_TRUSTED_PROXY, else none)")
    serve.add_argument("--connection-limit", type=positive_int, default=argparse.SUPPRESS, metavar="N",
                       help=f"open connections kept at once (default: $AFFILUT_CONNECTION_LIMIT or {CONNECTION_LIMIT})")
    serve.add_argument("--channel-timeout", type=positive_int, default=argparse.SUPPRESS, metavar="SECONDS",
                       help=f"idle seconds before a connection is closed "
                            f"(default: $AFFILUT_CHANNEL_TIMEOUT or {CHANNEL_TIMEOUT})")
    serve.add_argument("--print-mail", action="store_true",
                       help="without AFFILUT_SMTP_URL, write emails to the log instead of keeping them queued")

    # The program settings' options, for create-account (with their defaults) and update-account
    # (without: only what is given changes). Their values are checked by clean_program_settings.
    def program_options(sub, defaults):
        def option(flag, default, help_text):
            sub.add_argument(flag, default=default if defaults else None, help=help_text)
        option("--commission", "10", "default commission percent (default 10)")
        option("--landing-url", "", "where affiliate links send visitors")
        option("--webhook-secret", None, "the Stripe webhook signing secret, whsec_...")
        option("--attribution-days", "60", "how long a click is remembered, 1-3650 days (default 60)")
        option("--hold-days", "30", "days before pending conversions are approved, 0-3650 (default 30)")
        option("--renewal-months", None, "months of renewals that earn commission, 0-1200 (default: forever)")
        option("--payout-minimum", "0", "the least amount paid out to an affiliate, like 50.00 (default 0)")

    account = command("create-account", "create a merchant's program; prints its id")
    account.add_argument("--name", required=True)
    program_options(account, defaults=True)

    update = command("update-account", "change a program's settings; only the options given change")
    update.add_argument("--account", required=True)
    update.add_argument("--name")
    program_options(update, defaults=False)

    command("accounts", "list the programs: id, name, created, users (tab-separated)")

    user = command("create-user", "add a dashboard user to a program; prints a one-time set-password link")
    user.add_argument("--account", required=True)
    user.add_argument("--email", required=True)
    user.add_argument("--role", choices=ROLES,
                      help="owner or member (default: owner for a program without one, else member)")
    user.add_argument("--base-url", type=cli_base_url,
                      help="the public address the link starts with (default: $AFFILUT_BASE_URL, "
                           "else http://127.0.0.1:8080)")

    key = command("create-key", "create an API key; prints the plaintext key, shown once")
    key.add_argument("--account", required=True)
    key.add_argument("--name", default="", help="a label for the key")

    affiliate = command("create-affiliate", "create an affiliate; prints it as the API's JSON")
    affiliate.add_argument("--account", required=True)
    affiliate.add_argument("--name", required=True)
    affiliate.add_argument("--email", required=True)
    affiliate.add_argument("--status", default="active", choices=AFFILIATE_STATUSES)
    affiliate.add_argument("--commission-override", help="percent; default: the program's commission")

    status = command("set-affiliate-status", "approve, pause, ban or reactivate an affiliate; prints it as JSON")
    status.add_argument("--account", required=True)
    status.add_argument("--affiliate", required=True, help="the affiliate's id")
    status.add_argument("--status", required=True, choices=AFFILIATE_STATUSES)
    status.add_argument("--reason", help="why it is paused or banned, shown to the affiliate (other statuses clear it)")

    command("approve-held", "approve the conversions whose hold period has passed, once (for cron or a systemd timer)")

    reset = command("reset-password", "make a one-time password reset link (valid one hour); prints it last")
    reset.add_argument("--email", required=True, help="the merchant user's or affiliate's email")
    reset.add_argument("--account", help="the program (acc_...), for an affiliate in several programs")

    backup = command("backup", "copy the database to PATH, consistently, while the server runs")
    backup.add_argument("path", metavar="PATH", help="the copy to write (replaced if it exists)")
    return parser


def backup_database(db_path, target):
    """Copy db_path to target with SQLite's online backup API; return the copy's row counts.

    The copy is taken in one step, a single read transaction, so it is the database at one instant;
    in WAL mode the server keeps writing meanwhile. It is written beside target and renamed into
    place only once checked, so target is never half a copy.
    """
    if not os.path.exists(db_path):
        raise ApiError(404, "not_found", f"no database at {db_path}")
    target = os.path.abspath(target)
    if os.path.exists(target) and os.path.samefile(db_path, target):
        raise ApiError(400, "invalid_parameter", "the backup must not be the database itself", "path")
    partial = target + ".partial"
    for leftover in (partial, partial + "-journal"):
        if os.path.exists(leftover):
            os.remove(leftover)
    source, copy = connect(db_path), sqlite3.connect(partial, isolation_level=None)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError(f"the copy at {partial} failed its integrity check")
        counts = {table: copy.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("accounts", "affiliates", "conversions")}
    finally:
        copy.close()
        source.close()
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, target)
    return counts


# update-account's options and the settings they change (see clean_program_settings).
CLI_PROGRAM_OPTIONS = {"name": "name", "commission": "default_commission", "landing_url": "landing_url",
                       "webhook_secret": "webhook_secret", "attribution_days": "attribution_window_days",
                       "hold_days": "hold_days", "renewal_months": "renewal_months",
                       "payout_minimum": "payout_minimum"}


def run_command(args):
    """Carry out one bootstrap command against args.db; return what to print."""
    if args.command == "backup":
        counts = backup_database(args.db, args.path)
        summary = ", ".join(f"{n} {table}" for table, n in counts.items())
        return f"backed up {args.db} ({summary}) to:\n{os.path.abspath(args.path)}"
    init_db(args.db)
    db = connect(args.db)
    try:
        if args.command == "create-account":
            account_id = create_account(db, args.name, args.commission, args.landing_url, args.webhook_secret,
                                        args.attribution_days, args.hold_days, args.renewal_months,
                                        args.payout_minimum)
            return f"created account {args.name!r}\n{account_id}"
        if args.command == "update-account":
            values = {setting: getattr(args, option) for option, setting in CLI_PROGRAM_OPTIONS.items()
                      if getattr(args, option) is not None}
            if not values:
                raise invalid(None, "give at least one setting to change, like --name or --commission")
            account = update_account(db, args.account, values)
            return f"updated account {account['name']!r}: {', '.join(sorted(values))}\n{account['id']}"
        if args.command == "accounts":
            rows = db.execute("""SELECT a.id, a.name, a.created_at, COUNT(u.id) AS users
                                 FROM accounts a LEFT JOIN users u ON u.account_id = a.id
                                 GROUP BY a.id ORDER BY a.id""").fetchall()
            return "\n".join(["id\tname\tcreated\tusers"] +
                             [f"{r['id']}\t{r['name']}\t{iso_time(r['created_at'])}\t{r['users']}" for r in rows])
        if args.command == "create-user":
            base = args.base_url or env_base_url() or LOCAL_BASE_URL  # a CLI has no request to ask
            user_id, token = invite_user(db, args.account, args.email, args.role)
            role = get_user(db, args.account, user_id)["role"]
            return (f"created user {args.email.strip()} ({role}) of {args.account}; send them this link to choose "
                    f"a password (it works once, for {INVITE_TTL_MS // DAY_MS} days):\n{base}/invite/{token}")
        if args.command == "create-key":
            key_id, plaintext = create_api_key(db, args.account, args.name)
            return f"created API key {key_id}; store it now, it is not shown again:\n{plaintext}"
        if args.command == "create-affiliate":
            row = create_affiliate(db, args.account, args.name, args.email, args.status, args.commission_override)
            return json.dumps(affiliate_json(row))
        if args.command == "set-affiliate-status":
            row = set_affiliate_status(db, args.account, args.affiliate, args.status, args.reason)
            return json.dumps({**affiliate_json(row), "statusReason": row["status_reason"]})
        if args.command == "approve-held":
            return f"approved {approve_held_conversions(db)} conversion(s) whose hold period had passed"
        if args.command == "reset-password":
            kind, subject_id, account_id = cli_reset_subject(db, args.email, args.account)
            with transaction(db) as tx:
                token = insert_password_reset(tx, kind, subject_id, account_id)
            return (f"a password reset link for {args.email} ({'merchant user' if kind == 'user' else 'affiliate'}); "
                    f"it works once, for one hour:\n{link_base()}/reset/{token}")
    finally:
        db.close()


def cli_reset_subject(db, email_address, account_id=None):
    """(kind, subject id, account id) of the one person reset-password means, or an ApiError saying why not."""
    if account_id is None:
        found = reset_subject(db, "user", email_address)
        if found:
            return ("user",) + found[:2]
        rows = db.execute("SELECT id, account_id FROM affiliates WHERE email = :email COLLATE NOCASE",
                          {"email": email_address.strip()}).fetchall()
        if len(rows) > 1:
            raise ApiError(400, "ambiguous", f"{email_address} is an affiliate of several programs; add --account")
        if rows:
            return "affiliate", rows[0]["id"], rows[0]["account_id"]
    else:
        if get_account(db, account_id) is None:
            raise not_found("account", account_id, "account")
        user = db.execute("SELECT id, account_id FROM users WHERE email = :email AND account_id = :account",
                          {"email": email_address.strip(), "account": account_id}).fetchone()
        if user:
            return "user", user["id"], user["account_id"]
        found = reset_subject(db, "affiliate", email_address, account_id)
        if found:
            return ("affiliate",) + found[:2]
    raise ApiError(404, "not_found", f"no merchant user or affiliate has the email {email_address}")


def main(argv=None):
    """Entry point: `python affilut.py [command] ...`."""
    args = cli_parser().parse_args(argv)
    try:
        if args.command in (None, "serve"):
            return serve(args)
        print(run_command(args))
    except ApiError as error:
        sys.stderr.write(f"affilut: error: {error.message}\n")
        return 2
    except sqlite3.Error as error:
        sys.stderr.write(f"affilut: error: database {args.db}: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
