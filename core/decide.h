// Decide: what happens now to one buyer's due steps, as a function of what the store
// holds about the buyer, the policy and the instant. No SQLite here: the engine loads
// a BuyerSnapshot (engine_claim.cpp), calls decide_buyer, and writes the decisions in
// their order, each with its audit line. tests/decide_test.cpp tests the rules alone.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/policy.h"
#include "core/render.h"
#include "core/replies.h"
#include "core/states.h"
#include "core/time_util.h"

namespace nudge {

// What a reminder needs to know of an order.
struct OrderFacts {
  std::string order_id, buyer_name, country, lang, tz, email, amount, currency, status;
  Millis placed_at = 0, closes_at = 0;
};

// A step that is scheduled and due.
struct DueStep {
  std::int64_t id = 0;  // the schedule row
  std::string order_id, campaign, step;
  int step_index = 0;
  int next_channel = 0;  // the first of the step's channels still to try
  Millis due_at = 0;
  // A manual step (`nudgectl remind`): the step as asked for (its channel and
  // template) and who asked. Null for a step of a campaign.
  const Step* manual = nullptr;
  std::string actor;
};

struct BuyerSnapshot {
  std::string shop, buyer;
  std::vector<DueStep> due;                  // each with its order in `orders`
  std::map<std::string, OrderFacts> orders;  // by order id
  // Per order: its steps sending, sent or in doubt (limits.per_order counts them).
  std::map<std::string, int> sent_by_order;
  // Why no reminder may go to the buyer now ("opted_out", "paid_recently",
  // "off_platform_request:<category>"), or empty.
  std::string hold;
  std::optional<ReplyWait> wait;  // a reply holding automatic steps back
  // The buyer's reminders that count against limits.per_buyer: their times within
  // the longest window, ascending.
  std::vector<Millis> ledger;
};

struct Decision {
  enum class Kind {
    kFinish,  // the step ends: `state` (skipped, cancelled, held) for `reason`
    kDefer,   // the step waits until `until` for `reason`
    kSend,    // one message for `steps` (merged orders), rendered as `text`
  };
  Kind kind = Kind::kFinish;
  std::vector<const DueStep*> steps;  // one for kFinish and kDefer
  StepState state = StepState::kSkipped;
  std::string reason;
  Millis until = 0;
  std::string channel;  // once chosen; "" for what was decided before
  // kSend only:
  std::string tmpl;
  Rendered text;
  std::map<std::string, std::string> steps_by_order;  // when the merged orders are at different steps
  std::string actor;                                  // of a manual step in the message
};

// When the fullest of limits.per_buyer's windows lets one more reminder through,
// given the buyer's ledger times (ascending); `now` when none is full. Names the
// limiting window in `limiting` ("cap_buyer:<max>/<within>").
Millis allowed_at(const Limits& limits, const std::vector<Millis>& ledger, Millis now, std::string& limiting);

// The decisions about the buyer's due steps, in the order they are to be written.
// `room` (may be null) is how many more messages each channel can take now: a
// message whose channel has none is left out (its steps stay scheduled), and each
// message decided takes one.
std::vector<Decision> decide_buyer(const Policy& policy, const BuyerSnapshot& buyer, Millis now,
                                   std::map<std::string, int>* room);

// A send waiting to be retried (a transient failure), with what its retry must check
// again: a retry is a new delivery and goes through the checks of a first send.
struct RetrySnapshot {
  struct Order {
    std::string order_id, step, status, tz, country;  // step: kManualStep for the seller's own reminder
    Millis closes_at = 0;
  };
  std::vector<Order> orders;  // the send's orders, in the send's order
  std::string hold;           // as in BuyerSnapshot
  std::optional<ReplyWait> wait;
  std::vector<Millis> ledger;  // as in BuyerSnapshot, without this send's own reservation
};

struct RetryDecision {
  enum class Kind {
    kSend,    // the retry goes now
    kDefer,   // it waits, still a retry, until `until` for `reason`
    kCancel,  // the send ends; each of its orders' steps gets its fate in `orders`
  };
  struct Fate {
    bool split = false;  // back to the schedule, due now, for a fresh claim
    StepState state = StepState::kSkipped;  // otherwise: the step ends so
    std::string reason;
  };
  Kind kind = Kind::kSend;
  Millis until = 0;
  std::string reason;
  std::vector<Fate> orders;  // kCancel: one per order of the snapshot
};

// What becomes of a retry now, by the rules of decide_buyer in their order: the
// orders still unpaid, the close, the buyer's hold, a reply's wait (automatic steps
// only; a send mixing both is split so that each goes its own way), quiet hours, the
// buyer's windows. A wait that ends past an order's stop ends the send at once (that
// order's step skipped, `too_close_to_close`; the others back to the schedule), and a
// limited retry is skipped under when_limited: skip, as decide_buyer does.
RetryDecision decide_retry(const Policy& policy, const RetrySnapshot& retry, Millis now);

}  // namespace nudge
