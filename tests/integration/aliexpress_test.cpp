// End to end on AliExpress: the real nudged polls a fake IOP gateway (tests/fakes/
// fake_iop.py, which checks every signature) and reminds buyers through the fake's
// /aliexpress/message/send, which records each message.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <set>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/aliexpress.h"
#include "core/clock.h"
#include "integration/ops_helpers.h"
#include "integration/servers.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* kAppKey = "123456";
const char* kSecret = "fake-app-secret-7f3a";
const char* kToken = "fake-session-token-91c2";
const char* kRefresh = "fake-refresh-token-5d1e";

std::string pacific_ago(nudge::Millis ago) {
  return nudge::aliexpress::utc_to_pacific(nudge::SystemClock().now() - ago);
}

// An AeopOrderItemDTO as the gateway lists it: order_id a number, the login id a
// real-looking (non-numeric) one.
json order(std::int64_t id, const std::string& buyer, const std::string& status, const std::string& amount,
           nudge::Millis placed_ago = 60 * nudge::kSecond) {
  return {{"order_id", id},
          {"order_status", status},
          {"gmt_create", pacific_ago(placed_ago)},
          {"buyer_login_id", buyer},
          {"buyer_signer_fullname", "Buyer " + buyer},
          {"fund_status", status == "PLACE_ORDER_SUCCESS" ? "NOT_PAY" : "PAY_SUCCESS"},
          {"end_reason", ""},
          {"pay_amount", {{"amount", amount}, {"currency_code", "USD"}}},
          {"timeout_left_time", 3600000}};
}

// A fake gateway, its state file and a daemon pointed at it.
struct Shop {
  test::TempDir dir;
  std::string state = dir / "state.json", messages = dir / "messages.jsonl", calls = dir / "calls.jsonl";
  std::string audit = dir / "audit.jsonl", log = dir / "nudged.log", policy = dir / "nudge.yaml";
  std::unique_ptr<test::PythonServer> gateway;
  std::unique_ptr<test::Process> daemon;

  explicit Shop(const json& initial) {
    test::replace_file(state, initial.dump());
    gateway = std::make_unique<test::PythonServer>(
        "fake_iop.py",
        std::vector<std::string>{"--state", state, "--messages", messages, "--calls", calls, "--app-key", kAppKey,
                                 "--secret", kSecret, "--token", kToken, "--refresh-token", kRefresh},
        dir / "port", dir / "fake_iop.log");
    test::write_file(dir / "app_secret", std::string(kSecret) + "\n");
    test::write_file(dir / "session", std::string(kToken) + "\n");
  }

