// Crash safety (issue 5): the real nudged, killed with SIGKILL at random moments and
// restarted, over and over, while orders arrive and some get paid; then left to
// finish. What the buyers got (the outbox) and what the operator has (the audit file,
// the store) must still keep G1, G4 and G5.
//
// NUDGE_KILL_CYCLES (default 120) and NUDGE_KILL_SEED change the run; bench/soak.sh
// uses them for long runs.
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

#include "crash_checks.h"
#include "daemon_fixture.h"

using namespace std::chrono_literals;
using test::Daemon;
using test::env_number;
using test::now_ms;

namespace {

std::string kill_policy() {
  return std::string(test::kSecondsHead) + R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 2s, channel: outbox, template: gentle}
      - {name: third, after: 4s, channel: outbox, template: gentle}
limits: {per_order: 3, per_buyer: [{max: 2, within: 5s}], merge: true}
channels:
  outbox: {type: outbox, dir: outbox, delivery: at_most_once}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} awaits payment", body: "Hi {{buyer_name}}, {{order_count}} orders."}
)";
}

}  // namespace

TEST_CASE("nudged killed at random moments keeps every buyer under its cap and reminds each step at most once") {
  const int cycles = static_cast<int>(env_number("NUDGE_KILL_CYCLES", 120));
  const auto seed = static_cast<unsigned>(env_number("NUDGE_KILL_SEED", static_cast<long>(std::random_device{}())));
  MESSAGE("kill test: " << cycles << " cycles, seed " << seed << " (NUDGE_KILL_SEED to replay)");
  std::mt19937 rng(seed);
  const int buyers = 60;
  const int orders = std::max(200, cycles * 2);
  const int waves = std::max(1, cycles / 6);  // orders arrive all along the kill loop
  const int per_wave = (orders + waves - 1) / waves;

  Daemon d(kill_policy());
  int imported = 0;
  std::vector<std::string> unpaid;  // candidates for a later payment
  int kills = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    if (cycle % 6 == 0 && imported < orders) {
      std::vector<std::string> lines;
      auto t = now_ms();
      for (int i = 0; i < per_wave && imported < orders; ++i, ++imported) {
        std::string id = "o" + std::to_string(imported);
        std::string buyer = "b" + std::to_string(rng() % buyers);
        lines.push_back(test::order_line(id, buyer, t - static_cast<nudge::Millis>(rng() % 1500)));
        unpaid.push_back(id);
      }
      // Some earlier orders get paid partway through their steps.
      for (int i = 0; i < per_wave / 4 && !unpaid.empty(); ++i) {
        size_t k = rng() % unpaid.size();
        lines.push_back(test::status_line(unpaid[k], "paid", t));
        unpaid.erase(unpaid.begin() + static_cast<long>(k));
      }
      REQUIRE(d.import(lines).status == 0);
    }
    d.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 151));
    d.proc->signal(SIGKILL);
    REQUIRE(d.proc->wait(5s) == 128 + SIGKILL);
    ++kills;
  }

  // Let it finish: every step due, deferred and claimed, then a clean stop.
  d.start();
  bool finished = test::eventually([&] { return test::unfinished_work(d.dir / "nudge.db") == 0; }, 90s);
  CHECK_MESSAGE(finished, "work left after 90 s: " << test::unfinished_work(d.dir / "nudge.db"));
  REQUIRE(d.stop() == 0);
  CHECK(d.log().find("error:") == std::string::npos);

  auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2);
  MESSAGE("kill test: " << kills << " SIGKILLs, " << imported << " orders; " << f.files << " outbox messages, "
                        << f.sent << " sent, " << f.in_doubt << " in_doubt (" << f.in_doubt_delivered
                        << " of them had reached the outbox), " << f.leftover_tmp << " leftover .tmp files, "
                        << f.violations << " violations; "
                        << f.mixed_step_messages << " merged messages carried orders at different steps");
  CHECK(f.sent > 0);
  CHECK(f.violations == 0);
}
