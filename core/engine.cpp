#include "core/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/hash.h"
#include "core/render.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

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

namespace {

bool can_reach(const ChannelConf& ch, const std::string& email) {
  if (ch.type == "smtp" || ch.type == "sendmail") return !email.empty();
  return true;
}

const Step* find_step(const Policy& p, const std::string& campaign, const std::string& step) {
  for (const auto& c : p.campaigns)
    if (c.name == campaign)
      for (const auto& s : c.steps)
        if (s.name == step) return &s;
  return nullptr;
}

}  // namespace

Engine::Engine(Store& store, std::shared_ptr<const Policy> policy, Clock& clock)
    : store_(store), policy_(std::move(policy)), clock_(clock) {}

void Engine::audit(const AuditEvent& e) {
  WriteTx tx(store_);
  append_audit(store_, clock_.now(), e);
  tx.commit();
}

void Engine::audit_policy_rejected(const std::string& errors) {
  audit(AuditEvent{.event = "policy_rejected", .reason = "invalid_policy", .detail = errors});
}

const Campaign* Engine::match_campaign(const Policy& p, const OrderRecord& o) {
  double amount = std::strtod(o.amount.c_str(), nullptr);
  auto in = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& c : p.campaigns) {
    const Match& m = c.match;
    if (!m.shops.empty() && !in(m.shops, o.shop)) continue;
    if (!m.countries.empty() && !in(m.countries, o.buyer_country)) continue;
    if (!m.not_countries.empty() && in(m.not_countries, o.buyer_country)) continue;
    if (m.min_amount && amount < *m.min_amount) continue;
    if (m.max_amount && amount > *m.max_amount) continue;
    return &c;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
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
    AuditEvent e{.shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id}, .step = s.name, .tmpl = s.tmpl};
    if (due > stop) {
      e.event = "skipped";
      e.reason = "too_close_to_close";
      e.due = due;
      append_audit(store_, now, e);
      continue;
    }
    auto& ins = store_.stmt(
        "INSERT OR IGNORE INTO schedule(shop, order_id, buyer_id, campaign, step, step_index, due_at, state, updated_at)"
        " VALUES(?,?,?,?,?,?,?,'scheduled',?)");
    ins.bind(1, o.shop);
    ins.bind(2, o.order_id);
    ins.bind(3, o.buyer_id);
    ins.bind(4, c->name);
    ins.bind(5, s.name);
    ins.bind(6, static_cast<int>(k));
    ins.bind(7, static_cast<int64_t>(due));
    ins.bind(8, static_cast<int64_t>(now));
    if (ins.exec() == 0) continue;
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
  auto& q = store_.stmt("SELECT id, step FROM schedule WHERE shop=? AND order_id=? AND state='scheduled'");
  q.bind(1, shop);
  q.bind(2, order_id);
  while (q.executeStep()) rows.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getString());
  q.reset();
  for (const auto& [id, step] : rows) {
    set_step_state(id, StepState::kCancelled, reason);
    append_audit(store_, now, {.event = "cancelled", .shop = shop, .buyer = buyer, .orders = {order_id}, .step = step,
                               .reason = reason});
  }
  return static_cast<int>(rows.size());
}

void Engine::set_step_state(std::int64_t row_id, StepState state, const std::string& reason) {
  auto& u = store_.stmt("UPDATE schedule SET state=?, reason=?, updated_at=? WHERE id=?");
  u.bind(1, to_string(state));
  if (reason.empty()) u.bind(2); else u.bind(2, reason);
  u.bind(3, static_cast<int64_t>(clock_.now()));
  u.bind(4, static_cast<int64_t>(row_id));
  u.exec();
}

