#include "daemon/aliexpress_source.h"

#include "core/aliexpress.h"

namespace nudge {

namespace {

constexpr const char* kOrderList = "aliexpress.trade.seller.orderlist.get";
constexpr int kMaxPages = 200;  // per query: a runaway gateway cannot keep one poll going forever

// Every status an order can move to; the modified-since query asks for all of them.
const std::vector<std::string> kAllStatuses = {
    "PLACE_ORDER_SUCCESS", "IN_CANCEL",        "WAIT_SELLER_SEND_GOODS", "SELLER_PART_SEND_GOODS",
    "WAIT_BUYER_ACCEPT_GOODS", "FUND_PROCESSING", "FINISH", "IN_ISSUE", "IN_FROZEN",
    "WAIT_SELLER_EXAMINE_MONEY", "RISK_CONTROL"};

// The one object in a /sync answer whose key ends in "_response".
const nlohmann::json* response_of(const nlohmann::json& answer) {
  for (auto it = answer.begin(); it != answer.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() > 9 && k.compare(k.size() - 9, 9, "_response") == 0 && it->is_object()) return &*it;
  }
  return nullptr;
}

}  // namespace

// One poll's state. It carries copies of the settings, so a poll still in flight
// when a reload replaces the source never touches the old object.
struct AliexpressSource::Poll {
  boost::asio::io_context* io;
  IopConf conf;
  std::string shop;
  int page_size = 50;
  FetchDone done;
  Millis started = 0;
  Millis since = 0;  // modified_date_start, UTC
  int phase = 0;     // 0: awaiting payment, 1: modified since `since`
  int page = 1;
  SourcePage result;
};

void AliexpressSource::fetch(const std::optional<std::string>& cursor, FetchDone done) {
  auto poll = std::make_shared<Poll>();
  poll->io = &io_;
  poll->conf = conf_;
  poll->shop = shop_;
  poll->page_size = page_size_;
  poll->done = std::move(done);
  poll->started = SystemClock().now();
  Millis last = poll->started;
  try {
    if (cursor) last = std::stoll(*cursor);
  } catch (const std::exception&) {
  }
  poll->since = std::min(last, poll->started) - overlap_;
  query(std::move(poll));
}

void AliexpressSource::query(std::shared_ptr<Poll> poll) {
  nlohmann::json q;
  if (poll->phase == 0) {
    q["order_status_list"] = {"PLACE_ORDER_SUCCESS"};
  } else {
    q["order_status_list"] = kAllStatuses;
    q["modified_date_start"] = aliexpress::utc_to_pacific(poll->since);
    q["modified_date_end"] = aliexpress::utc_to_pacific(poll->started);
  }
  q["current_page"] = poll->page;
  q["page_size"] = poll->page_size;
  iop_call(*poll->io, poll->conf, kOrderList, {{"param_aeop_order_query", q.dump()}}, [poll](IopResult r) {
    if (!r.answer) {
      poll->done(std::nullopt, r.error);
      return;
    }
    const nlohmann::json* resp = response_of(*r.answer);
    const nlohmann::json* result = resp && resp->contains("result") ? &(*resp)["result"] : nullptr;
    if (!result || !result->is_object()) {
      poll->done(std::nullopt, std::string(kOrderList) + ": the answer has no result");
      return;
    }
    if (result->contains("success") && (*result)["success"] == false) {
      poll->done(std::nullopt, std::string(kOrderList) + ": the gateway reported no success: " +
                                   result->value("error_message", std::string("(no message)")));
      return;
    }
    size_t n = 0;
    auto list = result->find("target_list");
    if (list != result->end() && list->is_object() && list->contains("order_dto") && (*list)["order_dto"].is_array()) {
      Millis now = SystemClock().now();
      for (const auto& dto : (*list)["order_dto"]) {
        poll->result.records.push_back(aliexpress::order_record(dto, poll->shop, now));
        ++n;
      }
    }
    int total_pages = result->value("total_page", 0);
    bool more = total_pages > 0 ? poll->page < total_pages : n == static_cast<size_t>(poll->page_size);
    if (more && poll->page < kMaxPages) {
      ++poll->page;
    } else if (poll->phase == 0) {
      poll->phase = 1;
      poll->page = 1;
    } else {
      poll->result.cursor = std::to_string(poll->started);
      poll->done(std::move(poll->result), "");
      return;
    }
    query(poll);
  });
}

}  // namespace nudge
