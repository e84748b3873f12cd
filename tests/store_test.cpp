#include <doctest/doctest.h>

#include <string>
#include <vector>

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
            .find("ledger_buyer") != std::string::npos);
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

TEST_CASE("the upgrade that drops the idempotency key's unique index keeps every send and its state index") {
  test::TempDir dir;
  std::string error;
  {
    auto v11 = Store::open(dir / "nudge.db", error, Store::Mode::kReadWrite, 11);
    REQUIRE(v11);
    v11->db().exec(
        "INSERT INTO sends(id, shop, buyer_id, step, channel, template, lang, idempotency_key, state, attempt, "
        "next_attempt_at, subject, body, error, created_at, updated_at) VALUES"
        "(7, 's1', 'b1', 'first', 'mail', 'gentle', 'es', 'k7', 'retry', 2, 500, 'Asunto', 'Hola', 'timeout', 1, 2),"
        "(9, 's1', 'b2', 'first', 'mail', 'gentle', 'en', 'k9', 'sent', 1, NULL, 'Subject', 'Hi', NULL, 3, 4)");
  }
  auto s = Store::open(dir / "nudge.db", error);
  REQUIRE(s);
  CHECK(s->schema_version() == Store::kSchemaVersion);
  SQLite::Statement q(s->db(), "SELECT id, buyer_id, lang, idempotency_key, state, attempt, next_attempt_at, subject, "
                               "body, COALESCE(error, '-'), created_at, updated_at FROM sends ORDER BY id");
  std::vector<std::string> rows;
  while (q.executeStep()) {
    std::string row;
    for (int c = 0; c < q.getColumnCount(); ++c) row += (c ? "|" : "") + q.getColumn(c).getString();
    rows.push_back(row);
  }
  CHECK(rows == std::vector<std::string>{"7|b1|es|k7|retry|2|500|Asunto|Hola|timeout|1|2",
                                         "9|b2|en|k9|sent|1||Subject|Hi|-|3|4"});
  // No index on the key is left; the retry query still reads sends_state.
  CHECK(s->db().execAndGet("SELECT COUNT(*) FROM sqlite_schema WHERE type='index' AND tbl_name='sends' "
                           "AND name != 'sends_state'").getInt() == 0);
  SQLite::Statement plan(s->db(), "EXPLAIN QUERY PLAN SELECT id FROM sends WHERE state='retry' AND next_attempt_at <= 9 "
                                  "ORDER BY next_attempt_at");
  std::string detail;
  while (plan.executeStep()) detail += plan.getColumn(3).getString();
  CHECK(detail.find("sends_state") != std::string::npos);
  CHECK(s->db().execAndGet("PRAGMA integrity_check").getString() == "ok");
}

