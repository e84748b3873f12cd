#include "core/feed.h"

#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

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

// An id: printable, 1..128 bytes, no control characters (no CR/LF to smuggle a
// header, no NUL), not blank.
std::string id_field(const nlohmann::json& j, const char* key) {
  std::string v = text_field(j, key, true, 128);
  bool blank = true;
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) throw Reject{std::string("field '") + key + "' has a control character"};
    if (c != ' ') blank = false;
  }
  if (blank) throw Reject{std::string("field '") + key + "' is blank"};
  return v;
}

// A non-negative decimal with at most 4 decimals, below 10^12.
bool decimal(const std::string& s) {
  size_t i = 0, whole = 0, frac = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++whole;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++frac;
    if (frac == 0) return false;
  }
  if (whole == 0 || i != s.size() || frac > 4) return false;
  size_t lead = 0;  // leading zeros do not count toward the size
  while (lead + 1 < whole && s[lead] == '0') ++lead;
  return whole - lead <= 12;
}

// ISO 3166-1 alpha-2, from the system's tzdata (iso3166.tab), read once.
const std::set<std::string>& countries() {
  static const std::set<std::string> codes = [] {
    std::set<std::string> out;
    std::ifstream in("/usr/share/zoneinfo/iso3166.tab");
    std::string line;
    while (std::getline(in, line))
      if (line.size() > 2 && line[0] != '#' && line[2] == '\t') out.insert(line.substr(0, 2));
    return out;
  }();
  return codes;
}

bool country_code(const std::string& c) {
  if (c.size() != 2 || !std::isupper(static_cast<unsigned char>(c[0])) || !std::isupper(static_cast<unsigned char>(c[1])))
    return false;
  return countries().empty() || countries().count(c);  // without tzdata, the form alone
}

// ISO 4217 currency codes in use (the list's "active codes"; funds and metals left out).
bool currency_code(const std::string& c) {
  static const std::set<std::string> codes = {
      "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
      "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
      "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
      "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
      "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
      "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD",
      "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
      "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC",
      "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
      "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL"};
  return codes.count(c) > 0;
}

