#!/usr/bin/python3
"""A contract fake of the AliExpress Open Platform (IOP) gateway.

Written from the platform's published contract, not from nudge's code. Sources:
  [SDK]   the official IOP Java SDK ("iop-sdk-java", package com.aliexpress.open): its
          generated request/response/domain classes give every field name and type,
          and com.global.iop.api.{GopExecutor,TopExecutor} / util.IopUtils how a
          request is addressed and signed;
  [PYSDK] the official Python SDK's iop/base.py (sign(), IopClient.execute: the
          system parameters app_key, sign_method=sha256, timestamp in ms, access_token,
          partner_id, method, simplify=false, format=json);
  [DOC]   the API documentation of param_aeop_order_query (AeopOrderQuery's field
          comments in the SDK carry it) and of the token APIs;
  [CAP]   answers captured in public code: orders listed under
          target_list.aeop_order_item_dto; findorderbyid's target with a numeric id;
          the throttling message "Api access frequency exceeds the limit. this ban
          will last 1 seconds".
Each answer below names its source.

It checks what the real gateway checks: app_key, the access token, sign_method,
the timestamp (within 7200 s [DOC]) and the HMAC-SHA256 signature [SDK IopUtils,
PYSDK sign]; and it refuses what the SDK would never send (a findorderbyid param1
with a string order_id, a session/open without im_session_open_dto, a message/send
without a numeric buyer_id, a modified-date window without a create-date bound).

State: a JSON file re-read on every request, so a test changes the world by rewriting it:
  {"orders": [{AeopOrderItemDTO fields: "order_id": 1001 (number), "order_status",
               "end_reason", "fund_status", "gmt_create" (Pacific), "buyer_login_id",
               "buyer_signer_fullname", "pay_amount": {"amount", "currency_code"},
               "timeout_left_time"; plus, for the test only,
               "stale_in_list": true, "listed_status": "..."}],   # the list lags [DOC: gmt_modified lags]
   "buyer_ids": {"dz595004243yiyae": 2206861234567},   # login id -> numeric id for session/open
   "chats": {"2206861234567": [{AeImMessageDTO fields: "message_id", "from_account_type"
             (11 buyer), "type" (1 user), "content" (a JSON string), "send_time" (ms)}]},
   "mode": "ok" | "error" | "throttle_first" | "malformed" | "slow" | "old_shape" |
           "unknown_shape" | "count_no_items" | "refuse_credentials",
   "throttle_first": {"<api>": N},  # ApiCallLimit for the first N calls of an api
   "ban_seconds": 1,                # the ban the throttling message states (and the fake enforces)
   "send_answer": "success" | "is_success" | "unknown",
   "refresh": "ok" | "refuse",
   "token_expires_in": 86400,       # seconds, for /auth/token/refresh answers
   "skew_seconds": 0,               # the Date header's offset from the real time
   "slow_seconds": 5}
Messages sent are appended to --messages (JSONL); every request to --calls (JSONL:
api, outcome, and the parameters a test checks). The port goes to --port-file.

Several accounts: one gateway serves many apps and sellers [DOC: each app has its own
app_key and app secret; /auth/token/create issues an access token to one seller for
one app]. --account APP_KEY:SECRET:TOKEN (repeatable) adds one beside the first
(--app-key/--secret/--token): a request is checked against its own app_key's secret
and token, so a call signed or authorised with another account's credentials is
refused (bad_sign, bad_token). An order may name its account ("app_key": "..."; by
default the first): the order list and findorderbyid show a seller only its own
orders, and message/send refuses an order_id that is not the seller's
(order_of_another_seller). Each message and call records the app_key it came with.
"""
import argparse
import datetime
import email.utils
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
ORDER_LIST = "aliexpress.trade.seller.orderlist.get"
FIND_ORDER = "aliexpress.trade.new.redefining.findorderbyid"
SESSION_OPEN = "/aliexpress/message/session/open"
MESSAGE_SEND = "/aliexpress/message/send"
TOKEN_REFRESH = "/auth/token/refresh"
TOKEN_CREATE = "/auth/token/create"
MESSAGE_HISTORY = "/aliexpress/message/history/list"
SESSION_TAG = "/aliexpress/message/session/tag/update"

