// Backups taken while nudged works, restored, and a damaged store refused at start.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>

#include <SQLiteCpp/SQLiteCpp.h>

#include "integration/daemon_fixture.h"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("nudgectl backup under load gives a checked copy that nudged can start from") {
  test::Daemon d;
  d.start();
  // Load: 300 orders of 150 buyers, arriving while backups are taken.
  std::vector<std::string> lines;
  for (int i = 0; i < 300; ++i)
    lines.push_back(test::order_line("b" + std::to_string(i), "buyer" + std::to_string(i % 150), test::now_ms()));
  REQUIRE(d.import(lines).status == 0);
  int good = 0;
  for (int i = 0; i < 5; ++i) {
    std::string file = d.dir / ("backup-" + std::to_string(i) + ".db");
    auto r = d.ctl({"--json", "backup", file});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["integrity"] == "ok");
    CHECK(j["audit_lines"].get<std::int64_t>() == j["last_seq"].get<std::int64_t>());
    CHECK(j["audit_lines"].get<std::int64_t>() > 0);
    CHECK_FALSE(fs::exists(file + "-wal"));
    ++good;
    std::this_thread::sleep_for(300ms);
  }
  CHECK(good == 5);
  REQUIRE(test::eventually([&] { return d.outbox().size() >= 300; }, 30s));
  auto last = d.ctl({"--json", "backup", d.dir / "final.db"});
  REQUIRE(last.status == 0);
  auto final_report = nlohmann::json::parse(last.out);
  CHECK(final_report["orders"] == 300);
  REQUIRE(d.stop() == 0);

  // Restore (docs/operations.md): stop nudged, put the copy in place of the store, start.
  fs::remove(d.dir / "nudge.db-wal");
  fs::remove(d.dir / "nudge.db-shm");
  fs::copy_file(d.dir / "final.db", d.dir / "nudge.db", fs::copy_options::overwrite_existing);
  d.start();
  auto verify = d.ctl({"audit", "verify"});
  CHECK_MESSAGE(verify.status == 0, (verify.out + verify.err));
  REQUIRE(d.stop() == 0);
  SQLite::Database db(d.dir / "nudge.db", SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM orders").getInt() == 300);
}

TEST_CASE("a store file that is not nudge's stops nudged with exit 74 and a clear message, never a crash") {
  const std::vector<std::pair<const char*, std::function<void(const std::string&)>>> cases = {
      {"random bytes", [](const std::string& p) { test::write_file(p, std::string(8192, '\x5a')); }},
      {"another program's database",
       [](const std::string& p) {
         SQLite::Database db(p, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
         db.exec("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total TEXT)");
       }},
      {"a truncated SQLite header", [](const std::string& p) { test::write_file(p, "SQLite format 3"); }},
  };
  for (const auto& [name, make] : cases) {
    CAPTURE(name);
    test::Daemon d;
    make(d.dir / "nudge.db");
    auto r = test::run({NUDGED_PATH, "--config", d.policy_path});
    CHECK(r.status == 74);
    CHECK(r.err.find("nudged will not touch it: restore the last good backup") != std::string::npos);
    auto b = d.ctl({"backup", d.dir / "copy.db"});
    CHECK(b.status == 74);
    CHECK_FALSE(fs::exists(d.dir / "copy.db"));
  }
}

TEST_CASE("nudged and nudgectl orders import started together on a new store both work (the demo's start)") {
  for (int round = 0; round < 8; ++round) {
    CAPTURE(round);
    test::Daemon d;
    test::write_file(d.dir / "feed.jsonl", test::order_line("r1", "b1", test::now_ms()) + "\n");
    test::Process daemon({NUDGED_PATH, "--config", d.policy_path}, d.log_path);
    auto imp = d.ctl({"orders", "import", d.dir / "feed.jsonl"});
    CHECK_MESSAGE(imp.status == 0, imp.err);
    REQUIRE_MESSAGE(test::eventually([&] { return d.log().find(" started: ") != std::string::npos || !daemon.running(); },
                                     10s),
                    d.log());
    CHECK_MESSAGE(daemon.running(), d.log());
    daemon.signal(SIGTERM);
    CHECK(daemon.wait(5s) == 0);
  }
}
