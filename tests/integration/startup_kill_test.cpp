// Kill during start-up (issue 11): 200 starts of the real nudged, each SIGKILLed at a
// random instant in its first 500 ms: while it loads the policy, opens, creates or
// upgrades the store (three groups in four start from a store of an older schema, as
// an older nudge left it, with audit history and orders waiting in the inbox),
// catches the audit file up, or ingests the inbox and sends. After every kill the
// store must be consistent for the next start: `integrity_check` ok, the schema
// either the old one or the current one (an upgrade commits whole or not at all),
// current once a start got as far as "started", the audit table's hash chain whole
// and the audit file a prefix of it that `nudgectl audit verify` accepts. The
// start after the last kill of each group must come up, and then no order was sent
// twice and no buyer went over its cap (crash_checks.h).
//
// NUDGE_STARTUP_KILLS (default 200) and NUDGE_STARTUP_KILL_SEED change the run.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>

#include "core/audit.h"
#include "core/store.h"
#include "crash_checks.h"
#include "daemon_fixture.h"

using namespace std::chrono_literals;
using nudge::Store;
using test::Daemon;
using test::env_number;
using test::now_ms;

namespace {

std::string startup_policy() {
  return std::string(test::kSecondsHead) + R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 2s, channel: outbox, template: gentle}
limits: {per_order: 2, per_buyer: [{max: 2, within: 5s}], merge: true}
channels:
  outbox: {type: outbox, dir: outbox, delivery: at_most_once}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} awaits payment", body: "Hi {{buyer_name}}, {{order_count}} orders."}
)";
}

// A store as an older nudge left it: schema `version`, `history` audit lines of its
// past starts and stops (a valid chain) and their mirror, the audit file.
void make_old_store(const std::string& path, const std::string& audit_path, int version, int history) {
  std::string error;
  auto s = Store::open(path, error, Store::Mode::kReadWrite, version);
  REQUIRE_MESSAGE(s, error);
  nudge::WriteTx tx(*s);
  nudge::Millis t = now_ms() - 30 * nudge::kDay;
  for (int i = 0; i < history; ++i)
    nudge::append_audit(*s, t + i * nudge::kMinute,
                        {.event = i % 2 ? "stopped" : "started", .detail = "nudged 0.9 (an older schema)"});
  tx.commit();
  std::string file;
  for (const auto& l : test::audit_table(path)) file += l + "\n";
  test::write_file(audit_path, file);
}

// Orders arriving while nudged is down: written to the inbox as `nudgectl orders
// import` does (that command would upgrade an old store itself, which is nudged's
// job in this test).
void add_to_inbox(const std::string& path, const std::vector<std::string>& lines) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE, 10000);
  SQLite::Transaction tx(db);
  SQLite::Statement ins(db, "INSERT INTO inbox(received_at, line) VALUES(?, ?)");
  for (const auto& l : lines) {
    ins.bind(1, static_cast<int64_t>(now_ms()));
    ins.bind(2, l);
    ins.exec();
    ins.reset();
  }
  tx.commit();
}

struct StoreState {
  bool exists = false;
  int version = 0;
  std::string integrity;
  long long ingested = 0, inbox_last = 0;  // the inbox cursor and the newest inbox line
};

StoreState inspect(const std::string& path) {
  StoreState st;
  if (!std::filesystem::exists(path)) return st;
  st.exists = true;
  SQLite::Database db(path, SQLite::OPEN_READONLY, 10000);
  st.version = db.execAndGet("PRAGMA user_version").getInt();
  st.integrity = db.execAndGet("PRAGMA integrity_check").getString();
  if (st.version >= 1) {
    st.inbox_last = db.execAndGet("SELECT COALESCE(MAX(id), 0) FROM inbox").getInt64();
    SQLite::Statement q(db, "SELECT cursor FROM source_state WHERE source='inbox'");
    if (q.executeStep() && !q.getColumn(0).isNull()) st.ingested = std::stoll(q.getColumn(0).getString());
  }
  return st;
}

}  // namespace