args = None
lock = threading.Lock()
counter = {}  # api -> requests that passed the checks
seen = {}  # order_id -> (status, gmt_modified)
banned_until = {}  # api -> time.time() the stated ban ends
accounts = {}  # app_key -> {"secret", "access", "refresh", "base"}: a refresh replaces access and refresh


def pacific_now():
    return datetime.datetime.now(PACIFIC).strftime(FMT)


def sign(api_path, params, secret):
    # [SDK IopUtils.signApiRequest] sorted keys, key+value, api path first for /rest, HMAC-SHA256, upper hex.
    text = api_path + "".join(k + params[k] for k in sorted(params) if k != "sign" and params[k] != "")
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
                seen[oid] = (status, o.get("gmt_update", o.get("gmt_create")))
            elif old[0] != status:
                seen[oid] = (status, pacific_now())
            o["gmt_update"] = seen[oid][1]
    return state


def append(path, obj):
    with lock, open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def sync_error(code, msg, kind="ISV"):
    # [SDK TopExecutor, RSP_ERR_RSP] a /sync error: {"error_response": {type, code, msg, request_id}}
    return {"error_response": {"type": kind, "code": code, "msg": msg, "request_id": "fake-req"}}


def rest_error(code, msg, kind="ISV"):
    # [SDK GopExecutor, IopResponse; PYSDK execute] a /rest error: type, code, message at the top.
    return {"type": kind, "code": code, "message": msg, "request_id": "fake-req"}


def public(o):
    return {k: v for k, v in o.items() if k not in ("stale_in_list", "listed_status", "app_key")}


