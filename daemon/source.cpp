#include "daemon/source.h"

#include <algorithm>

#include "core/time_util.h"
#include "daemon/aliexpress_client.h"
#include "daemon/aliexpress_source.h"
#include "daemon/channel.h"
#include "daemon/http_source.h"

namespace nudge {

void InboxSource::fetch(const std::optional<std::string>& cursor, FetchDone done) {
  std::int64_t after = 0;
  try {
    if (cursor) after = std::stoll(*cursor);
  } catch (const std::exception&) {
    after = 0;
  }
  SourcePage page;
  try {
    auto& q = store_.stmt("SELECT id, line FROM inbox WHERE id > ? ORDER BY id LIMIT ?");
    q.bind(1, static_cast<int64_t>(after));
    q.bind(2, page_size_);
    std::int64_t last = after;
    int n = 0;
    while (q.executeStep()) {
      last = q.getColumn(0).getInt64();
      page.records.push_back(parse_feed_line(q.getColumn(1).getString()));
      ++n;
    }
    q.reset();
    page.cursor = std::to_string(last);
    page.more = n == page_size_;
  } catch (const std::exception& e) {
    done(std::nullopt, std::string("reading the inbox failed: ") + e.what());
    return;
  }
  done(std::move(page), "");
}

std::unique_ptr<Source> make_source(const SourceConf& conf, SourceContext& ctx, std::string& error) {
  if (conf.type == "inbox") {
    // A page is one transaction: bigger pages share the pages of the store's indexes
    // (by buyer, written at random places) among more orders, so a big first sync
    // writes less at each commit.
    int page = 2000;
    try {
      page = std::stoi(conf.get("page_size", "2000"));
    } catch (const std::exception&) {
    }
    return std::make_unique<InboxSource>(ctx.store, page);
  }
  // Sources have no timeout setting: wait about one poll interval, within reason.
  Millis timeout = std::clamp(conf.every, 2 * kSecond, 30 * kSecond);
  if (conf.type == "http") {
    if (!parse_url(conf.get("url"))) {
      error = "source: url must be an http:// or https:// URL";
      return nullptr;
    }
    std::string token;
    if (!conf.get("token_file").empty() &&
        !read_secret(ctx.policy, conf.get("token_file"), ctx.credentials_dir, token, error)) {
      error = "source: " + error;
      return nullptr;
    }
    return std::make_unique<HttpSource>(ctx.io, conf.get("url"), token, conf.get("ca_file"), timeout);
  }
  if (conf.type == "aliexpress") {
    // The shop id the records carry (and the caps are kept per): the policy's `shop`,
    // by default the app key (one authorised seller per source).
    std::string shop = conf.get("shop", conf.get("app_key"));
    IopConf iop;
    if (!load_iop_conf(ctx.policy, conf.settings, ctx.credentials_dir, shop, iop, error)) {
      error = "source: " + error;
      return nullptr;
    }
    iop.timeout = timeout;
    int page = 50;
    try {
      page = std::stoi(conf.get("page_size", "50"));
    } catch (const std::exception&) {
    }
    auto overlap = parse_duration(conf.get("overlap", "10m"));
    if (!overlap) {
      error = "source: overlap must be a duration like 10m, not '" + conf.get("overlap") + "'";
      return nullptr;
    }
    return std::make_unique<AliexpressSource>(ctx.io, std::move(iop), shop, page, *overlap);
  }
  error = "source type '" + conf.type + "' is not available in this build yet";
  return nullptr;
}

}  // namespace nudge
