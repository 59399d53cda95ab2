-- An event keeps a snapshot of its article only for a version the article's row no longer
-- holds, while the webhook dispatcher (the cursor named `webhooks`) has not read it: the event
-- of the current version reads the row. This halves what each article costs to store.
-- SQLite cannot drop NOT NULL from a column, so the table is rebuilt, keeping every `seq`
-- and the sequence past them.
CREATE TABLE events_next (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- cursor of the event log; never reused
    id           TEXT NOT NULL UNIQUE,              -- public id (webhook-id), evt_…
    type         TEXT NOT NULL,                     -- article.published / .updated / .deleted
    article_id   TEXT NOT NULL,
    section      TEXT NOT NULL,
    moved_from   TEXT,                              -- the previous section, when an update moved the article
    version      INTEGER NOT NULL,
    occurred_at  TEXT NOT NULL,
    payload      TEXT                               -- JSON snapshot of the article at this version, when
                                                    -- the article's row no longer holds it; else NULL
) STRICT;

INSERT INTO events_next (seq, id, type, article_id, section, moved_from, version, occurred_at, payload)
SELECT e.seq, e.id, e.type, e.article_id, e.section, e.moved_from, e.version, e.occurred_at,
       CASE WHEN e.version = a.version
              OR e.seq <= coalesce((SELECT seq FROM cursors WHERE name = 'webhooks'), 0)
            THEN NULL ELSE e.payload END
  FROM events e LEFT JOIN articles a ON a.id = e.article_id
 ORDER BY e.seq;

CREATE TABLE events_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_next RENAME TO events;
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM events_sequence), 0))
 WHERE name = 'events';
DROP TABLE events_sequence;

CREATE INDEX events_by_article ON events (article_id, version);
