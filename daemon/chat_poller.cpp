#include "daemon/chat_poller.h"

#include <nlohmann/json.hpp>

#include "core/aliexpress.h"
#include "daemon/log.h"

namespace nudge {

namespace {
std::string source_of(const std::string& shop, const std::string& buyer) {
  return "aliexpress_chat:" + shop + "/" + buyer;
}
}  // namespace

ChatPoller::ChatPoller(boost::asio::io_context& io, Clock& clock, Store& store, Take take)
    : io_(io), clock_(clock), store_(store), take_(std::move(take)), timer_(io) {}

ChatPoller::~ChatPoller() {
  *alive_ = false;
  stop();
}

void ChatPoller::stop() {
  running_ = false;
  timer_.cancel();
  queue_.clear();
}

bool ChatPoller::apply(const Policy& policy, const std::string& credentials_dir, std::string& error) {
  const ChannelConf* channel = nullptr;
  for (const auto& [name, conf] : policy.channels)
    if (conf.type == "aliexpress") {
      channel = &conf;
      break;
    }
  if (!channel || policy.replies.every <= 0) {
    stop();
    return true;
  }
  IopConf conf;
  if (!load_iop_conf(policy, channel->settings, credentials_dir, channel->get("shop", channel->get("app_key")), conf,
                     error)) {
    error = "replies: reading chat through channel '" + channel->name + "': " + error;
    stop();
    return false;
  }
  conf.timeout = channel->timeout;
  std::map<std::string, IopConf> by_shop;
  if (channel->uses_source_credentials)
    for (const auto& src : policy.sources) {
      if (src.type != "aliexpress") continue;
      IopConf shop_conf;
      if (!load_iop_conf(policy, src.settings, credentials_dir, src.shop, shop_conf, error)) {
        error = "replies: reading chat with the credentials of " + src.name + ": " + error;
        stop();
        return false;
      }
      shop_conf.timeout = channel->timeout;
      by_shop[src.shop] = std::move(shop_conf);
    }
  conf_ = std::move(conf);
  by_shop_ = std::move(by_shop);
  every_ = policy.replies.every;
  watch_ = policy.replies.watch;
  // Half the channel's rate: one call every 2/rate seconds (unlimited: one a second).
  spacing_ = channel->rate_per_sec > 0 ? static_cast<Millis>(2000.0 / channel->rate_per_sec) : kSecond;
  if (!running_) {
    running_ = true;
    arm(0);
  }
  return true;
}

void ChatPoller::arm(Millis delay) {
  if (!running_) return;
  timer_.expires_after(std::chrono::milliseconds(delay));
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || !running_) return;
    tick();
  });
}

// The buyers worth reading: open steps (scheduled or held) or a reminder within
// `watch`, whose numeric chat id is known (the aliexpress channel resolved it when it
// reminded them), and whose chat was not read within `every`. Only buyers with a chat
// id can be read, so the walk is over those (buyer_ids, in key order), kChatChunk at a
// time, each checked with three index lookups: no read of the whole schedule on the
// loop (at a million pending steps that took 0.4 s, every 10 s). True when the walk
// went round the whole table.
bool ChatPoller::refill(Millis now) {
  auto& q = store_.stmt(
      "SELECT k.shop, k.login_id, k.platform_id, "
      " COALESCE((SELECT last_poll_at FROM source_state WHERE source = 'aliexpress_chat:' || k.shop || '/' || "
      "k.login_id), 0), "
      " EXISTS (SELECT 1 FROM schedule WHERE shop=k.shop AND buyer_id=k.login_id AND state IN ('scheduled','held')) "
      " OR EXISTS (SELECT 1 FROM ledger WHERE buyer_id=k.login_id AND shop=k.shop AND at > ?3) "
      "FROM (SELECT shop, login_id, platform_id FROM buyer_ids WHERE (shop, login_id) > (?1, ?2) "
      "      ORDER BY shop, login_id LIMIT ?4) k");
  q.bind(1, walk_.first);
  q.bind(2, walk_.second);
  q.bind(3, static_cast<int64_t>(now - watch_));
  q.bind(4, kChatChunk);
  struct Due {
    Millis last;
    Watched w;
  };
  std::vector<Due> due;
  int rows = 0;
  while (q.executeStep()) {
    ++rows;
    walk_ = {q.getColumn(0).getString(), q.getColumn(1).getString()};
    if (q.getColumn(4).getInt() && q.getColumn(3).getInt64() <= now - every_)
      due.push_back({q.getColumn(3).getInt64(), {walk_.first, walk_.second, q.getColumn(2).getString()}});
  }
  q.reset();
  // The least recently read first, as in a round over all of them.
  std::stable_sort(due.begin(), due.end(), [](const Due& a, const Due& b) { return a.last < b.last; });
  for (auto& d : due) queue_.push_back(std::move(d.w));
  found_ = found_ || !due.empty();
  if (rows == kChatChunk) return false;
  walk_ = {};
  return true;
}

