// The shipped unit files, as systemd reads them: they verify (with ExecStart pointed
// at the built nudged), and `systemd-analyze security --offline` scores them at 2.0
// or better (lower is safer).
#include <doctest/doctest.h>

#include "integration/ops_helpers.h"

namespace {

std::string unit_path(const std::string& name) { return std::string(NUDGE_SOURCE_DIR) + "/systemd/" + name; }

int systemd_version() {
  auto r = test::run({"/usr/bin/systemd-analyze", "--version"});
  auto p = r.out.find("systemd ");
  return p == std::string::npos ? 0 : std::stoi(r.out.substr(p + 8));
}

// A copy of the unit whose ExecStart runs the built nudged; on systemd < 253 the
// Type is the one the shipped drop-in nudged-systemd252.conf sets.
std::string copy_for_verify(const test::TempDir& dir, const std::string& name) {
  std::string text = test::read_file(unit_path(name));
  for (size_t p; (p = text.find("/usr/sbin/nudged")) != std::string::npos;)
    text.replace(p, 16, NUDGED_PATH);
  if (systemd_version() < 253) {
    auto p = text.find("\nType=notify-reload\n");
    REQUIRE(p != std::string::npos);
    text.replace(p, 20, "\nType=notify\n");
    text += "\n[Service]\nExecReload=/bin/kill -HUP $MAINPID\n";
  }
  test::write_file(dir / name, text);
  return dir / name;
}

double exposure(const std::string& analysis) {
  auto p = analysis.find("Overall exposure level for ");
  if (p == std::string::npos) return 99;
  p = analysis.find(": ", p);
  return std::stod(analysis.substr(p + 2));
}

}  // namespace

TEST_CASE("the units ask for notify-reload, the watchdog, a dynamic user and their own folders") {
  for (const char* name : {"nudged.service", "nudged@.service"}) {
    CAPTURE(name);
    std::string unit = test::read_file(unit_path(name));
    for (const char* line : {"\nType=notify-reload\n", "\nWatchdogSec=30s\n", "\nRestart=on-failure\n",
                             "\nDynamicUser=yes\n", "\nConfigurationDirectory=nudge\n", "\nUMask=0027\n",
                             "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n", "\nProtectSystem=strict\n"}) {
      CAPTURE(line);
      CHECK(unit.find(line) != std::string::npos);
    }
    CHECK(unit.find("\nPrivateNetwork=yes") == std::string::npos);  // it must reach the marketplace
    CHECK(unit.find("\nIPAddressDeny=any") == std::string::npos);
  }
  std::string single = test::read_file(unit_path("nudged.service"));
  CHECK(single.find("\nExecStart=/usr/sbin/nudged --config /etc/nudge/nudge.yaml\n") != std::string::npos);
  // Enabled by the package before any policy exists: skipped, not failed, until it does.
  CHECK(single.find("\nConditionPathExists=/etc/nudge/nudge.yaml\n") != std::string::npos);
  CHECK(single.find("\nStateDirectory=nudge\n") != std::string::npos);
  CHECK(single.find("\nLogsDirectory=nudge\n") != std::string::npos);
  std::string group = test::read_file(unit_path("nudged@.service"));
  CHECK(group.find("\nExecStart=/usr/sbin/nudged --config /etc/nudge/%i.yaml\n") != std::string::npos);
  CHECK(group.find("\nConditionPathExists=/etc/nudge/%i.yaml\n") != std::string::npos);
  CHECK(group.find("\nStateDirectory=nudge/%i\n") != std::string::npos);
  CHECK(group.find("\nLogsDirectory=nudge/%i\n") != std::string::npos);
}

TEST_CASE("systemd-analyze verify accepts both units") {
  test::TempDir dir;
  std::string single = copy_for_verify(dir, "nudged.service");
  copy_for_verify(dir, "nudged@.service");
  for (const std::string& unit : {single, dir / "nudged@eu.service"}) {
    CAPTURE(unit);
    auto r = test::run({"/usr/bin/systemd-analyze", "verify", "--man=no", unit});
    std::string complaints = r.out + r.err;
    CHECK_MESSAGE(r.status == 0, complaints);
    CHECK(complaints == "");
  }
}

TEST_CASE("systemd-analyze security --offline scores both units at 2.0 or better") {
  test::TempDir dir;
  test::fs::copy_file(unit_path("nudged@.service"), dir / "nudged@eu.service");
  for (const std::string& unit : {unit_path("nudged.service"), dir / "nudged@eu.service"}) {
    CAPTURE(unit);
    auto r = test::run({"/usr/bin/systemd-analyze", "security", "--offline=true", "--threshold=20", unit});
    MESSAGE(unit << ": exposure " << exposure(r.out));
    CHECK_MESSAGE(r.status == 0, r.out);
    CHECK(exposure(r.out) <= 2.0);
  }
}
