// Report (issue 12, nudgectl report): does reminding pay? Over the orders placed in a
// window: how many were overdue, reminded, paid after a reminder (core/attribution.h)
// or without one, the money recovered, the uplift over the holdout with Newcombe's
// interval, and rows by campaign, step, template, channel, language, country or shop.
// Reads the store only; one query over the orders placed in the window (an index on
// placed_at). Use from the thread that owns the Store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/experiment.h"

namespace nudge {

class Store;
struct Policy;

// Below this many orders in either group, the uplift is "not enough data" (null).
inline constexpr long kMinUpliftGroup = 30;

// The dimensions a report can be split by.
const std::vector<std::string>& report_dimensions();  // campaign, step, template, channel, lang, country, shop

// Money as an exact count of 1/10,000 of the currency unit (amounts are decimals).
using Money = std::int64_t;
std::optional<Money> parse_money(const std::string& decimal);
std::string format_money(Money m);  // "12.34", "0.50", "3.125"

struct ReportRow {
  std::string by;
  long reminded = 0;             // orders with a sent reminder of this value
  long paid_after_reminder = 0;  // ... whose payment counts for a reminder of this value
  double rate = 0;               // paid_after_reminder / reminded
  Interval rate_ci95{0, 1};      // Wilson score interval of rate
  std::map<std::string, Money> recovered;       // currency -> amount
  std::optional<double> median_hours_to_pay;    // null when none paid after
};

struct Uplift {
  double reminded_rate = 0, holdout_rate = 0, difference = 0;
  Interval ci95{0, 0};  // Newcombe's hybrid score interval (core/experiment.h)
};

struct Report {
  Millis since = 0, until = 0, attribution_window = 0;
  std::string shop;  // the --shop filter, "" for all
  long orders = 0;                // placed in [since, until)
  long overdue = 0;               // not paid, cancelled or closed by the payment deadline
  long reminded = 0;              // with at least one sent reminder
  long paid_after_reminder = 0;
  long paid_without_reminder = 0;
  long paid_late = 0;             // paid after a reminder, later than the window
  std::map<std::string, Money> recovered;  // by currency, of the orders paid after a reminder
  long reminders = 0;             // sent reminders (messages) of these orders
  long opt_outs = 0;              // opted_out events in [since, until)
  // The uplift's two groups: orders whose buyer was held out (a step skipped
  // `holdout`), and orders not held out that got a sent reminder. Both were unpaid when
  // their first step came due; "paid" is paid at any time after.
  long holdout_orders = 0, holdout_paid = 0;
  long treated_orders = 0, treated_paid = 0;
  std::optional<Uplift> uplift;  // null below kMinUpliftGroup in either group
  std::map<std::string, std::vector<ReportRow>> rows;  // dimension -> rows, by value
  // Hours from the reminder to the payment, of the orders paid after a reminder:
  // hist[i] counts [i*bin, (i+1)*bin) hours.
  double hist_bin_hours = 3;
  std::vector<long> hist;
};

struct ReportQuery {
  Millis since = 0, until = 0;
  std::string shop;  // "" for every shop
};

Report build_report(Store& store, const Policy& policy, const ReportQuery& q);

// The SQL that build_report runs over the orders (for EXPLAIN QUERY PLAN in tests).
const char* report_orders_sql();

}  // namespace nudge
