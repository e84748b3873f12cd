// nudgectl simulate --store, then nudgectl report --json over a month with a holdout and
// two template variants, checked against counts this test makes itself from the feed
// it wrote and the audit events simulate printed (not from the report's code).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/audit.h"
#include "core/time_util.h"
#include "helpers.h"

using namespace nudge;

namespace {

const char* kPolicy = R"(version: 1
store: nudge.db
audit_log: audit.jsonl
payment: {deadline: 2h, closes_after: 10d, stop_before_close: 1h}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: trial, template: [gentle, warm]}
      - {name: second, after: 24h, channel: trial, template: {gentle: 70, warm: 30}}
limits:
  per_order: 2
  per_buyer: [{max: 1, within: 12h}]
  quiet_hours: {from: "22:00", to: "08:00"}
experiment: {holdout: 10%, salt: "2026-10", attribution_window: 72h}
channels:
  trial: {type: discard}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it closes in {{closes_in}}."}
  warm:
    en: {subject: "Still thinking about {{first_order_id}}?", body: "Hi {{buyer_name}}, it is kept for you."}
)";

struct FeedOrder {
  std::string id;
  Millis placed = 0;
  std::optional<Millis> paid;
  std::string amount;
};

}  // namespace

TEST_CASE("report --json over a simulated month with a holdout and two variants matches the audit events") {
  test::TempDir dir;
  const std::string policy = dir / "nudge.yaml", feed = dir / "october.jsonl", kept = dir / "trial.db";
  test::write_file(policy, kPolicy);

  // A month of orders: 1,200 buyers, some with two orders; a third pay within the
  // 2h deadline, a third later (up to 5 days), a third never.
  const Millis start = *parse_instant("2026-10-01T00:00:00Z"), end = *parse_instant("2026-11-01T00:00:00Z");
  std::mt19937_64 rng(12);
  std::vector<FeedOrder> orders;
  std::ostringstream lines;
  for (int i = 0; i < 1500; ++i) {
    FeedOrder o;
    o.id = "o" + std::to_string(i);
    o.placed = start + static_cast<Millis>(rng() % static_cast<std::uint64_t>(end - start - kDay));
    o.amount = std::to_string(5 + rng() % 95) + "." + std::to_string(10 + rng() % 90);
    int fate = static_cast<int>(rng() % 3);
    if (fate == 0) o.paid = o.placed + static_cast<Millis>(rng() % (2 * kHour - kMinute));
    if (fate == 1) o.paid = o.placed + 2 * kHour + static_cast<Millis>(rng() % (5 * kDay));
    std::string buyer = "b" + std::to_string(i % 1200);
    lines << nlohmann::json{{"type", "order"}, {"shop", "s1"}, {"order_id", o.id}, {"buyer_id", buyer},
                            {"buyer_name", "Buyer " + buyer}, {"buyer_country", i % 4 ? "US" : "GB"},
                            {"amount", o.amount}, {"currency", "USD"}, {"placed_at", format_instant(o.placed)},
                            {"status", "awaiting_payment"}}
                 .dump()
          << "\n";
    if (o.paid)
      lines << nlohmann::json{{"type", "status"}, {"shop", "s1"}, {"order_id", o.id}, {"status", "paid"},
                              {"at", format_instant(*o.paid)}}
                   .dump()
            << "\n";
    orders.push_back(o);
  }
  test::write_file(feed, lines.str());

  auto sim = test::run({NUDGECTL_PATH, "--config", policy, "simulate", "--orders", feed, "--store", kept});
  REQUIRE_MESSAGE(sim.status == 0, sim.err);
  CHECK(sim.err.find("kept the simulated store in " + kept) != std::string::npos);
  // A second run does not overwrite it.
  auto again = test::run({NUDGECTL_PATH, "--config", policy, "simulate", "--orders", feed, "--store", kept});
  CHECK(again.status == 73);
  CHECK(again.err.find("exists") != std::string::npos);

  // The kept store's audit table holds exactly the lines simulate printed, in order,
  // and they verify as one chain: the simulation holds them in memory and writes them
  // to the table only for a kept store.
  {
    SQLite::Database db(kept, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT line FROM audit ORDER BY seq");
    std::string table;
    while (q.executeStep()) table += q.getColumn(0).getString() + "\n";
    CHECK(table == sim.out);
    std::istringstream in(table);
    auto verified = verify_audit(in);
    CHECK_MESSAGE(verified.ok, verified.problem);
    CHECK(verified.lines > 1000);
    // The per-day counts (nudgectl status) came with them.
    auto counted = db.execAndGet("SELECT SUM(n) FROM audit_daily").getInt64();
    CHECK(counted == verified.lines);
    // So did the count of pending steps, and the triggers that keep it (a simulation
    // runs without them): a kept store is a store like any other.
    auto pending = db.execAndGet("SELECT n FROM counters WHERE name='scheduled'").getInt64();
    CHECK(pending == db.execAndGet("SELECT COUNT(*) FROM schedule WHERE state='scheduled'").getInt64());
    CHECK(db.execAndGet("SELECT COUNT(*) FROM sqlite_schema WHERE type='trigger' AND name LIKE 'schedule_count_%'")
              .getInt() == 3);
  }
  {
    // A step written into (a copy of) the kept store is counted.
    std::filesystem::copy_file(kept, dir / "copy.db");
    SQLite::Database db(dir / "copy.db", SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schedule(shop, order_id, buyer_id, campaign, step, step_index, due_at, state, updated_at) "
            "VALUES('s', 'later', 'b', 'c', 'first', 0, 5, 'scheduled', 0)");
    CHECK(db.execAndGet("SELECT n FROM counters WHERE name='scheduled'").getInt64() ==
          db.execAndGet("SELECT COUNT(*) FROM schedule WHERE state='scheduled'").getInt64());
    CHECK(db.execAndGet("SELECT n FROM counters WHERE name='scheduled'").getInt64() >= 1);
  }

  // What the audit says, per order: each sent reminder (time, step, template), held out.
  struct Seen {
    std::vector<std::tuple<Millis, std::string, std::string>> sent;
    bool held_out = false;
  };
  std::map<std::string, Seen> seen;
  std::set<std::string> templates_used;
  std::istringstream events(sim.out);
  std::string line;
  while (std::getline(events, line)) {
    auto j = nlohmann::json::parse(line);
    std::string ev = j["event"];
    if (ev == "skipped" && j["reason"] == "holdout")
      for (const auto& o : j["orders"]) seen[o].held_out = true;
    if (ev != "sent") continue;
    Millis ts = *parse_instant(j["ts"].get<std::string>());
    for (const auto& o : j["orders"]) {
      std::string step = j.contains("steps") ? j["steps"][o.get<std::string>()] : j["step"];
      seen[o].sent.emplace_back(ts, step, j["template"]);
      templates_used.insert(j["template"]);
    }
  }
  CHECK(templates_used == std::set<std::string>{"gentle", "warm"});

  // The counts, computed here: the last sent reminder at or before the payment, if the
  // payment came less than 72h after it.
  long n = 0, overdue = 0, reminded = 0, paid_after = 0, paid_without = 0, held = 0, held_paid = 0, treated = 0,
       treated_paid = 0;
  long recovered_cents = 0;
  std::map<std::string, std::pair<long, long>> by_template;  // reminded, paid after
  for (const auto& o : orders) {
    ++n;
    if (!o.paid || *o.paid >= o.placed + 2 * kHour) ++overdue;
    const Seen& s = seen[o.id];
    if (!s.sent.empty()) ++reminded;
    std::optional<std::tuple<Millis, std::string, std::string>> last;
    if (o.paid)
      for (const auto& r : s.sent)
        if (std::get<0>(r) <= *o.paid && (!last || std::get<0>(r) >= std::get<0>(*last))) last = r;
    std::set<std::string> tmpls;
    for (const auto& r : s.sent) tmpls.insert(std::get<2>(r));
    for (const auto& t : tmpls) ++by_template[t].first;
    if (o.paid && !last) ++paid_without;
    if (last && *o.paid - std::get<0>(*last) < 72 * kHour) {
      ++paid_after;
      ++by_template[std::get<2>(*last)].second;
      auto dot = o.amount.find('.');
      recovered_cents += std::stol(o.amount.substr(0, dot)) * 100 + std::stol(o.amount.substr(dot + 1));
    }
    if (s.held_out) {
      ++held;
      held_paid += o.paid.has_value();
      CHECK(s.sent.empty());
    } else if (!s.sent.empty()) {
      ++treated;
      treated_paid += o.paid.has_value();
    }
  }
  // A 10% holdout of the buyers whose first step came due unpaid: roughly 60 to 110 of ~1,000.
  CHECK(held > 50);
  CHECK(held < 130);

  auto rep = test::run({NUDGECTL_PATH, "--config", policy, "--json", "report", "--store", kept, "--since",
                        "2026-10-01", "--until", "2026-11-01", "--by", "template"});
  REQUIRE_MESSAGE(rep.status == 0, rep.err);
  auto j = nlohmann::json::parse(rep.out);
  MESSAGE(rep.out);
  CHECK(j["since"] == "2026-10-01T00:00:00.000Z");
  CHECK(j["until"] == "2026-11-01T00:00:00.000Z");
  CHECK(j["attribution_window"] == "72h");
  const auto& t = j["totals"];
  CHECK(t["orders"] == n);
  CHECK(t["overdue"] == overdue);
  CHECK(t["reminded"] == reminded);
  CHECK(t["paid_after_reminder"] == paid_after);
  CHECK(t["paid_without_reminder"] == paid_without);
  char money[32];
  std::snprintf(money, sizeof money, "%ld.%02ld", recovered_cents / 100, recovered_cents % 100);
  CHECK(t["recovered"]["USD"] == money);
  CHECK(t["holdout"]["orders"] == held);
  CHECK(t["holdout"]["paid"] == held_paid);
  REQUIRE(j["uplift"].is_object());
  const double rr = double(treated_paid) / treated, hr = double(held_paid) / held;
  CHECK(j["uplift"]["reminded_rate"].get<double>() == doctest::Approx(rr).epsilon(0.0001));
  CHECK(j["uplift"]["holdout_rate"].get<double>() == doctest::Approx(hr).epsilon(0.0001));
  CHECK(j["uplift"]["difference"].get<double>() == doctest::Approx(rr - hr).epsilon(0.0002));
  CHECK(j["uplift"]["ci95"][0].get<double>() < rr - hr);
  CHECK(j["uplift"]["ci95"][1].get<double>() > rr - hr);
  REQUIRE(j["rows"].size() == 2);
  for (const auto& row : j["rows"]) {
    INFO(row.dump());
    auto [rem, paid] = by_template[row["by"]];
    CHECK(row["reminded"] == rem);
    CHECK(row["paid_after_reminder"] == paid);
    CHECK(row["rate"].get<double>() == doctest::Approx(double(paid) / rem).epsilon(0.0001));
    CHECK(row["median_hours_to_pay"].get<double>() >= 0);
    CHECK(row["median_hours_to_pay"].get<double>() < 72);
  }
  // Exactly the issue's keys, in its order.
  std::vector<std::string> keys;
  const auto ordered = nlohmann::ordered_json::parse(rep.out);
  for (const auto& [k, v] : ordered.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"since", "until", "attribution_window", "totals", "uplift", "rows"});

  // The terminal output says the same.
  auto text = test::run({NUDGECTL_PATH, "--config", policy, "report", "--store", kept, "--since", "2026-10-01",
                         "--until", "2026-11-01"});
  REQUIRE(text.status == 0);
  MESSAGE(text.out);
  CHECK(text.out.find("paid after a reminder         " + std::to_string(paid_after) + "\n") != std::string::npos);
  CHECK(text.out.find("Newcombe's hybrid score interval") != std::string::npos);
}

