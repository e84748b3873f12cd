// bench/disk: the store's size under a steady load over simulated months, with and
// without retention (core/retention.h). Runs the real engine on a ManualClock: every
// day ORDERS new orders (60% paid within a few hours, the rest left to close), fed
// through the inbox table as nudged's inbox source does, reminders completed as sent,
// the audit file's progress marked as the daemon's mirror does, and pruning run
// as the daemon runs it. Prints one line per month and `name value unit` lines.
//
//   build/bench/disk [MONTHS=18] [ORDERS_PER_DAY=200]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "core/engine.h"
#include "core/policy.h"
#include "core/retention.h"
#include "core/store.h"
#include "core/time_util.h"

using namespace nudge;

namespace {

const char* kPolicy = R"(version: 1
store: disk.db
audit_log: audit.jsonl
payment: {deadline: 2h, closes_after: 10d, stop_before_close: 1h}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 24h, channel: outbox, template: gentle}
limits: {per_order: 2, per_buyer: [{max: 2, within: 7d}]}
channels:
  outbox: {type: outbox, dir: outbox}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}}", body: "Hi {{buyer_name}}, your order closes in {{closes_in}}."}
)";

std::int64_t file_bytes(Store& s) {
  s.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return s.db().execAndGet("PRAGMA page_count").getInt64() * s.db().execAndGet("PRAGMA page_size").getInt64() -
         s.db().execAndGet("PRAGMA freelist_count").getInt64() * s.db().execAndGet("PRAGMA page_size").getInt64();
}

struct Month {
  std::int64_t bytes, orders, audit, inbox;
};

std::vector<Month> run(const std::filesystem::path& dir, int months, int per_day, bool retention) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto parsed = parse_policy(kPolicy, (dir / "policy.yaml").string());
  if (!parsed.ok()) {
    std::fprintf(stderr, "bad policy: %s\n", parsed.errors[0].to_string().c_str());
    std::exit(1);
  }
  std::string error;
  auto store = Store::open((dir / "disk.db").string(), error);
  if (!store) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::exit(1);
  }
  store->db().exec("PRAGMA synchronous=OFF");  // sizes, not durability, are measured here
  Millis t0 = *parse_instant("2026-01-01T00:00:00Z");
  ManualClock clock{t0};
  Engine engine(*store, parsed.policy, clock);
  std::mt19937_64 rng(42);
  std::vector<Month> out;
  std::int64_t next_id = 0, inbox_id = 0;
  for (int day = 0; day < months * 30; ++day) {
    Millis start = t0 + day * kDay;
    // The day's orders arrive through the inbox, a page at a time, as nudged reads it.
    std::vector<FeedRecord> page;
    std::vector<std::pair<std::string, Millis>> to_pay;
    for (int i = 0; i < per_day; ++i) {
      std::string id = std::to_string(++next_id);
      Millis placed = start + static_cast<Millis>(rng() % kDay);
      nlohmann::json j = {{"type", "order"}, {"shop", "s1"}, {"order_id", id},
                          {"buyer_id", "b" + std::to_string(rng() % (per_day * 20))},
                          {"buyer_name", "Buyer"}, {"buyer_country", "ES"}, {"amount", "19.90"},
                          {"currency", "USD"}, {"placed_at", format_instant(placed)}, {"status", "awaiting_payment"}};
      std::string line = j.dump();
      auto& ins = store->stmt("INSERT INTO inbox(id, received_at, line) VALUES(?, ?, ?)");
      ins.bind(1, static_cast<int64_t>(++inbox_id));
      ins.bind(2, static_cast<int64_t>(start));
      ins.bind(3, line);
      ins.exec();
      page.push_back(parse_feed_line(line));
      if (rng() % 10 < 6) to_pay.emplace_back(id, placed + 3 * kHour + static_cast<Millis>(rng() % (20 * kHour)));
    }
    clock.set(start + kDay - kMinute);
    engine.ingest(page, "inbox", std::to_string(inbox_id));
    // Payments and reminders through the day (and the next), in time order.
    std::sort(to_pay.begin(), to_pay.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    size_t p = 0;
    Millis end = start + kDay;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      auto due = engine.next_due();
      Millis next_pay = p < to_pay.size() ? to_pay[p].second : end;
      Millis t = std::min(due.value_or(end), next_pay);
      if (t >= end) break;
      if (t > clock.now()) clock.set(t);
      if (p < to_pay.size() && to_pay[p].second <= t) {
        engine.ingest({StatusRecord{"s1", to_pay[p].first, OrderStatus::kPaid, t}});
        ++p;
        continue;
      }
      for (auto& job : engine.claim_due(200)) engine.complete(job.send_id, Outcome::kSent);
    }
    for (; p < to_pay.size(); ++p) {
      clock.set(std::max(clock.now(), to_pay[p].second));
      engine.ingest({StatusRecord{"s1", to_pay[p].first, OrderStatus::kPaid, clock.now()}});
    }
    if (clock.now() < end) clock.set(end);
    // The audit file has every line (the daemon's mirror writes after each commit).
    store->db().exec("INSERT INTO meta(key, value) SELECT 'audit_mirror_seq', COALESCE(MAX(seq), 0) FROM audit "
                     "WHERE 1 ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    if (retention) {
      PruneResult r;
      do r = prune_step(*store, *parsed.policy, clock.now());
      while (r.more);
    }
    if ((day + 1) % 30 == 0) {
      Month m{file_bytes(*store), store->db().execAndGet("SELECT COUNT(*) FROM orders").getInt64(),
              store->db().execAndGet("SELECT COUNT(*) FROM audit").getInt64(),
              store->db().execAndGet("SELECT COUNT(*) FROM inbox").getInt64()};
      out.push_back(m);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int months = argc > 1 ? std::atoi(argv[1]) : 18;
  int per_day = argc > 2 ? std::atoi(argv[2]) : 200;
  auto base = std::filesystem::temp_directory_path() / ("nudge-bench-disk-" + std::to_string(::getpid()));
  std::printf("bench/disk: %d orders a day for %d months (30-day months); retention: orders 90d, audit 400d\n",
              per_day, months);
  auto without = run(base / "without", months, per_day, false);
  auto with = run(base / "with", months, per_day, true);
  std::printf("%5s  %14s %10s %10s %8s  %14s %10s %10s %8s\n", "month", "no retention", "orders", "audit", "inbox",
              "retention", "orders", "audit", "inbox");
  for (size_t i = 0; i < with.size(); ++i)
    std::printf("%5zu  %11.1f MiB %10lld %10lld %8lld  %11.1f MiB %10lld %10lld %8lld\n", i + 1,
                without[i].bytes / 1048576.0, (long long)without[i].orders, (long long)without[i].audit,
                (long long)without[i].inbox, with[i].bytes / 1048576.0, (long long)with[i].orders,
                (long long)with[i].audit, (long long)with[i].inbox);
  std::printf("disk_no_retention_final %.1f MiB\n", without.back().bytes / 1048576.0);
  std::printf("disk_retention_final %.1f MiB\n", with.back().bytes / 1048576.0);
  if (with.size() >= 6)
    std::printf("disk_retention_growth_last_3_months %.1f %%\n",
                100.0 * (with.back().bytes - with[with.size() - 4].bytes) / with[with.size() - 4].bytes);
  std::filesystem::remove_all(base);
  return 0;
}
