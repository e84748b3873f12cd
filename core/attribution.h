// Attribution (issue 12): which reminder, if any, an order's payment counts for.
// attribute() is a pure function; audit_payment() applies it when an order becomes
// paid, writing a `paid_after_reminder` audit line (read by the metrics).
// Use from the thread that owns the Store.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace nudge {

class Store;
struct Policy;

// One reminder that reached the sent state, as the order saw it.
struct Reminder {
  Millis at = 0;  // when it was sent (the send's `sent` time)
  std::string campaign, step, tmpl, channel, lang;
};

enum class PaidKind {
  kUnpaid,           // not paid (awaiting payment, cancelled or closed)
  kAfterReminder,    // paid within the window after a reminder
  kWithoutReminder,  // paid with no reminder sent before the payment
  kLate,             // paid after a reminder, but later than the window: counts for neither
};

struct Attribution {
  PaidKind kind = PaidKind::kUnpaid;
  std::optional<size_t> reminder;  // kAfterReminder: index into the reminders given
  Millis to_pay = 0;               // kAfterReminder: from that reminder to the payment
};

// The last reminder sent at or before the payment wins; the payment counts for it when
// it came within `window` after it: sent_at <= paid_at < sent_at + window (the start
// inclusive, the end exclusive). A reminder sent after the payment plays no part.
// `reminders` need not be sorted.
Attribution attribute(const std::vector<Reminder>& reminders, std::optional<Millis> paid_at, Millis window);

// Every sent reminder of one order, from the store (schedule rows and their sends).
std::vector<Reminder> order_reminders(Store& store, const std::string& shop, const std::string& order_id);

// Called inside the write transaction that marked the order paid: when the payment
// counts for a reminder, appends a `paid_after_reminder` audit line with that
// reminder's campaign, step, template, channel and language, and the order's amount.
void audit_payment(Store& store, const Policy& policy, const std::string& shop, const std::string& order_id,
                   const std::string& buyer, Millis now);

}  // namespace nudge
