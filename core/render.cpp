#include "core/render.h"

#include <cmath>
#include <cstdio>

#include <mstch/mstch.hpp>

#include "core/safety.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {
namespace {

std::string primary(const std::string& lang) {
  auto dash = lang.find_first_of("-_");
  std::string p = lang.substr(0, dash);
  for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return p;
}

struct Units {
  const char* day[3];  // one, few, many (only Russian uses "few")
  const char* hour[3];
  const char* minute[3];
};

const Units* units_for(const std::string& lang) {
  static const Units en{{"day", "days", "days"}, {"hour", "hours", "hours"}, {"minute", "minutes", "minutes"}};
  static const Units es{{"día", "días", "días"}, {"hora", "horas", "horas"}, {"minuto", "minutos", "minutos"}};
  static const Units pt{{"dia", "dias", "dias"}, {"hora", "horas", "horas"}, {"minuto", "minutos", "minutos"}};
  static const Units fr{{"jour", "jours", "jours"}, {"heure", "heures", "heures"}, {"minute", "minutes", "minutes"}};
  static const Units ru{{"день", "дня", "дней"}, {"час", "часа", "часов"}, {"минута", "минуты", "минут"}};
  static const Units zh{{"天", "天", "天"}, {"小时", "小时", "小时"}, {"分钟", "分钟", "分钟"}};
  if (lang == "es") return &es;
  if (lang == "pt") return &pt;
  if (lang == "fr") return &fr;
  if (lang == "ru") return &ru;
  if (lang == "zh") return &zh;
  return &en;
}

// 0: one, 1: few, 2: many; Russian rules for ru, "n == 1" (French: n <= 1) otherwise.
int plural_form(long n, const std::string& lang) {
  if (lang == "ru") {
    if (n % 10 == 1 && n % 100 != 11) return 0;
    if (n % 10 >= 2 && n % 10 <= 4 && (n % 100 < 12 || n % 100 > 14)) return 1;
    return 2;
  }
  if (lang == "fr") return n <= 1 ? 0 : 2;
  return n == 1 ? 0 : 2;
}

// Sums decimal strings exactly in cents (amounts carry at most 2 decimals in practice).
std::string sum_amounts(const std::vector<RenderOrder>& orders) {
  long long cents = 0;
  for (const auto& o : orders) {
    double v = std::strtod(o.amount.c_str(), nullptr);
    // The feed admits only decimals below 10^12 (core/feed.cpp); anything else (NaN,
    // 1e400, negative) must not overflow the sum (found by bench/fuzz): it counts 0.
    if (v >= 0 && v < 1e15) cents += std::llround(v * 100);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld.%02lld", cents / 100, cents % 100);
  return buf;
}

}  // namespace

std::string human_duration(Millis d, const std::string& lang_in) {
  std::string lang = primary(lang_in);
  const Units* u = units_for(lang);
  if (d < 0) d = 0;
  long n;
  const char* const* forms;
  if (d >= 2 * kDay) {
    n = static_cast<long>(d / kDay);
    forms = u->day;
  } else if (d >= 2 * kHour) {
    n = static_cast<long>(d / kHour);
    forms = u->hour;
  } else {
    n = std::max<long>(1, static_cast<long>(d / kMinute));
    forms = u->minute;
  }
  std::string sep = lang == "zh" ? " " : " ";
  return std::to_string(n) + sep + forms[plural_form(n, lang)];
}

std::string choose_language(const Policy& policy, const Template& t, const std::string& buyer_lang,
                            const std::string& country) {
  std::vector<std::string> candidates;
  if (!buyer_lang.empty()) {
    candidates.push_back(buyer_lang);
    candidates.push_back(primary(buyer_lang));
  }
  if (auto it = policy.languages.find(country); it != policy.languages.end()) candidates.push_back(it->second);
  candidates.push_back(policy.default_language());
  for (const auto& c : candidates)
    if (t.by_lang.count(c)) return c;
  return t.by_lang.empty() ? policy.default_language() : t.by_lang.begin()->first;
}

Rendered render_message(const Policy& policy, const RenderInput& in) {
  // Messages are plain text, not HTML: {{var}} must not turn "&" into "&amp;". Set on
  // first use, after every static initializer (mstch's own included) has run.
  static const bool plain_text = [] {
    mstch::config::escape = [](const std::string& s) { return s; };
    return true;
  }();
  (void)plain_text;
  Rendered out;
  const Template& t = policy.templates.at(in.tmpl);
  out.lang = choose_language(policy, t, in.buyer_lang, in.country);
  const TemplateText& text = t.by_lang.at(out.lang);

  mstch::array orders;
  Millis closes = 0;
  std::string currency = in.orders.empty() ? "" : in.orders.front().currency;
  for (const auto& o : in.orders) {
    orders.push_back(mstch::map{
        {"order_id", o.order_id},
        {"amount", o.amount},
        {"currency", o.currency},
        {"placed_local", in.zone ? format_local(o.placed_at, in.zone) : format_instant(o.placed_at)},
        {"order_url", std::string("https://www.aliexpress.com/p/order/detail.html?orderId=") + o.order_id},
    });
    if (closes == 0 || o.closes_at < closes) closes = o.closes_at;
    if (o.currency != currency) currency.clear();
  }
  std::string name = clean_buyer_text(in.buyer_name);
  mstch::map ctx{
      {"buyer_name", name.empty() ? std::string() : name},
      {"shop", clean_buyer_text(in.shop)},
      {"orders", orders},
      {"first_order_id", in.orders.empty() ? std::string() : in.orders.front().order_id},
      {"order_count", static_cast<int>(in.orders.size())},
      {"several", in.orders.size() > 1},
      {"total", sum_amounts(in.orders) + (currency.empty() ? "" : " " + currency)},
      {"closes_in", human_duration(closes - in.now, out.lang)},
      {"step", in.step},
  };
  out.subject = mstch::render(text.subject, ctx);
  out.body = mstch::render(text.body, ctx);
  return out;
}

}  // namespace nudge
