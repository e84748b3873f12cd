// The engine: construction, start and stop, the state shared by its parts, queries.
#include "core/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/engine_internal.h"
#include "core/hash.h"
#include "core/render.h"
#include "core/time_util.h"
#include "core/zones.h"

namespace nudge {

using engine_detail::can_reach;
using engine_detail::find_step;

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

void Engine::set_step_state(std::int64_t row_id, StepState state, const std::string& reason) {
  auto& u = store_.stmt("UPDATE schedule SET state=?, reason=?, updated_at=? WHERE id=?");
  u.bind(1, to_string(state));
  if (reason.empty()) u.bind(2); else u.bind(2, reason);
  u.bind(3, static_cast<int64_t>(clock_.now()));
  u.bind(4, static_cast<int64_t>(row_id));
  u.exec();
}

void Engine::reschedule_now(const SendRow& r, const SendJob& job, const std::string& reason, Millis now) {
  auto& u = store_.stmt("UPDATE schedule SET state='scheduled', send_id=NULL, due_at=?, updated_at=? WHERE id=?");
  u.bind(1, static_cast<int64_t>(now));
  u.bind(2, static_cast<int64_t>(now));
  u.bind(3, static_cast<int64_t>(r.id));
  u.exec();
  append_audit(store_, now, {.event = "scheduled", .shop = job.shop, .buyer = job.buyer_id, .orders = {r.order_id},
                             .step = r.step, .reason = reason, .due = now});
}

bool Engine::insert_step(const std::string& shop, const std::string& order_id, const std::string& buyer,
                         const std::string& campaign, const std::string& step, int step_index, Millis due, Millis now) {
  auto& ins = store_.stmt(
      "INSERT OR IGNORE INTO schedule(shop, order_id, buyer_id, campaign, step, step_index, due_at, state, updated_at)"
      " VALUES(?,?,?,?,?,?,?,'scheduled',?)");
  ins.bind(1, shop);
  ins.bind(2, order_id);
  ins.bind(3, buyer);
  ins.bind(4, campaign);
  ins.bind(5, step);
  ins.bind(6, step_index);
  ins.bind(7, static_cast<int64_t>(due));
  ins.bind(8, static_cast<int64_t>(now));
  return ins.exec() > 0;
}

// Start, stop, reload

int Engine::start(const std::string& version) {
  Millis now = clock_.now();
  WriteTx tx(store_);
  append_audit(store_, now, {.event = "started", .detail = "nudge " + version});
  append_audit(store_, now, {.event = "policy_loaded",
                             .detail = policy_->path + " sha256:" + policy_->text_sha256.substr(0, 16)});
  const int replanned = sync_plan(*policy_, now, nullptr);
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
                                 .reason = "restart", .due = now, .steps = job.steps});
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
                               .detail = "the daemon stopped while this send was in flight; it is not resent", .steps = job.steps});
  }
  tx.commit();
  return replanned;
}

void Engine::stop() { audit({.event = "stopped"}); }


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

std::int64_t Engine::pending() {
  auto& q = store_.stmt("SELECT n FROM counters WHERE name='scheduled'");  // kept by triggers
  std::int64_t n = q.executeStep() ? q.getColumn(0).getInt64() : 0;
  q.reset();
  return n;
}

Counts Engine::counts() {
  Counts c;
  auto& q = store_.stmt("SELECT state, COUNT(*) FROM schedule GROUP BY state");
  while (q.executeStep()) {
    auto s = parse_step_state(q.getColumn(0).getString());
    std::int64_t n = q.getColumn(1).getInt64();
    if (!s) continue;
    switch (*s) {
      case StepState::kScheduled: c.scheduled += n; break;
      case StepState::kHeld: c.scheduled += n; break;  // open too: waiting for a flag to be cleared
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
