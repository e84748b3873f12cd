// Manual reminders (`remind` records) through the real engine on a manual clock:
// every check an automatic step gets, step `manual`, the actor on every line.
#include <doctest/doctest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "core/manual.h"
#include "engine_fixture.h"

using namespace nudge;
using test::EngineFixture;
using test::T0;

namespace {

RemindRecord remind(const std::string& order, const std::string& channel = "", const std::string& tmpl = "",
                    const std::string& shop = "s1") {
  return RemindRecord{shop, order, channel, tmpl, "alice", T0};
}

// Audit lines about the manual step, in order, as "event reason actor".
std::vector<std::string> manual_lines(EngineFixture& f) {
  std::vector<std::string> out;
  SQLite::Statement q(f.store->db(), "SELECT line FROM audit ORDER BY seq");
  while (q.executeStep()) {
    auto j = nlohmann::json::parse(q.getColumn(0).getString());
    if (j["step"] != "manual") continue;
    out.push_back(j["event"].get<std::string>() + " " + (j["reason"].is_null() ? "-" : j["reason"].get<std::string>()) +
                  " " + j.value("actor", "?"));
  }
  return out;
}

// Quiet 21:00-09:00 and one reminder a day: the automatic first step, due the same
// morning, waits for the window after the manual one.
const std::string kQuiet =
    "limits: {quiet_hours: {from: \"21:00\", to: \"09:00\"}, per_buyer: [{max: 1, within: 24h}]}";

}  // namespace

TEST_CASE("a manual reminder goes out at once as step manual, with the campaign's first channel and template") {
  EngineFixture f;
  f.add({.id = "o1"});  // its first step is due at T0 + 2h
  auto r = f.engine->ingest({remind("o1")});
  CHECK(r.reminds == 1);
  f.run_until(T0);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].step == "manual");
  CHECK(f.delivered[0].channel == "outbox");
  CHECK(f.delivered[0].tmpl == "gentle");
  CHECK(f.delivered[0].actor == "alice");
  CHECK(manual_lines(f) == std::vector<std::string>{"scheduled - alice", "sending - alice", "sent - alice"});
  // It counts against the caps like any other: the first step, due at +2h, waits for the 24h window.
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.size() == 1);
  CHECK(f.reasons("deferred") == std::vector<std::string>{"cap_buyer:1/1d"});
}

TEST_CASE("a manual reminder is refused for an unknown order and for one no longer awaiting payment") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.status("o1", OrderStatus::kPaid);
  auto r = f.engine->ingest({remind("o1"), remind("nope")});
  CHECK(r.rejected == 2);
  CHECK(r.reminds == 0);
  CHECK(f.reasons("order_rejected") == std::vector<std::string>{"unknown_order"});
  CHECK(manual_lines(f) == std::vector<std::string>{"skipped paid alice", "order_rejected unknown_order alice"});
  f.run_until(T0 + 5 * kDay);
  CHECK(f.delivered.empty());
}

TEST_CASE("a manual reminder in the buyer's quiet hours is deferred to their morning") {
  // T0 = 12:00 UTC = 21:00 in Tokyo: quiet until 09:00 Tokyo = 00:00 UTC.
  EngineFixture f(test::base_policy(kQuiet));
  f.add({.id = "o1", .country = "JP", .tz = "Asia/Tokyo"});
  f.engine->ingest({remind("o1")});
  f.run_until(T0);
  CHECK(f.delivered.empty());
  CHECK(manual_lines(f) == std::vector<std::string>{"scheduled - alice", "deferred quiet_hours alice"});
  f.run_until(*parse_instant("2026-11-21T00:00:00Z"));
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].step == "manual");
  CHECK(f.delivered_at[0] == *parse_instant("2026-11-21T00:00:00Z"));
}

TEST_CASE("a manual reminder respects opt-outs, per_order and the buyer's windows") {
  SUBCASE("opted out") {
    EngineFixture f;
    f.engine->opt_out("s1", "b1", true);
    f.add({.id = "o1"});
    f.engine->ingest({remind("o1")});
    f.run_until(T0);
    CHECK(f.delivered.empty());
    CHECK(manual_lines(f).back() == "skipped opted_out alice");
  }
  SUBCASE("per_order reached") {
    EngineFixture f(test::base_policy("limits: {per_order: 1}"));
    f.add({.id = "o1"});
    f.run_until(T0 + 3 * kHour);
    REQUIRE(f.delivered.size() == 1);
    f.engine->ingest({remind("o1")});
    f.run_until(T0 + 3 * kHour);
    CHECK(f.delivered.size() == 1);
    CHECK(manual_lines(f).back() == "skipped cap_order alice");
  }
  SUBCASE("a buyer reminded an hour ago, with when_limited: skip") {
    EngineFixture f(test::base_policy("limits: {per_buyer: [{max: 1, within: 24h}], when_limited: skip}"));
    f.add({.id = "o1"});
    f.add({.id = "o2", .placed = T0 + kHour});
    f.run_until(T0 + 2 * kHour);  // o1's first step
    REQUIRE(f.delivered.size() == 1);
    f.engine->ingest({remind("o2")});
    f.run_until(T0 + 2 * kHour);
    CHECK(f.delivered.size() == 1);
    CHECK(manual_lines(f).back() == "skipped cap_buyer:1/1d alice");
  }
}

