#include "daemon/channel_gate.h"

#include <algorithm>
#include <cmath>

namespace nudge {

TokenBucket::TokenBucket(double rate_per_sec)
    : rate_(rate_per_sec), burst_(std::max(1.0, rate_per_sec)), tokens_(burst_) {}

std::chrono::milliseconds TokenBucket::take(Clock::time_point now) {
  if (rate_ <= 0) return std::chrono::milliseconds(0);
  if (last_ != Clock::time_point{}) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  last_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::chrono::milliseconds(0);
  }
  double wait_s = (1.0 - tokens_) / rate_;
  return std::chrono::milliseconds(static_cast<long>(std::ceil(wait_s * 1000)));
}

std::chrono::milliseconds ChannelGate::next_pause() const {
  long ms = 30000L << std::min(pauses, 6);
  return std::chrono::milliseconds(std::min(ms, 30L * 60 * 1000));
}

}  // namespace nudge
