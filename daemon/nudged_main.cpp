// nudged: the reminder daemon. See README.md and docs/operations.md.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "core/policy.h"
#include "daemon/log.h"
#include "daemon/service.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: nudged [--config FILE] [--check] [--verbose]\n"
         "  --config FILE  the policy (default /etc/nudge/nudge.yaml)\n"
         "  --check        check the policy and exit: 0 if valid, 78 with its errors if not\n"
         "  --verbose      debug lines in the operational log\n"
         "  --version      print the version\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "/etc/nudge/nudge.yaml";
  bool check = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config = a.substr(9);
    } else if (a == "--check") {
      check = true;
    } else if (a == "--verbose" || a == "-v") {
      verbose = true;
    } else if (a == "--version") {
      std::cout << "nudged " << nudge::kVersion << "\n";
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "nudged: unknown argument '" << a << "'\n";
      usage(std::cerr);
      return 64;  // EX_USAGE
    }
  }
  if (check) {
    auto r = nudge::load_policy(config);
    std::vector<nudge::PolicyError> all = r.errors;
    all.insert(all.end(), r.warnings.begin(), r.warnings.end());
    std::stable_sort(all.begin(), all.end(), [](const nudge::PolicyError& x, const nudge::PolicyError& y) {
      return std::tie(x.line, x.col) < std::tie(y.line, y.col);
    });
    for (const auto& e : all) std::cerr << e.to_string() << "\n";
    if (!r.ok()) {
      std::cerr << r.errors.size() << (r.errors.size() == 1 ? " error" : " errors") << " in " << config << "\n";
      return nudge::kExitConfig;
    }
    std::cout << config << ": policy is valid" << nudge::warning_count(r.warnings) << "\n";
    return 0;
  }
  nudge::init_logging(verbose);
  // A file size limit (RLIMIT_FSIZE, systemd's LimitFSIZE=) must be a store fault like
  // a full disk (writes fail with EFBIG, sending pauses), not a silent death by SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  try {
    nudge::Service service({config, creds ? creds : ""});
    return service.run();
  } catch (const std::exception& e) {
    nudge::log_error(std::string("nudged failed: ") + e.what());
    return nudge::kExitSoftware;
  }
}
