// nudgectl: the operator's CLI. Reads the store read-only unless a command changes
// it (orders import, optout), so it is safe to use while nudged runs.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/audit.h"
#include "core/feed.h"
#include "core/policy.h"
#include "core/report.h"
#include "core/simulator.h"
#include "core/store.h"
#include "core/time_util.h"
#include "daemon/backup.h"
#include "daemon/inspect.h"
#include "daemon/report_view.h"
#include "daemon/remind.h"
#include "daemon/replies_cli.h"
#include "daemon/service.h"
#include "daemon/source_check.h"

namespace nudge {
namespace {

constexpr int kExitUsage = 64, kExitData = 65, kExitNoInput = 66;

struct Args {
  std::string config = "/etc/nudge/nudge.yaml";
  bool json = false;
  std::vector<std::string> words;                 // command and positional arguments
  std::map<std::string, std::string> options;     // --name value
  std::vector<std::string> flags;                 // --name
  bool flag(const std::string& f) const { return std::find(flags.begin(), flags.end(), f) != flags.end(); }
  std::string opt(const std::string& k, const std::string& d = "") const {
    auto it = options.find(k);
    return it == options.end() ? d : it->second;
  }
};

void usage(std::ostream& out) {
  out << "usage: nudgectl [--config FILE] [--json] COMMAND ...\n"
         "commands:\n"
         "  check FILE                      check a policy: exit 0 if valid, 78 with its errors\n"
         "  orders import FEED.jsonl [--replay]\n"
         "                                  add feed records to the inbox (bad lines are reported by number);\n"
         "                                  --replay moves the feed's times to now and adds each record at its time\n"
         "  summary                         what nudged did: reminders sent, deferred (each reminder once), skipped,\n"
         "                                  cancelled, per buyer\n"
         "  optout add|remove BUYER --shop S, optout list\n"
         "                                  buyers who must not be reminded\n"
         "  simulate --orders FEED.jsonl [--until TIME] [--store FILE]\n"
         "                                  run the policy over past orders on a simulated clock; prints every\n"
         "                                  audit event as JSON Lines, then a summary on stderr; --store keeps the\n"
         "                                  simulated store in a new FILE for report\n"
         "  report [--since T] [--until T] [--by campaign|step|template|channel|lang|country|shop] [--shop S]\n"
         "         [--store FILE] [--html FILE]\n"
         "                                  does reminding pay: orders placed in the window (default the last 30\n"
         "                                  days) paid after a reminder or without, money recovered, the uplift\n"
         "                                  over the holdout, rows by the --by value (default step)\n"
         "  audit verify [FILE] [--rotated] check the audit log's seq and hash chain (default: the policy's audit_log);\n"
         "                                  --rotated accepts a file that starts after seq 1 (a rotated part)\n"
         "  audit tail [-f] [-n N] [FILE]   the last N audit events as readable lines; -f follows, across rotation\n"
         "  status                          pending steps, due soon, today's counts, last poll and its error\n"
         "  backup FILE                     a checked copy of the store (safe while nudged runs); exit 74 if it\n"
         "                                  cannot be made or does not check out\n"
         "  source check                    one signed read-only call to the source: what it sees, the token's\n"
         "                                  expiry, the clock skew; exit 0 works, 77 refused, 69 unreachable\n"
         "  buyer ID [--shop S]             a buyer's reminders (the ledger) and open steps, in the buyer's time\n"
         "  order ID [--shop S]             an order, its steps and its audit history\n"
         "  remind ORDER|--feed FILE --shop S [--channel C] [--template T] [--wait D]\n"
         "                                  a manual reminder (step manual, you as actor) through every check of an\n"
         "                                  automatic one; waits up to D (default 30s or more, 0: not) for nudged's\n"
         "                                  decision: sent, deferred (quiet hours, caps) or refused; exit 1 refused,\n"
         "                                  75 no answer\n"
         "  reply --shop S --buyer B --text TEXT [--at TIME] [--message-id ID]\n"
         "                                  a buyer's answer (say, an e-mail) into the inbox: nudged decides\n"
         "                                  what it does (opt-out, off-platform flag, promise, pause)\n"
         "  flags [--shop S] [--all], flags clear ID\n"
         "                                  buyers' requests to pay or talk off the platform (their reminders\n"
         "                                  are held); clearing one lets the reminders go on\n"
         "options:\n"
         "  --config FILE                   the policy (default /etc/nudge/nudge.yaml)\n"
         "  --json                          machine-readable output\n";
}

std::shared_ptr<const Policy> policy_or_exit(const std::string& path) {
  auto r = load_policy(path);
  if (!r.ok()) {
    for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
    std::exit(kExitConfig);
  }
  return r.policy;
}

// For commands that only need the store: a policy with errors elsewhere (say, one
// being edited while nudged runs on the previous version) still names its store.
std::string store_path_or_exit(const std::string& path) {
  auto r = load_policy(path);
  if (r.ok()) return r.policy->store;
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsMap() && root["store"] && root["store"].IsScalar()) {
      std::string store = root["store"].Scalar();
      if (!store.empty() && store[0] != '/' && store != ":memory:")
        store = (std::filesystem::path(path).parent_path() / store).string();
      std::cerr << "nudgectl: warning: " << path << " has errors (nudged keeps its previous policy):\n";
      for (const auto& e : r.errors) std::cerr << "  " << e.to_string() << "\n";
      return store;
    }
  } catch (const std::exception&) {
  }
  for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
  std::exit(kExitConfig);
}

