#include "core/aliexpress.h"

#include <charconv>
#include <chrono>
#include <stdexcept>
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

std::optional<OrderStatus> map_status(const std::string& order_status, const std::string& end_reason,
                                      const std::string& fund_status) {
  if (order_status == "PLACE_ORDER_SUCCESS") return OrderStatus::kAwaitingPayment;
  // IN_CANCEL: the buyer asked to cancel. Not final on the platform, but a buyer who
  // asked to cancel is not reminded to pay.
  if (order_status == "IN_CANCEL") return OrderStatus::kCancelled;
  if (order_status == "FINISH") {
    // FINISH is any end: a delivered order, a cancel, or the payment timing out.
    if (end_reason.find("pay_timeout") != std::string::npos) return OrderStatus::kClosed;
    if (end_reason.find("cancel") != std::string::npos) return OrderStatus::kCancelled;
    if (end_reason.find("close") != std::string::npos) return OrderStatus::kClosed;
    if (fund_status == "NOT_PAY") return OrderStatus::kClosed;  // ended without ever being paid
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

// A strict reader of one JSON answer: every value it cannot read throws a ShapeError
// naming the value's path from the top of the answer.
struct ShapeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string join(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }

struct Node {
  const nlohmann::json& j;
  std::string path;

  bool has(const char* key) const { return j.is_object() && j.contains(key) && !j.at(key).is_null(); }
  [[noreturn]] void fail(const std::string& what) const { throw ShapeError(path + " " + what); }
  Node at(const char* key) const {
    if (!j.is_object()) fail("is not an object");
    if (!has(key)) throw ShapeError(join(path, key) + " is missing");
    return {j.at(key), join(path, key)};
  }
  Node object(const char* key) const {
    Node n = at(key);
    if (!n.j.is_object()) n.fail("is not an object");
    return n;
  }
  std::string str() const {
    if (!j.is_string()) fail("is not a string");
    return j.get<std::string>();
  }
  std::string str(const char* key) const { return at(key).str(); }
  std::string str_or(const char* key, const std::string& fallback = "") const { return has(key) ? str(key) : fallback; }
  // A Long in the SDK: a JSON integer, or a string of digits (some gateways quote them).
  std::int64_t integer() const {
    if (j.is_number_integer()) return j.get<std::int64_t>();
    if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return v;
    }
    fail("is not an integer");
  }
  std::int64_t integer(const char* key) const { return at(key).integer(); }
  bool boolean() const {
    if (j.is_boolean()) return j.get<bool>();
    if (j.is_string() && (j == "true" || j == "false")) return j == "true";
    fail("is not a boolean");
  }
};

// The one object of a /sync answer whose key ends in "_response" and is `name`.
Node response(const nlohmann::json& answer, const std::string& name) {
  if (!answer.is_object()) throw ShapeError("the answer is not a JSON object");
  return Node{answer, ""}.object(name.c_str());
}

// A /rest answer's `result`: at the top (GOP) or inside "<api>_response" (TOP style).
Node rest_result(const nlohmann::json& answer, const std::string& wrapper) {
  if (!answer.is_object()) throw ShapeError("the answer is not a JSON object");
  Node top{answer, ""};
  if (top.has("result")) return top.object("result");
  if (top.has(wrapper.c_str())) return top.object(wrapper.c_str()).object("result");
  throw ShapeError("result is missing");
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  return s.substr(i);
}

// One AeopOrderItemDTO as a feed record. The shape is checked field by field; the
// values (a known status, a readable time) too, since a record we cannot place could
// hide an order that was paid.
OrderRecord order_item(const Node& dto, const std::string& shop, Millis now) {
  if (!dto.j.is_object()) dto.fail("is not an object");
  OrderRecord o;
  o.shop = shop;
  o.order_id = std::to_string(dto.integer("order_id"));
  std::string status = dto.str("order_status");
  auto mapped = map_status(status, dto.str_or("end_reason"), dto.str_or("fund_status"));
  if (!mapped) dto.at("order_status").fail("is '" + status + "', a status this version does not know");
  o.status = *mapped;
  auto placed = pacific_to_utc(dto.str("gmt_create"));
  if (!placed) dto.at("gmt_create").fail("is not a Pacific time yyyy-MM-dd HH:mm:ss");
  o.placed_at = *placed;
  o.buyer_id = dto.str("buyer_login_id");
  if (o.buyer_id.empty()) dto.at("buyer_login_id").fail("is empty");
  o.buyer_name = dto.str_or("buyer_signer_fullname");
  if (dto.has("pay_amount")) {
    Node money = dto.object("pay_amount");
    Node amount = money.at("amount");
    o.amount = amount.j.is_number() ? amount.j.dump() : amount.str();
    o.currency = money.str("currency_code");
  }
  // timeout_left_time: ms left before the current status times out (for an unpaid
  // order: before it closes); negative once it has.
  if (dto.has("timeout_left_time") && o.status == OrderStatus::kAwaitingPayment)
    o.closes_at = now + dto.integer("timeout_left_time");
  // The feed's own record rules apply to every source alike.
  nlohmann::json f = {{"type", "order"},          {"shop", o.shop},
                      {"order_id", o.order_id},   {"buyer_id", o.buyer_id},
                      {"amount", o.amount},       {"placed_at", format_instant(o.placed_at)},
                      {"status", to_string(o.status)}};
  if (!o.buyer_name.empty()) f["buyer_name"] = o.buyer_name;
  if (!o.currency.empty()) f["currency"] = o.currency;
  if (o.closes_at) f["closes_at"] = format_instant(*o.closes_at);
  FeedRecord r = parse_feed_line(f.dump());
  if (auto* bad = std::get_if<RejectedRecord>(&r)) dto.fail("cannot be stored: " + bad->reason);
  return std::get<OrderRecord>(r);
}

}  // namespace

