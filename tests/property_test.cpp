// A randomized run: thousands of orders and payments over weeks of simulated time,
// with failures, checking the guarantees on what actually went out.
#include <doctest/doctest.h>

#include <random>

#include <date/tz.h>

#include "core/zones.h"
#include "engine_fixture.h"

using namespace nudge;
using test::T0;

TEST_CASE("randomized: no cap exceeded, nothing after payment, nothing at night, every step ends once") {
  const char* limits = R"(limits:
  per_order: 2
  per_buyer: [{max: 1, within: 24h}, {max: 3, within: 7d}]
  quiet_hours: {from: "21:00", to: "09:00"}
  when_limited: defer
  merge: true
  misfire_grace: 6h)";
  test::EngineFixture f(test::base_policy(limits, R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 24h, channel: outbox, template: gentle}
      - {name: third, after: 3d, channel: outbox, template: gentle}
)") + "zones: {default: UTC, RU: Europe/Moscow}\n");
  std::mt19937 rng(20261126);
  const char* countries[] = {"ES", "US", "RU", "BR", "JP", "AU", "IN", "FR", "CN", "MX"};
  const char* tzs[] = {"", "", "", "America/Los_Angeles", "Australia/Perth", "Asia/Kolkata"};

  struct Event {
    Millis at;
    FeedRecord rec;
  };
  std::vector<Event> feed;
  std::map<std::string, Millis> paid_at;  // order -> when it stopped awaiting payment
  std::map<std::string, std::pair<std::string, std::string>> order_buyer;  // order -> (tz, country)
  const int kOrders = 3000;
  const Millis kSpan = 21 * kDay;
  for (int i = 0; i < kOrders; ++i) {
    std::string id = "o" + std::to_string(i);
    int b = static_cast<int>(rng() % 900);
    Millis placed = T0 + static_cast<Millis>(rng() % kSpan);
    auto o = test::make_order({.id = id, .buyer = "b" + std::to_string(b), .country = countries[b % 10],
                               .placed = placed, .tz = tzs[b % 6], .shop = b % 2 ? "s1" : "s2"});
    order_buyer[id] = {o.buyer_tz, o.buyer_country};
    feed.push_back({placed, o});
    if (rng() % 2) {
      Millis paid = placed + static_cast<Millis>(rng() % (4 * kDay));
      auto st = rng() % 5 == 0 ? OrderStatus::kCancelled : OrderStatus::kPaid;
      feed.push_back({paid, StatusRecord{o.shop, id, st, paid}});
      paid_at[id] = paid;
    }
  }
  std::stable_sort(feed.begin(), feed.end(), [](const Event& a, const Event& b) { return a.at < b.at; });

  struct Sent {
    std::string shop, buyer;
    std::vector<std::string> orders;
    Millis at;
  };
  std::vector<Sent> sent;  // only sends that count: sent (not failed)
  size_t next = 0;
  const Millis poll = 5 * kMinute;
  for (Millis t = T0; t < T0 + kSpan + 30 * kDay; t += poll) {
    f.clock.set(t);
    std::vector<FeedRecord> page;
    while (next < feed.size() && feed[next].at <= t) page.push_back(feed[next++].rec);
    if (!page.empty()) f.engine->ingest(page);
    for (int guard = 0; guard < 1000; ++guard) {
      auto due = f.engine->next_due();
      if (!due || *due > t + poll - 1) break;
      f.clock.set(std::max(*due, t));
      auto jobs = f.engine->claim_due(50);
      for (const auto& j : jobs) {
        int roll = static_cast<int>(rng() % 100);
        Outcome out = roll < 90 ? Outcome::kSent : roll < 96 ? Outcome::kTransient : Outcome::kPermanent;
        // G2: every order in a claimed message was still awaiting payment at its claim.
        for (const auto& o : j.order_ids) {
          auto p = paid_at.find(o);
          if (p != paid_at.end() && p->second <= f.clock.now() && p->second < t - poll) {
            FAIL("order " << o << " reminded after its payment was known");
          }
        }
        // G3: never inside the buyer's quiet hours.
        auto [tz, country] = order_buyer[j.order_ids[0]];
        CHECK_FALSE(quiet_until(*f.policy->limits.quiet_hours, buyer_zone(*f.policy, tz, country), f.clock.now()));
        if (out == Outcome::kSent) sent.push_back({j.shop, j.buyer_id, j.order_ids, f.clock.now()});
        f.engine->complete(j.send_id, out, "simulated");
      }
    }
  }
  REQUIRE(sent.size() > 1000);

  // G1: no buyer over any window, measured on what went out.
  std::map<std::string, std::vector<Millis>> per_buyer;
  for (const auto& s : sent) per_buyer[s.shop + "/" + s.buyer].push_back(s.at);
  for (auto& [who, times] : per_buyer) {
    std::sort(times.begin(), times.end());
    for (size_t i = 0; i < times.size(); ++i) {
      int day = 0, week = 0;
      for (size_t j = 0; j <= i; ++j) {
        if (times[j] > times[i] - kDay) ++day;
        if (times[j] > times[i] - 7 * kDay) ++week;
      }
      CHECK(day <= 1);
      CHECK(week <= 3);
    }
  }
  // per_order: at most 2 reminders that went out per order.
  std::map<std::string, int> per_order;
  for (const auto& s : sent)
    for (const auto& o : s.orders) CHECK(++per_order[o] <= 2);

  // G5: every planned step ended in exactly one final state, with a matching audit line.
  auto& db = f.store->db();
  CHECK(db.execAndGet("SELECT COUNT(*) FROM schedule WHERE state NOT IN "
                      "('sent','failed','skipped','cancelled','in_doubt')").getInt() == 0);
  int rows = db.execAndGet("SELECT COUNT(*) FROM schedule").getInt();
  int scheduled_lines = db.execAndGet("SELECT COUNT(*) FROM audit WHERE event='scheduled'").getInt();
  CHECK(scheduled_lines >= rows);
  // Messages out per the table match what the channel saw.
  CHECK(db.execAndGet("SELECT COUNT(*) FROM sends WHERE state='sent'").getInt() == static_cast<int>(sent.size()));
  MESSAGE("randomized run: " << sent.size() << " reminders sent to " << per_buyer.size() << " buyers, " << rows
                             << " steps planned");
}
