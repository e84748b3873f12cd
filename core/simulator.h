// Simulator: runs the real Engine over a feed on an in-memory store with a manual
// clock, as nudged would have, for `nudgectl simulate`. Records arrive at their own
// time (placed_at for orders, at for status records) at the next poll; every
// reminder is delivered at once. Single-threaded; touches no file but `keep_store`.
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
// by default the simulation runs until nothing is due any more. With `keep_store`, the
// simulated store is written to that new file at the end (VACUUM INTO), for
// `nudgectl report`; throws std::runtime_error when it cannot be written.
SimulationResult simulate(std::shared_ptr<const Policy> policy, std::vector<FeedRecord> records,
                          std::optional<Millis> until, std::ostream& events,
                          const std::string& keep_store = "");

}  // namespace nudge
