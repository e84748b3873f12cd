// Reload: a new policy re-plans the pending steps; it is installed only once saved.
#include "core/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/engine_internal.h"
#include "core/hash.h"
#include "core/manual.h"
#include "core/render.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

using engine_detail::can_reach;
using engine_detail::find_step;

namespace {

constexpr const char* kPlanKey = "plan";

// What of a policy plans the steps, as one text: the campaigns (their order, names,
// matches, and steps' names and delays) and the payment times. Templates, channels,
// caps, quiet hours and the rest act at claim time.
std::string plan_fingerprint(const Policy& p) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json campaigns = nlohmann::json::array();
  for (const auto& c : p.campaigns) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& st : c.steps) steps.push_back({st.name, st.after});
    campaigns.push_back({{"name", c.name}, {"shops", c.match.shops}, {"countries", c.match.countries},
                         {"not_countries", c.match.not_countries}, {"min_amount", opt(c.match.min_amount)},
                         {"max_amount", opt(c.match.max_amount)}, {"steps", steps}});
  }
  return nlohmann::json{{"deadline", p.payment.deadline},
                        {"stop_before_close", p.payment.stop_before_close},
                        {"campaigns", campaigns}}
      .dump();
}

}  // namespace

int Engine::reload(std::shared_ptr<const Policy> policy) {
  Millis now = clock_.now();
  // The new policy is installed only once its transaction commits: a store fault
  // throws with the old policy still in place, in memory as in the store.
  const Policy& next = *policy;
  WriteTx tx(store_);
  append_audit(store_, now, {.event = "policy_loaded",
                             .detail = next.path + " sha256:" + next.text_sha256.substr(0, 16)});
  const int changed = sync_plan(next, now, policy_.get());
  tx.commit();
  policy_ = std::move(policy);
  return changed;
}

int Engine::sync_plan(const Policy& next, Millis now, const Policy* known) {
  const std::string plan = plan_fingerprint(next);
  std::string before = store_.meta(kPlanKey);
  if (before.empty() && known) before = plan_fingerprint(*known);
  // The same plan: no pass over every pending step (at a million of them, it held the
  // loop for ten seconds and wrote a line for each).
  const int changed = !before.empty() && before != plan ? replan(next, now) : 0;
  if (before != plan) store_.set_meta(kPlanKey, plan);
  return changed;
}

int Engine::replan(const Policy& next, Millis now) {
  int changed = 0;
  struct Pending {
    OrderRecord o;
    Millis closes_at;
    std::string campaign;  // as planned before
  };
  std::vector<Pending> awaiting;
  {
    auto& q = store_.stmt(
        "SELECT shop, order_id, buyer_id, buyer_country, amount, placed_at, closes_at, COALESCE(campaign, '') FROM orders "
        "WHERE status='awaiting_payment' AND EXISTS (SELECT 1 FROM schedule s WHERE s.shop=orders.shop AND "
        "s.order_id=orders.order_id AND s.state='scheduled') OR (status='awaiting_payment' AND campaign IS NULL)");
    while (q.executeStep()) {
      OrderRecord o;
      o.shop = q.getColumn(0).getString();
      o.order_id = q.getColumn(1).getString();
      o.buyer_id = q.getColumn(2).getString();
      o.buyer_country = q.getColumn(3).getString();
      o.amount = q.getColumn(4).getString();
      o.placed_at = q.getColumn(5).getInt64();
      awaiting.push_back({o, q.getColumn(6).getInt64(), q.getColumn(7).getString()});
    }
    q.reset();
  }
  struct Row {
    std::int64_t id;
    std::optional<StepState> state;
    std::string campaign;
    int step_index;
    Millis due_at;
  };
  size_t done = 0;
  for (const auto& [o, closes_at, planned] : awaiting) {
    if (progress_ && ++done % 2000 == 0) progress_();
    const Campaign* c = match_campaign(next, o);
    std::map<std::string, Row> existing;  // by step
    auto& q = store_.stmt("SELECT step, id, state, campaign, step_index, due_at FROM schedule WHERE shop=? AND order_id=?");
    q.bind(1, o.shop);
    q.bind(2, o.order_id);
    while (q.executeStep())
      existing[q.getColumn(0).getString()] = {q.getColumn(1).getInt64(), parse_step_state(q.getColumn(2).getString()),
                                              q.getColumn(3).getString(), q.getColumn(4).getInt(),
                                              q.getColumn(5).getInt64()};
    q.reset();
    std::set<std::string> wanted;
    Millis stop = closes_at - next.payment.stop_before_close;
    if (c) {
      if (planned != c->name) {
        auto& upd = store_.stmt("UPDATE orders SET campaign=? WHERE shop=? AND order_id=?");
        upd.bind(1, c->name);
        upd.bind(2, o.shop);
        upd.bind(3, o.order_id);
        upd.exec();
      }
      for (size_t k = 0; k < c->steps.size(); ++k) {
        const Step& s = c->steps[k];
        Millis due = o.placed_at + next.payment.deadline + s.after;
        if (due > stop) continue;
        wanted.insert(s.name);
        auto it = existing.find(s.name);
        if (it != existing.end() && it->second.state != StepState::kScheduled) continue;  // done already: stays done
        const Row* row = it != existing.end() ? &it->second : nullptr;
        // A step already planned so is left alone, unwritten and unaudited.
        if (row && row->campaign == c->name && row->step_index == static_cast<int>(k) && row->due_at == due) continue;
        if (row) {
          auto& u = store_.stmt("UPDATE schedule SET campaign=?, step_index=?, due_at=?, updated_at=? WHERE id=?");
          u.bind(1, c->name);
          u.bind(2, static_cast<int>(k));
          u.bind(3, static_cast<int64_t>(due));
          u.bind(4, static_cast<int64_t>(now));
          u.bind(5, static_cast<int64_t>(row->id));
          u.exec();
        } else {
          insert_step(o.shop, o.order_id, o.buyer_id, c->name, s.name, static_cast<int>(k), due, now);
        }
        append_audit(store_, now, {.event = "scheduled", .shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id},
                                   .step = s.name, .tmpl = pick_template(next, s, o.shop, o.buyer_id),
                                   .reason = "replanned", .due = due});
        ++changed;
      }
    }
    for (const auto& [step, row] : existing) {
      if (row.state == StepState::kScheduled && !wanted.count(step) && step != kManualStep) {
        set_step_state(row.id, StepState::kCancelled, "policy_changed");
        append_audit(store_, now, {.event = "cancelled", .shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id},
                                   .step = step, .reason = "policy_changed"});
        ++changed;
      }
    }
  }
  return changed;
}

}  // namespace nudge
