#include <doctest/doctest.h>

#include "core/aliexpress.h"
#include "core/hash.h"
#include "core/time_util.h"
#include "daemon/aliexpress_source.h"

using namespace nudge;
namespace ae = nudge::aliexpress;

TEST_CASE("requests are signed as the Open Platform documents it") {
  std::map<std::string, std::string> p = {{"access_token", "test"},
                                          {"app_key", "123456"},
                                          {"order_id", "1234"},
                                          {"sign_method", "sha256"},
                                          {"timestamp", "1517820392000"}};
  CHECK(ae::sign("/order/get", p, "helloworld") == "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A");
  SUBCASE("an existing sign parameter is not part of the signature") {
    p["sign"] = "whatever";
    CHECK(ae::sign("/order/get", p, "helloworld") == "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A");
  }
  SUBCASE("/sync APIs are signed without a path prefix, and any change breaks the signature") {
    CHECK(ae::sign("", p, "helloworld") != ae::sign("/order/get", p, "helloworld"));
    CHECK(ae::sign("", p, "helloworld") == hmac_sha256_hex("helloworld",
                                                          "access_tokentestapp_key123456order_id1234sign_methodsha256"
                                                          "timestamp1517820392000",
                                                          true));
    p["order_id"] = "1235";
    CHECK(ae::sign("/order/get", p, "helloworld") != "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A");
  }
}

TEST_CASE("AliExpress order statuses map to the feed's four statuses") {
  struct Row {
    const char* status;
    const char* end_reason;
    std::optional<OrderStatus> want;
  };
  const Row rows[] = {
      {"PLACE_ORDER_SUCCESS", "", OrderStatus::kAwaitingPayment},
      {"WAIT_SELLER_SEND_GOODS", "", OrderStatus::kPaid},
      {"SELLER_PART_SEND_GOODS", "", OrderStatus::kPaid},
      {"WAIT_BUYER_ACCEPT_GOODS", "", OrderStatus::kPaid},
      {"FUND_PROCESSING", "", OrderStatus::kPaid},
      {"FINISH", "buyer_accept_goods", OrderStatus::kPaid},
      {"FINISH", "buyer_cancel_order", OrderStatus::kCancelled},
      {"FINISH", "seller_cancel_order", OrderStatus::kCancelled},
      {"FINISH", "cancel_order_close_trade", OrderStatus::kCancelled},
      {"FINISH", "buyer_pay_timeout", OrderStatus::kClosed},
      {"FINISH", "risk_reject_closed", OrderStatus::kClosed},
      {"IN_CANCEL", "", OrderStatus::kCancelled},
      {"SOMETHING_NEW", "", std::nullopt},
  };
  for (const auto& r : rows) {
    CAPTURE(r.status);
    CAPTURE(r.end_reason);
    CHECK(ae::map_status(r.status, r.end_reason) == r.want);
  }
}

TEST_CASE("Pacific times become UTC, across both DST changes") {
  // Winter: PST, UTC-8.
  CHECK(ae::pacific_to_utc("2026-01-15 10:00:00") == parse_instant("2026-01-15T18:00:00Z"));
  // Summer: PDT, UTC-7.
  CHECK(ae::pacific_to_utc("2026-07-15 10:00:00") == parse_instant("2026-07-15T17:00:00Z"));
  // 2026-03-08 02:30 does not exist (clocks jump 02:00 -> 03:00): read just after the gap.
  CHECK(ae::pacific_to_utc("2026-03-08 01:59:59") == parse_instant("2026-03-08T09:59:59Z"));
  CHECK(ae::pacific_to_utc("2026-03-08 03:00:00") == parse_instant("2026-03-08T10:00:00Z"));
  CHECK(ae::pacific_to_utc("2026-03-08 02:30:00") == parse_instant("2026-03-08T10:30:00Z"));
  // 2026-11-01 01:30 happens twice: the earlier (PDT) instant.
  CHECK(ae::pacific_to_utc("2026-11-01 01:30:00") == parse_instant("2026-11-01T08:30:00Z"));
  CHECK(ae::pacific_to_utc("2026-11-01 02:30:00") == parse_instant("2026-11-01T10:30:00Z"));
  // And back, as the gateway's query dates want them.
  CHECK(ae::utc_to_pacific(*parse_instant("2026-07-15T17:00:00Z")) == "2026-07-15 10:00:00");
  CHECK(ae::utc_to_pacific(*parse_instant("2026-01-15T18:00:00Z")) == "2026-01-15 10:00:00");
  CHECK_FALSE(ae::pacific_to_utc("2026-07-15T10:00:00Z"));
  CHECK_FALSE(ae::pacific_to_utc("yesterday"));
  CHECK_FALSE(ae::pacific_to_utc(""));
}