std::optional<Millis> pacific_to_utc(const std::string& s) {
  const auto* z = pacific();
  if (!z) return std::nullopt;
  // "yyyy-MM-dd HH:mm:ss": check the digits before date::parse, which casts a half-read
  // seconds field (NaN) to an integer before failing (undefined behaviour, bench/fuzz).
  static constexpr std::string_view kShape = "dddd-dd-dd dd:dd:dd";
  if (s.size() < kShape.size()) return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i)
    if (kShape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != kShape[i]) return std::nullopt;
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

OrderListPage read_order_list(const nlohmann::json& answer, const std::string& shop, int current_page,
                              Millis now) {
  OrderListPage page;
  std::string path;
  try {
    Node result = response(answer, "aliexpress_trade_seller_orderlist_get_response").object("result");
    if (result.has("success") && !result.at("success").boolean())
      throw ShapeError("the gateway reported no success: " + result.str_or("error_code", "(no code)") + " " +
                       result.str_or("error_message", "(no message)"));
    page.total_count = result.integer("total_count");
    page.total_page = result.has("total_page") ? result.integer("total_page") : 0;
    // An empty page may leave target_list out; a page the count says has orders may not.
    bool expect_items = page.total_count > 0 && (page.total_page == 0 || current_page <= page.total_page);
    if (!result.has("target_list")) {
      if (expect_items)
        throw ShapeError(result.path + ".total_count is " + std::to_string(page.total_count) +
                         " but .target_list is missing");
      return page;
    }
    Node list = result.object("target_list");
    if (!list.has("aeop_order_item_dto")) {
      if (list.j.empty() && !expect_items) return page;
      throw ShapeError(list.path + ".aeop_order_item_dto is missing" +
                       (list.j.empty() ? "" : " (it holds " + list.j.begin().key() + ")"));
    }
    Node items = list.at("aeop_order_item_dto");
    if (!items.j.is_array()) items.fail("is not a list");
    if (items.j.empty() && expect_items)
      throw ShapeError(result.path + ".total_count is " + std::to_string(page.total_count) + " but page " +
                       std::to_string(current_page) + " lists no order");
    for (size_t i = 0; i < items.j.size(); ++i)
      page.records.push_back(order_item(Node{items.j[i], items.path + "[" + std::to_string(i) + "]"}, shop, now));
  } catch (const ShapeError& e) {
    page = OrderListPage{};
    page.error = e.what();
  } catch (const std::exception& e) {  // nlohmann's own type errors: still the shape
    page = OrderListPage{};
    page.error = std::string("an answer of an unexpected shape: ") + e.what();
  }
  return page;
}

OrderState read_find_order(const nlohmann::json& answer, const std::string& order_id) {
  OrderState s;
  try {
    Node target = response(answer, "aliexpress_trade_new_redefining_findorderbyid_response").object("target");
    std::string id = std::to_string(target.integer("id"));
    if (id != order_id) target.at("id").fail("is " + id + ", not the order asked for (" + order_id + ")");
    std::string status = target.str("order_status");
    s.status = map_status(status, target.str_or("order_end_reason"), target.str_or("fund_status"));
    if (!s.status) target.at("order_status").fail("is '" + status + "', a status this version does not know");
  } catch (const std::exception& e) {
    s.status.reset();
    s.error = e.what();
  }
  return s;
}

