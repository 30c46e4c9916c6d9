-- affilut's database schema: the only place it lives.
--
-- Each "-- migrate: N" section upgrades a database at version N-1 to version N. On start affilut
-- applies, in order and each in its own transaction, the sections above the database's
-- PRAGMA user_version, then sets user_version to N. A release never edits a section that has
-- shipped: it appends a new one, so a merchant's database is migrated in place.
--
-- Conventions: ids are a prefix and a lowercase ULID (sortable by creation time); times are integer
-- milliseconds since the Unix epoch, UTC; money is integer minor units (cents); percentages are
-- exact decimal strings ("10", "12.5").

-- migrate: 1

-- Install-wide values, such as the salt for hashing visitor IPs.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One merchant's affiliate program (a tenant).
CREATE TABLE accounts (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    default_commission      TEXT NOT NULL DEFAULT '10',
    landing_url             TEXT NOT NULL DEFAULT '',
    -- Stripe's signing secret must stay readable to verify HMAC signatures: it is not our secret.
    webhook_secret          TEXT,
    attribution_window_days INTEGER NOT NULL DEFAULT 60,
    hold_days               INTEGER NOT NULL DEFAULT 30,
    renewal_months          INTEGER,            -- NULL: commission on renewals forever
    payout_minimum_cents    INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,                 -- the first characters, to recognise a key
    key_hash     TEXT NOT NULL UNIQUE,          -- SHA-256 of the plaintext, which is never stored
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id, id);

CREATE TABLE affiliates (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts(id),
    name                TEXT NOT NULL,
    email               TEXT NOT NULL COLLATE NOCASE,
    short_code          TEXT NOT NULL UNIQUE,   -- global: /r/<shortCode> names no account
    status              TEXT NOT NULL CHECK (status IN ('pending', 'active', 'paused', 'banned')),
    commission_override TEXT,                   -- NULL: the account's default applies
    payout_email        TEXT,
    created_at          INTEGER NOT NULL,
    activated_at        INTEGER,
    updated_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX affiliates_email ON affiliates(account_id, email);
CREATE INDEX affiliates_list ON affiliates(account_id, id);

-- A visitor's click on an affiliate link. The IP is kept only as a salted hash.
CREATE TABLE clicks (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    affiliate_id TEXT NOT NULL REFERENCES affiliates(id),
    created_at   INTEGER NOT NULL,
    referrer     TEXT,
    user_agent   TEXT,
    ip_hash      TEXT
);
CREATE INDEX clicks_affiliate ON clicks(account_id, affiliate_id, created_at);
CREATE INDEX clicks_time ON clicks(account_id, created_at);

CREATE TABLE conversions (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    affiliate_id      TEXT NOT NULL REFERENCES affiliates(id),
    -- ch_... for Stripe payments, manual:<external_id or id> for manual ones,
    -- adjustment:<charge>:<source> for the negative rows that net out refunds of paid commission.
    stripe_charge_id  TEXT NOT NULL,
    external_id       TEXT,
    amount_cents      INTEGER NOT NULL,
    commission_cents  INTEGER NOT NULL,
    commission_rate   TEXT NOT NULL,            -- the percent used, so a later change rewrites nothing
    currency          TEXT NOT NULL DEFAULT 'usd',
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'paid', 'rejected')),
    reason            TEXT,
    kind              TEXT NOT NULL DEFAULT 'sale' CHECK (kind IN ('sale', 'renewal', 'manual', 'adjustment')),
    customer_id       TEXT,
    payment_intent_id TEXT,
    click_id          TEXT,
    adjusts_id        TEXT REFERENCES conversions(id),
    refunded_cents    INTEGER NOT NULL DEFAULT 0,
    disputed          INTEGER NOT NULL DEFAULT 0,
    payout_id         TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- The database, not a check-then-insert, decides idempotency.
CREATE UNIQUE INDEX conversions_external_id ON conversions(account_id, external_id);
CREATE UNIQUE INDEX conversions_charge ON conversions(account_id, stripe_charge_id);
-- Covering indexes for newest-first listing: deep pages walk the index, not the table.
CREATE INDEX conversions_list ON conversions(account_id, id);
CREATE INDEX conversions_by_status ON conversions(account_id, status, id);
CREATE INDEX conversions_by_affiliate ON conversions(account_id, affiliate_id, status, id);
CREATE INDEX conversions_by_affiliate_all ON conversions(account_id, affiliate_id, id);

-- migrate: 2
-- Attribution from Stripe. Every webhook event only adds facts (what a charge is, who a payment
-- intent or a customer was referred by, how much was refunded, how a dispute ended), merged so
-- that the order of arrival does not matter; conversions are then settled from the facts.

-- Every event id once per account: a redelivery changes nothing.
CREATE TABLE stripe_events (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,               -- Stripe's event time
    received_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, event_id)
);

-- What we know of each Stripe charge, from whichever events told us.
CREATE TABLE charges (
    account_id         TEXT NOT NULL REFERENCES accounts(id),
    charge_id          TEXT NOT NULL,
    payment_intent_id  TEXT,
    customer_id        TEXT,
    amount_cents       INTEGER,                 -- NULL until an event gives it (a refund may come first)
    currency           TEXT,
    charged_at         INTEGER,                 -- the earliest time any event gives for the payment
    customer_email     TEXT,
    meta_affiliate     TEXT,                    -- metadata.affiliate_id: an affiliate id or short code
    meta_session       TEXT,                    -- metadata.affiliate_session_id: a click id
    amount_refunded    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, charge_id)
);
CREATE INDEX charges_customer ON charges(account_id, customer_id);
CREATE INDEX charges_payment_intent ON charges(account_id, payment_intent_id);

