// Sources bring pages of order records since a cursor. fetch() must not block the
// loop and calls `done` exactly once, on the loop thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <utility>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/feed.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

struct SourcePage {
  std::vector<FeedRecord> records;
  std::optional<std::string> cursor;  // stored with the page, in its transaction
  bool more = false;                  // another page is ready now: fetch again at once
};

using FetchDone = std::function<void(std::optional<SourcePage> page, std::string error)>;

class Source {
 public:
  virtual ~Source() = default;
  virtual void fetch(const std::optional<std::string>& cursor, FetchDone done) = 0;
};

struct SourceContext {
  boost::asio::io_context& io;
  boost::asio::thread_pool& workers;
  const Policy& policy;
  Store& store;
  std::string credentials_dir;
};

std::unique_ptr<Source> make_source(const SourceConf& conf, SourceContext& ctx, std::string& error);

// The embedded default: the store's inbox table, which `nudgectl orders import` and
// any SQLite client fill. The cursor is the last inbox row id taken.
class InboxSource final : public Source {
 public:
  InboxSource(Store& store, int page_size) : store_(store), page_size_(page_size) {}
  void fetch(const std::optional<std::string>& cursor, FetchDone done) override;

 private:
  Store& store_;
  int page_size_;
};

}  // namespace nudge
