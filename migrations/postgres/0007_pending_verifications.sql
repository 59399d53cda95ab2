-- WebSub subscription requests accepted (202) and not yet verified or given up, so that a
-- restart or a stop loses none. The instance verifying one holds it until `lease_until`;
-- once released (that instance stopped) or past it (it died), any instance takes it up.
CREATE TABLE websub_verifications (
    id             text COLLATE "C" PRIMARY KEY,    -- ver_…
    mode           text NOT NULL,                   -- subscribe / unsubscribe
    topic          text COLLATE "C" NOT NULL,       -- hub.topic as received
    callback       text COLLATE "C" NOT NULL,
    secret         text,                            -- hub.secret, for the subscription
    lease_seconds  bigint,                          -- hub.lease_seconds as requested
    verify_token   text,
    attempts       bigint NOT NULL DEFAULT 0,       -- verification GETs made so far
    lease_until    timestamptz,                     -- held by an instance until then; NULL: free
    created_at     timestamptz NOT NULL
);

CREATE INDEX websub_verifications_free ON websub_verifications (lease_until);
