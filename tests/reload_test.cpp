#include <doctest/doctest.h>

#include "engine_fixture.h"

using namespace nudge;
using test::T0;

namespace {

const char* kThreeSteps = R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 12h, channel: outbox, template: gentle}
      - {name: third, after: 48h, channel: outbox, template: gentle}
)";

}  // namespace

TEST_CASE("a reload re-plans pending steps by name; sent steps stay sent") {
  test::EngineFixture f(test::base_policy("limits: {per_order: 3}"));
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  int changed = f.engine->reload(test::policy_from(test::base_policy("limits: {per_order: 3}", kThreeSteps)));
  CHECK(changed == 2);  // second moved from 26h to 14h, third added
  CHECK(f.step_state("o1", "first") == "sent");
  f.run_until(T0 + 10 * kDay);
  REQUIRE(f.delivered.size() == 3);
  CHECK(f.delivered[1].step == "second");
  CHECK(f.delivered_at[1] == T0 + 14 * kHour);
  CHECK(f.delivered[2].step == "third");
  CHECK(f.delivered_at[2] == T0 + 50 * kHour);
}

TEST_CASE("a reload that drops a step cancels it, and caps keep counting what was sent") {
  test::EngineFixture f(test::base_policy("limits: {per_order: 3, per_buyer: [{max: 1, within: 7d}]}", kThreeSteps));
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  f.engine->reload(test::policy_from(test::base_policy("limits: {per_order: 3, per_buyer: [{max: 1, within: 7d}]}")));
  CHECK(f.step_state("o1", "third") == "cancelled");
  CHECK(f.reasons("cancelled") == std::vector<std::string>{"policy_changed"});
  f.run_until(T0 + 10 * kDay);
  // The second step is due at 26h, but the buyer already had one this week: it waits
  // until the first reminder leaves the 7-day window.
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered[1].step == "second");
  CHECK(f.delivered_at[1] == T0 + 2 * kHour + 7 * kDay);
  CHECK(f.reasons("deferred") == std::vector<std::string>{"cap_buyer:1/7d"});
}

TEST_CASE("orders that matched no campaign are planned when a reload adds one") {
  test::EngineFixture f(test::base_policy("limits: {}", R"(campaigns:
  - name: brazil
    match: {countries: [BR]}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
)"));
  f.add({.id = "o1", .country = "ES"});
  f.engine->reload(test::policy_from(test::base_policy("limits: {}")));
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].order_ids == std::vector<std::string>{"o1"});
}

TEST_CASE("skip_if_paid_within leaves a buyer alone who just paid another order") {
  test::EngineFixture f(test::base_policy("limits: {skip_if_paid_within: 6h}"));
  f.add({.id = "o1"});
  f.add({.id = "o2"});
  f.clock.set(T0 + kHour);
  f.status("o2", OrderStatus::kPaid);
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.empty());
  CHECK(f.reasons("skipped") == std::vector<std::string>{"paid_recently"});
  f.run_until(T0 + 3 * kDay);  // the second step, long after the payment, goes out
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].step == "second");
}

// At a million pending steps, a reload that only fixed a template's wording passed
// over every step, held the loop for ten seconds and wrote a `scheduled` line for each.
TEST_CASE("a reload re-plans only what its campaigns and payment times change, and audits only that") {
  const char* kTwoCampaigns = R"(campaigns:
  - name: brazil
    match: {countries: [BR]}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 24h, channel: outbox, template: gentle}
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 24h, channel: outbox, template: gentle}
)";
  test::EngineFixture f(test::base_policy("limits: {per_order: 3}", kTwoCampaigns));
  f.add({.id = "o1", .buyer = "b1", .country = "ES"});
  f.add({.id = "o2", .buyer = "b2", .country = "BR"});
  auto scheduled = [&] { return f.reasons("scheduled").size(); };
  const size_t planned = scheduled();
  REQUIRE(planned == 4);

  SUBCASE("caps, quiet hours and wording: nothing re-planned, nothing written but policy_loaded") {
    std::string yaml = test::base_policy("limits: {per_order: 2, quiet_hours: {from: \"22:00\", to: \"08:00\"}}",
                                         kTwoCampaigns);
    yaml.replace(yaml.find("Hi {{buyer_name}}"), 2, "Hello");
    CHECK(f.engine->reload(test::policy_from(yaml)) == 0);
    CHECK(scheduled() == planned);
    CHECK(f.reasons("policy_loaded").size() == 1);  // this reload's
    CHECK(f.engine->policy().limits.per_order == 2);  // installed all the same
  }
  SUBCASE("one campaign's step moved: its steps alone are re-planned") {
    std::string yaml = test::base_policy("limits: {per_order: 3}", kTwoCampaigns);
    yaml.replace(yaml.find("after: 24h"), 10, "after: 12h");  // brazil's second step
    CHECK(f.engine->reload(test::policy_from(yaml)) == 1);
    CHECK(f.reasons("scheduled") == std::vector<std::string>{"", "", "", "", "replanned"});
    f.run_until(T0 + 15 * kHour);
    REQUIRE(f.delivered.size() == 3);  // both first steps, and o2's second at 14h
    CHECK(f.delivered[2].order_ids == std::vector<std::string>{"o2"});
    CHECK(f.delivered_at[2] == T0 + 14 * kHour);
  }
}

// A policy edited while nudged was stopped used to reach only the orders that came
// after the restart: pending steps kept the old plan until the next SIGHUP.
TEST_CASE("a start with a policy whose plan changed since the last run re-plans, as a reload would") {
  test::EngineFixture f(test::base_policy("limits: {per_order: 3}"));
  CHECK(f.engine->start("test") == 0);  // records the plan
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  f.engine->stop();

  SUBCASE("steps moved and added: re-planned at start") {
    f.engine = std::make_unique<Engine>(*f.store, test::policy_from(test::base_policy("limits: {per_order: 3}", kThreeSteps)),
                                        f.clock);
    CHECK(f.engine->start("test") == 2);
    CHECK(f.reasons("scheduled").back() == "replanned");
    f.run_until(T0 + 10 * kDay);
    REQUIRE(f.delivered.size() == 3);
    CHECK(f.delivered_at[1] == T0 + 14 * kHour);
    CHECK(f.delivered_at[2] == T0 + 50 * kHour);
  }
  SUBCASE("only caps changed: nothing re-planned") {
    const size_t scheduled = f.reasons("scheduled").size();
    f.engine = std::make_unique<Engine>(*f.store, test::policy_from(test::base_policy("limits: {per_order: 1}")), f.clock);
    CHECK(f.engine->start("test") == 0);
    CHECK(f.reasons("scheduled").size() == scheduled);
  }
}

TEST_CASE("a store that has no plan recorded (made before nudge recorded it) is not re-planned at start") {
  test::EngineFixture f(test::base_policy("limits: {per_order: 3}"));
  f.add({.id = "o1"});
  f.engine = std::make_unique<Engine>(*f.store, test::policy_from(test::base_policy("limits: {per_order: 3}", kThreeSteps)),
                                      f.clock);
  CHECK(f.engine->start("test") == 0);
  CHECK(f.store->meta("plan").find("\"third\"") != std::string::npos);  // recorded now: the next change re-plans
}