-- Refund objects, for refunds announced apart from their charge.
CREATE TABLE refunds (
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    refund_id    TEXT NOT NULL,
    charge_id    TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    status       TEXT NOT NULL,
    PRIMARY KEY (account_id, refund_id)
);
CREATE INDEX refunds_charge ON refunds(account_id, charge_id);

CREATE TABLE disputes (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    dispute_id TEXT NOT NULL,
    charge_id  TEXT NOT NULL,
    status     TEXT NOT NULL,                   -- open, won or lost: a final status is never undone
    PRIMARY KEY (account_id, dispute_id)
);
CREATE INDEX disputes_charge ON disputes(account_id, charge_id);

-- Who referred a payment intent ('pi') or a customer ('customer'), learned from one source.
-- Several sources may speak of one subject; a fixed precedence, then the newest event, decides.
CREATE TABLE bindings (
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('pi', 'customer')),
    subject_id   TEXT NOT NULL,
    source       TEXT NOT NULL,                 -- checkout_session, subscription_metadata, customer_metadata
    affiliate    TEXT NOT NULL,                 -- an affiliate id or short code, as Stripe carried it
    click_id     TEXT,
    learned_at   INTEGER NOT NULL,              -- Stripe's time of the event that taught it
    event_id     TEXT NOT NULL,
    PRIMARY KEY (account_id, subject_kind, subject_id, source)
);

-- The last email Stripe gave for a customer, for the self-referral rule.
CREATE TABLE customers (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    customer_id TEXT NOT NULL,
    email       TEXT,
    PRIMARY KEY (account_id, customer_id)
);

-- Every status change of a conversion, by whom and why: the merchant's audit trail.
CREATE TABLE conversion_history (
    id            INTEGER PRIMARY KEY,
    conversion_id TEXT NOT NULL REFERENCES conversions(id),
    at            INTEGER NOT NULL,
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    actor         TEXT NOT NULL,                -- api, stripe, hold, dashboard
    reason        TEXT
);
CREATE INDEX conversion_history_conversion ON conversion_history(conversion_id, id);
ALTER TABLE conversions ADD COLUMN decided_by TEXT;   -- "merchant" once a merchant set the status
CREATE INDEX conversions_adjusts ON conversions(adjusts_id);
CREATE INDEX conversions_pending_age ON conversions(status, created_at);

-- migrate: 3
-- The merchant dashboard and the affiliate portal: people who sign in, their sessions, invites,
-- and the payouts that settle approved commission.

-- A merchant's team member. Emails are unique across the install, so one sign-in form finds the account.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    email         TEXT NOT NULL COLLATE NOCASE UNIQUE,
    password_hash TEXT,                         -- scrypt$n$r$p$salt$hash; NULL until an invite is accepted
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);
CREATE INDEX users_account ON users(account_id, id);

-- An affiliate's portal password; affiliates sign in per program, apart from the merchant's users.
CREATE TABLE affiliate_logins (
    affiliate_id  TEXT PRIMARY KEY REFERENCES affiliates(id),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- Why an affiliate was paused or banned, shown to them in the portal.
ALTER TABLE affiliates ADD COLUMN status_reason TEXT;

-- A signed-in browser. The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('user', 'affiliate')),
    subject_id   TEXT NOT NULL,                 -- a user id or an affiliate id
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    csrf_token   TEXT NOT NULL,                 -- every form of this session carries it
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL               -- absolute end; idleness ends a session sooner
);
CREATE INDEX sessions_subject ON sessions(kind, subject_id);

-- A link that lets a person set a password: a new team member or an invited affiliate.
CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY,                -- SHA-256 of the token in the link, shown once
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'affiliate')),
    subject_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- Money sent to an affiliate; the conversions it settled point at it with payout_id.
CREATE TABLE payouts (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    affiliate_id     TEXT NOT NULL REFERENCES affiliates(id),
    amount_cents     INTEGER NOT NULL,          -- net of adjustments
    currency         TEXT NOT NULL,
    conversion_count INTEGER NOT NULL,
    paid_to          TEXT NOT NULL,             -- the payout email as it was when paid
    note             TEXT,
    created_by       TEXT,                      -- the user who marked it paid
    created_at       INTEGER NOT NULL
);
CREATE INDEX payouts_list ON payouts(account_id, id);
CREATE INDEX payouts_affiliate ON payouts(account_id, affiliate_id, id);
CREATE INDEX conversions_payout ON conversions(account_id, payout_id);

-- migrate: 4
-- Order independence, found in review: the facts that several events give of one thing must
-- merge the same way in any delivery order.

-- Every binding an event taught is kept (one per event, not one per source), so "the newest
-- binding of the first source" can decide: a customer moved from one affiliate to another
-- stays moved, whichever event Stripe delivers first.
CREATE TABLE bindings_v4 (
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('pi', 'customer')),
    subject_id   TEXT NOT NULL,
    source       TEXT NOT NULL,
    affiliate    TEXT NOT NULL,
    click_id     TEXT,
    learned_at   INTEGER NOT NULL,
    event_id     TEXT NOT NULL,
    PRIMARY KEY (account_id, subject_kind, subject_id, source, event_id)
);
INSERT INTO bindings_v4 SELECT account_id, subject_kind, subject_id, source, affiliate, click_id, learned_at, event_id
    FROM bindings;
