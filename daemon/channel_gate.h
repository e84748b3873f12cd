// ChannelGate: what every channel shares in front of it — a token bucket for the
// channel's `rate`, a queue of sends waiting for a token, and a breaker that pauses
// a channel that keeps failing instead of hammering it. Owned by the Service; use
// only from the io_context thread.
#pragma once

#include <chrono>
#include <deque>
#include <string>

#include "core/engine.h"

namespace nudge {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // rate_per_sec 0: unlimited. The burst is one second's worth (at least 1).
  explicit TokenBucket(double rate_per_sec = 0);
  // Takes a token now, or returns how long until one is there (taking nothing).
  std::chrono::milliseconds take(Clock::time_point now);
  // Whole tokens there now (unlimited: a large number), taking nothing.
  int available(Clock::time_point now) const;
  // How long until a token is there (0 if one is).
  std::chrono::milliseconds until_next(Clock::time_point now) const;
  bool limited() const { return rate_ > 0; }

 private:
  double tokens_at(Clock::time_point now) const;
  double rate_, burst_, tokens_;
  Clock::time_point last_{};
};

struct ChannelGate {
  TokenBucket bucket;
  std::deque<SendJob> waiting;          // claimed, waiting for a token
  int in_flight = 0;                    // handed to the channel, not yet reported
  bool timer_armed = false;
  int consecutive_failures = 0;
  int pauses = 0;                       // in a row, for the growing pause length
  TokenBucket::Clock::time_point paused_until{};

  static constexpr int kFailuresBeforePause = 5;
  // 30 s, doubling with each pause in a row, at most 30 minutes.
  std::chrono::milliseconds next_pause() const;
  bool paused(TokenBucket::Clock::time_point now) const { return now < paused_until; }
  // How many more sends may be claimed for this channel now: what its rate lets
  // through now, less what already waits, and at most `queue_limit` waiting or in
  // flight. The rest stays `scheduled` in the store (Beast's queue_limit, in spirit).
  int room(TokenBucket::Clock::time_point now, int queue_limit) const;
};

}  // namespace nudge
