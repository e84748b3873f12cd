// Attribution, experiments in the policy and the engine, and the report's store query.
#include <doctest/doctest.h>

#include <set>

#include "core/attribution.h"
#include "core/experiment.h"
#include "core/report.h"
#include "engine_fixture.h"

using namespace nudge;
using namespace test;

namespace {

Reminder at(Millis t, const std::string& step) { return {.at = t, .campaign = "c", .step = step, .tmpl = step + "-t"}; }

const Millis kWin = 72 * kHour;

std::string experiment_policy(const std::string& experiment, const std::string& first_template = "gentle") {
  std::string yaml = base_policy("limits: {per_order: 2, per_buyer: [{max: 5, within: 24h}]}",
                                 "campaigns:\n  - name: default\n    match: {}\n    steps:\n"
                                 "      - {name: first, after: 0s, channel: outbox, template: " +
                                     first_template + "}\n");
  yaml += "  warm:\n    en: {subject: \"Still there? {{first_order_id}}\", body: \"Hi {{buyer_name}}, closes in "
          "{{closes_in}}\"}\n";
  return yaml + experiment;
}

}  // namespace

TEST_CASE("the last reminder before the payment wins") {
  std::vector<Reminder> r = {at(T0 + 5 * kHour, "second"), at(T0, "first"), at(T0 + 30 * kHour, "third")};
  auto a = attribute(r, T0 + 10 * kHour, kWin);
  REQUIRE(a.kind == PaidKind::kAfterReminder);
  CHECK(r[*a.reminder].step == "second");  // third came after the payment, first before second
  CHECK(a.to_pay == 5 * kHour);
}

TEST_CASE("the attribution window: from the reminder (inclusive) to window after it (exclusive)") {
  std::vector<Reminder> r = {at(T0, "first")};
  CHECK(attribute(r, T0, kWin).kind == PaidKind::kAfterReminder);             // the same instant counts
  CHECK(attribute(r, T0 + kWin - 1, kWin).kind == PaidKind::kAfterReminder);  // the last millisecond counts
  CHECK(attribute(r, T0 + kWin, kWin).kind == PaidKind::kLate);               // exactly the window: too late
  CHECK(attribute(r, T0 - 1, kWin).kind == PaidKind::kWithoutReminder);       // paid before the reminder
  CHECK(attribute(r, std::nullopt, kWin).kind == PaidKind::kUnpaid);
  CHECK(attribute({}, T0, kWin).kind == PaidKind::kWithoutReminder);
}

TEST_CASE("a late payment does not fall back on an older reminder") {
  // The last reminder before the payment is too old: the older one is older still.
  std::vector<Reminder> r = {at(T0, "first"), at(T0 + kHour, "second")};
  CHECK(attribute(r, T0 + kHour + kWin, kWin).kind == PaidKind::kLate);
}

TEST_CASE("money sums exactly and prints with at least two decimals") {
  CHECK(parse_money("33.31") == 333100);
  CHECK(parse_money("5") == 50000);
  CHECK(parse_money("0.125") == 1250);
  CHECK_FALSE(parse_money(""));
  CHECK_FALSE(parse_money("1.2.3"));
  CHECK_FALSE(parse_money("-1"));
  CHECK_FALSE(parse_money("."));
  CHECK(format_money(*parse_money("0.1") + *parse_money("0.2")) == "0.30");
  CHECK(format_money(1250) == "0.125");
  CHECK(format_money(123450000) == "12345.00");
}

TEST_CASE("experiment and A/B variants are read from the policy") {
  SUBCASE("defaults: no holdout, a 72h window") {
    auto p = policy_from(base_policy());
    CHECK(p->experiment.holdout_bp == 0);
    CHECK(p->experiment.attribution_window == 72 * kHour);
    CHECK(p->campaigns[0].steps[0].variants.empty());
  }
  SUBCASE("holdout, salt and window") {
    auto p = policy_from(experiment_policy("experiment: {holdout: 2.5%, salt: \"q4\", attribution_window: 48h}\n"));
    CHECK(p->experiment.holdout_bp == 250);
    CHECK(p->experiment.salt == "q4");
    CHECK(p->experiment.attribution_window == 48 * kHour);
  }
  SUBCASE("a list is equal weights, a mapping names the weights") {
    auto p = policy_from(experiment_policy("", "[gentle, warm]"));
    const auto& v = p->campaigns[0].steps[0].variants;
    REQUIRE(v.size() == 2);
    CHECK(v[0].template_name == "gentle");
    CHECK(v[1].weight == 1);
    p = policy_from(experiment_policy("", "{gentle: 70, warm: 30}"));
    CHECK(p->campaigns[0].steps[0].variants[0].weight == 70);
    CHECK(p->campaigns[0].steps[0].variants[1].weight == 30);
  }
}

