// nudgectl summary and its usage errors, on a store the real engine wrote.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "engine_fixture.h"
#include "helpers.h"

using namespace nudge;

TEST_CASE("nudgectl summary counts a reminder deferred three times as one deferred reminder") {
  test::TempDir dir;
  std::string policy = dir / "nudge.yaml";
  std::string yaml = test::base_policy("limits: {per_order: 1, per_buyer: [{max: 1, within: 1h}], merge: false}");
  yaml.replace(yaml.find("store: \":memory:\""), 17, "store: nudge.db");
  test::write_file(policy, yaml);
  {
    std::string error;
    auto store = Store::open(dir / "nudge.db", error);
    REQUIRE(store);
    auto p = load_policy(policy);
    REQUIRE(p.ok());
    ManualClock clock{test::T0};
    Engine engine(*store, p.policy, clock);
    engine.ingest({test::make_order({.id = "o1"}), test::make_order({.id = "o2"}), test::make_order({.id = "o3"})});
    for (Millis t = test::T0; t <= test::T0 + 5 * kHour; t += kMinute) {
      clock.set(t);
      for (auto& j : engine.claim_due(100)) engine.complete(j.send_id, Outcome::kSent);
    }
    // o2 was deferred once, o3 twice: three deferral events, two deferred reminders.
    SQLite::Statement q(store->db(), "SELECT COUNT(*) FROM audit WHERE event='deferred'");
    q.executeStep();
    REQUIRE(q.getColumn(0).getInt() == 3);
  }
  auto r = test::run({NUDGECTL_PATH, "--config", policy, "--json", "summary"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["sent"] == 3);
  CHECK(j["deferred"] == 2);
  auto text = test::run({NUDGECTL_PATH, "--config", policy, "summary"});
  CHECK(text.out.find("deferred: 2 ") != std::string::npos);
  CHECK(text.out.find("deferred:cap_buyer:1/1h=2") != std::string::npos);
}

TEST_CASE("nudgectl without a command, or with a wrong one, exits 64 with the usage") {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{NUDGECTL_PATH}, std::vector<std::string>{NUDGECTL_PATH, "frobnicate"},
        std::vector<std::string>{NUDGECTL_PATH, "source", "poke"}}) {
    auto r = test::run(argv);
    CHECK(r.status == 64);
    CHECK(r.err.find("usage: nudgectl") != std::string::npos);
  }
}
