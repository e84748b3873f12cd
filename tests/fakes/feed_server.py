#!/usr/bin/python3
"""An order feed server for the http source's tests. GET any path with
Authorization: Bearer <--token>; answers the page stored under the request's `cursor`
query parameter ("" without one) in --pages, a JSON file re-read on every request:
{"<cursor>": <answer object, or a string sent as is>}. A wrong token gets 401.
Each request is appended to --log (JSONL: path, cursor, authorized). Port to --port-file.
--cert/--key serve HTTPS; --http10 answers HTTP/1.0 without Content-Length and ends
the body by closing the connection (no TLS close_notify), as simple servers do.
"""
import argparse
import json
import os
import ssl
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if args.http10:
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        cursor = urllib.parse.parse_qs(url.query).get("cursor", [""])[0]
        authorized = self.headers.get("Authorization") == "Bearer " + args.token
        with open(args.log, "a") as f:
            f.write(json.dumps({"path": url.path, "cursor": cursor, "authorized": authorized}) + "\n")
        if not authorized:
            return self.reply(401, b'{"error": "unauthorized"}')
        with open(args.pages) as f:
            pages = json.load(f)
        page = pages.get(cursor, {"records": [], "next_cursor": cursor, "more": False})
        self.reply(200, (page if isinstance(page, str) else json.dumps(page)).encode())


def main():
    global args
    ap = argparse.ArgumentParser()
    for a in ("--pages", "--token", "--log", "--port-file"):
        ap.add_argument(a, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--http10", action="store_true")
    args = ap.parse_args()
    if args.http10:
        Handler.protocol_version = "HTTP/1.0"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
