#include "daemon/notify.h"

#include <ctime>

#include <systemd/sd-daemon.h>

#include "daemon/log.h"

namespace nudge {

Notifier::Notifier(boost::asio::io_context& io) : watchdog_timer_(io) {}

void Notifier::ready() { sd_notify(0, "READY=1"); }

void Notifier::reloading() {
  // systemd matches MONOTONIC_USEC against CLOCK_MONOTONIC (Type=notify-reload).
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                            static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}

void Notifier::stopping() {
  stopping_ = true;
  watchdog_timer_.cancel();  // so that io_context::run() can return
  sd_notify(0, "STOPPING=1");
}

void Notifier::status(const std::string& text) {
  std::string line = "STATUS=" + text;
  for (auto& c : line)
    if (c == '\n') c = ' ';
  sd_notify(0, line.c_str());
}

void Notifier::busy() {
  auto now = std::chrono::steady_clock::now();
  if (stopping_ || now - last_busy_ < std::chrono::milliseconds(100)) return;
  last_busy_ = now;
  // WATCHDOG=1 is ignored when systemd asked for no watchdog; EXTEND_TIMEOUT_USEC
  // gives the current start, reload or stop another 60 s from now.
  sd_notify(0, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=60000000");
}

std::chrono::microseconds Notifier::start_watchdog() {
  uint64_t usec = 0;
  // > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID (if set) is this process.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return interval_ = std::chrono::microseconds(0);
  interval_ = std::chrono::microseconds(usec / 2);
  log_info("watchdog: pinging systemd every " + std::to_string(interval_.count() / 1000) + " ms");
  ping();
  return interval_;
}

void Notifier::ping() {
  if (stopping_) return;
  sd_notify(0, "WATCHDOG=1");
  watchdog_timer_.expires_after(interval_);
  watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) ping();
  });
}

std::string describe_age(std::int64_t age_ms) {
  if (age_ms < 0) return "never";
  std::int64_t s = age_ms / 1000;
  if (s < 60) return std::to_string(s) + "s ago";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s ago";
  return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m ago";
}

}  // namespace nudge
