#include "core/reply_webhook.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "core/time_util.h"

namespace nudge {

FeedRecord parse_reply_body(std::string_view body, const std::string& webhook_id, Millis now) {
  if (body.size() > kReplyBodyMax) return RejectedRecord{"", "", "the body is larger than 64 KiB"};
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return RejectedRecord{"", "", "the body is not valid JSON"};
  if (!j.is_object()) return RejectedRecord{"", "", "the body must be a JSON object"};
  if (auto t = j.find("type"); t != j.end() && *t != "reply")
    return RejectedRecord{"", "", "field 'type' must be \"reply\" (or absent)"};
  j["type"] = "reply";
  if (!j.contains("at")) j["at"] = format_instant(now);
  if (!j.contains("channel")) j["channel"] = "webhook";
  if (!j.contains("message_id")) j["message_id"] = webhook_id;
  // The feed's rules, once: the same checks as a reply record from a file.
  FeedRecord r = parse_feed_line(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return r;
}

bool webhook_timestamp_fresh(std::string_view seconds, Millis now, Millis window) {
  if (seconds.empty() || seconds.size() > 12) return false;
  long long s = 0;
  auto [p, ec] = std::from_chars(seconds.data(), seconds.data() + seconds.size(), s);
  if (ec != std::errc() || p != seconds.data() + seconds.size() || s < 0) return false;
  Millis t = static_cast<Millis>(s) * 1000;
  return t >= now - window && t <= now + window;
}

}  // namespace nudge
