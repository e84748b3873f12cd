// Simulator: runs the real Engine over a feed on an in-memory store with a manual
// clock, as nudged would have, for `nudgectl simulate`. Records arrive at their own
// time (placed_at for orders, at for status records) at the next poll; every
// reminder is delivered at once. Single-threaded; touches no files.
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/feed.h"
#include "core/policy.h"

namespace nudge {

struct SimulationResult {
  std::int64_t records = 0, orders = 0, rejected = 0;
  std::int64_t events = 0;
  std::map<std::string, std::int64_t> by_event;   // "sent" -> n
  std::map<std::string, std::int64_t> by_reason;  // "deferred:quiet_hours" -> n
  Millis start = 0, end = 0;                      // simulated time span
};

// Writes every audit line to `events` as it is produced. `until` stops the clock;
// by default the simulation runs until nothing is due any more.
SimulationResult simulate(std::shared_ptr<const Policy> policy, std::vector<FeedRecord> records,
                          std::optional<Millis> until, std::ostream& events);

}  // namespace nudge