DROP TABLE bindings;
ALTER TABLE bindings_v4 RENAME TO bindings;

-- Every email any event gave for a charge or a customer: a self-referral is a payment whose payer
-- ever had the affiliate's email, which does not depend on which email arrived first.
CREATE TABLE payer_emails (
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('charge', 'customer')),
    subject_id   TEXT NOT NULL,
    email        TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (account_id, subject_kind, subject_id, email)
);
INSERT OR IGNORE INTO payer_emails SELECT account_id, 'customer', customer_id, email FROM customers
    WHERE email IS NOT NULL;
INSERT OR IGNORE INTO payer_emails SELECT account_id, 'charge', charge_id, customer_email FROM charges
    WHERE customer_email IS NOT NULL;

-- Stripe's time of the charge event whose metadata we hold: a newer charge.updated replaces it,
-- an older one delivered late does not.
ALTER TABLE charges ADD COLUMN meta_at INTEGER;

-- migrate: 5
-- The hold-period duty walks one account's pending conversions by age, in small batches.
DROP INDEX conversions_pending_age;
CREATE INDEX conversions_hold ON conversions(account_id, status, created_at);

-- migrate: 6
-- Deep pages of the conversions list, found in issue 5: OFFSET walks every row it skips. seq numbers
-- an account's conversions 1, 2, 3, ... in the order they are recorded, without gaps, so page p of an
-- unfiltered list starts at seq = MAX(seq) - (p - 1) * limit, one seek in the index at any depth.
--
-- It stays nullable: SQLite adds a NOT NULL column only with a default, which would give every old
-- row the same number, and rebuilding the table with NOT NULL needs foreign keys off (conversions
-- are referenced), which a migration's transaction cannot switch. The numbers are filled here, and
-- the triggers below hold the invariant instead: every new row takes the next number, and no
-- number is ever freed or changed.
ALTER TABLE conversions ADD COLUMN seq INTEGER;
UPDATE conversions SET seq = numbered.seq
    FROM (SELECT rowid AS rid, row_number() OVER (PARTITION BY account_id ORDER BY id) AS seq
          FROM conversions) AS numbered
    WHERE conversions.rowid = numbered.rid;
-- The listing indexes end in seq instead of id, as the lists are now ordered; (account_id, seq)
-- is both the unfiltered list's and the numbering's unique index.
DROP INDEX conversions_list;
DROP INDEX conversions_by_status;
DROP INDEX conversions_by_affiliate;
DROP INDEX conversions_by_affiliate_all;
CREATE UNIQUE INDEX conversions_seq ON conversions(account_id, seq);
CREATE INDEX conversions_by_status ON conversions(account_id, status, seq);
CREATE INDEX conversions_by_affiliate ON conversions(account_id, affiliate_id, status, seq);
CREATE INDEX conversions_by_affiliate_all ON conversions(account_id, affiliate_id, seq);
CREATE TRIGGER conversions_seq_next BEFORE INSERT ON conversions
    WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM conversions WHERE account_id = NEW.account_id)
    BEGIN SELECT RAISE(ABORT, 'a conversion must take the next seq of its account'); END;
CREATE TRIGGER conversions_never_deleted BEFORE DELETE ON conversions
    BEGIN SELECT RAISE(ABORT, 'conversions are never deleted: their seq must stay gapless'); END;
CREATE TRIGGER conversions_seq_fixed BEFORE UPDATE OF seq ON conversions
    BEGIN SELECT RAISE(ABORT, 'the seq of a conversion never changes'); END;

-- migrate: 7
-- A conversion's first line of history is written by the database with the row itself, so that
-- recording a conversion can be one statement: SQLite makes a statement and its triggers
-- all-or-nothing, which lets the API's POST run without BEGIN and COMMIT (see write_statement).
-- The actor follows from how the conversion came: manual ones through the API or the dashboard's
-- form (recorded as "api", as before), the rest from Stripe events.
CREATE TRIGGER conversion_recorded AFTER INSERT ON conversions
BEGIN
    INSERT INTO conversion_history (conversion_id, at, from_status, to_status, actor, reason)
    VALUES (NEW.id, NEW.created_at, NULL, NEW.status,
            CASE NEW.kind WHEN 'manual' THEN 'api' ELSE 'stripe' END,
            CASE NEW.kind WHEN 'adjustment' THEN 'adjustment' ELSE NEW.reason END);
END;

-- migrate: 8
-- Fewer pages per webhook, measured: a charge.succeeded wrote ~25 WAL pages in its transaction,
-- and COMMIT costs ~7.5 us of CPU per page; stripe_events and charges, which only webhooks write,
-- cost 7.4 of them. Both were rowid tables whose primary key is a second, automatic index: two
-- b-trees written for every row. Rebuilt WITHOUT ROWID, each row lives in its primary key's b-tree
-- alone. The charge indexes become partial: a charge Stripe sent without a customer or a payment
-- intent writes no entry in them, and every query on them compares with "=" (x = ? implies
-- x IS NOT NULL), so SQLite can still use them. (It would rather walk an account's charges by
-- primary key than look rows up through an index of a WITHOUT ROWID table that does not cover the
-- query: affilut.py names charges_customer in those queries, see CHARGES_OF_CUSTOMER.)
-- Measured on the benchmark's database (152,000 charges, none with a customer or payment intent):
-- 25.3 pages per charge.succeeded before, 21.0 after; the migration took 1.3-1.8 s.
--
-- The tables are rebuilt, not altered (SQLite cannot change a table to WITHOUT ROWID): same
-- columns in the same order, meta_at (migration 4) last. No table, trigger or view refers to
-- either, so dropping the old ones with foreign keys on is safe.

