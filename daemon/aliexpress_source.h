// The AliExpress order source: polls aliexpress.trade.seller.orderlist.get for the
// orders awaiting payment and for every order modified since the last poll (minus an
// overlap, as the gateway's modification times lag), one page per fetch, so a
// throttled or failing gateway costs a retry of one page, not of the whole poll.
// Times go out and come back in US Pacific time. Use only from the io_context thread.
#pragma once

#include <memory>

#include "daemon/aliexpress_client.h"
#include "daemon/source.h"

namespace nudge {

// Where a poll stands. Between polls the cursor is the UTC instant the last complete
// poll began ("1795168800000"); inside one it also names the query and page to fetch
// next ("p|started|since|query|page").
struct AliexpressCursor {
  Millis started = 0;  // when this poll began: the end of its modified-since window
  Millis since = 0;    // the start of that window
  int query = 0;       // 0: orders awaiting payment, 1: orders modified in the window
  int page = 1;
  std::string to_string() const;
  // A new poll at `now` after `cursor`, or the page `cursor` says comes next.
  static AliexpressCursor next(const std::optional<std::string>& cursor, Millis now, Millis overlap);
};

class AliexpressSource final : public Source {
 public:
  // `shop` names the records (the app key: one authorised seller per source).
  AliexpressSource(boost::asio::io_context& io, IopConf conf, std::string shop, int page_size, Millis overlap)
      : io_(io), conf_(std::move(conf)), shop_(std::move(shop)), page_size_(page_size), overlap_(overlap) {}

  void fetch(const std::optional<std::string>& cursor, FetchDone done) override;

 private:
  // Turns one answer into a page and the cursor after it. Calls `done` once, unless it throws first.
  static void read_page(const IopResult& r, const AliexpressCursor& at, const std::string& shop, int page_size,
                        const FetchDone& done);

  boost::asio::io_context& io_;
  IopConf conf_;
  std::string shop_;
  int page_size_;
  Millis overlap_;
};

}  // namespace nudge
