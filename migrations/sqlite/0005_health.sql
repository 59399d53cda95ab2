-- One row that `/healthz` writes, so that health means the store can write (a read-only or full
-- database, or one whose file is gone, answers reads but not writes).
CREATE TABLE health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  TEXT NOT NULL
) STRICT;
