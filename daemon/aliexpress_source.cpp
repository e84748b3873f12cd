#include "daemon/aliexpress_source.h"

#include <sstream>

#include "core/aliexpress.h"

namespace nudge {

namespace {

constexpr const char* kOrderList = "aliexpress.trade.seller.orderlist.get";
constexpr int kMaxPages = 200;  // per query: a runaway gateway cannot keep one poll going forever

// Every status an order can move to; the modified-since query asks for all of them.
const std::vector<std::string> kAllStatuses = {"PLACE_ORDER_SUCCESS",
                                               "IN_CANCEL",
                                               "WAIT_SELLER_SEND_GOODS",
                                               "SELLER_PART_SEND_GOODS",
                                               "WAIT_BUYER_ACCEPT_GOODS",
                                               "FUND_PROCESSING",
                                               "FINISH",
                                               "IN_ISSUE",
                                               "IN_FROZEN",
                                               "WAIT_SELLER_EXAMINE_MONEY",
                                               "RISK_CONTROL"};

// The one object in a /sync answer whose key ends in "_response".
const nlohmann::json* response_of(const nlohmann::json& answer) {
  for (auto it = answer.begin(); it != answer.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() > 9 && k.compare(k.size() - 9, 9, "_response") == 0 && it->is_object()) return &*it;
  }
  return nullptr;
}

}  // namespace

std::string AliexpressCursor::to_string() const {
  return "p|" + std::to_string(started) + "|" + std::to_string(since) + "|" + std::to_string(query) + "|" +
         std::to_string(page);
}

AliexpressCursor AliexpressCursor::next(const std::optional<std::string>& cursor, Millis now, Millis overlap) {
  AliexpressCursor c;
  c.started = now;
  Millis last = now;
  if (cursor && cursor->rfind("p|", 0) == 0) {
    std::istringstream in(cursor->substr(2));
    char bar = 0;
    AliexpressCursor mid;
    if (in >> mid.started >> bar >> mid.since >> bar >> mid.query >> bar >> mid.page && mid.query >= 0 &&
        mid.query <= 1 && mid.page >= 1)
      return mid;
  } else if (cursor) {
    try {
      last = std::stoll(*cursor);
    } catch (const std::exception&) {
    }
  }
  c.since = std::min(last, now) - overlap;
  return c;
}

void AliexpressSource::fetch(const std::optional<std::string>& cursor, FetchDone done) {
  auto at = AliexpressCursor::next(cursor, SystemClock().now(), overlap_);
  nlohmann::json q;
  if (at.query == 0) {
    q["order_status_list"] = {"PLACE_ORDER_SUCCESS"};
  } else {
    q["order_status_list"] = kAllStatuses;
    q["modified_date_start"] = aliexpress::utc_to_pacific(at.since);
    q["modified_date_end"] = aliexpress::utc_to_pacific(at.started);
  }
  q["current_page"] = at.page;
  q["page_size"] = page_size_;
  // The callback holds copies only: a reload may replace this source while a page is in flight.
  iop_call(io_, conf_, kOrderList, {{"param_aeop_order_query", q.dump()}},
           [at, shop = shop_, page_size = page_size_, done = std::move(done)](IopResult r) {
             // nlohmann throws on a value of an unexpected type; none may reach the loop.
             try {
               read_page(r, at, shop, page_size, done);
             } catch (const std::exception&) {
               done(std::nullopt, std::string(kOrderList) + ": an answer of an unexpected shape");
             }
           });
}

void AliexpressSource::read_page(const IopResult& r, const AliexpressCursor& at, const std::string& shop, int page_size,
                                 const FetchDone& done) {
  if (!r.answer) {
    done(std::nullopt, r.error);
    return;
  }
  const nlohmann::json* resp = response_of(*r.answer);
  const nlohmann::json* result = resp && resp->contains("result") ? &(*resp)["result"] : nullptr;
  if (!result || !result->is_object()) {
    done(std::nullopt, std::string(kOrderList) + ": the answer has no result");
    return;
  }
  if (result->contains("success") && (*result)["success"] == false) {
    done(std::nullopt, std::string(kOrderList) + ": the gateway reported no success: " +
                           result->value("error_message", std::string("(no message)")));
    return;
  }
  SourcePage page;
  auto list = result->find("target_list");
  if (list != result->end() && list->is_object() && list->contains("order_dto") && (*list)["order_dto"].is_array()) {
    Millis now = SystemClock().now();
    for (const auto& dto : (*list)["order_dto"]) page.records.push_back(aliexpress::order_record(dto, shop, now));
  }
  int total_pages = result->value("total_page", 0);
  bool more_pages = total_pages > 0 ? at.page < total_pages : page.records.size() == static_cast<size_t>(page_size);
  AliexpressCursor next = at;
  if (more_pages && at.page < kMaxPages) {
    ++next.page;
  } else if (at.query == 0) {
    next.query = 1;
    next.page = 1;
  } else {
    page.cursor = std::to_string(at.started);  // the poll is complete
    done(std::move(page), "");
    return;
  }
  page.cursor = next.to_string();
  page.more = true;
  done(std::move(page), "");
}

}  // namespace nudge
