// The AliExpress order source: polls aliexpress.trade.seller.orderlist.get for the
// orders awaiting payment, then for every order modified since the last poll (minus
// an overlap, as the gateway's modification times lag) in two queries, the open
// statuses and FINISH alone (the gateway answers finished orders only to a FINISH
// query), each bounded by a create-date window as the API asks. One page per fetch,
// so a throttled or failing gateway costs a retry of one page, not of the whole
// poll; an answer of an unexpected shape fails its page and moves nothing.
// Times go out and come back in US Pacific time. Use only from the io_context thread.
#pragma once

#include <memory>

#include "daemon/aliexpress_client.h"
#include "daemon/source.h"

namespace nudge {

// Where a poll stands. Between polls the cursor is the UTC instant the last complete
// poll began ("1795168800000"); inside one it also names the query and page to fetch
// next ("p|started|since|query|page").
inline constexpr int kLastQuery = 2;

struct AliexpressCursor {
  Millis started = 0;  // when this poll began: the end of its modified-since window
  Millis since = 0;    // the start of that window
  int query = 0;       // 0: awaiting payment, 1: open orders modified in the window, 2: finished ones
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

  // The param_aeop_order_query of the page `at` (AeopOrderQuery).
  static nlohmann::json query(const AliexpressCursor& at, int page_size);

 private:
  // Turns one answer into a page and the cursor after it. Calls `done` once.
  static void read_page(const IopResult& r, const AliexpressCursor& at, const std::string& shop, int page_size,
                        const FetchDone& done);

  boost::asio::io_context& io_;
  IopConf conf_;
  std::string shop_;
  int page_size_;
  Millis overlap_;
};

}  // namespace nudge