  // The policy: the source holds the credentials; the channel names none and takes them.
  void write_policy(const std::string& channel_extra, const std::string& limits_extra = "merge: false",
                    const std::string& source_extra = "", const std::string& gateway_url = "") {
    std::string gw = gateway_url.empty() ? gateway->url() : gateway_url;
    test::write_file(policy, R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: aliexpress, every: 1s, page_size: 2, overlap: 1m, shop: s1, gateway: ")" + gw +
                                 R"(", app_key: ")" + kAppKey + R"(", app_secret_file: app_secret, session_file: session)" +
                                 source_extra + R"(}
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
  )" + limits_extra + R"(
channels:
  platform: {type: aliexpress, timeout: 2s, retries: {max: 8, backoff: 500ms})" + channel_extra + R"(}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it is reserved for you: {{#orders}}[{{order_id}}]{{/orders}}"}
)");
  }

  void start(const std::string& channel_extra, const std::string& limits_extra = "merge: false",
             const std::string& source_extra = "") {
    write_policy(channel_extra, limits_extra, source_extra);
    daemon = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", policy}, log);
  }

  test::RunResult ctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {NUDGECTL_PATH, "--config", policy};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv);
  }

  std::vector<json> sent() const { return test::json_lines(messages); }
  size_t sent_for(const std::string& order_id) const {
    size_t n = 0;
    for (const auto& m : sent())
      if (m.value("order_id", "") == order_id) ++n;
    return n;
  }
  std::vector<json> calls_of(const std::string& api) const {
    std::vector<json> out;
    for (const auto& c : test::json_lines(calls))
      if (c.value("api", "") == api) out.push_back(c);
    return out;
  }
  size_t calls_with(const std::string& outcome, const std::string& api = "") const {
    size_t n = 0;
    for (const auto& c : test::json_lines(calls))
      if (c.value("outcome", "") == outcome && (api.empty() || c.value("api", "") == api)) ++n;
    return n;
  }
  std::int64_t db_count(const std::string& sql) const {
    SQLite::Database db(dir / "nudge.db", SQLite::OPEN_READONLY);
    SQLite::Statement q(db, sql);
    q.executeStep();
    return q.getColumn(0).getInt64();
  }
  // Neither the app secret nor a token may appear where operators look.
  void check_no_secrets(const std::vector<std::string>& tokens = {kToken}) const {
    for (const auto& path : {log, audit}) {
      std::string text = test::read_file(path);
      CHECK(text.find(kSecret) == std::string::npos);
      for (const auto& t : tokens) CHECK(text.find(t) == std::string::npos);
    }
  }
  // Every query the fake saw was one the API documents: FINISH alone, modified windows bounded.
  void check_queries() const {
    CHECK(calls_with("bad_query") == 0);
    CHECK(calls_with("bad_sign") == 0);
    CHECK(calls_with("bad_timestamp") == 0);
    CHECK(calls_with("called_while_banned") == 0);
    bool finish_alone = false;
    for (const auto& c : calls_of(nudge::aliexpress::kOrderList)) {
      CHECK_FALSE(c.value("finish_mixed", false));
      if (c.contains("query") && c["query"]["order_status_list"] == json{"FINISH"}) finish_alone = true;
    }
    CHECK(finish_alone);
  }
};

}  // namespace

