// Ingest: a page of feed records, the orders they make or change, and the steps planned for them.
#include "core/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/attribution.h"
#include "core/engine_internal.h"
#include "core/hash.h"
#include "core/render.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

using engine_detail::can_reach;
using engine_detail::find_step;

// Ingest

// The order row is stored already, with its campaign `c` (matched by the caller).
void Engine::plan_order(const OrderRecord& o, Millis closes_at, const Campaign* c, IngestResult& r) {
  Millis now = clock_.now();
  if (!c) {
    append_audit(store_, now, {.event = "skipped", .shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id},
                               .reason = "no_campaign"});
    return;
  }
  Millis deadline = o.placed_at + policy_->payment.deadline;
  Millis stop = closes_at - policy_->payment.stop_before_close;
  for (size_t k = 0; k < c->steps.size(); ++k) {
    const Step& s = c->steps[k];
    Millis due = deadline + s.after;
    AuditEvent e{.shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id}, .step = s.name,
                 .tmpl = pick_template(*policy_, s, o.shop, o.buyer_id)};
    if (due > stop) {
      e.event = "skipped";
      e.reason = "too_close_to_close";
      e.due = due;
      append_audit(store_, now, e);
      continue;
    }
    if (!insert_step(o.shop, o.order_id, o.buyer_id, c->name, s.name, static_cast<int>(k), due, now)) continue;
    e.event = "scheduled";
    e.due = due;
    append_audit(store_, now, e);
    ++r.planned_steps;
  }
}

int Engine::cancel_order_steps(const std::string& shop, const std::string& order_id, const std::string& buyer,
                               const std::string& reason) {
  Millis now = clock_.now();
  std::vector<std::pair<std::int64_t, std::string>> rows;
  auto& q = store_.stmt("SELECT id, step FROM schedule WHERE shop=? AND order_id=? AND state IN ('scheduled','held')");
  q.bind(1, shop);
  q.bind(2, order_id);
  while (q.executeStep()) rows.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getString());
  q.reset();
  for (const auto& [id, step] : rows) {
    set_step_state(id, StepState::kCancelled, reason);
    append_audit(store_, now, {.event = "cancelled", .shop = shop, .buyer = buyer, .orders = {order_id}, .step = step,
                               .reason = reason});
  }
  if (reason == "paid") audit_payment(store_, *policy_, shop, order_id, buyer, now);  // issue 12: attribution
  return static_cast<int>(rows.size());
}

