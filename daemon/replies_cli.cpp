#include "daemon/replies_cli.h"

#include <pwd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/feed.h"
#include "daemon/remind.h"
#include "core/time_util.h"

namespace nudge {

int write_reply(Store& store, Millis now, const ReplyByHand& r, std::ostream& out, std::ostream& err) {
  nlohmann::json j{{"type", "reply"},
                   {"shop", r.shop},
                   {"buyer_id", r.buyer},
                   {"text", r.text},
                   {"at", r.at.empty() ? format_instant(now) : r.at},
                   {"channel", "manual"},
                   {"message_id", r.message_id.empty()
                                      ? "manual-" + std::to_string(now) + "-" + std::to_string(::getpid())
                                      : r.message_id}};
  // Invalid UTF-8 in the text is replaced, not refused: a pasted e-mail may carry any bytes.
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  FeedRecord rec = parse_feed_line(line);
  if (auto* bad = std::get_if<RejectedRecord>(&rec)) {
    err << "nudgectl reply: " << bad->reason << "\n";
    return 65;
  }
  WriteTx tx(store);
  auto& s = store.stmt("INSERT INTO inbox(received_at, line) VALUES(?, ?)");
  s.bind(1, static_cast<int64_t>(now));
  s.bind(2, line);
  s.exec();
  tx.commit();
  const auto& rp = std::get<ReplyRecord>(rec);
  out << "reply " << rp.message_id << " from " << rp.shop << "/" << rp.buyer_id
      << " added to the inbox; nudged takes it at its next poll\n";
  return 0;
}

void print_flags(Store& store, const std::string& shop, bool all, bool json, std::ostream& out) {
  std::string sql =
      "SELECT id, shop, buyer_id, category, matched, text, channel, message_id, at, cleared_at, cleared_by FROM flags";
  std::string where;
  if (!all) where = " WHERE cleared_at IS NULL";
  if (!shop.empty()) where += where.empty() ? " WHERE shop=?" : " AND shop=?";
  SQLite::Statement q(store.db(), sql + where + " ORDER BY at DESC, id DESC");
  if (!shop.empty()) q.bind(1, shop);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  while (q.executeStep()) {
    nlohmann::ordered_json f{{"id", q.getColumn(0).getInt64()},
                             {"shop", q.getColumn(1).getString()},
                             {"buyer", q.getColumn(2).getString()},
                             {"reason", "off_platform_request:" + q.getColumn(3).getString()},
                             {"matched", q.getColumn(4).getString()},
                             {"text", q.getColumn(5).getString()},
                             {"channel", q.getColumn(6).getString()},
                             {"message_id", q.getColumn(7).getString()},
                             {"at", format_instant(q.getColumn(8).getInt64())},
                             {"cleared_at", nullptr},
                             {"cleared_by", nullptr}};
    if (!q.getColumn(9).isNull()) {
      f["cleared_at"] = format_instant(q.getColumn(9).getInt64());
      f["cleared_by"] = q.getColumn(10).getString();
    }
    list.push_back(std::move(f));
  }
  if (json) {
    out << list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  if (list.empty()) {
    out << (all ? "no flags\n" : "no open flags\n");
    return;
  }
  for (const auto& f : list) {
    out << "flag " << f["id"].get<std::int64_t>() << "  " << f["at"].get<std::string>() << "  "
        << f["shop"].get<std::string>() << "/" << f["buyer"].get<std::string>() << "  "
        << f["reason"].get<std::string>() << " (\"" << f["matched"].get<std::string>() << "\") via "
        << f["channel"].get<std::string>();
    if (!f["cleared_at"].is_null())
      out << "  cleared " << f["cleared_at"].get<std::string>() << " by " << f["cleared_by"].get<std::string>();
    // The buyer's text, without what a terminal would act on (escape sequences, CR).
    std::string text = f["text"].get<std::string>();
    for (auto& ch : text)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
    out << "\n  > " << text << "\n";
  }
  if (!all) out << "clear one with: nudgectl flags clear ID\n";
}

}  // namespace nudge
