#include "daemon/source.h"

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
    int page = 500;
    try {
      page = std::stoi(conf.get("page_size", "500"));
    } catch (const std::exception&) {
    }
    return std::make_unique<InboxSource>(ctx.store, page);
  }
  error = "source type '" + conf.type + "' is not available in this build yet";
  return nullptr;
}

}  // namespace nudge