TEST_CASE("unpaid AliExpress orders are reminded once; paid, closed and cancelled ones never") {
  json state = {{"orders",
                 {order(1001, "dz595004243yiyae", "PLACE_ORDER_SUCCESS", "10.00"),
                  order(1002, "br2002kxqe", "PLACE_ORDER_SUCCESS", "12.00"),
                  order(1003, "de3003wqpa", "WAIT_SELLER_SEND_GOODS", "10.00"),
                  // Placed just now: their step is due in 6 s, and they change before that.
                  order(1004, "fr4004ghty", "PLACE_ORDER_SUCCESS", "999.00", 0),  // paid, seen by the poll
                  order(1005, "it5005bnmz", "PLACE_ORDER_SUCCESS", "999.00", 0),  // paid; the list lags
                  order(1006, "pl6006rtyu", "PLACE_ORDER_SUCCESS", "999.00", 0),  // closed: payment timed out
                  order(1007, "pt7007asdf", "PLACE_ORDER_SUCCESS", "999.00", 0),  // cancelled and finished
                  order(1008, "nl8008zxcv", "PLACE_ORDER_SUCCESS", "999.00", 0),  // the buyer asked to cancel
                  order(1009, "dz595004243yiyae", "PLACE_ORDER_SUCCESS", "11.00")}},  // 1001's buyer again
                // Every buyer resolvable: a reminder that should not go out would reach the fake.
                {"buyer_ids",
                 {{"dz595004243yiyae", 2206861234567}, {"br2002kxqe", 2206862002002}, {"fr4004ghty", 2206864004004},
                  {"it5005bnmz", 2206865005005}, {"pl6006rtyu", 2206866006006}, {"pt7007asdf", 2206867007007},
                  {"nl8008zxcv", 2206868008008}}}};
  Shop shop(state);
  shop.start(", verify_before_send: true");

  REQUIRE_MESSAGE(test::eventually([&] {
                    for (const char* id : {"1004", "1005", "1006", "1007", "1008"})
                      if (test::audit_count(shop.audit, "scheduled", id) != 1) return false;
                    return true;
                  }, 10s),
                  test::read_file(shop.log));
  state["orders"][3]["order_status"] = "WAIT_SELLER_SEND_GOODS";
  state["orders"][4]["order_status"] = "WAIT_SELLER_SEND_GOODS";
  state["orders"][4]["stale_in_list"] = true;
  state["orders"][4]["listed_status"] = "PLACE_ORDER_SUCCESS";
  state["orders"][5]["order_status"] = "FINISH";
  state["orders"][5]["end_reason"] = "buyer_pay_timeout";
  state["orders"][6]["order_status"] = "FINISH";
  state["orders"][6]["end_reason"] = "buyer_cancel_notpay_order";
  state["orders"][7]["order_status"] = "IN_CANCEL";
  test::replace_file(shop.state, state.dump());

  REQUIRE_MESSAGE(test::eventually([&] {
                    if (shop.sent_for("1001") != 1 || shop.sent_for("1002") != 1 || shop.sent_for("1009") != 1)
                      return false;
                    for (const char* id : {"1004", "1005", "1006", "1007", "1008"})
                      if (test::audit_count(shop.audit, "cancelled", id) != 1) return false;
                    return true;
                  }, 20s),
                  test::read_file(shop.log));
  std::this_thread::sleep_for(1500ms);  // room for a wrong second message to show up

  auto messages = shop.sent();
  CHECK(messages.size() == 3);
  std::map<std::string, json> by_order;
  for (const auto& m : messages) by_order[m.value("order_id", "")] = m;
  CHECK(by_order["1001"]["buyer_id"] == 2206861234567);
  CHECK(by_order["1009"]["buyer_id"] == 2206861234567);
  CHECK(by_order["1002"]["buyer_id"] == 2206862002002);
  for (const auto& [id, m] : by_order) {
    CHECK(m["scene_id"] == 4);
    CHECK(m["template_id"] == 1);
    CHECK(m.value("txt", "").find("Your order " + id + " is waiting\nHi Buyer ") == 0);
  }
  for (const char* id : {"1003", "1004", "1005", "1006", "1007", "1008"}) {
    CAPTURE(id);
    CHECK(shop.sent_for(id) == 0);
  }
  // Why each was not reminded, as the operator reads it in the audit.
  std::map<std::string, std::string> why;
  for (const auto& e : test::json_lines(shop.audit))
    if (e.value("event", "") == "cancelled") why[e["orders"][0].get<std::string>()] = e.value("reason", "");
  CHECK(why["1004"] == "paid");
  CHECK(why["1005"] == "paid");
  CHECK(why["1006"] == "closed");
  CHECK(why["1007"] == "cancelled");
  CHECK(why["1008"] == "cancelled");
  // 1005 got as far as sending: only findorderbyid knew it was paid.
  CHECK(test::audit_count(shop.audit, "sending", "1004") == 0);
  CHECK(test::audit_count(shop.audit, "sending", "1005") == 1);
  // findorderbyid was asked with a numeric order_id, for every order sent and for 1005.
  auto lookups = shop.calls_of(nudge::aliexpress::kFindOrder);
  CHECK(lookups.size() == 4);
  for (const auto& c : lookups) CHECK(c["order_id"].is_number_integer());
  // One session/open per buyer: the second reminder to 1001's buyer used the cached id.
  auto opens = shop.calls_of(nudge::aliexpress::kSessionOpen);
  CHECK(opens.size() == 2);
  CHECK(shop.db_count("SELECT COUNT(*) FROM buyer_ids WHERE login_id='dz595004243yiyae' AND "
                      "platform_id='2206861234567'") == 1);
  shop.check_queries();
  CHECK(shop.daemon->running());
  shop.check_no_secrets();
  MESSAGE("reminded 3 (1001, 1009, 1002); not reminded: 1003 paid before, 1004 paid (poll), 1005 paid "
          "(verify_before_send), 1006 closed (buyer_pay_timeout), 1007 cancelled (FINISH), 1008 cancelled "
          "(IN_CANCEL); findorderbyid "
          << lookups.size() << ", session/open " << opens.size());
}

