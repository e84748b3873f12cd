// The pure parts of the AliExpress (IOP) Open Platform: request signing, order
// status mapping, US Pacific time, and strict readers of the gateway's answers.
// The daemon's aliexpress source and channel do the I/O around these.
//
// Every reader checks the documented shape (sources: the official IOP Java SDK's
// generated classes, named at each reader; docs/channels.md lists them) and fails
// with the path of the first field it cannot read ("...result.target_list
// .aeop_order_item_dto[3].order_status is missing"), never with a silent "nothing".
// Pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/feed.h"

namespace nudge::aliexpress {

inline constexpr const char* kDefaultGateway = "https://api-sg.aliexpress.com";
inline constexpr const char* kOrderList = "aliexpress.trade.seller.orderlist.get";
inline constexpr const char* kFindOrder = "aliexpress.trade.new.redefining.findorderbyid";
inline constexpr const char* kSessionOpen = "/aliexpress/message/session/open";
inline constexpr const char* kMessageSend = "/aliexpress/message/send";
inline constexpr const char* kTokenRefresh = "/auth/token/refresh";
inline constexpr const char* kMessageHistory = "/aliexpress/message/history/list";
inline constexpr const char* kSessionTagUpdate = "/aliexpress/message/session/tag/update";

// Buyer chat: from_account_type of a buyer's message, and type of a message a person
// wrote (not a system or card message). Not in the SDK (it types both as Integer):
// the values come from the API documentation, see docs/channels.md.
inline constexpr int kBuyerAccountType = 11;
inline constexpr int kUserMessageType = 1;
inline constexpr int kHistoryPageSize = 20;  // the most message/history/list returns

// One page of /aliexpress/message/history/list (AliexpressMessageHistoryListResponse ->
// AliexpressMessageHistoryListResult {success, error_code, error_message, data:
// AliexpressMessageHistoryListFetchAeImMessageResultDTO {message_list of
// AliexpressMessageHistoryListAeImMessageDTO, has_more, next_start_time,
// last_message_id}}). `replies` holds the buyer's own user messages only (the
// seller's, the system's and cards are counted in `others`), as reply records of
// `shop` and `buyer_login` (the buyer id of the orders, not the numeric chat id) on
// channel "aliexpress_chat". A message's `content` is a JSON string whose text is
// read from "txt", "text" or "content" (or the string itself when it is not JSON);
// `send_time` is epoch milliseconds. `refused`: the API answered success=false.
struct HistoryPage {
  std::vector<ReplyRecord> replies;
  int others = 0;
  bool has_more = false;
  std::optional<std::int64_t> next_start_time;
  std::string last_message_id;
  bool refused = false;
  std::string error;  // set: nothing of this page may be used
};
HistoryPage read_message_history(const nlohmann::json& answer, const std::string& shop,
                                 const std::string& buyer_login);

// The IOP signature: parameters sorted by key (except `sign`), key+value joined with
// no separator, prefixed by `api_path` for /rest APIs ("/aliexpress/message/send"),
// nothing for /sync APIs (pass ""), HMAC-SHA256 with the app secret, uppercase hex.
std::string sign(const std::string& api_path, const std::map<std::string, std::string>& params,
                 const std::string& app_secret);

// PLACE_ORDER_SUCCESS -> awaiting payment; paid states -> paid; IN_CANCEL (the buyer
// asked to cancel) -> cancelled; FINISH ended by the payment timeout or a close ->
// closed, by a cancel -> cancelled, any other end of an order never paid
// (fund_status NOT_PAY) -> closed, else paid. nullopt for a status this code does not know.
std::optional<OrderStatus> map_status(const std::string& order_status, const std::string& end_reason,
                                      const std::string& fund_status = "");

// "yyyy-MM-dd HH:mm:ss" in America/Los_Angeles <-> UTC milliseconds. A wall time that
// occurs twice (the autumn DST change) is read as the earlier instant; one that never
// occurs (spring) as the instant just after the gap.
std::optional<Millis> pacific_to_utc(const std::string& text);
std::string utc_to_pacific(Millis t);

// One page of aliexpress.trade.seller.orderlist.get
// (AliexpressTradeSellerOrderlistGetResponse -> AeopPageResultDTO -> target_list of
// AeopOrderItemDTO, listed under "aeop_order_item_dto").
struct OrderListPage {
  std::vector<FeedRecord> records;  // every item as an order record of `shop`
  std::int64_t total_count = 0, total_page = 0;
  std::string error;                // set: nothing of this page may be used
};
OrderListPage read_order_list(const nlohmann::json& answer, const std::string& shop, int current_page,
                              Millis now);

// findorderbyid's target (AeopTpOrderDetailDTO) for `order_id`: its status, or an error.
struct OrderState {
  std::optional<OrderStatus> status;
  std::string error;
};
OrderState read_find_order(const nlohmann::json& answer, const std::string& order_id);

// message/session/open (AeImSessionOpenResultDTO): the numeric buyer id, or the
// platform's refusal (`refused`: permanent), or an unreadable shape (transient).
struct SessionOpen {
  std::optional<std::int64_t> buyer_id;
  bool refused = false;
  std::string error;
};
SessionOpen read_session_open(const nlohmann::json& answer);

// message/send: the SDK types its result as a free map; we accept result.success or
// result.is_success (a boolean). True: sent. False: refused (permanent). Anything
// else is an unknown shape (transient), never "sent".
struct SendAnswer {
  enum Kind { kSent, kRefused, kUnknown } kind = kUnknown;
  std::string error;
};
SendAnswer read_message_send(const nlohmann::json& answer);

// /auth/token/refresh (AuthTokenRefreshResponse): the new tokens and their expiries.
struct TokenSet {
  std::string access_token, refresh_token;
  std::optional<Millis> expires_at, refresh_expires_at;
};
struct TokenAnswer {
  std::optional<TokenSet> tokens;
  std::string error;
};
TokenAnswer read_token_refresh(const nlohmann::json& answer, Millis now);

// A session file holds either the bare access token or the JSON answer of
// /auth/token/create (access_token, refresh_token, expire_time, ...).
TokenSet read_session_text(const std::string& text, Millis now);
nlohmann::json token_json(const TokenSet& t);

// The gateway's error in a parsed answer, or nullopt when it reports success. Covers
// /sync style {"error_response": {...}} and /rest style {"code": "...", ...}. The text
// holds the error code and message, never request parameters.
std::optional<std::string> gateway_error(const nlohmann::json& answer);

// True for a gateway_error() text worth retrying later (throttling, the gateway's own faults).
bool is_transient_error_code(const std::string& error);

// True when the gateway refused the credentials (app key, token, signature).
bool is_credentials_error(const std::string& error);

// How long a throttled API is banned: "ApiCallLimit ... this ban will last 3 seconds"
// -> 3000; an ApiCallLimit without a stated ban -> 1000; anything else -> 0.
Millis ban_of(const std::string& error);

}  // namespace nudge::aliexpress
