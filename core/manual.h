// Manual reminders (`nudgectl remind`): which channel and template one goes with, and
// why one is refused. Pure functions over the policy, shared by nudged (which
// decides) and nudgectl (which tells the operator at once). A manual reminder is a
// schedule row with step `kManualStep`; it goes through every check an automatic step
// gets, and is never held out of a holdout group.
#pragma once

#include <optional>
#include <string>

#include "core/policy.h"

namespace nudge {

// kManualStep ("manual") is in core/experiment.h, where the holdout skips it.
// An earlier manual reminder of an order that went out keeps its schedule row (it
// counts for per_order) under "manual@<row id>", since the steps' key is one per step.
inline constexpr const char* kManualDonePrefix = "manual@";

// The step a manual reminder is sent as: `channel` and `tmpl` as asked, else the
// first step's of `campaign` (the order's). An empty result sets `error`: an unknown
// channel or template, or nothing asked and no campaign to take it from.
std::optional<Step> manual_step(const Policy& p, const std::string& campaign, const std::string& channel,
                                const std::string& tmpl, std::string& error);

// Why a manual reminder cannot be taken for an order in `status` (its feed status)
// whose manual row, if any, is in `manual_state` (a StepState string, empty: none):
// "" when it can, else an audit reason with `detail` for the operator. One manual
// reminder waits per order at a time; an order already reminded by hand may be
// reminded again (the caps count every one).
std::string manual_refusal(const std::string& status, const std::string& manual_state, std::string& detail);

}  // namespace nudge
