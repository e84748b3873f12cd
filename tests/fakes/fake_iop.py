#!/usr/bin/python3
"""A fake AliExpress (IOP) gateway for the integration tests.

Checks every request's app_key, access_token, timestamp (within 5 minutes) and
HMAC-SHA256 signature and answers a bad one with an IOP-style error_response. Serves
aliexpress.trade.seller.orderlist.get (status list, Pacific modified dates, pages)
and aliexpress.trade.new.redefining.findorderbyid from a JSON state file it re-reads
on every request, so the test changes orders by rewriting that file:

  {"orders": [{"order_id": "1", "order_status": "PLACE_ORDER_SUCCESS",
               "gmt_create": "2026-11-26 04:00:00", "buyer_login_id": "es1001", ...,
               "stale_in_list": true}],     # the list still shows the old status
   "buyer_ids": {"es1001": 9001001},
   "mode": "ok" | "error" | "throttle" | "throttle_first" | "malformed" | "slow",
   "throttle_first": {"/aliexpress/message/send": 2},  # ApiCallLimit for the first N calls of an api
   "slow_seconds": 5}

gmt_modified is kept by the fake: the first time it sees an order, its gmt_create;
whenever the status in the state file changes, the time of that change.
Messages sent through /aliexpress/message/send are appended to --messages (JSONL);
every request is appended to --calls (JSONL: api, outcome). The port goes to
--port-file once listening.
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.parse
import zoneinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
FMT = "%Y-%m-%d %H:%M:%S"

args = None
lock = threading.Lock()
counter = {}  # api -> requests that passed the checks
seen = {}  # order_id -> (status, gmt_modified)


def pacific_now():
    return datetime.datetime.now(PACIFIC).strftime(FMT)


def sign(api_path, params, secret):
    text = api_path + "".join(k + params[k] for k in sorted(params) if k != "sign")
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def load_state():
    try:
        with open(args.state) as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    with lock:
        for o in state.get("orders", []):
            oid = str(o["order_id"])
            status = o.get("order_status")
            old = seen.get(oid)
            if old is None:
                seen[oid] = (status, o.get("gmt_modified", o.get("gmt_create")))
            elif old[0] != status:
                seen[oid] = (status, pacific_now())
            o["gmt_modified"] = seen[oid][1]
    return state


def append(path, obj):
    with lock, open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def iop_error(code, msg):
    return {"error_response": {"type": "ISV" if code != "ApiCallLimit" else "ISP", "code": code, "msg": msg,
                               "request_id": "fake"}}


def public(o):
    return {k: v for k, v in o.items() if k not in ("stale_in_list", "listed_status")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, obj, status=200, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode(), keep_blank_values=True)
        form.update(urllib.parse.parse_qs(url.query, keep_blank_values=True))
        p = {k: v[0] for k, v in form.items()}
        if url.path == "/sync":
            api, sign_path = p.get("method", ""), ""
        elif url.path.startswith("/rest/"):
            api = sign_path = url.path[len("/rest"):]
        else:
            return self.answer(iop_error("InvalidApiPath", "no such path"), 404)
        state = load_state()

        def record(outcome):
            append(args.calls, {"api": api, "outcome": outcome, "at": time.time()})

        # Checks first: a request the real gateway would refuse is refused here too.
        if p.get("app_key") != args.app_key:
            record("bad_app_key")
            return self.answer(iop_error("InvalidAppKey", "unknown app_key"))
        if p.get("access_token") != args.token:
            record("bad_token")
            return self.answer(iop_error("IllegalAccessToken", "the access token is invalid"))
        if p.get("sign_method") != "sha256" or not p.get("sign"):
            record("bad_sign")
            return self.answer(iop_error("IncompleteSignature", "sign_method must be sha256"))
        try:
            ts = int(p.get("timestamp", ""))
        except ValueError:
            ts = 0
        if abs(ts - time.time() * 1000) > 300_000:
            record("bad_timestamp")
            return self.answer(iop_error("InvalidTimestamp", "timestamp out of range"))
        if not hmac.compare_digest(p["sign"], sign(sign_path, p, args.secret)):
            record("bad_sign")
            return self.answer(iop_error("IncompleteSignature", "the signature does not match"))

        mode = state.get("mode", "ok")
        with lock:
            counter[api] = counter.get(api, 0) + 1
            nth = counter[api]
        if mode == "error":
            record("error")
            return self.answer(iop_error("isp.order-query-failed", "the order service failed"))
        if mode == "throttle" or (mode == "throttle_first" and nth <= state.get("throttle_first", {}).get(api, 0)):
            record("throttled")
            return self.answer(iop_error("ApiCallLimit", "The request has exceeded the limit"))
        if mode == "malformed":
            record("malformed")
            return self.answer(None, raw=b'{"aliexpress_trade_seller_orderlist_get_response": {"result": ')
        if mode == "slow":
            record("slow")
            time.sleep(float(state.get("slow_seconds", 5)))
            return self.answer({"code": "0", "result": {}})

        if api == "aliexpress.trade.seller.orderlist.get":
            return self.order_list(state, p, record)
        if api == "aliexpress.trade.new.redefining.findorderbyid":
            q = json.loads(p.get("param1", "{}"))
            for o in state.get("orders", []):
                if str(o["order_id"]) == str(q.get("order_id")):
                    record("ok")
                    return self.answer({"aliexpress_trade_new_redefining_findorderbyid_response":
                                        {"result": public(o), "request_id": "fake"}})
            record("not_found")
            return self.answer(iop_error("isv.order-not-found", "no such order"))
        if api == "/aliexpress/message/session/open":
            login = p.get("buyer_login_id", "")
            ids = state.get("buyer_ids", {})
            if login not in ids:
                record("unknown_buyer")
                return self.answer({"code": "isv.buyer-not-found", "message": "no such buyer", "request_id": "fake"})
            record("ok")
            return self.answer({"code": "0", "result": {"buyer_id": ids[login]}, "request_id": "fake"})
        if api == "/aliexpress/message/send":
            dto = json.loads(p.get("im_send_message_dto", "{}"))
            content = dto.get("message_content_dto", {})
            append(args.messages, {"buyer_id": dto.get("buyer_id"), "scene_id": dto.get("scene_id"),
                                   "template_id": dto.get("template_id"), "order_id": content.get("order_id"),
                                   "txt": content.get("txt"), "at": time.time()})
            record("ok")
            return self.answer({"code": "0", "result": {"is_success": True}, "request_id": "fake"})
        record("unknown_api")
        return self.answer(iop_error("InvalidMethod", "unknown api " + api))

    def order_list(self, state, p, record):
        try:
            q = json.loads(p.get("param_aeop_order_query", ""))
            page, size = int(q.get("current_page", 1)), int(q.get("page_size", 20))
            statuses = set(q["order_status_list"])
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(iop_error("MissingParameter", "param_aeop_order_query is not valid"))
        if size > 50:
            record("bad_query")
            return self.answer(iop_error("InvalidParameter", "page_size must be at most 50"))
        start, end = q.get("modified_date_start"), q.get("modified_date_end")
        hits = []
        for o in state.get("orders", []):
            listed = o.get("listed_status", o["order_status"]) if o.get("stale_in_list") else o["order_status"]
            if listed not in statuses:
                continue
            if start and o["gmt_modified"] < start:  # "yyyy-MM-dd HH:mm:ss" sorts as text
                continue
            if end and o["gmt_modified"] > end:
                continue
            dto = public(o)
            dto["order_status"] = listed
            hits.append(dto)
        total_page = max(1, (len(hits) + size - 1) // size)
        record("ok")
        return self.answer({"aliexpress_trade_seller_orderlist_get_response": {"result": {
            "target_list": {"order_dto": hits[(page - 1) * size: page * size]},
            "current_page": page, "page_size": size, "total_count": len(hits), "total_page": total_page,
            "success": True}, "request_id": "fake"}})


def main():
    global args
    ap = argparse.ArgumentParser()
    for a in ("--state", "--messages", "--calls", "--port-file", "--app-key", "--secret", "--token"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, args.port_file)
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
