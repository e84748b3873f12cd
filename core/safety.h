// Safety: the policy lint that keeps scam-looking wording out of templates (G7),
// and the cleaning of buyer-supplied text before it is rendered. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/policy.h"

namespace nudge {

// Off-platform payment phrases refused in any template, lowercase. English,
// Spanish, Portuguese, Russian, French and Chinese.
const std::vector<std::string>& builtin_forbidden_phrases();

// Appends an error for every link to a host outside safety.allowed_link_hosts (or
// their subdomains) and every forbidden phrase, with the template's line:col in `file`.
void lint_policy(const Policy& policy, const std::string& file, std::vector<PolicyError>& errors);

// A buyer-supplied field made safe to render: control characters and CR/LF become
// spaces, anything that looks like a link is removed, whitespace is collapsed and the
// result is cut to `max_chars` UTF-8 characters. Invalid UTF-8 bytes are dropped.
std::string clean_buyer_text(std::string_view text, size_t max_chars = 64);

}  // namespace nudge