std::unique_ptr<Store> open_store_or_exit(const std::string& path, Store::Mode mode) {
  std::string error;
  auto s = Store::open(path, error, mode);
  if (!s) {
    std::cerr << "nudgectl: " << error << "\n";
    std::exit(kExitNoInput);
  }
  return s;
}

std::unique_ptr<Store> store_or_exit(const Policy& p, Store::Mode mode) {
  std::string error;
  auto s = Store::open(p.store, error, mode);
  if (!s) {
    std::cerr << "nudgectl: " << error << "\n";
    std::exit(kExitNoInput);
  }
  return s;
}

int cmd_check(const Args& a) {
  if (a.words.size() < 2) {
    std::cerr << "nudgectl check: which file? (nudgectl check FILE)\n";
    return kExitUsage;
  }
  auto r = load_policy(a.words[1]);
  // Errors, warnings and notes in file order, like a compiler's.
  std::vector<PolicyError> all = r.errors;
  all.insert(all.end(), r.warnings.begin(), r.warnings.end());
  std::stable_sort(all.begin(), all.end(), [](const PolicyError& x, const PolicyError& y) {
    return std::tie(x.line, x.col) < std::tie(y.line, y.col);
  });
  for (const auto& e : all) std::cerr << e.to_string() << "\n";
  if (!r.ok()) {
    std::cerr << r.errors.size() << (r.errors.size() == 1 ? " error" : " errors") << " in " << a.words[1] << "\n";
    return kExitConfig;
  }
  std::cout << a.words[1] << ": policy is valid" << warning_count(r.warnings) << "\n";
  return 0;
}

// Moves every time in a feed record by `delta` (for --replay).
std::string shift_times(const std::string& line, Millis delta) {
  auto j = nlohmann::json::parse(line);
  for (const char* key : {"placed_at", "closes_at", "at"}) {
    if (j.contains(key) && j[key].is_string())
      if (auto t = parse_instant(j[key].get<std::string>())) j[key] = format_instant(*t + delta);
  }
  return j.dump();
}

