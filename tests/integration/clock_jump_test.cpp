// Clock jumps (issue 11): the real nudged under Debian's libfaketime, its wall clock
// stepped back 1 hour and then forward 1 day while it runs (a timestamp file read on
// every call, FAKETIME_NO_CACHE=1); its monotonic clock is left alone
// (FAKETIME_DONT_FAKE_MONOTONIC=1), as an NTP step or a fixed RTC leaves it.
//
// Wall time decides what is due and what the caps allow; steady time only waits. So:
//  - after the step back, nothing is sent again and the sends made "in the future"
//    still count against the buyer's cap (no cap breach);
//  - after the step forward, each order gets one message, for its newest due step
//    (the misfire rule: older steps missed by more than misfire_grace are skipped as
//    superseded), and the caps hold: no burst of every missed step at once;
//  - the forward step is noticed within seconds (the wake timer re-checks on every
//    poll and at least every minute; it never sleeps on a wall-clock deadline).
// Everything is read from what an operator has: the audit table and file, the outbox.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "crash_checks.h"
#include "daemon_fixture.h"

using namespace std::chrono_literals;
using test::Daemon;
using test::now_ms;
using nudge::kHour;
using nudge::kSecond;
using nudge::Millis;

namespace {

std::string jump_policy() {
  return R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: inbox, every: 1s}
payment: {deadline: 1s, closes_after: 3d, stop_before_close: 1s}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 2h, channel: outbox, template: gentle}
      - {name: third, after: 20h, channel: outbox, template: gentle}
limits: {per_order: 3, per_buyer: [{max: 2, within: 1h}], merge: false, misfire_grace: 1h}
channels:
  outbox: {type: outbox, dir: outbox, delivery: at_most_once}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} awaits payment", body: "Hi {{buyer_name}}, it closes in {{closes_in}}."}
)";
}

// The faked clock's offset from the real one, as libfaketime reads it: written to a
// new file and renamed over the old, so that nudged never reads a half-written one.
void set_offset(const std::string& path, long seconds) {
  std::string tmp = path + ".tmp";
  test::write_file(tmp, (seconds < 0 ? "" : "+") + std::to_string(seconds) + "\n");
  std::filesystem::rename(tmp, path);
}

std::vector<nlohmann::json> events_of(const std::string& db) {
  std::vector<nlohmann::json> out;
  for (const auto& l : test::audit_table(db)) out.push_back(nlohmann::json::parse(l));
  return out;
}

int count_events(const std::vector<nlohmann::json>& events, const std::string& event, std::int64_t after_seq = 0) {
  int n = 0;
  for (const auto& e : events)
    if (e["event"] == event && e["seq"].get<std::int64_t>() > after_seq) ++n;
  return n;
}

}  // namespace

