#include "daemon/remind.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/manual.h"
#include "core/store.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

namespace {

constexpr int kRefused = 1, kExitUsage = 64, kExitTempFail = 75, kExitNoInput = 66, kExitCantCreate = 73;

struct Pending {
  std::string order, buyer, tz, country;
  bool decided = false;
  int rc = 0;
  nlohmann::ordered_json result;
};

}  // namespace

std::string unix_actor() {
  uid_t uid = getuid();
  std::string name = std::to_string(uid);
  if (const passwd* pw = getpwuid(uid); pw && pw->pw_name) name = pw->pw_name;
  if (uid == 0)
    if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) name = std::string(sudo) + " via sudo";
  return name;
}

int remind_orders(const Policy& policy, const RemindRequest& req, std::ostream& out, std::ostream& err) {
  for (const auto& [what, name, known] :
       {std::tuple{"channel", req.channel, policy.channels.count(req.channel) > 0},
        std::tuple{"template", req.tmpl, policy.templates.count(req.tmpl) > 0}}) {
    if (!name.empty() && !known) {
      std::string error;
      manual_step(policy, "", req.channel, req.tmpl, error);
      err << "nudgectl remind: " << error << "\n";
      return kExitUsage;
    }
  }
  std::string error;
  auto store = Store::open(policy.store, error, Store::Mode::kReadWrite);
  if (!store) {
    err << "nudgectl: " << error << "\n";
    return kExitNoInput;
  }
  // What nudged would refuse, said at once: the order unknown, paid, a manual reminder already waiting.
  std::vector<Pending> pending;
  int rc = 0;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  auto refuse = [&](const std::string& order, const std::string& reason, const std::string& why) {
    rc = kRefused;
    if (req.json)
      results.push_back({{"order", order}, {"shop", req.shop}, {"outcome", "refused"}, {"reason", reason},
                         {"detail", why}});
    else
      err << "nudgectl remind: order " << order << " of shop " << req.shop << ": " << why << "\n";
  };
  for (const auto& order : req.orders) {
    SQLite::Statement q(store->db(),
                        "SELECT o.status, o.status_at, o.buyer_id, o.buyer_tz, o.buyer_country, COALESCE(o.campaign,''), "
                        "(SELECT state FROM schedule s WHERE s.shop=o.shop AND s.order_id=o.order_id AND s.step=?) "
                        "FROM orders o WHERE o.shop=? AND o.order_id=?");
    q.bind(1, kManualStep);
    q.bind(2, req.shop);
    q.bind(3, order);
    if (!q.executeStep()) {
      refuse(order, "unknown_order", "no such order (nudged has not seen it)");
      continue;
    }
    std::string status = q.getColumn(0).getString();
    std::string detail;
    std::string reason =
        manual_refusal(status, q.getColumn(6).isNull() ? "" : q.getColumn(6).getString(), detail);
    if (!reason.empty()) {
      if (status != "awaiting_payment") detail += " (since " + format_instant(q.getColumn(1).getInt64()) + ")";
      refuse(order, reason, detail);
      continue;
    }
    std::string step_error;
    if (!manual_step(policy, q.getColumn(5).getString(), req.channel, req.tmpl, step_error)) {
      refuse(order, "no_channel", step_error);
      continue;
    }
    pending.push_back({order, q.getColumn(2).getString(), q.getColumn(3).getString(), q.getColumn(4).getString()});
  }
  std::int64_t after_seq = 0;
  if (!pending.empty()) {
    SystemClock clock;
    try {
      WriteTx tx(*store);
      after_seq = store->db().execAndGet("SELECT COALESCE(MAX(seq), 0) FROM audit").getInt64();
      for (const auto& p : pending) {
        nlohmann::ordered_json rec{{"type", "remind"}, {"shop", req.shop}, {"order_id", p.order}};
        if (!req.channel.empty()) rec["channel"] = req.channel;
        if (!req.tmpl.empty()) rec["template"] = req.tmpl;
        rec["actor"] = req.actor;
        rec["at"] = format_instant(clock.now());
        auto& s = store->stmt("INSERT INTO inbox(received_at, line) VALUES(?, ?)");
        s.bind(1, static_cast<int64_t>(clock.now()));
        s.bind(2, rec.dump());
        s.exec();
      }
      tx.commit();
    } catch (const std::exception& e) {
      err << "nudgectl: writing to the inbox failed: " << e.what() << "\n";
      return kExitCantCreate;
    }
  }
  // nudged's decision: the first line about each order's manual step after ours that
  // ends the question (sent, deferred, skipped, failed, cancelled, or a rejection).
  static const std::set<std::string> kFinal = {"sent", "deferred", "skipped", "failed", "cancelled", "order_rejected",
                                                "in_doubt"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(req.wait);
  size_t open = req.wait > 0 ? pending.size() : 0;
  while (open > 0) {
    SQLite::Statement q(store->db(), "SELECT seq, event, line FROM audit WHERE seq > ? AND shop=? ORDER BY seq");
    q.bind(1, static_cast<int64_t>(after_seq));
    q.bind(2, req.shop);
    while (q.executeStep()) {
      after_seq = q.getColumn(0).getInt64();
      std::string event = q.getColumn(1).getString();
      if (!kFinal.count(event)) continue;
      auto j = nlohmann::json::parse(q.getColumn(2).getString(), nullptr, false);
      if (!j.is_object() || !j["orders"].is_array()) continue;
      bool manual = j.value("step", nlohmann::json()).is_string() && j["step"] == kManualStep;
      if (j.contains("steps") && j["steps"].is_object())  // a merged message: each order's own step
        manual = false;
      for (auto& p : pending) {
        if (p.decided) continue;
        bool about = false;
        for (const auto& o : j["orders"]) about = about || (o.is_string() && o.get<std::string>() == p.order);
        if (!about) continue;
        if (j.contains("steps") && j["steps"].is_object()) manual = j["steps"].value(p.order, "") == kManualStep;
        if (!manual && event != "order_rejected") continue;
        p.decided = true;
        --open;
        std::string reason = j["reason"].is_string() ? j["reason"].get<std::string>() : "";
        std::string detail = j["detail"].is_string() ? j["detail"].get<std::string>() : "";
        p.result = {{"order", p.order}, {"shop", req.shop}, {"outcome", event}};
        if (!reason.empty()) p.result["reason"] = reason;
        if (event == "sent") {
          p.result["channel"] = j.value("channel", "");
          p.result["template"] = j.value("template", "");
          if (!req.json)
            out << "order " << p.order << ": reminder sent to buyer " << p.buyer << " by " << j.value("channel", "")
                << " (template " << j.value("template", "") << ")\n";
        } else if (event == "deferred") {
          std::string due = j["due"].is_string() ? j["due"].get<std::string>() : "";
          p.result["due"] = due;
          std::string local;
          if (auto t = parse_instant(due)) local = format_local(*t, buyer_zone(policy, p.tz, p.country));
          if (!local.empty()) p.result["due_local"] = local;
          if (!req.json) {
            out << "order " << p.order << ": reminder deferred to " << due;
            if (!local.empty()) out << " (" << local << " for the buyer)";
            out << (reason == "quiet_hours" ? ": the buyer's quiet hours; it goes out in their morning"
                                            : ": " + reason + " (a cap: it goes out when the buyer's window allows)")
                << "\n";
          }
        } else {
          p.rc = kRefused;
          if (!detail.empty()) p.result["detail"] = detail;
          if (!req.json)
            err << "nudgectl remind: order " << p.order << " of shop " << req.shop << ": " << event
                << (reason.empty() ? "" : " (" + reason + ")") << (detail.empty() ? "" : ": " + detail) << "\n";
        }
      }
    }
    if (open == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& p : pending) {
    if (!p.decided) {
      p.result = {{"order", p.order}, {"shop", req.shop}, {"outcome", req.wait > 0 ? "no_answer" : "queued"}};
      if (req.wait > 0) {
        rc = rc ? rc : kExitTempFail;
        if (!req.json)
          err << "nudgectl remind: order " << p.order << ": nudged has not decided within " << format_duration(req.wait)
              << " (is it running? `systemctl status nudged`); the reminder stays in the inbox and goes out when "
                 "nudged reads it\n";
      } else if (!req.json) {
        out << "order " << p.order << ": manual reminder written to the inbox\n";
      }
    }
    if (p.rc) rc = p.rc;
    results.push_back(p.result);
  }
  if (req.json) out << results.dump(2) << "\n";
  return rc;
}

}  // namespace nudge
