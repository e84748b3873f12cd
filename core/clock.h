// Clock: where core/ learns the time. core/ never reads the system clock itself;
// the daemon passes a SystemClock, tests and `nudgectl simulate` a ManualClock.
// All instants are UTC milliseconds since the epoch.
#pragma once

#include <cstdint>

namespace nudge {

using Millis = std::int64_t;

inline constexpr Millis kSecond = 1000;
inline constexpr Millis kMinute = 60 * kSecond;
inline constexpr Millis kHour = 60 * kMinute;
inline constexpr Millis kDay = 24 * kHour;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Millis now() const override;
};

// Time moves only when a test (or the simulator) says so.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start = 0) : now_(start) {}
  Millis now() const override { return now_; }
  void set(Millis t) { now_ = t; }
  void advance(Millis d) { now_ += d; }

 private:
  Millis now_;
};

}  // namespace nudge
