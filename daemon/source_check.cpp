#include "daemon/source_check.h"

#include <cmath>
#include <cstdio>

#include <boost/asio/io_context.hpp>

#include "core/aliexpress.h"
#include "core/time_util.h"
#include "daemon/aliexpress_client.h"
#include "daemon/aliexpress_source.h"
#include "daemon/channel.h"
#include "daemon/http_source.h"
#include "daemon/service.h"

namespace nudge {

namespace {

constexpr Millis kCheckTimeout = 15 * kSecond;

std::string in_days(Millis d) {
  char buf[64];
  if (std::llabs(d) < kDay)
    std::snprintf(buf, sizeof buf, "%.1f hours", static_cast<double>(d) / kHour);
  else
    std::snprintf(buf, sizeof buf, "%lld days", static_cast<long long>(d / kDay));
  return buf;
}

std::string token_line(const aliexpress::TokenSet& t, Millis now) {
  if (!t.expires_at) return "expiry unknown (the session file holds a bare token; see docs/channels.md)";
  std::string s = "expires " + format_instant(*t.expires_at);
  if (*t.expires_at <= now) return s + " — EXPIRED " + in_days(now - *t.expires_at) + " ago";
  s += " (in " + in_days(*t.expires_at - now) + ")";
  if (*t.expires_at - now < 7 * kDay)
    s += t.refresh_token.empty() ? " — WARNING: within a week, and no refresh_token_file to renew it"
                                 : " — within a week: nudged refreshes it a day ahead";
  return s;
}

int exit_for(const IopResult& r) { return r.credentials ? kExitNoPerm : kExitUnavailable; }

int check_aliexpress(const Policy& policy, const std::string& credentials_dir, std::ostream& out) {
  const auto& s = policy.source;
  std::string shop = s.get("shop", s.get("app_key"));
  IopConf conf;
  std::string error;
  if (!load_iop_conf(policy, s.settings, credentials_dir, shop, conf, error, /*keep_state=*/false)) {
    out << "source aliexpress: " << error << "\n";
    return kExitConfig;
  }
  conf.may_refresh = false;
  conf.timeout = kCheckTimeout;
  Millis now = SystemClock().now();
  out << "source aliexpress, shop " << shop << ", gateway " << conf.gateway << "\n";
  out << "  access token            " << token_line(conf.auth->tokens, now) << "\n";

  boost::asio::io_context io;
  IopResult list;
  AliexpressCursor first{now, now, 0, 1};
  iop_call(io, conf, aliexpress::kOrderList,
           {{"param_aeop_order_query", AliexpressSource::query(first, 1).dump()}},
           [&](IopResult r) { list = std::move(r); });
  io.run();
  if (list.server_time) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%+.1f s (the gateway's Date minus this machine's clock)",
                  static_cast<double>(*list.server_time - now) / 1000.0);
    out << "  clock skew              " << buf << "\n";
  }
  if (!list.answer) {
    out << "  FAILED: " << list.error << "\n";
    return exit_for(list);
  }
  auto page = aliexpress::read_order_list(*list.answer, shop, 1, now);
  if (!page.error.empty()) {
    out << "  " << aliexpress::kOrderList << ": FAILED: an answer of an unexpected shape: " << page.error << "\n";
    return kExitUnavailable;
  }
  out << "  orders awaiting payment " << page.total_count << "\n";

  bool verifies = false;
  for (const auto& [name, ch] : policy.channels)
    if (ch.type == "aliexpress" && (ch.get("verify_before_send") == "true" || ch.get("verify_before_send") == "yes"))
      verifies = true;
  if (verifies) {
    if (page.records.empty()) {
      out << "  " << aliexpress::kFindOrder << ": not tried (no order to look up)\n";
    } else {
      std::string id = std::get<OrderRecord>(page.records.front()).order_id;
      IopResult found;
      iop_call(io, conf, aliexpress::kFindOrder, {{"param1", nlohmann::json{{"order_id", std::stoll(id)}}.dump()}},
               [&](IopResult r) { found = std::move(r); });
      io.restart();
      io.run();
      if (!found.answer) {
        out << "  FAILED: " << found.error << "\n";
        return exit_for(found);
      }
      auto st = aliexpress::read_find_order(*found.answer, id);
      if (!st.status) {
        out << "  " << aliexpress::kFindOrder << ": FAILED: an answer of an unexpected shape: " << st.error << "\n";
        return kExitUnavailable;
      }
      out << "  " << aliexpress::kFindOrder << " of " << id << ": " << to_string(*st.status)
          << " (verify_before_send works)\n";
    }
  }
  out << "OK\n";
  return 0;
}

int check_http(const Policy& policy, const std::string& credentials_dir, std::ostream& out) {
  const auto& s = policy.source;
  std::string token, error;
  if (!s.get("token_file").empty() && !read_secret(policy, s.get("token_file"), credentials_dir, token, error)) {
    out << "source http: " << error << "\n";
    return kExitConfig;
  }
  out << "source http, " << s.get("url") << "\n";
  boost::asio::io_context io;
  HttpSource src(io, s.get("url"), token, s.get("ca_file"), kCheckTimeout);
  std::optional<SourcePage> page;
  src.fetch(std::nullopt, [&](std::optional<SourcePage> p, std::string e) {
    page = std::move(p);
    error = std::move(e);
  });
  io.run();
  if (!page) {
    out << "  GET: FAILED: " << error << "\n";
    bool refused = error.find("HTTP 401") != std::string::npos || error.find("HTTP 403") != std::string::npos;
    return refused ? kExitNoPerm : kExitUnavailable;
  }
  size_t awaiting = 0;
  for (const auto& r : page->records)
    if (auto* o = std::get_if<OrderRecord>(&r); o && o->status == OrderStatus::kAwaitingPayment) ++awaiting;
  out << "  records on the first page " << page->records.size() << " (" << awaiting << " orders awaiting payment)\n";
  out << "OK\n";
  return 0;
}

}  // namespace

int check_source(const Policy& policy, const std::string& credentials_dir, std::ostream& out) {
  if (policy.source.type == "aliexpress") return check_aliexpress(policy, credentials_dir, out);
  if (policy.source.type == "http") return check_http(policy, credentials_dir, out);
  out << "source inbox: the local inbox needs no network and no credentials\nOK\n";
  return 0;
}

}  // namespace nudge
