#include "daemon/service.h"

#include <csignal>
#include <random>

#include <systemd/sd-daemon.h>
#include <boost/asio/post.hpp>

#include "core/time_util.h"
#include "daemon/log.h"

namespace nudge {

// How the loop works
// ------------------
// Everything happens on the io_context thread, one handler at a time:
//  - poll(): every source.every, fetch a page since the stored cursor and hand it to
//    Engine::ingest (one transaction with the new cursor); fetch again at once while
//    the source says more pages are ready.
//  - on_wake(): the wake timer is armed for Engine::next_due(). When it fires, claim a
//    batch (committed as `sending` with ledger rows) and hand each job to its channel.
//    A full batch re-arms immediately; otherwise the timer goes to the next due row.
//  - finish_send(): a channel reports; Engine::complete records it.
//  - After every commit the audit mirror catches up with the table.
// Store faults (disk full, read-only file, lock timeouts) stop claiming and sending:
// nothing is sent that cannot be recorded. Outcomes that could not be recorded are
// kept in memory and written when the store works again. While faulted, the wake
// timer and the poll retry every kFaultRetry; the first write that commits again
// (store_ok) logs that sending resumes.
//
// Shutdown (SIGTERM/SIGINT): stop polling and claiming, cancel the timers, let sends
// in flight report (bounded by an exit timer), write `stopped`, let run() return.

namespace {
constexpr Millis kMaxWake = 60 * kSecond;    // re-check at least this often
// After a store fault: a failed write is cheap, so retry often and resume soon after
// the fault clears (a lock is already waited for by busy_timeout, 10 s).
constexpr Millis kFaultRetry = 1 * kSecond;
constexpr int kBatch = 200;
constexpr auto kExitGrace = std::chrono::milliseconds(4000);

std::string join_errors(const std::vector<PolicyError>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e.to_string();
  return out;
}

}  // namespace

Service::Service(Options options)
    : options_(std::move(options)),
      signals_(io_),
      poll_timer_(io_),
      wake_timer_(io_),
      exit_timer_(io_) {}

Service::~Service() { workers_.join(); }

bool Service::build_io(const Policy& policy, std::unique_ptr<Source>& source,
                       std::map<std::string, std::shared_ptr<Channel>>& channels, std::string& error) {
  SourceContext sctx{io_, workers_, policy, *store_, options_.credentials_dir};
  source = make_source(policy.source, sctx, error);
  if (!source) return false;
  ChannelContext cctx{io_, workers_, policy, options_.credentials_dir};
  for (const auto& [name, conf] : policy.channels) {
    auto ch = make_channel(conf, cctx, error);
    if (!ch) return false;
    channels[name] = std::move(ch);
  }
  return true;
}

bool Service::setup(std::shared_ptr<const Policy> policy, std::string& error) {
  policy_ = std::move(policy);
  store_ = Store::open(policy_->store, error);
  if (!store_) return false;
  mirror_ = std::make_unique<AuditMirror>(policy_->audit_log);
  if (!mirror_->open(*store_, error)) return false;
  if (!build_io(*policy_, source_, channels_, error)) return false;
  engine_ = std::make_unique<Engine>(*store_, policy_, clock_);
  try {
    engine_->start(kVersion);
    auto& q = store_->stmt("SELECT cursor, last_poll_at FROM source_state WHERE source=?");
    q.bind(1, policy_->source.type);
    if (q.executeStep()) {
      if (!q.getColumn(0).isNull()) cursor_ = q.getColumn(0).getString();
      last_poll_ = q.getColumn(1).isNull() ? 0 : q.getColumn(1).getInt64();
    }
    q.reset();
  } catch (const std::exception& e) {
    error = std::string("cannot start on the store ") + policy_->store + ": " + e.what();
    return false;
  }
  mirror_->catch_up(*store_);
  return true;
}

int Service::run() {
  auto loaded = load_policy(options_.config_path);
  if (!loaded.ok()) {
    log_error("the policy has errors; not starting:\n" + join_errors(loaded.errors));
    return kExitConfig;
  }
  // Take the signals before the slow part: one arriving during setup is handled
  // (as a clean stop) once the loop runs, instead of killing the process.
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  signals_.add(SIGUSR1);
  std::string error;
  if (!setup(loaded.policy, error)) {
    log_error(error);
    return kExitCantCreate;
  }
  auto c = engine_->counts();
  log_info("nudged " + std::string(kVersion) + " started: policy " + policy_->path + ", store " + policy_->store +
           ", audit " + policy_->audit_log + ", " + std::to_string(c.scheduled) + " steps pending");
  wait_signal();
  schedule_poll(0);
  arm_wake();
  sd_notify(0, "READY=1");
  notify_status();
  io_.run();

  // The loop has drained: everything in flight reported or the exit grace ran out.
  try {
    flush_completions();
    engine_->stop();
    mirror_->catch_up(*store_);
  } catch (const std::exception& e) {
    log_error(std::string("could not record the stop: ") + e.what());
  }
  if (in_flight_ > 0)
    log_warn(std::to_string(in_flight_) + " sends were still in flight at exit; they become in_doubt at next start");
  log_info("nudged stopped");
  return 0;
}

void Service::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    on_signal(signo);
    if (!stopping_) wait_signal();  // re-arm after every signal, as Kea does
  });
}