TEST_CASE("a merged message with one order paid sends the others, re-rendered, and throttling is waited out") {
  json state = {{"orders",
                 {order(2001, "mx2001qwer", "PLACE_ORDER_SUCCESS", "600.00", 0),
                  order(2002, "mx2001qwer", "PLACE_ORDER_SUCCESS", "700.00", 0),
                  order(2003, "mx2001qwer", "PLACE_ORDER_SUCCESS", "800.00", 0)}},
                {"buyer_ids", {{"mx2001qwer", 2206862001001}}},
                {"mode", "throttle_first"},
                {"ban_seconds", 2},
                // The first list call and the first send get ApiCallLimit, "this ban will last 2 seconds".
                {"throttle_first", {{"aliexpress.trade.seller.orderlist.get", 1}, {"/aliexpress/message/send", 1}}}};
  Shop shop(state);
  shop.start(", verify_before_send: true", "merge: true");
  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(shop.audit, "scheduled", "2002") == 1; }, 15s),
                  test::read_file(shop.log));
  // 2002 is paid; only findorderbyid knows.
  state["orders"][1]["order_status"] = "WAIT_SELLER_SEND_GOODS";
  state["orders"][1]["stale_in_list"] = true;
  state["orders"][1]["listed_status"] = "PLACE_ORDER_SUCCESS";
  test::replace_file(shop.state, state.dump());

  REQUIRE_MESSAGE(test::eventually([&] { return shop.sent().size() >= 1; }, 25s), test::read_file(shop.log));
  std::this_thread::sleep_for(1500ms);
  auto messages = shop.sent();
  REQUIRE(messages.size() == 1);
  std::string txt = messages[0].value("txt", "");
  CHECK(txt.find("[2001]") != std::string::npos);
  CHECK(txt.find("[2003]") != std::string::npos);
  CHECK(txt.find("[2002]") == std::string::npos);  // re-rendered without the paid order
  CHECK(test::audit_count(shop.audit, "cancelled", "2002") == 1);
  CHECK(test::audit_count(shop.audit, "sent", "2001") == 1);
  CHECK(test::audit_count(shop.audit, "sent", "2003") == 1);
  CHECK(test::audit_count(shop.audit, "sent", "2002") == 0);
  CHECK(test::audit_count(shop.audit, "scheduled") >= 5);  // 3 planned + 2 put back after the verify
  // Throttled twice; every call after it waited out the 2 s ban the message stated.
  CHECK(shop.calls_with("throttled") == 2);
  CHECK(shop.calls_with("called_while_banned") == 0);
  auto sends = shop.calls_of(nudge::aliexpress::kMessageSend);
  REQUIRE(sends.size() == 2);
  CHECK(sends[1]["at"].get<double>() - sends[0]["at"].get<double>() >= 1.9);
  CHECK(test::read_file(shop.log).find("ApiCallLimit") != std::string::npos);
  shop.check_queries();
  shop.check_no_secrets();
}

TEST_CASE("an order list in a shape we cannot read fails the poll loudly and stores nothing") {
  for (const char* mode : {"old_shape", "unknown_shape", "count_no_items"}) {
    CAPTURE(mode);
    json state = {{"orders", {order(3001, "es3001abcd", "PLACE_ORDER_SUCCESS", "10.00")}},
                  {"buyer_ids", {{"es3001abcd", 2206863001001}}},
                  {"mode", mode}};
    Shop shop(state);
    int port = ops::free_port();
    shop.start("", "merge: false\nmetrics: {port: " + std::to_string(port) + "}");
    REQUIRE_MESSAGE(test::eventually([&] { return shop.calls_with(mode) >= 2; }, 10s), test::read_file(shop.log));
    std::string log = test::read_file(shop.log);
    const std::map<std::string, std::string> expected = {
        {"old_shape", "result.target_list.aeop_order_item_dto is missing (it holds order_dto)"},
        {"unknown_shape", "result.total_count is missing"},
        {"count_no_items", "result.total_count is 1 but .target_list is missing"}};
    CHECK_MESSAGE(log.find(expected.at(mode)) != std::string::npos, log);
    CHECK(shop.db_count("SELECT COUNT(*) FROM orders") == 0);
    CHECK(shop.db_count("SELECT COUNT(*) FROM source_state WHERE cursor IS NOT NULL") == 0);  // the cursor stays
    auto status = shop.ctl({"status"});
    CHECK(status.out.find("FAILED: aliexpress.trade.seller.orderlist.get: ") != std::string::npos);
    CHECK(status.out.find(expected.at(mode)) != std::string::npos);
    std::string metrics = ops::http_body(ops::http_get(port, "/metrics"));
    const std::string failed = "\nnudge_polls_total{result=\"failed\"} ";
    auto at = metrics.find(failed);
    REQUIRE(at != std::string::npos);
    CHECK(std::stoi(metrics.substr(at + failed.size())) >= 2);
    CHECK(shop.sent().empty());
    CHECK(shop.daemon->running());
  }
}