IngestResult Engine::ingest(const std::vector<FeedRecord>& records, const std::string& source,
                            const std::optional<std::string>& cursor) {
  IngestResult r;
  Millis now = clock_.now();
  WriteTx tx(store_);
  for (const auto& rec : records) {
    if (const auto* bad = std::get_if<RejectedRecord>(&rec)) {
      append_audit(store_, now, {.event = "order_rejected", .shop = bad->shop,
                                 .orders = bad->order_id.empty() ? std::vector<std::string>{}
                                                                 : std::vector<std::string>{bad->order_id},
                                 .reason = "invalid_record", .detail = bad->reason});
      ++r.rejected;
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

// ---------------------------------------------------------------------------
// Claim

std::vector<SendJob> Engine::claim_due(int batch, std::map<std::string, int>* room) {
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
  if (retries.empty() && buyers.empty()) return jobs;
  WriteTx tx(store_);
  room_ = room;
  struct Clear {
    std::map<std::string, int>*& r;
    ~Clear() { r = nullptr; }
  } clear{room_};
  for (auto id : retries)
    if (auto job = claim_retry(id, room)) jobs.push_back(std::move(*job));
  for (const auto& [shop, buyer] : buyers) claim_buyer(shop, buyer, jobs);
  tx.commit();
  return jobs;
}

void Engine::claim_buyer(const std::string& shop, const std::string& buyer, std::vector<SendJob>& jobs) {
  const Policy& p = *policy_;
  const Limits& L = p.limits;
  Millis now = clock_.now();

  std::map<std::string, OrderInfo> orders;
  std::vector<DueRow> rows;
  {
    auto& q = store_.stmt(
        "SELECT s.id, s.order_id, s.campaign, s.step, s.step_index, s.due_at, o.buyer_name, o.buyer_country, "
        "o.buyer_lang, o.buyer_tz, o.buyer_email, o.amount, o.currency, o.placed_at, o.closes_at, o.status, "
        "s.next_channel "
        "FROM schedule s JOIN orders o ON o.shop = s.shop AND o.order_id = s.order_id "
        "WHERE s.shop=? AND s.buyer_id=? AND s.state='scheduled' AND s.due_at <= ? ORDER BY s.due_at, s.step_index");
    q.bind(1, shop);
    q.bind(2, buyer);
    q.bind(3, static_cast<int64_t>(now));
    while (q.executeStep()) {
      DueRow r;
      r.id = q.getColumn(0).getInt64();
      r.order_id = q.getColumn(1).getString();
      r.campaign = q.getColumn(2).getString();
      r.step = q.getColumn(3).getString();
      r.step_index = q.getColumn(4).getInt();
      r.due_at = q.getColumn(5).getInt64();
      auto& o = orders[r.order_id];
      o.order_id = r.order_id;
      o.buyer_name = q.getColumn(6).getString();
      o.country = q.getColumn(7).getString();
      o.lang = q.getColumn(8).getString();
      o.tz = q.getColumn(9).getString();
      o.email = q.getColumn(10).getString();
      o.amount = q.getColumn(11).getString();
      o.currency = q.getColumn(12).getString();
      o.placed_at = q.getColumn(13).getInt64();
      o.closes_at = q.getColumn(14).getInt64();
      o.status = q.getColumn(15).getString();
      r.next_channel = q.getColumn(16).getInt();
      rows.push_back(r);
    }
    q.reset();
  }
  if (rows.empty()) return;
  for (auto& r : rows) r.order = &orders[r.order_id];

  auto audit_row = [&](const DueRow& r, const char* event, const std::string& reason, std::optional<Millis> due = {}) {
    append_audit(store_, now, {.event = event, .shop = shop, .buyer = buyer, .orders = {r.order_id}, .step = r.step,
                               .channel = r.channel, .reason = reason, .due = due});
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
    d.step_conf = find_step(p, d.campaign, d.step);
    if (!d.step_conf) {
      finish(d, StepState::kSkipped, "policy_changed");
      continue;
    }
    if (now > stop_of(d)) {
      finish(d, StepState::kSkipped, "too_close_to_close");
      continue;
    }
    if (!hold.empty()) {
      finish(d, StepState::kSkipped, hold);
      continue;
    }
    {
      auto& q = store_.stmt(
          "SELECT COUNT(*) FROM schedule WHERE shop=? AND order_id=? AND state IN ('sending','sent','in_doubt')");
      q.bind(1, shop);
      q.bind(2, d.order_id);
      q.executeStep();
      int done = q.getColumn(0).getInt();
      q.reset();
      if (done >= L.per_order) {
        finish(d, StepState::kSkipped, "cap_order");
        continue;
      }
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
    RenderInput in{.tmpl = first.step_conf->tmpl, .buyer_name = o.buyer_name, .buyer_lang = o.lang,
                   .country = o.country, .shop = shop, .step = first.step,
                   .zone = buyer_zone(p, o.tz, o.country), .now = now};
    for (auto& r : msg)
      in.orders.push_back({r.order_id, r.order->amount, r.order->currency, r.order->placed_at, r.order->closes_at});
    Rendered text = render_message(p, in);

    auto& ins = store_.stmt(
        "INSERT INTO sends(shop, buyer_id, step, channel, template, lang, idempotency_key, state, attempt, subject, "
        "body, created_at, updated_at) VALUES(?,?,?,?,?,?,?,'sending',1,?,?,?,?)");
    std::string provisional = "pending-" + std::to_string(now) + "-" + std::to_string(first.id);
    ins.bind(1, shop);
    ins.bind(2, buyer);
    ins.bind(3, first.step);
    ins.bind(4, first.channel);
    ins.bind(5, in.tmpl);
    ins.bind(6, text.lang);
    ins.bind(7, provisional);
    ins.bind(8, text.subject);
    ins.bind(9, text.body);
    ins.bind(10, static_cast<int64_t>(now));
    ins.bind(11, static_cast<int64_t>(now));
    ins.exec();
    std::int64_t send_id = store_.db().getLastInsertRowid();
    std::string key = sha256_hex(shop + "\n" + buyer + "\n" + std::to_string(send_id) + "\n" + std::to_string(now))
                          .substr(0, 32);
    auto& k = store_.stmt("UPDATE sends SET idempotency_key=? WHERE id=?");
    k.bind(1, key);
    k.bind(2, static_cast<int64_t>(send_id));
    k.exec();
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
    // different steps, say which is which, so that no order looks reminded twice.
    std::string steps;
    for (auto& r : msg)
      if (r.step != first.step) steps = "steps:";
    if (!steps.empty())
      for (auto& r : msg) steps += " " + r.order_id + "=" + r.step;
    append_audit(store_, now, {.event = "sending", .shop = shop, .buyer = buyer, .orders = ids, .step = first.step,
                               .channel = first.channel, .tmpl = in.tmpl, .lang = text.lang, .attempt = 1,
                               .send_id = send_id, .detail = steps});
    SendJob job{.send_id = send_id, .shop = shop, .buyer_id = buyer, .buyer_name = o.buyer_name,
                .buyer_email = o.email, .order_ids = ids, .step = first.step, .channel = first.channel,
                .tmpl = in.tmpl, .lang = text.lang, .attempt = 1, .idempotency_key = key,
                .subject = text.subject, .body = text.body};
    jobs.push_back(std::move(job));
  }
}

std::string Engine::buyer_hold(const std::string& shop, const std::string& buyer, Millis now) {
  {
    auto& q = store_.stmt("SELECT 1 FROM optout WHERE shop=? AND buyer_id=?");
    q.bind(1, shop);
    q.bind(2, buyer);
    bool opted_out = q.executeStep();
    q.reset();
    if (opted_out) return "opted_out";
  }
  if (policy_->limits.skip_if_paid_within > 0) {
    auto& q = store_.stmt("SELECT 1 FROM orders WHERE shop=? AND buyer_id=? AND status='paid' AND status_at > ? LIMIT 1");
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
    auto& q = store_.stmt(
        "SELECT at FROM ledger WHERE shop=? AND buyer_id=? AND released=0 AND at > ? AND send_id != ? ORDER BY at");
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

SendJob Engine::load_job(std::int64_t send_id) {
  SendJob job;
  auto& q = store_.stmt(
      "SELECT shop, buyer_id, step, channel, template, lang, attempt, idempotency_key, subject, body FROM sends "
      "WHERE id=?");
  q.bind(1, static_cast<int64_t>(send_id));
  q.executeStep();
  job.send_id = send_id;
  job.shop = q.getColumn(0).getString();
  job.buyer_id = q.getColumn(1).getString();
  job.step = q.getColumn(2).getString();
  job.channel = q.getColumn(3).getString();
  job.tmpl = q.getColumn(4).getString();
  job.lang = q.getColumn(5).getString();
  job.attempt = q.getColumn(6).getInt();
  job.idempotency_key = q.getColumn(7).getString();
  job.subject = q.getColumn(8).getString();
  job.body = q.getColumn(9).getString();
  q.reset();
  auto& o = store_.stmt(
      "SELECT s.order_id, o.buyer_name, o.buyer_email FROM schedule s JOIN orders o ON o.shop=s.shop AND "
      "o.order_id=s.order_id WHERE s.send_id=? ORDER BY s.id");
  o.bind(1, static_cast<int64_t>(send_id));
  while (o.executeStep()) {
    job.order_ids.push_back(o.getColumn(0).getString());
    job.buyer_name = o.getColumn(1).getString();
    job.buyer_email = o.getColumn(2).getString();
  }
  o.reset();
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
        set_step_state(r.id, StepState::kSkipped, reason);
        append_audit(store_, now, {.event = "skipped", .shop = job.shop, .buyer = job.buyer_id, .orders = {r.order_id},
                                   .step = job.step, .send_id = send_id, .reason = reason});
      } else {
        auto& u = store_.stmt("UPDATE schedule SET state='scheduled', send_id=NULL, due_at=?, updated_at=? WHERE id=?");
        u.bind(1, static_cast<int64_t>(now));
        u.bind(2, static_cast<int64_t>(now));
        u.bind(3, static_cast<int64_t>(r.id));
        u.exec();
        append_audit(store_, now, {.event = "scheduled", .shop = job.shop, .buyer = job.buyer_id,
                                   .orders = {r.order_id}, .step = job.step, .reason = "split_from_retry",
                                   .due = now});
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
                                 .send_id = send_id, .reason = "quiet_hours", .due = *until});
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
                               .send_id = send_id, .reason = limiting, .due = allowed_at});
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
                             .attempt = job.attempt, .send_id = send_id});
  return job;
}

