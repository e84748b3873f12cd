#include "daemon/aliexpress_channel.h"

#include <algorithm>

#include "core/aliexpress.h"

namespace nudge {

namespace {

using aliexpress::kFindOrder;
using aliexpress::kMessageSend;
using aliexpress::kSessionOpen;

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

Outcome failure(const IopResult& r) { return r.transient ? Outcome::kTransient : Outcome::kPermanent; }

}  // namespace

// One send's state, shared by the chain of gateway calls. Holds copies, so a reload
// that replaces the channel does not pull the settings from under a send in flight.
struct AliexpressChannel::Attempt {
  boost::asio::io_context* io;
  IopConf conf;
  Store* store;
  bool card;
  OrderNews order_news;
  SendJob job;
  SendDone done_once;
  bool finished = false;
  std::vector<StatusRecord> no_longer_awaiting;  // found by verify_before_send
  void done(Outcome o, const std::string& error) {
    if (finished) return;
    finished = true;
    done_once(o, error);
  }
};

// Runs one step of a send; an exception (nlohmann on a value of the wrong type, the
// store) ends the send as transient instead of reaching the loop.
template <class F>
void AliexpressChannel::guarded(const std::shared_ptr<Attempt>& a, F&& step) {
  try {
    step();
  } catch (const std::exception& e) {
    a->done(Outcome::kTransient, std::string("the gateway's answer could not be handled: ") + e.what());
  }
}

void AliexpressChannel::send(const SendJob& job, SendDone done) {
  if (job.order_ids.empty()) {
    done(Outcome::kPermanent, "a reminder without an order");
    return;
  }
  const IopConf* conf = &conf_;
  if (!by_shop_.empty()) {
    auto it = by_shop_.find(job.shop);
    if (it != by_shop_.end())
      conf = &it->second;
    else if (by_shop_.size() == 1)
      conf = &by_shop_.begin()->second;
    else {
      done(Outcome::kPermanent, "no aliexpress source for shop '" + job.shop + "': its credentials are unknown");
      return;
    }
  }
  auto a = std::make_shared<Attempt>(Attempt{&io_, *conf, store_, card_, order_news_, job, std::move(done)});
  if (verify_)
    verify(std::move(a), 0);
  else
    resolve_buyer(std::move(a));
}

// Re-reads each order just before sending: one paid since the last poll must not
// be reminded (G2). findorderbyid's param1 is AeopTpSingleOrderQuery, whose order_id
// is a Long: sent as a JSON number, as the SDK sends it.
void AliexpressChannel::verify(std::shared_ptr<Attempt> a, size_t i) {
  if (i == a->job.order_ids.size()) {
    verified_all(std::move(a));
    return;
  }
  const std::string& id = a->job.order_ids[i];
  if (!all_digits(id)) {
    a->done(Outcome::kPermanent, "verify_before_send: order id '" + id + "' is not an AliExpress order number");
    return;
  }
  nlohmann::json q = {{"order_id", std::stoll(id)}};
  iop_call(*a->io, a->conf, kFindOrder, {{"param1", q.dump()}},
           [a, i](IopResult r) { guarded(a, [&] { on_verified(a, i, r); }); });
}

void AliexpressChannel::on_verified(std::shared_ptr<Attempt> a, size_t i, const IopResult& r) {
  if (!r.answer) {
    a->done(failure(r), "verify_before_send: " + r.error);
    return;
  }
  const std::string& id = a->job.order_ids[i];
  auto state = aliexpress::read_find_order(*r.answer, id);
  if (!state.status) {
    a->done(Outcome::kTransient, std::string("verify_before_send: ") + kFindOrder + ": " + state.error);
    return;
  }
  if (*state.status != OrderStatus::kAwaitingPayment)
    a->no_longer_awaiting.push_back({a->job.shop, id, *state.status, SystemClock().now()});
  verify(a, i + 1);
}

// Orders no longer awaiting payment: hand their news over and end the send
// cancelled; the engine cancels their steps and puts the others back to be claimed
// (and rendered) again without them.
void AliexpressChannel::verified_all(std::shared_ptr<Attempt> a) {
  if (a->no_longer_awaiting.empty()) {
    resolve_buyer(std::move(a));
    return;
  }
  std::string why;
  std::vector<FeedRecord> news;
  for (const auto& s : a->no_longer_awaiting) {
    why += (why.empty() ? "" : ", ") + s.order_id + " " + to_string(s.status);
    news.emplace_back(s);
  }
  if (a->order_news) a->order_news(std::move(news));
  a->done(Outcome::kCancelled, a->no_longer_awaiting.size() == 1 && a->job.order_ids.size() == 1
                                   ? to_string(a->no_longer_awaiting.front().status)
                                   : "verify_before_send: " + why);
}

// The platform's numeric buyer id: from the cache, else from session/open, whose one
// parameter im_session_open_dto is AeImSessionOpenDTO {buyer_login_id, buyer_id}.
void AliexpressChannel::resolve_buyer(std::shared_ptr<Attempt> a) {
  const std::string& login = a->job.buyer_id;
  if (a->store) {
    try {
      auto& q = a->store->stmt("SELECT platform_id FROM buyer_ids WHERE shop=? AND login_id=?");
      q.bind(1, a->job.shop);
      q.bind(2, login);
      std::string cached = q.executeStep() ? q.getColumn(0).getString() : "";
      q.reset();
      if (all_digits(cached)) {
        deliver(std::move(a), std::stoll(cached));
        return;
      }
    } catch (const std::exception&) {
      // The cache is an optimisation: ask the gateway instead.
    }
  }
  nlohmann::json dto = {{"buyer_login_id", login}};
  iop_call(*a->io, a->conf, kSessionOpen, {{"im_session_open_dto", dto.dump()}},
           [a](IopResult r) { guarded(a, [&] { on_resolved(a, r); }); });
}

void AliexpressChannel::on_resolved(std::shared_ptr<Attempt> a, const IopResult& r) {
  if (!r.answer) {
    a->done(failure(r), "resolving the buyer id: " + r.error);
    return;
  }
  auto s = aliexpress::read_session_open(*r.answer);
  if (!s.buyer_id) {
    a->done(s.refused ? Outcome::kPermanent : Outcome::kTransient,
            std::string("resolving the buyer id: ") + kSessionOpen + ": " + s.error);
    return;
  }
  if (a->store) {
    try {
      auto& ins = a->store->stmt(
          "INSERT INTO buyer_ids(shop, login_id, platform_id, at) VALUES(?,?,?,?) "
          "ON CONFLICT(shop, login_id) DO UPDATE SET platform_id=excluded.platform_id, at=excluded.at");
      ins.bind(1, a->job.shop);
      ins.bind(2, a->job.buyer_id);
      ins.bind(3, std::to_string(*s.buyer_id));
      ins.bind(4, static_cast<int64_t>(SystemClock().now()));
      ins.exec();
      ins.reset();
    } catch (const std::exception&) {
      // Not cached: resolved again next time. The reminder still goes out.
    }
  }
  deliver(a, *s.buyer_id);
}

// im_send_message_dto is AeImSendMessageDTO: buyer_id (Long), scene_id 4 (automatic
// payment reminder), template_id 1 (text) or 10007 (order card), message_content_dto.
void AliexpressChannel::deliver(std::shared_ptr<Attempt> a, std::int64_t buyer_id) {
  nlohmann::json content;
  content["order_id"] = a->job.order_ids.front();
  if (!a->card) content["txt"] = a->job.subject + "\n" + a->job.body;
  nlohmann::json dto = {
      {"buyer_id", buyer_id}, {"scene_id", 4}, {"template_id", a->card ? 10007 : 1}, {"message_content_dto", content}};
  iop_call(*a->io, a->conf, kMessageSend, {{"im_send_message_dto", dto.dump()}},
           [a](IopResult r) { guarded(a, [&] { on_sent(a, r); }); });
}

void AliexpressChannel::on_sent(std::shared_ptr<Attempt> a, const IopResult& r) {
  if (!r.answer) {
    a->done(failure(r), r.error);
    return;
  }
  auto s = aliexpress::read_message_send(*r.answer);
  switch (s.kind) {
    case aliexpress::SendAnswer::kSent:
      a->done(Outcome::kSent, "");
      return;
    case aliexpress::SendAnswer::kRefused:
      a->done(Outcome::kPermanent, s.error);
      return;
    case aliexpress::SendAnswer::kUnknown:
      a->done(Outcome::kTransient, s.error);
      return;
  }
}

}  // namespace nudge
