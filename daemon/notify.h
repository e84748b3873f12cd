// Notifier: what nudged tells systemd over $NOTIFY_SOCKET (sd_notify): READY=1,
// RELOADING=1 with MONOTONIC_USEC, STOPPING=1, STATUS= lines, and WATCHDOG=1 pings
// from a steady_timer on the loop, so a stuck loop stops the pings and systemd
// restarts the service. Without $NOTIFY_SOCKET every call is a no-op.
// Use only from the io_context thread.
#pragma once

#include <chrono>
#include <string>

#include <utility>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace nudge {

class Notifier {
 public:
  explicit Notifier(boost::asio::io_context& io);

  void ready();            // READY=1: setup is done, the loop is about to run
  void reloading();        // RELOADING=1 + MONOTONIC_USEC=now (CLOCK_MONOTONIC, µs)
  void stopping();         // STOPPING=1; also stops the watchdog pings
  void status(const std::string& text);  // STATUS=text (one line)
  // From inside a long pass that holds the loop (a re-plan): WATCHDOG=1 and
  // EXTEND_TIMEOUT_USEC (a start or reload that takes long is not timed out), at most
  // every 100 ms.
  void busy();

  // Starts WATCHDOG=1 pings at half of $WATCHDOG_USEC when systemd asked for them
  // (sd_watchdog_enabled). Returns the ping interval, or zero when disabled.
  std::chrono::microseconds start_watchdog();

 private:
  void ping();

  boost::asio::steady_timer watchdog_timer_;
  std::chrono::microseconds interval_{0};
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_busy_{};
};

// "3m12s ago"-style age for STATUS=; "never" for a negative age.
std::string describe_age(std::int64_t age_ms);

}  // namespace nudge
