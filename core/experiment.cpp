#include "core/experiment.h"

#include "core/policy.h"

#include <cmath>
#include <string>

#include "core/hash.h"

namespace nudge {

std::uint64_t experiment_hash(std::string_view purpose, std::string_view shop,
                              std::string_view buyer, std::string_view salt) {
  std::string in;
  in.reserve(purpose.size() + shop.size() + buyer.size() + salt.size() + 3);
  in.append(purpose).push_back('\0');
  in.append(shop).push_back('\0');
  in.append(buyer).push_back('\0');
  in.append(salt);
  const std::string hex = sha256_hex(in);
  return std::stoull(hex.substr(0, 16), nullptr, 16);
}

bool in_holdout(std::string_view shop, std::string_view buyer, std::string_view salt,
                int share_bp) {
  if (share_bp <= 0) return false;
  if (share_bp >= 10000) return true;
  return experiment_hash("holdout", shop, buyer, salt) % 10000 < static_cast<std::uint64_t>(share_bp);
}

std::size_t pick_variant(std::string_view shop, std::string_view buyer, std::string_view salt,
                         std::string_view step, const std::vector<Variant>& variants) {
  std::uint64_t total = 0;
  for (const auto& v : variants) total += static_cast<std::uint64_t>(v.weight);
  if (variants.size() <= 1 || total == 0) return 0;
  std::string purpose = "variant:";
  purpose.append(step);
  std::uint64_t r = experiment_hash(purpose, shop, buyer, salt) % total;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    const auto w = static_cast<std::uint64_t>(variants[i].weight);
    if (r < w) return i;
    r -= w;
  }
  return variants.size() - 1;
}

namespace {
// Wilson score interval for x/n at z = 1.96.
Interval wilson(long x, long n) {
  const double z = 1.959963984540054, p = double(x) / double(n), z2 = z * z;
  const double denom = 2 * (n + z2);
  const double centre = 2 * n * p + z2;
  const double spread = z * std::sqrt(z2 + 4 * n * p * (1 - p));
  return {(centre - spread) / denom, (centre + spread) / denom};
}
}  // namespace

std::optional<Interval> newcombe_diff_ci95(long x1, long n1, long x2, long n2) {
  if (n1 <= 0 || n2 <= 0 || x1 < 0 || x2 < 0 || x1 > n1 || x2 > n2) return std::nullopt;
  const double p1 = double(x1) / n1, p2 = double(x2) / n2, d = p1 - p2;
  const Interval w1 = wilson(x1, n1), w2 = wilson(x2, n2);
  const double lo = d - std::sqrt((p1 - w1.lo) * (p1 - w1.lo) + (w2.hi - p2) * (w2.hi - p2));
  const double hi = d + std::sqrt((w1.hi - p1) * (w1.hi - p1) + (p2 - w2.lo) * (p2 - w2.lo));
  return Interval{lo, hi};
}

Interval wilson_ci95(long x, long n) {
  if (n <= 0 || x < 0 || x > n) return {0, 1};
  return wilson(x, n);
}

std::string holdout_reason(const Policy& policy, std::string_view shop, std::string_view buyer,
                           std::string_view step) {
  const auto& e = policy.experiment;
  if (e.holdout_bp <= 0 || step == kManualStep) return "";
  return in_holdout(shop, buyer, e.salt, e.holdout_bp) ? "holdout" : "";
}

const std::string& pick_template(const Policy& policy, const Step& step, std::string_view shop,
                                 std::string_view buyer) {
  if (step.variants.empty()) return step.tmpl;
  return step.variants[pick_variant(shop, buyer, policy.experiment.salt, step.name, step.variants)].template_name;
}

}  // namespace nudge
