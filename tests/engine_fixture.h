// A real Engine on an in-memory store with a ManualClock, and a policy written as
// YAML like a seller would. run_until() plays the daemon's loop: wake at each due
// time, claim, deliver, complete.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/policy.h"
#include "core/store.h"
#include "core/time_util.h"

namespace test {

using namespace nudge;

// 2026-11-20T12:00:00Z, a Friday: noon in UTC.
inline const Millis T0 = *parse_instant("2026-11-20T12:00:00Z");

inline std::string base_policy(const std::string& limits = "limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}]}",
                               const std::string& campaigns = "") {
  std::string c = campaigns.empty() ? R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 24h, channel: outbox, template: gentle}
)"
                                    : campaigns;
  return "version: 1\nstore: \":memory:\"\naudit_log: audit.jsonl\n"
         "payment: {deadline: 2h, closes_after: 10d, stop_before_close: 1h}\n" +
         c + limits + "\n" +
         R"(channels:
  outbox: {type: outbox, dir: outbox}
  email: {type: smtp, url: "smtp://127.0.0.1:2525", from: "Shop <shop@example.com>"}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}}", body: "Hi {{buyer_name}}, {{order_count}} order(s), closes in {{closes_in}}"}
    es: {subject: "Pedido {{first_order_id}}", body: "Hola {{buyer_name}}, se cierra en {{closes_in}}"}
)";
}

inline std::shared_ptr<const Policy> policy_from(const std::string& yaml) {
  auto r = parse_policy(yaml, "/tmp/nudge-test/policy.yaml");
  if (!r.ok()) {
    for (const auto& e : r.errors) MESSAGE(e.to_string());
  }
  REQUIRE(r.ok());
  return r.policy;
}

struct OrderSpec {
  std::string id, buyer = "b1", country = "ES";
  Millis placed = T0;
  std::string amount = "10.00";
  std::string tz = "UTC";
  std::string email;
  std::string lang;
  std::string shop = "s1";
};

inline OrderRecord make_order(const OrderSpec& s) {
  OrderRecord o;
  o.shop = s.shop;
  o.order_id = s.id;
  o.buyer_id = s.buyer;
  o.buyer_name = "Buyer " + s.buyer;
  o.buyer_country = s.country;
  o.buyer_tz = s.tz;
  o.buyer_email = s.email;
  o.buyer_lang = s.lang;
  o.amount = s.amount;
  o.currency = "USD";
  o.placed_at = s.placed;
  return o;
}

struct EngineFixture {
  ManualClock clock{T0};
  std::unique_ptr<Store> store;
  std::shared_ptr<const Policy> policy;
  std::unique_ptr<Engine> engine;
  std::vector<SendJob> delivered;  // in order, with the clock time they were claimed
  std::vector<Millis> delivered_at;

  explicit EngineFixture(const std::string& yaml = base_policy()) {
    std::string error;
    store = Store::open(":memory:", error);
    REQUIRE(store);
    policy = policy_from(yaml);
    engine = std::make_unique<Engine>(*store, policy, clock);
  }

  IngestResult add(const OrderSpec& s) { return engine->ingest({make_order(s)}); }
  IngestResult status(const std::string& id, OrderStatus st, const std::string& shop = "s1") {
    return engine->ingest({StatusRecord{shop, id, st, clock.now()}});
  }

  // Wakes at every due time up to `t`, claims, and completes each job with `outcome`.
  void run_until(Millis t, Outcome outcome = Outcome::kSent) {
    for (int guard = 0; guard < 100000; ++guard) {
      auto due = engine->next_due();
      if (!due || *due > t) break;
      if (*due > clock.now()) clock.set(*due);
      auto jobs = engine->claim_due(100);
      for (auto& j : jobs) {
        delivered.push_back(j);
        delivered_at.push_back(clock.now());
        engine->complete(j.send_id, outcome);
      }
    }
    if (clock.now() < t) clock.set(t);
  }

  // Audit events of one kind, as (reason) strings, in order.
  std::vector<std::string> reasons(const std::string& event) {
    std::vector<std::string> out;
    SQLite::Statement q(store->db(), "SELECT line FROM audit WHERE event=? ORDER BY seq");
    q.bind(1, event);
    while (q.executeStep()) {
      std::string line = q.getColumn(0).getString();
      auto p = line.find("\"reason\":");
      std::string rest = line.substr(p + 9);
      out.push_back(rest.rfind("null", 0) == 0 ? "" : rest.substr(1, rest.find('"', 1) - 1));
    }
    return out;
  }

  std::string step_state(const std::string& order, const std::string& step) {
    SQLite::Statement q(store->db(), "SELECT state FROM schedule WHERE order_id=? AND step=?");
    q.bind(1, order);
    q.bind(2, step);
    return q.executeStep() ? q.getColumn(0).getString() : "";
  }
};

}  // namespace test
