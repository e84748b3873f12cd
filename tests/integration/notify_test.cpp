// nudged and systemd's notify protocol, seen from systemd's side: a datagram socket
// at $NOTIFY_SOCKET receives what the real daemon says while it starts, reloads,
// runs with a watchdog, and stops.
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include "integration/ops_helpers.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Plays systemd: collects every datagram with the time it arrived.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    reader_ = std::thread([this] {
      char buf[4096];
      while (!done_) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) continue;
        std::lock_guard lock(mu_);
        messages_.push_back({Clock::now(), std::string(buf, static_cast<size_t>(n))});
      }
    });
  }
  ~NotifySocket() {
    done_ = true;
    reader_.join();
    ::close(fd_);
  }
  struct Message {
    Clock::time_point at;
    std::string text;
  };
  std::vector<Message> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  // Index of the first message at or after `from` that contains `needle`, or -1.
  int find(const std::string& needle, size_t from = 0) {
    auto m = messages();
    for (size_t i = from; i < m.size(); ++i)
      if (m[i].text.find(needle) != std::string::npos) return static_cast<int>(i);
    return -1;
  }
  bool wait_for(const std::string& needle, size_t from = 0, std::chrono::milliseconds t = 10s) {
    return test::eventually([&] { return find(needle, from) >= 0; }, t);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::vector<Message> messages_;
  std::thread reader_;
};

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

TEST_CASE("systemd hears READY, RELOADING then READY, watchdog pings, STATUS and STOPPING from nudged") {
  test::TempDir dir;
  std::string policy = ops::write_policy(dir);
  NotifySocket systemd(dir / "notify.sock");
  // WATCHDOG_PID stays unset: sd_watchdog_enabled() would compare it with getpid().
  test::Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log",
                       {"NOTIFY_SOCKET=" + systemd.path(), "WATCHDOG_USEC=400000"});

  REQUIRE_MESSAGE(systemd.wait_for("READY=1"), test::read_file(dir / "nudged.log"));
  int ready = systemd.find("READY=1");
  // Setup is complete before READY: the store and the audit file exist.
  CHECK(test::fs::exists(dir / "nudge.db"));
  CHECK(test::fs::exists(dir / "audit.jsonl"));

  SUBCASE("a STATUS= line says what is pending, sent today, and when the source was polled") {
    REQUIRE(systemd.wait_for("STATUS="));
    std::string status = systemd.messages()[static_cast<size_t>(systemd.find("STATUS="))].text;
    CHECK(status.find(" pending, ") != std::string::npos);
    CHECK(status.find(" sent today, last poll ") != std::string::npos);

    // After three reminders go out, the status line says so (and their second steps wait).
    REQUIRE(ops::import_orders(policy, ops::write_orders(dir, 3, 9400)).status == 0);
    CHECK_MESSAGE(systemd.wait_for("STATUS=3 pending, 3 sent today, last poll ", 0, 15s),
                  systemd.messages().back().text);
  }

  SUBCASE("the watchdog is pinged at half of WATCHDOG_USEC, from the loop") {
    auto start = Clock::now();
    std::this_thread::sleep_for(1500ms);
    int pings = 0;
    for (const auto& m : systemd.messages())
      if (m.at >= start && m.at < start + 1500ms && m.text.find("WATCHDOG=1") != std::string::npos) ++pings;
    CHECK(pings >= 4);   // about 7 at 200 ms
    CHECK(pings <= 12);

    // A stopped loop stops the pings, which is what lets systemd restart a stuck daemon.
    nudged.signal(SIGSTOP);
    std::this_thread::sleep_for(100ms);
    size_t before = systemd.messages().size();
    std::this_thread::sleep_for(700ms);
    CHECK(systemd.messages().size() == before);
    nudged.signal(SIGCONT);
    CHECK(systemd.wait_for("WATCHDOG=1", before, 2s));
  }

  SUBCASE("SIGHUP: RELOADING=1 with the monotonic time, then READY=1 and a new STATUS") {
    size_t mark = systemd.messages().size();
    std::uint64_t sent_at = monotonic_usec();
    nudged.signal(SIGHUP);
    REQUIRE(systemd.wait_for("RELOADING=1", mark));
    int reloading = systemd.find("RELOADING=1", mark);
    std::string text = systemd.messages()[static_cast<size_t>(reloading)].text;
    auto p = text.find("MONOTONIC_USEC=");
    REQUIRE(p != std::string::npos);
    std::uint64_t usec = std::stoull(text.substr(p + 15));
    CHECK(usec >= sent_at);
    CHECK(usec <= monotonic_usec());
    REQUIRE(systemd.wait_for("READY=1", static_cast<size_t>(reloading) + 1));
    int ready_again = systemd.find("READY=1", static_cast<size_t>(reloading) + 1);
    CHECK(systemd.find("STATUS=", static_cast<size_t>(ready_again)) >= 0);
    CHECK(nudged.running());
  }

  size_t before_stop = systemd.messages().size();
  nudged.signal(SIGTERM);
  CHECK(systemd.wait_for("STOPPING=1", before_stop, 5s));
  CHECK(nudged.wait(10s) == 0);
  CHECK(ready >= 0);
}

