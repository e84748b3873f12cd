// Experiment assignment (issue 12): holdout and A/B variants, and the uplift interval.
// Pure functions, no state: the same (shop, buyer, salt) always falls the same way,
// across restarts and reloads, because the decision is a hash and nothing is stored.
// Not yet wired into the policy or the engine (see issue 12's report).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nudge {

// A uniform 64-bit value from SHA-256 of "purpose \0 shop \0 buyer \0 salt".
std::uint64_t experiment_hash(std::string_view purpose, std::string_view shop,
                              std::string_view buyer, std::string_view salt);

// True when the buyer is in the holdout; share_bp is the share in basis points
// (500 = 5%), 0..10000.
bool in_holdout(std::string_view shop, std::string_view buyer, std::string_view salt,
                int share_bp);

struct Variant {
  std::string template_name;
  int weight = 1;  // > 0
};

// Index into variants chosen by weight, stable per (shop, buyer, salt, step).
// Independent of the holdout draw. Precondition: variants non-empty, weights > 0.
std::size_t pick_variant(std::string_view shop, std::string_view buyer, std::string_view salt,
                         std::string_view step, const std::vector<Variant>& variants);

// 95% interval for p1 - p2 by Newcombe's hybrid Wilson score method (method 10 in
// Newcombe 1998, Statistics in Medicine 17:873-890). nullopt when n1 or n2 is 0.
struct Interval {
  double lo, hi;
};
std::optional<Interval> newcombe_diff_ci95(long x1, long n1, long x2, long n2);

}  // namespace nudge
