// Fuzz target: the template renderer (core/render.h render_message) with hostile order
// data. The input is split at '\0' into buyer_name, buyer_lang, country, shop, step and
// then (order_id, amount, currency) triples; the templates are fixed and use every variable.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/policy.h"
#include "core/render.h"

namespace {

const nudge::Policy& fuzz_policy() {
  static const auto policy = [] {
    auto r = nudge::parse_policy(R"yaml(version: 1
store: ":memory:"
audit_log: audit.jsonl
payment: {deadline: 2h, closes_after: 10d, stop_before_close: 1h}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: t}
limits: {per_order: 2}
languages: {default: en, BR: pt, RU: ru, CN: zh}
channels:
  outbox: {type: outbox, dir: outbox}
templates:
  t:
    en: {subject: "Order {{first_order_id}} ({{order_count}})", body: "Hi {{buyer_name}} from {{shop}}: {{#orders}}[{{order_id}} {{amount}} {{currency}} placed {{placed_at}} closes {{closes_at}}]{{/orders}} total {{total}}, closes in {{closes_in}} at {{closes_at}} ({{step}})"}
    pt: {subject: "Pedido {{first_order_id}}", body: "Oi {{buyer_name}}, {{total}} fecha em {{closes_in}}"}
    ru: {subject: "Заказ {{first_order_id}}", body: "{{buyer_name}}, {{total}}, {{closes_in}}"}
    zh: {subject: "订单 {{first_order_id}}", body: "{{buyer_name}} {{total}} {{closes_in}}"}
)yaml",
                                 "/nonexistent/nudge-fuzz/policy.yaml");
    if (!r.ok()) __builtin_trap();
    return r.policy;
  }();
  return *policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> f;
  const char* p = reinterpret_cast<const char*>(data);
  const char* end = p + size;
  while (p <= end && f.size() < 32) {
    const char* z = static_cast<const char*>(std::memchr(p, '\0', end - p));
    if (!z) z = end;
    f.emplace_back(p, z);
    p = z + 1;
  }
  auto at = [&](std::size_t i) { return i < f.size() ? f[i] : std::string(); };
  nudge::RenderInput in;
  in.tmpl = "t";
  in.buyer_name = at(0);
  in.buyer_lang = at(1);
  in.country = at(2);
  in.shop = at(3);
  in.step = at(4);
  in.now = 1'760'000'000'000;
  for (std::size_t i = 5; i < f.size(); i += 3) {
    nudge::Millis placed = in.now - static_cast<nudge::Millis>(i) * 3'600'000;
    in.orders.push_back({at(i), at(i + 1), at(i + 2), placed, placed + 10 * 86'400'000LL});
  }
  if (in.orders.empty()) return 0;  // the engine never renders a message without orders
  (void)nudge::render_message(fuzz_policy(), in);
  return 0;
}