-- Every event id once per account: a redelivery changes nothing.
CREATE TABLE stripe_events_v8 (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,               -- Stripe's event time
    received_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, event_id)
) WITHOUT ROWID;
INSERT INTO stripe_events_v8 (account_id, event_id, type, created_at, received_at)
    SELECT account_id, event_id, type, created_at, received_at FROM stripe_events;
DROP TABLE stripe_events;
ALTER TABLE stripe_events_v8 RENAME TO stripe_events;

-- What we know of each Stripe charge, from whichever events told us.
CREATE TABLE charges_v8 (
    account_id         TEXT NOT NULL REFERENCES accounts(id),
    charge_id          TEXT NOT NULL,
    payment_intent_id  TEXT,
    customer_id        TEXT,
    amount_cents       INTEGER,                 -- NULL until an event gives it (a refund may come first)
    currency           TEXT,
    charged_at         INTEGER,                 -- the earliest time any event gives for the payment
    customer_email     TEXT,
    meta_affiliate     TEXT,                    -- metadata.affiliate_id: an affiliate id or short code
    meta_session       TEXT,                    -- metadata.affiliate_session_id: a click id
    amount_refunded    INTEGER NOT NULL DEFAULT 0,
    meta_at            INTEGER,                 -- Stripe's time of the charge event whose metadata we hold
    PRIMARY KEY (account_id, charge_id)
) WITHOUT ROWID;
INSERT INTO charges_v8 (account_id, charge_id, payment_intent_id, customer_id, amount_cents, currency,
                        charged_at, customer_email, meta_affiliate, meta_session, amount_refunded, meta_at)
    SELECT account_id, charge_id, payment_intent_id, customer_id, amount_cents, currency,
           charged_at, customer_email, meta_affiliate, meta_session, amount_refunded, meta_at FROM charges;
DROP TABLE charges;
ALTER TABLE charges_v8 RENAME TO charges;
-- The old indexes went with the old table.
CREATE INDEX charges_customer ON charges(account_id, customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX charges_payment_intent ON charges(account_id, payment_intent_id) WHERE payment_intent_id IS NOT NULL;

-- migrate: 9
-- Payer emails live in payer_emails since migration 4; nothing has read or written customers since.
DROP TABLE customers;

-- migrate: 10
-- Roles (issue 11). An owner sees and rotates the webhook secret, creates and revokes API keys and
-- manages the team; a member runs the program (affiliates, conversions, payouts). A user added
-- without a role is a member, the least that can be given; everyone who could sign in before this
-- had all of it, and stays an owner.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member'));
UPDATE users SET role = 'owner';

-- migrate: 11
-- Safe to expose (issue 11).
-- A visitor's repeat clicks on one affiliate's link count once: `visit` names the visitor (the
-- salted IP hash and a hash of the user agent) and the 30-minute window of the click, and this
-- unique index lets two racing requests make one row. Older clicks have no visit.
ALTER TABLE clicks ADD COLUMN visit TEXT;
CREATE UNIQUE INDEX clicks_visit ON clicks(affiliate_id, visit) WHERE visit IS NOT NULL;

-- A user or affiliate whose email reached the ceiling of failed sign-ins from anywhere: the merchant
-- is shown it. One row per person, so guesses at unknown emails store nothing.
CREATE TABLE signin_ceilings (
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'affiliate')),
    subject_id TEXT NOT NULL,                   -- a user id or an affiliate id
    account_id TEXT NOT NULL REFERENCES accounts(id),
    email      TEXT NOT NULL,
    times      INTEGER NOT NULL,                -- how often the ceiling was reached
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (kind, subject_id)
) WITHOUT ROWID;
CREATE INDEX signin_ceilings_account ON signin_ceilings(account_id, last_at);

-- migrate: 12
-- Money received, not money promised (issue 13): a charge earns on what was captured, refunds are
-- counted from the refund objects and the charge's newest snapshot, and test-mode data is kept apart.

-- What the merchant actually received for a charge: NULL until Stripe says it was captured (an
-- authorization with capture_method=manual moves no money until charge.captured). Every charge
-- recorded before this release was treated as captured, and stays so.
ALTER TABLE charges ADD COLUMN captured_cents INTEGER;
UPDATE charges SET captured_cents = amount_cents;
-- Stripe's time of the charge snapshot whose amount_refunded we hold (the newest one, not the
-- largest value ever seen). NULL for older rows: their value then counts as the newest.
ALTER TABLE charges ADD COLUMN refunded_at INTEGER;
-- 0 once any event about the charge came from Stripe's test mode.
ALTER TABLE charges ADD COLUMN livemode INTEGER NOT NULL DEFAULT 1;

-- A refund's own time (Stripe's created) and the time Stripe first said it failed or was canceled:
-- which charge snapshots count it follows from these. NULL for older rows.
ALTER TABLE refunds ADD COLUMN created_at INTEGER;
ALTER TABLE refunds ADD COLUMN ended_at INTEGER;

