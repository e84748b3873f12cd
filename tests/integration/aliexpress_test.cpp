// End to end on AliExpress: the real nudged polls a fake IOP gateway (tests/fakes/
// fake_iop.py, which checks every signature) and reminds buyers through the fake's
// /aliexpress/message/send, which records each message.
#include <doctest/doctest.h>

#include <csignal>
#include <set>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/aliexpress.h"
#include "core/clock.h"
#include "integration/servers.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* kAppKey = "123456";
const char* kSecret = "fake-app-secret-7f3a";
const char* kToken = "fake-session-token-91c2";

std::string pacific_ago(nudge::Millis ago) {
  return nudge::aliexpress::utc_to_pacific(nudge::SystemClock().now() - ago);
}

json order(const std::string& id, const std::string& buyer, const std::string& status, const std::string& amount,
           nudge::Millis placed_ago = 60 * nudge::kSecond) {
  return {{"order_id", id},
          {"order_status", status},
          {"gmt_create", pacific_ago(placed_ago)},
          {"buyer_login_id", buyer},
          {"buyer_signer_fullname", "Buyer " + buyer},
          {"pay_amount", {{"amount", amount}, {"currency_code", "USD"}}},
          {"timeout_left_time", 3600000}};
}

// A fake gateway, its state file and a daemon pointed at it.
struct Shop {
  test::TempDir dir;
  std::string state = dir / "state.json", messages = dir / "messages.jsonl", calls = dir / "calls.jsonl";
  std::string audit = dir / "audit.jsonl", log = dir / "nudged.log";
  std::unique_ptr<test::PythonServer> gateway;
  std::unique_ptr<test::Process> daemon;

  explicit Shop(const json& initial) {
    test::replace_file(state, initial.dump());
    gateway = std::make_unique<test::PythonServer>(
        "fake_iop.py",
        std::vector<std::string>{"--state", state, "--messages", messages, "--calls", calls, "--app-key", kAppKey,
                                 "--secret", kSecret, "--token", kToken},
        dir / "port", dir / "fake_iop.log");
    test::write_file(dir / "app_secret", std::string(kSecret) + "\n");
    test::write_file(dir / "session", std::string(kToken) + "\n");
  }

  void start(const std::string& channel_extra) {
    std::string gw = gateway->url();
    std::string iop = "gateway: \"" + gw + "\", app_key: \"" + kAppKey +
                      "\", app_secret_file: app_secret, session_file: session";
    test::write_file(dir / "nudge.yaml", R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: aliexpress, every: 1s, page_size: 2, overlap: 1m, )" + iop + R"(}
payment: {deadline: 1s, closes_after: 10m, stop_before_close: 1s}
campaigns:
  - name: big            # reminded a few seconds later, so the test can pay first
    match: {min_amount: 500}
    steps:
      - {name: first, after: 5s, channel: platform, template: gentle}
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: platform, template: gentle}
limits:
  per_order: 1
  per_buyer: [{max: 10, within: 1h}]
  merge: false
channels:
  platform: {type: aliexpress, timeout: 2s, retries: {max: 8, backoff: 500ms}, )" +
                                                iop + channel_extra + R"(}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it is reserved for you."}
)");
    daemon = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", dir / "nudge.yaml"}, log);
  }

  std::vector<json> sent() const { return test::json_lines(messages); }
  size_t sent_for(const std::string& order_id) const {
    size_t n = 0;
    for (const auto& m : sent())
      if (m.value("order_id", "") == order_id) ++n;
    return n;
  }
  size_t calls_with(const std::string& outcome, const std::string& api = "") const {
    size_t n = 0;
    for (const auto& c : test::json_lines(calls))
      if (c.value("outcome", "") == outcome && (api.empty() || c.value("api", "") == api)) ++n;
    return n;
  }
  // Neither the app secret nor the session token may appear where operators look.
  void check_no_secrets() const {
    for (const auto& path : {log, audit}) {
      std::string text = test::read_file(path);
      CHECK(text.find(kSecret) == std::string::npos);
      CHECK(text.find(kToken) == std::string::npos);
    }
  }
};

}  // namespace

