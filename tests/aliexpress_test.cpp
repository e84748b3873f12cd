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
      {"FINISH", "", OrderStatus::kPaid},
      {"IN_CANCEL", "", OrderStatus::kCancelled},
      {"SOMETHING_NEW", "", std::nullopt},
  };
  for (const auto& r : rows) {
    CAPTURE(r.status);
    CAPTURE(r.end_reason);
    CHECK(ae::map_status(r.status, r.end_reason) == r.want);
  }
  // A FINISH of an order never paid, whatever the end reason says, is not a payment.
  CHECK(ae::map_status("FINISH", "seller_send_goods_timeout", "NOT_PAY") == OrderStatus::kClosed);
  CHECK(ae::map_status("FINISH", "buyer_accept_goods", "PAY_SUCCESS") == OrderStatus::kPaid);
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

// Answers in the shapes of the official IOP Java SDK's generated classes
// (AliexpressTradeSellerOrderlistGetResponse -> AeopPageResultDTO.target_list of
// AeopOrderItemDTO; a list field is wrapped in an object keyed by its item type, as
// captured answers show: "target_list": {"aeop_order_item_dto": [...]}).
nlohmann::json order_list(nlohmann::json items, int total_count, int total_page = 1) {
  nlohmann::json result = {{"total_count", total_count}, {"total_page", total_page}, {"current_page", 1},
                           {"page_size", 50}, {"success", true}, {"time_stamp", "2026-07-15 11:00:00"}};
  if (!items.is_null()) result["target_list"] = {{"aeop_order_item_dto", items}};
  return {{"aliexpress_trade_seller_orderlist_get_response", {{"result", result}, {"request_id", "r1"}}}};
}

nlohmann::json item(const std::string& id = "8000012345678") {
  auto j = nlohmann::json::parse(R"({"order_status": "PLACE_ORDER_SUCCESS", "gmt_create": "2026-07-15 10:00:00",
    "gmt_update": "2026-07-15 10:00:00", "buyer_login_id": "dz595004243yiyae", "buyer_signer_fullname": "Ana Ruiz",
    "end_reason": "", "fund_status": "NOT_PAY", "frozen_status": "NO_FROZEN", "biz_type": "AE_COMMON",
    "pay_amount": {"amount": "33.31", "currency_code": "USD"}, "timeout_left_time": 3600000})");
  j["order_id"] = std::stoll(id);
  return j;
}

TEST_CASE("an order list page in the SDK's shape becomes feed order records in UTC") {
  Millis now = *parse_instant("2026-07-15T18:00:00Z");
  auto page = ae::read_order_list(order_list({item()}, 1), "shop1", 1, now);
  REQUIRE(page.error.empty());
  REQUIRE(page.records.size() == 1);
  const auto& o = std::get<OrderRecord>(page.records[0]);
  CHECK(o.shop == "shop1");
  CHECK(o.order_id == "8000012345678");
  CHECK(o.buyer_id == "dz595004243yiyae");
  CHECK(o.buyer_name == "Ana Ruiz");
  CHECK(o.amount == "33.31");
  CHECK(o.currency == "USD");
  CHECK(o.placed_at == *parse_instant("2026-07-15T17:00:00Z"));
  CHECK(o.closes_at == now + kHour);
  CHECK(o.status == OrderStatus::kAwaitingPayment);
  CHECK(page.total_count == 1);

  SUBCASE("a paid order keeps no close time") {
    auto paid = item();
    paid["order_status"] = "WAIT_SELLER_SEND_GOODS";
    auto p = ae::read_order_list(order_list({paid}, 1), "shop1", 1, now);
    REQUIRE(p.error.empty());
    CHECK(std::get<OrderRecord>(p.records[0]).status == OrderStatus::kPaid);
    CHECK_FALSE(std::get<OrderRecord>(p.records[0]).closes_at);
  }
  SUBCASE("an order id quoted as a string of digits is read too") {
    auto quoted = item();
    quoted["order_id"] = "8000012345679";
    auto p = ae::read_order_list(order_list({quoted}, 1), "shop1", 1, now);
    REQUIRE(p.error.empty());
    CHECK(std::get<OrderRecord>(p.records[0]).order_id == "8000012345679");
  }
  SUBCASE("an empty page may leave target_list out") {
    auto p = ae::read_order_list(order_list(nullptr, 0, 0), "shop1", 1, now);
    CHECK(p.error.empty());
    CHECK(p.records.empty());
  }
}