TEST_CASE("a message/send answer of an unknown shape is retried, never counted as sent") {
  json state = {{"orders", {order(6001, "es6001abcd", "PLACE_ORDER_SUCCESS", "10.00")}},
                {"buyer_ids", {{"es6001abcd", 2206866001001}}},
                {"send_answer", "unknown"}};
  Shop shop(state);
  shop.start("");
  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(shop.audit, "retry", "6001") >= 1; }, 15s),
                  test::read_file(shop.log));
  CHECK(test::audit_count(shop.audit, "sent", "6001") == 0);
  bool named = false;
  for (const auto& e : test::json_lines(shop.audit))
    if (e.value("event", "") == "retry" &&
        e.value("detail", "").find("message/send answered in an unknown shape: result has neither success nor "
                                   "is_success") != std::string::npos)
      named = true;
  CHECK(named);
  // Once the gateway answers in a known shape, the retry is sent, once.
  state["send_answer"] = "is_success";
  test::replace_file(shop.state, state.dump());
  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(shop.audit, "sent", "6001") == 1; }, 15s),
                  test::read_file(shop.log));
}

TEST_CASE("an access token about to expire is refreshed, kept in the state folder, and never logged") {
  json state = {{"orders", {order(4001, "es4001abcd", "PLACE_ORDER_SUCCESS", "10.00")}},
                {"buyer_ids", {{"es4001abcd", 2206864001001}}}};
  Shop shop(state);
  nudge::Millis soon = nudge::SystemClock().now() + nudge::kHour;  // within a day: refresh now
  SUBCASE("the refresh works: every later call uses the new token") {
    test::write_file(shop.dir / "session", json{{"access_token", kToken}, {"expire_time", soon}}.dump());
    test::write_file(shop.dir / "refresh_token", std::string(kRefresh) + "\n");
    int port = ops::free_port();
    shop.start("", "merge: false\nmetrics: {port: " + std::to_string(port) + "}", ", refresh_token_file: refresh_token");
    REQUIRE_MESSAGE(test::eventually([&] { return shop.sent_for("4001") == 1; }, 15s), test::read_file(shop.log));
    CHECK(shop.calls_with("ok", nudge::aliexpress::kTokenRefresh) == 1);
    CHECK(shop.calls_with("bad_token") == 0);  // the fake accepts only the new token after the refresh
    CHECK(test::audit_count(shop.audit, "token_refreshed") == 1);
    std::string kept = shop.dir / "aliexpress-s1.token.json";
    struct stat st {};
    REQUIRE(::stat(kept.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto j = json::parse(test::read_file(kept));
    CHECK(j["access_token"] == std::string(kToken) + "-refreshed-1");
    CHECK(j["expire_time"].get<nudge::Millis>() > soon + 29 * nudge::kDay);
    // The new expiry, as Prometheus reads it (Unix seconds).
    std::string metrics = ops::http_body(ops::http_get(port, "/metrics"));
    const std::string gauge = "\nnudge_token_expiry_timestamp_seconds{shop=\"s1\"} ";
    auto g = metrics.find(gauge);
    REQUIRE_MESSAGE(g != std::string::npos, metrics);
    CHECK(std::stod(metrics.substr(g + gauge.size())) * 1000 ==
          doctest::Approx(static_cast<double>(j["expire_time"].get<nudge::Millis>())).epsilon(1e-9));
    auto status = shop.ctl({"status"});
    CHECK(status.out.find("access token     expires ") != std::string::npos);
    CHECK(status.out.find("WARNING") == std::string::npos);
    shop.check_no_secrets({kToken, std::string(kToken) + "-refreshed-1", kRefresh});
    // A restart keeps the refreshed token: no second refresh, no refused call.
    shop.daemon->signal(SIGTERM);
    shop.daemon->wait(5s);
    shop.start("", "merge: false", ", refresh_token_file: refresh_token");
    std::this_thread::sleep_for(3s);
    CHECK(shop.calls_with("ok", nudge::aliexpress::kTokenRefresh) == 1);
    CHECK(shop.calls_with("bad_token") == 0);
  }
  SUBCASE("a refused refresh is logged, the old token is used until it expires, and status warns") {
    state["refresh"] = "refuse";
    test::replace_file(shop.state, state.dump());
    test::write_file(shop.dir / "session",
                     json{{"access_token", kToken}, {"refresh_token", "not-the-refresh-token"}, {"expire_time", soon}}.dump());
    shop.start("");
    REQUIRE_MESSAGE(test::eventually([&] { return shop.sent_for("4001") == 1; }, 15s), test::read_file(shop.log));
    CHECK(shop.calls_with("refresh_refused") >= 1);
    CHECK(test::audit_count(shop.audit, "token_refreshed") == 0);
    CHECK(test::read_file(shop.log).find("refreshing the access token of shop 's1' failed") != std::string::npos);
    auto status = shop.ctl({"status"});
    CHECK(status.out.find("WARNING: within a week") != std::string::npos);
    shop.check_no_secrets({kToken, "not-the-refresh-token"});
  }
  SUBCASE("an expired token without a refresh token: a clear poll error, and no call made") {
    test::write_file(shop.dir / "session",
                     json{{"access_token", kToken}, {"expire_time", nudge::SystemClock().now() - nudge::kMinute}}.dump());
    shop.start("");
    REQUIRE_MESSAGE(test::eventually([&] {
                      return test::read_file(shop.log).find("the access token of shop 's1' expired at") !=
                             std::string::npos;
                    }, 10s),
                    test::read_file(shop.log));
    CHECK(test::json_lines(shop.calls).empty());
    CHECK(shop.ctl({"status"}).out.find("EXPIRED") != std::string::npos);
  }
}

TEST_CASE("nudgectl source check: what the gateway sees, refused credentials, an unreachable gateway") {
  json state = {{"orders",
                 {order(5001, "es5001abcd", "PLACE_ORDER_SUCCESS", "10.00"),
                  order(5002, "es5002abcd", "PLACE_ORDER_SUCCESS", "10.00"),
                  order(5003, "es5003abcd", "WAIT_SELLER_SEND_GOODS", "10.00")}},
                {"skew_seconds", 120}};
  Shop shop(state);
  SUBCASE("working") {
    test::write_file(shop.dir / "session",
                     json{{"access_token", kToken}, {"expire_time", nudge::SystemClock().now() + 3 * nudge::kDay}}.dump());
    shop.write_policy(", verify_before_send: true");
    auto r = shop.ctl({"source", "check"});
    MESSAGE(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("orders awaiting payment 2") != std::string::npos);
    auto at = r.out.find("clock skew              +");
    REQUIRE(at != std::string::npos);
    double skew = std::stod(r.out.substr(at + 25));
    CHECK(skew > 115);  // the fake's Date runs 120 s ahead (whole seconds)
    CHECK(skew < 125);
    CHECK(r.out.find("WARNING: within a week") != std::string::npos);
    CHECK(r.out.find("findorderbyid of 5001: awaiting_payment") != std::string::npos);
    CHECK(r.out.find(kToken) == std::string::npos);
    CHECK(shop.calls_with("ok", nudge::aliexpress::kOrderList) == 1);
    CHECK_FALSE(std::filesystem::exists(shop.dir / "aliexpress-s1.token.json"));  // the daemon's file, not ours
  }
  SUBCASE("refused credentials") {
    state["mode"] = "refuse_credentials";
    test::replace_file(shop.state, state.dump());
    shop.write_policy("");
    auto r = shop.ctl({"source", "check"});
    MESSAGE(r.out);
    CHECK(r.status == 77);
    CHECK(r.out.find("IllegalAccessToken") != std::string::npos);
  }
  SUBCASE("unreachable") {
    int port = ops::free_port();
    shop.write_policy("", "merge: false", "", "http://127.0.0.1:" + std::to_string(port));
    auto r = shop.ctl({"source", "check"});
    MESSAGE(r.out);
    CHECK(r.status == 69);
    CHECK(r.out.find("FAILED") != std::string::npos);
  }
}

// Buyers answer in AliExpress chat (issue 14): nudged reads the chat of the buyers it
// reminds through the fake's /aliexpress/message/history/list, and the next reminder
// follows what they wrote. Only the buyer's own messages count; each is taken once,
// across a restart too.
TEST_CASE("AliExpress buyers who answer stop, ask for a bank transfer or promise to pay get no second reminder") {
  json state = {{"orders",
                 {order(2001, "es2001stop", "PLACE_ORDER_SUCCESS", "10.00", 0),
                  order(2002, "ru2002bank", "PLACE_ORDER_SUCCESS", "10.00", 0),
                  order(2003, "br2003prom", "PLACE_ORDER_SUCCESS", "10.00", 0),
                  order(2004, "fr2004mute", "PLACE_ORDER_SUCCESS", "10.00", 0)}},
                {"buyer_ids",
                 {{"es2001stop", 2206872001001}, {"ru2002bank", 2206872002002}, {"br2003prom", 2206872003003},
                  {"fr2004mute", 2206872004004}}}};
  Shop shop(state);
  test::write_file(shop.policy, R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: aliexpress, every: 1s, page_size: 10, overlap: 1m, shop: s1, gateway: ")" + shop.gateway->url() +
                                    R"(", app_key: ")" + kAppKey + R"(", app_secret_file: app_secret, session_file: session}
payment: {deadline: 1s, closes_after: 10m, stop_before_close: 1s}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: platform, template: gentle}
      - {name: second, after: 20s, channel: platform, template: gentle}
limits:
  per_order: 2
  per_buyer: [{max: 10, within: 1h}]
  merge: false
replies: {every: 1s, promise: 1h, pause: 1h}
channels:
  platform: {type: aliexpress, timeout: 2s, rate: 10/s}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it is reserved for you"}
)");
  shop.daemon = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", shop.policy}, shop.log);
  REQUIRE_MESSAGE(test::eventually([&] {
                    for (const char* id : {"2001", "2002", "2003", "2004"})
                      if (shop.sent_for(id) != 1) return false;
                    return true;
                  }, 20s),
                  test::read_file(shop.log) << test::read_file(shop.audit));

  // 1,200 buyers reminded long ago, with nothing open: their chat ids come first in
  // the walk over buyer_ids (500 at a time), and none of them is read.
  {
    SQLite::Database db(shop.dir / "nudge.db", SQLite::OPEN_READWRITE, 10000);
    db.exec("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1199) "
            "INSERT INTO buyer_ids(shop, login_id, platform_id, at) "
            "SELECT 's1', printf('a%04d', i), CAST(2206870000000 + i AS TEXT), 0 FROM n");
  }
  // They answer in the chat, after the seller's reminder (from_account_type 2 here:
  // the seller's side, which must not count).
  long long now = nudge::SystemClock().now();
  auto msg = [&](const std::string& id, int from, const std::string& txt, long long at) {
    return json{{"message_id", id}, {"from_account_type", from}, {"to_account_type", from == 11 ? 2 : 11},
                {"from_account_id", "a"}, {"to_account_id", "b"}, {"template_id", 1}, {"type", 1},
                {"content", json{{"txt", txt}}.dump()}, {"send_time", at}};
  };
  state["chats"] = {
      {"2206872001001", {msg("m1", 2, "Your order is reserved, stop by the app to pay", now - 500), msg("m2", 11, "STOP", now)}},
      {"2206872002002", {msg("m3", 11, "Можно оплатить переводом на карту? Дам реквизиты", now)}},
      {"2206872003003", {msg("m4", 11, "Vou pagar amanhã, obrigado", now)}},
      {"2206872004004", {msg("m5", 2, "Please don't forget to pay", now)}}};
  test::replace_file(shop.state, state.dump());

  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(shop.audit, "replied") >= 3; }, 15s),
                  test::read_file(shop.log));
  // Past the second step's time: 2004 (who said nothing) gets it, the others do not.
  REQUIRE_MESSAGE(test::eventually([&] { return shop.sent_for("2004") == 2; }, 30s), test::read_file(shop.log));
  CHECK(shop.sent_for("2001") == 1);
  CHECK(shop.sent_for("2002") == 1);
  CHECK(shop.sent_for("2003") == 1);
  CHECK(test::audit_count(shop.audit, "replied") == 3);  // the seller's messages are not replies
  CHECK(test::audit_count(shop.audit, "opted_out") == 1);
  CHECK(test::audit_count(shop.audit, "cancelled", "2001") == 1);
  CHECK(test::audit_count(shop.audit, "held", "2002") == 1);
  CHECK(test::audit_count(shop.audit, "deferred", "2003") == 1);
  CHECK(shop.db_count("SELECT COUNT(*) FROM flags WHERE buyer_id='ru2002bank' AND cleared_at IS NULL") == 1);
  auto flags = shop.ctl({"flags"});
  CHECK(flags.out.find("s1/ru2002bank  off_platform_request:payment_route") != std::string::npos);
  MESSAGE("nudgectl flags:\n" << flags.out << "nudgectl buyer ru2002bank:\n" << shop.ctl({"buyer", "ru2002bank"}).out);
  // The flagged buyer's chat is tagged for the seller (tag_code 0), and only theirs.
  auto tags = shop.calls_of(nudge::aliexpress::kSessionTagUpdate);
  REQUIRE(tags.size() == 1);
  CHECK(tags[0]["buyer_id"] == 2206872002002);
  CHECK(tags[0]["tag_code"] == 0);
  // Every history call asked for one numeric buyer, at most 20 messages.
  auto reads = shop.calls_of(nudge::aliexpress::kMessageHistory);
  CHECK(reads.size() >= 4);
  for (const auto& c : reads) {
    CHECK(c["outcome"] == "ok");
    CHECK(c["page_size"] == 20);
    CHECK(c["buyer_id"].get<long long>() >= 2206872000000);  // none of the 1,200 without open steps
  }
  shop.check_no_secrets();

  // A restart: the chats are read again from their cursors; nothing is taken twice.
  shop.daemon->signal(SIGTERM);
  REQUIRE(shop.daemon->wait(15s) == 0);
  size_t before = reads.size();
  shop.daemon = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", shop.policy}, shop.log);
  REQUIRE_MESSAGE(test::eventually([&] { return shop.calls_of(nudge::aliexpress::kMessageHistory).size() >= before + 2; },
                                   20s),
                  test::read_file(shop.log));
  bool resumed = false;
  for (const auto& c : shop.calls_of(nudge::aliexpress::kMessageHistory))
    if (c.value("last_message_id", json()) == "m2") resumed = true;
  CHECK(resumed);  // es2001stop's chat continues after the last message read
  CHECK(test::audit_count(shop.audit, "replied") == 3);
  CHECK(shop.db_count("SELECT COUNT(*) FROM replies") == 3);
}
