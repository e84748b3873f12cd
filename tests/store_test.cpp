#include <doctest/doctest.h>

#include "core/states.h"
#include "core/store.h"
#include "helpers.h"

using namespace nudge;

TEST_CASE("a fresh database gets the whole schema, WAL and synchronous=FULL") {
  test::TempDir dir;
  std::string error;
  auto s = Store::open(dir / "state/nudge.db", error);
  REQUIRE(s);
  CHECK(s->schema_version() == Store::kSchemaVersion);
  CHECK(s->db().execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK(s->db().execAndGet("PRAGMA synchronous").getInt() == 2);
  for (const char* table : {"orders", "schedule", "sends", "ledger", "audit", "inbox", "source_state", "optout"})
    CHECK(s->db().tableExists(table));
  // The due-time and per-buyer-window queries use their indexes.
  auto plan = [&](const std::string& sql) {
    std::string out;
    SQLite::Statement q(s->db(), "EXPLAIN QUERY PLAN " + sql);
    while (q.executeStep()) out += q.getColumn(3).getString() + "\n";
    return out;
  };
  CHECK(plan("SELECT MIN(due_at) FROM schedule WHERE state='scheduled'").find("schedule_due") != std::string::npos);
  CHECK(plan("SELECT at FROM ledger WHERE shop='s' AND buyer_id='b' AND released=0 AND at > 5 ORDER BY at")
            .find("ledger_window") != std::string::npos);
}

TEST_CASE("an older database is upgraded in place and keeps its data") {
  test::TempDir dir;
  std::string error;
  {
    auto v1 = Store::open(dir / "nudge.db", error, Store::Mode::kReadWrite, 1);
    REQUIRE(v1);
    CHECK(v1->schema_version() == 1);
    CHECK_FALSE(v1->db().tableExists("optout"));
    v1->db().exec("INSERT INTO inbox(received_at, line) VALUES(1, '{\"type\":\"order\"}')");
  }
  auto s = Store::open(dir / "nudge.db", error);
  REQUIRE(s);
  CHECK(s->schema_version() == Store::kSchemaVersion);
  CHECK(s->db().tableExists("optout"));
  CHECK(s->db().execAndGet("SELECT COUNT(*) FROM inbox").getInt() == 1);
}

TEST_CASE("a database newer than the code is refused, not guessed at") {
  test::TempDir dir;
  std::string error;
  {
    auto s = Store::open(dir / "nudge.db", error);
    REQUIRE(s);
    s->db().exec("PRAGMA user_version=" + std::to_string(Store::kSchemaVersion + 1));
  }
  auto s = Store::open(dir / "nudge.db", error);
  CHECK_FALSE(s);
  CHECK(error.find("newer than this nudge") != std::string::npos);
  // And it was not touched.
  SQLite::Database raw(dir / "nudge.db");
  CHECK(raw.execAndGet("PRAGMA user_version").getInt() == Store::kSchemaVersion + 1);
}

TEST_CASE("read-only opening refuses a missing database instead of creating one") {
  test::TempDir dir;
  std::string error;
  auto s = Store::open(dir / "none.db", error, Store::Mode::kReadOnly);
  CHECK_FALSE(s);
  CHECK(error.find("no such database") != std::string::npos);
  CHECK_FALSE(test::fs::exists(dir / "none.db"));
}

TEST_CASE("step and send states print and parse one way, and anything else is refused") {
  for (auto s : {StepState::kScheduled, StepState::kSending, StepState::kSent, StepState::kFailed, StepState::kSkipped,
                 StepState::kCancelled, StepState::kInDoubt})
    CHECK(parse_step_state(to_string(s)) == s);
  for (auto s : {SendState::kSending, SendState::kSent, SendState::kFailed, SendState::kCancelled, SendState::kRetry,
                 SendState::kInDoubt})
    CHECK(parse_send_state(to_string(s)) == s);
  CHECK(std::string(to_string(StepState::kInDoubt)) == "in_doubt");
  CHECK_FALSE(parse_step_state("retry"));  // a send state, not a step state
  CHECK_FALSE(parse_send_state("scheduled"));
  CHECK_FALSE(parse_step_state(""));
  CHECK_FALSE(parse_send_state("SENT"));
}