int cmd_import(const Args& a) {
  if (a.words.size() < 3 || a.words[1] != "import") {
    std::cerr << "nudgectl orders: use 'nudgectl orders import FEED.jsonl'\n";
    return kExitUsage;
  }
  const std::string& file = a.words[2];
  std::ifstream in(file);
  if (!in) {
    std::cerr << "nudgectl: cannot read " << file << "\n";
    return kExitNoInput;
  }
  std::string store_path = store_path_or_exit(a.config);
  auto store = open_store_or_exit(store_path, Store::Mode::kReadWrite);
  struct Good {
    std::string line;
    Millis at;
  };
  std::vector<Good> good;
  int bad = 0, lineno = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto rec = parse_feed_line(line);
    if (auto* r = std::get_if<RejectedRecord>(&rec)) {
      std::cerr << file << ":" << lineno << ": " << r->reason << "\n";
      ++bad;
      continue;
    }
    good.push_back({line, *record_time(rec)});
  }
  SystemClock clock;
  auto insert = [&](const std::vector<std::string>& lines) {
    WriteTx tx(*store);
    for (const auto& l : lines) {
      auto& s = store->stmt("INSERT INTO inbox(received_at, line) VALUES(?, ?)");
      s.bind(1, static_cast<int64_t>(clock.now()));
      s.bind(2, l);
      s.exec();
    }
    tx.commit();
  };
  try {
    if (a.flag("--replay") && !good.empty()) {
      std::stable_sort(good.begin(), good.end(), [](const Good& x, const Good& y) { return x.at < y.at; });
      Millis delta = clock.now() - good.front().at;
      for (const auto& g : good) {
        Millis when = g.at + delta;
        while (clock.now() < when) std::this_thread::sleep_for(std::chrono::milliseconds(std::min<Millis>(200, when - clock.now())));
        insert({shift_times(g.line, delta)});
      }
    } else {
      std::vector<std::string> lines;
      for (const auto& g : good) lines.push_back(g.line);
      insert(lines);
    }
  } catch (const std::exception& e) {
    std::cerr << "nudgectl: writing to the inbox failed: " << e.what() << "\n";
    return kExitCantCreate;
  }
  std::cout << "imported " << good.size() << " records into the inbox of " << store_path;
  if (bad) std::cout << "; " << bad << " lines rejected (listed above)";
  std::cout << "\n";
  return bad ? kExitData : 0;
}

