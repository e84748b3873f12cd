// `nudgectl remind`: manual reminders. Checks each order in the store (read only:
// known, still awaiting payment, no manual reminder already waiting or sent, the
// channel and template known), writes one `remind` record per order to the inbox,
// then waits up to `wait` for nudged's decision in the audit (sent, deferred to the
// buyer's morning, skipped, with the reason) and reports it.
// Runs in nudgectl's process, alongside a running nudged.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/policy.h"

namespace nudge {

struct RemindRequest {
  std::vector<std::string> orders;  // order ids, all of `shop`
  std::string shop, channel, tmpl;
  std::string actor;                // the Unix user who asks
  Millis wait = 30 * kSecond;       // 0: do not wait for nudged
  bool json = false;
};

// Exit status: 0 when every reminder was sent or deferred (or, without waiting,
// written to the inbox); 1 when an order was refused (unknown, no longer awaiting
// payment, skipped by nudged: opted out, a cap, unsafe content, ...); 64 for an
// unknown channel or template; 75 (EX_TEMPFAIL) when nudged did not decide in time.
int remind_orders(const Policy& policy, const RemindRequest& req, std::ostream& out, std::ostream& err);

// The Unix user running this process ("alice"; "alice via sudo" for root under sudo).
std::string unix_actor();

}  // namespace nudge
