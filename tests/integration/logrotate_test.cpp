// The audit file under logrotate, as an operator following it with `tail -F` sees it:
// a real `logrotate -f` (create + postrotate SIGUSR1) while nudged runs, and every
// audit seq shows up in tail's output exactly once, in order, across the rotation.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "integration/ops_helpers.h"

namespace {
using namespace std::chrono_literals;

std::vector<std::int64_t> seqs_of(const std::string& text) {
  std::vector<std::int64_t> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;  // tail's own notes go to stderr, but be sure
    out.push_back(nlohmann::json::parse(line).at("seq").get<std::int64_t>());
  }
  return out;
}

bool contiguous_from_1(const std::vector<std::int64_t>& seqs) {
  for (size_t i = 0; i < seqs.size(); ++i)
    if (seqs[i] != static_cast<std::int64_t>(i) + 1) return false;
  return !seqs.empty();
}
}  // namespace

TEST_CASE("tail -F of the audit file sees every seq exactly once across a logrotate") {
  test::TempDir dir;
  std::string policy = ops::write_policy(dir);
  std::string audit = dir / "audit.jsonl";
  test::Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log");
  REQUIRE(test::eventually([&] { return !seqs_of(test::read_file(audit)).empty(); }, 10s));

  // GNU tail's inotify mode drops what it has not read yet from a file that is renamed
  // away (coreutils 9.1), so with it the rotation waits until tail has caught up;
  // its polling mode reads the old file to its end first and rotates mid-burst.
  bool inotify = true;
  SUBCASE("tail -F, rotated once tail has caught up") { inotify = true; }
  SUBCASE("tail -F ---disable-inotify, rotated right after a burst of events") { inotify = false; }
  std::string tail_cmd = inotify ? "exec tail -F -n +1 '" : "exec tail ---disable-inotify -F -n +1 -s 0.05 '";
  test::Process tail({"/bin/sh", "-c", tail_cmd + audit + "' > '" + dir / "tail.out" + "'"}, dir / "tail.err");
  REQUIRE(ops::import_orders(policy, ops::write_orders(dir, 3, 9200)).status == 0);
  REQUIRE(test::eventually([&] { return test::count_files(dir / "outbox") >= 3; }, 15s));
  if (inotify) {
    REQUIRE(test::eventually([&] { return seqs_of(test::read_file(audit)).size() >= 14; }, 5s));  // 3 sent
    REQUIRE(test::eventually([&] {
      return seqs_of(test::read_file(dir / "tail.out")).size() == seqs_of(test::read_file(audit)).size();
    }, 5s));
  }

  test::write_file(dir / "logrotate.conf", "'" + audit + "' {\n  rotate 3\n  missingok\n  create\n  postrotate\n    kill -USR1 " +
                                               std::to_string(nudged.pid()) + "\n  endscript\n}\n");
  auto rotated = test::run({"/usr/sbin/logrotate", "-f", "-s", dir / "logrotate.state", dir / "logrotate.conf"});
  std::string complaints = rotated.out + rotated.err;
  REQUIRE_MESSAGE(rotated.status == 0, complaints);
  REQUIRE(test::fs::exists(audit + ".1"));
  // nudged reopened the new file: the next events land in it.
  REQUIRE(ops::import_orders(policy, ops::write_orders(dir, 3, 9300)).status == 0);
  REQUIRE(test::eventually([&] { return test::count_files(dir / "outbox") >= 6; }, 15s));
  CHECK(test::eventually([&] { return !seqs_of(test::read_file(audit)).empty(); }, 5s));

  nudged.signal(SIGTERM);
  REQUIRE(nudged.wait(10s) == 0);
  // Both files together hold 1..N once each; N is the `stopped` line.
  auto in_files = seqs_of(test::read_file(audit + ".1") + test::read_file(audit));
  CHECK(contiguous_from_1(in_files));
  REQUIRE(!in_files.empty());
  std::int64_t last = in_files.back();
  auto old_file = seqs_of(test::read_file(audit + ".1")), new_file = seqs_of(test::read_file(audit));
  REQUIRE(!old_file.empty());
  REQUIRE(!new_file.empty());
  CHECK(old_file.back() < new_file.front());
  CHECK(nlohmann::json::parse(test::read_lines(audit).back()).at("event") == "stopped");

  // What the operator saw: the same 1..N, each once.
  CHECK(test::eventually([&] {
    auto s = seqs_of(test::read_file(dir / "tail.out"));
    return !s.empty() && s.back() >= last;
  }, 5s));
  tail.signal(SIGTERM);
  tail.wait(2s);
  auto seen = seqs_of(test::read_file(dir / "tail.out"));
  CAPTURE(test::read_file(dir / "tail.err"));
  CHECK(seen.size() == static_cast<size_t>(last));
  CHECK(contiguous_from_1(seen));
}

TEST_CASE("the shipped logrotate snippet parses and signals nudged after rotating") {
  test::TempDir dir;
  std::string snippet = std::string(NUDGE_SOURCE_DIR) + "/etc/logrotate.d/nudge";
  auto r = test::run({"/usr/sbin/logrotate", "-d", "-s", dir / "state", snippet});
  std::string output = r.out + r.err;
  CHECK_MESSAGE(r.status == 0, output);
  CHECK(output.find("error") == std::string::npos);
  std::string text = test::read_file(snippet);
  CHECK(text.find("\n    create\n") != std::string::npos);
  CHECK(text.find("systemctl kill --kill-whom=main -s USR1 nudged.service") != std::string::npos);
}
