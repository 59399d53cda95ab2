-- Sources (feeds/sources.toml): what each one did last, when it runs next, and the instance
-- running it now. `record` and `hub` are JSON documents of domain::SourceRecord and
-- domain::SourceHub; the runner owns `record`, the WebSub callback owns `hub`.
CREATE TABLE sources (
    name        TEXT PRIMARY KEY,
    record      TEXT NOT NULL,                   -- JSON: last fetch, outcome, counts, validators
    hub         TEXT,                            -- JSON: the upstream hub subscription, if any
    due_at      TEXT NOT NULL,                   -- the next run
    held_by     TEXT,                            -- the instance running it now
    held_until  TEXT,                            -- held until then; NULL: free
    updated_at  TEXT NOT NULL
) STRICT;

-- Every article page a source has fetched: a page is fetched again only when asked to
-- revalidate it, and then conditionally.
CREATE TABLE source_pages (
    id             TEXT PRIMARY KEY,             -- source, a space, the page's URL
    source         TEXT NOT NULL,
    url            TEXT NOT NULL,
    etag           TEXT,
    last_modified  TEXT,
    article_id     TEXT,                         -- the article it gave, if it gave one
    outcome        TEXT NOT NULL,                -- created / updated / unchanged / rejected: …
    fetched_at     TEXT NOT NULL
) STRICT;

CREATE INDEX source_pages_by_source ON source_pages (source, fetched_at);