TEST_CASE("wall clock stepped back 1 hour and forward 1 day: no duplicate, caps hold, misfire rule, no burst") {
  REQUIRE_MESSAGE(std::string(NUDGE_FAKETIME_LIB).size() > 0,
                  "libfaketime is missing: run scripts/install-deps (Debian package libfaketime)");
  Daemon d(jump_policy());
  const std::string rc = d.dir / "faketime.rc";
  const std::string db = d.dir / "nudge.db";
  set_offset(rc, 0);
  std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
  d.start({"LD_PRELOAD=" + std::string(NUDGE_FAKETIME_LIB), "FAKETIME_TIMESTAMP_FILE=" + rc, "FAKETIME_NO_CACHE=1",
           "FAKETIME_DONT_FAKE_MONOTONIC=1", "NO_FAKE_STAT=1",
           // under scripts/test --sanitize: libfaketime comes before the ASan runtime
           "ASAN_OPTIONS=" + asan + (asan.empty() ? "" : ":") + "verify_asan_link_order=0"});

  // Phase A, the clock right: b0 and b1 place 3 orders each, b2..b5 one each. Every
  // first step is due; the cap (2 per hour) defers b0's and b1's third.
  const Millis r0 = now_ms();
  std::vector<std::string> lines;
  std::map<std::string, std::string> buyer_of;
  auto order = [&](const std::string& id, const std::string& buyer, Millis placed) {
    lines.push_back(test::order_line(id, buyer, placed));
    buyer_of[id] = buyer;
  };
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i) order("a" + std::to_string(b) + std::to_string(i), "b" + std::to_string(b), r0 - 2000);
  for (int b = 2; b < 6; ++b) order("a" + std::to_string(b) + "0", "b" + std::to_string(b), r0 - 2000);
  REQUIRE(d.import(lines).status == 0);
  REQUIRE(test::eventually(
      [&] {
        auto ev = events_of(db);
        return count_events(ev, "sent") == 8 && count_events(ev, "deferred") == 2;
      },
      20s));

  // Phase B: the wall clock steps back 1 hour. b0 (2 sends at r0, now "in the
  // future") places another order: its cap still counts them and defers it. b2 (1
  // send) and the new b6 may get one each.
  set_offset(rc, -3600);
  auto before_b = events_of(db).back()["seq"].get<std::int64_t>();
  const Millis rb = now_ms() - kHour;  // the daemon's wall clock now
  lines.clear();
  order("b03", "b0", rb - 2000);
  order("b21", "b2", rb - 2000);
  order("b60", "b6", rb - 2000);
  REQUIRE(d.import(lines).status == 0);
  REQUIRE(test::eventually(
      [&] {
        auto ev = events_of(db);
        return count_events(ev, "sent", before_b) == 2 && count_events(ev, "deferred", before_b) == 1;
      },
      20s));
  // A few more wakes and polls on the stepped-back clock: nothing else goes out (the
  // second steps are due 2 h after r0, 3 h ahead of this clock).
  std::this_thread::sleep_for(3s);
  {
    auto ev = events_of(db);
    CHECK(count_events(ev, "sending", before_b) == 2);
    // nudged did see its clock 1 h back: these claims are dated before the first ones
    for (const auto& e : ev)
      if (e["seq"].get<std::int64_t>() > before_b && e["event"] == "sending")
        CHECK(*nudge::parse_instant(e["ts"].get<std::string>()) < r0);
    for (const auto& e : ev)
      if (e["seq"].get<std::int64_t>() > before_b && e["event"] == "deferred") {
        CHECK(e["orders"][0] == "b03");
        CHECK(e["reason"] == "cap_buyer:2/1h");
        // deferred to when the window of the two sends made at r0 (wall) ends
        CHECK(*nudge::parse_instant(e["due"].get<std::string>()) >= r0 + kHour);
      }
  }

  // Phase C: the wall clock steps forward 1 day (from r0 - 1h to r0 + 23h). Every
  // order's second step (due r0 + 2h) and third (due r0 + 20h) are now due, some
  // first steps too: each order gets its newest, the others are skipped as
  // superseded, and each buyer at most 2 within the hour.
  auto before_c = events_of(db).back()["seq"].get<std::int64_t>();
  auto jumped = std::chrono::steady_clock::now();
  set_offset(rc, 23 * 3600);
  REQUIRE(test::eventually([&] { return count_events(events_of(db), "sending", before_c) > 0; }, 30s));
  auto noticed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - jumped);
  // 13 orders, a third step each; b0 (4 orders) and b1 (3) are capped at 2 now.
  const int expect_sends = 13 - 2 - 1;
  REQUIRE(test::eventually([&] { return count_events(events_of(db), "sent", before_c) >= expect_sends; }, 30s));
  std::this_thread::sleep_for(3s);  // and nothing more after a few more wakes
  REQUIRE(d.stop() == 0);

  auto ev = events_of(db);
  std::map<std::string, int> after_c_messages;  // order -> messages after the forward step
  std::map<std::string, int> superseded;        // order -> steps skipped as superseded
  std::map<std::string, int> capped_after_c;    // buyer -> deferrals for the cap
  std::set<std::pair<std::string, std::string>> sent_steps;
  std::map<std::string, std::vector<Millis>> sends_of_buyer;  // wall ts of each claim, in seq order
  int duplicates = 0;
  for (const auto& e : ev) {
    auto seq = e["seq"].get<std::int64_t>();
    const std::string ev_name = e["event"];
    if (ev_name == "sent")
      for (const auto& o : e["orders"])
        if (!sent_steps.insert({o.get<std::string>(), e["step"].get<std::string>()}).second) ++duplicates;
    if (ev_name == "sending") {
      sends_of_buyer[e["buyer"].get<std::string>()].push_back(*nudge::parse_instant(e["ts"].get<std::string>()));
      if (seq > before_c)
        for (const auto& o : e["orders"]) {
          ++after_c_messages[o.get<std::string>()];
          INFO("order " << o << " after the forward step");
          CHECK(e["step"] == "third");  // the newest due step, never an older one
        }
    }
    if (seq > before_c && ev_name == "skipped" && e["reason"] == "superseded") ++superseded[e["orders"][0]];
    if (seq > before_c && ev_name == "deferred") {
      CHECK(e["reason"] == "cap_buyer:2/1h");
      ++capped_after_c[e["buyer"].get<std::string>()];
    }
  }
  CHECK(duplicates == 0);
  // No burst: one message per order at most after the forward step, for the newest step.
  int orders_reminded = 0;
  for (const auto& [o, n] : after_c_messages) {
    INFO("order " << o << " got " << n << " messages after the forward step");
    CHECK(n == 1);
    ++orders_reminded;
  }
  CHECK(orders_reminded == expect_sends);
  // The misfire rule skipped every missed older step: second for all 13, first too for
  // the three whose first step was held by the cap.
  int skipped = 0;
  for (const auto& [o, n] : superseded) skipped += n;
  CHECK(skipped == 13 + 3);
  CHECK(capped_after_c["b0"] == 2);
  CHECK(capped_after_c["b1"] == 1);
  // The cap, as the buyers saw it: in the order they were made, no 3 claims of one
  // buyer within 1 h of wall time (a claim that lands before an earlier one, after
  // the step back, counts as within).
  for (const auto& [buyer, ts] : sends_of_buyer)
    for (size_t i = 0; i + 2 < ts.size(); ++i) {
      INFO("buyer " << buyer << ": claims " << i << ".." << i + 2 << " span " << ts[i + 2] - ts[i] << " ms");
      CHECK(ts[i + 2] - ts[i] >= kHour);
    }
  // What reached the outbox: one file per sent message, each order in at most one per step.
  auto files = d.outbox();
  CHECK(static_cast<int>(files.size()) == count_events(ev, "sent"));
  std::map<std::string, int> per_order;
  for (const auto& m : files)
    for (const auto& o : m["orders"]) ++per_order[o.get<std::string>()];
  for (const auto& [o, n] : per_order) {
    INFO("order " << o);
    CHECK(n <= 2);  // first (before the jumps) and third (after); never second as well
  }
  auto v = d.ctl({"audit", "verify"});
  INFO(v.out << v.err);
  CHECK(v.status == 0);
  CHECK(test::read_lines(d.dir / "audit.jsonl") == test::audit_table(db));
  CHECK(d.log().find("error:") == std::string::npos);
  MESSAGE("clock jumps: " << count_events(ev, "sent", 0) << " sent in all (8 before the steps, 2 on the clock 1 h "
                          << "back, " << count_events(ev, "sent", before_c) << " after the day forward, noticed in "
                          << noticed.count() << " ms); " << skipped << " older steps superseded; "
                          << capped_after_c["b0"] + capped_after_c["b1"] << " held by the cap; " << duplicates
                          << " duplicates");
}