SessionOpen read_session_open(const nlohmann::json& answer) {
  SessionOpen s;
  try {
    Node result = rest_result(answer, "aliexpress_message_session_open_response");
    if (!result.at("success").boolean()) {
      s.refused = true;
      s.error = "session/open refused: " + result.str_or("error_code", "(no code)") + " " +
                result.str_or("error_message", "(no message)");
      return s;
    }
    Node data = result.object("data");
    if (data.has("open_result") && data.str("open_result") != "SUCCESS") {
      s.refused = true;
      s.error = "session/open answered open_result " + data.str("open_result");
      return s;
    }
    s.buyer_id = data.integer("current_buyer_id");
  } catch (const std::exception& e) {
    s.buyer_id.reset();
    s.error = e.what();
  }
  return s;
}

HistoryPage read_message_history(const nlohmann::json& answer, const std::string& shop,
                                 const std::string& buyer_login) {
  HistoryPage page;
  try {
    Node result = rest_result(answer, "aliexpress_message_history_list_response");
    if (!result.at("success").boolean()) {
      page.refused = true;
      page.error = "message/history/list refused: " + result.str_or("error_code", "(no code)") + " " +
                   result.str_or("error_message", "(no message)");
      return page;
    }
    Node data = result.object("data");
    page.has_more = data.has("has_more") && data.at("has_more").boolean();
    if (data.has("next_start_time")) page.next_start_time = data.integer("next_start_time");
    page.last_message_id = data.has("last_message_id") ? data.at("last_message_id").j.is_string()
                                                              ? data.str("last_message_id")
                                                              : std::to_string(data.integer("last_message_id"))
                                                        : "";
    if (!data.has("message_list")) {
      if (page.has_more) data.at("message_list");  // more to come, but nothing here: a shape we do not know
      return page;
    }
    Node list = data.at("message_list");
    if (!list.j.is_array()) list.fail("is not an array");
    for (size_t i = 0; i < list.j.size(); ++i) {
      Node m{list.j[i], list.path + "[" + std::to_string(i) + "]"};
      if (!m.j.is_object()) m.fail("is not an object");
      std::string id = m.at("message_id").j.is_string() ? m.str("message_id") : std::to_string(m.integer("message_id"));
      if (id.empty() || id.size() > 128) m.at("message_id").fail("is not an id of 1 to 128 bytes");
      for (unsigned char c : id)
        if (c < 0x20 || c == 0x7f) m.at("message_id").fail("has a control character");
      std::int64_t from = m.integer("from_account_type");
      std::int64_t type = m.integer("type");
      std::int64_t sent = m.integer("send_time");
      if (sent <= 0) m.at("send_time").fail("is not a time");
      if (from != kBuyerAccountType || type != kUserMessageType) {
        ++page.others;
        continue;
      }
      std::string content = m.str("content");
      std::string text = content;
      nlohmann::json inner = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
      if (inner.is_object()) {
        text.clear();
        for (const char* k : {"txt", "text", "content"})
          if (auto it = inner.find(k); it != inner.end() && it->is_string()) {
            text = it->get<std::string>();
            break;
          }
      } else if (inner.is_string()) {
        text = inner.get<std::string>();
      }
      if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        ++page.others;  // an image, a sticker, an order card: nothing to read
        continue;
      }
      if (text.size() > 4000) {  // the feed's bound, cut at a character boundary
        size_t cut = 4000;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text.resize(cut);
      }
      page.replies.push_back(ReplyRecord{shop, buyer_login, text, "aliexpress_chat", id, sent});
    }
  } catch (const std::exception& e) {
    page.replies.clear();
    page.error = e.what();
  }
  return page;
}

SendAnswer read_message_send(const nlohmann::json& answer) {
  SendAnswer a;
  try {
    Node result = rest_result(answer, "aliexpress_message_send_response");
    const char* key = result.has("success") ? "success" : result.has("is_success") ? "is_success" : nullptr;
    if (!key) throw ShapeError(result.path + " has neither success nor is_success");
    if (result.at(key).boolean()) {
      a.kind = SendAnswer::kSent;
    } else {
      a.kind = SendAnswer::kRefused;
      std::string msg = result.str_or("error_message", result.str_or("error_msg", "(no message)"));
      a.error = "message/send refused the message: " + result.str_or("error_code", "(no code)") + " " + msg;
    }
  } catch (const std::exception& e) {
    a.kind = SendAnswer::kUnknown;
    a.error = std::string("message/send answered in an unknown shape: ") + e.what();
  }
  return a;
}