int cmd_summary(const Args& a) {
  auto policy = policy_or_exit(a.config);
  auto store = store_or_exit(*policy, Store::Mode::kReadOnly);
  struct Row {
    int sent = 0, deferred = 0, skipped = 0, cancelled = 0, failed = 0, in_doubt = 0;
  };
  std::map<std::string, Row> per_buyer;
  Row total;
  std::map<std::string, int> reasons;
  int orders = 0, rejected = 0;
  // A reminder deferred three times (quiet hours, then a cap twice) is one deferred
  // reminder: deferrals count once per order and step, and once per reason.
  std::set<std::string> deferred_seen, deferred_reason_seen;
  SQLite::Statement q(store->db(), "SELECT event, shop, buyer, line FROM audit ORDER BY seq");
  while (q.executeStep()) {
    std::string ev = q.getColumn(0).getString();
    std::string who = q.getColumn(1).getString() + "/" + q.getColumn(2).getString();
    if (ev == "order_rejected") ++rejected;
    if (ev == "deferred") {
      auto j = nlohmann::json::parse(q.getColumn(3).getString(), nullptr, false);
      if (!j.is_object()) continue;
      std::string step = j.value("step", "");
      std::string reason = j["reason"].is_string() ? j["reason"].get<std::string>() : "";
      if (!j["orders"].is_array()) continue;
      for (const auto& o : j["orders"]) {
        if (!o.is_string()) continue;
        std::string key = who + "/" + o.get<std::string>() + "/" + step;
        if (deferred_seen.insert(key).second) {
          ++total.deferred;
          ++per_buyer[who].deferred;
        }
        if (!reason.empty() && deferred_reason_seen.insert(key + "/" + reason).second) ++reasons["deferred:" + reason];
      }
      continue;
    }
    static const std::map<std::string, int Row::*> kFields = {
        {"sent", &Row::sent},           {"skipped", &Row::skipped}, {"cancelled", &Row::cancelled},
        {"failed", &Row::failed},       {"in_doubt", &Row::in_doubt}};
    if (auto f = kFields.find(ev); f != kFields.end()) {
      ++(total.*(f->second));
      ++(per_buyer[who].*(f->second));
    }
    if (ev == "skipped" || ev == "cancelled" || ev == "failed") {
      auto j = nlohmann::json::parse(q.getColumn(3).getString(), nullptr, false);
      if (j.is_object() && j["reason"].is_string()) ++reasons[ev + ":" + j["reason"].get<std::string>()];
    }
  }
  orders = store->db().execAndGet("SELECT COUNT(*) FROM orders").getInt();
  std::string outbox;
  for (const auto& [name, ch] : policy->channels)
    if (ch.type == "outbox") outbox = ch.get("dir");
  if (a.json) {
    nlohmann::ordered_json j;
    j["orders"] = orders;
    j["rejected_records"] = rejected;
    j["sent"] = total.sent;
    j["deferred"] = total.deferred;
    j["skipped"] = total.skipped;
    j["cancelled"] = total.cancelled;
    j["failed"] = total.failed;
    j["in_doubt"] = total.in_doubt;
    j["reasons"] = reasons;
    for (const auto& [who, r] : per_buyer)
      j["buyers"][who] = {{"sent", r.sent}, {"deferred", r.deferred}, {"skipped", r.skipped},
                          {"cancelled", r.cancelled}, {"failed", r.failed}, {"in_doubt", r.in_doubt}};
    j["outbox"] = outbox;
    j["audit_log"] = policy->audit_log;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "orders seen: " << orders << " (" << rejected << " records rejected)\n"
            << "reminders sent: " << total.sent << "   deferred: " << total.deferred << "   skipped: " << total.skipped
            << "   cancelled: " << total.cancelled << "   failed: " << total.failed
            << "   in doubt: " << total.in_doubt << "\n";
  if (!reasons.empty()) {
    std::cout << "why:";
    for (const auto& [r, n] : reasons) std::cout << "  " << r << "=" << n;
    std::cout << "\n";
  }
  std::cout << "\n" << std::left << std::setw(28) << "shop/buyer" << std::right << std::setw(6) << "sent"
            << std::setw(10) << "deferred" << std::setw(9) << "skipped" << std::setw(11) << "cancelled"
            << std::setw(8) << "failed" << "\n";
  for (const auto& [who, r] : per_buyer)
    std::cout << std::left << std::setw(28) << who << std::right << std::setw(6) << r.sent << std::setw(10)
              << r.deferred << std::setw(9) << r.skipped << std::setw(11) << r.cancelled << std::setw(8) << r.failed
              << "\n";
  std::cout << "\n";
  if (!outbox.empty()) std::cout << "outbox:    " << outbox << "\n";
  std::cout << "audit log: " << policy->audit_log << "\n";
  return 0;
}

int cmd_simulate(const Args& a) {
  std::string feed = a.opt("--orders");
  if (feed.empty()) {
    std::cerr << "nudgectl simulate: use 'nudgectl simulate --config POLICY --orders FEED.jsonl [--until TIME]'\n";
    return kExitUsage;
  }
  std::optional<Millis> until;
  if (!a.opt("--until").empty()) {
    until = parse_instant(a.opt("--until"));
    if (!until) {
      std::cerr << "nudgectl simulate: --until must be a time like 2026-12-01T00:00:00Z\n";
      return kExitUsage;
    }
  }
  const std::string keep = a.opt("--store");
  if (!keep.empty() && std::filesystem::exists(keep)) {
    std::cerr << "nudgectl simulate: " << keep << " exists; --store writes a new file\n";
    return kExitCantCreate;
  }
  auto policy = policy_or_exit(a.config);
  std::ifstream in(feed);
  if (!in) {
    std::cerr << "nudgectl: cannot read " << feed << "\n";
    return kExitNoInput;
  }
  std::vector<FeedRecord> records;
  std::string line;
  int lineno = 0, bad = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    records.push_back(parse_feed_line(line));
    if (auto* r = std::get_if<RejectedRecord>(&records.back())) {
      std::cerr << feed << ":" << lineno << ": " << r->reason << "\n";
      ++bad;
    }
  }
  auto wall_start = std::chrono::steady_clock::now();
  std::ostream& out = std::cout;
  std::ios::sync_with_stdio(false);
  auto r = simulate(policy, std::move(records), until, out, keep);
  out.flush();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  auto n = [&](const char* e) { return r.by_event.count(e) ? r.by_event.at(e) : 0; };
  std::cerr << "simulated " << r.orders << " orders (" << r.records << " records, " << r.rejected << " rejected) from "
            << format_instant(r.start) << " to " << format_instant(r.end) << " in " << std::fixed
            << std::setprecision(2) << wall << " s\n"
            << "sent " << n("sent") << ", deferred " << n("deferred") << ", skipped " << n("skipped") << ", cancelled "
            << n("cancelled") << ", failed " << n("failed") << " (" << r.events << " audit events)\n";
  if (!r.by_reason.empty()) {
    std::cerr << "reasons:";
    for (const auto& [k, v] : r.by_reason) std::cerr << " " << k << "=" << v;
    std::cerr << "\n";
  }
  if (!keep.empty()) std::cerr << "kept the simulated store in " << keep << " (nudgectl report --store " << keep << ")\n";
  return 0;
}

