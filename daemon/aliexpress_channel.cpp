#include "daemon/aliexpress_channel.h"

#include <algorithm>

#include "core/aliexpress.h"

namespace nudge {

namespace {

constexpr const char* kFindOrder = "aliexpress.trade.new.redefining.findorderbyid";
constexpr const char* kSessionOpen = "/aliexpress/message/session/open";
constexpr const char* kMessageSend = "/aliexpress/message/send";

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

Outcome failure(const IopResult& r) { return r.transient ? Outcome::kTransient : Outcome::kPermanent; }

// The id in {"result": {"buyer_id": ...}} (or at the top level), as text.
std::string buyer_id_in(const nlohmann::json& answer) {
  for (const nlohmann::json* j : {answer.contains("result") ? &answer["result"] : nullptr, &answer}) {
    if (!j || !j->is_object() || !j->contains("buyer_id")) continue;
    const auto& v = (*j)["buyer_id"];
    if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
    if (v.is_string()) return v.get<std::string>();
  }
  return "";
}

}  // namespace

// One send's state, shared by the chain of gateway calls. Holds copies, so a reload
// that replaces the channel does not pull the settings from under a send in flight.
struct AliexpressChannel::Attempt {
  boost::asio::io_context* io;
  IopConf conf;
  Store* store;
  bool card;
  SendJob job;
  SendDone done_once;
  bool finished = false;
  void done(Outcome o, const std::string& error) {
    if (finished) return;
    finished = true;
    done_once(o, error);
  }
};

// Runs one step of a send; an answer of an unexpected shape (nlohmann throws on
// a value of the wrong type) ends the send as transient instead of reaching the loop.
template <class F>
void AliexpressChannel::guarded(const std::shared_ptr<Attempt>& a, F&& step) {
  try {
    step();
  } catch (const std::exception&) {
    a->done(Outcome::kTransient, "the gateway's answer had an unexpected shape");
  }
}

void AliexpressChannel::send(const SendJob& job, SendDone done) {
  if (job.order_ids.empty()) {
    done(Outcome::kPermanent, "a reminder without an order");
    return;
  }
  auto a = std::make_shared<Attempt>(Attempt{&io_, conf_, store_, card_, job, std::move(done)});
  if (verify_)
    verify(std::move(a), 0);
  else
    resolve_buyer(std::move(a));
}

// Re-reads each order just before sending: one paid since the last poll must not
// be reminded (G2), so the send ends kCancelled with the reason the audit shows.
void AliexpressChannel::verify(std::shared_ptr<Attempt> a, size_t i) {
  if (i == a->job.order_ids.size()) {
    resolve_buyer(std::move(a));
    return;
  }
  nlohmann::json q = {{"order_id", a->job.order_ids[i]}};
  iop_call(*a->io, a->conf, kFindOrder, {{"param1", q.dump()}},
           [a, i](IopResult r) { guarded(a, [&] { on_verified(a, i, r); }); });
}

void AliexpressChannel::on_verified(std::shared_ptr<Attempt> a, size_t i, const IopResult& r) {
  if (!r.answer) {
    a->done(failure(r), "verify_before_send: " + r.error);
    return;
  }
  const nlohmann::json* target = nullptr;
  for (auto it = r.answer->begin(); it != r.answer->end(); ++it)
    if (it->is_object() && it->contains("result") && (*it)["result"].is_object()) target = &(*it)["result"];
  if (!target) {
    a->done(Outcome::kTransient, std::string("verify_before_send: ") + kFindOrder + " answered without a result");
    return;
  }
  auto status =
      aliexpress::map_status(target->value("order_status", std::string()), target->value("end_reason", std::string()));
  if (!status) {
    a->done(Outcome::kTransient, "verify_before_send: order " + a->job.order_ids[i] + " has an unknown status");
    return;
  }
  if (*status != OrderStatus::kAwaitingPayment) {
    a->done(Outcome::kCancelled, to_string(*status));
    return;
  }
  verify(a, i + 1);
}

void AliexpressChannel::resolve_buyer(std::shared_ptr<Attempt> a) {
  const std::string& login = a->job.buyer_id;
  if (all_digits(login)) {
    deliver(std::move(a), login);
    return;
  }
  if (a->store) {
    try {
      auto& q = a->store->stmt("SELECT platform_id FROM buyer_ids WHERE shop=? AND login_id=?");
      q.bind(1, a->job.shop);
      q.bind(2, login);
      std::string cached = q.executeStep() ? q.getColumn(0).getString() : "";
      q.reset();
      if (!cached.empty()) {
        deliver(std::move(a), cached);
        return;
      }
    } catch (const std::exception&) {
      // The cache is an optimisation: ask the gateway instead.
    }
  }
  iop_call(*a->io, a->conf, kSessionOpen, {{"buyer_login_id", login}, {"order_id", a->job.order_ids.front()}},
           [a](IopResult r) { guarded(a, [&] { on_resolved(a, r); }); });
}

void AliexpressChannel::on_resolved(std::shared_ptr<Attempt> a, const IopResult& r) {
  if (!r.answer) {
    a->done(failure(r), "resolving the buyer id: " + r.error);
    return;
  }
  std::string id = buyer_id_in(*r.answer);
  if (!all_digits(id)) {
    a->done(Outcome::kPermanent, std::string(kSessionOpen) + " gave no numeric buyer_id");
    return;
  }
  if (a->store) {
    try {
      auto& ins = a->store->stmt(
          "INSERT INTO buyer_ids(shop, login_id, platform_id, at) VALUES(?,?,?,?) "
          "ON CONFLICT(shop, login_id) DO UPDATE SET platform_id=excluded.platform_id, at=excluded.at");
      ins.bind(1, a->job.shop);
      ins.bind(2, a->job.buyer_id);
      ins.bind(3, id);
      ins.bind(4, static_cast<int64_t>(SystemClock().now()));
      ins.exec();
      ins.reset();
    } catch (const std::exception&) {
      // Not cached: resolved again next time. The reminder still goes out.
    }
  }
  deliver(a, id);
}

void AliexpressChannel::deliver(std::shared_ptr<Attempt> a, const std::string& buyer_id) {
  nlohmann::json content;
  content["order_id"] = a->job.order_ids.front();
  if (!a->card) content["txt"] = a->job.subject + "\n" + a->job.body;
  std::int64_t numeric = 0;
  try {
    numeric = std::stoll(buyer_id);
  } catch (const std::exception&) {
    a->done(Outcome::kPermanent, "buyer id '" + buyer_id + "' is not a number the platform knows");
    return;
  }
  nlohmann::json dto = {
      {"buyer_id", numeric}, {"scene_id", 4}, {"template_id", a->card ? 10007 : 1}, {"message_content_dto", content}};
  iop_call(*a->io, a->conf, kMessageSend, {{"im_send_message_dto", dto.dump()}},
           [a](IopResult r) { guarded(a, [&] { on_sent(a, r); }); });
}

void AliexpressChannel::on_sent(std::shared_ptr<Attempt> a, const IopResult& r) {
  if (!r.answer) {
    a->done(failure(r), r.error);
    return;
  }
  const auto& ans = *r.answer;
  if (ans.contains("result") && ans["result"].is_object()) {
    const auto& res = ans["result"];
    for (const char* k : {"is_success", "success"})
      if (res.contains(k) && res[k] == false) {
        a->done(Outcome::kPermanent,
                std::string(kMessageSend) + " refused the message: " +
                    res.value("error_msg", res.value("error_message", std::string("(no reason)"))));
        return;
      }
  }
  a->done(Outcome::kSent, "");
}

}  // namespace nudge