TEST_CASE("an order DTO becomes a feed order record in UTC") {
  auto dto = nlohmann::json::parse(R"({"order_id": 8000012345678, "order_status": "PLACE_ORDER_SUCCESS",
    "gmt_create": "2026-07-15 10:00:00", "buyer_login_id": "es1001", "buyer_signer_fullname": "Ana Ruiz",
    "buyer_country": "es", "pay_amount": {"amount": "33.31", "currency_code": "USD"}, "timeout_left_time": 3600000})");
  Millis now = *parse_instant("2026-07-15T18:00:00Z");
  auto rec = ae::order_record(dto, "shop1", now);
  REQUIRE(std::holds_alternative<OrderRecord>(rec));
  const auto& o = std::get<OrderRecord>(rec);
  CHECK(o.shop == "shop1");
  CHECK(o.order_id == "8000012345678");
  CHECK(o.buyer_id == "es1001");
  CHECK(o.buyer_name == "Ana Ruiz");
  CHECK(o.buyer_country == "ES");
  CHECK(o.amount == "33.31");
  CHECK(o.currency == "USD");
  CHECK(o.placed_at == *parse_instant("2026-07-15T17:00:00Z"));
  CHECK(o.closes_at == now + kHour);
  CHECK(o.status == OrderStatus::kAwaitingPayment);

  SUBCASE("a paid order keeps no close time") {
    dto["order_status"] = "WAIT_SELLER_SEND_GOODS";
    auto paid = std::get<OrderRecord>(ae::order_record(dto, "shop1", now));
    CHECK(paid.status == OrderStatus::kPaid);
    CHECK_FALSE(paid.closes_at);
  }
  SUBCASE("an unknown status or a bad date rejects the record with a reason") {
    dto["order_status"] = "WEIRD";
    auto r = ae::order_record(dto, "shop1", now);
    REQUIRE(std::holds_alternative<RejectedRecord>(r));
    CHECK(std::get<RejectedRecord>(r).reason.find("WEIRD") != std::string::npos);
    dto["order_status"] = "PLACE_ORDER_SUCCESS";
    dto["gmt_create"] = "15/07/2026";
    CHECK(std::holds_alternative<RejectedRecord>(ae::order_record(dto, "shop1", now)));
  }
}

TEST_CASE("gateway errors are recognised in both answer styles") {
  CHECK_FALSE(ae::gateway_error(nlohmann::json::parse(R"({"aliexpress_x_response": {"result": {}}})")));
  CHECK_FALSE(ae::gateway_error(nlohmann::json::parse(R"({"code": "0", "result": {}})")));
  auto sync = ae::gateway_error(nlohmann::json::parse(
      R"({"error_response": {"type": "ISP", "code": "ApiCallLimit", "msg": "too fast", "request_id": "x"}})"));
  REQUIRE(sync);
  CHECK(*sync == "gateway error ApiCallLimit: too fast");
  CHECK(ae::is_transient_error_code(*sync));
  auto rest = ae::gateway_error(nlohmann::json::parse(R"({"code": "IncompleteSignature", "message": "bad sign"})"));
  REQUIRE(rest);
  CHECK_FALSE(ae::is_transient_error_code(*rest));
}

TEST_CASE("base64 decodes what it encodes, and refuses what is not base64") {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\x00\xff\x10", 3)}) CHECK(base64_decode(base64_encode(s)) == s);
  CHECK_FALSE(base64_decode("ab$c"));
  CHECK_FALSE(base64_decode("ab=c"));
}

TEST_CASE("an AliExpress poll walks both queries page by page, and resumes where a failure left it") {
  using nudge::AliexpressCursor;
  const Millis now = 1'800'000'000'000, overlap = 10 * kMinute;
  SUBCASE("the first poll looks back one overlap") {
    auto c = AliexpressCursor::next(std::nullopt, now, overlap);
    CHECK(c.started == now);
    CHECK(c.since == now - overlap);
    CHECK(c.query == 0);
    CHECK(c.page == 1);
  }
  SUBCASE("a later poll starts one overlap before the previous one began") {
    auto c = AliexpressCursor::next(std::to_string(now - kMinute), now, overlap);
    CHECK(c.since == now - kMinute - overlap);
  }
  SUBCASE("a cursor inside a poll names the same page again") {
    AliexpressCursor mid{now - 5000, now - overlap, 1, 3};
    auto c = AliexpressCursor::next(mid.to_string(), now, overlap);
    CHECK(c.started == mid.started);
    CHECK(c.since == mid.since);
    CHECK(c.query == 1);
    CHECK(c.page == 3);
  }
  SUBCASE("a garbled cursor starts a fresh poll") {
    auto c = AliexpressCursor::next(std::string("p|garbage"), now, overlap);
    CHECK(c.started == now);
    CHECK(c.query == 0);
  }
}
