#include <doctest/doctest.h>

#include <sstream>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include "core/feed.h"
#include "core/time_util.h"
#include "engine_fixture.h"

using namespace nudge;

namespace {

std::string order_json(const std::string& field, const nlohmann::json& value) {
  nlohmann::json j = {{"type", "order"},       {"shop", "s1"},        {"order_id", "8001"},
                      {"buyer_id", "es1001"},  {"buyer_country", "ES"}, {"amount", "33.31"},
                      {"currency", "USD"},     {"placed_at", "2026-11-20T10:00:00Z"},
                      {"buyer_email", "ana@example.com"}};
  if (value.is_null())
    j.erase(field);
  else
    j[field] = value;
  return j.dump();
}

}  // namespace

TEST_CASE("feed records are checked field by field, and a rejection names the field and the rule") {
  struct Row {
    const char* field;
    nlohmann::json value;
    const char* reason;  // empty: accepted
  };
  const Row rows[] = {
      {"order_id", "8001", ""},
      {"order_id", "\r\nBcc: x@y", "field 'order_id' has a control character"},
      {"order_id", std::string("a\0b", 3), "field 'order_id' has a control character"},
      {"order_id", "", "field 'order_id' is empty"},
      {"order_id", "   ", "field 'order_id' is blank"},
      {"order_id", std::string(129, '7'), "field 'order_id' is longer than 128"},
      {"buyer_id", "\x7f", "field 'buyer_id' has a control character"},
      {"shop", "s\t1", "field 'shop' has a control character"},
      {"buyer_country", "es", ""},
      {"buyer_country", "-1", "field 'buyer_country' is not an ISO 3166-1 alpha-2 code: '-1'"},
      {"buyer_country", "XX", "field 'buyer_country' is not an ISO 3166-1 alpha-2 code: 'XX'"},
      {"buyer_country", "ESP", "field 'buyer_country' is not an ISO 3166-1 alpha-2 code: 'ESP'"},
      {"buyer_country", nullptr, ""},
      {"currency", "EUR", ""},
      {"currency", "-1", "field 'currency' is not an ISO 4217 code: '-1'"},
      {"currency", "usd", "field 'currency' is not an ISO 4217 code: 'usd'"},
      {"currency", nullptr, ""},
      {"amount", "0", ""},
      {"amount", "12.3456", ""},
      {"amount", 19.99, ""},
      {"amount", "999999999999.99", ""},
      {"amount", "12.34567", "field 'amount' is not a non-negative decimal below 10^12 with at most 4 decimals"},
      {"amount", "-1", "field 'amount' is not a non-negative decimal"},
      {"amount", "1000000000000", "field 'amount' is not a non-negative decimal"},
      {"amount", nlohmann::json::parse("9223372036854775808"), "field 'amount' is not a non-negative decimal"},
      {"amount", "1e5", "field 'amount' is not a non-negative decimal"},
      {"amount", "12.", "field 'amount' is not a non-negative decimal"},
      {"buyer_email", "ana.ruiz+shop@mail.example.es", ""},
      {"buyer_email", "\"ana ruiz\"@example.com", ""},
      {"buyer_email", "ana@[192.0.2.1]", ""},
      {"buyer_email", "ana", "field 'buyer_email' is not an RFC 5322 address"},
      {"buyer_email", "ana@@example.com", "field 'buyer_email' is not an RFC 5322 address"},
      {"buyer_email", "a..b@example.com", "field 'buyer_email' is not an RFC 5322 address"},
      {"buyer_email", "ana@example.com\r\nBcc: x@y", "field 'buyer_email' is not an RFC 5322 address"},
      {"buyer_email", "<ana@example.com>", "field 'buyer_email' is not an RFC 5322 address"},
      {"placed_at", "yesterday", "field 'placed_at' is not an ISO 8601 time"},
      {"status", "shipped", "unknown status 'shipped'"},
      {"type", "refund", "unknown type 'refund'"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.field);
    CAPTURE(r.value.dump());
    auto rec = parse_feed_line(order_json(r.field, r.value));
    if (std::string(r.reason).empty()) {
      auto* bad = std::get_if<RejectedRecord>(&rec);
      CHECK_MESSAGE(bad == nullptr, (bad ? bad->reason : ""));
    } else {
      REQUIRE(std::holds_alternative<RejectedRecord>(rec));
      CHECK(std::get<RejectedRecord>(rec).reason.find(r.reason) == 0);
    }
  }
}

