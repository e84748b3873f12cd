#include <doctest/doctest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "daemon_fixture.h"

using namespace std::chrono_literals;
using test::Daemon;
using test::now_ms;

TEST_CASE("nudged reminds unpaid orders through the outbox, never a paid one, never over a cap") {
  Daemon d;
  d.start();
  auto t = now_ms();
  auto r = d.import({
      test::order_line("o1", "alice", t),
      test::order_line("o2", "bob", t),
      test::status_line("o2", "paid", t),  // paid before its first step
      test::order_line("o3", "carol", t),
      test::order_line("o4", "carol", t - 500),
      test::order_line("o5", "carol", t - 1000),
      test::order_line("o6", "dave", t),
  });
  REQUIRE(r.status == 0);
  // First steps at t+1s; seconds at t+4s.
  REQUIRE(test::eventually([&] { return d.outbox().size() >= 4; }, 10s));
  d.import({test::status_line("o6", "paid", now_ms())});  // dave pays between his two steps
  REQUIRE(test::eventually([&] { return d.audit_has("cancelled", "paid"); }, 5s));
  // Let every second step come due, plus a margin.
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max<long>(0, t + 6000 - now_ms())));
  REQUIRE(d.stop() == 0);

  std::map<std::string, int> per_buyer;
  std::map<std::string, int> per_order;
  for (const auto& m : d.outbox()) {
    per_buyer[m["buyer"]]++;
    for (const auto& o : m["orders"]) per_order[o]++;
    CHECK(m["subject"].get<std::string>().find("awaits payment") != std::string::npos);
    CHECK(m["idempotency_key"].get<std::string>().size() == 32);
  }
  CHECK(per_order.count("o2") == 0);  // paid before its step
  CHECK(per_order["o6"] == 1);        // paid after its first reminder
  CHECK(per_order["o1"] == 2);        // both steps
  CHECK(per_buyer["carol"] == 2);     // three orders, but at most 2 per minute
  CHECK(d.audit_has("deferred", "cap_buyer:2/1m"));
}

TEST_CASE("the audit file equals the audit table, every line parses, and the chain verifies") {
  Daemon d;
  d.start();
  auto t = now_ms();
  d.import({test::order_line("o1", "alice", t), test::order_line("o2", "bob", t), "{not json"});
  REQUIRE(test::eventually([&] { return d.outbox().size() >= 2; }, 10s));
  REQUIRE(d.stop() == 0);

  auto lines = test::read_lines(d.dir / "audit.jsonl");
  SQLite::Database db(d.dir / "nudge.db");
  SQLite::Statement q(db, "SELECT line FROM audit ORDER BY seq");
  std::vector<std::string> table;
  while (q.executeStep()) table.push_back(q.getColumn(0).getString());
  CHECK(lines == table);
  REQUIRE(lines.size() > 5);
  for (const auto& l : lines) CHECK_NOTHROW(nlohmann::json::parse(l));
  auto first = nlohmann::json::parse(lines.front());
  auto last = nlohmann::json::parse(lines.back());
  CHECK(first["event"] == "started");
  CHECK(last["event"] == "stopped");
  auto v = d.ctl({"audit", "verify"});
  CHECK(v.status == 0);
  CHECK(v.out.find("OK, " + std::to_string(lines.size()) + " lines") != std::string::npos);
}

TEST_CASE("a restart catches the audit file up from the table and continues the chain") {
  Daemon d;
  d.start();
  d.import({test::order_line("o1", "alice", now_ms())});
  REQUIRE(test::eventually([&] { return d.outbox().size() >= 1; }, 10s));
  REQUIRE(d.stop() == 0);
  // Lose the file's tail, as if the machine died between commit and write.
  auto lines = test::read_lines(d.dir / "audit.jsonl");
  REQUIRE(lines.size() > 4);
  std::string kept;
  for (size_t i = 0; i + 3 < lines.size(); ++i) kept += lines[i] + "\n";
  kept += lines[lines.size() - 3].substr(0, 30);  // and a torn line
  test::write_file(d.dir / "audit.jsonl", kept);
  d.start();
  REQUIRE(d.stop() == 0);
  auto v = d.ctl({"audit", "verify"});
  CHECK(v.status == 0);
  auto after = test::read_lines(d.dir / "audit.jsonl");
  CHECK(after.size() == lines.size() + 3);  // started, policy_loaded, stopped
}