// "2026-10-01" or a full instant.
std::optional<Millis> parse_report_time(const std::string& s) {
  if (s.size() == 10) return parse_instant(s + "T00:00:00Z");
  return parse_instant(s);
}

int cmd_report(const Args& a) {
  const std::string by = a.opt("--by", "step");
  const auto& dims = report_dimensions();
  if (std::find(dims.begin(), dims.end(), by) == dims.end()) {
    std::cerr << "nudgectl report: --by must be one of campaign, step, template, channel, lang, country, shop, not '"
              << by << "'\n";
    return kExitUsage;
  }
  ReportQuery q;
  std::optional<Millis> since, until;
  for (auto [name, out] : {std::pair<const char*, std::optional<Millis>*>{"--since", &since}, {"--until", &until}}) {
    if (a.opt(name).empty()) continue;
    *out = parse_report_time(a.opt(name));
    if (!*out) {
      std::cerr << "nudgectl report: " << name << " must be a date like 2026-10-01 or a time like 2026-10-01T00:00:00Z\n";
      return kExitUsage;
    }
  }
  constexpr Millis kDefaultSpan = 30 * kDay;
  q.until = until ? *until : since ? *since + kDefaultSpan : SystemClock().now();
  q.since = since ? *since : q.until - kDefaultSpan;
  if (q.since >= q.until) {
    std::cerr << "nudgectl report: --since must come before --until\n";
    return kExitUsage;
  }
  q.shop = a.opt("--shop");
  auto policy = policy_or_exit(a.config);
  std::string store_path = a.opt("--store", policy->store);
  if (!std::filesystem::exists(store_path)) {
    std::cerr << "nudgectl report: no store at " << store_path << "\n";
    return kExitNoInput;
  }
  auto store = open_store_or_exit(store_path, Store::Mode::kReadOnly);
  Report r = build_report(*store, *policy, q);
  if (!a.opt("--html").empty()) {
    std::ofstream html(a.opt("--html"), std::ios::binary | std::ios::trunc);
    if (html) write_report_html(r, html);
    if (!html || !html.flush()) {
      std::cerr << "nudgectl report: cannot write " << a.opt("--html") << "\n";
      return kExitCantCreate;
    }
  }
  if (a.json)
    std::cout << report_json(r, by).dump(2) << "\n";
  else if (a.opt("--html").empty())
    print_report(r, by, std::cout);
  else
    std::cout << "wrote " << a.opt("--html") << "\n";
  return 0;
}

int cmd_optout(const Args& a) {
  auto policy = policy_or_exit(a.config);
  if (a.words.size() >= 2 && a.words[1] == "list") {
    auto store = store_or_exit(*policy, Store::Mode::kReadOnly);
    SQLite::Statement q(store->db(), "SELECT shop, buyer_id, at FROM optout ORDER BY shop, buyer_id");
    nlohmann::json list = nlohmann::json::array();
    while (q.executeStep()) {
      if (a.json)
        list.push_back({{"shop", q.getColumn(0).getString()}, {"buyer", q.getColumn(1).getString()},
                        {"since", format_instant(q.getColumn(2).getInt64())}});
      else
        std::cout << q.getColumn(0).getString() << "/" << q.getColumn(1).getString() << "  since "
                  << format_instant(q.getColumn(2).getInt64()) << "\n";
    }
    if (a.json) std::cout << list.dump(2) << "\n";
    return 0;
  }
  if (a.words.size() < 3 || (a.words[1] != "add" && a.words[1] != "remove") || a.opt("--shop").empty()) {
    std::cerr << "nudgectl optout: use 'optout add BUYER --shop S', 'optout remove BUYER --shop S' or 'optout list'\n";
    return kExitUsage;
  }
  auto store = store_or_exit(*policy, Store::Mode::kReadWrite);
  SystemClock clock;
  Engine engine(*store, policy, clock);
  engine.opt_out(a.opt("--shop"), a.words[2], a.words[1] == "add");
  std::cout << a.opt("--shop") << "/" << a.words[2] << (a.words[1] == "add" ? " will not be reminded\n" : " may be reminded again\n");
  return 0;
}

