#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/experiment.h"

using namespace nudge;

TEST_CASE("holdout is stable per shop, buyer and salt, and moves with the salt") {
  for (int i = 0; i < 1000; ++i) {
    const std::string b = "buyer-" + std::to_string(i);
    CHECK(in_holdout("shop1", b, "s", 500) == in_holdout("shop1", b, "s", 500));
  }
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string b = "buyer-" + std::to_string(i);
    differ += in_holdout("shop1", b, "s", 5000) != in_holdout("shop1", b, "t", 5000);
  }
  CHECK(differ > 400);  // about half change side with a new salt
  CHECK_FALSE(in_holdout("shop1", "b", "s", 0));
  CHECK(in_holdout("shop1", "b", "s", 10000));
}

TEST_CASE("5% holdout over 100,000 buyers is within binomial tolerance") {
  const int n = 100000;
  int held = 0;
  for (int i = 0; i < n; ++i) held += in_holdout("shop1", "buyer-" + std::to_string(i), "salt", 500);
  // sd = sqrt(n p (1-p)) = 68.9; allow 4 sd.
  const double sd = std::sqrt(n * 0.05 * 0.95);
  CHECK(std::abs(held - n * 0.05) < 4 * sd);
}

TEST_CASE("variants follow their weights and are stable per buyer") {
  const std::vector<Variant> v{{"gentle", 70}, {"warm", 30}};
  const int n = 100000;
  int warm = 0;
  for (int i = 0; i < n; ++i) {
    const std::string b = "buyer-" + std::to_string(i);
    const auto k = pick_variant("shop1", b, "salt", "first", v);
    CHECK(k == pick_variant("shop1", b, "salt", "first", v));
    warm += k == 1;
  }
  const double sd = std::sqrt(n * 0.3 * 0.7);
  CHECK(std::abs(warm - n * 0.3) < 4 * sd);
  CHECK(pick_variant("shop1", "b", "salt", "first", {{"only", 1}}) == 0);
}

TEST_CASE("Newcombe hybrid score interval matches Newcombe 1998, example (a)") {
  // 56/70 vs 48/80: difference 0.2000, method 10 interval 0.0524 to 0.3339.
  const auto ci = newcombe_diff_ci95(56, 70, 48, 80);
  REQUIRE(ci);
  CHECK(ci->lo == doctest::Approx(0.0524).epsilon(0.002));
  CHECK(ci->hi == doctest::Approx(0.3339).epsilon(0.002));
  CHECK_FALSE(newcombe_diff_ci95(1, 0, 1, 2));
}
