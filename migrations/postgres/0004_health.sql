-- One row that `/healthz` writes, so that health means the store can write (a read-only
-- server, a standby, a full disk answer reads but not writes).
CREATE TABLE health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  TIMESTAMPTZ NOT NULL
);