TEST_CASE("bad experiment settings are errors at their line and column") {
  auto errors = [](const std::string& yaml) {
    auto r = parse_policy(yaml, "shop.yaml");
    CHECK_FALSE(r.ok());
    std::string all;
    for (const auto& e : r.errors) all += e.to_string() + "\n";
    return all;
  };
  std::string bad_holdout = errors(experiment_policy("experiment: {holdout: 60%, salt: x}\n"));
  CHECK(bad_holdout.find("experiment.holdout must be a share from 0% to 50%") != std::string::npos);
  CHECK(errors(experiment_policy("experiment: {holdout: 5}\n")).find("not '5'") != std::string::npos);
  CHECK(errors(experiment_policy("experiment: {holdout: 5%}\n")).find("needs experiment.salt") != std::string::npos);
  CHECK(errors(experiment_policy("experiment: {attribution_window: 10m}\n")).find("from 1h to 30d") !=
        std::string::npos);
  CHECK(errors(experiment_policy("experiment: {holdot: 5%}\n")).find("did you mean 'holdout'") != std::string::npos);
  std::string unknown = errors(experiment_policy("", "[gentle, cold]"));
  CHECK(unknown.find("shop.yaml:9:61: step 'first'") != std::string::npos);  // at the step's template
  CHECK(unknown.find("uses template 'cold' as a variant, which is not defined") != std::string::npos);
  CHECK(errors(experiment_policy("", "{gentle: 70, warm: 0}")).find("weight of variant 'warm'") != std::string::npos);
  CHECK(errors(experiment_policy("", "[gentle, gentle]")).find("variant 'gentle' twice") != std::string::npos);
  CHECK(errors(experiment_policy("", "[]")).find("lists no variants") != std::string::npos);
}

TEST_CASE("a held-out buyer's steps end skipped, reason holdout, the same way after a restart") {
  auto yaml = experiment_policy("experiment: {holdout: 50%, salt: \"t\"}\n");
  EngineFixture f(yaml);
  std::set<std::string> held, reminded;
  for (int i = 0; i < 40; ++i) f.add({.id = "o" + std::to_string(i), .buyer = "b" + std::to_string(i)});
  f.run_until(T0 + 3 * kHour);
  for (int i = 0; i < 40; ++i) {
    std::string o = "o" + std::to_string(i), b = "b" + std::to_string(i);
    std::string st = f.step_state(o, "first");
    CHECK(st == (in_holdout("s1", b, "t", 5000) ? "skipped" : "sent"));
    (st == "skipped" ? held : reminded).insert(b);
  }
  CHECK(held.size() > 5);
  CHECK(reminded.size() > 5);
  for (const auto& r : f.reasons("skipped")) CHECK(r == "holdout");
  // holdout_reason is a pure function of (shop, buyer, salt): a new engine (a restart,
  // a reload) decides the same; a manual reminder is never held out.
  auto p = policy_from(yaml);
  for (const auto& b : held) {
    CHECK(holdout_reason(*p, "s1", b, "first") == "holdout");
    CHECK(holdout_reason(*p, "s1", b, kManualStep) == "");
  }
  for (const auto& b : reminded) CHECK(holdout_reason(*p, "s1", b, "first") == "");
}

TEST_CASE("each buyer gets one variant, and the audit names the template used") {
  EngineFixture f(experiment_policy("experiment: {salt: \"ab\"}\n", "[gentle, warm]"));
  for (int i = 0; i < 40; ++i) f.add({.id = "o" + std::to_string(i), .buyer = "b" + std::to_string(i)});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 40);
  std::map<std::string, int> used;
  const Step& step = f.policy->campaigns[0].steps[0];
  for (const auto& job : f.delivered) {
    CHECK(job.tmpl == step.variants[pick_variant("s1", job.buyer_id, "ab", "first", step.variants)].template_name);
    CHECK(job.tmpl == pick_template(*f.policy, step, "s1", job.buyer_id));
    ++used[job.tmpl];
  }
  CHECK(used["gentle"] > 5);
  CHECK(used["warm"] > 5);
  SQLite::Statement q(f.store->db(), "SELECT line FROM audit WHERE event IN ('sending', 'sent')");
  int warm_lines = 0;
  while (q.executeStep()) warm_lines += q.getColumn(0).getString().find("\"template\":\"warm\"") != std::string::npos;
  CHECK(warm_lines == 2 * used["warm"]);
}

TEST_CASE("an order paid after a reminder gets a paid_after_reminder audit line; a late one does not") {
  EngineFixture f(experiment_policy("experiment: {attribution_window: 24h}\n"));
  f.add({.id = "quick", .buyer = "b1", .amount = "12.50"});
  f.add({.id = "slow", .buyer = "b2"});
  f.add({.id = "early", .buyer = "b3"});
  f.clock.set(T0 + kHour);
  f.status("early", OrderStatus::kPaid);  // before its reminder (due at T0 + 2h)
  f.run_until(T0 + 2 * kHour);
  f.clock.set(T0 + 5 * kHour);
  f.status("quick", OrderStatus::kPaid);
  f.clock.set(T0 + 2 * kHour + 24 * kHour);  // exactly the window: too late
  f.status("slow", OrderStatus::kPaid);
  SQLite::Statement q(f.store->db(), "SELECT line FROM audit WHERE event='paid_after_reminder'");
  std::vector<std::string> lines;
  while (q.executeStep()) lines.push_back(q.getColumn(0).getString());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("\"orders\":[\"quick\"]") != std::string::npos);
  CHECK(lines[0].find("\"step\":\"first\"") != std::string::npos);
  CHECK(lines[0].find("\"campaign\":\"default\",\"amount\":\"12.50\",\"currency\":\"USD\"") != std::string::npos);
  CHECK(lines[0].find("paid 3.0h after the reminder") != std::string::npos);
}