IngestResult Engine::ingest(const std::vector<FeedRecord>& records, const std::string& source,
                            const std::optional<std::string>& cursor) {
  IngestResult r;
  Millis now = clock_.now();
  WriteTx tx(store_);
  for (const auto& in : records) {
    // A time outside the policy's window (a year 9999, an epoch 0) is rejected like any bad field.
    std::optional<FeedRecord> windowed;
    if (auto bad = outside_window(in, now, policy_->records)) windowed = *bad;
    const FeedRecord& rec = windowed ? *windowed : in;
    if (const auto* bad = std::get_if<RejectedRecord>(&rec)) {
      append_audit(store_, now, {.event = "order_rejected", .shop = bad->shop,
                                 .orders = bad->order_id.empty() ? std::vector<std::string>{}
                                                                 : std::vector<std::string>{bad->order_id},
                                 .reason = "invalid_record", .detail = bad->reason});
      ++r.rejected;
      continue;
    }
    if (const auto* reply = std::get_if<ReplyRecord>(&rec)) {
      take_reply(*reply, r);  // engine_replies.cpp
      continue;
    }
    if (const auto* o = std::get_if<OrderRecord>(&rec)) {
      Millis closes = o->closes_at.value_or(o->placed_at + policy_->payment.closes_after);
      auto& q = store_.stmt("SELECT status, buyer_id FROM orders WHERE shop=? AND order_id=?");
      q.bind(1, o->shop);
      q.bind(2, o->order_id);
      std::optional<std::string> old_status;
      std::string old_buyer;
      if (q.executeStep()) {
        old_status = q.getColumn(0).getString();
        old_buyer = q.getColumn(1).getString();
      }
      q.reset();
      ++r.orders;
      if (old_status && old_buyer != o->buyer_id) {
        append_audit(store_, now, {.event = "order_rejected", .shop = o->shop, .buyer = o->buyer_id,
                                   .orders = {o->order_id}, .reason = "buyer_changed",
                                   .detail = "the order is already known with another buyer"});
        ++r.rejected;
        continue;
      }
      if (!old_status) {
        auto& ins = store_.stmt(
            "INSERT INTO orders(shop, order_id, buyer_id, buyer_name, buyer_country, buyer_lang, buyer_tz, "
            "buyer_email, amount, currency, placed_at, closes_at, status, status_at, updated_at, campaign) "
            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        const bool awaiting = o->status == OrderStatus::kAwaitingPayment;
        const Campaign* c = awaiting ? match_campaign(*policy_, *o) : nullptr;
        ins.bind(1, o->shop);
        ins.bind(2, o->order_id);
        ins.bind(3, o->buyer_id);
        ins.bind(4, o->buyer_name);
        ins.bind(5, o->buyer_country);
        ins.bind(6, o->buyer_lang);
        ins.bind(7, o->buyer_tz);
        ins.bind(8, o->buyer_email);
        ins.bind(9, o->amount);
        ins.bind(10, o->currency);
        ins.bind(11, static_cast<int64_t>(o->placed_at));
        ins.bind(12, static_cast<int64_t>(closes));
        ins.bind(13, to_string(o->status));
        ins.bind(14, static_cast<int64_t>(o->placed_at));
        ins.bind(15, static_cast<int64_t>(now));
        if (c) ins.bind(16, c->name); else ins.bind(16);
        ins.exec();
        if (awaiting) plan_order(*o, closes, c, r);
        continue;
      }
      // A known order: refresh what may change, and act on a status change.
      auto& upd = store_.stmt(
          "UPDATE orders SET buyer_name=?, buyer_country=?, buyer_lang=?, buyer_tz=?, buyer_email=?, amount=?, "
          "currency=?, closes_at=?, updated_at=? WHERE shop=? AND order_id=?");
      upd.bind(1, o->buyer_name);
      upd.bind(2, o->buyer_country);
      upd.bind(3, o->buyer_lang);
      upd.bind(4, o->buyer_tz);
      upd.bind(5, o->buyer_email);
      upd.bind(6, o->amount);
      upd.bind(7, o->currency);
      upd.bind(8, static_cast<int64_t>(closes));
      upd.bind(9, static_cast<int64_t>(now));
      upd.bind(10, o->shop);
      upd.bind(11, o->order_id);
      upd.exec();
      if (*old_status == "awaiting_payment" && o->status != OrderStatus::kAwaitingPayment) {
        auto& st = store_.stmt("UPDATE orders SET status=?, status_at=? WHERE shop=? AND order_id=?");
        st.bind(1, to_string(o->status));
        st.bind(2, static_cast<int64_t>(now));
        st.bind(3, o->shop);
        st.bind(4, o->order_id);
        st.exec();
        ++r.status_changes;
        r.cancelled_steps += cancel_order_steps(o->shop, o->order_id, o->buyer_id, to_string(o->status));
      }
      continue;
    }
    if (const auto* m = std::get_if<RemindRecord>(&rec)) {
      // Manual reminders come from the operator's inbox (nudgectl remind), not from a
      // marketplace or a third party's feed.
      if (source == "http" || source.rfind("aliexpress", 0) == 0) {
        append_audit(store_, now, {.event = "order_rejected", .shop = m->shop, .orders = {m->order_id},
                                   .reason = "invalid_record", .detail = "a remind record is taken from the inbox only"});
        ++r.rejected;
      } else {
        ingest_remind(*m, r);
      }
      continue;
    }
    const auto& s = std::get<StatusRecord>(rec);
    auto& q = store_.stmt("SELECT status, buyer_id, status_at FROM orders WHERE shop=? AND order_id=?");
    q.bind(1, s.shop);
    q.bind(2, s.order_id);
    if (!q.executeStep()) {
      q.reset();
      append_audit(store_, now, {.event = "order_rejected", .shop = s.shop, .orders = {s.order_id},
                                 .reason = "unknown_order",
                                 .detail = std::string("a '") + to_string(s.status) + "' status for an order never seen"});
      ++r.rejected;
      continue;
    }
    std::string old_status = q.getColumn(0).getString();
    std::string buyer = q.getColumn(1).getString();
    q.reset();
    if (old_status == to_string(s.status)) continue;  // a repeat: harmless
    if (old_status != "awaiting_payment" && s.status == OrderStatus::kAwaitingPayment) {
      // A final status never goes back: a late or replayed record. Keep the final one.
      continue;
    }
    auto& st = store_.stmt("UPDATE orders SET status=?, status_at=?, updated_at=? WHERE shop=? AND order_id=?");
    st.bind(1, to_string(s.status));
    st.bind(2, static_cast<int64_t>(s.at));
    st.bind(3, static_cast<int64_t>(now));
    st.bind(4, s.shop);
    st.bind(5, s.order_id);
    st.exec();
    ++r.status_changes;
    r.cancelled_steps += cancel_order_steps(s.shop, s.order_id, buyer, to_string(s.status));
  }
  if (cursor) {
    auto& c = store_.stmt(
        "INSERT INTO source_state(source, cursor, last_poll_at, last_ok_at, last_error) VALUES(?,?,?,?,NULL) "
        "ON CONFLICT(source) DO UPDATE SET cursor=excluded.cursor, last_poll_at=excluded.last_poll_at, "
        "last_ok_at=excluded.last_ok_at, last_error=NULL");
    c.bind(1, source);
    c.bind(2, *cursor);
    c.bind(3, static_cast<int64_t>(now));
    c.bind(4, static_cast<int64_t>(now));
    c.exec();
  }
  tx.commit();
  return r;
}

}  // namespace nudge