TEST_CASE("an order list answer we cannot read fails the whole page, naming the field") {
  Millis now = *parse_instant("2026-07-15T18:00:00Z");
  auto error_of = [&](const nlohmann::json& answer) {
    auto p = ae::read_order_list(answer, "shop1", 1, now);
    CHECK(p.records.empty());  // nothing of a bad page is used
    return p.error;
  };
  const std::string base = "aliexpress_trade_seller_orderlist_get_response.result";
  SUBCASE("the order_dto key of another API") {
    auto a = order_list(nullptr, 2);
    a["aliexpress_trade_seller_orderlist_get_response"]["result"]["target_list"] = {{"order_dto", {item(), item("2")}}};
    CHECK(error_of(a) == base + ".target_list.aeop_order_item_dto is missing (it holds order_dto)");
  }
  SUBCASE("an unknown shape") {
    CHECK(error_of({{"aliexpress_trade_seller_orderlist_get_response", {{"data", {}}}}}) == base + " is missing");
    CHECK(error_of({{"something_else", 1}}) == "aliexpress_trade_seller_orderlist_get_response is missing");
    CHECK(error_of(nlohmann::json::array()) == "the answer is not a JSON object");
  }
  SUBCASE("a count of orders and no items") {
    CHECK(error_of(order_list(nullptr, 3)) == base + ".total_count is 3 but .target_list is missing");
    CHECK(error_of(order_list(nlohmann::json::array(), 3)) ==
          base + ".total_count is 3 but page 1 lists no order");
  }
  SUBCASE("an item that cannot be read") {
    auto bad = item("2");
    bad.erase("order_status");
    CHECK(error_of(order_list({item(), bad}, 2)) ==
          base + ".target_list.aeop_order_item_dto[1].order_status is missing");
    bad["order_status"] = "SOMETHING_NEW";
    CHECK(error_of(order_list({item(), bad}, 2)) ==
          base + ".target_list.aeop_order_item_dto[1].order_status is 'SOMETHING_NEW', a status this version does not know");
    bad = item("2");
    bad["order_id"] = "12ab";
    CHECK(error_of(order_list({bad}, 1)) == base + ".target_list.aeop_order_item_dto[0].order_id is not an integer");
    bad = item("2");
    bad["gmt_create"] = "15/07/2026";
    CHECK(error_of(order_list({bad}, 1)).find("[0].gmt_create is not a Pacific time") != std::string::npos);
    bad = item("2");
    bad["pay_amount"] = {{"amount", "-5"}, {"currency_code", "USD"}};
    CHECK(error_of(order_list({bad}, 1)).find("[0] cannot be stored: field 'amount'") != std::string::npos);
  }
  SUBCASE("the gateway's own no-success") {
    auto a = order_list(nullptr, 0);
    auto& r = a["aliexpress_trade_seller_orderlist_get_response"]["result"];
    r["success"] = false;
    r["error_code"] = "E01";
    r["error_message"] = "query failed";
    CHECK(error_of(a) == "the gateway reported no success: E01 query failed");
  }
}

TEST_CASE("findorderbyid's target tells whether an order still awaits payment") {
  // AliexpressTradeNewRedefiningFindorderbyidResponse.target (AeopTpOrderDetailDTO), as captured.
  auto answer = nlohmann::json::parse(R"({"aliexpress_trade_new_redefining_findorderbyid_response": {"target": {
    "id": 8000012345678, "order_status": "PLACE_ORDER_SUCCESS", "order_end_reason": "", "fund_status": "NOT_PAY",
    "buyerloginid": "dz595004243yiyae", "gmt_create": "2026-07-15 10:00:00",
    "order_amount": {"amount": "33.31", "currency_code": "USD"}}, "request_id": "r2"}})");
  auto& target = answer["aliexpress_trade_new_redefining_findorderbyid_response"]["target"];
  CHECK(ae::read_find_order(answer, "8000012345678").status == OrderStatus::kAwaitingPayment);
  target["order_status"] = "RISK_CONTROL";
  CHECK(ae::read_find_order(answer, "8000012345678").status == OrderStatus::kPaid);
  target["order_status"] = "FINISH";
  target["order_end_reason"] = "buyer_pay_timeout";
  CHECK(ae::read_find_order(answer, "8000012345678").status == OrderStatus::kClosed);
  SUBCASE("another order, or the old result shape, is an error that names the field") {
    auto other = ae::read_find_order(answer, "8000012345679");
    CHECK_FALSE(other.status);
    CHECK(other.error.find("target.id is 8000012345678, not the order asked for") != std::string::npos);
    auto old = nlohmann::json::parse(R"({"aliexpress_trade_new_redefining_findorderbyid_response":
      {"result": {"order_status": "PLACE_ORDER_SUCCESS"}}})");
    CHECK(ae::read_find_order(old, "1").error ==
          "aliexpress_trade_new_redefining_findorderbyid_response.target is missing");
  }
}

TEST_CASE("session/open gives the numeric buyer id, or a refusal, or an error naming the field") {
  // AliexpressMessageSessionOpenResponse.result: {success, error_code, error_message,
  // data: AeImSessionOpenResultDTO {open_result, current_buyer_id}}.
  auto ok = ae::read_session_open(nlohmann::json::parse(
      R"({"result": {"success": true, "data": {"open_result": "SUCCESS", "current_buyer_id": 2206861234567}}, "code": "0"})"));
  CHECK(ok.buyer_id == 2206861234567);
  auto wrapped = ae::read_session_open(nlohmann::json::parse(
      R"({"aliexpress_message_session_open_response": {"result": {"success": true, "data": {"current_buyer_id": 7}}}})"));
  CHECK(wrapped.buyer_id == 7);
  auto refused = ae::read_session_open(nlohmann::json::parse(
      R"({"result": {"success": false, "error_code": "B01", "error_message": "buyer not found"}})"));
  CHECK_FALSE(refused.buyer_id);
  CHECK(refused.refused);
  CHECK(refused.error == "session/open refused: B01 buyer not found");
  auto odd = ae::read_session_open(nlohmann::json::parse(R"({"result": {"success": true, "buyer_id": 7}})"));
  CHECK_FALSE(odd.buyer_id);
  CHECK_FALSE(odd.refused);
  CHECK(odd.error == "result.data is missing");
}

