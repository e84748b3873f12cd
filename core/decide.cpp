// Decide: the rules of a first send, in the order they apply (see decide.h).
#include "core/decide.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "core/engine_internal.h"
#include "core/experiment.h"
#include "core/manual.h"
#include "core/safety.h"
#include "core/zones.h"

namespace nudge {

using engine_detail::can_reach;
using engine_detail::find_step;

namespace {

// A hold ends a step: held while a flag is open (clearing it schedules the step
// again, engine_replies.cpp), skipped for any other reason.
StepState state_for_hold(const std::string& hold) {
  return hold.rfind("off_platform_request:", 0) == 0 ? StepState::kHeld : StepState::kSkipped;
}

}  // namespace

Millis allowed_at(const Limits& limits, const std::vector<Millis>& ledger, Millis now, std::string& limiting) {
  Millis allowed = now;
  for (const auto& w : limits.per_buyer) {
    // The window's reminders: those after now - within (the ledger is ascending).
    auto first = std::upper_bound(ledger.begin(), ledger.end(), now - w.within);
    auto in_window = ledger.end() - first;
    if (in_window >= w.max) {
      Millis t = *(ledger.end() - w.max) + w.within;
      if (t > allowed) {
        allowed = t;
        limiting = "cap_buyer:" + w.label();
      }
    }
  }
  return allowed;
}

std::vector<Decision> decide_buyer(const Policy& p, const BuyerSnapshot& s, Millis now,
                                   std::map<std::string, int>* room) {
  const Limits& L = p.limits;
  std::vector<Decision> out;

  // Oldest first; a step without its order is left alone.
  std::vector<const DueStep*> rows;
  for (const auto& r : s.due)
    if (s.orders.count(r.order_id)) rows.push_back(&r);
  std::sort(rows.begin(), rows.end(), [](const DueStep* x, const DueStep* y) {
    return std::tie(x->due_at, x->step_index, x->id) < std::tie(y->due_at, y->step_index, y->id);
  });
  auto order_of = [&](const DueStep& r) -> const OrderFacts& { return s.orders.at(r.order_id); };
  auto stop_of = [&](const DueStep& r) { return order_of(r).closes_at - p.payment.stop_before_close; };
  auto finish = [&](const DueStep& r, StepState state, std::string reason, const std::string& channel = "") {
    out.push_back({.kind = Decision::Kind::kFinish, .steps = {&r}, .state = state, .reason = std::move(reason),
                   .channel = channel});
  };
  auto defer = [&](const DueStep& r, Millis until, std::string reason, const std::string& channel = "") {
    out.push_back({.kind = Decision::Kind::kDefer, .steps = {&r}, .reason = std::move(reason), .until = until,
                   .channel = channel});
  };

  // Per order: the oldest live step goes on; older steps missed for longer than
  // misfire_grace collapse into the newest due one.
  struct Candidate {
    const DueStep* row;
    const Step* conf;
    std::string channel;
  };
  std::vector<Candidate> candidates;
  std::set<std::string> seen_orders;
  for (size_t i = 0; i < rows.size(); ++i) {
    const DueStep& r = *rows[i];
    if (!seen_orders.insert(r.order_id).second) continue;
    std::vector<const DueStep*> group;
    for (size_t j = i; j < rows.size(); ++j)
      if (rows[j]->order_id == r.order_id) group.push_back(rows[j]);
    const OrderFacts& o = order_of(r);
    if (o.status != "awaiting_payment") {
      for (auto* g : group) finish(*g, StepState::kCancelled, o.status);
      continue;
    }
    const DueStep* newest = group.back();
    const DueStep* pick = nullptr;
    for (auto* g : group) {
      if (g != newest && g->step_index < newest->step_index && now - g->due_at > L.misfire_grace)
        finish(*g, StepState::kSkipped, "superseded");
      else if (!pick)
        pick = g;
    }
    const DueStep& d = *pick;
    const Step* conf = d.step == kManualStep ? d.manual : find_step(p, d.campaign, d.step);
    if (!conf) {
      finish(d, StepState::kSkipped, "policy_changed");
      continue;
    }
    if (now > stop_of(d)) {
      finish(d, StepState::kSkipped, "too_close_to_close");
      continue;
    }
    if (!s.hold.empty()) {
      finish(d, state_for_hold(s.hold), s.hold);
      continue;
    }
    // A reply pauses automatic steps; a reminder the seller asked for by hand goes on.
    if (s.wait && d.step != kManualStep) {
      if (s.wait->until > stop_of(d))
        finish(d, StepState::kSkipped, "too_close_to_close");
      else
        defer(d, s.wait->until, s.wait->reason);
      continue;
    }
    if (auto out_reason = holdout_reason(p, s.shop, s.buyer, d.step); !out_reason.empty()) {
      finish(d, StepState::kSkipped, out_reason);
      continue;
    }
    if (auto it = s.sent_by_order.find(d.order_id); it != s.sent_by_order.end() && it->second >= L.per_order) {
      finish(d, StepState::kSkipped, "cap_order");
      continue;
    }
    std::string channel;
    for (size_t k = static_cast<size_t>(d.next_channel); k < conf->channels.size(); ++k) {
      const auto& name = conf->channels[k];
      auto it = p.channels.find(name);
      if (it != p.channels.end() && can_reach(it->second, o.email)) {
        channel = name;
        break;
      }
    }
    if (channel.empty()) {
      finish(d, StepState::kSkipped, "no_channel");
      continue;
    }
    if (L.quiet_hours) {
      if (auto until = quiet_until(*L.quiet_hours, buyer_zone(p, o.tz, o.country), now)) {
        if (*until > stop_of(d))
          finish(d, StepState::kSkipped, "too_close_to_close", channel);
        else
          defer(d, *until, "quiet_hours", channel);
        continue;
      }
    }
    candidates.push_back({&d, conf, channel});
  }

  // Messages: with merge, one per channel for all of the buyer's sendable orders.
  std::vector<std::vector<Candidate>> messages;
  for (auto& c : candidates) {
    auto it = std::find_if(messages.begin(), messages.end(),
                           [&](const auto& m) { return L.merge && m.front().channel == c.channel; });
    if (it == messages.end())
      messages.push_back({c});
    else
      it->push_back(c);
  }

  std::vector<Millis> ledger = s.ledger;  // and the sends decided here
  for (auto& msg : messages) {
    const std::string& channel = msg.front().channel;
    // A channel without room now: its steps stay scheduled for a later claim.
    if (room) {
      auto it = room->find(channel);
      if (it != room->end()) {
        if (it->second <= 0) continue;
        --it->second;
      }
    }
    std::string limiting;
    Millis allowed = allowed_at(L, ledger, now, limiting);
    if (allowed > now) {
      for (auto& c : msg) {
        if (L.when_limited == WhenLimited::kSkip)
          finish(*c.row, StepState::kSkipped, limiting, channel);
        else if (allowed > stop_of(*c.row))
          finish(*c.row, StepState::kSkipped, "too_close_to_close", channel);
        else
          defer(*c.row, allowed, limiting, channel);
      }
      continue;
    }

    const DueStep& first = *msg.front().row;
    const OrderFacts& o = order_of(first);
    RenderInput in{.tmpl = pick_template(p, *msg.front().conf, s.shop, s.buyer), .buyer_name = o.buyer_name,
                   .buyer_lang = o.lang, .country = o.country, .shop = s.shop, .step = first.step,
                   .zone = buyer_zone(p, o.tz, o.country), .now = now};
    for (auto& c : msg) {
      const OrderFacts& co = order_of(*c.row);
      in.orders.push_back({co.order_id, co.amount, co.currency, co.placed_at, co.closes_at});
    }
    Rendered text = render_message(p, in);
    // G7: a template that passed the lint can still render something unsafe (an order
    // field carrying a phone number, say): such a message is skipped, never sent.
    if (auto unsafe = unsafe_content(p, text)) {
      for (auto& c : msg)
        finish(*c.row, StepState::kSkipped, std::string("unsafe_content:") + to_string(unsafe->category), channel);
      continue;
    }
    Decision send{.kind = Decision::Kind::kSend, .channel = channel, .tmpl = in.tmpl, .text = std::move(text)};
    // A merged message carries its first order's step; when its orders are at
    // different steps, every line about it says which is which (`steps`), so that no
    // order looks reminded at a step it was not.
    for (auto& c : msg) {
      send.steps.push_back(c.row);
      if (c.row->step != first.step)
        for (auto& x : msg) send.steps_by_order[x.row->order_id] = x.row->step;
      if (c.row->step == kManualStep) send.actor = c.row->actor;
    }
    out.push_back(std::move(send));
    ledger.insert(std::upper_bound(ledger.begin(), ledger.end(), now), now);
  }
  return out;
}

RetryDecision decide_retry(const Policy& p, const RetrySnapshot& s, Millis now) {
  using Fate = RetryDecision::Fate;
  RetryDecision out;
  auto stop_of = [&](const RetrySnapshot::Order& o) { return o.closes_at - p.payment.stop_before_close; };
  auto waits = [&](const RetrySnapshot::Order& o) { return s.wait && o.step != kManualStep; };
  Millis stop = s.orders.empty() ? 0 : stop_of(s.orders.front());
  bool all_awaiting = true, any_wait = false, all_wait = !s.orders.empty();
  for (const auto& o : s.orders) {
    stop = std::min(stop, stop_of(o));
    all_awaiting = all_awaiting && o.status == "awaiting_payment";
    any_wait = any_wait || waits(o);
    all_wait = all_wait && waits(o);
  }
  if (!all_awaiting || now > stop || !s.hold.empty() || (any_wait && (!all_wait || s.wait->until > stop))) {
    // The send ends; orders that may still be reminded go back to the schedule, where
    // a fresh claim decides each of them as a first send.
    out.kind = RetryDecision::Kind::kCancel;
    for (const auto& o : s.orders) {
      if (o.status != "awaiting_payment")
        out.orders.push_back(Fate{.state = StepState::kCancelled, .reason = o.status});
      else if (now > stop_of(o))
        out.orders.push_back(Fate{.reason = "too_close_to_close"});
      else if (!s.hold.empty())
        out.orders.push_back(Fate{.state = state_for_hold(s.hold), .reason = s.hold});
      else if (waits(o) && s.wait->until > stop_of(o))
        out.orders.push_back(Fate{.reason = "too_close_to_close"});
      else
        out.orders.push_back(Fate{.split = true});
    }
    return out;
  }
  // A wait as a first send's: it defers the retry, unless it ends after an order's
  // stop (that order's step is skipped at once, the others go back to the schedule) or
  // the policy skips a limited reminder instead (when_limited: skip).
  auto wait_until = [&](Millis until, const std::string& reason, bool skip_instead) {
    if (!skip_instead && until <= stop) {
      out.kind = RetryDecision::Kind::kDefer;
      out.until = until;
      out.reason = reason;
      return;
    }
    out.kind = RetryDecision::Kind::kCancel;
    for (const auto& o : s.orders) {
      if (skip_instead)
        out.orders.push_back(Fate{.reason = reason});
      else if (until > stop_of(o))
        out.orders.push_back(Fate{.reason = "too_close_to_close"});
      else
        out.orders.push_back(Fate{.split = true});
    }
  };
  if (all_wait) {
    wait_until(s.wait->until, s.wait->reason, false);
    return out;
  }
  if (p.limits.quiet_hours && !s.orders.empty()) {
    const auto& o = s.orders.front();
    if (auto until = quiet_until(*p.limits.quiet_hours, buyer_zone(p, o.tz, o.country), now)) {
      wait_until(*until, "quiet_hours", false);
      return out;
    }
  }
  // G1 holds for the moment a reminder actually goes out: the buyer's windows again.
  std::string limiting;
  if (Millis allowed = allowed_at(p.limits, s.ledger, now, limiting); allowed > now)
    wait_until(allowed, limiting, p.limits.when_limited == WhenLimited::kSkip);
  return out;
}

}  // namespace nudge
