// What must hold after nudged was killed, faulted or restarted any number of times:
// read from what an operator has (the outbox files, the audit file, the store) and
// compared. Shared by the kill test and the fault tests; bench/soak.sh runs the kill
// test for longer.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "core/time_util.h"
#include "daemon_fixture.h"

namespace test {

struct CrashFindings {
  int sent = 0;               // sends recorded `sent`
  int in_doubt = 0;           // sends recorded `in_doubt`
  int in_doubt_delivered = 0;  // of those, how many had in fact reached the outbox
  int files = 0;              // outbox messages
  int leftover_tmp = 0;       // temporary outbox files left by a kill between write and rename
  int violations = 0;         // failed checks (for the soak script's summary)
  int mixed_step_messages = 0;  // merged messages carrying orders at different steps
};

// The audit table, in seq order, as the daemon committed it.
inline std::vector<std::string> audit_table(const std::string& db_path) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT line FROM audit ORDER BY seq");
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

// Counts of schedule rows and sends not yet final (the daemon still has work).
inline int unfinished_work(const std::string& db_path) {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  return db.execAndGet("SELECT (SELECT COUNT(*) FROM schedule WHERE state IN ('scheduled','sending')) + "
                       "(SELECT COUNT(*) FROM sends WHERE state IN ('sending','retry'))")
      .getInt();
}

// Every check of issue 5. `within`/`max`: the one per_buyer window of the policy.
// `at_most_once`: the outbox channel is at_most_once (no order+step claimed twice).
// `data_dir`: where the policy keeps the store, audit file and outbox (the Daemon's
// folder unless the test put them elsewhere). `finished`: the daemon was left to do
// all its work (every schedule row and send in a final state); false when it was
// stopped with work still scheduled.
inline CrashFindings check_after_crashes(Daemon& d, nudge::Millis within, int max, bool at_most_once = true,
                                         std::string data_dir = "", bool finished = true) {
  if (data_dir.empty()) data_dir = d.dir.path();
  CrashFindings f;
  auto violation = [&](bool ok) {
    if (!ok) ++f.violations;
    return ok;
  };
  std::string db_path = data_dir + "/nudge.db";

  // 1. The audit file equals the table line for line, and the chain verifies.
  auto table = audit_table(db_path);
  auto file = read_lines(data_dir + "/audit.jsonl");
  CHECK(violation(file.size() == table.size()));
  size_t first_diff = 0;
  while (first_diff < std::min(file.size(), table.size()) && file[first_diff] == table[first_diff]) ++first_diff;
  INFO("first differing audit line: " << first_diff);
  CHECK(violation(first_diff == std::max(file.size(), table.size())));
  auto v = d.ctl({"audit", "verify"});
  INFO(v.out << v.err);
  CHECK(violation(v.status == 0));

  std::vector<nlohmann::json> events;
  for (const auto& l : table) events.push_back(nlohmann::json::parse(l));

  // 2. The outbox: only whole messages named *.json; a temporary file may be left by a
  //    kill between write and rename, but it is a dot-file ending .tmp, never a message.
  std::map<std::int64_t, nlohmann::json> files;  // send_id -> message
  std::error_code ec;
  for (auto it = fs::directory_iterator(data_dir + "/outbox", ec); !ec && it != fs::directory_iterator(); ++it) {
    std::string name = it->path().filename().string();
    if (name[0] == '.') {
      INFO("leftover " << name);
      CHECK(violation(it->path().extension() == ".tmp"));
      ++f.leftover_tmp;
      continue;
    }
    INFO("outbox file " << name);
    CHECK(violation(it->path().extension() == ".json"));
    nlohmann::json m;
    bool parses = true;
    try {
      m = nlohmann::json::parse(read_file(it->path().string()));
    } catch (const std::exception&) {
      parses = false;
    }
    CHECK_MESSAGE(violation(parses), "half-written outbox message " << name);
    if (parses) files[m["send_id"].get<std::int64_t>()] = m;
  }
  f.files = static_cast<int>(files.size());

  // 3. Each (order, step) goes out at most once. The schedule row (one per order and
  //    step) names the one send that carried it. A merged message lists several
  //    orders under the step of its first row, so the audit's "step" cannot be used
  //    for this; count per order instead: an order must not be in more `sending`
  //    claims (at-most-once channel), `sent` events or outbox files than it has rows
  //    carried by sends.
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  std::map<std::int64_t, std::set<std::string>> orders_of_send;  // from the schedule
  std::map<std::int64_t, std::set<std::string>> steps_of_send;
  std::map<std::string, int> rows_claimed, rows_sent;  // per order
  {
    SQLite::Statement q(db, "SELECT send_id, order_id, step, state FROM schedule WHERE send_id IS NOT NULL");
    while (q.executeStep()) {
      auto id = q.getColumn(0).getInt64();
      std::string order = q.getColumn(1).getString();
      orders_of_send[id].insert(order);
      steps_of_send[id].insert(q.getColumn(2).getString());
      ++rows_claimed[order];
      if (q.getColumn(3).getString() == "sent") ++rows_sent[order];
    }
  }
  std::map<std::string, int> in_files, in_sent;  // per order
  std::map<std::string, std::set<std::int64_t>> claims_of;  // order -> the sends that claimed it
  for (const auto& [id, m] : files) {
    std::set<std::string> listed;
    for (const auto& o : m["orders"]) {
      listed.insert(o.get<std::string>());
      ++in_files[o.get<std::string>()];
    }
    INFO("outbox send " << id << " lists other orders than the schedule says it carried");
    CHECK(violation(listed == orders_of_send[id]));
    if (steps_of_send[id].size() > 1) ++f.mixed_step_messages;
  }
  std::map<std::int64_t, const nlohmann::json*> sending_of;  // send_id -> its first `sending` line
  std::set<std::int64_t> in_doubt_ids;
  std::map<std::string, std::int64_t> paid_seq;  // order -> seq of its cancellation for payment
  for (const auto& e : events) {
    const std::string ev = e["event"];
    if (ev == "sending") {
      auto id = e["send_id"].get<std::int64_t>();
      sending_of.emplace(id, &e);
      // in_doubt sends are never claimed again (G4). (A retry after a transient
      // failure is claimed again, with the same send_id: that one did not go out.)
      INFO("send " << id << " was claimed again after it became in_doubt");
      CHECK(violation(in_doubt_ids.count(id) == 0));
      for (const auto& o : e["orders"]) claims_of[o.get<std::string>()].insert(id);
    } else if (ev == "sent") {
      for (const auto& o : e["orders"]) ++in_sent[o.get<std::string>()];
    } else if (ev == "in_doubt") {
      in_doubt_ids.insert(e["send_id"].get<std::int64_t>());
    } else if (ev == "cancelled" && e["reason"] == "paid" && !e["orders"].empty()) {
      paid_seq.emplace(e["orders"][0].get<std::string>(), e["seq"].get<std::int64_t>());
    }
  }
  for (const auto& [order, n] : in_files) {
    INFO("order " << order << " is in " << n << " outbox messages but " << rows_claimed[order]
                  << " of its steps were claimed");
    CHECK(violation(n <= rows_claimed[order]));
  }
  if (at_most_once)
    for (const auto& [order, ids] : claims_of) {
      INFO("order " << order << " was claimed by " << ids.size() << " sends for " << rows_claimed[order]
                    << " claimed steps: a step was claimed twice on an at-most-once channel");
      CHECK(violation(static_cast<int>(ids.size()) == rows_claimed[order]));
    }
  for (const auto& [order, n] : in_sent) {
    INFO("order " << order << " is in " << n << " `sent` events for " << rows_sent[order] << " sent steps");
    CHECK(violation(n == rows_sent[order]));
  }

  // 4. Nothing in the outbox that the store does not know was claimed.
  for (const auto& [id, m] : files) {
    INFO("outbox send " << id << " has no `sending` audit line");
    CHECK(violation(sending_of.count(id) == 1));
  }

  // 5. Every schedule row ended in a final state (when `finished`); every send too;
  //    in_doubt audited.
  {
    SQLite::Statement q(db, "SELECT state, COUNT(*) FROM schedule GROUP BY state");
    while (q.executeStep()) {
      std::string s = q.getColumn(0).getString();
      INFO("schedule rows left in state " << s << ": " << q.getColumn(1).getInt());
      CHECK(violation(!finished || s == "sent" || s == "failed" || s == "skipped" || s == "cancelled" ||
                      s == "in_doubt"));
    }
    SQLite::Statement s(db, "SELECT id, state FROM sends");
    while (s.executeStep()) {
      auto id = s.getColumn(0).getInt64();
      std::string st = s.getColumn(1).getString();
      INFO("send " << id << " in state " << st);
      CHECK(violation(!finished || st == "sent" || st == "in_doubt" || st == "failed" || st == "cancelled"));
      if (st == "sent") ++f.sent;
      if (st == "in_doubt") {
        ++f.in_doubt;
        CHECK(violation(in_doubt_ids.count(id) == 1));
        if (files.count(id)) ++f.in_doubt_delivered;
      }
      if (st == "sent") {
        INFO("send " << id << " is recorded sent but its outbox file is missing");
        CHECK(violation(files.count(id) == 1));
      }
    }
  }

  // 6. G1: no buyer over its cap, on the ledger (what the daemon counts) and on the
  //    claim times of the messages that reached the outbox (what the buyer saw).
  auto check_windows = [&](const std::map<std::string, std::vector<nudge::Millis>>& per_buyer, const char* what) {
    for (auto [buyer, ats] : per_buyer) {
      std::sort(ats.begin(), ats.end());
      for (size_t i = 0; i + static_cast<size_t>(max) < ats.size(); ++i) {
        INFO(what << ": buyer " << buyer << " got " << max + 1 << " reminders within "
                  << ats[i + static_cast<size_t>(max)] - ats[i] << " ms");
        CHECK(violation(ats[i + static_cast<size_t>(max)] - ats[i] >= within));
      }
    }
  };
  {
    std::map<std::string, std::vector<nudge::Millis>> ledger;
    SQLite::Statement q(db, "SELECT shop || '/' || buyer_id, at FROM ledger WHERE released=0");
    while (q.executeStep()) ledger[q.getColumn(0).getString()].push_back(q.getColumn(1).getInt64());
    check_windows(ledger, "ledger");
  }
  {
    std::map<std::string, std::vector<nudge::Millis>> seen;
    for (const auto& [id, m] : files)
      if (auto it = sending_of.find(id); it != sending_of.end())
        seen[m["shop"].get<std::string>() + "/" + m["buyer"].get<std::string>()].push_back(
            *nudge::parse_instant((*it->second)["ts"].get<std::string>()));
    check_windows(seen, "outbox");
  }

  // 7. G2: no claim of an order after its payment was recorded.
  for (const auto& e : events)
    if (e["event"] == "sending")
      for (const auto& o : e["orders"])
        if (auto it = paid_seq.find(o.get<std::string>()); it != paid_seq.end()) {
          INFO("order " << o << " claimed after it was recorded paid");
          CHECK(violation(e["seq"].get<std::int64_t>() < it->second));
        }
  return f;
}

}  // namespace test