TEST_CASE("unpaid AliExpress orders are reminded, and paid, cancelled and closed ones are not") {
  json state = {{"orders",
                 {order("1001", "es1001", "PLACE_ORDER_SUCCESS", "10.00"),   // a login id: resolved to 9001001
                  order("1002", "2002", "PLACE_ORDER_SUCCESS", "12.00"),     // already numeric
                  order("1003", "de3003", "WAIT_SELLER_SEND_GOODS", "10.00"),
                  // Placed just now: their step is due in 6 s, and they are paid before that.
                  order("1004", "fr4004", "PLACE_ORDER_SUCCESS", "999.00", 0),  // seen paid by the poll
                  order("1005", "it5005", "PLACE_ORDER_SUCCESS", "999.00", 0),  // the list lags: only a re-check sees it
                  order("1006", "pl6006", "FINISH", "10.00"),
                  order("1007", "pt7007", "IN_CANCEL", "10.00")}},
                // Every buyer resolvable: a reminder that should not go out would reach the fake.
                {"buyer_ids", {{"es1001", 9001001}, {"fr4004", 9004004}, {"it5005", 9005005}}}};
  state["orders"][5]["end_reason"] = "buyer_pay_timeout";
  Shop shop(state);
  shop.start(", verify_before_send: true");

  // Both big orders planned: now pay them at the gateway, 1005 where only a re-check sees it.
  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(shop.audit, "scheduled", "1004") == 1 &&
                                                test::audit_count(shop.audit, "scheduled", "1005") == 1; },
                                   10s),
                  test::read_file(shop.log));
  state["orders"][3]["order_status"] = "WAIT_SELLER_SEND_GOODS";
  state["orders"][4]["order_status"] = "WAIT_SELLER_SEND_GOODS";
  state["orders"][4]["stale_in_list"] = true;
  state["orders"][4]["listed_status"] = "PLACE_ORDER_SUCCESS";
  test::replace_file(shop.state, state.dump());

  REQUIRE_MESSAGE(test::eventually([&] { return shop.sent_for("1001") == 1 && shop.sent_for("1002") == 1 &&
                                                test::audit_count(shop.audit, "cancelled", "1004") == 1 &&
                                                test::audit_count(shop.audit, "cancelled", "1005") == 1; },
                                   20s),
                  test::read_file(shop.log));
  std::this_thread::sleep_for(1500ms);  // room for a wrong second message to show up

  auto messages = shop.sent();
  CHECK(messages.size() == 2);
  std::map<std::string, json> by_order;
  for (const auto& m : messages) by_order[m.value("order_id", "")] = m;
  REQUIRE(by_order.count("1001"));
  REQUIRE(by_order.count("1002"));
  CHECK(by_order["1001"]["buyer_id"] == 9001001);
  CHECK(by_order["1002"]["buyer_id"] == 2002);
  for (const auto& [id, m] : by_order) {
    CHECK(m["scene_id"] == 4);
    CHECK(m["template_id"] == 1);
    CHECK(m.value("txt", "").find("Your order " + id + " is waiting\nHi Buyer ") == 0);
  }
  for (const char* id : {"1003", "1004", "1005", "1006", "1007"}) {
    CAPTURE(id);
    CHECK(shop.sent_for(id) == 0);
  }
  // 1004 was cancelled by the poll before its claim; 1005 got as far as sending, where the re-check stopped it.
  CHECK(test::audit_count(shop.audit, "sending", "1004") == 0);
  CHECK(test::audit_count(shop.audit, "sending", "1005") == 1);
  // Why 1004 and 1005 were not reminded, as the operator reads it in the audit.
  for (const auto& e : test::json_lines(shop.audit))
    if (e.value("event", "") == "cancelled") CHECK(e.value("reason", "") == "paid");
  // The login id was resolved once, and the numeric id kept in the store for next time.
  CHECK(shop.calls_with("ok", "/aliexpress/message/session/open") == 1);
  {
    SQLite::Database db(shop.dir / "nudge.db", SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT platform_id FROM buyer_ids WHERE login_id='es1001'");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == "9001001");
  }
  CHECK(shop.calls_with("bad_sign") == 0);  // every request was signed right
  CHECK(shop.calls_with("bad_timestamp") == 0);
  CHECK(shop.daemon->running());
  shop.check_no_secrets();
  MESSAGE("reminded 2 (1001, 1002); not reminded 5 (1003 paid, 1004 paid, 1005 paid per re-check, 1006 closed, "
          "1007 cancelled)");
}

