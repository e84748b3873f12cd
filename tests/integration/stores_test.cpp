// Several stores, one daemon: two AliExpress stores on two accounts of one fake IOP
// gateway (tests/fakes/fake_iop.py --account: each app key with its own secret and
// seller token; each seller sees and may remind only its own orders). nudged polls
// each store with its own credentials, reminds each order with its store's, and with
// limits.scope: seller caps a buyer of both stores once.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/aliexpress.h"
#include "core/clock.h"
#include "integration/ops_helpers.h"
#include "integration/servers.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Account {
  const char *key, *secret, *token;
};
const Account kNorth{"111111", "north-secret-4b1d", "north-token-8e2a"};
const Account kSouth{"222222", "south-secret-c7f0", "south-token-19d3"};

json order(std::int64_t id, const Account& account, const std::string& buyer) {
  return {{"order_id", id},
          {"app_key", account.key},  // the fake's: which seller's order it is
          {"order_status", "PLACE_ORDER_SUCCESS"},
          {"gmt_create", nudge::aliexpress::utc_to_pacific(nudge::SystemClock().now() - nudge::kMinute)},
          {"buyer_login_id", buyer},
          {"buyer_signer_fullname", "Buyer " + buyer},
          {"fund_status", "NOT_PAY"},
          {"end_reason", ""},
          {"pay_amount", {{"amount", "25.00"}, {"currency_code", "USD"}}},
          {"timeout_left_time", 10 * nudge::kDay}};  // closes in 10 days: a reminder held an hour is in time
}

// One fake gateway holding both accounts, each store's secret and session files, and
// a policy over a list of sources.
struct TwoStores {
  test::TempDir dir;
  std::string state = dir / "state.json", messages = dir / "messages.jsonl", calls = dir / "calls.jsonl";
  std::string policy = dir / "nudge.yaml";
  std::unique_ptr<test::PythonServer> gateway;

  TwoStores() {
    // ana buys in both stores; bob in the south one only.
    test::replace_file(state, json{{"orders", {order(7001, kNorth, "ana-login"), order(8001, kSouth, "ana-login"),
                                               order(8002, kSouth, "bob-login")}},
                                   {"buyer_ids", {{"ana-login", 2206000001}, {"bob-login", 2206000002}}}}
                                  .dump());
    gateway = std::make_unique<test::PythonServer>(
        "fake_iop.py",
        std::vector<std::string>{"--state", state, "--messages", messages, "--calls", calls, "--app-key", kNorth.key,
                                 "--secret", kNorth.secret, "--token", kNorth.token, "--account",
                                 std::string(kSouth.key) + ":" + kSouth.secret + ":" + kSouth.token},
        dir / "port", dir / "fake_iop.log");
    for (const auto& [name, a] : {std::pair{"north", kNorth}, std::pair{"south", kSouth}}) {
      test::write_file(dir / (std::string(name) + "_secret"), std::string(a.secret) + "\n");
      test::write_file(dir / (std::string(name) + "_session"), std::string(a.token) + "\n");
    }
  }
  std::string source(const char* shop, const Account& a) const {
    return std::string("{type: aliexpress, every: 1s, overlap: 1m, shop: ") + shop + ", gateway: \"" +
           gateway->url() + "\", app_key: \"" + a.key + "\", app_secret_file: " + shop +
           "_secret, session_file: " + shop + "_session}";
  }
  // `sources` is the policy's source part: "source: {...}" or "sources:\n  - {...}\n".
  void write_policy(const std::string& sources, const std::string& extra = "") const {
    test::write_file(policy, "version: 1\nstore: nudge.db\naudit_log: audit.jsonl\n" + sources + R"(
payment: {deadline: 1s, closes_after: 10d, stop_before_close: 1s}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: platform, template: gentle}
limits:
  per_order: 1
  per_buyer: [{max: 1, within: 1h}]
  scope: seller
channels:
  platform: {type: aliexpress, timeout: 2s}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it is reserved: {{#orders}}[{{order_id}}]{{/orders}}"}
)" + extra);
  }
  size_t count(const std::string& event, const std::string& reason = "") const {
    size_t n = 0;
    for (const auto& j : test::json_lines(dir / "audit.jsonl"))
      if (j["event"] == event && (reason.empty() || (j["reason"].is_string() && j["reason"] == reason))) ++n;
    return n;
  }
};

}  // namespace

