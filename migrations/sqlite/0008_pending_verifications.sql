-- WebSub subscription requests accepted (202) and not yet verified or given up, so that a
-- restart or a stop loses none. The instance verifying one holds it until `lease_until`;
-- once released (that instance stopped) or past it (it died), any instance takes it up.
CREATE TABLE websub_verifications (
    id             TEXT PRIMARY KEY,                -- ver_…
    mode           TEXT NOT NULL,                   -- subscribe / unsubscribe
    topic          TEXT NOT NULL,                   -- hub.topic as received
    callback       TEXT NOT NULL,
    secret         TEXT,                            -- hub.secret, for the subscription
    lease_seconds  INTEGER,                         -- hub.lease_seconds as requested
    verify_token   TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,      -- verification GETs made so far
    lease_until    TEXT,                            -- held by an instance until then; NULL: free
    created_at     TEXT NOT NULL
) STRICT;

CREATE INDEX websub_verifications_free ON websub_verifications (lease_until);
