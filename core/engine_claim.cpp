// Claim: which due steps and retries become sends now (the rules of a first send are in
// decide.cpp; this file loads what they need and writes what they decide).
#include "core/engine.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "core/decide.h"
#include "core/hash.h"
#include "core/manual.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

// Claim

std::vector<SendJob> Engine::claim_due(int batch, std::map<std::string, int>* room) {
  return complete_and_claim({}, batch, room);
}

std::vector<SendJob> Engine::complete_and_claim(const std::vector<Completion>& done, int batch,
                                                std::map<std::string, int>* room) {
  std::optional<WriteTx> tx;
  if (!done.empty()) {
    tx.emplace(store_);
    for (const auto& c : done) complete_in_tx(c.send_id, c.outcome, c.error, c.jitter);
  }
  Millis now = clock_.now();
  std::vector<SendJob> jobs;
  std::vector<std::int64_t> retries;
  {
    auto& q = store_.stmt(
        "SELECT id FROM sends WHERE state='retry' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?");
    q.bind(1, static_cast<int64_t>(now));
    q.bind(2, batch);
    while (q.executeStep()) retries.push_back(q.getColumn(0).getInt64());
    q.reset();
  }
  std::vector<std::pair<std::string, std::string>> buyers;
  {
    auto& q = store_.stmt(
        "SELECT shop, buyer_id, MIN(due_at) AS first FROM (SELECT shop, buyer_id, due_at FROM schedule "
        "WHERE state='scheduled' AND due_at <= ? ORDER BY due_at LIMIT ?) GROUP BY shop, buyer_id ORDER BY first");
    q.bind(1, static_cast<int64_t>(now));
    q.bind(2, batch);
    while (q.executeStep()) buyers.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
    q.reset();
  }
  if (retries.empty() && buyers.empty()) {
    if (tx) tx->commit();
    return jobs;
  }
  manual_rows_.clear();
  if (!tx) tx.emplace(store_);
  room_ = room;
  struct Clear {
    std::map<std::string, int>*& r;
    ~Clear() { r = nullptr; }
  } clear{room_};
  for (auto id : retries)
    if (auto job = claim_retry(id, room)) jobs.push_back(std::move(*job));
  for (const auto& [shop, buyer] : buyers) claim_buyer(shop, buyer, jobs);
  tx->commit();
  return jobs;
}