TEST_CASE("message/send counts as sent only when it says so") {
  auto kind = [](const char* text) { return ae::read_message_send(nlohmann::json::parse(text)).kind; };
  CHECK(kind(R"({"result": {"success": true}, "code": "0"})") == ae::SendAnswer::kSent);
  CHECK(kind(R"({"result": {"is_success": true}})") == ae::SendAnswer::kSent);
  CHECK(kind(R"({"aliexpress_message_send_response": {"result": {"success": "true"}}})") == ae::SendAnswer::kSent);
  CHECK(kind(R"({"result": {"success": false, "error_message": "blocked"}})") == ae::SendAnswer::kRefused);
  CHECK(kind(R"({"result": {"data": {}}})") == ae::SendAnswer::kUnknown);
  CHECK(kind(R"({"code": "0"})") == ae::SendAnswer::kUnknown);
  CHECK(ae::read_message_send(nlohmann::json::parse(R"({"code": "0"})")).error ==
        "message/send answered in an unknown shape: result is missing");
}

TEST_CASE("tokens: a refresh answer, a session file, and how long a throttled API is banned") {
  Millis now = 1'800'000'000'000;
  // AuthTokenRefreshResponse: expire_time and refresh_token_valid_time are absolute ms.
  auto t = ae::read_token_refresh(nlohmann::json::parse(R"({"access_token": "new", "refresh_token": "r2",
    "expire_time": 1800086400000, "refresh_token_valid_time": 1802592000000, "expires_in": 86400, "code": "0"})"), now);
  REQUIRE(t.tokens);
  CHECK(t.tokens->access_token == "new");
  CHECK(t.tokens->expires_at == 1800086400000);
  CHECK(t.tokens->refresh_expires_at == 1802592000000);
  auto rel = ae::read_token_refresh(nlohmann::json::parse(R"({"access_token": "x", "expires_in": 60})"), now);
  CHECK(rel.tokens->expires_at == now + 60000);
  CHECK(ae::read_token_refresh(nlohmann::json::parse(R"({"expires_in": 60})"), now).error == "access_token is missing");
  CHECK(ae::read_session_text("plain-token\n", now).access_token == "plain-token");
  CHECK_FALSE(ae::read_session_text("plain-token\n", now).expires_at);
  auto js = ae::read_session_text(R"({"access_token": "a", "refresh_token": "r", "expire_time": 1800000001000})", now);
  CHECK(js.access_token == "a");
  CHECK(js.refresh_token == "r");
  CHECK(js.expires_at == 1800000001000);

  CHECK(ae::ban_of("gateway error ApiCallLimit: Api access frequency exceeds the limit. this ban will last 3 seconds") ==
        3000);
  CHECK(ae::ban_of("gateway error ApiCallLimit: too fast") == 1000);
  CHECK(ae::ban_of("gateway error IllegalAccessToken: no") == 0);
  CHECK(ae::is_credentials_error("gateway error IllegalAccessToken: the token is invalid"));
  CHECK_FALSE(ae::is_credentials_error("gateway error ApiCallLimit: too fast"));
}

TEST_CASE("the order queries: FINISH on its own, and every modified window bounded by a create window") {
  using nudge::AliexpressCursor;
  const Millis now = *parse_instant("2026-07-15T18:00:00Z");
  auto q0 = nudge::AliexpressSource::query({now, now - kHour, 0, 1}, 50);
  CHECK(q0["order_status_list"] == nlohmann::json{"PLACE_ORDER_SUCCESS"});
  CHECK_FALSE(q0.contains("modified_date_start"));
  auto q1 = nudge::AliexpressSource::query({now, now - kHour, 1, 2}, 50);
  CHECK(q1["current_page"] == 2);
  CHECK(q1["modified_date_start"] == "2026-07-15 10:00:00");
  CHECK(q1["modified_date_end"] == "2026-07-15 11:00:00");
  CHECK(q1["create_date_start"] == ae::utc_to_pacific(now - 180 * kDay));
  CHECK(q1["create_date_end"] == "2026-07-15 11:00:00");
  for (const auto& s : q1["order_status_list"]) CHECK(s != "FINISH");
  auto q2 = nudge::AliexpressSource::query({now, now - kHour, 2, 1}, 50);
  CHECK(q2["order_status_list"] == nlohmann::json{"FINISH"});
  CHECK(q2["create_date_start"] == ae::utc_to_pacific(now - 30 * kDay));
  CHECK(q2["modified_date_start"] == "2026-07-15 10:00:00");
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