TokenAnswer read_token_refresh(const nlohmann::json& answer, Millis now) {
  TokenAnswer t;
  try {
    if (!answer.is_object()) throw ShapeError("the answer is not a JSON object");
    Node top{answer, ""};
    TokenSet s;
    s.access_token = top.str("access_token");
    if (s.access_token.empty()) top.at("access_token").fail("is empty");
    s.refresh_token = top.str_or("refresh_token");
    if (top.has("expire_time"))
      s.expires_at = top.integer("expire_time");
    else
      s.expires_at = now + top.integer("expires_in") * 1000;
    if (top.has("refresh_token_valid_time"))
      s.refresh_expires_at = top.integer("refresh_token_valid_time");
    else if (top.has("refresh_expires_in"))
      s.refresh_expires_at = now + top.integer("refresh_expires_in") * 1000;
    t.tokens = std::move(s);
  } catch (const std::exception& e) {
    t.error = e.what();
  }
  return t;
}

TokenSet read_session_text(const std::string& content, Millis now) {
  TokenSet s;
  std::string t = trimmed(content);
  if (!t.empty() && t.front() == '{') {
    auto j = nlohmann::json::parse(t, nullptr, false);
    auto r = read_token_refresh(j.is_discarded() ? nlohmann::json() : j, now);
    if (r.tokens) return *r.tokens;
  }
  s.access_token = t;
  return s;
}

nlohmann::json token_json(const TokenSet& t) {
  nlohmann::json j = {{"access_token", t.access_token}, {"refresh_token", t.refresh_token}};
  if (t.expires_at) j["expire_time"] = *t.expires_at;
  if (t.refresh_expires_at) j["refresh_token_valid_time"] = *t.refresh_expires_at;
  return j;
}

namespace {

// A JSON value that may be a string or a number, as text.
std::string text_of(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return it->dump();
}

}  // namespace

std::optional<std::string> gateway_error(const nlohmann::json& answer) {
  if (!answer.is_object()) return "the gateway's answer is not a JSON object";
  const nlohmann::json* e = nullptr;
  if (answer.contains("error_response"))
    e = &answer["error_response"];
  else if (answer.contains("code") && text_of(answer, "code") != "0")
    e = &answer;
  if (!e) return std::nullopt;
  if (!e->is_object()) return "gateway error (an error_response that is not an object)";
  std::string code = text_of(*e, "code");
  std::string msg = text_of(*e, "msg");
  if (msg.empty()) msg = text_of(*e, "message");
  std::string sub = text_of(*e, "sub_code");
  std::string sub_msg = text_of(*e, "sub_msg");
  std::string out = "gateway error " + (code.empty() ? "(no code)" : code) + (msg.empty() ? "" : ": " + msg);
  if (!sub.empty()) out += " [" + sub + (sub_msg.empty() ? "" : ": " + sub_msg) + "]";
  return out;
}

bool is_transient_error_code(const std::string& error) {
  for (const char* c : {"ApiCallLimit", "AppCallLimit", "ServiceUnavailable", "ServiceTimeout", "SystemBusy",
                        "InternalError", "ISP.", "isp."})
    if (error.find(c) != std::string::npos) return true;
  return false;
}

bool is_credentials_error(const std::string& error) {
  for (const char* c : {"IllegalAccessToken", "IllegalRefreshToken", "InvalidAppKey", "AppKeyNotExist",
                        "IncompleteSignature", "InvalidSignature", "InvalidSession", "SessionExpired",
                        "AccessTokenExpired", "AccessDenied", "InsufficientPermission"})
    if (error.find(c) != std::string::npos) return true;
  return false;
}

Millis ban_of(const std::string& error) {
  if (error.find("ApiCallLimit") == std::string::npos && error.find("AppCallLimit") == std::string::npos) return 0;
  static const std::string kLast = "ban will last ";
  auto at = error.find(kLast);
  if (at != std::string::npos) {
    const char* p = error.c_str() + at + kLast.size();
    char* end = nullptr;
    long long n = std::strtoll(p, &end, 10);
    if (end != p && n > 0 && n <= 86400) return static_cast<Millis>(n) * 1000;
  }
  return 1000;
}

}  // namespace nudge::aliexpress
