-- Dispatch keeps every endpoint's routing filters in memory and reads them again only when
-- this number has moved: on any insert or delete of an endpoint, or a change to a column that
-- decides which events it receives.
CREATE TABLE endpoint_routes_revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    n     INTEGER NOT NULL
) STRICT;

INSERT INTO endpoint_routes_revision (id, n) VALUES (1, 0);

CREATE TRIGGER endpoint_routes_inserted AFTER INSERT ON webhook_endpoints
BEGIN
    UPDATE endpoint_routes_revision SET n = n + 1;
END;

CREATE TRIGGER endpoint_routes_deleted AFTER DELETE ON webhook_endpoints
BEGIN
    UPDATE endpoint_routes_revision SET n = n + 1;
END;

-- Only a real change: an update that writes the same filters back leaves the routes as they
-- were.
CREATE TRIGGER endpoint_routes_changed AFTER UPDATE ON webhook_endpoints
WHEN OLD.id IS NOT NEW.id OR OLD.event_types IS NOT NEW.event_types
  OR OLD.sections IS NOT NEW.sections OR OLD.after_seq IS NOT NEW.after_seq
  OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE endpoint_routes_revision SET n = n + 1;
END;