int cmd_status(const Args& a) {
  auto policy = policy_or_exit(a.config);
  auto store = store_or_exit(*policy, Store::Mode::kReadOnly);
  print_status(*store, *policy, SystemClock().now(), a.json, std::cout);
  return 0;
}

int cmd_buyer_or_order(const Args& a) {
  if (a.words.size() < 2) {
    std::cerr << "nudgectl " << a.words[0] << ": which one? (nudgectl " << a.words[0] << " ID [--shop S])\n";
    return kExitUsage;
  }
  auto policy = policy_or_exit(a.config);
  auto store = store_or_exit(*policy, Store::Mode::kReadOnly);
  bool found = a.words[0] == "buyer" ? print_buyer(*store, *policy, a.words[1], a.opt("--shop"), a.json, std::cout)
                                     : print_order(*store, *policy, a.words[1], a.opt("--shop"), a.json, std::cout);
  if (!found) {
    std::cerr << "nudgectl: no " << a.words[0] << " '" << a.words[1] << "'"
              << (a.opt("--shop").empty() ? "" : " in shop " + a.opt("--shop")) << "\n";
    return 1;
  }
  return 0;
}

int cmd_audit(const Args& a) {
  if (a.words.size() >= 2 && a.words[1] == "tail") {
    std::string file = a.words.size() >= 3 ? a.words[2] : policy_or_exit(a.config)->audit_log;
    int n = 20;
    try {
      n = std::stoi(a.opt("-n", "20"));
    } catch (const std::exception&) {
    }
    int rc = tail_audit(file, n, a.flag("-f") || a.flag("--follow"), a.json, std::cout);
    if (rc != 0) std::cerr << "nudgectl: cannot read " << file << "\n";
    return rc;
  }
  if (a.words.size() < 2 || a.words[1] != "verify") {
    std::cerr << "nudgectl audit: use 'nudgectl audit verify [FILE]' or 'nudgectl audit tail [-f] [-n N]'\n";
    return kExitUsage;
  }
  std::string file;
  if (a.words.size() >= 3) {
    file = a.words[2];
  } else {
    file = policy_or_exit(a.config)->audit_log;
  }
  std::ifstream in(file);
  if (!in) {
    std::cerr << "nudgectl: cannot read " << file << "\n";
    return kExitNoInput;
  }
  // A rotated file starts after seq 1: take its first line's seq and prev as given.
  std::int64_t first_seq = 1;
  std::string first_prev = kGenesisHash;
  {
    std::string first;
    if (std::getline(in, first)) {
      auto j = nlohmann::json::parse(first, nullptr, false);
      if (j.is_object() && j["seq"].is_number_integer() && j["prev"].is_string() && j["seq"].get<std::int64_t>() > 1 &&
          a.flag("--rotated")) {
        first_seq = j["seq"].get<std::int64_t>();
        first_prev = j["prev"].get<std::string>();
      }
    }
    in.clear();
    in.seekg(0);
  }
  auto r = verify_audit(in, first_seq, first_prev);
  if (a.json) {
    nlohmann::json j{{"file", file}, {"ok", r.ok}, {"lines", r.lines}, {"last_seq", r.last_seq}};
    if (!r.ok) {
      j["first_bad_line"] = r.first_bad_line;
      j["problem"] = r.problem;
    }
    std::cout << j.dump(2) << "\n";
  } else if (r.ok) {
    std::cout << file << ": OK, " << r.lines << " lines, seq " << first_seq << ".." << r.last_seq
              << ", hash chain intact\n";
  } else {
    std::cout << file << ":" << r.first_bad_line << ": " << r.problem << "\n";
  }
  return r.ok ? 0 : 1;
}