TEST_CASE("nudged killed in its first 500 ms, 200 times, some while upgrading an older store, always starts again") {
  const int starts = static_cast<int>(env_number("NUDGE_STARTUP_KILLS", 200));
  const auto seed =
      static_cast<unsigned>(env_number("NUDGE_STARTUP_KILL_SEED", static_cast<long>(std::random_device{}())));
  MESSAGE("start-up kill test: " << starts << " starts, seed " << seed << " (NUDGE_STARTUP_KILL_SEED to replay)");
  std::mt19937 rng(seed);
  constexpr int kPerGroup = 5;  // starts on one store, then a start that must come up
  const int groups = (starts + kPerGroup - 1) / kPerGroup;
  // Where the kills landed.
  std::map<std::string, int> phases;
  int kills = 0, upgrades = 0, orders = 0, sent = 0;
  auto t0 = std::chrono::steady_clock::now();

  for (int g = 0; g < groups && kills < starts; ++g) {
    Daemon d(startup_policy());
    const std::string db = d.dir / "nudge.db";
    // Every fourth store is new; the others are of an older schema (1 .. current-1).
    int old_version = g % 4 == 0 ? 0 : 1 + (g / 4 + g % 4) % (Store::kSchemaVersion - 1);
    if (old_version > 0) make_old_store(db, d.dir / "audit.jsonl", old_version, 2000);
    int order_no = 0;
    for (int k = 0; k < kPerGroup && kills < starts; ++k) {
      auto before = inspect(db);
      if (before.version >= 1) {  // orders keep arriving between the starts
        std::vector<std::string> lines;
        auto t = now_ms();
        for (int i = 0; i < 40; ++i, ++order_no)
          lines.push_back(test::order_line("g" + std::to_string(g) + "-" + std::to_string(order_no),
                                           "b" + std::to_string(rng() % 12), t - static_cast<nudge::Millis>(rng() % 1500)));
        add_to_inbox(db, lines);
        orders += 40;
        before = inspect(db);
      }
      size_t log_from = d.log().size();
      // Uniform over the first 500 ms, and every other start over its first 100 ms,
      // where the start-up itself is (it is done in a few tens of ms here).
      auto delay = std::chrono::microseconds(rng() % (k % 2 ? 100000 : 500000));
      d.proc = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", d.policy_path},
                                               d.log_path);
      std::this_thread::sleep_for(delay);
      d.proc->signal(SIGKILL);
      int status = d.proc->wait(5s);
      ++kills;
      std::string log = d.log().substr(log_from);
      INFO("group " << g << " start " << k << ", killed after " << delay.count() / 1000 << " ms; its log:\n" << log);
      // It was still running: no start-up failed on what an earlier kill left.
      REQUIRE(status == 128 + SIGKILL);

      auto after = inspect(db);
      bool started = log.find(" started: ") != std::string::npos;
      if (started && after.ingested < after.inbox_last)
        ++phases["running, inbox being ingested"];
      else if (started)
        ++phases["running, inbox ingested"];
      else if (before.exists && before.version < Store::kSchemaVersion && before.version > 0)
        ++phases[after.version == Store::kSchemaVersion ? "starting, store just upgraded"
                                                        : "starting, before the upgrade committed"];
      else if (!before.exists || before.version == 0)
        ++phases["starting, creating the store"];
      else
        ++phases["starting, store current"];
      if (before.version > 0 && before.version < Store::kSchemaVersion && after.version == Store::kSchemaVersion)
        ++upgrades;

      if (!after.exists) continue;  // killed before it created the store
      CHECK(after.integrity == "ok");
      // An upgrade commits whole or not at all.
      CHECK((after.version == before.version || after.version == Store::kSchemaVersion));
      if (started) CHECK(after.version == Store::kSchemaVersion);
      // The audit table's chain is whole, and the audit file (created before the
      // first line of a new store is written) is a verifiable prefix of it.
      if (after.version == 0) continue;  // created, not yet a nudge store: the next start makes it one
      auto table = test::audit_table(db);
      std::string joined;
      for (const auto& l : table) joined += l + "\n";
      std::istringstream in(joined);
      auto chain = nudge::verify_audit(in);
      INFO(chain.problem);
      CHECK(chain.ok);
      if (!table.empty()) {
        auto file = test::read_lines(d.dir / "audit.jsonl");
        CHECK(file.size() <= table.size());
        CHECK(std::equal(file.begin(), file.end(), table.begin()));
        auto v = d.ctl({"audit", "verify"});
        INFO(v.out << v.err);
        CHECK(v.status == 0);
      }
    }
    // The next start comes up on whatever the last kill left, and finishes its
    // start-up; after a clean stop nothing was sent twice nor over a cap.
    d.start();
    CHECK(inspect(db).version == Store::kSchemaVersion);
    REQUIRE(d.stop() == 0);
    auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2, true, "", /*finished=*/false);
    CHECK(f.violations == 0);
    sent += f.sent;
  }
  auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() / 1000.0;
  std::string where;
  for (const auto& [phase, n] : phases) where += "\n  " + std::to_string(n) + " " + phase;
  MESSAGE("start-up kill test: " << kills << " SIGKILLs in the first 500 ms of " << groups << " stores ("
                                 << upgrades << " upgrades of an older store committed), " << orders << " orders, "
                                 << sent << " sent, in " << secs << " s; the kills landed:" << where);
}
