-- Sources (feeds/sources.toml): what each one did last, when it runs next, and the instance
-- running it now. `record` and `hub` are JSON documents of domain::SourceRecord and
-- domain::SourceHub; the runner owns `record`, the WebSub callback owns `hub`.
CREATE TABLE sources (
    name        text COLLATE "C" PRIMARY KEY,
    record      jsonb NOT NULL,                  -- last fetch, outcome, counts, validators
    hub         jsonb,                           -- the upstream hub subscription, if any
    due_at      timestamptz NOT NULL,            -- the next run
    held_by     text,                            -- the instance running it now
    held_until  timestamptz,                     -- held until then; NULL: free
    updated_at  timestamptz NOT NULL
);

-- Every article page a source has fetched: a page is fetched again only when asked to
-- revalidate it, and then conditionally.
CREATE TABLE source_pages (
    id             text COLLATE "C" PRIMARY KEY, -- source, a space, the page's URL
    source         text COLLATE "C" NOT NULL,
    url            text COLLATE "C" NOT NULL,
    etag           text,
    last_modified  text,
    article_id     text,                         -- the article it gave, if it gave one
    outcome        text NOT NULL,                -- created / updated / unchanged / rejected: …
    fetched_at     timestamptz NOT NULL
);

CREATE INDEX source_pages_by_source ON source_pages (source, fetched_at);
