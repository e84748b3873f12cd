// Inspect: the read-only views behind `nudgectl status`, `buyer`, `order` and
// `audit tail`. They read a Store opened read-only, safe while nudged runs, and
// print for a terminal or, with json, for scripts.
#pragma once

#include <ostream>
#include <string>

#include "core/clock.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

void print_status(Store& store, const Policy& policy, Millis now, bool json, std::ostream& out);
// Returns false when the buyer is unknown.
bool print_buyer(Store& store, const Policy& policy, const std::string& buyer, const std::string& shop, bool json,
                 std::ostream& out);
bool print_order(Store& store, const Policy& policy, const std::string& order, const std::string& shop, bool json,
                 std::ostream& out);

// One audit JSON line as a human-readable line:
// "2026-11-26 12:00:00Z  sent        s1/es1001   8001,8002  first via platform (es)  send 17".
std::string describe_audit_line(const std::string& json_line);

// Prints the last `n` lines of the audit file, then, with follow, new lines as they
// come, across logrotate's rename-and-create (like tail -F). Runs until interrupted.
int tail_audit(const std::string& path, int n, bool follow, bool json, std::ostream& out);

}  // namespace nudge