-- Test-mode conversions live beside live ones but never reach the live ledger: lists, stats, the
-- hold period, payouts and exports read livemode = 1 unless asked for test data.
ALTER TABLE conversions ADD COLUMN livemode INTEGER NOT NULL DEFAULT 1;
CREATE INDEX conversions_test ON conversions(account_id, seq) WHERE livemode = 0;

-- migrate: 13
-- Numbers at constant cost, found in issue 14: the overview, an affiliate's page and the payouts
-- page summed every conversion and click of the program on every view. The sums are kept instead,
-- by triggers, so every writer (webhook, API, dashboard, hold period, payouts) updates them in the
-- same transaction as the row itself, and no Python code can forget to. A page then reads a few
-- hundred rows of totals whatever the size of the program.
--
-- Only the live ledger is summed: test-mode conversions (livemode = 0, migration 12) never reach
-- stats or payouts, and a conversion's livemode never changes once it is recorded.

-- Conversions per UTC day (created_at / 86400000), for one affiliate or, with affiliate_id '', for
-- the whole program; split by what the pages tell apart: currency, status, refund adjustments
-- (adjustment = 1) and whether the conversion came through a recorded click of a link (linked = 1).
CREATE TABLE conversion_days (
    account_id       TEXT NOT NULL,
    affiliate_id     TEXT NOT NULL,             -- '' for the whole program
    day              INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL,
    adjustment       INTEGER NOT NULL,
    linked           INTEGER NOT NULL,
    conversions      INTEGER NOT NULL,
    amount_cents     INTEGER NOT NULL,
    commission_cents INTEGER NOT NULL,
    PRIMARY KEY (account_id, affiliate_id, day, currency, status, adjustment, linked)
) WITHOUT ROWID;

-- Link clicks per UTC day, for one affiliate or ('') the whole program.
CREATE TABLE click_days (
    account_id   TEXT NOT NULL,
    affiliate_id TEXT NOT NULL,
    day          INTEGER NOT NULL,
    clicks       INTEGER NOT NULL,
    PRIMARY KEY (account_id, affiliate_id, day)
) WITHOUT ROWID;

-- What each affiliate brought in a calendar month (UTC, 202603 for March 2026), rejected
-- conversions left out; conversions counts sales only, the money includes refund adjustments.
-- Its index ranks a month's affiliates by revenue in one currency without reading the others.
CREATE TABLE affiliate_months (
    account_id       TEXT NOT NULL,
    month            INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    affiliate_id     TEXT NOT NULL,
    conversions      INTEGER NOT NULL,
    amount_cents     INTEGER NOT NULL,
    commission_cents INTEGER NOT NULL,
    PRIMARY KEY (account_id, month, currency, affiliate_id)
) WITHOUT ROWID;
CREATE INDEX affiliate_months_rank ON affiliate_months(account_id, month, currency, amount_cents);

-- Each affiliate's payable commission per currency: the conversions a payout may cover (approved,
-- not paid out, no open dispute; affilut.py's PAYABLE). version moves on every change, so a payout
-- form that carries it is refused once what it covers has changed. Rows are kept at zero, so a
-- version never starts over.
CREATE TABLE payable_balances (
    account_id       TEXT NOT NULL,
    affiliate_id     TEXT NOT NULL,
    currency         TEXT NOT NULL,
    conversions      INTEGER NOT NULL,
    commission_cents INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    PRIMARY KEY (account_id, affiliate_id, currency)
) WITHOUT ROWID;
CREATE INDEX payable_owed ON payable_balances(account_id, affiliate_id, currency) WHERE conversions > 0;
CREATE INDEX payable_currencies ON payable_balances(account_id, currency) WHERE conversions > 0;

-- The overview counts the affiliates waiting for approval, and the list filters by status, on an index.
CREATE INDEX affiliates_by_status ON affiliates(account_id, status, id);
-- Suggestions as a person types find affiliates by the start of their name, without case.
CREATE INDEX affiliates_by_name ON affiliates(account_id, name COLLATE NOCASE);

CREATE TRIGGER conversion_totals_insert AFTER INSERT ON conversions WHEN NEW.livemode = 1
BEGIN
    INSERT INTO conversion_days (account_id, affiliate_id, day, currency, status, adjustment, linked,
                                 conversions, amount_cents, commission_cents)
    VALUES (NEW.account_id, NEW.affiliate_id, NEW.created_at / 86400000, NEW.currency, NEW.status,
            NEW.kind = 'adjustment', NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents),
           (NEW.account_id, '', NEW.created_at / 86400000, NEW.currency, NEW.status,
            NEW.kind = 'adjustment', NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents)
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
    INSERT INTO affiliate_months (account_id, month, currency, affiliate_id, conversions, amount_cents, commission_cents)
    SELECT NEW.account_id, CAST(strftime('%Y%m', NEW.created_at / 1000, 'unixepoch') AS INTEGER), NEW.currency,
           NEW.affiliate_id, NEW.kind != 'adjustment', NEW.amount_cents, NEW.commission_cents
    WHERE NEW.status != 'rejected'
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
    INSERT INTO payable_balances (account_id, affiliate_id, currency, conversions, commission_cents, version)
    SELECT NEW.account_id, NEW.affiliate_id, NEW.currency, 1, NEW.commission_cents, 1
    WHERE NEW.status = 'approved' AND NEW.payout_id IS NULL AND NEW.disputed = 0
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        commission_cents = commission_cents + excluded.commission_cents, version = version + 1;
END;