TEST_CASE("a bad policy on SIGHUP keeps nudged running on the old one; a good one is swapped in") {
  Daemon d;
  d.start();
  std::string good = test::read_file(d.policy_path);
  test::write_file(d.policy_path, good + "limits_typo: {}\n");
  d.proc->signal(SIGHUP);
  REQUIRE(test::eventually([&] { return d.audit_has("policy_rejected"); }, 5s));
  CHECK(d.proc->running());
  CHECK(d.log().find("unknown key 'limits_typo'") != std::string::npos);
  // Still working on the old policy.
  d.import({test::order_line("o1", "alice", now_ms())});
  REQUIRE(test::eventually([&] { return d.outbox().size() >= 1; }, 10s));
  // A valid new policy is taken.
  std::string changed = good;
  changed.replace(changed.find("awaits payment"), 14, "is still open");
  test::write_file(d.policy_path, changed);
  d.proc->signal(SIGHUP);
  REQUIRE(test::eventually([&] {
    int loaded = 0;
    for (const auto& j : d.audit_file()) loaded += j["event"] == "policy_loaded";
    return loaded >= 2;
  }, 5s));
  d.import({test::order_line("o2", "bob", now_ms())});
  REQUIRE(test::eventually([&] {
    for (const auto& m : d.outbox())
      if (m["subject"].get<std::string>().find("is still open") != std::string::npos) return true;
    return false;
  }, 10s));
  CHECK(d.stop() == 0);
}

TEST_CASE("SIGTERM and SIGINT stop nudged with exit 0 within 5 seconds") {
  for (int sig : {SIGTERM, SIGINT}) {
    Daemon d;
    d.start();
    auto begin = std::chrono::steady_clock::now();
    d.proc->signal(sig);
    CHECK(d.proc->wait(5s) == 0);
    CHECK(std::chrono::steady_clock::now() - begin < 5s);
    CHECK(d.audit_has("stopped"));
  }
}

TEST_CASE("nudged --check: 78 with file:line:col for a bad policy, 0 for the demo policy") {
  auto ok = test::run({NUDGED_PATH, "--check", "--config", std::string(NUDGE_SOURCE_DIR) + "/etc/nudge/demo.yaml"});
  CHECK(ok.status == 0);
  test::TempDir dir;
  std::string bad = test::seconds_policy();
  bad.replace(bad.find("deadline: 1s"), 12, "deadline: soon");
  test::write_file(dir / "bad.yaml", bad);
  auto r = test::run({NUDGED_PATH, "--check", "--config", dir / "bad.yaml"});
  CHECK(r.status == 78);
  CHECK(r.err.find(dir / "bad.yaml:5:21: payment.deadline must be a duration") != std::string::npos);
  CHECK_FALSE(test::fs::exists(dir / "nudge.db"));  // --check touches nothing
  auto c = test::run({NUDGECTL_PATH, "check", dir / "bad.yaml"});
  CHECK(c.status == 78);
  CHECK(c.err == r.err);
  // And the daemon itself refuses to start on it, with the same words.
  auto start = test::run({NUDGED_PATH, "--config", dir / "bad.yaml"});
  CHECK(start.status == 78);
  CHECK(start.err.find("bad.yaml:5:21") != std::string::npos);
}

TEST_CASE("orders import reports bad lines by number and still imports the good ones") {
  Daemon d;
  auto t = now_ms();
  auto r = d.import({test::order_line("o1", "alice", t), "{\"type\":\"order\",\"shop\":\"s1\"}", "",
                     "garbage", test::order_line("o2", "bob", t)});
  CHECK(r.status == 65);
  CHECK(r.err.find(".jsonl:2: missing field 'order_id'") != std::string::npos);
  CHECK(r.err.find(".jsonl:4: not valid JSON") != std::string::npos);
  CHECK(r.out.find("imported 2 records") != std::string::npos);
  SQLite::Database db(d.dir / "nudge.db");
  CHECK(db.execAndGet("SELECT COUNT(*) FROM inbox").getInt() == 2);
}