def detail_of(o):
    # [SDK AliexpressTradeNewRedefiningFindorderbyidAeopTpOrderDetailDTO; CAP] findorderbyid's target.
    return {"id": int(o["order_id"]), "order_status": o["order_status"],
            "order_end_reason": o.get("end_reason", ""), "fund_status": o.get("fund_status", "NOT_PAY"),
            "buyerloginid": o.get("buyer_login_id"), "buyer_signer_fullname": o.get("buyer_signer_fullname"),
            "gmt_create": o.get("gmt_create"), "gmt_modified": o.get("gmt_update"),
            "order_amount": o.get("pay_amount", {"amount": "0.00", "currency_code": "USD"}),
            "frozen_status": "NO_FROZEN", "issue_status": "NO_ISSUE", "logistics_status": "NO_LOGISTICS"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def date_time_string(self, timestamp=None):
        skew = getattr(self, "skew", 0)
        return email.utils.formatdate(time.time() + skew, usegmt=True)

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
        # [SDK TopExecutor] /sync?method=<name>, signed without a path; [SDK GopExecutor] /rest/<path>, signed with it.
        if url.path == "/sync":
            api, sign_path = p.get("method", ""), ""
        elif url.path.startswith("/rest/"):
            api = sign_path = url.path[len("/rest"):]
        else:
            return self.answer(rest_error("InvalidApiPath", "no such path"), 404)
        error = sync_error if url.path == "/sync" else rest_error
        state = load_state()
        self.skew = float(state.get("skew_seconds", 0))
        info = {}

        def record(outcome):
            append(args.calls, dict({"api": api, "outcome": outcome, "at": time.time()}, **info))

        # Checks first: a request the real gateway would refuse is refused here too.
        account = accounts.get(p.get("app_key"))
        info["app_key"] = p.get("app_key")
        if account is None:
            record("bad_app_key")
            return self.answer(error("InvalidAppKey", "unknown app_key"))
        self.app_key = p["app_key"]
        if api not in (TOKEN_REFRESH, TOKEN_CREATE):
            token = p.get("access_token", p.get("session"))  # [PYSDK] access_token; [SDK TopExecutor] session
            if state.get("mode") == "refuse_credentials" or token != account["access"]:
                record("bad_token")
                return self.answer(error("IllegalAccessToken", "The specified access token is invalid or expired"))
        if p.get("sign_method") != "sha256" or not p.get("sign"):
            record("bad_sign")
            return self.answer(error("IncompleteSignature", "sign_method must be sha256"))
        try:
            ts = int(p.get("timestamp", ""))
        except ValueError:
            ts = 0
        if abs(ts - time.time() * 1000) > 7_200_000:  # [DOC] a timestamp more than 7200 s off is refused
            record("bad_timestamp")
            return self.answer(error("InvalidTimestamp", "The timestamp is more than 7200 seconds off"))
        if not hmac.compare_digest(p["sign"], sign(sign_path, p, account["secret"])):
            record("bad_sign")
            return self.answer(error("IncompleteSignature", "The request signature does not conform to platform standards"))
        if p.get("format", "json") != "json":
            record("bad_format")
            return self.answer(error("InvalidFormat", "format must be json"))

        mode = state.get("mode", "ok")
        ban = float(state.get("ban_seconds", 1))
        with lock:
            now = time.time()
            if banned_until.get(api, 0) > now:
                # A call inside the stated ban: the real gateway bans again. nudge must never make one.
                banned_until[api] = now + ban
                record("called_while_banned")
                return self.answer(error("ApiCallLimit",
                                         "Api access frequency exceeds the limit. this ban will last %d seconds" % ban))
            counter[api] = counter.get(api, 0) + 1
            nth = counter[api]
            throttled = mode == "throttle_first" and nth <= state.get("throttle_first", {}).get(api, 0)
            if throttled:
                banned_until[api] = now + ban
        if mode == "error":
            record("error")
            return self.answer(error("isp.order-query-failed", "the order service failed", "ISP"))
        if throttled:
            record("throttled")
            # [CAP] the throttling answer, with the ban it states
            return self.answer(error("ApiCallLimit",
                                     "Api access frequency exceeds the limit. this ban will last %d seconds" % ban))
        if mode == "malformed":
            record("malformed")
            return self.answer(None, raw=b'{"aliexpress_trade_seller_orderlist_get_response": {"result": ')
        if mode == "slow":
            record("slow")
            time.sleep(float(state.get("slow_seconds", 5)))
            return self.answer({"code": "0"})

        if api == ORDER_LIST:
            return self.order_list(state, p, record, info, error)
        if api == FIND_ORDER:
            return self.find_order(state, p, record, info, error)
        if api == SESSION_OPEN:
            return self.session_open(state, p, record, info)
        if api == MESSAGE_SEND:
            return self.message_send(state, p, record, info)
        if api == TOKEN_REFRESH:
            return self.token_refresh(state, p, record, account)
        if api == MESSAGE_HISTORY:
            return self.message_history(state, p, record, info)
        if api == SESSION_TAG:
            return self.session_tag(state, p, record, info)
        record("unknown_api")
        return self.answer(error("InvalidApiPath", "The specified API path is invalid: " + api))

    def own_orders(self, state):
        # [DOC] a seller's access token shows that seller's orders only.
        return [o for o in state.get("orders", []) if o.get("app_key", args.app_key) == self.app_key]

    def order_list(self, state, p, record, info, error):
        # [SDK AliexpressTradeSellerOrderlistGetRequest] one parameter, param_aeop_order_query: AeopOrderQuery as JSON.
        try:
            q = json.loads(p.get("param_aeop_order_query", ""))
            page, size = int(q.get("current_page", 1)), int(q.get("page_size", 20))
            statuses = list(q.get("order_status_list") or ([q["order_status"]] if q.get("order_status") else []))
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(error("MissingParameter", "param_aeop_order_query is not valid"))
        info["query"] = q
        if size > 50:
            record("bad_query")
            return self.answer(error("isv.invalid-parameter", "page_size must be at most 50"))
        start, end = q.get("modified_date_start"), q.get("modified_date_end")
        # [DOC AeopOrderQuery.modified_date_start] a modified window needs create_date bounds.
        if (start or end) and not (q.get("create_date_start") or q.get("create_date_end")):
            record("bad_query")
            return self.answer(error("isv.invalid-parameter", "modified_date needs create_date_start/create_date_end"))
        # [DOC AeopOrderQuery.order_status] FINISH must be queried on its own; any other query leaves it out.
        finish_alone = statuses == ["FINISH"]
        if "FINISH" in statuses and not finish_alone:
            info["finish_mixed"] = True
        mode = state.get("mode", "ok")
        hits = []
        for o in self.own_orders(state):
            listed = o.get("listed_status", o["order_status"]) if o.get("stale_in_list") else o["order_status"]
            if listed == "FINISH" and not finish_alone:
                continue
            if statuses and listed not in statuses:
                continue
            if start and o["gmt_update"] < start:  # "yyyy-MM-dd HH:mm:ss" sorts as text
                continue
            if end and o["gmt_update"] > end:
                continue
            if q.get("create_date_start") and o["gmt_create"] < q["create_date_start"]:
                continue
            if q.get("create_date_end") and o["gmt_create"] > q["create_date_end"]:
                continue
            dto = public(o)
            dto["order_status"] = listed
            hits.append(dto)
        total_page = max(1, (len(hits) + size - 1) // size)
        items = hits[(page - 1) * size: page * size]
        # [SDK AliexpressTradeSellerOrderlistGetAeopPageResultDTO; CAP target_list.aeop_order_item_dto]
        result = {"current_page": page, "page_size": size, "total_count": len(hits), "total_page": total_page,
                  "success": True, "time_stamp": pacific_now()}
        if items:
            result["target_list"] = {"aeop_order_item_dto": items}
        if mode == "old_shape":  # the key of aliexpress.solution.order.get, not of this API
            result["target_list"] = {"order_dto": items}
        elif mode == "unknown_shape":
            result = {"data": {"orders": items}}
        elif mode == "count_no_items":
            result["total_count"] = max(1, len(hits))
            result.pop("target_list", None)
        record(mode if mode in ("old_shape", "unknown_shape", "count_no_items") else "ok")
        return self.answer({"aliexpress_trade_seller_orderlist_get_response":
                            {"result": result, "request_id": "fake-req"}})

    def find_order(self, state, p, record, info, error):
        # [SDK AliexpressTradeNewRedefiningFindorderbyidRequest] param1: AeopTpSingleOrderQuery, order_id a Long.
        try:
            q = json.loads(p.get("param1", ""))
            oid = q["order_id"]
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(error("MissingParameter", "param1.order_id is required"))
        info["order_id"] = oid
        if not isinstance(oid, int) or isinstance(oid, bool):
            record("bad_query")  # the SDK sends a number; a string is not what it would send
            return self.answer(error("isv.invalid-parameter", "param1.order_id must be a number"))
        for o in self.own_orders(state):
            if int(o["order_id"]) == oid:
                record("ok")
                return self.answer({"aliexpress_trade_new_redefining_findorderbyid_response":
                                    {"target": detail_of(o), "request_id": "fake-req"}})
        record("not_found")
        return self.answer(error("isv.order-not-found", "no such order"))

    def session_open(self, state, p, record, info):
        # [SDK AliexpressMessageSessionOpenRequest] one parameter im_session_open_dto: AeImSessionOpenDTO
        # {buyer_login_id, buyer_id}; answer AliexpressMessageSessionOpenResult
        # {success, error_code, error_message, data: AeImSessionOpenResultDTO {open_result, current_buyer_id}}.
        try:
            dto = json.loads(p["im_session_open_dto"])
            login = dto["buyer_login_id"]
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(rest_error("MissingParameter", "im_session_open_dto is required"))
        info["buyer_login_id"] = login
        ids = state.get("buyer_ids", {})
        if login not in ids:
            record("unknown_buyer")
            return self.answer({"result": {"success": False, "error_code": "B_NOT_FOUND",
                                           "error_message": "buyer not found"}, "code": "0", "request_id": "fake-req"})
        record("ok")
        return self.answer({"result": {"success": True, "data": {"open_result": "SUCCESS",
                                                                  "current_buyer_id": ids[login]}},
                            "code": "0", "request_id": "fake-req"})

    def message_send(self, state, p, record, info):
        # [SDK AliexpressMessageSendRequest] im_send_message_dto: AeImSendMessageDTO {buyer_id (Long), scene_id,
        # template_id, message_content_dto {txt, order_id (String), ...}}.
        try:
            dto = json.loads(p["im_send_message_dto"])
            buyer = dto["buyer_id"]
            content = dto.get("message_content_dto", {})
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(rest_error("MissingParameter", "im_send_message_dto is required"))
        if not isinstance(buyer, int) or buyer not in state.get("buyer_ids", {}).values():
            record("bad_buyer")
            return self.answer({"result": {"success": False, "error_code": "B_ID",
                                           "error_message": "buyer_id is not a buyer of this seller"},
                                "code": "0", "request_id": "fake-req"})
        order_id = content.get("order_id")
        if order_id and len(accounts) > 1 and not any(str(o["order_id"]) == str(order_id)
                                                      for o in self.own_orders(state)):
            record("order_of_another_seller")
            return self.answer({"result": {"success": False, "error_code": "ORDER_NOT_OWNED",
                                           "error_message": "the order is not of this seller"},
                                "code": "0", "request_id": "fake-req"})
        append(args.messages, {"buyer_id": buyer, "scene_id": dto.get("scene_id"),
                               "template_id": dto.get("template_id"), "order_id": order_id,
                               "txt": content.get("txt"), "at": time.time(), "app_key": self.app_key})
        record("ok")
        # [SDK AliexpressMessageSendResponse] result is typed as a free map: the success body is not
        # documented. We serve the session/open result's form {"success": true} by default, the
        # {"is_success": true} form on request, and an unknown one to test that it is never taken as sent.
        kind = state.get("send_answer", "success")
        if kind == "unknown":
            return self.answer({"result": {"data": {"msg_id": 1}}, "code": "0", "request_id": "fake-req"})
        return self.answer({"result": {kind: True}, "code": "0", "request_id": "fake-req"})

    def message_history(self, state, p, record, info):
        # [SDK AliexpressMessageHistoryListRequest] POST aliexpress/message/history/list, one parameter
        # im_query_message_dto: AliexpressMessageHistoryListAeImQueryMessageDTO {buyer_id (Long), page_size
        # (Integer), start_time (Long), last_message_id (String)}. Answer [SDK AliexpressMessageHistoryListResponse]
        # result: AliexpressMessageHistoryListResult {success, error_code, error_message, data:
        # AliexpressMessageHistoryListFetchAeImMessageResultDTO {message_list: [AliexpressMessageHistoryListAeImMessageDTO
        # {from_account_type, to_account_type, from_account_id, to_account_id, message_id, template_id, type,
        # content, send_time}], has_more, next_start_time, last_message_id}}.
        # Not in the SDK, from the API documentation as issue 14 quotes it [DOC, unconfirmed]: page_size at most
        # 20; from_account_type 11 = buyer; type 1 = a user's message; content a JSON string; send_time in ms;
        # start_time and last_message_id continue after what was read. This fake pages by last_message_id first,
        # else by send_time >= start_time, oldest first.
        try:
            dto = json.loads(p["im_query_message_dto"])
            buyer = dto["buyer_id"]
            size = dto.get("page_size", 20)
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(rest_error("MissingParameter", "im_query_message_dto with buyer_id is required"))
        info.update({"buyer_id": buyer, "page_size": size, "start_time": dto.get("start_time"),
                     "last_message_id": dto.get("last_message_id")})
        if not isinstance(buyer, int) or not isinstance(size, int) or not 1 <= size <= 20:
            record("bad_query")
            return self.answer({"result": {"success": False, "error_code": "PARAM_ERROR",
                                           "error_message": "buyer_id must be a number, page_size 1..20"},
                                "code": "0", "request_id": "fake-req"})
        chat = sorted(state.get("chats", {}).get(str(buyer), []), key=lambda m: (m["send_time"], m["message_id"]))
        after = dto.get("last_message_id")
        if after:
            ids = [m["message_id"] for m in chat]
            chat = chat[ids.index(after) + 1:] if after in ids else chat
        elif dto.get("start_time") is not None:
            chat = [m for m in chat if m["send_time"] >= dto["start_time"]]
        page, more = chat[:size], len(chat) > size
        record("ok")
        data = {"message_list": page, "has_more": more}
        if page:
            data["next_start_time"] = page[-1]["send_time"]
            data["last_message_id"] = page[-1]["message_id"]
        return self.answer({"result": {"success": True, "data": data}, "code": "0", "request_id": "fake-req"})

    def session_tag(self, state, p, record, info):
        # [SDK AliexpressMessageSessionTagUpdateRequest] POST aliexpress/message/session/tag/update, one parameter
        # im_session_view_update_dto: AliexpressMessageSessionTagUpdateAeImSessionViewUpdateDTO {buyer_id (Long),
        # tag_code (Integer), is_deleting (Boolean)}; the response's result is a free map [SDK
        # AliexpressMessageSessionTagUpdateResponse]: we answer {"success": true} like session/open.
        try:
            dto = json.loads(p["im_session_view_update_dto"])
            buyer = dto["buyer_id"]
        except (ValueError, KeyError, TypeError):
            record("bad_query")
            return self.answer(rest_error("MissingParameter", "im_session_view_update_dto is required"))
        info.update({"buyer_id": buyer, "tag_code": dto.get("tag_code"), "is_deleting": dto.get("is_deleting")})
        record("ok")
        return self.answer({"result": {"success": True}, "code": "0", "request_id": "fake-req"})

    def token_refresh(self, state, p, record, account):
        # [SDK AuthTokenRefreshRequest/Response] refresh_token in; access_token, refresh_token, expires_in,
        # refresh_expires_in, expire_time and refresh_token_valid_time (absolute ms) out, at the top of the answer.
        if state.get("refresh", "ok") == "refuse" or p.get("refresh_token") != account["refresh"]:
            record("refresh_refused")
            return self.answer(rest_error("IllegalRefreshToken", "The specified refresh token is invalid or expired"))
        with lock:
            n = counter.get("refreshes", 0) + 1
            counter["refreshes"] = n
            account["access"] = "%s-refreshed-%d" % (account["base"], n)
            account["refresh"] = "%s-refreshed-%d" % (account["refresh_base"], n)
        life = int(state.get("token_expires_in", 86400 * 30))
        now_ms = int(time.time() * 1000)
        record("ok")
        return self.answer({"access_token": account["access"], "refresh_token": account["refresh"],
                            "expires_in": life, "refresh_expires_in": life * 2,
                            "expire_time": now_ms + life * 1000, "refresh_token_valid_time": now_ms + life * 2000,
                            "account_platform": "seller_center", "seller_id": "2200000000", "user_nick": "shop",
                            "code": "0", "request_id": "fake-req"})


def main():
    global args
    ap = argparse.ArgumentParser()
    for a in ("--state", "--messages", "--calls", "--port-file", "--app-key", "--secret", "--token"):
        ap.add_argument(a, required=True)
    ap.add_argument("--refresh-token", default="fake-refresh-token")
    ap.add_argument("--account", action="append", default=[], help="APP_KEY:SECRET:TOKEN, another app and seller")
    args = ap.parse_args()
    accounts[args.app_key] = {"secret": args.secret, "access": args.token, "base": args.token,
                              "refresh": args.refresh_token, "refresh_base": args.refresh_token}
    for spec in args.account:
        key, secret, token = spec.split(":", 2)
        accounts[key] = {"secret": secret, "access": token, "base": token,
                         "refresh": token + "-refresh", "refresh_base": token + "-refresh"}
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
