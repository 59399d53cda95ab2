-- Webhook endpoints: other systems that receive signed JSON for article events.
CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,          -- ep_…
    url                  TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    event_types          TEXT NOT NULL,             -- JSON array of event types; [] = all
    sections             TEXT NOT NULL,             -- JSON array of section paths (and descendants); [] = all
    secret               TEXT NOT NULL,             -- whsec_…
    previous_secret      TEXT,                      -- still signing during a rotation's grace period
    previous_expires_at  TEXT,                      -- end of that grace period
    rate_limit           REAL,                      -- deliveries per second; NULL = unlimited
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT,
    failing_since        TEXT,                      -- first failure of the current run of failures
    after_seq            INTEGER NOT NULL,          -- the endpoint receives events after this one
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
) STRICT;

-- WebSub subscriptions, keyed by (topic, callback); only verified ones are stored.
CREATE TABLE websub_subscriptions (
    id              TEXT PRIMARY KEY,               -- sub_…
    topic           TEXT NOT NULL,                  -- hub.topic exactly as the subscriber sent it
    scope           TEXT NOT NULL,                  -- the feed it names: `all` or a section path
    format          TEXT NOT NULL,                  -- rss / atom / json
    callback        TEXT NOT NULL,
    secret          TEXT,                           -- hub.secret, for X-Hub-Signature
    lease_seconds   INTEGER NOT NULL,               -- as granted in the verification
    expires_at      TEXT NOT NULL,                  -- past it the subscription gets nothing and is purged
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (topic, callback)
) STRICT;

CREATE INDEX websub_by_feed ON websub_subscriptions (scope, format);

-- What is sent: one message per event (shared by every endpoint), a test message, or one
-- WebSub notification per topic (rendered once, shared by every subscriber).
CREATE TABLE messages (
    id            TEXT PRIMARY KEY,                 -- the webhook-id: the event's id, msg_… for tests, ntf_… for WebSub
    type          TEXT NOT NULL,                    -- article.published … webhook.test, websub.notification
    event_seq     INTEGER,                          -- the event it carries, if one
    body          TEXT NOT NULL,                    -- the exact bytes sent (and signed)
    content_type  TEXT NOT NULL DEFAULT 'application/json',
    link          TEXT,                             -- a Link header to send with it (WebSub)
    created_at    TEXT NOT NULL
) STRICT;

-- One message to one target (a webhook endpoint or a WebSub subscription): the durable queue.
-- Targets are removed with their deliveries by the application, as the two kinds live in two
-- tables.
CREATE TABLE deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT, -- queue order; ordering per key uses it
    id               TEXT NOT NULL UNIQUE,             -- dlv_…
    message_id       TEXT NOT NULL REFERENCES messages (id),
    target_kind      TEXT NOT NULL,                    -- webhook / websub
    target_id        TEXT NOT NULL,                    -- the webhook endpoint's or the subscription's id
    order_key        TEXT NOT NULL,                    -- the article id, or the topic: sent in order
    expires_at       TEXT,                             -- give up rather than retry past this (lease end)
    status           TEXT NOT NULL,                    -- pending / delivered / failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,                             -- claimed by a worker until then
    last_status      INTEGER,                          -- HTTP status of the last attempt
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT,                             -- delivered or given up
    UNIQUE (target_id, message_id)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_in_order ON deliveries (target_id, order_key, seq);
CREATE INDEX deliveries_by_target ON deliveries (target_id, seq);

-- Every attempt, for the delivery log.
CREATE TABLE delivery_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_seq  INTEGER NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
    attempted_at  TEXT NOT NULL,
    status_code   INTEGER,
    duration_ms   INTEGER NOT NULL,
    error_class   TEXT,                              -- dns, refused, connect, tls, timeout, http
    error         TEXT,
    response_body TEXT NOT NULL DEFAULT ''           -- at most 4 KiB
) STRICT;

CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_seq);

-- How far each consumer of the event log has read.
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
) STRICT;