void Engine::claim_buyer(const std::string& shop, const std::string& buyer, std::vector<SendJob>& jobs) {
  Millis now = clock_.now();
  BuyerSnapshot s{.shop = shop, .buyer = buyer};
  // The buyer's steps, all of them: the due ones, and per order how many went out
  // (limits.per_order). The index by buyer has no state, so the state of every row is
  // read either way; one query serves both.
  {
    auto& q = store_.stmt(
        "SELECT id, order_id, campaign, step, step_index, due_at, next_channel, state FROM schedule "
        "WHERE shop=? AND buyer_id=?");
    q.bind(1, shop);
    q.bind(2, buyer);
    while (q.executeStep()) {
      const char* state = q.getColumn(7).getText();
      if (std::strcmp(state, "scheduled") != 0) {
        if (!std::strcmp(state, "sending") || !std::strcmp(state, "sent") || !std::strcmp(state, "in_doubt"))
          ++s.sent_by_order[q.getColumn(1).getString()];
        continue;
      }
      Millis due_at = q.getColumn(5).getInt64();
      if (due_at > now) continue;
      s.due.push_back({.id = q.getColumn(0).getInt64(), .order_id = q.getColumn(1).getString(),
                       .campaign = q.getColumn(2).getString(), .step = q.getColumn(3).getString(),
                       .step_index = q.getColumn(4).getInt(), .next_channel = q.getColumn(6).getInt(),
                       .due_at = due_at});
    }
    q.reset();
  }
  if (s.due.empty()) return;
  for (auto& r : s.due) {
    if (r.step == kManualStep) {
      const ManualRow& m = manual_row(r.id);
      r.manual = &m.step;
      r.actor = m.actor;
    }
    if (s.orders.count(r.order_id)) continue;
    auto& q = store_.stmt(
        "SELECT buyer_name, buyer_country, buyer_lang, buyer_tz, buyer_email, amount, currency, placed_at, closes_at, "
        "status FROM orders WHERE shop=? AND order_id=?");
    q.bind(1, shop);
    q.bind(2, r.order_id);
    // (A step without its order is left alone: decide_buyer passes over it.)
    if (q.executeStep())
      s.orders[r.order_id] = {.order_id = r.order_id, .buyer_name = q.getColumn(0).getString(),
                              .country = q.getColumn(1).getString(), .lang = q.getColumn(2).getString(),
                              .tz = q.getColumn(3).getString(), .email = q.getColumn(4).getString(),
                              .amount = q.getColumn(5).getString(), .currency = q.getColumn(6).getString(),
                              .status = q.getColumn(9).getString(), .placed_at = q.getColumn(7).getInt64(),
                              .closes_at = q.getColumn(8).getInt64()};
    q.reset();
  }
  if (s.orders.empty()) return;
  s.hold = buyer_hold(shop, buyer, now);
  s.wait = buyer_reply_wait(shop, buyer, now);  // the buyer promised, or wrote back
  s.ledger = buyer_ledger(shop, buyer, now, 0);

  // Each decision is written in its order, with its audit line; a send also gets its
  // row, its ledger row (which the decisions after it counted already) and its job.
  for (const Decision& d : decide_buyer(*policy_, s, now, room_)) {
    const DueStep& first = *d.steps.front();
    if (d.kind == Decision::Kind::kFinish || d.kind == Decision::Kind::kDefer) {
      std::optional<Millis> due;
      if (d.kind == Decision::Kind::kFinish) {
        set_step_state(first.id, d.state, d.reason);
      } else {
        auto& u = store_.stmt("UPDATE schedule SET due_at=?, updated_at=? WHERE id=?");
        u.bind(1, static_cast<int64_t>(d.until));
        u.bind(2, static_cast<int64_t>(now));
        u.bind(3, static_cast<int64_t>(first.id));
        u.exec();
        due = d.until;
      }
      append_audit(store_, now, {.event = d.kind == Decision::Kind::kDefer ? "deferred" : to_string(d.state),
                                 .shop = shop, .buyer = buyer, .orders = {first.order_id}, .step = first.step,
                                 .channel = d.channel, .reason = d.reason, .due = due, .actor = first.actor});
      continue;
    }
    const OrderFacts& o = s.orders.at(first.order_id);
    // The send's id is known before its row is written (this transaction holds the
    // write lock), so its idempotency key goes in with the row: one write, not two.
    // Ids go on past any that retention has pruned (send_id_high): an id in the audit
    // log names one send only, even after the sends table was pruned empty.
    if (next_send_id_.tx != store_.tx_serial()) {
      auto& q = store_.stmt(
          "SELECT MAX(COALESCE((SELECT MAX(id) FROM sends), 0), "
          "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='send_id_high'), 0)) + 1");
      next_send_id_ = {store_.tx_serial(), q.executeStep() ? q.getColumn(0).getInt64() : 1};
      q.reset();
    }
    const std::int64_t send_id = next_send_id_.id++;
    std::string key = sha256_hex(shop + "\n" + buyer + "\n" + std::to_string(send_id) + "\n" + std::to_string(now))
                          .substr(0, 32);
    auto& ins = store_.stmt(
        "INSERT INTO sends(id, shop, buyer_id, step, channel, template, lang, idempotency_key, state, attempt, "
        "subject, body, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,'sending',1,?,?,?,?)");
    ins.bind(1, static_cast<int64_t>(send_id));
    ins.bind(2, shop);
    ins.bind(3, buyer);
    ins.bind(4, first.step);
    ins.bind(5, d.channel);
    ins.bind(6, d.tmpl);
    ins.bind(7, d.text.lang);
    ins.bind(8, key);
    ins.bind(9, d.text.subject);
    ins.bind(10, d.text.body);
    ins.bind(11, static_cast<int64_t>(now));
    ins.bind(12, static_cast<int64_t>(now));
    ins.exec();
    auto& led = store_.stmt("INSERT INTO ledger(shop, buyer_id, send_id, at) VALUES(?,?,?,?)");
    led.bind(1, shop);
    led.bind(2, buyer);
    led.bind(3, static_cast<int64_t>(send_id));
    led.bind(4, static_cast<int64_t>(now));
    led.exec();
    std::vector<std::string> ids;
    for (const DueStep* r : d.steps) {
      auto& u = store_.stmt("UPDATE schedule SET state='sending', send_id=?, updated_at=? WHERE id=?");
      u.bind(1, static_cast<int64_t>(send_id));
      u.bind(2, static_cast<int64_t>(now));
      u.bind(3, static_cast<int64_t>(r->id));
      u.exec();
      ids.push_back(r->order_id);
    }
    append_audit(store_, now, {.event = "sending", .shop = shop, .buyer = buyer, .orders = ids, .step = first.step,
                               .channel = d.channel, .tmpl = d.tmpl, .lang = d.text.lang, .attempt = 1,
                               .send_id = send_id, .steps = d.steps_by_order, .actor = d.actor});
    jobs.push_back({.send_id = send_id, .shop = shop, .buyer_id = buyer, .buyer_name = o.buyer_name,
                    .buyer_email = o.email, .order_ids = ids, .step = first.step, .channel = d.channel,
                    .tmpl = d.tmpl, .lang = d.text.lang, .attempt = 1, .idempotency_key = key,
                    .subject = d.text.subject, .body = d.text.body, .steps = d.steps_by_order, .actor = d.actor});
  }
}

