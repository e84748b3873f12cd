// Reads AliExpress buyer chat for buyers' replies (docs/replies.md): the buyers with
// open steps or a reminder within replies.watch, each at most every replies.every,
// one /aliexpress/message/history/list call at a time at half the aliexpress
// channel's rate (the other half stays for the reminders). A cursor per buyer is kept
// in source_state ("aliexpress_chat:<shop>/<buyer>") in the transaction that takes
// the page's replies, so a message is read once across restarts. A buyer whose reply
// raised a flag gets their chat tagged for the seller's attention
// (/aliexpress/message/session/tag/update, tag_code 0). Use only from the io_context thread.
#pragma once

#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/clock.h"
#include "core/feed.h"
#include "core/policy.h"
#include "core/store.h"
#include "daemon/aliexpress_client.h"

namespace nudge {

class ChatPoller {
 public:
  // Ingests one page of replies and stores `cursor` for `source`, in one transaction;
  // throws on a store fault.
  using Take = std::function<void(const std::vector<FeedRecord>& replies, const std::string& source,
                                  const std::string& cursor)>;

  ChatPoller(boost::asio::io_context& io, Clock& clock, Store& store, Take take);
  ~ChatPoller();

  // Reads chat through the policy's first aliexpress channel (its IOP settings), or
  // stops when there is none or replies.every is 0. False (and `error`) when the
  // channel's settings cannot be loaded; the poller is then stopped.
  bool apply(const Policy& policy, const std::string& credentials_dir, std::string& error);
  void stop();

 private:
  struct Watched {
    std::string shop, buyer, platform_id;
  };
  void arm(Millis delay);
  void tick();
  bool refill(Millis now);
  void poll(const Watched& w);
  void on_page(const Watched& w, const std::string& cursor, const IopResult& r);

  boost::asio::io_context& io_;
  Clock& clock_;
  Store& store_;
  Take take_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool running_ = false, busy_ = false;
  IopConf conf_;
  // Several stores (policy sources:) and a channel without credentials of its own:
  // each shop's chat is read with its source's credentials, as the channel sends.
  std::map<std::string, IopConf> by_shop_;
  const IopConf* conf_for(const std::string& shop) const;
  Millis every_ = 0, watch_ = 0, spacing_ = kSecond;
  std::deque<Watched> queue_;  // buyers to read now
  static constexpr int kChatChunk = 500;
  std::pair<std::string, std::string> walk_;  // (shop, login id) the walk of buyer_ids is past
  bool found_ = false;                        // a buyer to read found in this round
  std::string last_error_;
};

}  // namespace nudge
