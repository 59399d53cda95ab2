-- Dispatch keeps every endpoint's routing filters in memory and reads them again only when
-- this number has moved: on any insert or delete of an endpoint, or a change to a column that
-- decides which events it receives. The bump commits with the change that caused it.
CREATE TABLE endpoint_routes_revision (
    id    integer PRIMARY KEY CHECK (id = 1),
    n     bigint NOT NULL
);

INSERT INTO endpoint_routes_revision (id, n) VALUES (1, 0);

CREATE FUNCTION bump_endpoint_routes_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE endpoint_routes_revision SET n = n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER endpoint_routes_added_or_removed
AFTER INSERT OR DELETE ON webhook_endpoints
FOR EACH STATEMENT EXECUTE FUNCTION bump_endpoint_routes_revision();

-- Only a real change: an update that writes the same filters back leaves the routes as they
-- were.
CREATE TRIGGER endpoint_routes_changed
AFTER UPDATE ON webhook_endpoints
FOR EACH ROW
WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.event_types IS DISTINCT FROM NEW.event_types
      OR OLD.sections IS DISTINCT FROM NEW.sections OR OLD.after_seq IS DISTINCT FROM NEW.after_seq
      OR OLD.created_at IS DISTINCT FROM NEW.created_at)
EXECUTE FUNCTION bump_endpoint_routes_revision();