// ---------------------------------------------------------------------------
// Complete

void Engine::finish_rows(std::int64_t send_id, StepState state, const std::string& reason) {
  auto& u = store_.stmt("UPDATE schedule SET state=?, reason=?, updated_at=? WHERE send_id=?");
  u.bind(1, to_string(state));
  if (reason.empty()) u.bind(2); else u.bind(2, reason);
  u.bind(3, static_cast<int64_t>(clock_.now()));
  u.bind(4, static_cast<int64_t>(send_id));
  u.exec();
}

void Engine::complete(std::int64_t send_id, Outcome outcome, const std::string& error, double jitter) {
  WriteTx tx(store_);
  complete_in_tx(send_id, outcome, error, jitter);
  tx.commit();
}

void Engine::complete_all(const std::vector<Completion>& done) {
  if (done.empty()) return;
  WriteTx tx(store_);
  for (const auto& c : done) complete_in_tx(c.send_id, c.outcome, c.error, c.jitter);
  tx.commit();
}

void Engine::complete_in_tx(std::int64_t send_id, Outcome outcome, const std::string& error, double jitter) {
  Millis now = clock_.now();
  {
    auto& q = store_.stmt("SELECT state FROM sends WHERE id=?");
    q.bind(1, static_cast<int64_t>(send_id));
    bool found = q.executeStep();
    auto state = found ? parse_send_state(q.getColumn(0).getString()) : std::nullopt;
    q.reset();
    if (state != SendState::kSending) return;  // unknown or already settled: nothing to do
  }
  SendJob job = load_job(send_id);
  AuditEvent e{.shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids, .step = job.step,
               .channel = job.channel, .tmpl = job.tmpl, .lang = job.lang, .attempt = job.attempt,
               .send_id = send_id};
  auto set_send = [&](SendState state, std::optional<Millis> next) {
    auto& u = store_.stmt("UPDATE sends SET state=?, next_attempt_at=?, error=?, updated_at=? WHERE id=?");
    u.bind(1, to_string(state));
    if (next) u.bind(2, static_cast<int64_t>(*next)); else u.bind(2);
    if (error.empty()) u.bind(3); else u.bind(3, error);
    u.bind(4, static_cast<int64_t>(now));
    u.bind(5, static_cast<int64_t>(send_id));
    u.exec();
  };
  auto release = [&] {
    auto& l = store_.stmt("UPDATE ledger SET released=1 WHERE send_id=?");
    l.bind(1, static_cast<int64_t>(send_id));
    l.exec();
  };
  const ChannelConf* ch = nullptr;
  if (auto it = policy_->channels.find(job.channel); it != policy_->channels.end()) ch = &it->second;
  if (outcome == Outcome::kTransient && ch && job.attempt <= ch->retries.max) {
    double factor = std::pow(2.0, job.attempt - 1) * (1.0 + jitter);
    Millis delay = std::min<Millis>(static_cast<Millis>(ch->retries.backoff * factor), 6 * kHour);
    set_send(SendState::kRetry, now + delay);
    e.event = "retry";
    e.reason = "transient_error";
    e.due = now + delay;
    e.detail = error;
  } else if (outcome == Outcome::kSent) {
    set_send(SendState::kSent, std::nullopt);
    finish_rows(send_id, StepState::kSent, "");
    e.event = "sent";
    // Nobody mistakes a discarded message for a delivered reminder.
    if (ch && ch->type == "discard") e.detail = "channel_type: discard";
  } else if (outcome == Outcome::kCancelled) {
    set_send(SendState::kCancelled, std::nullopt);
    release();
    finish_rows(send_id, StepState::kCancelled, error.empty() ? "paid" : error);
    e.event = "cancelled";
    e.reason = error.empty() ? "paid" : error;
  } else {
    set_send(SendState::kFailed, std::nullopt);
    release();
    std::string reason = outcome == Outcome::kTransient ? "retries_exhausted" : "permanent_error";
    e.event = "failed";
    e.reason = reason;
    e.detail = error;
    append_audit(store_, now, e);
    fall_to_next_channel(send_id, job, reason);
    return;
  }
  append_audit(store_, now, e);
}