std::string Engine::buyer_hold(const std::string& shop, const std::string& buyer, Millis now) {
  {
    // limits.scope: seller counts the buyer's opt-outs, payments and reminders in every
    // shop of this instance (the same binds: ?1 is then unused).
    const bool seller = policy_->limits.scope == CapScope::kSeller;
    auto& q = store_.stmt(seller ? "SELECT 1 FROM optout WHERE buyer_id=?2 AND ?1 IS NOT NULL"
                                 : "SELECT 1 FROM optout WHERE shop=?1 AND buyer_id=?2");
    q.bind(1, shop);
    q.bind(2, buyer);
    bool opted_out = q.executeStep();
    q.reset();
    if (opted_out) return "opted_out";
  }
  {
    auto& q = store_.stmt("SELECT category FROM flags WHERE shop=? AND buyer_id=? AND cleared_at IS NULL LIMIT 1");
    q.bind(1, shop);
    q.bind(2, buyer);
    std::string flagged = q.executeStep() ? "off_platform_request:" + q.getColumn(0).getString() : "";
    q.reset();
    if (!flagged.empty()) return flagged;
  }
  if (policy_->limits.skip_if_paid_within > 0) {
    auto& q = store_.stmt(policy_->limits.scope == CapScope::kSeller
                              ? "SELECT 1 FROM orders WHERE buyer_id=?2 AND status='paid' AND status_at > ?3 AND "
                                "?1 IS NOT NULL LIMIT 1"
                              : "SELECT 1 FROM orders WHERE shop=?1 AND buyer_id=?2 AND status='paid' AND "
                                "status_at > ?3 LIMIT 1");
    q.bind(1, shop);
    q.bind(2, buyer);
    q.bind(3, static_cast<int64_t>(now - policy_->limits.skip_if_paid_within));
    bool paid = q.executeStep();
    q.reset();
    if (paid) return "paid_recently";
  }
  return "";
}

