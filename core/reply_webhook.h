// The signed inbound webhook's pure half: what a POST /replies body means, and
// whether its Standard Webhooks timestamp is inside the replay window. The socket,
// the signature check and the answer live in daemon/reply_listener.*. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/feed.h"

namespace nudge {

// The most a body may hold; larger ones are refused (413) before they are read.
inline constexpr std::size_t kReplyBodyMax = 64 * 1024;
// How far a webhook-timestamp may be from now, either way (Standard Webhooks: 5 minutes).
inline constexpr Millis kReplyReplayWindow = 5 * kMinute;

// A body: one JSON object {"shop","buyer_id","text"} with optional "at" (default:
// `now`), "channel" (default "webhook") and "message_id" (default: the request's
// webhook-id), read by the feed's rules (core/feed.h). A ReplyRecord, or a
// RejectedRecord whose reason says what is wrong. Never throws.
FeedRecord parse_reply_body(std::string_view body, const std::string& webhook_id, Millis now);

// A webhook-timestamp (integer seconds since the epoch) within `window` of `now`.
bool webhook_timestamp_fresh(std::string_view seconds, Millis now, Millis window = kReplyReplayWindow);

}  // namespace nudge
