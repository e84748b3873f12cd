#include <doctest/doctest.h>

#include "daemon/channel_gate.h"

using namespace nudge;
using namespace std::chrono_literals;

TEST_CASE("a token bucket lets a burst of one second through, then paces at the rate") {
  TokenBucket b(2.0);  // 2/s, burst 2
  auto t = TokenBucket::Clock::time_point{} + 1h;
  CHECK(b.take(t) == 0ms);
  CHECK(b.take(t) == 0ms);
  CHECK(b.take(t) == 500ms);       // empty: the next token in half a second
  CHECK(b.take(t + 250ms) == 250ms);
  CHECK(b.take(t + 500ms) == 0ms);
  CHECK(b.take(t + 500ms) == 500ms);
  CHECK(b.take(t + 10s) == 0ms);    // refilled, but never beyond the burst
  CHECK(b.take(t + 10s) == 0ms);
  CHECK(b.take(t + 10s) == 500ms);
}

TEST_CASE("a slow rate and no rate") {
  TokenBucket slow(1.0 / 60);  // 1/m
  auto t = TokenBucket::Clock::time_point{} + 1h;
  CHECK(slow.take(t) == 0ms);
  CHECK(slow.take(t) == 60000ms);
  TokenBucket none;
  for (int i = 0; i < 1000; ++i) CHECK(none.take(t) == 0ms);
}

TEST_CASE("a failing channel pauses for longer each time, up to 30 minutes") {
  ChannelGate g;
  CHECK(g.next_pause() == 30s);
  g.pauses = 1;
  CHECK(g.next_pause() == 60s);
  g.pauses = 20;
  CHECK(g.next_pause() == 30min);
}
