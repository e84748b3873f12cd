// Runs the real nudged on a temporary folder with a seconds-scale policy, and reads
// what a seller or operator would: the outbox, the audit file, the store.
#pragma once

#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <memory>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/time_util.h"
#include "helpers.h"

namespace test {

inline std::string seconds_policy(const std::string& limits =
                                      "limits: {per_order: 2, per_buyer: [{max: 2, within: 1m}], merge: false}") {
  return std::string(test::kSecondsHead) + R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
      - {name: second, after: 3s, channel: outbox, template: gentle}
)" + limits + R"(
channels:
  outbox: {type: outbox, dir: outbox}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} awaits payment", body: "Hi {{buyer_name}}, it closes in {{closes_in}}."}
)";
}

inline std::string order_line(const std::string& id, const std::string& buyer, nudge::Millis placed,
                              const std::string& extra = "") {
  return R"({"type":"order","shop":"s1","order_id":")" + id + R"(","buyer_id":")" + buyer +
         R"(","buyer_name":"Buyer )" + buyer + R"(","buyer_country":"ES","amount":"10.00","currency":"USD","placed_at":")" +
         nudge::format_instant(placed) + "\"" + extra + "}";
}

inline std::string status_line(const std::string& id, const std::string& status, nudge::Millis at) {
  return R"({"type":"status","shop":"s1","order_id":")" + id + R"(","status":")" + status + R"(","at":")" +
         nudge::format_instant(at) + "\"}";
}

inline nudge::Millis now_ms() { return nudge::SystemClock().now(); }

// A number from the environment (a test's size or seed, to replay a run), else `fallback`.
inline long env_number(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

struct Daemon {
  TempDir dir;
  std::string policy_path = dir / "nudge.yaml";
  std::string log_path = dir / "nudged.log";
  std::unique_ptr<Process> proc;

  explicit Daemon(const std::string& policy = seconds_policy()) { write_file(policy_path, policy); }

  void start(const std::vector<std::string>& env = {}) {
    size_t from = read_file(log_path).size();  // the log is appended to across restarts
    proc = std::make_unique<Process>(std::vector<std::string>{NUDGED_PATH, "--config", policy_path}, log_path, env);
    REQUIRE(eventually(
        [&] { return read_file(log_path).find(" started: ", from) != std::string::npos || !proc->running(); },
        std::chrono::seconds(10)));
    REQUIRE(proc->running());
  }

  // Stops with SIGTERM and returns the exit status (-1 if it did not exit in time).
  int stop(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    proc->signal(SIGTERM);
    return proc->wait(limit);
  }

  RunResult ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{NUDGECTL_PATH, "--config", policy_path};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  RunResult import(const std::vector<std::string>& lines) {
    static int n = 0;
    std::string feed = dir / ("feed-" + std::to_string(++n) + ".jsonl");
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    write_file(feed, text);
    return ctl({"orders", "import", feed});
  }

  std::vector<nlohmann::json> outbox() {
    std::vector<nlohmann::json> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir / "outbox", ec); !ec && it != fs::directory_iterator(); ++it) {
      if (it->path().extension() != ".json" || it->path().filename().string()[0] == '.') continue;
      out.push_back(nlohmann::json::parse(read_file(it->path().string())));
    }
    return out;
  }

  std::vector<nlohmann::json> audit_file() {
    std::vector<nlohmann::json> out;
    for (const auto& l : read_lines(dir / "audit.jsonl")) out.push_back(nlohmann::json::parse(l));
    return out;
  }

  bool audit_has(const std::string& event, const std::string& reason = "") {
    for (const auto& j : audit_file())
      if (j["event"] == event && (reason.empty() || (j["reason"].is_string() && j["reason"] == reason))) return true;
    return false;
  }

  std::string log() { return read_file(log_path); }
};

}  // namespace test
