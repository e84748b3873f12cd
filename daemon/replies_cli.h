// The replies side of nudgectl: `reply` (a seller pastes a buyer's answer, written as
// a reply record into the inbox for nudged to take) and `flags` (the open off-platform
// requests, and clearing one). Called from nudgectl's main thread only.
#pragma once

#include <ostream>
#include <string>

#include "core/clock.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

struct ReplyByHand {
  std::string shop, buyer, text;
  std::string at;          // ISO 8601; empty: now
  std::string message_id;  // empty: "manual-<ms>-<pid>"
};

// Checks the record as nudged will (the feed's rules) and adds it to the inbox of
// `store`. Returns 0, or 65 (EX_DATAERR) with the reason on `err`.
int write_reply(Store& store, Millis now, const ReplyByHand& r, std::ostream& out, std::ostream& err);

// The open flags (with `all`, cleared ones too, newest first), with the buyer's text.
void print_flags(Store& store, const std::string& shop, bool all, bool json, std::ostream& out);

// unix_actor() (who runs the command, for the audit) is in daemon/remind.h.

}  // namespace nudge