// Regression: inbox ids were reused. Once retention had pruned every line nudged had
// taken, the next line written got id 1, at or below the inbox cursor, and was never
// read (then pruned as taken): the order was lost.
TEST_CASE("an inbox line written after every taken line was pruned gets an id past the cursor") {
  auto next_id = [](Store& s) {
    s.db().exec("INSERT INTO inbox(received_at, line) VALUES(9, '{\"type\":\"order\"}')");
    return s.db().execAndGet("SELECT MAX(id) FROM inbox").getInt64();
  };
  auto prune_all_taken = [](Store& s, int cursor) {
    s.db().exec("INSERT OR REPLACE INTO source_state(source, cursor) VALUES('inbox', '" + std::to_string(cursor) + "')");
    s.db().exec("DELETE FROM inbox WHERE id <= " + std::to_string(cursor));
  };
  // A schema-13 store with `written` lines, those up to `cursor` taken and pruned,
  // opened by this code (upgraded).
  auto upgraded = [&](const test::TempDir& dir, int written, int cursor) {
    std::string error;
    {
      auto v13 = Store::open(dir / "nudge.db", error, Store::Mode::kReadWrite, 13);
      REQUIRE(v13);
      for (int i = 0; i < written; ++i) next_id(*v13);
      prune_all_taken(*v13, cursor);
    }
    auto s = Store::open(dir / "nudge.db", error);
    REQUIRE(s);
    return s;
  };
  SUBCASE("a store upgraded from schema 13, its inbox pruned empty") {
    test::TempDir dir;
    auto s = upgraded(dir, 5, 5);
    CHECK(next_id(*s) == 6);
    CHECK(s->db().execAndGet("PRAGMA integrity_check").getString() == "ok");
  }
  SUBCASE("a store upgraded from schema 13 with lines still waiting keeps them and their ids") {
    test::TempDir dir;
    auto s = upgraded(dir, 8, 6);
    CHECK(s->db().execAndGet("SELECT group_concat(id) FROM (SELECT id FROM inbox ORDER BY id)").getString() == "7,8");
    CHECK(next_id(*s) == 9);
  }
  SUBCASE("a new store") {
    test::TempDir dir;
    std::string error;
    auto s = Store::open(dir / "nudge.db", error);
    REQUIRE(s);
    for (int i = 0; i < 3; ++i) next_id(*s);
    prune_all_taken(*s, 3);
    CHECK(next_id(*s) == 4);
  }
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

TEST_CASE("the kept counts (pending steps, audit events per day) follow every change, and an upgrade fills them") {
  test::TempDir dir;
  std::string error;
  auto exec = [](Store& s, const std::string& sql) { s.db().exec(sql); };
  auto step = [](int i, const char* state) {
    return "INSERT INTO schedule(shop, order_id, buyer_id, campaign, step, step_index, due_at, state, updated_at) "
           "VALUES('s', 'o" + std::to_string(i) + "', 'b', 'c', 'first', 0, 5, '" + state + "', 0)";
  };
  {
    auto v4 = Store::open(dir / "nudge.db", error, Store::Mode::kReadWrite, 4);
    REQUIRE(v4);
    for (int i = 0; i < 5; ++i) exec(*v4, step(i, i < 3 ? "scheduled" : "sent"));
    exec(*v4, "INSERT INTO audit(ts, event, line, hash) VALUES(86400000 * 3 + 5, 'sent', '{}', 'h'), "
              "(86400000 * 3 + 9, 'sent', '{}', 'h'), (86400000 * 4, 'sent', '{}', 'h')");
  }
  auto s = Store::open(dir / "nudge.db", error);
  REQUIRE(s);
  auto pending = [&] { return s->db().execAndGet("SELECT n FROM counters WHERE name='scheduled'").getInt64(); };
  auto real = [&] { return s->db().execAndGet("SELECT COUNT(*) FROM schedule WHERE state='scheduled'").getInt64(); };
  auto day = [&](int d) {
    SQLite::Statement q(s->db(), "SELECT COALESCE(SUM(n), 0) FROM audit_daily WHERE day=? AND event='sent'");
    q.bind(1, d);
    q.executeStep();
    return q.getColumn(0).getInt64();
  };
  CHECK(pending() == 3);  // filled by the upgrade
  CHECK(day(3) == 2);
  CHECK(day(4) == 1);
  exec(*s, step(10, "scheduled"));
  exec(*s, step(11, "skipped"));
  CHECK(pending() == 4);
  exec(*s, "UPDATE schedule SET state='sending' WHERE order_id='o0'");
  exec(*s, "UPDATE schedule SET state='scheduled' WHERE order_id='o3'");
  exec(*s, "UPDATE schedule SET due_at=99 WHERE state='scheduled'");     // not a state change
  exec(*s, "UPDATE schedule SET state='scheduled' WHERE order_id='o1'");  // already scheduled
  CHECK(pending() == real());
  CHECK(pending() == 4);
  exec(*s, "DELETE FROM schedule WHERE order_id IN ('o1', 'o4')");
  CHECK(pending() == 3);
  CHECK(pending() == real());
  // Audit rows are counted as Store::insert_audit_row writes them: at once outside a
  // transaction, at the commit inside one, not at all when it rolls back.
  auto row = [](std::int64_t seq, std::int64_t ts, const char* event) {
    return Store::AuditRow{.seq = seq, .ts = ts, .event = event, .line = "{}", .hash = "h"};
  };
  s->insert_audit_row(row(4, 86400000LL * 4 + 7, "sent"));
  CHECK(day(4) == 2);
  {
    WriteTx tx(*s);
    s->insert_audit_row(row(5, 86400000LL * 4 + 8, "sent"));
    s->insert_audit_row(row(6, 86400000LL * 5, "sent"));
    s->insert_audit_row(row(7, 86400000LL * 5 + 1, "deferred"));
  }  // rolled back
  CHECK(day(4) == 2);
  CHECK(day(5) == 0);
  {
    WriteTx tx(*s);
    s->insert_audit_row(row(5, 86400000LL * 4 + 8, "sent"));
    s->insert_audit_row(row(6, 86400000LL * 5, "sent"));
    s->insert_audit_row(row(7, 86400000LL * 5 + 1, "deferred"));
    s->insert_audit_row(row(8, 86400000LL * 5 + 2, "sent"));
    tx.commit();
  }
  CHECK(day(4) == 3);
  CHECK(day(5) == 2);
  CHECK(s->db().execAndGet("SELECT n FROM audit_daily WHERE day=5 AND event='deferred'").getInt64() == 1);
  // The counts equal a count of the rows, day by day and event by event.
  CHECK(s->db().execAndGet("SELECT COUNT(*) FROM (SELECT ts / 86400000 AS d, event, COUNT(*) AS n FROM audit "
                           "GROUP BY 1, 2 EXCEPT SELECT day, event, n FROM audit_daily)").getInt() == 0);
  exec(*s, "DELETE FROM audit WHERE ts < 86400000 * 4");  // retention prunes lines, not the day's count
  CHECK(day(3) == 2);
}

TEST_CASE("a cached statement whose last run failed runs again: its old error is not thrown twice") {
  std::string error;
  auto store = Store::open(":memory:", error);
  REQUIRE(store);
  const char* sql = "INSERT INTO meta(key, value) VALUES(?, ?)";
  auto insert = [&](const std::string& key) {
    auto& q = store->stmt(sql);
    q.bind(1, key);
    q.bind(2, "v");
    q.exec();
  };
  insert("a");
  CHECK_THROWS_AS(insert("a"), SQLite::Exception);  // the key is taken
  CHECK_NOTHROW(insert("b"));
  CHECK(store->meta("b") == "v");
  // A transaction refused at BEGIN (another connection holds the write lock) does not
  // make the next one fail too.
  test::TempDir dir;
  const std::string path = dir / "busy.db";
  auto disk = Store::open(path, error);
  REQUIRE(disk);
  disk->db().setBusyTimeout(0);
  {
    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    CHECK_THROWS_AS(WriteTx{*disk}, SQLite::Exception);
    other.exec("ROLLBACK");
  }
  {
    WriteTx tx(*disk);
    disk->set_meta("after", "busy");
    tx.commit();
  }
  CHECK(disk->meta("after") == "busy");
}
