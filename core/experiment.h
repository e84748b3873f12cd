// Experiment assignment (issue 12): holdout and A/B variants, and the uplift interval.
// Pure functions, no state: the same (shop, buyer, salt) always falls the same way,
// across restarts and reloads, because the decision is a hash and nothing is stored.
// The engine asks holdout_reason() and pick_template() at claim time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nudge {

struct Policy;
struct Step;

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

// 95% Wilson score interval for x/n (for a pay rate's whiskers). {0, 1} when n is 0.
Interval wilson_ci95(long x, long n);

// The step name of a reminder a person asked for (nudgectl remind): never held out.
inline constexpr const char* kManualStep = "manual";

// "holdout" when the policy's experiment holds this buyer out of automatic reminders
// at `step`, else "". A pure function of (shop, buyer, experiment.salt, holdout share).
std::string holdout_reason(const Policy& policy, std::string_view shop, std::string_view buyer,
                           std::string_view step);

// The template this buyer gets at `step`: the step's one template, or its A/B variant
// for this buyer (stable per shop, buyer, salt and step).
const std::string& pick_template(const Policy& policy, const Step& step, std::string_view shop,
                                 std::string_view buyer);

}  // namespace nudge