std::vector<Millis> Engine::buyer_ledger(const std::string& shop, const std::string& buyer, Millis now,
                                        std::int64_t except_send) {
  // What the ledger holds (including sends made a moment ago in this transaction)
  // within the longest of the buyer's windows.
  std::vector<Millis> ats;
  if (policy_->limits.per_buyer.empty()) return ats;
  Millis longest = 0;
  for (const auto& w : policy_->limits.per_buyer) longest = std::max(longest, w.within);
  // limits.scope: seller counts the buyer's reminders in every shop of this instance
  // (the same binds: ?1 is then unused).
  auto& q = store_.stmt(policy_->limits.scope == CapScope::kSeller
                            ? "SELECT at FROM ledger WHERE buyer_id=?2 AND released=0 AND at > ?3 AND send_id != ?4 "
                              "AND ?1 IS NOT NULL ORDER BY at"
                            : "SELECT at FROM ledger WHERE shop=?1 AND buyer_id=?2 AND released=0 AND at > ?3 AND "
                              "send_id != ?4 ORDER BY at");
  q.bind(1, shop);
  q.bind(2, buyer);
  q.bind(3, static_cast<int64_t>(now - longest));
  q.bind(4, static_cast<int64_t>(except_send));
  while (q.executeStep()) ats.push_back(q.getColumn(0).getInt64());
  q.reset();
  return ats;
}

std::vector<Engine::SendRow> Engine::send_rows(std::int64_t send_id) {
  std::vector<SendRow> rows;
  auto& q = store_.stmt(
      "SELECT s.id, s.order_id, s.campaign, s.step, o.status, o.buyer_country, o.buyer_tz, o.buyer_email, o.closes_at "
      "FROM schedule s JOIN orders o ON o.shop=s.shop AND o.order_id=s.order_id WHERE s.send_id=? ORDER BY s.id");
  q.bind(1, static_cast<int64_t>(send_id));
  while (q.executeStep())
    rows.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                    q.getColumn(3).getString(), q.getColumn(4).getString(), q.getColumn(5).getString(),
                    q.getColumn(6).getString(), q.getColumn(7).getString(), q.getColumn(8).getInt64()});
  q.reset();
  return rows;
}

SendJob Engine::load_job(std::int64_t send_id, std::optional<SendState>* state) {
  SendJob job;
  // Completion needs the send's state and what its audit line says, not the message
  // text (the largest columns): `state` asks for the former and skips the latter.
  auto& q = store_.stmt(state ? "SELECT shop, buyer_id, step, channel, template, lang, attempt, idempotency_key, state "
                                "FROM sends WHERE id=?"
                              : "SELECT shop, buyer_id, step, channel, template, lang, attempt, idempotency_key, "
                                "subject, body FROM sends WHERE id=?");
  q.bind(1, static_cast<int64_t>(send_id));
  const bool found = q.executeStep();
  if (state) *state = found ? parse_send_state(q.getColumn(8).getString()) : std::nullopt;
  if (!found || (state && *state != SendState::kSending)) {
    q.reset();
    return job;
  }
  job.send_id = send_id;
  job.shop = q.getColumn(0).getString();
  job.buyer_id = q.getColumn(1).getString();
  job.step = q.getColumn(2).getString();
  job.channel = q.getColumn(3).getString();
  job.tmpl = q.getColumn(4).getString();
  job.lang = q.getColumn(5).getString();
  job.attempt = q.getColumn(6).getInt();
  job.idempotency_key = q.getColumn(7).getString();
  if (!state) {
    job.subject = q.getColumn(8).getString();
    job.body = q.getColumn(9).getString();
  }
  q.reset();
  auto& o = store_.stmt(
      "SELECT s.order_id, o.buyer_name, o.buyer_email, s.step, COALESCE(s.actor,'') FROM schedule s JOIN orders o ON "
      "o.shop=s.shop AND o.order_id=s.order_id WHERE s.send_id=? ORDER BY s.id");
  o.bind(1, static_cast<int64_t>(send_id));
  bool mixed = false;
  while (o.executeStep()) {
    job.order_ids.push_back(o.getColumn(0).getString());
    job.buyer_name = o.getColumn(1).getString();
    job.buyer_email = o.getColumn(2).getString();
    job.steps[job.order_ids.back()] = o.getColumn(3).getString();
    mixed = mixed || job.steps[job.order_ids.back()] != job.step;
    if (job.steps[job.order_ids.back()] == kManualStep) job.actor = o.getColumn(4).getString();
  }
  o.reset();
  if (!mixed) job.steps.clear();
  return job;
}

