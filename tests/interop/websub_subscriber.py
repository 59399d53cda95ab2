"""A real WebSub subscriber (flask-websub 0.4.1) against a tidings hub on loopback.

Usage: websub_subscriber.py FEED_URL [SECRET]

Discovers hub and topic from the feed's Link header, subscribes (with SECRET, if given),
prints "SUBSCRIBED" once the hub's verification of intent has been answered, then waits for
one notification whose signature flask-websub accepted and prints "NOTIFIED <bytes>" followed
by the notification body on one line. Exits 1 on any failure or after 60 seconds.
"""
import sys
import tempfile
import threading
import time

import flask_websub.subscriber as websub_subscriber
from flask import Flask
from flask_websub.subscriber import (
    SQLite3SubscriberStorage,
    SQLite3TempSubscriberStorage,
    Subscriber,
    discover,
)
from werkzeug.serving import make_server

# flask-websub sends hub.secret only to https hubs and first probes the https form of an http
# hub URL. The hub under test is plain HTTP on loopback, so relax that check in the subscriber
# (not in the hub): the secret still travels, and signatures are still checked.
websub_subscriber.is_secure = lambda url: True
Subscriber.safe_post_request = lambda self, url, **opts: websub_subscriber.request_url(self.config, "POST", url, **opts)


def main(feed_url, secret=None):
    folder = tempfile.mkdtemp()
    app = Flask(__name__)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["SERVER_NAME"] = f"127.0.0.1:{server.server_port}"
    app.config["PREFERRED_URL_SCHEME"] = "http"
    # Without a secret of our own, send none (the library would otherwise make one up).
    app.config["AUTO_SET_SECRET"] = bool(secret)
    subscriber = Subscriber(
        SQLite3SubscriberStorage(f"{folder}/subs.db"),
        SQLite3TempSubscriberStorage(f"{folder}/temp.db"),
    )
    app.register_blueprint(subscriber.build_blueprint(url_prefix="/callbacks"))

    subscribed = threading.Event()
    notified = []
    failures = []
    subscriber.add_success_handler(lambda topic, callback_id, mode: subscribed.set())
    subscriber.add_error_handler(lambda topic, callback_id, reason: failures.append(reason))
    subscriber.add_listener(lambda topic, callback_id, body: notified.append(body))

    threading.Thread(target=server.serve_forever, daemon=True).start()
    found = discover(feed_url)
    with app.app_context():
        request = dict(found)
        if secret:
            request["secret"] = secret
        subscriber.subscribe(**request)

    deadline = time.time() + 60
    if not subscribed.wait(timeout=60):
        print(f"FAILED no verification of intent: {failures}", flush=True)
        sys.exit(1)
    print("SUBSCRIBED", flush=True)
    while not notified and time.time() < deadline:
        time.sleep(0.02)
    if not notified:
        print("FAILED no notification was accepted", flush=True)
        sys.exit(1)
    body = notified[0]
    print(f"NOTIFIED {len(body)}", flush=True)
    print(body.decode("utf-8").replace("\n", " "), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