void ChatPoller::tick() {
  if (busy_) return;
  Millis now = clock_.now();
  bool round_done = false;
  try {
    if (queue_.empty()) round_done = refill(now);
  } catch (const std::exception& e) {
    log_warn(std::string("replies: cannot list the buyers whose chat to read: ") + e.what());
    return arm(every_);
  }
  if (queue_.empty()) {
    // The next chunk at once (other work of the loop goes first); after a whole round
    // without a buyer to read, a pause.
    if (!round_done) return arm(0);
    const bool idle = !found_;
    found_ = false;
    return arm(idle ? std::min<Millis>(every_, 10 * kSecond) : 0);
  }
  Watched w = queue_.front();
  queue_.pop_front();
  poll(w);
}

const IopConf* ChatPoller::conf_for(const std::string& shop) const {
  if (by_shop_.empty()) return &conf_;
  if (auto it = by_shop_.find(shop); it != by_shop_.end()) return &it->second;
  return by_shop_.size() == 1 ? &by_shop_.begin()->second : nullptr;
}

void ChatPoller::poll(const Watched& w) {
  const std::string source = source_of(w.shop, w.buyer);
  const IopConf* conf = conf_for(w.shop);
  if (!conf) return arm(spacing_);  // a shop no source of this policy has credentials for
  std::string cursor;
  try {
    auto& q = store_.stmt("SELECT cursor FROM source_state WHERE source=?");
    q.bind(1, source);
    if (q.executeStep() && !q.getColumn(0).isNull()) cursor = q.getColumn(0).getString();
    q.reset();
  } catch (const std::exception& e) {
    log_warn(std::string("replies: cannot read a chat cursor: ") + e.what());
    return arm(every_);
  }
  if (w.platform_id.empty() || w.platform_id.size() > 18 ||
      w.platform_id.find_first_not_of("0123456789") != std::string::npos)
    return arm(spacing_);  // not a chat id the channel stored: nothing to ask for
  nlohmann::json dto = {{"buyer_id", std::stoll(w.platform_id)}, {"page_size", aliexpress::kHistoryPageSize}};
  nlohmann::json c = nlohmann::json::parse(cursor, nullptr, false);
  if (c.is_object() && c.contains("last_message_id") && c["last_message_id"].is_string() &&
      !c["last_message_id"].get<std::string>().empty())
    dto["last_message_id"] = c["last_message_id"];
  if (c.is_object() && c.contains("start_time") && c["start_time"].is_number_integer())
    dto["start_time"] = c["start_time"];
  else
    dto["start_time"] = clock_.now() - watch_;  // first read: only what the buyer wrote within `watch`
  busy_ = true;
  iop_call(io_, *conf, aliexpress::kMessageHistory, {{"im_query_message_dto", dto.dump()}},
           [this, alive = alive_, w, cursor](IopResult r) {
             if (!*alive) return;
             busy_ = false;
             on_page(w, cursor, r);
           });
}

void ChatPoller::on_page(const Watched& w, const std::string& cursor, const IopResult& r) {
  const std::string source = source_of(w.shop, w.buyer);
  aliexpress::HistoryPage page;
  if (r.answer)
    page = aliexpress::read_message_history(*r.answer, w.shop, w.buyer);
  else
    page.error = r.error;
  if (!page.error.empty()) {
    if (page.error != last_error_) log_warn("replies: reading the chat of " + w.shop + "/" + w.buyer + ": " + page.error);
    last_error_ = page.error;
  } else {
    last_error_.clear();
  }
  // The new cursor: where this page ended, else where the last one did. An error
  // stores the old cursor again, which only marks the buyer as read for this round.
  nlohmann::json next = nlohmann::json::parse(cursor, nullptr, false);
  if (!next.is_object()) next = nlohmann::json::object();
  if (page.error.empty()) {
    if (page.next_start_time) next["start_time"] = *page.next_start_time;
    if (!page.last_message_id.empty()) next["last_message_id"] = page.last_message_id;
    if (!next.contains("start_time")) next["start_time"] = clock_.now() - watch_;
  }
  std::vector<FeedRecord> records(page.replies.begin(), page.replies.end());
  try {
    take_(records, source, next.dump());
  } catch (const std::exception&) {
    return arm(every_);  // the service logged the store fault; read again later
  }
  // A reply that raised a flag: tag the chat for the seller's attention (tag_code 0).
  if (!page.replies.empty()) {
    bool flagged = false;
    try {
      for (const auto& rp : page.replies) {
        auto& q = store_.stmt("SELECT 1 FROM flags WHERE shop=? AND channel='aliexpress_chat' AND message_id=?");
        q.bind(1, rp.shop);
        q.bind(2, rp.message_id);
        flagged = flagged || q.executeStep();
        q.reset();
      }
    } catch (const std::exception&) {
    }
    if (const IopConf* conf = conf_for(w.shop); flagged && conf) {
      nlohmann::json tag = {{"buyer_id", std::stoll(w.platform_id)}, {"tag_code", 0}, {"is_deleting", false}};
      iop_call(io_, *conf, aliexpress::kSessionTagUpdate, {{"im_session_view_update_dto", tag.dump()}},
               [w](IopResult t) {
                 if (!t.answer) log_warn("replies: tagging the chat of " + w.shop + "/" + w.buyer + ": " + t.error);
               });
    }
  }
  if (page.error.empty() && page.has_more) queue_.push_front(w);  // the rest of this chat next
  arm(spacing_);
}

}  // namespace nudge