void Service::on_signal(int signo) {
  switch (signo) {
    case SIGTERM:
    case SIGINT:
      log_info(std::string("received ") + (signo == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
      begin_shutdown();
      break;
    case SIGHUP:
      reload();
      break;
    case SIGUSR1: {
      std::string error;
      if (mirror_->reopen(*store_, error))
        log_info("reopened the audit log " + mirror_->path());
      else
        log_error(error);
      break;
    }
  }
}

void Service::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  sd_notify(0, "STOPPING=1");
  signals_.cancel();
  poll_timer_.cancel();
  wake_timer_.cancel();
  if (in_flight_ > 0) {
    exit_timer_.expires_after(kExitGrace);
    exit_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) io_.stop();
    });
  }
}

void Service::reload() {
  log_info("SIGHUP: reloading the policy " + options_.config_path);
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", static_cast<unsigned long long>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count()));
  auto loaded = load_policy(options_.config_path);
  std::string error;
  if (loaded.ok() && (loaded.policy->store != policy_->store || loaded.policy->audit_log != policy_->audit_log)) {
    error = options_.config_path + ": store and audit_log cannot change while nudged runs; restart it instead";
  } else if (!loaded.ok()) {
    error = join_errors(loaded.errors);
  }
  std::unique_ptr<Source> source;
  std::map<std::string, std::shared_ptr<Channel>> channels;
  if (error.empty() && !build_io(*loaded.policy, source, channels, error)) {
  }
  try {
    if (!error.empty()) {
      log_error("the new policy was rejected; keeping the old one:\n" + error);
      engine_->audit_policy_rejected(error);
    } else {
      bool source_changed = loaded.policy->source.type != policy_->source.type;
      int replanned = engine_->reload(loaded.policy);
      policy_ = loaded.policy;
      source_ = std::move(source);
      channels_ = std::move(channels);
      if (source_changed) cursor_.reset();
      log_info("policy reloaded; " + std::to_string(replanned) + " pending steps re-planned");
      arm_wake();
    }
    after_commit();
  } catch (const std::exception& e) {
    store_fault("recording the reload", e);
  }
  sd_notify(0, "READY=1");
  notify_status();
}

void Service::schedule_poll(Millis delay) {
  if (stopping_) return;
  poll_timer_.expires_after(std::chrono::milliseconds(delay));
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
}

void Service::poll() {
  if (stopping_ || polling_) return;
  polling_ = true;
  source_->fetch(cursor_, [this](std::optional<SourcePage> page, std::string error) {
    boost::asio::post(io_, [this, page = std::move(page), error = std::move(error)]() mutable {
      on_page(std::move(page), error);
    });
  });
}

void Service::on_page(std::optional<SourcePage> page, const std::string& error) {
  polling_ = false;
  last_poll_ = clock_.now();
  Millis next = policy_->source.every;
  if (!page) {
    last_poll_error_ = error;
    log_warn("poll failed: " + error);
    try {
      WriteTx tx(*store_);
      auto& s = store_->stmt(
          "INSERT INTO source_state(source, last_poll_at, last_error) VALUES(?,?,?) ON CONFLICT(source) DO UPDATE "
          "SET last_poll_at=excluded.last_poll_at, last_error=excluded.last_error");
      s.bind(1, policy_->source.type);
      s.bind(2, static_cast<int64_t>(last_poll_));
      s.bind(3, error);
      s.exec();
      tx.commit();
    } catch (const std::exception&) {
    }
  } else {
    last_poll_error_.clear();
    try {
      bool empty_page = page->records.empty() && page->cursor == cursor_;
      auto r = engine_->ingest(page->records, policy_->source.type, page->cursor);
      cursor_ = page->cursor;
      if (!empty_page && (r.orders || r.status_changes || r.rejected))
        log_info("poll: " + std::to_string(r.orders) + " orders, " + std::to_string(r.status_changes) +
                 " status changes, " + std::to_string(r.rejected) + " rejected, " + std::to_string(r.planned_steps) +
                 " steps planned, " + std::to_string(r.cancelled_steps) + " cancelled");
      if (page->more) next = 0;
      store_ok();
      after_commit();
      arm_wake();
    } catch (const std::exception& e) {
      store_fault("recording a page of orders", e);
      next = kFaultRetry;
    }
  }
  notify_status();
  schedule_poll(next);
}