-- An update takes the old row out of every total and puts the new one in; one that changes none
-- of the columns the totals read (most of a webhook's settling) touches nothing.
CREATE TRIGGER conversion_totals_update AFTER UPDATE ON conversions
WHEN NEW.livemode = 1 AND (OLD.status IS NOT NEW.status OR OLD.affiliate_id IS NOT NEW.affiliate_id
  OR OLD.kind IS NOT NEW.kind OR OLD.click_id IS NOT NEW.click_id OR OLD.amount_cents IS NOT NEW.amount_cents
  OR OLD.commission_cents IS NOT NEW.commission_cents OR OLD.currency IS NOT NEW.currency
  OR OLD.created_at IS NOT NEW.created_at OR OLD.payout_id IS NOT NEW.payout_id OR OLD.disputed IS NOT NEW.disputed)
BEGIN
    INSERT INTO conversion_days (account_id, affiliate_id, day, currency, status, adjustment, linked,
                                 conversions, amount_cents, commission_cents)
    VALUES (OLD.account_id, OLD.affiliate_id, OLD.created_at / 86400000, OLD.currency, OLD.status,
            OLD.kind = 'adjustment', OLD.click_id IS NOT NULL, -1, -OLD.amount_cents, -OLD.commission_cents),
           (OLD.account_id, '', OLD.created_at / 86400000, OLD.currency, OLD.status,
            OLD.kind = 'adjustment', OLD.click_id IS NOT NULL, -1, -OLD.amount_cents, -OLD.commission_cents),
           (NEW.account_id, NEW.affiliate_id, NEW.created_at / 86400000, NEW.currency, NEW.status,
            NEW.kind = 'adjustment', NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents),
           (NEW.account_id, '', NEW.created_at / 86400000, NEW.currency, NEW.status,
            NEW.kind = 'adjustment', NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents)
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
    INSERT INTO affiliate_months (account_id, month, currency, affiliate_id, conversions, amount_cents, commission_cents)
    SELECT OLD.account_id, CAST(strftime('%Y%m', OLD.created_at / 1000, 'unixepoch') AS INTEGER), OLD.currency,
           OLD.affiliate_id, -(OLD.kind != 'adjustment'), -OLD.amount_cents, -OLD.commission_cents
    WHERE OLD.status != 'rejected'
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
    INSERT INTO affiliate_months (account_id, month, currency, affiliate_id, conversions, amount_cents, commission_cents)
    SELECT NEW.account_id, CAST(strftime('%Y%m', NEW.created_at / 1000, 'unixepoch') AS INTEGER), NEW.currency,
           NEW.affiliate_id, NEW.kind != 'adjustment', NEW.amount_cents, NEW.commission_cents
    WHERE NEW.status != 'rejected'
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
    INSERT INTO payable_balances (account_id, affiliate_id, currency, conversions, commission_cents, version)
    SELECT OLD.account_id, OLD.affiliate_id, OLD.currency, -1, -OLD.commission_cents, 1
    WHERE OLD.status = 'approved' AND OLD.payout_id IS NULL AND OLD.disputed = 0
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        commission_cents = commission_cents + excluded.commission_cents, version = version + 1;
    INSERT INTO payable_balances (account_id, affiliate_id, currency, conversions, commission_cents, version)
    SELECT NEW.account_id, NEW.affiliate_id, NEW.currency, 1, NEW.commission_cents, 1
    WHERE NEW.status = 'approved' AND NEW.payout_id IS NULL AND NEW.disputed = 0
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        commission_cents = commission_cents + excluded.commission_cents, version = version + 1;
END;

CREATE TRIGGER click_totals_insert AFTER INSERT ON clicks
BEGIN
    INSERT INTO click_days (account_id, affiliate_id, day, clicks)
    VALUES (NEW.account_id, NEW.affiliate_id, NEW.created_at / 86400000, 1),
           (NEW.account_id, '', NEW.created_at / 86400000, 1)
    ON CONFLICT DO UPDATE SET clicks = clicks + 1;
END;

-- The totals of a database made before this migration, summed once from its rows.
INSERT INTO conversion_days (account_id, affiliate_id, day, currency, status, adjustment, linked,
                             conversions, amount_cents, commission_cents)
    SELECT account_id, affiliate_id, created_at / 86400000, currency, status, kind = 'adjustment',
           click_id IS NOT NULL, COUNT(*), SUM(amount_cents), SUM(commission_cents)
    FROM conversions WHERE livemode = 1 GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO conversion_days (account_id, affiliate_id, day, currency, status, adjustment, linked,
                             conversions, amount_cents, commission_cents)
    SELECT account_id, '', day, currency, status, adjustment, linked, SUM(conversions), SUM(amount_cents),
           SUM(commission_cents)
    FROM conversion_days GROUP BY account_id, day, currency, status, adjustment, linked;
INSERT INTO click_days (account_id, affiliate_id, day, clicks)
    SELECT account_id, affiliate_id, created_at / 86400000, COUNT(*) FROM clicks GROUP BY 1, 2, 3;
INSERT INTO click_days (account_id, affiliate_id, day, clicks)
    SELECT account_id, '', day, SUM(clicks) FROM click_days GROUP BY account_id, day;
INSERT INTO affiliate_months (account_id, month, currency, affiliate_id, conversions, amount_cents, commission_cents)
    SELECT account_id, CAST(strftime('%Y%m', created_at / 1000, 'unixepoch') AS INTEGER), currency, affiliate_id,
           SUM(kind != 'adjustment'), SUM(amount_cents), SUM(commission_cents)
    FROM conversions WHERE status != 'rejected' AND livemode = 1 GROUP BY 1, 2, 3, 4;
INSERT INTO payable_balances (account_id, affiliate_id, currency, conversions, commission_cents, version)
    SELECT account_id, affiliate_id, currency, COUNT(*), SUM(commission_cents), 1
    FROM conversions WHERE status = 'approved' AND payout_id IS NULL AND disputed = 0 AND livemode = 1
    GROUP BY 1, 2, 3;

-- migrate: 14
-- Telling people what happened (issue 15): one durable outbox of every message affilut owes, an
-- email or a webhook delivery, written in the same transaction as the change that causes it, so a
-- crash never loses one and a rolled-back change never sends one.
--
-- A row is due while status is 'pending' and next_attempt_at has come. A worker claims it by
-- moving next_attempt_at to the end of its lease in one UPDATE under BEGIN IMMEDIATE (claim_token
-- names the claim): another process sees it due again only if the claimant died, and a claimant
-- whose lease ran out finds its token replaced and records nothing.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,           -- msg_… (an email) or dlv_… (a webhook delivery)
    account_id      TEXT REFERENCES accounts(id),
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    topic           TEXT NOT NULL,              -- the email's template, or the webhook event type
    event_id        TEXT NOT NULL,              -- the stable id receivers drop duplicates by (evt_… or the msg id)
    endpoint_id     TEXT,                       -- a webhook delivery's endpoint
    recipient       TEXT NOT NULL,              -- an email address, or the endpoint's URL when queued
    subject         TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL,              -- JSON: an email's text and html parts, or the webhook body itself
    sensitive       INTEGER NOT NULL DEFAULT 0, -- holds a one-time link: the body is blanked once it is done
    dedupe_key      TEXT UNIQUE,                -- a message that must be queued once only (a day's digest)
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claim_token     TEXT,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_account ON outbox(account_id, kind, id);
CREATE INDEX outbox_endpoint ON outbox(endpoint_id, id) WHERE endpoint_id IS NOT NULL;

-- Every attempt to send a row: ok NULL while it is under way (or when its process died in it).
CREATE TABLE outbox_attempts (
    message_id    TEXT NOT NULL REFERENCES outbox(id),
    attempt       INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    ok            INTEGER,
    response_code INTEGER,                      -- a webhook's HTTP status, or the SMTP reply code
    error         TEXT,
    PRIMARY KEY (message_id, attempt)
) WITHOUT ROWID;

-- A merchant's outbound webhook: where to POST which events, and the secret that signs them.
-- The secret is kept as it is (not hashed): every delivery is signed with it.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,           -- we_…
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,              -- JSON array of event types
    secret          TEXT NOT NULL,              -- whsec_…
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id, id);

-- Which emails a person wants, where it differs from the default (new commission on, digest on).
CREATE TABLE mail_preferences (
    subject_id TEXT NOT NULL,                   -- a user id or an affiliate id
    topic      TEXT NOT NULL,                   -- 'new_commission', 'daily_digest'
    enabled    INTEGER NOT NULL,
    PRIMARY KEY (subject_id, topic)
) WITHOUT ROWID;

-- A password-reset link: only the SHA-256 of its token is kept; valid once, for one hour.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'affiliate')),
    subject_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- migrate: 15
