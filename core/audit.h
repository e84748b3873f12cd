// Audit: every decision as one JSON line, chained by SHA-256 so that an edit,
// a reorder or a truncation shows. Lines are written to the store's audit table
// inside the caller's transaction; the daemon mirrors them to the JSONL file.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/store.h"

namespace nudge {

struct AuditEvent {
  std::string event;  // started, stopped, policy_loaded, ..., in_doubt (docs/audit.md)
  std::string shop, buyer;
  std::vector<std::string> orders;
  std::string step, channel, tmpl, lang;
  std::optional<int> attempt;
  std::optional<std::int64_t> send_id;
  std::string reason;             // empty -> null
  std::optional<Millis> due;      // scheduled/deferred: when it is (now) due
  std::string detail;             // free text for operators; empty -> null
  // paid_after_reminder: the order's campaign and amount; omitted when empty.
  std::string campaign, amount, currency;
  // A merged message whose orders are at different steps: each order's step, on
  // every line about it (so no line names a wrong step for an order). Empty: omitted.
  std::map<std::string, std::string> steps;
  // A manual reminder (step `manual`): the Unix user who asked. Empty: omitted, so
  // lines written before the field existed read and verify as they were.
  std::string actor;
};

inline constexpr const char* kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

// Appends one event with the next seq, chained to the previous line. Must be called
// inside a write transaction on `store`. Returns the seq.
std::int64_t append_audit(Store& store, Millis ts, const AuditEvent& e);

// Builds the line for seq/prev (without writing it); `hash_out` receives its hash.
std::string audit_line(std::int64_t seq, Millis ts, const AuditEvent& e, const std::string& prev, std::string& hash_out);

struct AuditCheck {
  bool ok = true;
  std::int64_t lines = 0;
  std::int64_t first_bad_line = 0;  // 1-based line number in the input
  std::string problem;
  std::int64_t last_seq = 0;
  std::string last_hash;
};

// Checks seq contiguity (from the first line's seq), the prev links and every hash.
// `expect_first_seq`/`expect_prev` let a caller verify a rotated tail; by default the
// input must start at seq 1 from the genesis hash.
AuditCheck verify_audit(std::istream& in, std::int64_t expect_first_seq = 1,
                        const std::string& expect_prev = kGenesisHash);

}  // namespace nudge