void Service::arm_wake() {
  if (stopping_) return;
  Millis delay = kMaxWake;
  try {
    if (auto due = engine_->next_due()) delay = std::clamp<Millis>(*due - clock_.now(), 0, kMaxWake);
  } catch (const std::exception& e) {
    store_fault("finding the next due step", e);
    delay = kFaultRetry;
  }
  // While faulted, or with outcomes still to record, try again every kFaultRetry:
  // neither sooner (no spinning on a broken store) nor later (resume soon after).
  if (faulted_ || !pending_completions_.empty()) delay = kFaultRetry;
  wake_timer_.expires_after(std::chrono::milliseconds(delay));
  wake_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_wake();
  });
}

void Service::on_wake() {
  if (stopping_) return;
  std::vector<SendJob> jobs;
  try {
    bool wrote = !pending_completions_.empty();
    flush_completions();
    jobs = engine_->claim_due(kBatch);
    // Only a commit proves the store writable again; an empty claim writes nothing.
    if (wrote || !jobs.empty()) store_ok();
  } catch (const std::exception& e) {
    store_fault("claiming due reminders", e);
    arm_wake();
    return;
  }
  after_commit();
  dispatch(std::move(jobs));
  arm_wake();
}

void Service::dispatch(std::vector<SendJob> jobs) {
  for (auto& job : jobs) {
    auto it = channels_.find(job.channel);
    if (it == channels_.end()) {
      finish_send(job.send_id, Outcome::kPermanent, "channel '" + job.channel + "' is no longer in the policy");
      continue;
    }
    ++in_flight_;
    std::shared_ptr<Channel> ch = it->second;  // keeps it alive across a reload
    std::int64_t id = job.send_id;
    ch->send(job, [this, ch, id](Outcome outcome, std::string error) {
      boost::asio::post(io_, [this, id, outcome, error = std::move(error)] {
        --in_flight_;
        finish_send(id, outcome, error);
        if (stopping_ && in_flight_ == 0) exit_timer_.cancel();
      });
    });
  }
}

void Service::finish_send(std::int64_t send_id, Outcome outcome, const std::string& error) {
  if (outcome != Outcome::kSent) log_warn("send " + std::to_string(send_id) + " did not go through: " + error);
  pending_completions_.push_back({send_id, outcome, error});
  try {
    flush_completions();
    store_ok();
    after_commit();
  } catch (const std::exception& e) {
    store_fault("recording a send's outcome", e);
  }
  if (!stopping_) arm_wake();
}

void Service::flush_completions() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 0.25);
  while (!pending_completions_.empty()) {
    const auto& c = pending_completions_.front();
    engine_->complete(c.send_id, c.outcome, c.error, jitter(rng));
    pending_completions_.erase(pending_completions_.begin());
  }
}

void Service::after_commit() {
  try {
    mirror_->catch_up(*store_);
  } catch (const std::exception& e) {
    log_error(std::string("audit mirror: ") + e.what());
  }
}

void Service::store_fault(const std::string& what, const std::exception& e) {
  if (!faulted_) log_error("store fault while " + what + ": " + e.what() + "; sending is paused until it clears");
  faulted_ = true;
}

// A write committed: if the store was faulted, say that it works again.
void Service::store_ok() {
  if (!faulted_) return;
  faulted_ = false;
  log_info("store is writable again; sending resumes" +
           (pending_completions_.empty() ? std::string() : " (" + std::to_string(pending_completions_.size()) +
                                                               " outcomes still to record)"));
  notify_status();
}

void Service::notify_status() {
  try {
    auto c = engine_->counts();
    std::string s = "STATUS=" + std::to_string(c.scheduled) + " pending, " + std::to_string(c.sent) + " sent" +
                    (faulted_ ? ", STORE FAULT" : "") +
                    (last_poll_error_.empty() ? "" : ", last poll failed");
    sd_notify(0, s.c_str());
  } catch (const std::exception&) {
  }
}

}  // namespace nudge
