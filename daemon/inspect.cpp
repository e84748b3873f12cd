#include "daemon/inspect.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>
#include <vector>

#include <date/tz.h>
#include <nlohmann/json.hpp>

#include "core/time_util.h"
#include "core/zones.h"
#include "daemon/aliexpress_client.h"

namespace nudge {
namespace {

std::int64_t count(Store& s, const std::string& sql, std::int64_t bind = 0, bool with_bind = false) {
  SQLite::Statement q(s.db(), sql);
  if (with_bind) q.bind(1, static_cast<int64_t>(bind));
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}


std::string ago(Millis now, Millis t) {
  if (!t) return "never";
  Millis d = now - t;
  return format_duration(d < 0 ? 0 : d / 1000 * 1000) + " ago";
}

}  // namespace

void print_status(Store& store, const Policy& policy, Millis now, bool json, std::ostream& out) {
  Millis midnight = now - now % kDay;  // today, UTC
  // Kept by triggers as steps change (schema 5): no count over a million rows.
  std::int64_t pending = count(store, "SELECT COALESCE(MAX(n), 0) FROM counters WHERE name='scheduled'");
  std::int64_t overdue = count(store, "SELECT COUNT(*) FROM schedule WHERE state='scheduled' AND due_at <= ?", now, true);
  std::int64_t soon =
      count(store, "SELECT COUNT(*) FROM schedule WHERE state='scheduled' AND due_at <= ?", now + kHour, true);
  std::int64_t sending = count(store, "SELECT COUNT(*) FROM sends WHERE state IN ('sending','retry')");
  std::int64_t in_doubt = count(store, "SELECT COUNT(*) FROM sends WHERE state='in_doubt'");
  std::map<std::string, std::int64_t> today;
  {
    SQLite::Statement q(store.db(), "SELECT event, n FROM audit_daily WHERE day = ?");
    q.bind(1, static_cast<int64_t>(midnight / kDay));
    while (q.executeStep()) today[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  }
  Millis next_due = count(store, "SELECT COALESCE(MIN(due_at), 0) FROM schedule WHERE state='scheduled'");
  // Each source of the policy (`sources`), as nudged last recorded it; the first one
  // also fills the top-level fields, as when a policy had one source.
  struct SourceInfo {
    const SourceConf* conf;
    Millis last_poll = 0, last_ok = 0;
    std::string last_error, cursor;
    std::optional<Millis> token_expiry;  // the marketplace token, as nudged keeps it beside the store
  };
  std::vector<SourceInfo> sources;
  for (const auto& sc : policy.sources) {
    SourceInfo si{&sc};
    SQLite::Statement q(store.db(),
                        "SELECT COALESCE(last_poll_at,0), COALESCE(last_ok_at,0), COALESCE(last_error,''), "
                        "COALESCE(cursor,'') FROM source_state WHERE source=?");
    q.bind(1, sc.name);
    if (q.executeStep()) {
      si.last_poll = q.getColumn(0).getInt64();
      si.last_ok = q.getColumn(1).getInt64();
      si.last_error = q.getColumn(2).getString();
      si.cursor = q.getColumn(3).getString();
    }
    if (sc.type == "aliexpress") si.token_expiry = token_expiry_in(token_state_file(policy, sc.shop));
    sources.push_back(std::move(si));
  }
  const SourceInfo& first = sources.front();
  Millis last_poll = first.last_poll, last_ok = first.last_ok;
  std::string last_error = first.last_error;
  Millis last_event = count(store, "SELECT COALESCE((SELECT ts FROM audit ORDER BY seq DESC LIMIT 1), 0)");
  std::optional<Millis> token_expiry = first.token_expiry;
  auto t = [&](const char* e) { return today.count(e) ? today[e] : 0; };
  if (json) {
    nlohmann::ordered_json j{{"pending", pending},
                             {"due_now", overdue},
                             {"due_within_1h", soon},
                             {"next_due", next_due ? nlohmann::json(format_instant(next_due)) : nlohmann::json()},
                             {"in_flight", sending},
                             {"in_doubt", in_doubt},
                             {"today", {{"sent", t("sent")}, {"deferred", t("deferred")}, {"skipped", t("skipped")},
                                        {"cancelled", t("cancelled")}, {"failed", t("failed")}}},
                             {"source", policy.source.type},
                             {"last_poll", last_poll ? nlohmann::json(format_instant(last_poll)) : nlohmann::json()},
                             {"last_poll_ok", last_ok ? nlohmann::json(format_instant(last_ok)) : nlohmann::json()},
                             {"last_poll_error", last_error.empty() ? nlohmann::json() : nlohmann::json(last_error)},
                             {"token_expires", token_expiry ? nlohmann::json(format_instant(*token_expiry))
                                                            : nlohmann::json()},
                             {"last_event", last_event ? nlohmann::json(format_instant(last_event)) : nlohmann::json()},
                             {"store", policy.store}};
    auto when = [](Millis t) { return t ? nlohmann::json(format_instant(t)) : nlohmann::json(); };
    j["sources"] = nlohmann::json::array();
    for (const auto& si : sources)
      j["sources"].push_back(nlohmann::ordered_json{
          {"source", si.conf->name}, {"type", si.conf->type},
          {"shop", si.conf->shop.empty() ? nlohmann::json() : nlohmann::json(si.conf->shop)},
          {"last_poll", when(si.last_poll)}, {"last_poll_ok", when(si.last_ok)},
          {"last_poll_error", si.last_error.empty() ? nlohmann::json() : nlohmann::json(si.last_error)},
          {"token_expires", si.token_expiry ? when(*si.token_expiry) : nlohmann::json()}});
    out << j.dump(2) << "\n";
    return;
  }
  out << "nudge status (" << policy.store << ")\n"
      << "  pending steps    " << pending << " (" << overdue << " due now, " << soon << " within the hour)\n"
      << "  next due         " << (next_due ? format_instant(next_due) : "nothing scheduled") << "\n"
      << "  in flight        " << sending << " sending or waiting to retry, " << in_doubt << " in doubt\n"
      << "  today (UTC)      sent " << t("sent") << ", deferred " << t("deferred") << ", skipped " << t("skipped")
      << ", cancelled " << t("cancelled") << ", failed " << t("failed") << "\n"
      ;
  for (const auto& si : sources) {
    out << "  source           " << si.conf->name << ", last poll " << ago(now, si.last_poll);
    if (!si.last_error.empty())
      out << ", FAILED: " << si.last_error << " (last good poll " << ago(now, si.last_ok) << ")";
    if (si.token_expiry) {
      out << "\n  access token     " << (sources.size() > 1 ? "of " + si.conf->shop + " " : "") << "expires "
          << format_instant(*si.token_expiry);
      if (*si.token_expiry <= now)
        out << " — EXPIRED: polls and sends fail until the seller authorises the app again";
      else if (*si.token_expiry - now < 7 * kDay)
        out << " — WARNING: within a week (nudged refreshes it a day ahead when it has a refresh token)";
    }
    out << "\n";
  }
  out << "  last audit event " << ago(now, last_event) << "\n";
}

bool print_buyer(Store& store, const Policy& policy, const std::string& buyer, const std::string& shop, bool json,
                 std::ostream& out) {
  std::string shop_clause = shop.empty() ? "" : " AND shop=?";
  auto bind = [&](SQLite::Statement& q) {
    q.bind(1, buyer);
    if (!shop.empty()) q.bind(2, shop);
  };
  std::string tz, country;
  {
    SQLite::Statement q(store.db(), "SELECT buyer_tz, buyer_country FROM orders WHERE buyer_id=?" + shop_clause +
                                        " ORDER BY placed_at DESC LIMIT 1");
    bind(q);
    if (!q.executeStep()) return false;
    tz = q.getColumn(0).getString();
    country = q.getColumn(1).getString();
  }
  const date::time_zone* zone = buyer_zone(policy, tz, country);
  nlohmann::ordered_json j{{"buyer", buyer}, {"zone", zone->name()}};
  // The ledger: every reminder that counts against the caps, newest first.
  SQLite::Statement led(store.db(),
                        "SELECT l.at, l.shop, s.id, s.step, s.channel, s.lang, s.state, l.released, "
                        "(SELECT group_concat(order_id) FROM schedule WHERE send_id=s.id) FROM ledger l JOIN sends s "
                        "ON s.id=l.send_id WHERE l.buyer_id=?" + std::string(shop.empty() ? "" : " AND l.shop=?") +
                            " ORDER BY l.at DESC");
  bind(led);
  j["ledger"] = nlohmann::json::array();
  while (led.executeStep()) {
    j["ledger"].push_back({{"at", format_instant(led.getColumn(0).getInt64())},
                           {"local", format_local(led.getColumn(0).getInt64(), zone)},
                           {"shop", led.getColumn(1).getString()},
                           {"send_id", led.getColumn(2).getInt64()},
                           {"step", led.getColumn(3).getString()},
                           {"channel", led.getColumn(4).getString()},
                           {"lang", led.getColumn(5).getString()},
                           {"state", led.getColumn(6).getString()},
                           {"counts", led.getColumn(7).getInt() == 0},
                           {"orders", led.getColumn(8).getString()}});
  }
  // Open steps: scheduled, or held while the buyer has an open flag.
  SQLite::Statement open(store.db(), "SELECT shop, order_id, step, due_at, state, COALESCE(reason,'') FROM schedule "
                                     "WHERE buyer_id=?" + shop_clause + " AND state IN ('scheduled','held') ORDER BY due_at");
  bind(open);
  j["open_steps"] = nlohmann::json::array();
  while (open.executeStep())
    j["open_steps"].push_back({{"shop", open.getColumn(0).getString()},
                               {"order", open.getColumn(1).getString()},
                               {"step", open.getColumn(2).getString()},
                               {"due", format_instant(open.getColumn(3).getInt64())},
                               {"due_local", format_local(open.getColumn(3).getInt64(), zone)},
                               {"state", open.getColumn(4).getString()},
                               {"reason", open.getColumn(5).getString()}});
  // The buyer's replies (newest ten) and open flags (core/replies.h, nudgectl flags).
  SQLite::Statement rep(store.db(), "SELECT shop, channel, message_id, at, class, COALESCE(category,'') FROM replies "
                                    "WHERE buyer_id=?" + shop_clause + " ORDER BY at DESC LIMIT 10");
  bind(rep);
  j["replies"] = nlohmann::json::array();
  while (rep.executeStep())
    j["replies"].push_back({{"shop", rep.getColumn(0).getString()},
                            {"channel", rep.getColumn(1).getString()},
                            {"message_id", rep.getColumn(2).getString()},
                            {"at", format_instant(rep.getColumn(3).getInt64())},
                            {"local", format_local(rep.getColumn(3).getInt64(), zone)},
                            {"class", rep.getColumn(4).getString()},
                            {"category", rep.getColumn(5).getString()}});
  SQLite::Statement flg(store.db(), "SELECT id, shop, category, text FROM flags WHERE buyer_id=?" + shop_clause +
                                        " AND cleared_at IS NULL ORDER BY at");
  bind(flg);
  j["open_flags"] = nlohmann::json::array();
  while (flg.executeStep())
    j["open_flags"].push_back({{"id", flg.getColumn(0).getInt64()},
                               {"shop", flg.getColumn(1).getString()},
                               {"reason", "off_platform_request:" + flg.getColumn(2).getString()},
                               {"text", flg.getColumn(3).getString()}});
  SQLite::Statement opt(store.db(), "SELECT shop, at FROM optout WHERE buyer_id=?" + shop_clause);
  bind(opt);
  j["opted_out"] = nlohmann::json::array();
  while (opt.executeStep()) j["opted_out"].push_back(opt.getColumn(0).getString());
  if (json) {
    out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return true;
  }
  out << "buyer " << buyer << (shop.empty() ? "" : " in " + shop) << ", times in " << zone->name() << "\n";
  if (!j["opted_out"].empty()) out << "  opted out in: " << j["opted_out"].dump() << "\n";
  out << "reminders (ledger, newest first):\n";
  if (j["ledger"].empty()) out << "  none\n";
  for (const auto& l : j["ledger"])
    out << "  " << l["local"].get<std::string>() << "  " << std::left << std::setw(10) << l["state"].get<std::string>()
        << " " << l["step"].get<std::string>() << " via " << l["channel"].get<std::string>() << " ("
        << l["lang"].get<std::string>() << "), orders " << l["orders"].get<std::string>()
        << (l["counts"].get<bool>() ? "" : "  [released: does not count]") << "\n";
  out << "open steps:\n";
  if (j["open_steps"].empty()) out << "  none\n";
  for (const auto& s : j["open_steps"])
    out << "  " << s["due_local"].get<std::string>() << "  " << s["shop"].get<std::string>() << "/"
        << s["order"].get<std::string>() << " " << s["step"].get<std::string>()
        << (s["state"] == "held" ? "  held: " + s["reason"].get<std::string>() : std::string()) << "\n";
  out << "replies (newest first):\n";
  if (j["replies"].empty()) out << "  none\n";
  for (const auto& r : j["replies"])
    out << "  " << r["local"].get<std::string>() << "  " << std::left << std::setw(12) << r["class"].get<std::string>()
        << (r["category"] == "" ? std::string() : " (" + r["category"].get<std::string>() + ")") << " via "
        << r["channel"].get<std::string>() << ", message " << r["message_id"].get<std::string>() << "\n";
  for (const auto& f : j["open_flags"]) {
    std::string text = f["text"].get<std::string>();
    for (auto& ch : text)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
    out << "open flag " << f["id"].get<std::int64_t>() << ": " << f["reason"].get<std::string>()
        << " (nudgectl flags clear " << f["id"].get<std::int64_t>() << ")\n  > " << text << "\n";
  }
  return true;
}

bool print_order(Store& store, const Policy& policy, const std::string& order, const std::string& shop, bool json,
                 std::ostream& out) {
  std::string shop_clause = shop.empty() ? "" : " AND shop=?";
  SQLite::Statement q(store.db(),
                      "SELECT shop, buyer_id, buyer_country, buyer_tz, amount, currency, placed_at, closes_at, status, "
                      "status_at, COALESCE(campaign,'') FROM orders WHERE order_id=?" + shop_clause);
  q.bind(1, order);
  if (!shop.empty()) q.bind(2, shop);
  if (!q.executeStep()) return false;
  std::string the_shop = q.getColumn(0).getString();
  const date::time_zone* zone = buyer_zone(policy, q.getColumn(3).getString(), q.getColumn(2).getString());
  nlohmann::ordered_json j{{"shop", the_shop},
                           {"order", order},
                           {"buyer", q.getColumn(1).getString()},
                           {"amount", q.getColumn(4).getString() + " " + q.getColumn(5).getString()},
                           {"placed", format_instant(q.getColumn(6).getInt64())},
                           {"closes", format_instant(q.getColumn(7).getInt64())},
                           {"status", q.getColumn(8).getString()},
                           {"status_since", format_instant(q.getColumn(9).getInt64())},
                           {"campaign", q.getColumn(10).getString()},
                           {"zone", zone->name()}};
  SQLite::Statement st(store.db(),
                       "SELECT step, state, COALESCE(reason,''), due_at, send_id FROM schedule WHERE shop=? AND "
                       "order_id=? ORDER BY step_index");
  st.bind(1, the_shop);
  st.bind(2, order);
  j["steps"] = nlohmann::json::array();
  while (st.executeStep())
    j["steps"].push_back({{"step", st.getColumn(0).getString()},
                          {"state", st.getColumn(1).getString()},
                          {"reason", st.getColumn(2).getString()},
                          {"due_local", format_local(st.getColumn(3).getInt64(), zone)},
                          {"send_id", st.getColumn(4).isNull() ? nlohmann::json() : nlohmann::json(st.getColumn(4).getInt64())}});
  // The order's lines are its buyer's lines, or lines about no buyer (a record
  // rejected before its buyer was known): read through the audit_buyer index, not
  // every line of the shop.
  SQLite::Statement au(store.db(),
                       "SELECT seq, line FROM audit WHERE shop=? AND buyer=? AND line LIKE ? UNION ALL "
                       "SELECT seq, line FROM audit WHERE shop=? AND buyer IS NULL AND line LIKE ? ORDER BY seq");
  std::string like = "%\"" + order + "\"%";
  au.bind(1, the_shop);
  au.bind(2, q.getColumn(1).getString());
  au.bind(3, like);
  au.bind(4, the_shop);
  au.bind(5, like);
  j["history"] = nlohmann::json::array();
  while (au.executeStep()) {
    auto line = nlohmann::json::parse(au.getColumn(1).getString(), nullptr, false);
    if (line.is_object() && line["orders"].is_array() &&
        std::find(line["orders"].begin(), line["orders"].end(), order) != line["orders"].end())
      j["history"].push_back(describe_audit_line(au.getColumn(1).getString()));
  }
  if (json) {
    out << j.dump(2) << "\n";
    return true;
  }
  out << "order " << the_shop << "/" << order << " of buyer " << j["buyer"].get<std::string>() << ": "
      << j["amount"].get<std::string>() << ", " << j["status"].get<std::string>() << "\n"
      << "  placed " << j["placed"].get<std::string>() << ", closes " << j["closes"].get<std::string>()
      << ", campaign " << (j["campaign"].get<std::string>().empty() ? "none" : j["campaign"].get<std::string>())
      << ", buyer's zone " << zone->name() << "\nsteps:\n";
  for (const auto& s : j["steps"])
    out << "  " << std::left << std::setw(10) << s["step"].get<std::string>() << std::setw(10)
        << s["state"].get<std::string>() << " due " << s["due_local"].get<std::string>()
        << (s["reason"].get<std::string>().empty() ? "" : "  (" + s["reason"].get<std::string>() + ")") << "\n";
  out << "history:\n";
  for (const auto& h : j["history"]) out << "  " << h.get<std::string>() << "\n";
  return true;
}

std::string describe_audit_line(const std::string& json_line) {
  auto j = nlohmann::json::parse(json_line, nullptr, false);
  if (!j.is_object()) return "(unreadable line) " + json_line.substr(0, 80);
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  std::ostringstream out;
  std::string ts = str("ts");
  if (ts.size() >= 19) ts = ts.substr(0, 10) + " " + ts.substr(11, 8) + "Z";
  out << ts << "  " << std::left << std::setw(15) << str("event");
  if (!str("shop").empty() || !str("buyer").empty()) out << " " << str("shop") << "/" << str("buyer");
  if (j.contains("orders") && j["orders"].is_array() && !j["orders"].empty()) {
    std::string ids;
    for (const auto& o : j["orders"]) ids += (ids.empty() ? "" : ",") + (o.is_string() ? o.get<std::string>() : "?");
    out << "  " << ids;
  }
  if (!str("step").empty()) out << "  " << str("step");
  if (!str("channel").empty()) out << " via " << str("channel");
  if (!str("lang").empty()) out << " (" << str("lang") << ")";
  if (!str("reason").empty()) out << "  because " << str("reason");
  if (!str("due").empty()) out << "  until " << str("due");
  if (j.contains("send_id") && j["send_id"].is_number()) out << "  send " << j["send_id"].get<std::int64_t>();
  if (!str("detail").empty()) out << "  — " << str("detail");
  if (!str("actor").empty()) out << "  asked by " << str("actor");
  return out.str();
}

int tail_audit(const std::string& path, int n, bool follow, bool json, std::ostream& out) {
  auto emit = [&](const std::string& line) {
    out << (json ? line : describe_audit_line(line)) << "\n";
    out.flush();
  };
  std::ifstream in(path, std::ios::binary);
  if (!in && !follow) return 66;
  // Start at the n-th complete line from the end, found by reading blocks backwards:
  // an audit file that logrotate has not cut holds millions of lines.
  if (in) {
    in.seekg(0, std::ios::end);
    std::streamoff pos = in.tellg(), start = 0;
    int newlines = 0;
    std::vector<char> block(1 << 16);
    while (pos > 0 && start == 0) {
      const std::streamoff len = std::min<std::streamoff>(pos, static_cast<std::streamoff>(block.size()));
      pos -= len;
      in.seekg(pos);
      if (!in.read(block.data(), len)) break;
      for (std::streamoff i = len; i-- > 0;)
        if (block[static_cast<size_t>(i)] == '\n' && ++newlines > n) {
          start = pos + i + 1;
          break;
        }
    }
    in.clear();
    in.seekg(start);
  }
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a partial last line: wait for its end when following
    last.push_back(line);
    if (static_cast<int>(last.size()) > n) last.pop_front();
  }
  for (const auto& l : last) emit(l);
  if (!follow) return 0;
  std::string partial = in.eof() ? line : "";
  in.clear();
  struct stat st {};
  ino_t inode = ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  for (;;) {
    std::string chunk;
    char c;
    while (in.get(c)) {
      if (c == '\n') {
        emit(partial);
        partial.clear();
      } else {
        partial += c;
      }
    }
    in.clear();
    // logrotate moved the file away and created a new one: finish the old, follow the new.
    if (::stat(path.c_str(), &st) == 0 && st.st_ino != inode) {
      in.close();
      in.open(path);
      inode = st.st_ino;
      partial.clear();
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace nudge
