#!/usr/bin/python3
"""A webhook receiver for the integration tests that verifies Standard Webhooks
signatures (webhook-id, webhook-timestamp within 5 minutes, webhook-signature
"v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", key = base64 of a whsec_ secret).

Every request is appended to --log (JSONL: path, id, timestamp, valid, body); a bad
signature is answered 401. --status sets the answer for good ones (default 204),
--delay stalls each answer, --cert/--key serve HTTPS. The port goes to --port-file.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()


def key_of(secret):
    return base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()


def valid(headers, body):
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return False
    try:
        if abs(int(ts) - time.time()) > 300:
            return False
    except ValueError:
        return False
    mac = hmac.new(key_of(args.secret), msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256)
    want = "v1," + base64.b64encode(mac.digest()).decode()
    return any(hmac.compare_digest(s, want) for s in sigs.split(" "))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ok = valid(self.headers, body)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with lock, open(args.log, "a") as f:
            f.write(json.dumps({"path": self.path, "id": self.headers.get("webhook-id"),
                                "timestamp": self.headers.get("webhook-timestamp"),
                                "content_type": self.headers.get("Content-Type"),
                                "valid": ok, "body": parsed}) + "\n")
        if args.delay:
            time.sleep(args.delay)
        status = args.status if ok else 401
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--status", type=int, default=204)
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