// A step whose channel failed for good goes on with the step's next channel that can
// reach the buyer, at once; without one, it has failed.
void Engine::fall_to_next_channel(std::int64_t send_id, const SendJob& job, const std::string& reason) {
  Millis now = clock_.now();
  for (const auto& r : send_rows(send_id)) {
    const Step* step = find_step(*policy_, r.campaign, r.step);
    int next = -1;
    if (step) {
      auto failed = std::find(step->channels.begin(), step->channels.end(), job.channel);
      for (auto it = failed == step->channels.end() ? failed : failed + 1; it != step->channels.end(); ++it) {
        auto ch = policy_->channels.find(*it);
        if (ch != policy_->channels.end() && can_reach(ch->second, r.email)) {
          next = static_cast<int>(it - step->channels.begin());
          break;
        }
      }
    }
    if (next < 0) {
      set_step_state(r.id, StepState::kFailed, reason);
      continue;
    }
    auto& u = store_.stmt(
        "UPDATE schedule SET state='scheduled', send_id=NULL, due_at=?, next_channel=?, updated_at=? WHERE id=?");
    u.bind(1, static_cast<int64_t>(now));
    u.bind(2, next);
    u.bind(3, static_cast<int64_t>(now));
    u.bind(4, static_cast<int64_t>(r.id));
    u.exec();
    append_audit(store_, now, {.event = "scheduled", .shop = job.shop, .buyer = job.buyer_id, .orders = {r.order_id},
                               .step = r.step, .channel = step->channels[static_cast<size_t>(next)],
                               .reason = "next_channel", .due = now});
  }
}

