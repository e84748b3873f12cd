// The AliExpress channel: sends a payment reminder through the platform's buyer chat
// (/aliexpress/message/send, scene 4 = automatic payment reminder), as text or as an
// order card. Resolves buyer login ids to the numeric ids the API wants with
// /aliexpress/message/session/open (once per buyer: cached in the store's buyer_ids
// table) and can re-check each order with findorderbyid right before sending: orders
// no longer awaiting payment are reported as news (`order_news`, which the service
// ingests) and the send ends kCancelled, so the engine cancels their steps and
// schedules the rest of a merged message again, to be re-rendered without them.
// With several stores (policy `sources`), each message goes with the credentials of
// its own shop's source (`by_shop`); a message is one shop's (the engine claims per
// shop and buyer), so no call mixes two shops' credentials.
// Use only from the io_context thread.
#pragma once

#include "core/store.h"
#include "daemon/aliexpress_client.h"
#include "daemon/channel.h"

namespace nudge {

class AliexpressChannel final : public Channel {
 public:
  // `by_shop` empty: `conf` for every message (the channel's own credentials). Else
  // the message's shop's; with one source only, that source's for any shop.
  AliexpressChannel(boost::asio::io_context& io, IopConf conf, Store* store, bool card, bool verify_before_send,
                    OrderNews order_news, std::map<std::string, IopConf> by_shop = {})
      : io_(io),
        conf_(std::move(conf)),
        by_shop_(std::move(by_shop)),
        store_(store),
        card_(card),
        verify_(verify_before_send),
        order_news_(std::move(order_news)) {}
  void send(const SendJob& job, SendDone done) override;

 private:
  struct Attempt;
  static void verify(std::shared_ptr<Attempt> a, size_t i);
  static void resolve_buyer(std::shared_ptr<Attempt> a);
  static void deliver(std::shared_ptr<Attempt> a, std::int64_t buyer_id);
  static void verified_all(std::shared_ptr<Attempt> a);
  static void on_verified(std::shared_ptr<Attempt> a, size_t i, const IopResult& r);
  static void on_resolved(std::shared_ptr<Attempt> a, const IopResult& r);
  static void on_sent(std::shared_ptr<Attempt> a, const IopResult& r);
  template <class F>
  static void guarded(const std::shared_ptr<Attempt>& a, F&& step);

  boost::asio::io_context& io_;
  IopConf conf_;
  std::map<std::string, IopConf> by_shop_;
  Store* store_;
  bool card_;
  bool verify_;
  OrderNews order_news_;
};

}  // namespace nudge
