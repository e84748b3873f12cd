#include "core/feed.h"

#include <nlohmann/json.hpp>

#include "core/time_util.h"

namespace nudge {

const char* to_string(OrderStatus s) {
  switch (s) {
    case OrderStatus::kAwaitingPayment: return "awaiting_payment";
    case OrderStatus::kPaid: return "paid";
    case OrderStatus::kCancelled: return "cancelled";
    case OrderStatus::kClosed: return "closed";
  }
  return "?";
}

std::optional<OrderStatus> parse_status(const std::string& s) {
  if (s == "awaiting_payment") return OrderStatus::kAwaitingPayment;
  if (s == "paid") return OrderStatus::kPaid;
  if (s == "cancelled") return OrderStatus::kCancelled;
  if (s == "closed") return OrderStatus::kClosed;
  return std::nullopt;
}

namespace {

struct Reject {
  std::string reason;
};

std::string text_field(const nlohmann::json& j, const char* key, bool required, size_t max_len = 256) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw Reject{std::string("missing field '") + key + "'"};
    return "";
  }
  std::string v;
  if (it->is_string())
    v = it->get<std::string>();
  else if (it->is_number_integer())
    v = std::to_string(it->get<long long>());
  else
    throw Reject{std::string("field '") + key + "' must be a string"};
  if (required && v.empty()) throw Reject{std::string("field '") + key + "' is empty"};
  if (v.size() > max_len) throw Reject{std::string("field '") + key + "' is longer than " + std::to_string(max_len)};
  return v;
}

Millis time_field(const nlohmann::json& j, const char* key) {
  std::string s = text_field(j, key, true);
  auto t = parse_instant(s);
  if (!t) throw Reject{std::string("field '") + key + "' is not an ISO 8601 time like 2026-11-20T10:00:00Z: '" + s + "'"};
  return *t;
}

OrderStatus status_field(const nlohmann::json& j) {
  std::string s = text_field(j, "status", true);
  auto st = parse_status(s);
  if (!st) throw Reject{"unknown status '" + s + "' (expected awaiting_payment, paid, cancelled or closed)"};
  return *st;
}

bool decimal(const std::string& s) {
  size_t i = 0, digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  return digits > 0 && i == s.size();
}

}  // namespace

FeedRecord parse_feed_line(const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return RejectedRecord{"", "", "not valid JSON"};
  }
  if (!j.is_object()) return RejectedRecord{"", "", "a record must be a JSON object"};
  std::string shop, order_id;
  try {
    shop = text_field(j, "shop", false);
    order_id = text_field(j, "order_id", false);
    std::string type = text_field(j, "type", true);
    if (type == "order") {
      OrderRecord o;
      o.shop = text_field(j, "shop", true, 64);
      o.order_id = text_field(j, "order_id", true, 64);
      o.buyer_id = text_field(j, "buyer_id", true, 128);
      o.buyer_name = text_field(j, "buyer_name", false, 512);
      o.buyer_country = text_field(j, "buyer_country", false, 2);
      for (auto& ch : o.buyer_country) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      o.buyer_lang = text_field(j, "buyer_lang", false, 16);
      o.buyer_tz = text_field(j, "buyer_tz", false, 64);
      o.buyer_email = text_field(j, "buyer_email", false, 254);
      auto amount = j.find("amount");
      if (amount != j.end() && amount->is_number()) {
        o.amount = amount->dump();
      } else {
        o.amount = text_field(j, "amount", true, 32);
      }
      if (!decimal(o.amount)) throw Reject{"field 'amount' is not a decimal number: '" + o.amount + "'"};
      o.currency = text_field(j, "currency", false, 8);
      o.placed_at = time_field(j, "placed_at");
      if (j.contains("closes_at") && !j["closes_at"].is_null()) o.closes_at = time_field(j, "closes_at");
      o.status = j.contains("status") ? status_field(j) : OrderStatus::kAwaitingPayment;
      if (!o.buyer_email.empty() && o.buyer_email.find('@') == std::string::npos)
        throw Reject{"field 'buyer_email' is not an email address"};
      for (char c : o.buyer_email)
        if (static_cast<unsigned char>(c) < 0x21 || c == '<' || c == '>' || c == ',')
          throw Reject{"field 'buyer_email' has characters an address cannot have"};
      return o;
    }
    if (type == "status") {
      StatusRecord s;
      s.shop = text_field(j, "shop", true, 64);
      s.order_id = text_field(j, "order_id", true, 64);
      s.status = status_field(j);
      s.at = time_field(j, "at");
      return s;
    }
    throw Reject{"unknown type '" + type + "' (expected order or status)"};
  } catch (const Reject& r) {
    return RejectedRecord{shop, order_id, r.reason};
  } catch (const nlohmann::json::exception& e) {
    return RejectedRecord{shop, order_id, std::string("unreadable record: ") + e.what()};
  }
}

std::optional<Millis> record_time(const FeedRecord& r) {
  if (auto* o = std::get_if<OrderRecord>(&r)) return o->placed_at;
  if (auto* s = std::get_if<StatusRecord>(&r)) return s->at;
  return std::nullopt;
}

}  // namespace nudge
