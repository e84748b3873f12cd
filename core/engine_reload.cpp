// Reload: a new policy re-plans the pending steps; it is installed only once saved.
#include "core/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/engine_internal.h"
#include "core/hash.h"
#include "core/manual.h"
#include "core/render.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

using engine_detail::can_reach;
using engine_detail::find_step;

int Engine::reload(std::shared_ptr<const Policy> policy) {
  Millis now = clock_.now();
  // The new policy is installed only once its transaction commits: a store fault
  // throws with the old policy still in place, in memory as in the store.
  const Policy& next = *policy;
  WriteTx tx(store_);
  append_audit(store_, now, {.event = "policy_loaded",
                             .detail = next.path + " sha256:" + next.text_sha256.substr(0, 16)});
  int changed = 0;
  struct Pending {
    OrderRecord o;
    Millis closes_at;
  };
  std::vector<Pending> awaiting;
  {
    auto& q = store_.stmt(
        "SELECT shop, order_id, buyer_id, buyer_country, amount, placed_at, closes_at FROM orders "
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
      awaiting.push_back({o, q.getColumn(6).getInt64()});
    }
    q.reset();
  }
  for (const auto& [o, closes_at] : awaiting) {
    const Campaign* c = match_campaign(next, o);
    std::map<std::string, std::pair<std::int64_t, std::optional<StepState>>> existing;  // step -> (id, state)
    auto& q = store_.stmt("SELECT step, id, state FROM schedule WHERE shop=? AND order_id=?");
    q.bind(1, o.shop);
    q.bind(2, o.order_id);
    while (q.executeStep())
      existing[q.getColumn(0).getString()] = {q.getColumn(1).getInt64(), parse_step_state(q.getColumn(2).getString())};
    q.reset();
    std::set<std::string> wanted;
    Millis stop = closes_at - next.payment.stop_before_close;
    if (c) {
      auto& upd = store_.stmt("UPDATE orders SET campaign=? WHERE shop=? AND order_id=?");
      upd.bind(1, c->name);
      upd.bind(2, o.shop);
      upd.bind(3, o.order_id);
      upd.exec();
      for (size_t k = 0; k < c->steps.size(); ++k) {
        const Step& s = c->steps[k];
        Millis due = o.placed_at + next.payment.deadline + s.after;
        if (due > stop) continue;
        wanted.insert(s.name);
        auto it = existing.find(s.name);
        if (it != existing.end() && it->second.second != StepState::kScheduled) continue;  // done already: stays done
        if (it != existing.end()) {
          auto& u = store_.stmt("UPDATE schedule SET campaign=?, step_index=?, due_at=?, updated_at=? WHERE id=?");
          u.bind(1, c->name);
          u.bind(2, static_cast<int>(k));
          u.bind(3, static_cast<int64_t>(due));
          u.bind(4, static_cast<int64_t>(now));
          u.bind(5, static_cast<int64_t>(it->second.first));
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
      if (row.second == StepState::kScheduled && !wanted.count(step) && step != kManualStep) {
        set_step_state(row.first, StepState::kCancelled, "policy_changed");
        append_audit(store_, now, {.event = "cancelled", .shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id},
                                   .step = step, .reason = "policy_changed"});
        ++changed;
      }
    }
  }
  tx.commit();
  policy_ = std::move(policy);
  return changed;
}

}  // namespace nudge
