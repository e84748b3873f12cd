// The AliExpress order source: polls aliexpress.trade.seller.orderlist.get for the
// orders awaiting payment and for every order modified since the cursor (minus an
// overlap, as the gateway's modification times lag), paging through each query.
// Times go out and come back in US Pacific time. Use only from the io_context thread.
#pragma once

#include <memory>

#include "daemon/aliexpress_client.h"
#include "daemon/source.h"

namespace nudge {

class AliexpressSource final : public Source {
 public:
  // `shop` names the records (the app key: one authorised seller per source).
  AliexpressSource(boost::asio::io_context& io, IopConf conf, std::string shop, int page_size, Millis overlap)
      : io_(io), conf_(std::move(conf)), shop_(std::move(shop)), page_size_(page_size), overlap_(overlap) {}

  // The cursor is the UTC millisecond instant the last complete poll began.
  void fetch(const std::optional<std::string>& cursor, FetchDone done) override;

 private:
  struct Poll;
  static void query(std::shared_ptr<Poll> poll);

  boost::asio::io_context& io_;
  IopConf conf_;
  std::string shop_;
  int page_size_;
  Millis overlap_;
};

}  // namespace nudge