int cmd_backup(const Args& a) {
  if (a.words.size() != 2) {
    std::cerr << "nudgectl: backup needs the file to write\n";
    usage(std::cerr);
    return kExitUsage;
  }
  BackupReport r = backup_store(store_path_or_exit(a.config), a.words[1]);
  if (!r.ok) {
    std::cerr << "nudgectl backup: " << r.error << "\n";
    return kExitIoErr;
  }
  if (a.json) {
    std::cout << nlohmann::ordered_json{{"file", a.words[1]},       {"bytes", r.bytes},
                                        {"schema_version", r.schema_version}, {"integrity", "ok"},
                                        {"audit_lines", r.audit_lines}, {"first_seq", r.first_seq}, {"last_seq", r.last_seq},
                                        {"orders", r.orders}}
                     .dump()
              << "\n";
  } else {
    std::cout << a.words[1] << ": OK, " << r.bytes << " bytes, schema " << r.schema_version
              << ", integrity_check ok, audit " << r.audit_lines << " lines (seq " << r.first_seq << ".." << r.last_seq
              << ") hash chain intact, " << r.orders << " orders\n";
  }
  return 0;
}

int cmd_remind(const Args& a) {
  RemindRequest req;
  req.shop = a.opt("--shop");
  req.channel = a.opt("--channel");
  req.tmpl = a.opt("--template");
  req.json = a.json;
  req.actor = unix_actor();
  if (a.words.size() >= 2) req.orders.assign(a.words.begin() + 1, a.words.end());
  if (!a.opt("--feed").empty()) {
    std::ifstream in(a.opt("--feed"));
    if (!in) {
      std::cerr << "nudgectl: cannot read " << a.opt("--feed") << "\n";
      return kExitNoInput;
    }
    std::string line;
    while (std::getline(in, line)) {
      auto b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
      if (b != std::string::npos && line[b] != '#') req.orders.push_back(line.substr(b, e - b + 1));
    }
  }
  if (req.orders.empty() || req.shop.empty()) {
    std::cerr << "nudgectl remind: use 'nudgectl remind ORDER --shop S [--channel C] [--template T]' or "
                 "'nudgectl remind --feed FILE --shop S' (one order per line)\n";
    return kExitUsage;
  }
  auto policy = policy_or_exit(a.config);
  // nudged reads the inbox every 2 s, or every `every` of the policy's inbox source.
  for (const auto& s : policy->sources)
    if (s.type == "inbox") req.wait = std::max(req.wait, s.every + 15 * kSecond);
  if (!a.opt("--wait").empty()) {
    auto w = parse_duration(a.opt("--wait"));
    if (!w) {
      std::cerr << "nudgectl remind: --wait must be a duration like 30s or 0s, not '" << a.opt("--wait") << "'\n";
      return kExitUsage;
    }
    req.wait = *w;
  }
  return remind_orders(*policy, req, std::cout, std::cerr);
}

