// Fuzz target: the body of a POST /replies (core/reply_webhook.h parse_reply_body),
// its webhook-timestamp check, and the classification of the reply it carries
// (core/replies.h), as the webhook runs them.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/content_lint.h"
#include "core/replies.h"
#include "core/reply_webhook.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nudge::ContentLint lint(nudge::LintConfig{});
  const nudge::Millis now = 1795000000000;  // 2026-11-19
  std::string body(reinterpret_cast<const char*>(data), size);
  (void)nudge::webhook_timestamp_fresh(body.substr(0, 16), now);
  auto r = nudge::parse_reply_body(body, "msg_fuzz", now);
  if (auto* reply = std::get_if<nudge::ReplyRecord>(&r)) (void)nudge::classify_reply(reply->text, "pt-BR", lint);
  return 0;
}
