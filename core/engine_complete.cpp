// Completion: how a send ended (sent, retry, failed, cancelled), the next channel, postponing.
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
  std::optional<SendState> state;
  SendJob job = load_job(send_id, &state);
  if (state != SendState::kSending) return;  // unknown or already settled: nothing to do
  AuditEvent e{.shop = job.shop, .buyer = job.buyer_id, .orders = job.order_ids, .step = job.step,
               .channel = job.channel, .tmpl = job.tmpl, .lang = job.lang, .attempt = job.attempt,
               .send_id = send_id, .steps = job.steps, .actor = job.actor};
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
    // The channel found orders no longer awaiting payment (and the store now knows
    // their status). Those steps end cancelled with that status; the others of a
    // merged message go back to the schedule, due now, to be claimed and rendered
    // again without them. When the store knows of no change, the whole send ends
    // cancelled with the channel's reason.
    std::vector<SendRow> rows = send_rows(send_id);
    bool any_changed =
        std::any_of(rows.begin(), rows.end(), [](const SendRow& r) { return r.status != "awaiting_payment"; });
    if (!any_changed) {
      finish_rows(send_id, StepState::kCancelled, error.empty() ? "paid" : error);
      e.event = "cancelled";
      e.reason = error.empty() ? "paid" : error;
    } else {
      for (const auto& r : rows) {
        if (r.status != "awaiting_payment") {
          set_step_state(r.id, StepState::kCancelled, r.status);
          append_audit(store_, now, {.event = "cancelled", .shop = job.shop, .buyer = job.buyer_id,
                                     .orders = {r.order_id}, .step = r.step, .channel = job.channel,
                                     .send_id = send_id, .reason = r.status, .detail = error});
          continue;
        }
        reschedule_now(r, job, "split_after_verify", now);
      }
      return;
    }
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
                             .reason = why, .due = when, .steps = job.steps});
  tx.commit();
}

}  // namespace nudge
