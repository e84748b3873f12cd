// Claim: which due steps and retries become sends now, and which are skipped, deferred or cancelled.
#include "core/engine.h"
#include "core/experiment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "core/engine_internal.h"
#include "core/hash.h"
#include "core/manual.h"
#include "core/render.h"
#include "core/safety.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

using engine_detail::can_reach;
using engine_detail::find_step;

struct Engine::OrderInfo {
  std::string order_id, buyer_name, country, lang, tz, email, amount, currency, status;
  Millis placed_at = 0, closes_at = 0;
};

struct Engine::DueRow {
  std::int64_t id = 0;
  std::string order_id, campaign, step;
  int step_index = 0, next_channel = 0;
  Millis due_at = 0;
  const OrderInfo* order = nullptr;
  const Step* step_conf = nullptr;
  std::string channel;
};

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
  const Policy& p = *policy_;
  const Limits& L = p.limits;
  Millis now = clock_.now();

  // The buyer's steps, all of them: the due ones, and per order how many went out
  // (limits.per_order). The index by buyer has no state, so the state of every row is
  // read either way; one query serves both.
  std::map<std::string, OrderInfo> orders;
  std::map<std::string, int> done_by_order;
  std::vector<DueRow> rows;
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
          ++done_by_order[q.getColumn(1).getString()];
        continue;
      }
      Millis due_at = q.getColumn(5).getInt64();
      if (due_at > now) continue;
      DueRow r;
      r.id = q.getColumn(0).getInt64();
      r.order_id = q.getColumn(1).getString();
      r.campaign = q.getColumn(2).getString();
      r.step = q.getColumn(3).getString();
      r.step_index = q.getColumn(4).getInt();
      r.due_at = due_at;
      r.next_channel = q.getColumn(6).getInt();
      rows.push_back(std::move(r));
    }
    q.reset();
  }
  if (rows.empty()) return;
  std::sort(rows.begin(), rows.end(), [](const DueRow& x, const DueRow& y) {
    return std::tie(x.due_at, x.step_index, x.id) < std::tie(y.due_at, y.step_index, y.id);
  });
  for (const auto& r : rows) {
    if (orders.count(r.order_id)) continue;
    auto& q = store_.stmt(
        "SELECT buyer_name, buyer_country, buyer_lang, buyer_tz, buyer_email, amount, currency, placed_at, closes_at, "
        "status FROM orders WHERE shop=? AND order_id=?");
    q.bind(1, shop);
    q.bind(2, r.order_id);
    // (A step without its order is left alone, as the join it replaces did.)
    if (!q.executeStep()) {
      q.reset();
      continue;
    }
    auto& o = orders[r.order_id];
    o.order_id = r.order_id;
    o.buyer_name = q.getColumn(0).getString();
    o.country = q.getColumn(1).getString();
    o.lang = q.getColumn(2).getString();
    o.tz = q.getColumn(3).getString();
    o.email = q.getColumn(4).getString();
    o.amount = q.getColumn(5).getString();
    o.currency = q.getColumn(6).getString();
    o.placed_at = q.getColumn(7).getInt64();
    o.closes_at = q.getColumn(8).getInt64();
    o.status = q.getColumn(9).getString();
    q.reset();
  }
  rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const DueRow& r) { return !orders.count(r.order_id); }),
             rows.end());
  if (rows.empty()) return;
  for (auto& r : rows) r.order = &orders[r.order_id];

  auto audit_row = [&](const DueRow& r, const char* event, const std::string& reason, std::optional<Millis> due = {}) {
    append_audit(store_, now, {.event = event, .shop = shop, .buyer = buyer, .orders = {r.order_id}, .step = r.step,
                               .channel = r.channel, .reason = reason, .due = due,
                               .actor = r.step == kManualStep ? manual_row(r.id).actor : ""});
  };
  auto finish = [&](const DueRow& r, StepState state, const std::string& reason) {
    set_step_state(r.id, state, reason);
    audit_row(r, to_string(state), reason);
  };
  auto defer = [&](const DueRow& r, Millis until, const std::string& reason) {
    auto& u = store_.stmt("UPDATE schedule SET due_at=?, updated_at=? WHERE id=?");
    u.bind(1, static_cast<int64_t>(until));
    u.bind(2, static_cast<int64_t>(now));
    u.bind(3, static_cast<int64_t>(r.id));
    u.exec();
    audit_row(r, "deferred", reason, until);
  };
  auto stop_of = [&](const DueRow& r) { return r.order->closes_at - p.payment.stop_before_close; };

  const std::string hold = buyer_hold(shop, buyer, now);
  const std::optional<ReplyWait> wait = buyer_reply_wait(shop, buyer, now);  // the buyer promised, or wrote back

  // Per order: the oldest live step goes on; older steps missed for longer than
  // misfire_grace collapse into the newest due one.
  std::vector<DueRow> candidates;
  std::set<std::string> seen_orders;
  for (size_t i = 0; i < rows.size(); ++i) {
    DueRow& r = rows[i];
    if (seen_orders.count(r.order_id)) continue;
    std::vector<DueRow*> group;
    for (size_t j = i; j < rows.size(); ++j)
      if (rows[j].order_id == r.order_id) group.push_back(&rows[j]);
    seen_orders.insert(r.order_id);
    const OrderInfo& o = *r.order;
    if (o.status != "awaiting_payment") {
      for (auto* g : group) finish(*g, StepState::kCancelled, o.status);
      continue;
    }
    DueRow* newest = group.back();
    for (auto* g : group)
      if (g != newest && g->step_index < newest->step_index && now - g->due_at > L.misfire_grace) {
        finish(*g, StepState::kSkipped, "superseded");
        g->id = 0;
      }
    DueRow* pick = nullptr;
    for (auto* g : group)
      if (g->id != 0) {
        pick = g;
        break;
      }
    DueRow& d = *pick;
    d.step_conf = d.step == kManualStep ? &manual_row(d.id).step : find_step(p, d.campaign, d.step);
    if (!d.step_conf) {
      finish(d, StepState::kSkipped, "policy_changed");
      continue;
    }
    if (now > stop_of(d)) {
      finish(d, StepState::kSkipped, "too_close_to_close");
      continue;
    }
    if (!hold.empty()) {
      // A buyer with an open flag (engine_replies.cpp) is held, not skipped: clearing
      // the flag schedules the step again.
      finish(d, hold.rfind("off_platform_request:", 0) == 0 ? StepState::kHeld : StepState::kSkipped, hold);
      continue;
    }
    // A reply pauses automatic steps; a reminder the seller asked for by hand goes on.
    if (wait && d.step != kManualStep) {
      if (wait->until > stop_of(d))
        finish(d, StepState::kSkipped, "too_close_to_close");
      else
        defer(d, wait->until, wait->reason);
      continue;
    }
    if (auto out = holdout_reason(p, shop, buyer, d.step); !out.empty()) {
      finish(d, StepState::kSkipped, out);
      continue;
    }
    if (auto it = done_by_order.find(d.order_id); it != done_by_order.end() && it->second >= L.per_order) {
      finish(d, StepState::kSkipped, "cap_order");
      continue;
    }
    for (size_t k = static_cast<size_t>(d.next_channel); k < d.step_conf->channels.size(); ++k) {
      const auto& name = d.step_conf->channels[k];
      auto it = p.channels.find(name);
      if (it != p.channels.end() && can_reach(it->second, o.email)) {
        d.channel = name;
        break;
      }
    }
    if (d.channel.empty()) {
      finish(d, StepState::kSkipped, "no_channel");
      continue;
    }
    if (L.quiet_hours) {
      if (auto until = quiet_until(*L.quiet_hours, buyer_zone(p, o.tz, o.country), now)) {
        if (*until > stop_of(d))
          finish(d, StepState::kSkipped, "too_close_to_close");
        else
          defer(d, *until, "quiet_hours");
        continue;
      }
    }
    candidates.push_back(d);
  }

  // Messages: with merge, one per channel for all of the buyer's sendable orders.
  std::vector<std::vector<DueRow>> messages;
  for (auto& c : candidates) {
    auto it = std::find_if(messages.begin(), messages.end(),
                           [&](const auto& m) { return L.merge && m.front().channel == c.channel; });
    if (it == messages.end())
      messages.push_back({c});
    else
      it->push_back(c);
  }

  for (auto& msg : messages) {
    // A channel without room now: its steps stay scheduled for a later claim.
    if (room_) {
      auto it = room_->find(msg.front().channel);
      if (it != room_->end()) {
        if (it->second <= 0) continue;
        --it->second;
      }
    }
    // The buyer's windows: count what the ledger holds (including sends made a moment
    // ago in this transaction) and find when the fullest window lets one more through.
    std::string limiting;
    Millis allowed_at = buyer_allowed_at(shop, buyer, now, 0, limiting);
    if (allowed_at > now) {
      for (auto& r : msg) {
        if (L.when_limited == WhenLimited::kSkip)
          finish(r, StepState::kSkipped, limiting);
        else if (allowed_at > stop_of(r))
          finish(r, StepState::kSkipped, "too_close_to_close");
        else
          defer(r, allowed_at, limiting);
      }
      continue;
    }

    const DueRow& first = msg.front();
    const OrderInfo& o = *first.order;
    RenderInput in{.tmpl = pick_template(p, *first.step_conf, shop, buyer), .buyer_name = o.buyer_name, .buyer_lang = o.lang,
                   .country = o.country, .shop = shop, .step = first.step,
                   .zone = buyer_zone(p, o.tz, o.country), .now = now};
    for (auto& r : msg)
      in.orders.push_back({r.order_id, r.order->amount, r.order->currency, r.order->placed_at, r.order->closes_at});
    Rendered text = render_message(p, in);
    // G7: a template that passed the lint can still render something unsafe (an order
    // field carrying a phone number, say): such a message is skipped, never sent.
    if (auto unsafe = unsafe_content(p, text)) {
      for (auto& r : msg) finish(r, StepState::kSkipped, std::string("unsafe_content:") + to_string(unsafe->category));
      continue;
    }

    // The send's id is known before its row is written (this transaction holds the
    // write lock), so its idempotency key goes in with the row: one write, not two.
    if (next_send_id_.tx != store_.tx_serial()) {
      auto& q = store_.stmt("SELECT COALESCE(MAX(id), 0) + 1 FROM sends");
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
    ins.bind(5, first.channel);
    ins.bind(6, in.tmpl);
    ins.bind(7, text.lang);
    ins.bind(8, key);
    ins.bind(9, text.subject);
    ins.bind(10, text.body);
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
    for (auto& r : msg) {
      auto& u = store_.stmt("UPDATE schedule SET state='sending', send_id=?, updated_at=? WHERE id=?");
      u.bind(1, static_cast<int64_t>(send_id));
      u.bind(2, static_cast<int64_t>(now));
      u.bind(3, static_cast<int64_t>(r.id));
      u.exec();
      ids.push_back(r.order_id);
    }
    // A merged message carries its first order's step; when its orders are at
    // different steps, every line about it says which is which (`steps`), so that no
    // order looks reminded at a step it was not.
    std::map<std::string, std::string> steps;
    std::string actor;
    for (auto& r : msg) {
      if (r.step != first.step)
        for (auto& x : msg) steps[x.order_id] = x.step;
      if (r.step == kManualStep) actor = manual_row(r.id).actor;
    }
    append_audit(store_, now, {.event = "sending", .shop = shop, .buyer = buyer, .orders = ids, .step = first.step,
                               .channel = first.channel, .tmpl = in.tmpl, .lang = text.lang, .attempt = 1,
                               .send_id = send_id, .steps = steps, .actor = actor});
    SendJob job{.send_id = send_id, .shop = shop, .buyer_id = buyer, .buyer_name = o.buyer_name,
                .buyer_email = o.email, .order_ids = ids, .step = first.step, .channel = first.channel,
                .tmpl = in.tmpl, .lang = text.lang, .attempt = 1, .idempotency_key = key,
                .subject = text.subject, .body = text.body, .steps = steps, .actor = actor};
    jobs.push_back(std::move(job));
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

Millis Engine::buyer_allowed_at(const std::string& shop, const std::string& buyer, Millis now,
                               std::int64_t except_send, std::string& limiting) {
  // Count what the ledger holds (including sends made a moment ago in this
  // transaction) and find when the fullest window lets one more through. `now` is
  // the caller's: one decision, one instant.
  Millis allowed_at = now;
  for (const auto& w : policy_->limits.per_buyer) {
    auto& q = store_.stmt(policy_->limits.scope == CapScope::kSeller
                              ? "SELECT at FROM ledger WHERE buyer_id=?2 AND released=0 AND at > ?3 AND send_id != ?4 "
                                "AND ?1 IS NOT NULL ORDER BY at"
                              : "SELECT at FROM ledger WHERE shop=?1 AND buyer_id=?2 AND released=0 AND at > ?3 AND "
                                "send_id != ?4 ORDER BY at");
    q.bind(1, shop);
    q.bind(2, buyer);
    q.bind(3, static_cast<int64_t>(now - w.within));
    q.bind(4, static_cast<int64_t>(except_send));
    std::vector<Millis> ats;
    while (q.executeStep()) ats.push_back(q.getColumn(0).getInt64());
    q.reset();
    if (static_cast<int>(ats.size()) >= w.max) {
      Millis t = ats[ats.size() - w.max] + w.within;
      if (t > allowed_at) {
        allowed_at = t;
        limiting = "cap_buyer:" + w.label();
      }
    }
  }
  return allowed_at;
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
  // G2: a retry is a new delivery; it goes through the checks of a first send.
  std::vector<SendRow> rows = send_rows(send_id);
  bool all_awaiting = std::all_of(rows.begin(), rows.end(), [](const SendRow& r) { return r.status == "awaiting_payment"; });
  Millis stop = rows.empty() ? 0 : rows.front().closes_at - policy_->payment.stop_before_close;
  for (const auto& r : rows) stop = std::min(stop, r.closes_at - policy_->payment.stop_before_close);
  const std::string hold = buyer_hold(job.shop, job.buyer_id, now);
  if (!all_awaiting || now > stop || !hold.empty()) {
    // Cancel this send; orders still awaiting go back to the schedule for a fresh claim.
    auto& s = store_.stmt("UPDATE sends SET state='cancelled', updated_at=? WHERE id=?");
    s.bind(1, static_cast<int64_t>(now));
    s.bind(2, static_cast<int64_t>(send_id));
    s.exec();
    auto& l = store_.stmt("UPDATE ledger SET released=1 WHERE send_id=?");
    l.bind(1, static_cast<int64_t>(send_id));
    l.exec();
    for (const auto& r : rows) {
      if (r.status != "awaiting_payment") {
        set_step_state(r.id, StepState::kCancelled, r.status);
        append_audit(store_, now, {.event = "cancelled", .shop = job.shop, .buyer = job.buyer_id,
                                   .orders = {r.order_id}, .step = job.step, .channel = job.channel,
                                   .send_id = send_id, .reason = r.status});
      } else if (now > r.closes_at - policy_->payment.stop_before_close || !hold.empty()) {
        // The same order of checks as a first send: the close, then the buyer's hold.
        std::string reason = now > r.closes_at - policy_->payment.stop_before_close ? "too_close_to_close" : hold;
        const bool held = reason.rfind("off_platform_request:", 0) == 0;
        set_step_state(r.id, held ? StepState::kHeld : StepState::kSkipped, reason);
        append_audit(store_, now, {.event = held ? "held" : "skipped", .shop = job.shop, .buyer = job.buyer_id, .orders = {r.order_id},
                                   .step = job.step, .send_id = send_id, .reason = reason});
      } else {
        reschedule_now(r, job, "split_from_retry", now);
      }
    }
    return std::nullopt;
  }
  if (policy_->limits.quiet_hours && !rows.empty()) {
    if (auto until = quiet_until(*policy_->limits.quiet_hours, buyer_zone(*policy_, rows[0].tz, rows[0].country), now)) {
      auto& u = store_.stmt("UPDATE sends SET next_attempt_at=?, updated_at=? WHERE id=?");
      u.bind(1, static_cast<int64_t>(*until));
      u.bind(2, static_cast<int64_t>(now));
      u.bind(3, static_cast<int64_t>(send_id));
      u.exec();
      append_audit(store_, now, {.event = "deferred", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                                 .step = job.step, .channel = job.channel, .attempt = job.attempt,
                                 .send_id = send_id, .reason = "quiet_hours", .due = *until, .steps = job.steps,
                                 .actor = job.actor});
      return std::nullopt;
    }
  }
  // G1 holds for the moment a reminder actually goes out: a retry is checked against
  // the buyer's windows again (without its own reservation), and its reservation
  // moves to now.
  std::string limiting;
  Millis allowed_at = buyer_allowed_at(job.shop, job.buyer_id, now, send_id, limiting);
  if (allowed_at > now) {
    auto& d = store_.stmt("UPDATE sends SET next_attempt_at=?, updated_at=? WHERE id=?");
    d.bind(1, static_cast<int64_t>(allowed_at));
    d.bind(2, static_cast<int64_t>(now));
    d.bind(3, static_cast<int64_t>(send_id));
    d.exec();
    append_audit(store_, now, {.event = "deferred", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                               .step = job.step, .channel = job.channel, .attempt = job.attempt,
                               .send_id = send_id, .reason = limiting, .due = allowed_at, .steps = job.steps,
                               .actor = job.actor});
    return std::nullopt;
  }
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