TEST_CASE("two stores on two gateway accounts: each polled and reminded with its own credentials, "
          "and a buyer of both capped once under scope: seller") {
  TwoStores t;
  auto& dir = t.dir;
  const auto& messages = t.messages;
  const auto& calls = t.calls;
  const auto& policy = t.policy;
  int metrics_port = ops::free_port();
  t.write_policy("sources:\n  - " + t.source("north", kNorth) + "\n  - " + t.source("south", kSouth) + "\n",
                 "metrics: {port: " + std::to_string(metrics_port) + "}\n");
  test::Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log");

  // bob's and one of ana's orders are reminded; ana's other one waits for her hour.
  auto count = [&](const std::string& event, const std::string& reason = "") { return t.count(event, reason); };
  REQUIRE_MESSAGE(test::eventually([&] { return count("sent") == 2 && count("deferred", "cap_buyer:1/1h") == 1; }, 20s),
                  test::read_file(dir / "audit.jsonl") << test::read_file(calls));
  std::this_thread::sleep_for(2s);  // nothing more goes out for ana within the hour
  for (const auto& j : test::json_lines(dir / "audit.jsonl"))
    if (j["event"] == "sent" || j["event"] == "deferred")
      MESSAGE(j["event"].get<std::string>() << " " << j["shop"].get<std::string>() << "/" << j["buyer"].get<std::string>()
                                            << " " << j["orders"].dump() << " " << j["reason"].dump()
                                            << " due " << j["due"].dump());
  auto sent = test::json_lines(messages);
  REQUIRE(sent.size() == 2);

  // Each message went with the credentials of its order's store, never the other's.
  std::map<std::string, std::string> key_of = {{"7001", kNorth.key}, {"8001", kSouth.key}, {"8002", kSouth.key}};
  std::set<std::string> buyers_reminded;
  for (const auto& m : sent) {
    std::string id = m["order_id"].get<std::string>();
    CHECK_MESSAGE(m["app_key"] == key_of[id], m.dump());
    buyers_reminded.insert(std::to_string(m["buyer_id"].get<std::int64_t>()));
    MESSAGE("sent " << id << " with app_key " << m["app_key"].get<std::string>());
  }
  CHECK(buyers_reminded == std::set<std::string>{"2206000001", "2206000002"});
  // Both stores were polled, each with its own app key and token; the fake refused nothing.
  std::set<std::string> polled_with;
  for (const auto& c : test::json_lines(calls)) {
    CHECK_MESSAGE(c["outcome"] == "ok", c.dump());
    if (c["api"] == nudge::aliexpress::kOrderList) polled_with.insert(c["app_key"].get<std::string>());
  }
  CHECK(polled_with == std::set<std::string>{kNorth.key, kSouth.key});
  // Orders carry their store as shop.
  {
    SQLite::Database db(dir / "nudge.db", SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT order_id, shop FROM orders ORDER BY order_id");
    std::vector<std::string> rows;
    while (q.executeStep()) rows.push_back(q.getColumn(0).getString() + "@" + q.getColumn(1).getString());
    CHECK(rows == std::vector<std::string>{"7001@north", "8001@south", "8002@south"});
  }
  // status and the metrics show each source.
  auto st = test::run({NUDGECTL_PATH, "--config", policy, "status", "--json"});
  REQUIRE(st.status == 0);
  auto sj = json::parse(st.out);
  REQUIRE(sj["sources"].size() == 2);
  CHECK(sj["sources"][0]["source"] == "aliexpress:north");
  CHECK(sj["sources"][1]["shop"] == "south");
  CHECK(sj["sources"][1]["last_poll"].is_string());
  auto text = test::run({NUDGECTL_PATH, "--config", policy, "status"});
  CHECK(text.out.find("source           aliexpress:south, last poll ") != std::string::npos);
  std::string body = ops::http_body(ops::http_get(metrics_port, "/metrics"));
  CHECK(body.find("nudge_source_polls_total{source=\"aliexpress:north\",shop=\"north\",result=\"ok\"} ") !=
        std::string::npos);
  CHECK(body.find("nudge_source_last_poll_age_seconds{source=\"aliexpress:south\",shop=\"south\"} ") !=
        std::string::npos);
  MESSAGE(text.out);
  nudged.signal(SIGTERM);
  CHECK(nudged.wait(5s) == 0);
}

TEST_CASE("a reload from one source to a list of two: the second store is polled and reminded with its credentials") {
  TwoStores t;
  t.write_policy("source: " + t.source("north", kNorth) + "\n");
  test::Process nudged({NUDGED_PATH, "--config", t.policy}, t.dir / "nudged.log");
  REQUIRE(test::eventually([&] { return t.count("sent") == 1; }, 15s));  // ana's north order
  auto cursor_of = [&](const std::string& source) {
    SQLite::Database db(t.dir / "nudge.db", SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT COALESCE(cursor, '') FROM source_state WHERE source=?");
    q.bind(1, source);
    return q.executeStep() ? q.getColumn(0).getString() : std::string("(none)");
  };
  REQUIRE(test::eventually([&] { return cursor_of("aliexpress") != "(none)"; }, 10s));
  t.write_policy("sources:\n  - " + t.source("north", kNorth) + "\n  - " + t.source("south", kSouth) + "\n");
  nudged.signal(SIGHUP);
  // bob's south order goes out with the south credentials; ana's is held by her hour.
  REQUIRE_MESSAGE(test::eventually([&] { return t.count("sent") == 2 && t.count("deferred", "cap_buyer:1/1h") == 1; },
                                   15s),
                  test::read_file(t.dir / "nudged.log"));
  auto sent = test::json_lines(t.messages);
  REQUIRE(sent.size() == 2);
  CHECK(sent[1]["order_id"] == "8002");
  CHECK(sent[1]["app_key"] == kSouth.key);
  // Each store now keeps its cursor under its own name.
  CHECK(cursor_of("aliexpress:north") != "(none)");
  CHECK(cursor_of("aliexpress:south") != "(none)");
  CHECK(t.count("policy_rejected") == 0);
  for (const auto& c : test::json_lines(t.calls)) CHECK_MESSAGE(c["outcome"] == "ok", c.dump());
  nudged.signal(SIGTERM);
  CHECK(nudged.wait(5s) == 0);
}
