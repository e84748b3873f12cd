// Render: picks the buyer's language and renders a template (Mustache, via mstch)
// with DESIGN.md's variables. Messages are plain text: nothing is HTML-escaped,
// and buyer-supplied fields are cleaned first (core/safety.h). Pure functions.
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/policy.h"

namespace date {
class time_zone;
}

namespace nudge {

struct RenderOrder {
  std::string order_id, amount, currency;
  Millis placed_at = 0, closes_at = 0;
};

struct RenderInput {
  std::string tmpl;
  std::string buyer_name, buyer_lang, country, shop, step;
  const date::time_zone* zone = nullptr;
  std::vector<RenderOrder> orders;
  Millis now = 0;
};

struct Rendered {
  std::string lang, subject, body;
};

// buyer_lang (or its primary subtag), then languages.<COUNTRY>, then languages.default;
// the first one the template has.
std::string choose_language(const Policy& policy, const Template& t, const std::string& buyer_lang,
                            const std::string& country);

Rendered render_message(const Policy& policy, const RenderInput& in);

// "2 days", "3 часа", "5 horas", "1 天"; falls back to English for other languages.
std::string human_duration(Millis d, const std::string& lang);

}  // namespace nudge
