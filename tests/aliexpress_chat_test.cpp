// The strict reader of AliExpress buyer chat (core/aliexpress.h read_message_history),
// on answers shaped like the official IOP Java SDK's classes
// (AliexpressMessageHistoryListResponse and the DTOs it names).
#include <doctest/doctest.h>

#include "core/aliexpress.h"

namespace ae = nudge::aliexpress;

namespace {
nlohmann::json answer(const nlohmann::json& messages, bool has_more = false) {
  return {{"result",
           {{"success", true},
            {"data",
             {{"message_list", messages},
              {"has_more", has_more},
              {"next_start_time", 1795000300000},
              {"last_message_id", "30001"}}}}},
          {"code", "0"},
          {"request_id", "r1"}};
}
nlohmann::json message(const std::string& id, int from, int type, const std::string& content, long long at) {
  return {{"message_id", id},    {"from_account_type", from}, {"to_account_type", from == 11 ? 2 : 11},
          {"from_account_id", "x"}, {"to_account_id", "y"},     {"template_id", 1},
          {"type", type},        {"content", content},        {"send_time", at}};
}
}  // namespace

TEST_CASE("a chat page yields the buyer's own messages as replies, and nothing the seller or the system wrote") {
  auto page = ae::read_message_history(
      answer({message("30000", 2, 1, R"({"txt":"Your order is waiting"})", 1795000000000),
              message("30001", 11, 1, R"({"txt":"Can I pay by bank transfer?"})", 1795000100000),
              message("30002", 11, 2, R"({"order_id":"8001"})", 1795000200000),  // an order card
              message("30003", 11, 1, "stop", 1795000250000)},                      // content not JSON
             true),
      "s1", "dz595004243yiyae");
  REQUIRE(page.error.empty());
  REQUIRE(page.replies.size() == 2);
  CHECK(page.replies[0].text == "Can I pay by bank transfer?");
  CHECK(page.replies[0].message_id == "30001");
  CHECK(page.replies[0].buyer_id == "dz595004243yiyae");
  CHECK(page.replies[0].shop == "s1");
  CHECK(page.replies[0].channel == "aliexpress_chat");
  CHECK(page.replies[0].at == 1795000100000);
  CHECK(page.replies[1].text == "stop");
  CHECK(page.others == 2);
  CHECK(page.has_more);
  CHECK(page.next_start_time == 1795000300000);
  CHECK(page.last_message_id == "30001");
}

TEST_CASE("a chat page of an unknown shape fails with the path of the first field it cannot read") {
  struct Case {
    nlohmann::json answer;
    const char* error;
  };
  const Case cases[] = {
      {nlohmann::json::array(), "not a JSON object"},
      {{{"code", "0"}}, "result is missing"},
      {{{"result", {{"data", nlohmann::json::object()}}}}, "result.success is missing"},
      {{{"result", {{"success", true}}}}, "result.data is missing"},
      {{{"result", {{"success", true}, {"data", {{"message_list", nlohmann::json::array({{{"message_id", "1"}}})}}}}}},
       "result.data.message_list[0].from_account_type is missing"},
      {answer(nlohmann::json::array({message("1", 11, 1, "hi", -5)})),
       "result.data.message_list[0].send_time is not a time"},
      {answer(nlohmann::json::array(
           {{{"message_id", "1"}, {"from_account_type", "eleven"}, {"type", 1}, {"content", "x"}, {"send_time", 1}}})),
       "result.data.message_list[0].from_account_type is not an integer"},
      {{{"result", {{"success", true}, {"data", {{"has_more", true}}}}}}, "result.data.message_list is missing"},
      {answer(nlohmann::json::array({message(std::string(200, '7'), 11, 1, "hi", 1795000000000)})),
       "result.data.message_list[0].message_id is not an id"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.answer.dump());
    auto page = ae::read_message_history(c.answer, "s1", "b1");
    CHECK(page.replies.empty());
    CHECK(page.error.find(c.error) != std::string::npos);
  }
  auto refused = ae::read_message_history(
      {{"result", {{"success", false}, {"error_code", "B_NOT_FOUND"}, {"error_message", "no session"}}}}, "s1", "b1");
  CHECK(refused.refused);
  CHECK(refused.error == "message/history/list refused: B_NOT_FOUND no session");
  auto empty = ae::read_message_history({{"result", {{"success", true}, {"data", {{"has_more", false}}}}}}, "s1", "b1");
  CHECK(empty.error.empty());
  CHECK(empty.replies.empty());
}
