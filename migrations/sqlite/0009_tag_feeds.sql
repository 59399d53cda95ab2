-- Tag feeds (/feeds/tags/{tag}.atom): the newest live articles of every section that carry a
-- tag, and the tombstones of those that carried it, each page one bounded walk of an index.

-- One row per tag of each article (live or tombstone), with the article's sort key and state
-- copied from its row. The article body stays the truth; these rows are written in the same
-- transaction as every write of the article, and rebuilt from the bodies by `tidings copy`.
CREATE TABLE article_tags (
    article_id    TEXT NOT NULL,
    tag           TEXT NOT NULL,              -- exactly as in the body (ingest folds white space)
    published_utc TEXT NOT NULL,              -- the article's published_utc
    live          INTEGER NOT NULL,           -- 1, or 0 once the article is a tombstone
    PRIMARY KEY (article_id, tag)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO article_tags (article_id, tag, published_utc, live)
SELECT a.id, t.value, a.published_utc, a.deleted_at IS NULL
  FROM articles a, json_each(a.body, '$.tags') t
 WHERE json_type(a.body, '$.tags') = 'array' AND t.type = 'text';

-- A tag's newest live articles, in feed order; its tombstones inside a feed's window.
CREATE INDEX article_tags_live ON article_tags (tag, published_utc DESC, article_id DESC)
    WHERE live = 1;
CREATE INDEX article_tags_gone ON article_tags (tag, published_utc DESC) WHERE live = 0;

-- One row per tag that any article has carried: the last change of its feed (an article
-- published, changed or deleted with the tag, or one that dropped it), the feed's `updated`
-- time and Last-Modified. Maintained by the application in the transaction of each write.
CREATE TABLE tags (
    tag          TEXT PRIMARY KEY,
    modified_at  TEXT NOT NULL
) STRICT;

INSERT INTO tags (tag, modified_at)
SELECT t.tag, max(a.modified_at)
  FROM article_tags t JOIN articles a ON a.id = t.article_id
 GROUP BY t.tag;

-- The tags whose feeds an event changes: the article's at that version and, for an update,
-- those it dropped (a JSON array of strings). NULL for none, and for the events written
-- before tag feeds existed: no subscription or cached feed could be a tag's then.
ALTER TABLE events ADD COLUMN tags TEXT;
