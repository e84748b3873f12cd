// Safety (G7): the policy lint that keeps off-platform and pushy wording out of
// templates, the same check on every rendered message before it is claimed, and the
// cleaning of buyer-supplied text before it is rendered. Pure functions; the
// detectors themselves live in core/content_lint.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/content_lint.h"
#include "core/policy.h"
#include "core/render.h"

namespace nudge {

// The content lint for a policy: its safety settings, and for phone numbers the
// countries it names (campaign matches, zones, languages).
std::shared_ptr<const ContentLint> make_content_lint(const Policy& policy);

// Lints every template's subject and body. Appends to `errors` every contact route,
// payment route, account number, off-platform wording and foreign link, with the
// file:line:col where it starts in `source` (the policy file's text), its category and
// the text matched; to `warnings` every pushy wording (errors instead with
// safety.tone: error) and, as notes, every finding that safety.allow lets through.
void lint_policy(const Policy& policy, const std::string& file, const std::string& source,
                 std::vector<PolicyError>& errors, std::vector<PolicyError>& warnings);

// The first thing in a rendered message (subject or body) that must not be sent, or
// nothing. A template that passed the lint can still render one: an order field or a
// buyer's name may carry a phone number. The caller skips the message with the reason
// "unsafe_content:" + to_string(category).
std::optional<Finding> unsafe_content(const Policy& policy, const Rendered& message);

// A buyer-supplied field made safe to render: control characters and CR/LF become
// spaces, anything that looks like a link is removed, whitespace is collapsed and the
// result is cut to `max_chars` UTF-8 characters. Invalid UTF-8 bytes are dropped.
std::string clean_buyer_text(std::string_view text, size_t max_chars = 64);

}  // namespace nudge