// reply, flags: daemon/replies_cli.h.
int cmd_replies(const Args& a) {
  if (a.words[0] == "reply") {
    if (a.words.size() != 1 || a.opt("--shop").empty() || a.opt("--buyer").empty() || a.opt("--text").empty()) {
      std::cerr << "nudgectl reply: use 'nudgectl reply --shop S --buyer B --text \"...\" [--at TIME] "
                   "[--message-id ID]'\n";
      return kExitUsage;
    }
    auto store = open_store_or_exit(store_path_or_exit(a.config), Store::Mode::kReadWrite);
    return write_reply(*store, SystemClock().now(),
                       {a.opt("--shop"), a.opt("--buyer"), a.opt("--text"), a.opt("--at"), a.opt("--message-id")},
                       std::cout, std::cerr);
  }
  auto policy = policy_or_exit(a.config);
  if (a.words.size() == 1) {
    auto store = store_or_exit(*policy, Store::Mode::kReadOnly);
    print_flags(*store, a.opt("--shop"), a.flag("--all"), a.json, std::cout);
    return 0;
  }
  std::int64_t id = 0;
  if (a.words.size() != 3 || a.words[1] != "clear" || a.words[2].empty() ||
      a.words[2].find_first_not_of("0123456789") != std::string::npos || a.words[2].size() > 18) {
    std::cerr << "nudgectl flags: use 'nudgectl flags [--shop S] [--all]' or 'nudgectl flags clear ID'\n";
    return kExitUsage;
  }
  id = std::stoll(a.words[2]);
  auto store = store_or_exit(*policy, Store::Mode::kReadWrite);
  SystemClock clock;
  Engine engine(*store, policy, clock);
  int released = engine.clear_flag(id, unix_actor());
  if (released < 0) {
    std::cerr << "nudgectl flags: no open flag " << id << "\n";
    return 1;
  }
  std::cout << "flag " << id << " cleared; " << released << " held reminder step" << (released == 1 ? "" : "s")
            << " scheduled again\n";
  return 0;
}

int cmd_source(const Args& a) {
  if (a.words.size() != 2 || a.words[1] != "check") {
    std::cerr << "nudgectl: unknown source command\n";
    usage(std::cerr);
    return kExitUsage;
  }
  auto policy = policy_or_exit(a.config);
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  // Each source of `sources` in turn; the first failure's status is the answer.
  int rc = 0;
  for (const auto& src : policy->sources) {
    Policy one = *policy;
    one.source = src;
    if (policy->sources.size() > 1) std::cout << "== " << src.name << "\n";
    int r = check_source(one, creds ? creds : "", std::cout);
    if (rc == 0) rc = r;
  }
  return rc;
}

}  // namespace
}  // namespace nudge

int main(int argc, char** argv) {
  using namespace nudge;
  Args a;
  static const std::vector<std::string> kValued = {"--shop",  "--orders", "--until",   "--since",   "--policy",
                                                    "-n",      "--by",     "--html",    "--store",   "--channel",
                                                    "--template", "--feed", "--wait",   "--buyer",   "--text",
                                                    "--at",    "--message-id"};
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--config" && i + 1 < argc) {
      a.config = argv[++i];
    } else if (s.rfind("--config=", 0) == 0) {
      a.config = s.substr(9);
    } else if (s == "--json") {
      a.json = true;
    } else if (s == "--help" || s == "-h") {
      usage(std::cout);
      return 0;
    } else if (std::find(kValued.begin(), kValued.end(), s) != kValued.end()) {
      if (i + 1 >= argc) {
        std::cerr << "nudgectl: " << s << " needs a value\n";
        return kExitUsage;
      }
      a.options[s] = argv[++i];
    } else if (s.rfind("--", 0) == 0 || s == "-f") {
      a.flags.push_back(s);
    } else {
      a.words.push_back(s);
    }
  }
  if (a.words.empty()) {
    usage(std::cerr);
    return kExitUsage;
  }
  const std::string& cmd = a.words[0];
  try {
    if (cmd == "check") return cmd_check(a);
    if (cmd == "orders") return cmd_import(a);
    if (cmd == "summary") return cmd_summary(a);
    if (cmd == "optout") return cmd_optout(a);
    if (cmd == "simulate") return cmd_simulate(a);
    if (cmd == "report") return cmd_report(a);
    if (cmd == "audit") return cmd_audit(a);
    if (cmd == "status") return cmd_status(a);
    if (cmd == "source") return cmd_source(a);
    if (cmd == "backup") return cmd_backup(a);
    if (cmd == "buyer" || cmd == "order") return cmd_buyer_or_order(a);
    if (cmd == "remind") return cmd_remind(a);
    if (cmd == "reply" || cmd == "flags") return cmd_replies(a);
  } catch (const std::exception& e) {
    std::cerr << "nudgectl: " << e.what() << "\n";
    return kExitSoftware;
  }
  std::cerr << "nudgectl: unknown command '" << cmd << "'\n";
  usage(std::cerr);
  return kExitUsage;
}
