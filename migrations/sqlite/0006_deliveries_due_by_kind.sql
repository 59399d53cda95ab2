-- The engine claims one kind of target alone when the other has used its share of the workers
-- (webhooks are never starved by WebSub subscribers): that walk needs the kind in the index.
CREATE INDEX deliveries_due_by_kind ON deliveries (status, target_kind, next_attempt_at);
