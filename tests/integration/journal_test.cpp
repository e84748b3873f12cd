// The operational log as journald reads it: with stderr connected to the journal
// ($JOURNAL_STREAM names stderr's device and inode), every line starts with its
// sd-daemon priority, so `journalctl -p warning` filters by level; otherwise the
// lines are plain text.
#include <sys/stat.h>

#include <doctest/doctest.h>

#include "integration/daemon_fixture.h"

using namespace std::chrono_literals;
using test::Daemon;

namespace {

// What systemd would put in $JOURNAL_STREAM if `path` were the journal's stream.
std::string stream_id_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// Starts nudged with `env`, makes it log an error over several lines (a rejected
// reload) and a warning, stops it and returns its stderr.
std::string log_of_a_run(Daemon& d, const std::vector<std::string>& env) {
  d.start(env);
  std::string good = test::read_file(d.policy_path);
  test::write_file(d.policy_path, good + "limits_typo: {}\nsafety_typo: {}\n");
  d.proc->signal(SIGHUP);
  REQUIRE(test::eventually([&] { return d.audit_has("policy_rejected"); }, 5s));
  CHECK(d.stop() == 0);
  return d.log();
}

}  // namespace

TEST_CASE("with stderr on the journal, every log line carries its priority, continuation lines included") {
  Daemon d;
  test::write_file(d.log_path, "");  // the file nudged's stderr will be, so its inode is known now
  auto log = log_of_a_run(d, {"JOURNAL_STREAM=" + stream_id_of(d.log_path)});
  auto lines = test::read_lines(d.log_path);
  REQUIRE(lines.size() >= 4);
  for (const auto& l : lines) {
    CAPTURE(l);
    CHECK((l.rfind("<3>", 0) == 0 || l.rfind("<4>", 0) == 0 || l.rfind("<6>", 0) == 0 || l.rfind("<7>", 0) == 0));
  }
  CHECK(log.find("<6>info: ") != std::string::npos);
  // The rejected reload: its first line and each error line under it are errors.
  CHECK(log.find("<3>error: the new policy was rejected") != std::string::npos);
  CHECK(log.find("\n<3>" + d.policy_path) != std::string::npos);
  for (const char* key : {"limits_typo", "safety_typo"}) {
    CAPTURE(key);
    bool found = false;
    for (const auto& l : lines)
      if (l.find(std::string("unknown key '") + key + "'") != std::string::npos) found = l.rfind("<3>", 0) == 0;
    CHECK(found);
  }
}

TEST_CASE("without the journal, or with $JOURNAL_STREAM naming another stream, log lines are plain") {
  SUBCASE("no JOURNAL_STREAM") {
    Daemon d;
    auto log = log_of_a_run(d, {"JOURNAL_STREAM"});  // putenv without '=' removes it
    CHECK(log.find("info: ") != std::string::npos);
    CHECK(log.find("error: the new policy was rejected") != std::string::npos);
    CHECK(log.find('<') == std::string::npos);
  }
  SUBCASE("JOURNAL_STREAM inherited from a shell whose stderr was redirected to a file") {
    Daemon d;
    auto log = log_of_a_run(d, {"JOURNAL_STREAM=8:123456789"});
    CHECK(log.find("error: the new policy was rejected") != std::string::npos);
    CHECK(log.find('<') == std::string::npos);
  }
}