void Engine::postpone(std::int64_t send_id, Millis when, const std::string& why) {
  Millis now = clock_.now();
  WriteTx tx(store_);
  auto& u = store_.stmt("UPDATE sends SET state='retry', next_attempt_at=?, attempt=attempt-1, updated_at=? "
                        "WHERE id=? AND state='sending'");
  u.bind(1, static_cast<int64_t>(when));
  u.bind(2, static_cast<int64_t>(now));
  u.bind(3, static_cast<int64_t>(send_id));
  if (u.exec() == 0) return;
  SendJob job = load_job(send_id);
  append_audit(store_, now, {.event = "deferred", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                             .step = job.step, .channel = job.channel, .attempt = job.attempt, .send_id = send_id,
                             .reason = why, .due = when});
  tx.commit();
}

// ---------------------------------------------------------------------------
// Start, stop, reload

void Engine::start(const std::string& version) {
  Millis now = clock_.now();
  WriteTx tx(store_);
  append_audit(store_, now, {.event = "started", .detail = "nudge " + version});
  append_audit(store_, now, {.event = "policy_loaded",
                             .detail = policy_->path + " sha256:" + policy_->text_sha256.substr(0, 16)});
  std::vector<std::pair<std::int64_t, std::string>> open;
  auto& q = store_.stmt("SELECT id, channel FROM sends WHERE state='sending' ORDER BY id");
  while (q.executeStep()) open.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getString());
  q.reset();
  for (const auto& [id, channel] : open) {
    auto it = policy_->channels.find(channel);
    bool again = it != policy_->channels.end() && it->second.delivery == Delivery::kAtLeastOnce;
    SendJob job = load_job(id);
    if (again) {
      // Same idempotency key: the receiving side drops the copy if the first got through.
      auto& u = store_.stmt("UPDATE sends SET state='retry', next_attempt_at=?, updated_at=? WHERE id=?");
      u.bind(1, static_cast<int64_t>(now));
      u.bind(2, static_cast<int64_t>(now));
      u.bind(3, static_cast<int64_t>(id));
      u.exec();
      append_audit(store_, now, {.event = "retry", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                                 .step = job.step, .channel = channel, .attempt = job.attempt, .send_id = id,
                                 .reason = "restart", .due = now});
      continue;
    }
    auto& u = store_.stmt("UPDATE sends SET state='in_doubt', updated_at=? WHERE id=?");
    u.bind(1, static_cast<int64_t>(now));
    u.bind(2, static_cast<int64_t>(id));
    u.exec();
    finish_rows(id, StepState::kInDoubt, "interrupted");
    // The ledger row stays: an in-doubt reminder may have reached the buyer, so it counts.
    append_audit(store_, now, {.event = "in_doubt", .shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids,
                               .step = job.step, .channel = channel, .tmpl = job.tmpl, .lang = job.lang,
                               .attempt = job.attempt, .send_id = id, .reason = "interrupted",
                               .detail = "the daemon stopped while this send was in flight; it is not resent"});
  }
  tx.commit();
}

