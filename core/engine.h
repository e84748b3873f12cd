// Engine: the decisions. Ingests pages of feed records, plans reminder steps,
// claims due steps (caps, quiet hours, opt-out, merge, misfires), and records how
// sends ended. Every state change writes its audit row in the same transaction,
// and a send is committed as `sending` (with its ledger row) before any channel is
// called. Holds no per-order state in memory: the store is the truth.
// Not thread-safe: the daemon calls it only from the io_context thread.
//
// One concept per file: engine.cpp (start, stop, queries), engine_ingest.cpp (pages
// of records, planning), engine_claim.cpp (the decisions: due steps and retries into
// sends), engine_complete.cpp (how sends ended), engine_reload.cpp (a new policy).
//
// Store faults: every public call that writes is one transaction (BEGIN IMMEDIATE …
// COMMIT). When the store fails (disk full, read-only file, lock timeout) the call
// throws the SQLite exception and changes nothing: the transaction is rolled back,
// and in memory too the engine is as before (reload installs its new policy only
// after the commit). The caller may simply try again later.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/audit.h"
#include "core/clock.h"
#include "core/feed.h"
#include "core/policy.h"
#include "core/replies.h"
#include "core/states.h"
#include "core/store.h"

namespace nudge {

// One message to deliver: what a channel needs, and nothing it must look up.
struct SendJob {
  std::int64_t send_id = 0;
  std::string shop, buyer_id, buyer_name, buyer_email;
  std::vector<std::string> order_ids;
  std::string step, channel, tmpl, lang;
  int attempt = 1;
  std::string idempotency_key;
  std::string subject, body;
  std::map<std::string, std::string> steps;  // order -> step, when the orders are at different steps
  std::string actor;  // a manual reminder: the Unix user who asked (audit only)
};

enum class Outcome {
  kSent,       // delivered
  kTransient,  // try again later (timeout, throttling, 5xx)
  kPermanent,  // will never work (4xx, bad address)
  kCancelled,  // verify_before_send found the order no longer awaiting payment
};

struct IngestResult {
  int orders = 0, status_changes = 0, rejected = 0, planned_steps = 0, cancelled_steps = 0;
  int reminds = 0;  // manual reminders scheduled (refused ones count as rejected)
  int replies = 0, duplicate_replies = 0;  // reply records taken, and those whose message id was taken before
};

struct Counts {  // for summaries and STATUS=
  std::int64_t scheduled = 0, sending = 0, sent = 0, failed = 0, skipped = 0, cancelled = 0, in_doubt = 0;
};

class Engine {
 public:
  Engine(Store& store, std::shared_ptr<const Policy> policy, Clock& clock);

  const Policy& policy() const { return *policy_; }
  std::shared_ptr<const Policy> policy_ptr() const { return policy_; }

  // Swaps in a new, already valid policy; when its campaigns or payment times plan
  // differently from the store's last plan, re-plans the pending steps of orders still
  // awaiting payment (steps already sent stay sent, matched by name; a step the new
  // plan leaves as it was is not touched). Audits policy_loaded. Returns how many
  // steps were re-planned.
  int reload(std::shared_ptr<const Policy> policy);
  void audit_policy_rejected(const std::string& errors);

  // Writes `started` and `policy_loaded`. Sends left in `sending` by a crash become
  // `in_doubt` (counted, never resent), or, on at_least_once channels, go back to
  // `retry` due now, to be sent again with the same idempotency key. A policy whose
  // plan changed while nudged was stopped re-plans the pending steps as a reload
  // would. Returns how many steps were re-planned.
  int start(const std::string& version);

  // Called now and then during a long pass that holds the loop (a re-plan of many
  // steps): the daemon tells systemd it is alive and busy, not stuck.
  void on_progress(std::function<void()> f) { progress_ = std::move(f); }
  void stop();

  // One transaction: the page, its audit rows and the new cursor of `source`.
  IngestResult ingest(const std::vector<FeedRecord>& records, const std::string& source = "",
                      const std::optional<std::string>& cursor = std::nullopt);

  // Takes up to `batch` buyers with due steps and decides for each; returns the
  // sends committed as `sending`, ready for their channels. Also re-sends retries
  // that are due; a retry goes through the same checks as a first send (the order
  // still awaits payment, not too close to its close, the buyer not opted out nor
  // paid recently, quiet hours, the buyer's windows).
  // `room`, when given, says per channel how many sends it can take now (a channel
  // not in it takes any number); each claimed send takes one. Steps and retries of a
  // channel without room are left as they are (scheduled, retry), unaudited, for a
  // later claim: nothing waits in memory as `sending` that the channel cannot take.
  std::vector<SendJob> claim_due(int batch = 100, std::map<std::string, int>* room = nullptr);

  // Records how a send ended. kTransient schedules a retry with exponential backoff
  // (`jitter` in [0,1) spreads retries; pass 0 for none) until retries.max.
  void complete(std::int64_t send_id, Outcome outcome, const std::string& error = "", double jitter = 0);

  // Several outcomes in one transaction (all or none), in order.
  struct Completion {
    std::int64_t send_id = 0;
    Outcome outcome = Outcome::kSent;
    std::string error;
    double jitter = 0;
  };
  void complete_all(const std::vector<Completion>& done);

  // complete_all(done), then claim_due(batch, room), in one transaction: the daemon's
  // usual turn (outcomes came back and more is due) commits once, not twice. All or
  // nothing: on a store fault no outcome is recorded and nothing is claimed.
  std::vector<SendJob> complete_and_claim(const std::vector<Completion>& done, int batch,
                                          std::map<std::string, int>* room = nullptr);

