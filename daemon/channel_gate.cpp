#include "daemon/channel_gate.h"

#include <algorithm>
#include <cmath>

namespace nudge {

TokenBucket::TokenBucket(double rate_per_sec)
    : rate_(rate_per_sec), burst_(std::max(1.0, rate_per_sec)), tokens_(burst_) {}

double TokenBucket::tokens_at(Clock::time_point now) const {
  if (last_ == Clock::time_point{} || now <= last_) return tokens_;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  return std::min(burst_, tokens_ + elapsed * rate_);
}

int TokenBucket::available(Clock::time_point now) const {
  if (rate_ <= 0) return 1 << 30;
  return static_cast<int>(std::floor(tokens_at(now)));
}

std::chrono::milliseconds TokenBucket::until_next(Clock::time_point now) const {
  if (rate_ <= 0) return std::chrono::milliseconds(0);
  double t = tokens_at(now);
  if (t >= 1.0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<long>(std::ceil((1.0 - t) / rate_ * 1000)));
}

std::chrono::milliseconds TokenBucket::take(Clock::time_point now) {
  if (rate_ <= 0) return std::chrono::milliseconds(0);
  tokens_ = tokens_at(now);
  last_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::chrono::milliseconds(0);
  }
  double wait_s = (1.0 - tokens_) / rate_;
  return std::chrono::milliseconds(static_cast<long>(std::ceil(wait_s * 1000)));
}

int ChannelGate::room(TokenBucket::Clock::time_point now, int queue_limit) const {
  int queued = static_cast<int>(waiting.size());
  int r = queue_limit - queued - in_flight;
  if (bucket.limited()) r = std::min(r, bucket.available(now) - queued);
  return std::max(0, r);
}

std::chrono::milliseconds ChannelGate::next_pause() const {
  long ms = 30000L << std::min(pauses, 6);
  return std::chrono::milliseconds(std::min(ms, 30L * 60 * 1000));
}

}  // namespace nudge
