#include "daemon/aliexpress_source.h"

#include <sstream>

#include "core/aliexpress.h"

namespace nudge {

namespace {

using aliexpress::kOrderList;
constexpr int kMaxPages = 200;  // per query: a runaway gateway cannot keep one poll going forever

// The statuses of the modified-since query. FINISH is left out: the gateway answers
// finished orders only to a query for FINISH alone (AeopOrderQuery.order_status).
const std::vector<std::string> kOpenStatuses = {"PLACE_ORDER_SUCCESS",     "IN_CANCEL",
                                                "WAIT_SELLER_SEND_GOODS",  "SELLER_PART_SEND_GOODS",
                                                "WAIT_BUYER_ACCEPT_GOODS", "FUND_PROCESSING",
                                                "IN_ISSUE",                "IN_FROZEN",
                                                "WAIT_SELLER_EXAMINE_MONEY", "RISK_CONTROL"};

// The create-date bound a modified-date window needs: the gateway's own defaults,
// 180 days, and 30 for finished orders.
constexpr Millis kCreateWindow = 180 * kDay;
constexpr Millis kFinishedCreateWindow = 30 * kDay;

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
        mid.query <= kLastQuery && mid.page >= 1)
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

nlohmann::json AliexpressSource::query(const AliexpressCursor& at, int page_size) {
  nlohmann::json q;
  if (at.query == 0) {
    q["order_status_list"] = {"PLACE_ORDER_SUCCESS"};
  } else {
    bool finished = at.query == 2;
    q["order_status_list"] = finished ? std::vector<std::string>{"FINISH"} : kOpenStatuses;
    q["modified_date_start"] = aliexpress::utc_to_pacific(at.since);
    q["modified_date_end"] = aliexpress::utc_to_pacific(at.started);
    q["create_date_start"] = aliexpress::utc_to_pacific(at.started - (finished ? kFinishedCreateWindow : kCreateWindow));
    q["create_date_end"] = aliexpress::utc_to_pacific(at.started);
  }
  q["current_page"] = at.page;
  q["page_size"] = page_size;
  return q;
}

void AliexpressSource::fetch(const std::optional<std::string>& cursor, FetchDone done) {
  auto at = AliexpressCursor::next(cursor, SystemClock().now(), overlap_);
  // The callback holds copies only: a reload may replace this source while a page is in flight.
  iop_call(io_, conf_, kOrderList, {{"param_aeop_order_query", query(at, page_size_).dump()}},
           [at, shop = shop_, page_size = page_size_, done = std::move(done)](IopResult r) {
             read_page(r, at, shop, page_size, done);
           });
}

void AliexpressSource::read_page(const IopResult& r, const AliexpressCursor& at, const std::string& shop, int page_size,
                                 const FetchDone& done) {
  if (!r.answer) {
    done(std::nullopt, r.error);
    return;
  }
  auto list = aliexpress::read_order_list(*r.answer, shop, at.page, SystemClock().now());
  if (!list.error.empty()) {  // nothing of this page is stored, and the cursor stays
    done(std::nullopt, std::string(kOrderList) + ": " + list.error);
    return;
  }
  SourcePage page;
  page.records = std::move(list.records);
  bool more_pages =
      list.total_page > 0 ? at.page < list.total_page : page.records.size() == static_cast<size_t>(page_size);
  AliexpressCursor next = at;
  if (more_pages && at.page < kMaxPages) {
    ++next.page;
  } else if (at.query < kLastQuery) {
    ++next.query;
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