TEST_CASE("nudgectl report refuses a bad --by, a bad time and a missing store, each with its reason") {
  test::TempDir dir;
  const std::string policy = dir / "nudge.yaml";
  test::write_file(policy, kPolicy);
  auto bad_by = test::run({NUDGECTL_PATH, "--config", policy, "report", "--by", "colour"});
  CHECK(bad_by.status == 64);
  CHECK(bad_by.err.find("--by must be one of") != std::string::npos);
  auto bad_time = test::run({NUDGECTL_PATH, "--config", policy, "report", "--since", "last tuesday"});
  CHECK(bad_time.status == 64);
  CHECK(bad_time.err.find("--since must be a date") != std::string::npos);
  auto reversed = test::run(
      {NUDGECTL_PATH, "--config", policy, "report", "--since", "2026-11-01", "--until", "2026-10-01"});
  CHECK(reversed.status == 64);
  auto none = test::run({NUDGECTL_PATH, "--config", policy, "report", "--store", dir / "absent.db"});
  CHECK(none.status == 66);
  CHECK(none.err.find("no store at") != std::string::npos);
  auto junk = dir / "junk.db";
  test::write_file(junk, "this is not a database");
  auto bad_store = test::run({NUDGECTL_PATH, "--config", policy, "report", "--store", junk});
  CHECK(bad_store.status == 66);
}