  // Puts a send whose channel is paused back to `retry` at `when` without counting an attempt.
  void postpone(std::int64_t send_id, Millis when, const std::string& why);

  // The earliest instant something is due (a scheduled step or a retry).
  std::optional<Millis> next_due();

  Counts counts();  // reads every step: for summaries, not for every page
  // Steps scheduled and not yet claimed (one row kept by triggers: any size, at once).
  std::int64_t pending();

  // Appends one event (in its own transaction) — for events the daemon owns.
  void audit(const AuditEvent& e);

  // Opt-out list.
  void opt_out(const std::string& shop, const std::string& buyer, bool add);

  // Clears an open flag (a reply that asked to pay or talk off the platform; see
  // engine_replies.cpp). When the buyer has no other open flag, their held steps are
  // scheduled again (due at once if their time has passed). `actor` is who cleared
  // it. Returns the number of steps scheduled again, or -1 when no open flag has `id`.
  int clear_flag(std::int64_t id, const std::string& actor);

 private:
  std::function<void()> progress_;
  // Re-plans for `next` when its plan (campaigns, payment times) differs from the one
  // the store last recorded (meta `plan`; `known` stands in when there is none, or
  // null: then nothing is re-planned), and records `next`'s. In the caller's write
  // transaction. engine_reload.cpp.
  int sync_plan(const Policy& next, Millis now, const Policy* known);
  int replan(const Policy& next, Millis now);
  struct SendRow {  // one order of a send, with what a retry or a fallback needs
    std::int64_t id;
    std::string order_id, campaign, step, status, country, tz, email;
    Millis closes_at;
  };
  std::vector<SendRow> send_rows(std::int64_t send_id);
  void plan_order(const OrderRecord& o, Millis closes_at, const Campaign* c, IngestResult& r);
  // A `remind` record (engine_manual.cpp): a schedule row with step `manual`, due now.
  void ingest_remind(const RemindRecord& m, IngestResult& r);
  // A manual row's step (the channel and template asked for) and actor, read once
  // per claim; the Step stays valid until the next claim_due.
  struct ManualRow {
    Step step;
    std::string actor;
  };
  const ManualRow& manual_row(std::int64_t row_id);
  std::map<std::int64_t, ManualRow> manual_rows_;  // cleared by each claim_due
  int cancel_order_steps(const std::string& shop, const std::string& order_id, const std::string& buyer,
                         const std::string& reason);
  void claim_buyer(const std::string& shop, const std::string& buyer, std::vector<SendJob>& jobs);
  std::optional<SendJob> claim_retry(std::int64_t send_id, std::map<std::string, int>* room);
  void complete_in_tx(std::int64_t send_id, Outcome outcome, const std::string& error, double jitter);
  // Why no reminder may go to this buyer now, whatever the order: "opted_out",
  // "off_platform_request:<category>" (an open flag: the step is held, not skipped),
  // "paid_recently", or empty. Shared by first sends and retries.
  std::string buyer_hold(const std::string& shop, const std::string& buyer, Millis now);
  // How long the buyer's latest reply holds automatic steps back (a promise, any other
  // reply), or nothing. Beside buyer_hold: first sends only.
  std::optional<ReplyWait> buyer_reply_wait(const std::string& shop, const std::string& buyer, Millis now);
  // A reply record of a page being ingested (engine_replies.cpp).
  void take_reply(const ReplyRecord& reply, IngestResult& r);
  // A send as its channel gets it. With `state`: only a send in state sending is
  // loaded, without its subject and body, and `state` says what the send's state is
  // (nullopt: no such send).
  SendJob load_job(std::int64_t send_id, std::optional<SendState>* state = nullptr);
  // The buyer's ledger times (ascending) within the longest of limits.per_buyer's
  // windows, leaving out `except_send`'s (a retry's own reservation): for allowed_at().
  std::vector<Millis> buyer_ledger(const std::string& shop, const std::string& buyer, Millis now,
                                   std::int64_t except_send);
  void fall_to_next_channel(std::int64_t send_id, const SendJob& job, const std::string& reason);
  void finish_rows(std::int64_t send_id, StepState state, const std::string& reason);
  static const Campaign* match_campaign(const Policy& p, const OrderRecord& o);
  void set_step_state(std::int64_t row_id, StepState state, const std::string& reason);
  // Puts one order's step of a send back to the schedule, due now, for a fresh claim
  // (audit `scheduled` with `reason`): what a split send does with the orders it keeps.
  void reschedule_now(const SendRow& r, const SendJob& job, const std::string& reason, Millis now);
  // Adds step `step_index` of `campaign` for an order, `scheduled` at `due`; false when
  // the order already has that step (a repeated record).
  bool insert_step(const std::string& shop, const std::string& order_id, const std::string& buyer,
                   const std::string& campaign, const std::string& step, int step_index, Millis due, Millis now);

  Store& store_;
  std::shared_ptr<const Policy> policy_;
  Clock& clock_;
  std::map<std::string, int>* room_ = nullptr;  // during claim_due: per-channel room
  // The id the next send gets, valid for the write transaction `tx` of the store
  // (the transaction holds the write lock: no one else adds sends meanwhile).
  struct NextSendId {
    std::uint64_t tx = 0;
    std::int64_t id = 0;
  } next_send_id_;
};

}  // namespace nudge