TEST_CASE("a secret file the policy names but that is missing stops nudged with exit 78, naming the file") {
  std::string policy = test::seconds_policy();
  policy.replace(policy.find("  outbox: {type: outbox, dir: outbox}"), 37,
                 "  outbox: {type: outbox, dir: outbox}\n  hook: {type: webhook, url: \"https://127.0.0.1:1/h\", "
                 "secret_file: hook_secret}");
  Daemon d(policy);
  auto r = test::run({NUDGED_PATH, "--config", d.policy_path});
  CHECK(r.status == 78);
  CHECK(r.err.find(d.dir / "hook_secret") != std::string::npos);
  // With the file in place it starts.
  test::write_file(d.dir / "hook_secret", "s3cr3t-value\n");
  d.start();
  CHECK(d.stop() == 0);
  CHECK(d.log().find("s3cr3t-value") == std::string::npos);
}

TEST_CASE("a discard channel delivers nothing, and its sent lines say channel_type: discard") {
  std::string policy = test::seconds_policy();
  policy.replace(policy.find("{type: outbox, dir: outbox}"), 27, "{type: discard}");
  Daemon d(policy);
  d.start();
  REQUIRE(d.import({test::order_line("o1", "alice", now_ms())}).status == 0);
  REQUIRE(test::eventually([&] { return d.audit_has("sent"); }, 10s));
  REQUIRE(d.stop() == 0);
  CHECK(d.outbox().empty());
  int sent = 0;
  for (const auto& j : d.audit_file())
    if (j["event"] == "sent") {
      ++sent;
      CHECK(j["detail"] == "channel_type: discard");
      CHECK(j["orders"] == nlohmann::json::array({"o1"}));
    }
  CHECK(sent >= 1);
}

TEST_CASE("nudgectl order shows the order's own history: its steps' lines, a merged message's, no other order's") {
  Daemon d(test::seconds_policy("limits: {per_order: 1, merge: true}"));
  d.start();
  auto t = now_ms();
  REQUIRE(d.import({test::order_line("o1", "alice", t), test::order_line("o2", "alice", t),
                    test::order_line("o3", "bob", t)}).status == 0);
  REQUIRE(test::eventually([&] { return d.outbox().size() == 2; }, 10s));
  REQUIRE(d.stop() == 0);
  auto r = d.ctl({"--json", "order", "o1", "--shop", "s1"});
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["buyer"] == "alice");
  std::string history;
  for (const auto& h : j["history"]) history += h.get<std::string>() + "\n";
  MESSAGE(history);
  CHECK(history.find("scheduled") != std::string::npos);
  CHECK(history.find("sending") != std::string::npos);  // the merged message of o1 and o2
  CHECK(history.find("sent") != std::string::npos);
  CHECK(history.find("o3") == std::string::npos);
  CHECK(history.find("bob") == std::string::npos);
}

// Regression: once retention had pruned every inbox line nudged had taken, the next
// line imported got id 1, at or below the inbox cursor: it was never read, then pruned
// as taken, and the order was lost without a word.
TEST_CASE("an order imported after retention emptied the inbox is still read") {
  Daemon d;
  auto count = [&](const std::string& sql) {
    SQLite::Database db(d.dir / "nudge.db");
    return db.execAndGet(sql).getInt();
  };
  REQUIRE(d.import({test::order_line("o1", "alice", now_ms())}).status == 0);
  d.start();  // takes o1 at its first poll; retention prunes the line a second later
  REQUIRE(test::eventually(
      [&] { return count("SELECT COUNT(*) FROM orders WHERE order_id='o1'") == 1 && count("SELECT COUNT(*) FROM inbox") == 0; },
      10s));
  REQUIRE(d.import({test::order_line("o2", "bob", now_ms())}).status == 0);
  CHECK(test::eventually([&] { return count("SELECT COUNT(*) FROM orders WHERE order_id='o2'") == 1; }, 10s));
  REQUIRE(d.stop() == 0);
}
