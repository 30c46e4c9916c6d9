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
