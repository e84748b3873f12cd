#include "core/aliexpress.h"

#include <chrono>
#include <sstream>

#include <date/date.h>
#include <date/tz.h>

#include "core/hash.h"
#include "core/time_util.h"

namespace nudge::aliexpress {

std::string sign(const std::string& api_path, const std::map<std::string, std::string>& params,
                 const std::string& app_secret) {
  std::string text = api_path;  // std::map iterates in key order: the sort IOP asks for
  for (const auto& [k, v] : params)
    if (k != "sign") text += k + v;
  return hmac_sha256_hex(app_secret, text, /*upper=*/true);
}

std::optional<OrderStatus> map_status(const std::string& order_status, const std::string& end_reason) {
  if (order_status == "PLACE_ORDER_SUCCESS") return OrderStatus::kAwaitingPayment;
  if (order_status == "IN_CANCEL") return OrderStatus::kCancelled;
  if (order_status == "FINISH") {
    // FINISH is any end: a delivered order, a cancel, or the payment timing out.
    if (end_reason.find("pay_timeout") != std::string::npos) return OrderStatus::kClosed;
    if (end_reason.find("cancel") != std::string::npos) return OrderStatus::kCancelled;
    if (end_reason.find("close") != std::string::npos) return OrderStatus::kClosed;
    return OrderStatus::kPaid;
  }
  // After payment: under review, waiting to ship, shipped, in escrow.
  for (const char* s : {"RISK_CONTROL", "WAIT_SELLER_EXAMINE_MONEY", "WAIT_SELLER_SEND_GOODS", "SELLER_PART_SEND_GOODS",
                        "WAIT_BUYER_ACCEPT_GOODS", "FUND_PROCESSING", "IN_ISSUE", "IN_FROZEN"})
    if (order_status == s) return OrderStatus::kPaid;
  return std::nullopt;
}

namespace {

const date::time_zone* pacific() {
  static const date::time_zone* z = [] {
    try {
      return date::locate_zone("America/Los_Angeles");
    } catch (const std::exception&) {
      return static_cast<const date::time_zone*>(nullptr);
    }
  }();
  return z;
}

// A JSON value that may be a string or a number, as text.
std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return it->dump();
}

}  // namespace

std::optional<Millis> pacific_to_utc(const std::string& s) {
  const auto* z = pacific();
  if (!z) return std::nullopt;
  std::istringstream in(s);
  date::local_time<std::chrono::seconds> local{};
  in >> date::parse("%Y-%m-%d %H:%M:%S", local);
  if (in.fail()) return std::nullopt;
  in >> std::ws;
  if (!in.eof()) return std::nullopt;
  // info.first is the offset in force before the change: for a time that occurs twice
  // it gives the earlier instant; for one in the spring gap, the instant just after it.
  auto info = z->get_info(local);
  auto sys = local.time_since_epoch() - info.first.offset;
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys).count();
}

std::string utc_to_pacific(Millis t) {
  const auto* z = pacific();
  date::sys_seconds sys{std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(t))};
  if (!z) return date::format("%Y-%m-%d %H:%M:%S", sys);
  return date::format("%Y-%m-%d %H:%M:%S", date::make_zoned(z, sys).get_local_time());
}

FeedRecord order_record(const nlohmann::json& dto, const std::string& shop, Millis now) {
  std::string order_id = text(dto, "order_id");
  if (!dto.is_object()) return RejectedRecord{shop, "", "an order must be a JSON object"};
  std::string status = text(dto, "order_status");
  auto mapped = map_status(status, text(dto, "end_reason"));
  if (!mapped) return RejectedRecord{shop, order_id, "unknown AliExpress order_status '" + status + "'"};
  auto placed = pacific_to_utc(text(dto, "gmt_create"));
  if (!placed) return RejectedRecord{shop, order_id, "field 'gmt_create' is not a Pacific time yyyy-MM-dd HH:mm:ss"};

  nlohmann::json f;
  f["type"] = "order";
  f["shop"] = shop;
  f["order_id"] = order_id;
  f["buyer_id"] = text(dto, "buyer_login_id");
  if (auto n = text(dto, "buyer_signer_fullname"); !n.empty()) f["buyer_name"] = n;
  if (auto c = text(dto, "buyer_country"); !c.empty()) f["buyer_country"] = c;
  const nlohmann::json* money = nullptr;
  for (const char* k : {"pay_amount", "order_amount"})
    if (dto.contains(k) && dto[k].is_object()) {
      money = &dto[k];
      break;
    }
  f["amount"] = money ? text(*money, "amount") : "0";
  if (money) f["currency"] = text(*money, "currency_code");
  f["placed_at"] = format_instant(*placed);
  if (dto.contains("timeout_left_time") && dto["timeout_left_time"].is_number() && *mapped == OrderStatus::kAwaitingPayment)
    f["closes_at"] = format_instant(now + dto["timeout_left_time"].get<std::int64_t>());
  f["status"] = to_string(*mapped);
  return parse_feed_line(f.dump());
}

std::optional<std::string> gateway_error(const nlohmann::json& answer) {
  if (!answer.is_object()) return "the gateway's answer is not a JSON object";
  const nlohmann::json* e = nullptr;
  if (answer.contains("error_response"))
    e = &answer["error_response"];
  else if (answer.contains("code") && text(answer, "code") != "0")
    e = &answer;
  if (!e) return std::nullopt;
  std::string code = text(*e, "code");
  std::string msg = text(*e, "msg");
  if (msg.empty()) msg = text(*e, "message");
  return "gateway error " + (code.empty() ? "(no code)" : code) + (msg.empty() ? "" : ": " + msg);
}

bool is_transient_error_code(const std::string& error) {
  for (const char* c : {"ApiCallLimit", "AppCallLimit", "ServiceUnavailable", "ServiceTimeout", "SystemBusy",
                        "InternalError", "ISP.", "isp."})
    if (error.find(c) != std::string::npos) return true;
  return false;
}

}  // namespace nudge::aliexpress
