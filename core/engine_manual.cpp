// Manual reminders: a `remind` record becomes a schedule row with step `manual`, due
// now, which the claim then treats like any other step (still unpaid, opt-out, caps,
// quiet hours, the content check). Refusals are audited `skipped` with the reason.
#include "core/engine.h"

#include "core/manual.h"

namespace nudge {

void Engine::ingest_remind(const RemindRecord& m, IngestResult& r) {
  Millis now = clock_.now();
  AuditEvent e{.shop = m.shop, .orders = {m.order_id}, .step = kManualStep, .channel = m.channel, .tmpl = m.tmpl,
               .actor = m.actor};
  std::string status, campaign;
  {
    auto& q = store_.stmt("SELECT status, buyer_id, COALESCE(campaign,'') FROM orders WHERE shop=? AND order_id=?");
    q.bind(1, m.shop);
    q.bind(2, m.order_id);
    if (q.executeStep()) {
      status = q.getColumn(0).getString();
      e.buyer = q.getColumn(1).getString();
      campaign = q.getColumn(2).getString();
    }
    q.reset();
  }
  if (status.empty()) {
    e.event = "order_rejected";
    e.reason = "unknown_order";
    e.detail = "a manual reminder for an order never seen";
    append_audit(store_, now, e);
    ++r.rejected;
    return;
  }
  std::int64_t row = 0;
  std::string state;
  {
    auto& q = store_.stmt("SELECT id, state FROM schedule WHERE shop=? AND order_id=? AND step=?");
    q.bind(1, m.shop);
    q.bind(2, m.order_id);
    q.bind(3, kManualStep);
    if (q.executeStep()) {
      row = q.getColumn(0).getInt64();
      state = q.getColumn(1).getString();
    }
    q.reset();
  }
  std::string error;
  auto step = manual_step(*policy_, campaign, m.channel, m.tmpl, error);
  std::string reason = manual_refusal(status, state, e.detail);
  if (reason.empty() && !step) {
    reason = "no_channel";
    e.detail = error;
  }
  if (!reason.empty()) {
    e.event = "skipped";
    e.reason = reason;
    append_audit(store_, now, e);
    ++r.rejected;
    return;
  }
  if (row != 0 && (state == "sent" || state == "in_doubt")) {
    // Reminded by hand before: that row stays as it ended (per_order counts it), under
    // another name, and the new request gets a row of its own.
    auto& a = store_.stmt("UPDATE schedule SET step=? || id WHERE id=?");
    a.bind(1, kManualDonePrefix);
    a.bind(2, static_cast<int64_t>(row));
    a.exec();
    row = 0;
  }
  if (row == 0) {
    insert_step(m.shop, m.order_id, e.buyer, campaign, kManualStep, -1, now, now);
    row = store_.db().getLastInsertRowid();
  }
  // A manual row that ended without a message (skipped, cancelled, failed) is asked
  // for again: the same row goes back to the schedule (the steps' key is one per step).
  auto& u = store_.stmt(
      "UPDATE schedule SET state='scheduled', due_at=?, reason=NULL, send_id=NULL, next_channel=0, campaign=?, "
      "step_index=-1, manual_channel=?, manual_template=?, actor=?, updated_at=? WHERE id=?");
  u.bind(1, static_cast<int64_t>(now));
  u.bind(2, campaign);
  if (m.channel.empty()) u.bind(3); else u.bind(3, m.channel);
  if (m.tmpl.empty()) u.bind(4); else u.bind(4, m.tmpl);
  u.bind(5, m.actor);
  u.bind(6, static_cast<int64_t>(now));
  u.bind(7, static_cast<int64_t>(row));
  u.exec();
  e.event = "scheduled";
  e.channel = step->channels.front();
  e.tmpl = step->tmpl;
  e.due = now;
  append_audit(store_, now, e);
  ++r.reminds;
}

const Engine::ManualRow& Engine::manual_row(std::int64_t row_id) {
  auto it = manual_rows_.find(row_id);
  if (it != manual_rows_.end()) return it->second;
  ManualRow m;
  std::string campaign, channel, tmpl;
  auto& q = store_.stmt(
      "SELECT campaign, COALESCE(manual_channel,''), COALESCE(manual_template,''), COALESCE(actor,'') FROM schedule "
      "WHERE id=?");
  q.bind(1, static_cast<int64_t>(row_id));
  if (q.executeStep()) {
    campaign = q.getColumn(0).getString();
    channel = q.getColumn(1).getString();
    tmpl = q.getColumn(2).getString();
    m.actor = q.getColumn(3).getString();
  }
  q.reset();
  std::string error;
  // A reload may have removed what was asked for: then the step has no channel and
  // the claim skips it (no_channel), as it would an automatic step's.
  if (auto s = manual_step(*policy_, campaign, channel, tmpl, error)) m.step = *s;
  m.step.name = kManualStep;
  return manual_rows_.emplace(row_id, std::move(m)).first->second;
}

}  // namespace nudge