// A reload that moves every pending step holds the loop for a while at size (the
// timer that pings the watchdog waits behind it): the re-plan itself tells systemd
// it is busy, so a big shop is not killed by its watchdog for changing a campaign.
TEST_CASE("a long re-plan keeps the watchdog fed: WATCHDOG=1 goes on while a reload moves 150,000 steps") {
  test::TempDir dir;
  auto policy_with = [&](const std::string& second) {
    test::write_file(dir / "nudge.yaml", R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: inbox, every: 1s}
payment: {deadline: 1h, closes_after: 20d, stop_before_close: 1h}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: )" + second + R"(, channel: outbox, template: gentle}
channels:
  outbox: {type: outbox, dir: outbox}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}}", body: "Hi {{buyer_name}}"}
)");
    return dir / "nudge.yaml";
  };
  const std::string policy = policy_with("24h");
  REQUIRE(ops::import_orders(policy, ops::write_orders(dir, 150000, 1)).status == 0);
  NotifySocket systemd(dir / "notify.sock");
  test::Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log",
                       {"NOTIFY_SOCKET=" + systemd.path(), "WATCHDOG_USEC=500000"});
  REQUIRE_MESSAGE(systemd.wait_for("READY=1"), test::read_file(dir / "nudged.log"));
  auto pending = [&] {
    SQLite::Database db(dir / "nudge.db", SQLite::OPEN_READONLY, 5000);
    return db.execAndGet("SELECT COUNT(*) FROM schedule WHERE state='scheduled'").getInt64();
  };
  REQUIRE_MESSAGE(test::eventually([&] { return pending() == 300000; }, 60s), test::read_file(dir / "nudged.log"));

  policy_with("12h");
  size_t mark = systemd.messages().size();
  nudged.signal(SIGHUP);
  REQUIRE(systemd.wait_for("RELOADING=1", mark));
  const auto reloading = static_cast<size_t>(systemd.find("RELOADING=1", mark));
  REQUIRE(systemd.wait_for("READY=1", reloading + 1, 60s));
  const auto ready = static_cast<size_t>(systemd.find("READY=1", reloading + 1));
  auto m = systemd.messages();
  CHECK(test::read_file(dir / "nudged.log").find("150000 pending steps re-planned") != std::string::npos);
  // The reload was long enough to matter: longer than the watchdog's period (about
  // 1.8 s on the 2-core development machine)...
  REQUIRE(m[ready].at - m[reloading].at > 700ms);
  // ...and no gap between what systemd heard reached it (the commit and the audit
  // file's catch-up after the pass, about 0.3 s here, are the widest).
  auto last = m[reloading].at;
  std::chrono::milliseconds widest{0};
  for (size_t i = reloading + 1; i <= ready; ++i) {
    if (m[i].text.find("WATCHDOG=1") == std::string::npos && i != ready) continue;
    widest = std::max(widest, std::chrono::duration_cast<std::chrono::milliseconds>(m[i].at - last));
    last = m[i].at;
  }
  CHECK(widest < 500ms);
  CHECK(systemd.find("EXTEND_TIMEOUT_USEC=", reloading) >= 0);
  nudged.signal(SIGTERM);
  CHECK(nudged.wait(15s) == 0);
}