TEST_CASE("a manual reminder names its channel and template, and an unknown one is refused") {
  EngineFixture f;
  f.add({.id = "o1", .email = "b1@example.com"});
  f.add({.id = "o2", .buyer = "b2"});
  f.engine->ingest({remind("o1", "email", "gentle"), remind("o2", "sms")});
  f.run_until(T0);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].channel == "email");
  CHECK(manual_lines(f) == std::vector<std::string>{"scheduled - alice", "skipped no_channel alice", "sending - alice",
                                                    "sent - alice"});
  std::string error;
  CHECK_FALSE(manual_step(*f.policy, "default", "", "rude", error));
  CHECK(error.find("unknown template 'rude'") != std::string::npos);
  CHECK_FALSE(manual_step(*f.policy, "", "", "", error));
  CHECK(error.find("no campaign") != std::string::npos);
}

TEST_CASE("one manual reminder waits per order; another may follow once it went out, and the caps count both") {
  EngineFixture f(test::base_policy(kQuiet));
  f.add({.id = "o1", .country = "JP", .tz = "Asia/Tokyo"});
  f.engine->ingest({remind("o1")});
  f.engine->ingest({remind("o1")});
  CHECK(manual_lines(f).back() == "skipped manual_pending alice");
  Millis morning = *parse_instant("2026-11-21T00:00:00Z");
  f.run_until(morning);
  REQUIRE(f.delivered.size() == 1);
  // Asked again: a new manual step, held by the buyer's window (1 a day).
  CHECK(f.engine->ingest({remind("o1")}).reminds == 1);
  f.run_until(morning);
  CHECK(f.delivered.size() == 1);
  CHECK(manual_lines(f).back() == "deferred cap_buyer:1/1d alice");
  CHECK(f.step_state("o1", "manual") == "scheduled");
  {
    SQLite::Statement q(f.store->db(), "SELECT state FROM schedule WHERE order_id='o1' AND step LIKE 'manual@%'");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == "sent");  // the first one, kept for per_order
  }
  // per_order: 2 counts both manual reminders: the campaign's own step is skipped.
  f.run_until(morning + 2 * kDay);
  CHECK(f.delivered.size() == 2);
  CHECK(f.delivered[1].step == "manual");
  CHECK(f.step_state("o1", "first") == "skipped");
  CHECK(f.reasons("skipped").back() == "cap_order");
  // One skipped (opted out) may be asked for again once the buyer opts back in.
  f.add({.id = "o9", .buyer = "b9", .country = "JP", .tz = "Asia/Tokyo"});
  f.engine->opt_out("s1", "b9", true);
  f.engine->ingest({remind("o9")});
  f.run_until(f.clock.now());  // 09:00 in Tokyo
  CHECK(f.step_state("o9", "manual") == "skipped");
  f.engine->opt_out("s1", "b9", false);
  CHECK(f.engine->ingest({remind("o9")}).reminds == 1);
  f.run_until(f.clock.now());
  CHECK(f.step_state("o9", "manual") == "sent");
}

TEST_CASE("a reload keeps a waiting manual reminder; remind records from a marketplace or http source are refused") {
  EngineFixture f(test::base_policy(kQuiet));
  f.add({.id = "o1", .country = "JP", .tz = "Asia/Tokyo"});
  f.engine->ingest({remind("o1")});
  f.run_until(T0);
  f.engine->reload(test::policy_from(test::base_policy("limits: {quiet_hours: {from: \"22:00\", to: \"09:00\"}}")));
  CHECK(f.step_state("o1", "manual") == "scheduled");
  f.add({.id = "o2", .buyer = "b2"});
  auto r = f.engine->ingest({remind("o2")}, "aliexpress:s1");
  CHECK(r.rejected == 1);
  CHECK(f.step_state("o2", "manual") == "");
}

TEST_CASE("a remind record is read as strictly as the other records") {
  auto ok = parse_feed_line(R"({"type":"remind","shop":"s1","order_id":"8001","actor":"alice","at":"2026-11-20T10:00:00Z"})");
  REQUIRE(std::holds_alternative<RemindRecord>(ok));
  CHECK(std::get<RemindRecord>(ok).actor == "alice");
  CHECK(record_time(ok) == parse_instant("2026-11-20T10:00:00Z"));
  struct Case {
    const char* line;
    const char* reason;
  };
  for (const auto& c : std::vector<Case>{
           {R"({"type":"remind","shop":"s1","order_id":"8001","at":"2026-11-20T10:00:00Z"})", "missing field 'actor'"},
           {R"({"type":"remind","shop":"s1","order_id":"8001","actor":"alice"})", "missing field 'at'"},
           {R"({"type":"remind","shop":"s1","order_id":"8001","actor":"al\nice","at":"2026-11-20T10:00:00Z"})",
            "field 'actor' has a control character"},
           {R"({"type":"remind","shop":"s1","order_id":"8001","actor":"a","channel":7.5,"at":"2026-11-20T10:00:00Z"})",
            "field 'channel' must be a string"},
           {R"({"type":"nag","shop":"s1","order_id":"8001"})", "expected order, status, remind or reply"},
       }) {
    auto r = parse_feed_line(c.line);
    REQUIRE_MESSAGE(std::holds_alternative<RejectedRecord>(r), c.line);
    CHECK_MESSAGE(std::get<RejectedRecord>(r).reason.find(c.reason) != std::string::npos, std::get<RejectedRecord>(r).reason);
  }
}

TEST_CASE("the actor is an optional audit field: lines with and without it verify as one chain") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.engine->ingest({remind("o1")});
  f.run_until(T0);
  std::stringstream all;
  SQLite::Statement q(f.store->db(), "SELECT line FROM audit ORDER BY seq");
  int with_actor = 0, without = 0;
  while (q.executeStep()) {
    std::string line = q.getColumn(0).getString();
    (line.find("\"actor\":") != std::string::npos ? with_actor : without)++;
    all << line << "\n";
  }
  CHECK(with_actor == 3);
  CHECK(without > 0);
  auto check = verify_audit(all);
  CHECK(check.ok);
}