-- The delivery worker looks for the next due message of each kind it can send. Emails wait,
-- pending, while SMTP is not configured: on an index by next_attempt_at alone, every poll walked
-- all of them to find a webhook delivery.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(kind, next_attempt_at) WHERE status = 'pending';

-- migrate: 16
-- A reset request counts the person's recent ones, and a completed reset spends the others: both
-- find a person's resets by subject_id, which had no index.
CREATE INDEX password_resets_subject ON password_resets(subject_id, created_at);

-- migrate: 17
-- All-time numbers at constant cost, found in issue 14: a program's or an affiliate's all-time
-- totals and earnings by status summed every day row of conversion_days it ever had (a year is
-- thousands of rows per page, several times), so the busiest affiliate's page still grew with its
-- sales. The same totals without the day are kept here, by triggers beside migration 13's (every
-- writer updates them in the same transaction), and a page reads a few rows whatever the history.
-- Only the live ledger, as in conversion_days; affiliate_id '' is the whole program.
CREATE TABLE conversion_totals (
    account_id       TEXT NOT NULL,
    affiliate_id     TEXT NOT NULL,             -- '' for the whole program
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL,
    adjustment       INTEGER NOT NULL,
    linked           INTEGER NOT NULL,
    conversions      INTEGER NOT NULL,
    amount_cents     INTEGER NOT NULL,
    commission_cents INTEGER NOT NULL,
    PRIMARY KEY (account_id, affiliate_id, currency, status, adjustment, linked)
) WITHOUT ROWID;

