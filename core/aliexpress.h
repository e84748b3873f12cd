// The pure parts of the AliExpress (IOP) Open Platform: request signing, order
// status mapping, US Pacific time, and turning an order DTO into a feed record.
// The daemon's aliexpress source and channel do the I/O around these.
// Pure functions, safe from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/feed.h"

namespace nudge::aliexpress {

inline constexpr const char* kDefaultGateway = "https://api-sg.aliexpress.com";

// The IOP signature: parameters sorted by key (except `sign`), key+value joined with
// no separator, prefixed by `api_path` for /rest APIs ("/aliexpress/message/send"),
// nothing for /sync APIs (pass ""), HMAC-SHA256 with the app secret, uppercase hex.
std::string sign(const std::string& api_path, const std::map<std::string, std::string>& params,
                 const std::string& app_secret);

// PLACE_ORDER_SUCCESS -> awaiting payment; shipped/finished -> paid; IN_CANCEL or a
// FINISH ended by a cancel -> cancelled; a FINISH ended by the payment timeout or a
// close -> closed. nullopt for a status this code does not know.
std::optional<OrderStatus> map_status(const std::string& order_status, const std::string& end_reason);

// "yyyy-MM-dd HH:mm:ss" in America/Los_Angeles <-> UTC milliseconds. A wall time that
// occurs twice (the autumn DST change) is read as the earlier instant; one that never
// occurs (spring) as the instant just after the gap.
std::optional<Millis> pacific_to_utc(const std::string& text);
std::string utc_to_pacific(Millis t);

// One order DTO from aliexpress.trade.seller.orderlist.get (or findorderbyid) as a
// feed record of `shop`. `now` anchors closes_at (now + timeout_left_time).
FeedRecord order_record(const nlohmann::json& dto, const std::string& shop, Millis now);

// The gateway's error in a parsed answer, or nullopt when it reports success. Covers
// /sync style {"error_response": {...}} and /rest style {"code": "...", ...}. The text
// holds the error code and message, never request parameters.
std::optional<std::string> gateway_error(const nlohmann::json& answer);

// True for a gateway_error() text worth retrying later (throttling, the gateway's own faults).
bool is_transient_error_code(const std::string& error);

}  // namespace nudge::aliexpress
