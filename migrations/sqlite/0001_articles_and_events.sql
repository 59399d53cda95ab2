-- Articles, one row per publisher id; a deleted article stays as a tombstone.
CREATE TABLE articles (
    id            TEXT PRIMARY KEY,           -- the publisher's stable id (idempotency key)
    section       TEXT NOT NULL,              -- slug path, such as hnyw/ldhd
    body          TEXT NOT NULL,              -- the normalised article as JSON (domain::Article)
    content_hash  TEXT NOT NULL,              -- sha256 of the article as sent: equal means unchanged
    published_utc TEXT NOT NULL,              -- sort key of feeds: RFC 3339 UTC, fixed width
    version       INTEGER NOT NULL,           -- 1, then +1 per change, deletion and re-publication
    created_at    TEXT NOT NULL,
    modified_at   TEXT NOT NULL,              -- last stored change: feed updated / Last-Modified
    deleted_at    TEXT                        -- set: a tombstone
) STRICT;

CREATE INDEX articles_by_section ON articles (section, published_utc DESC);
CREATE INDEX articles_by_published ON articles (published_utc DESC);

-- The outbox: written in the same transaction as the article change that caused it.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- cursor of the event log; never reused
    id           TEXT NOT NULL UNIQUE,              -- public id (webhook-id), evt_…
    type         TEXT NOT NULL,                     -- article.published / .updated / .deleted
    article_id   TEXT NOT NULL,
    section      TEXT NOT NULL,
    moved_from   TEXT,                              -- the previous section, when an update moved the article
    version      INTEGER NOT NULL,
    occurred_at  TEXT NOT NULL,
    payload      TEXT NOT NULL                      -- JSON snapshot of the article at this version
) STRICT;

CREATE INDEX events_by_article ON events (article_id, version);