TEST_CASE("a throttled gateway slows nudged down but loses and duplicates no reminder") {
  json state = {{"orders",
                 {order("2001", "3001", "PLACE_ORDER_SUCCESS", "10.00"), order("2002", "3002", "PLACE_ORDER_SUCCESS", "10.00"),
                  order("2003", "3003", "PLACE_ORDER_SUCCESS", "10.00"), order("2004", "3004", "PLACE_ORDER_SUCCESS", "10.00"),
                  order("2005", "3005", "WAIT_BUYER_ACCEPT_GOODS", "10.00")}},
                {"mode", "throttle_first"},
                // The first 3 list calls and the first 2 sends get ApiCallLimit.
                {"throttle_first", {{"aliexpress.trade.seller.orderlist.get", 3}, {"/aliexpress/message/send", 2}}}};
  Shop shop(state);
  shop.start(", message: card");

  REQUIRE_MESSAGE(test::eventually([&] { return shop.sent().size() >= 4; }, 25s), test::read_file(shop.log));
  std::this_thread::sleep_for(2s);  // a duplicate would show up by now

  for (const char* id : {"2001", "2002", "2003", "2004"}) {
    CAPTURE(id);
    CHECK(shop.sent_for(id) == 1);
    CHECK(test::audit_count(shop.audit, "sent", id) == 1);
  }
  CHECK(shop.sent_for("2005") == 0);
  CHECK(shop.sent().size() == 4);
  for (const auto& m : shop.sent()) {  // message: card sends the order card, without text
    CHECK(m["scene_id"] == 4);
    CHECK(m["template_id"] == 10007);
    CHECK(m["txt"].is_null());
  }
  CHECK(shop.calls_with("throttled", "aliexpress.trade.seller.orderlist.get") == 3);
  CHECK(shop.calls_with("throttled", "/aliexpress/message/send") == 2);
  CHECK(test::audit_count(shop.audit, "retry") == 2);  // the two throttled sends, retried
  CHECK(test::read_file(shop.log).find("ApiCallLimit") != std::string::npos);
  CHECK(shop.daemon->running());
  shop.check_no_secrets();
}

TEST_CASE("a gateway that errors, garbles or stalls is retried, and a wrong secret is refused by the gateway") {
  json state = {{"orders", {order("3001", "4001", "PLACE_ORDER_SUCCESS", "10.00")}}, {"mode", "error"}};
  Shop shop(state);
  SUBCASE("errors, bad JSON and a stall, then a healthy gateway") {
    shop.start("");
    for (const char* mode : {"error", "malformed", "slow"}) {
      CAPTURE(mode);
      state["mode"] = mode;
      state["slow_seconds"] = 4;  // beyond the source's 2 s timeout
      test::replace_file(shop.state, state.dump());
      CHECK(test::eventually([&] { return shop.calls_with(mode) >= 1; }, 8s));
    }
    state["mode"] = "ok";
    test::replace_file(shop.state, state.dump());
    CHECK(test::eventually([&] { return shop.sent_for("3001") == 1; }, 15s));
    std::string log = test::read_file(shop.log);
    CHECK(log.find("isp.order-query-failed") != std::string::npos);
    CHECK(log.find("not JSON") != std::string::npos);
    CHECK(log.find("timed out") != std::string::npos);
    CHECK(shop.daemon->running());
  }
  SUBCASE("a wrong app secret: every request refused, nothing sent, the daemon keeps going") {
    state["mode"] = "ok";
    test::replace_file(shop.state, state.dump());
    test::write_file(shop.dir / "app_secret", "not-the-secret\n");
    shop.start("");
    CHECK(test::eventually([&] { return shop.calls_with("bad_sign") >= 2; }, 8s));
    CHECK(shop.calls_with("ok") == 0);
    CHECK(shop.sent().empty());
    CHECK(test::read_file(shop.log).find("IncompleteSignature") != std::string::npos);
    CHECK(shop.daemon->running());
  }
  shop.check_no_secrets();
}
