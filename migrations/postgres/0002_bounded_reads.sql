-- Reads bounded by what they return, however large the archive and the queue grow (as SQLite's 0003).

-- One row per section that has ever held an article: its live articles, and its last change
-- (an article published, changed, deleted, moved in or out). A feed's `updated` time is the
-- newest of its sections' rows, and the feed's sections are read from here, not from a scan of
-- the articles. Maintained by the application in the transaction of each article write.
CREATE TABLE sections (
    section      text COLLATE "C" PRIMARY KEY,
    live         bigint NOT NULL,                   -- articles not deleted
    modified_at  timestamptz NOT NULL
);

INSERT INTO sections (section, live, modified_at)
SELECT section, count(*) FILTER (WHERE deleted_at IS NULL), max(modified_at)
FROM articles GROUP BY section;

-- The newest live articles of one section, and of everything: a feed page is one bounded walk
-- of these per section of its subtree, with no sort of the subtree.
DROP INDEX articles_by_section;
DROP INDEX articles_by_published;
DROP INDEX articles_tombstones;
DROP INDEX articles_modified_by_section;
DROP INDEX articles_by_modified;
CREATE INDEX articles_live_by_section ON articles (section, published_utc DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX articles_live ON articles (published_utc DESC, id DESC) WHERE deleted_at IS NULL;
-- Tombstones inside a feed's window (published since its oldest live entry).
CREATE INDEX articles_gone_by_section ON articles (section, published_utc DESC)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX articles_gone ON articles (published_utc DESC) WHERE deleted_at IS NOT NULL;

-- The end of the first lease to run out, for the delivery engine's sleep.
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE lease_until IS NOT NULL;