TEST_CASE("the report reads the orders of its window through the placed_at index") {
  EngineFixture f;
  SQLite::Statement q(f.store->db(), std::string("EXPLAIN QUERY PLAN ") + report_orders_sql());
  std::string plan;
  while (q.executeStep()) plan += q.getColumn(3).getString() + "\n";
  MESSAGE(plan);
  CHECK(plan.find("SEARCH o USING") != std::string::npos);
  CHECK(plan.find("orders_placed") != std::string::npos);
  CHECK(plan.find("SEARCH s USING INDEX sqlite_autoindex_schedule") != std::string::npos);
  CHECK(plan.find("SEARCH se USING INTEGER PRIMARY KEY") != std::string::npos);
  CHECK(plan.find("SCAN") == std::string::npos);
  CHECK(plan.find("TEMP B-TREE") == std::string::npos);  // no sort: the index gives the order
}

TEST_CASE("the report counts reminded, paid after, paid without and the holdout") {
  EngineFixture f(experiment_policy("experiment: {holdout: 50%, salt: \"t\"}\n"));
  for (int i = 0; i < 20; ++i) f.add({.id = "o" + std::to_string(i), .buyer = "b" + std::to_string(i)});
  f.add({.id = "prompt", .buyer = "b99", .amount = "3.00"});
  f.clock.set(T0 + kHour);
  f.status("prompt", OrderStatus::kPaid);
  f.run_until(T0 + 2 * kHour);
  f.clock.set(T0 + 4 * kHour);
  long held = 0, held_paid = 0, reminded = 0, paid_after = 0;
  for (int i = 0; i < 20; ++i) {
    bool h = in_holdout("s1", "b" + std::to_string(i), "t", 5000);
    (h ? held : reminded)++;
    if (i % 2 == 0) {
      f.status("o" + std::to_string(i), OrderStatus::kPaid);
      (h ? held_paid : paid_after)++;
    }
  }
  Report r = build_report(*f.store, *f.policy, {.since = T0 - kDay, .until = T0 + kDay});
  CHECK(r.orders == 21);
  CHECK(r.overdue == 20);  // "prompt" was paid before its 2h deadline
  CHECK(r.reminded == reminded);
  CHECK(r.paid_after_reminder == paid_after);
  CHECK(r.paid_without_reminder == 1 + held_paid);
  CHECK(r.holdout_orders == held);
  CHECK(r.holdout_paid == held_paid);
  CHECK(format_money(r.recovered["USD"]) == format_money(paid_after * 100000));
  CHECK_FALSE(r.uplift);  // fewer than kMinUpliftGroup in each group
  REQUIRE(r.rows["step"].size() == 1);
  CHECK(r.rows["step"][0].median_hours_to_pay == doctest::Approx(2.0));
  // An empty window, and another shop: nothing.
  CHECK(build_report(*f.store, *f.policy, {.since = T0 + kDay, .until = T0 + 2 * kDay}).orders == 0);
  CHECK(build_report(*f.store, *f.policy, {.since = T0 - kDay, .until = T0 + kDay, .shop = "s2"}).orders == 0);
}

TEST_CASE("with several shops, campaign and country rows name their shop, and --shop keeps one") {
  EngineFixture f(experiment_policy(""));
  f.add({.id = "a1", .buyer = "b1", .shop = "s1"});
  f.add({.id = "a2", .buyer = "b2", .country = "DE", .shop = "s2"});
  f.run_until(T0 + 3 * kHour);
  f.status("a2", OrderStatus::kPaid, "s2");
  Report all = build_report(*f.store, *f.policy, {.since = T0 - kDay, .until = T0 + kDay});
  std::vector<std::string> campaigns, countries, steps;
  for (const auto& r : all.rows["campaign"]) campaigns.push_back(r.by);
  for (const auto& r : all.rows["country"]) countries.push_back(r.by);
  for (const auto& r : all.rows["step"]) steps.push_back(r.by);
  CHECK(campaigns == std::vector<std::string>{"s1/default", "s2/default"});
  CHECK(countries == std::vector<std::string>{"s1/ES", "s2/DE"});
  CHECK(steps == std::vector<std::string>{"first"});
  REQUIRE(all.rows["shop"].size() == 2);
  CHECK(all.rows["shop"][1].by == "s2");
  CHECK(all.rows["shop"][1].paid_after_reminder == 1);
  Report one = build_report(*f.store, *f.policy, {.since = T0 - kDay, .until = T0 + kDay, .shop = "s2"});
  CHECK(one.orders == 1);
  CHECK(one.paid_after_reminder == 1);
  REQUIRE(one.rows["campaign"].size() == 1);
  CHECK(one.rows["campaign"][0].by == "default");
}
