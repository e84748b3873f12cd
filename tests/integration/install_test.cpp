// `cmake --install` as a packager runs it (prefix /usr, DESTDIR staging): binaries,
// units, the policy example, the logrotate snippet and the docs land where Debian
// expects them, and what is installed works together.
#include <sys/stat.h>

#include <doctest/doctest.h>

#include "integration/ops_helpers.h"

TEST_CASE("cmake --install --prefix /usr with DESTDIR puts every file in its usual place") {
  test::TempDir dir;
  std::string root = dir / "root";
  auto r = test::run({CMAKE_COMMAND_PATH, "--install", NUDGE_BUILD_DIR, "--prefix", "/usr"}, {"DESTDIR=" + root});
  std::string output = r.out + r.err;
  REQUIRE_MESSAGE(r.status == 0, output);

  for (const char* path : {"/usr/sbin/nudged", "/usr/bin/nudgectl"}) {
    CAPTURE(path);
    struct stat st {};
    REQUIRE(::stat((root + path).c_str(), &st) == 0);
    CHECK((st.st_mode & S_IXOTH) != 0);
  }
  for (const char* path : {"/usr/lib/systemd/system/nudged.service", "/usr/lib/systemd/system/nudged@.service",
                           "/etc/nudge/nudge.yaml.example", "/etc/logrotate.d/nudge",
                           "/usr/share/doc/nudge/README.md", "/usr/share/doc/nudge/operations.md",
                           "/usr/share/doc/nudge/examples/nudged-systemd252.conf",
                           "/usr/share/man/man8/nudged.8", "/usr/share/man/man1/nudgectl.1",
                           "/usr/share/man/man5/nudge.yaml.5", "/usr/share/bash-completion/completions/nudgectl",
                           "/usr/share/nudge/nudge.schema.json", "/etc/lnav/formats/nudge/nudge_audit.json",
                           "/usr/share/doc/nudge/examples/nudge-alerts.yml", "/usr/share/doc/nudge/examples/nudge.json"}) {
    CAPTURE(path);
    CHECK(test::fs::is_regular_file(root + path));
  }
  CHECK(!test::fs::exists(root + "/usr/etc"));  // prefix /usr puts configuration in /etc

  // The installed daemon accepts the installed example, and the unit runs that daemon.
  auto check = test::run({root + "/usr/sbin/nudged", "--check", "--config", root + "/etc/nudge/nudge.yaml.example"});
  CHECK_MESSAGE(check.status == 0, check.err);
  CHECK(test::read_file(root + "/usr/lib/systemd/system/nudged.service").find("\nExecStart=/usr/sbin/nudged ") !=
        std::string::npos);
  CHECK(test::read_file(root + "/etc/logrotate.d/nudge").find("/var/log/nudge/audit.jsonl") != std::string::npos);
}

TEST_CASE("the example policy keeps its store and audit log in the unit's own folders") {
  std::string example = test::read_file(std::string(NUDGE_SOURCE_DIR) + "/etc/nudge/nudge.yaml.example");
  CHECK(example.find("\nstore: /var/lib/nudge/") != std::string::npos);        // StateDirectory=nudge
  CHECK(example.find("\naudit_log: /var/log/nudge/audit.jsonl") != std::string::npos);  // LogsDirectory=nudge
  CHECK(example.find("dir: /var/lib/nudge/outbox") != std::string::npos);
}