// RFC 5322 addr-spec: a dot-atom or quoted local part, @, a dot-atom domain or a
// [domain literal]. No comments, no folding, no control characters.
bool addr_spec(const std::string& a) {
  auto at = a.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size()) return false;
  std::string local = a.substr(0, at), domain = a.substr(at + 1);
  auto atext = [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string::npos ||
           c >= 0x80;
  };
  auto dot_atom = [&](const std::string& s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string::npos) return false;
    for (unsigned char c : s)
      if (c != '.' && !atext(c)) return false;
    return true;
  };
  bool local_ok = dot_atom(local);
  if (!local_ok && local.size() >= 2 && local.front() == '"' && local.back() == '"') {
    local_ok = true;
    for (size_t i = 1; i + 1 < local.size(); ++i) {
      unsigned char c = local[i];
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') local_ok = false;
    }
  }
  if (!local_ok) return false;
  if (domain.front() == '[' && domain.back() == ']') {
    for (unsigned char c : domain.substr(1, domain.size() - 2))
      if (c < 0x21 || c > 0x7e || c == '[' || c == ']' || c == '\\') return false;
    return domain.size() > 2;
  }
  return dot_atom(domain);
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
      o.shop = id_field(j, "shop");
      o.order_id = id_field(j, "order_id");
      o.buyer_id = id_field(j, "buyer_id");
      o.buyer_name = text_field(j, "buyer_name", false, 512);
      o.buyer_country = text_field(j, "buyer_country", false, 8);
      for (auto& ch : o.buyer_country) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (!o.buyer_country.empty() && !country_code(o.buyer_country))
        throw Reject{"field 'buyer_country' is not an ISO 3166-1 alpha-2 code: '" + o.buyer_country + "'"};
      o.buyer_lang = text_field(j, "buyer_lang", false, 16);
      o.buyer_tz = text_field(j, "buyer_tz", false, 64);
      o.buyer_email = text_field(j, "buyer_email", false, 254);
      auto amount = j.find("amount");
      if (amount != j.end() && amount->is_number()) {
        o.amount = amount->dump();
      } else {
        o.amount = text_field(j, "amount", true, 32);
      }
      if (!decimal(o.amount))
        throw Reject{"field 'amount' is not a non-negative decimal below 10^12 with at most 4 decimals: '" + o.amount +
                     "'"};
      o.currency = text_field(j, "currency", false, 8);
      if (!o.currency.empty() && !currency_code(o.currency))
        throw Reject{"field 'currency' is not an ISO 4217 code: '" + o.currency + "'"};
      o.placed_at = time_field(j, "placed_at");
      if (j.contains("closes_at") && !j["closes_at"].is_null()) o.closes_at = time_field(j, "closes_at");
      o.status = j.contains("status") ? status_field(j) : OrderStatus::kAwaitingPayment;
      if (!o.buyer_email.empty() && !addr_spec(o.buyer_email))
        throw Reject{"field 'buyer_email' is not an RFC 5322 address (local@domain)"};
      return o;
    }
    if (type == "status") {
      StatusRecord s;
      s.shop = id_field(j, "shop");
      s.order_id = id_field(j, "order_id");
      s.status = status_field(j);
      s.at = time_field(j, "at");
      return s;
    }
    if (type == "remind") {
      RemindRecord m;
      m.shop = id_field(j, "shop");
      m.order_id = id_field(j, "order_id");
      if (j.contains("channel") && !j["channel"].is_null()) m.channel = id_field(j, "channel");
      if (j.contains("template") && !j["template"].is_null()) m.tmpl = id_field(j, "template");
      m.actor = id_field(j, "actor");
      m.at = time_field(j, "at");
      return m;
    }
    if (type == "reply") {
      ReplyRecord rp;
      rp.shop = id_field(j, "shop");
      rp.buyer_id = id_field(j, "buyer_id");
      rp.channel = id_field(j, "channel");
      rp.message_id = id_field(j, "message_id");
      rp.text = text_field(j, "text", true, 4000);
      rp.at = time_field(j, "at");
      return rp;
    }
    throw Reject{"unknown type '" + type + "' (expected order, status, remind or reply)"};
  } catch (const Reject& r) {
    return RejectedRecord{shop, order_id, r.reason};
  } catch (const nlohmann::json::exception& e) {
    return RejectedRecord{shop, order_id, std::string("unreadable record: ") + e.what()};
  }
}

std::optional<RejectedRecord> outside_window(const FeedRecord& r, Millis now, const RecordWindow& w) {
  auto t = record_time(r);
  if (!t) return std::nullopt;
  const char* field = std::holds_alternative<OrderRecord>(r) ? "placed_at" : "at";  // status, remind
  std::string shop = std::visit([](const auto& x) { return x.shop; }, r);
  std::string id = std::visit(
      [](const auto& x) {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, ReplyRecord>)
          return x.message_id;
        else
          return x.order_id;
      },
      r);
  if (*t < now - w.max_age)
    return RejectedRecord{shop, id, std::string("field '") + field + "' " + format_instant(*t) +
                                        " is older than records.max_age (" + format_duration(w.max_age) + ")"};
  if (*t > now + w.max_ahead)
    return RejectedRecord{shop, id, std::string("field '") + field + "' " + format_instant(*t) +
                                        " is more than records.max_ahead (" + format_duration(w.max_ahead) +
                                        ") in the future"};
  return std::nullopt;
}

std::optional<Millis> record_time(const FeedRecord& r) {
  if (auto* o = std::get_if<OrderRecord>(&r)) return o->placed_at;
  if (auto* s = std::get_if<StatusRecord>(&r)) return s->at;
  if (auto* m = std::get_if<RemindRecord>(&r)) return m->at;
  if (auto* rp = std::get_if<ReplyRecord>(&r)) return rp->at;
  return std::nullopt;
}

}  // namespace nudge