std::optional<SendJob> Engine::claim_retry(std::int64_t send_id, std::map<std::string, int>* room) {
  Millis now = clock_.now();
  SendJob job = load_job(send_id);
  // A channel without room now: the retry waits, untouched, for a later claim.
  int* slot = nullptr;
  if (room)
    if (auto it = room->find(job.channel); it != room->end()) slot = &it->second;
  if (slot && *slot <= 0) return std::nullopt;
  // G2: a retry is a new delivery; it goes through the checks of a first send
  // (decide_retry).
  std::vector<SendRow> rows = send_rows(send_id);
  RetrySnapshot snap{.hold = buyer_hold(job.shop, job.buyer_id, now),
                     .wait = buyer_reply_wait(job.shop, job.buyer_id, now),
                     .ledger = buyer_ledger(job.shop, job.buyer_id, now, send_id)};
  for (const auto& r : rows)
    snap.orders.push_back({.order_id = r.order_id, .step = r.step, .status = r.status, .tz = r.tz,
                           .country = r.country, .closes_at = r.closes_at});
  const RetryDecision d = decide_retry(*policy_, snap, now);
  if (d.kind == RetryDecision::Kind::kCancel) {
    // Cancel this send; orders still awaiting go back to the schedule for a fresh claim.
    auto& s = store_.stmt("UPDATE sends SET state='cancelled', updated_at=? WHERE id=?");
    s.bind(1, static_cast<int64_t>(now));
    s.bind(2, static_cast<int64_t>(send_id));
    s.exec();
    auto& l = store_.stmt("UPDATE ledger SET released=1 WHERE send_id=?");
    l.bind(1, static_cast<int64_t>(send_id));
    l.exec();
    for (size_t i = 0; i < rows.size(); ++i) {
      const SendRow& r = rows[i];
      const RetryDecision::Fate& fate = d.orders[i];
      if (fate.split) {
        reschedule_now(r, job, "split_from_retry", now);
        continue;
      }
      set_step_state(r.id, fate.state, fate.reason);
      if (fate.state == StepState::kCancelled)
        append_audit(store_, now, {.event = "cancelled", .shop = job.shop, .buyer = job.buyer_id,
                                   .orders = {r.order_id}, .step = job.step, .channel = job.channel,
                                   .send_id = send_id, .reason = fate.reason});
      else
        append_audit(store_, now, {.event = to_string(fate.state), .shop = job.shop, .buyer = job.buyer_id,
                                   .orders = {r.order_id}, .step = job.step, .send_id = send_id,
                                   .reason = fate.reason});
    }
    return std::nullopt;
  }
  if (d.kind == RetryDecision::Kind::kDefer) {
    auto& u = store_.stmt("UPDATE sends SET next_attempt_at=?, updated_at=? WHERE id=?");
    u.bind(1, static_cast<int64_t>(d.until));
    u.bind(2, static_cast<int64_t>(now));
    u.bind(3, static_cast<int64_t>(send_id));
    u.exec();
    append_audit(store_, now, {.event = "deferred", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                               .step = job.step, .channel = job.channel, .attempt = job.attempt,
                               .send_id = send_id, .reason = d.reason, .due = d.until, .steps = job.steps,
                               .actor = job.actor});
    return std::nullopt;
  }
  // The retry goes: its reservation moves to now.
  if (slot) --*slot;
  auto& lu = store_.stmt("UPDATE ledger SET at=? WHERE send_id=?");
  lu.bind(1, static_cast<int64_t>(now));
  lu.bind(2, static_cast<int64_t>(send_id));
  lu.exec();
  auto& u = store_.stmt("UPDATE sends SET state='sending', attempt=attempt+1, updated_at=? WHERE id=?");
  u.bind(1, static_cast<int64_t>(now));
  u.bind(2, static_cast<int64_t>(send_id));
  u.exec();
  ++job.attempt;
  append_audit(store_, now, {.event = "sending", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                             .step = job.step, .channel = job.channel, .tmpl = job.tmpl, .lang = job.lang,
                             .attempt = job.attempt, .send_id = send_id, .steps = job.steps, .actor = job.actor});
  return job;
}

}  // namespace nudge