void Engine::stop() { audit({.event = "stopped"}); }

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
          auto& ins = store_.stmt(
              "INSERT INTO schedule(shop, order_id, buyer_id, campaign, step, step_index, due_at, state, updated_at)"
              " VALUES(?,?,?,?,?,?,?,'scheduled',?)");
          ins.bind(1, o.shop);
          ins.bind(2, o.order_id);
          ins.bind(3, o.buyer_id);
          ins.bind(4, c->name);
          ins.bind(5, s.name);
          ins.bind(6, static_cast<int>(k));
          ins.bind(7, static_cast<int64_t>(due));
          ins.bind(8, static_cast<int64_t>(now));
          ins.exec();
        }
        append_audit(store_, now, {.event = "scheduled", .shop = o.shop, .buyer = o.buyer_id, .orders = {o.order_id},
                                   .step = s.name, .tmpl = s.tmpl, .reason = "replanned", .due = due});
        ++changed;
      }
    }
    for (const auto& [step, row] : existing) {
      if (row.second == StepState::kScheduled && !wanted.count(step)) {
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

// ---------------------------------------------------------------------------
// Queries

std::optional<Millis> Engine::next_due() {
  std::optional<Millis> best;
  for (const char* sql : {"SELECT MIN(due_at) FROM schedule WHERE state='scheduled'",
                          "SELECT MIN(next_attempt_at) FROM sends WHERE state='retry'"}) {
    auto& q = store_.stmt(sql);
    if (q.executeStep() && !q.getColumn(0).isNull()) {
      Millis t = q.getColumn(0).getInt64();
      if (!best || t < *best) best = t;
    }
    q.reset();
  }
  return best;
}

Counts Engine::counts() {
  Counts c;
  auto& q = store_.stmt("SELECT state, COUNT(*) FROM schedule GROUP BY state");
  while (q.executeStep()) {
    auto s = parse_step_state(q.getColumn(0).getString());
    std::int64_t n = q.getColumn(1).getInt64();
    if (!s) continue;
    switch (*s) {
      case StepState::kScheduled: c.scheduled = n; break;
      case StepState::kSending: c.sending = n; break;
      case StepState::kSent: c.sent = n; break;
      case StepState::kFailed: c.failed = n; break;
      case StepState::kSkipped: c.skipped = n; break;
      case StepState::kCancelled: c.cancelled = n; break;
      case StepState::kInDoubt: c.in_doubt = n; break;
    }
  }
  q.reset();
  return c;
}

void Engine::opt_out(const std::string& shop, const std::string& buyer, bool add) {
  Millis now = clock_.now();
  WriteTx tx(store_);
  auto& s = store_.stmt(add ? "INSERT OR IGNORE INTO optout(shop, buyer_id, at) VALUES(?,?,?)"
                            : "DELETE FROM optout WHERE shop=? AND buyer_id=? AND ?>=0");
  s.bind(1, shop);
  s.bind(2, buyer);
  s.bind(3, static_cast<int64_t>(now));
  if (s.exec() > 0)
    append_audit(store_, now, {.event = add ? "opted_out" : "opted_in", .shop = shop, .buyer = buyer,
                               .reason = "operator"});
  tx.commit();
}

}  // namespace nudge
