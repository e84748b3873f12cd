// Feed records: the JSON Lines order format shared by the inbox, the http source
// and `nudgectl simulate` (see docs/feed.md). Parsing never throws: a record is
// either valid or carries the reason it was rejected. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "core/clock.h"

namespace nudge {

enum class OrderStatus { kAwaitingPayment, kPaid, kCancelled, kClosed };

const char* to_string(OrderStatus s);
std::optional<OrderStatus> parse_status(const std::string& s);

struct OrderRecord {
  std::string shop, order_id, buyer_id;
  std::string buyer_name, buyer_country, buyer_lang, buyer_tz, buyer_email;
  std::string amount = "0", currency;
  Millis placed_at = 0;
  std::optional<Millis> closes_at;
  OrderStatus status = OrderStatus::kAwaitingPayment;
};

struct StatusRecord {
  std::string shop, order_id;
  OrderStatus status = OrderStatus::kPaid;
  Millis at = 0;
};

// A reminder asked for by hand (`nudgectl remind`): sent through every check an
// automatic step gets, as step `manual`, with `actor` (the Unix user who asked) in
// the audit. `channel`/`tmpl` empty: the order's campaign's first step's.
struct RemindRecord {
  std::string shop, order_id;
  std::string channel, tmpl;
  std::string actor;
  Millis at = 0;  // when it was asked
};

struct RejectedRecord {
  std::string shop, order_id;  // as far as they could be read
  std::string reason;          // "missing field 'buyer_id'", ...
};

// A buyer's answer to a reminder (docs/feed.md): what it does is decided by
// core/replies.h when it is ingested. A (shop, channel, message_id) is taken once.
struct ReplyRecord {
  std::string shop, buyer_id, text, channel, message_id;
  Millis at = 0;
};

using FeedRecord = std::variant<OrderRecord, StatusRecord, RemindRecord, RejectedRecord, ReplyRecord>;

FeedRecord parse_feed_line(const std::string& line);

// The instant a record describes: placed_at for orders, at for status, remind and reply records.
std::optional<Millis> record_time(const FeedRecord& r);

// How far back and ahead of now a record's time may be (the policy's `records`).
struct RecordWindow {
  Millis max_age = 400 * kDay;
  Millis max_ahead = kDay;
};

// The rejection of a record whose time is outside `w` around `now`, naming the field.
std::optional<RejectedRecord> outside_window(const FeedRecord& r, Millis now, const RecordWindow& w);

}  // namespace nudge
