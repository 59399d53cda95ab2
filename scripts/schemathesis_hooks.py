"""Hooks for schemathesis (scripts/api-check): how to send a batch as NDJSON."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    items = value if isinstance(value, list) else [value]
    lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    return {"data": lines.encode("utf-8")}
