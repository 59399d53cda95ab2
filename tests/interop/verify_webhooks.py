"""Verifies webhook deliveries with the Standard Webhooks reference library.

Input (a JSON file): [{"secret": "whsec_…", "headers": {name: value}, "body": "…"}, …].
Prints the number verified; exits 1 naming the first delivery that does not verify.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook


def main(path):
    with open(path, encoding="utf-8") as f:
        deliveries = json.load(f)
    for i, d in enumerate(deliveries):
        try:
            Webhook(d["secret"]).verify(d["body"].encode("utf-8"), d["headers"])
        except Exception as e:  # noqa: BLE001 - report any failure with its index
            print(f"delivery {i} ({d['headers'].get('webhook-id')}) does not verify: {e!r}")
            sys.exit(1)
    print(len(deliveries))


if __name__ == "__main__":
    main(sys.argv[1])
