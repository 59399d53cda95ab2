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

-- What is sent: one message per event (shared by every endpoint), or a test message.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,                   -- the webhook-id: the event's id, or msg_… for tests
    type        TEXT NOT NULL,                      -- article.published … or webhook.test
    event_seq   INTEGER,                            -- the event it carries, if any
    body        TEXT NOT NULL,                      -- the exact JSON bytes sent (and signed)
    created_at  TEXT NOT NULL
) STRICT;

-- One message to one endpoint: the durable queue.
CREATE TABLE deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT, -- queue order; ordering per article uses it
    id               TEXT NOT NULL UNIQUE,             -- dlv_…
    message_id       TEXT NOT NULL REFERENCES messages (id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    order_key        TEXT NOT NULL,                    -- the article id: its versions go in order
    status           TEXT NOT NULL,                    -- pending / delivered / failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,                             -- claimed by a worker until then
    last_status      INTEGER,                          -- HTTP status of the last attempt
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT,                             -- delivered or given up
    UNIQUE (endpoint_id, message_id)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_in_order ON deliveries (endpoint_id, order_key, seq);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, seq);

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