TEST_CASE("a record placed in year 9999 or 1970 is rejected at ingest, naming the window") {
  Millis now = *parse_instant("2026-11-20T12:00:00Z");
  RecordWindow w;  // 400 days back, 1 day ahead
  auto at = [&](const char* t) { return test::make_order({.placed = *parse_instant(t)}); };
  CHECK_FALSE(outside_window(at("2026-11-20T11:00:00Z"), now, w));
  CHECK_FALSE(outside_window(at("2025-10-17T12:00:00Z"), now, w));  // 399 days back
  CHECK_FALSE(outside_window(at("2026-11-21T11:00:00Z"), now, w));
  auto future = outside_window(at("9999-01-01T00:00:00Z"), now, w);
  REQUIRE(future);
  CHECK(future->reason == "field 'placed_at' 9999-01-01T00:00:00.000Z is more than records.max_ahead (1d) in the future");
  auto old = outside_window(at("1970-01-01T00:00:00Z"), now, w);
  REQUIRE(old);
  CHECK(old->reason == "field 'placed_at' 1970-01-01T00:00:00.000Z is older than records.max_age (400d)");
  auto status = outside_window(StatusRecord{"s1", "o1", OrderStatus::kPaid, now + 2 * kDay}, now, w);
  REQUIRE(status);
  CHECK(status->reason.find("field 'at' ") == 0);

  test::EngineFixture f;
  auto r = f.engine->ingest({test::make_order({.id = "far", .placed = *parse_instant("9999-01-01T00:00:00Z")}),
                             test::make_order({.id = "epoch", .placed = 0}), test::make_order({.id = "ok"})});
  CHECK(r.rejected == 2);
  CHECK(r.orders == 1);
  CHECK(f.reasons("order_rejected") == std::vector<std::string>{"invalid_record", "invalid_record"});
}

// parse_instant reads the common shape by hand: it must agree with date::parse, which
// reads every other shape, on every instant and on every date that does not exist.
TEST_CASE("instants in the common shape read as date::parse reads them, across years, leap days and bad dates") {
  auto by_date = [](std::string s) -> std::optional<Millis> {
    s[10] = 'T';
    date::sys_time<std::chrono::milliseconds> tp;
    std::istringstream in(s.substr(0, s.size() - 1));
    in >> date::parse("%FT%T", tp);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
    return tp.time_since_epoch().count();
  };
  for (Millis t = 0; t < 253402300800000LL; t += 86400000LL * 31 + 3600007) {
    const std::string ms = format_instant(t);  // 2026-11-20T10:00:00.123Z
    const std::string whole = ms.substr(0, 19) + "Z";
    std::string spaced = ms;
    spaced[10] = ' ';
    REQUIRE(parse_instant(ms) == t);
    REQUIRE(parse_instant(whole) == by_date(whole));
    REQUIRE(parse_instant(spaced) == t);
  }
  for (const char* s : {"2024-02-29T12:00:00Z", "2000-02-29T00:00:00.001Z", "2026-12-31T23:59:59.999Z",
                        "1970-01-01T00:00:00Z", "2026-02-29T12:00:00Z", "2100-02-29T00:00:00Z", "2026-02-30T00:00:00Z",
                        "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
                        "2026-11-20T24:00:00Z", "2026-11-20T23:60:00Z", "2026-11-20T23:59:60Z", "1969-12-31T23:59:59Z",
                        "2026-11-20T10:00:00.2x5Z", "2026-11-20T10:00:00,250Z"}) {
    INFO(s);
    CHECK(parse_instant(s) == by_date(s));
  }
  CHECK_FALSE(parse_instant("2026-02-29T12:00:00Z").has_value());
  CHECK(parse_instant("2024-02-29T12:00:00Z") == 1709208000000);
}

TEST_CASE("instants: Z or an offset with digits; a sign with nothing after it is rejected (found by bench/fuzz)") {
  CHECK(parse_instant("2026-11-20T10:00:00Z") == 1795168800000);
  CHECK(parse_instant("2026-11-20T10:00:00.250Z") == 1795168800250);
  CHECK(parse_instant("2026-11-20T11:00:00+01:00") == 1795168800000);
  CHECK(parse_instant("2026-11-20T11:00:00+01") == 1795168800000);
  CHECK(parse_instant("2026-11-20T05:30:00-04:30") == 1795168800000);
  CHECK(parse_instant("2026-11-20 10:00:00Z") == 1795168800000);
  // date::parse negated an offset it had not read (undefined behaviour) on these
  for (const char* bad : {"2026-11-20T10:00:02-", "2026-11-20T10:00:02+", "2026-11-20T10:00:02^",
                          "2026-11-20T10:00:02-:", "2026-11-20T10:00:02.Z", "2026-11-20T10:00:02Z+01",
                          "2026-11-20T10:00:02+01:0", "2026-11-20T10:00:02+011:00", "2026-11-20T10:00:02"}) {
    INFO(bad);
    CHECK_FALSE(parse_instant(bad).has_value());
  }
  // and the feed says which field is wrong
  auto rec = parse_feed_line(order_json("placed_at", "2026-11-20T10:00:02-"));
  REQUIRE(std::holds_alternative<RejectedRecord>(rec));
  CHECK(std::get<RejectedRecord>(rec).reason.find("placed_at") != std::string::npos);
}