CREATE TRIGGER conversion_all_time_insert AFTER INSERT ON conversions WHEN NEW.livemode = 1
BEGIN
    INSERT INTO conversion_totals (account_id, affiliate_id, currency, status, adjustment, linked,
                                   conversions, amount_cents, commission_cents)
    VALUES (NEW.account_id, NEW.affiliate_id, NEW.currency, NEW.status, NEW.kind = 'adjustment',
            NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents),
           (NEW.account_id, '', NEW.currency, NEW.status, NEW.kind = 'adjustment',
            NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents)
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
END;

-- Only the columns these totals read: a payout or a dispute (payout_id, disputed) leaves them be.
CREATE TRIGGER conversion_all_time_update AFTER UPDATE ON conversions
WHEN NEW.livemode = 1 AND (OLD.status IS NOT NEW.status OR OLD.affiliate_id IS NOT NEW.affiliate_id
  OR OLD.kind IS NOT NEW.kind OR OLD.click_id IS NOT NEW.click_id OR OLD.amount_cents IS NOT NEW.amount_cents
  OR OLD.commission_cents IS NOT NEW.commission_cents OR OLD.currency IS NOT NEW.currency)
BEGIN
    INSERT INTO conversion_totals (account_id, affiliate_id, currency, status, adjustment, linked,
                                   conversions, amount_cents, commission_cents)
    VALUES (OLD.account_id, OLD.affiliate_id, OLD.currency, OLD.status, OLD.kind = 'adjustment',
            OLD.click_id IS NOT NULL, -1, -OLD.amount_cents, -OLD.commission_cents),
           (OLD.account_id, '', OLD.currency, OLD.status, OLD.kind = 'adjustment',
            OLD.click_id IS NOT NULL, -1, -OLD.amount_cents, -OLD.commission_cents),
           (NEW.account_id, NEW.affiliate_id, NEW.currency, NEW.status, NEW.kind = 'adjustment',
            NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents),
           (NEW.account_id, '', NEW.currency, NEW.status, NEW.kind = 'adjustment',
            NEW.click_id IS NOT NULL, 1, NEW.amount_cents, NEW.commission_cents)
    ON CONFLICT DO UPDATE SET conversions = conversions + excluded.conversions,
        amount_cents = amount_cents + excluded.amount_cents, commission_cents = commission_cents + excluded.commission_cents;
END;

-- An existing database's totals, from the day totals migration 13 built (the same rows, summed).
INSERT INTO conversion_totals (account_id, affiliate_id, currency, status, adjustment, linked,
                               conversions, amount_cents, commission_cents)
    SELECT account_id, affiliate_id, currency, status, adjustment, linked, SUM(conversions), SUM(amount_cents),
           SUM(commission_cents)
    FROM conversion_days GROUP BY account_id, affiliate_id, currency, status, adjustment, linked;

-- migrate: 18
-- A date window of the conversions list, which is ordered by seq: created_at is the time a writer
-- records the row, so it grows with seq, but not strictly (a writer may read the clock before
-- waiting for the write lock, a clock may be set back, an older database numbered its rows by id).
-- conversion_skew holds, per account, how far a row's created_at may lie below that of a row
-- numbered before it (0 when no row was ever out of order, then no row is kept). With that bound a
-- window's rows lie in a range of seq that two seeks in conversions_by_time find, whatever its age.
CREATE INDEX conversions_by_time ON conversions(account_id, created_at);
CREATE TABLE conversion_skew (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    skew_ms    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO conversion_skew (account_id, skew_ms)
    SELECT account_id, MAX(latest - created_at) FROM (
        SELECT account_id, created_at, MAX(created_at) OVER (PARTITION BY account_id ORDER BY seq) AS latest
        FROM conversions)
    GROUP BY account_id HAVING MAX(latest - created_at) > 0;
-- A new row, the account's last by seq, lies below the latest time recorded before it by that much.
-- Each MAX stands alone in a scalar subquery, where SQLite answers it with one seek at the end of
-- conversions_by_time; as a FROM subquery the outer WHERE was pushed into it and it walked the account.
CREATE TRIGGER conversion_skew_insert AFTER INSERT ON conversions
BEGIN
    INSERT INTO conversion_skew (account_id, skew_ms)
        SELECT NEW.account_id, latest - NEW.created_at
        FROM (SELECT (SELECT MAX(created_at) FROM conversions WHERE account_id = NEW.account_id) AS latest)
        WHERE latest > NEW.created_at
    ON CONFLICT DO UPDATE SET skew_ms = MAX(skew_ms, excluded.skew_ms);
END;
-- Nothing in the server moves a created_at, but a row moved by hand keeps the bound true: moved down,
-- it may lie below the latest time by the distance to the account's latest; moved up, every later
-- row may lie below it by the distance to the account's earliest.
CREATE TRIGGER conversion_skew_update AFTER UPDATE OF created_at ON conversions
    WHEN NEW.created_at IS NOT OLD.created_at
BEGIN
    INSERT INTO conversion_skew (account_id, skew_ms)
        SELECT NEW.account_id, MAX(latest - NEW.created_at, NEW.created_at - earliest, 0)
        FROM (SELECT (SELECT MAX(created_at) FROM conversions WHERE account_id = NEW.account_id) AS latest,
                     (SELECT MIN(created_at) FROM conversions WHERE account_id = NEW.account_id) AS earliest)
        WHERE true
    ON CONFLICT DO UPDATE SET skew_ms = MAX(skew_ms, excluded.skew_ms);
END;
