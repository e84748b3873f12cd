#include "daemon/service.h"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <random>

#include <boost/asio/post.hpp>

#include "core/time_util.h"
#include "core/retention.h"
#include "daemon/aliexpress_client.h"
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
constexpr auto kStatusEvery = std::chrono::seconds(5);
constexpr std::uintmax_t kCheckpointWalBytes = 4u << 20;  // ~1000 pages of 4 KiB
constexpr int kRestartFrames = 16384;                       // a WAL of ~64 MiB
constexpr int kRestartWaitMs = 20;
// Sends claimed for one channel that may wait in memory or be in flight at once.
constexpr int kQueueLimit = 2 * kBatch;
constexpr auto kExitGrace = std::chrono::milliseconds(4000);

// COUNT(*) of `sql` with one instant bound. The cached statement is reset even when a
// step throws (a store fault), so that the next scrape or STATUS can use it again.
std::int64_t count_at(Store& store, const char* sql, Millis at) {
  auto& q = store.stmt(sql);
  struct Reset {
    SQLite::Statement& q;
    ~Reset() {
      try {
        q.reset();
      } catch (...) {
      }
    }
  } reset{q};
  q.bind(1, static_cast<int64_t>(at));
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}

std::string join_errors(const std::vector<PolicyError>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e.to_string();
  return out;
}

}  // namespace

Service::Service(Options options)
    : options_(std::move(options)),
      signals_(io_),
      wake_timer_(io_),
      exit_timer_(io_),
      checkpoint_timer_(io_),
      status_timer_(io_),
      prune_timer_(io_) {}

Service::~Service() { workers_.join(); }

// The inbox beside sources that have none: `nudgectl remind` and `orders import` write
// there. It is read every kImplicitInboxEvery, so a manual reminder goes out promptly.
constexpr Millis kImplicitInboxEvery = 2 * kSecond;

bool Service::build_io(const Policy& policy, std::vector<std::unique_ptr<Feed>>& feeds,
                       std::map<std::string, std::shared_ptr<Channel>>& channels, std::string& error) {
  SourceContext sctx{io_, workers_, policy, *store_, options_.credentials_dir};
  std::vector<SourceConf> confs = policy.sources;
  bool has_inbox = std::any_of(confs.begin(), confs.end(), [](const SourceConf& c) { return c.type == "inbox"; });
  if (!has_inbox) {
    SourceConf inbox;
    inbox.every = kImplicitInboxEvery;
    confs.push_back(inbox);
  }
  for (size_t i = 0; i < confs.size(); ++i) {
    auto f = std::make_unique<Feed>();
    f->conf = confs[i];
    f->implicit = i >= policy.sources.size();
    f->source = make_source(f->conf, sctx, error);
    if (!f->source) {
      if (policy.sources.size() > 1) error = f->conf.name + ": " + error;
      return false;
    }
    f->timer = std::make_unique<boost::asio::steady_timer>(io_);
    feeds.push_back(std::move(f));
  }
  ChannelContext cctx{io_, workers_, policy, options_.credentials_dir, store_.get()};
  cctx.order_news = [this](std::vector<FeedRecord> records) { on_order_news(records); };
  for (const auto& [name, conf] : policy.channels) {
    auto ch = make_channel(conf, cctx, error);
    if (!ch) return false;
    channels[name] = std::move(ch);
  }
  return true;
}

bool Service::setup(std::shared_ptr<const Policy> policy, std::string& error) {
  policy_ = std::move(policy);
  Store::Failure failure;
  store_ = Store::open(policy_->store, error, Store::Mode::kReadWrite, Store::kSchemaVersion, &failure);
  if (!store_) {
    if (failure == Store::Failure::kDamaged) setup_exit_ = kExitIoErr;
    return false;
  }
  store_->keep_committed_lines(true);  // the mirror takes them after each commit
  mirror_ = std::make_unique<AuditMirror>(policy_->audit_log);
  if (!mirror_->open(*store_, error)) return false;
  // Metrics count every event committed from here on, as the mirror writes it.
  metrics_ = std::make_unique<Metrics>(io_, [this] { return read_gauges(); });
  mirror_->set_observer([this](std::string_view line) { metrics_->observe(line); });
  set_refresh_hook([this](const IopAuth& auth, bool ok, const std::string& error) { on_token_refresh(auth, ok, error); });
  if (!build_io(*policy_, feeds_, channels_, error)) {
    setup_exit_ = kExitConfig;  // a missing secret or a bad URL is the policy's to fix
    return false;
  }
  sync_gates();
  engine_ = std::make_unique<Engine>(*store_, policy_, clock_);
  engine_->on_progress([this] { notifier_.busy(); });
  try {
    if (int replanned = engine_->start(kVersion))
      log_info("the policy's campaigns or payment times changed since the last run: " + std::to_string(replanned) +
               " pending steps re-planned");
    for (auto& f : feeds_) load_feed_state(*f, *policy_);
  } catch (const std::exception& e) {
    error = std::string("cannot start on the store ") + policy_->store + ": " + e.what();
    return false;
  }
  mirror_->catch_up(*store_);
  if (policy_->store != ":memory:") {
    try {
      store_->db().exec("PRAGMA wal_autocheckpoint=0");
      checkpointer_ = std::make_shared<Checkpointer>();
      checkpointer_->path = policy_->store;
    } catch (const std::exception& e) {
      log_warn(std::string("cannot move WAL checkpoints off the loop: ") + e.what());
    }
  }
  // Buyers' replies posted to the signed webhook are taken at once, each in its own
  // transaction, like a page of one record.
  replies_ = std::make_unique<ReplyListener>(io_, clock_, [this](const ReplyRecord& r) {
    try {
      IngestResult res = engine_->ingest({r});
      store_ok();
      after_commit();
      arm_wake();
      return res;
    } catch (const std::exception& e) {
      store_fault("recording a reply", e);
      throw;
    }
  });
  if (!replies_->apply(*policy_, options_.credentials_dir, error)) {
    setup_exit_ = kExitConfig;
    return false;
  }
  chat_ = std::make_unique<ChatPoller>(io_, clock_, *store_,
                                       [this](const std::vector<FeedRecord>& page, const std::string& source,
                                              const std::string& cursor) {
                                         try {
                                           IngestResult r = engine_->ingest(page, source, cursor);
                                           if (r.replies) log_info("chat: " + std::to_string(r.replies) + " replies");
                                           store_ok();
                                           after_commit();
                                           arm_wake();
                                         } catch (const std::exception& e) {
                                           store_fault("recording a page of chat", e);
                                           throw;
                                         }
                                       });
  if (!chat_->apply(*policy_, options_.credentials_dir, error)) {
    setup_exit_ = kExitConfig;
    return false;
  }
  return metrics_->apply(*policy_, error);
}

int Service::run() {
  auto loaded = load_policy(options_.config_path);
  if (!loaded.ok()) {
    log_error("the policy has errors; not starting:\n" + join_errors(loaded.errors));
    return kExitConfig;
  }
  for (const auto& w : loaded.warnings) log_warn(w.to_string());  // tone, safety.allow: never silent
  // Take the signals before the slow part: one arriving during setup is handled
  // (as a clean stop) once the loop runs, instead of killing the process.
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  signals_.add(SIGUSR1);
  std::string error;
  if (!setup(loaded.policy, error)) {
    log_error(error);
    return setup_exit_;
  }
  // The count the triggers keep (as STATUS= shows it), not a scan of every step ever
  // planned: a big store starts without reading its whole schedule first.
  log_info("nudged " + std::string(kVersion) + " started: policy " + policy_->path + ", store " + policy_->store +
           ", audit " + policy_->audit_log + ", " + std::to_string(engine_->pending()) + " steps pending");
  wait_signal();
  for (auto& f : feeds_) schedule_poll(*f, 0);
  schedule_prune(kSecond);
  arm_wake();
  schedule_checkpoint();
  notifier_.start_watchdog();
  notifier_.ready();
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
  notifier_.stopping();
  metrics_->close();
  if (replies_) replies_->close();
  if (chat_) chat_->stop();
  signals_.cancel();
  for (auto& f : feeds_) f->timer->cancel();
  wake_timer_.cancel();
  checkpoint_timer_.cancel();
  status_timer_.cancel();
  prune_timer_.cancel();
  for (auto& [name, timer] : gate_timers_) timer->cancel();
  release_waiting("shutdown");
  after_commit();
  if (in_flight_ > 0) {
    exit_timer_.expires_after(kExitGrace);
    exit_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) io_.stop();
    });
  }
}

void Service::reload() {
  log_info("SIGHUP: reloading the policy " + options_.config_path);
  notifier_.reloading();
  auto loaded = load_policy(options_.config_path);
  std::string error;
  if (loaded.ok() && (loaded.policy->store != policy_->store || loaded.policy->audit_log != policy_->audit_log)) {
    error = options_.config_path + ": store and audit_log cannot change while nudged runs; restart it instead";
  } else if (!loaded.ok()) {
    error = join_errors(loaded.errors);
  } else {
    for (const auto& w : loaded.warnings) log_warn(w.to_string());
  }
  std::vector<std::unique_ptr<Feed>> feeds;
  std::map<std::string, std::shared_ptr<Channel>> channels;
  if (error.empty() && !build_io(*loaded.policy, feeds, channels, error)) {
  }
  try {
    if (!error.empty()) {
      log_error("the new policy was rejected; keeping the old one:\n" + error);
      engine_->audit_policy_rejected(error);
    } else {
      int replanned = engine_->reload(loaded.policy);
      policy_ = loaded.policy;
      // A source kept (by name) keeps its cursor and a poll in flight; a new one
      // starts from its stored state; a removed one stops.
      for (auto& f : feeds) {
        if (Feed* old = feed_named(f->conf.name); old && old->conf.type == f->conf.type) {
          f->cursor = old->cursor;
          f->last_poll = old->last_poll;
          f->last_error = old->last_error;
          f->polling = old->polling;
        } else {
          load_feed_state(*f, *policy_);
        }
      }
      for (auto& old : feeds_) old->timer->cancel();
      feeds_ = std::move(feeds);
      for (auto& f : feeds_) schedule_poll(*f, 0);
      channels_ = std::move(channels);
      sync_gates();
      log_info("policy reloaded; " + std::to_string(replanned) + " pending steps re-planned");
      std::string metrics_error;
      if (!metrics_->apply(*policy_, metrics_error)) log_error(metrics_error);
      if (!replies_->apply(*policy_, options_.credentials_dir, metrics_error)) log_error(metrics_error);
      if (!chat_->apply(*policy_, options_.credentials_dir, metrics_error)) log_error(metrics_error);
      arm_wake();
    }
    after_commit();
  } catch (const std::exception& e) {
    store_fault("recording the reload", e);
  }
  notifier_.ready();
  notify_status();
}

// Retention (core/retention.h): a small batch at a time, once a minute, or again at
// once while batches come back full. Each batch is its own short transaction, so the
// loop goes on claiming and sending between them.
void Service::schedule_prune(Millis delay) {
  if (stopping_) return;
  prune_timer_.expires_after(std::chrono::milliseconds(delay));
  prune_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) prune();
  });
}

void Service::prune() {
  constexpr Millis kPruneEvery = 60 * kSecond, kPruneAgain = 50;
  if (faulted_) {
    schedule_prune(kPruneEvery);
    return;
  }
  try {
    auto r = prune_step(*store_, *policy_, clock_.now());
    if (r.total() > 0)
      log_info("retention: pruned " + std::to_string(r.orders) + " orders (" + std::to_string(r.steps) + " steps, " +
               std::to_string(r.sends) + " sends, " + std::to_string(r.ledger) + " ledger rows), " +
               std::to_string(r.audit) + " audit rows, " + std::to_string(r.inbox) + " ingested inbox lines");
    schedule_prune(r.more ? kPruneAgain : kPruneEvery);
  } catch (const std::exception& e) {
    store_fault("pruning old rows", e);
    schedule_prune(kPruneEvery);
  }
}

// Every second, once the WAL has grown past SQLite's autocheckpoint size, a worker
// copies it into the database (PASSIVE: it never waits for nor blocks the loop's
// writes). A failure is tried again the next second.
void Service::schedule_checkpoint() {
  if (stopping_ || !checkpointer_) return;
  checkpoint_timer_.expires_after(std::chrono::seconds(1));
  checkpoint_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (!checkpointer_->running) {
      checkpointer_->running = true;
      boost::asio::post(workers_, [c = checkpointer_, &io = io_] {
        try {
          // As SQLite's own autocheckpoint: only once the WAL holds ~1000 pages.
          std::error_code ec;
          auto size = std::filesystem::file_size(c->path + "-wal", ec);
          if (!ec && size >= kCheckpointWalBytes) {
            if (!c->db) c->db = std::make_unique<SQLite::Database>(c->path, SQLite::OPEN_READWRITE, 10000);
            SQLite::Statement passive(*c->db, "PRAGMA wal_checkpoint(PASSIVE)");
            const int frames = passive.executeStep() ? passive.getColumn(1).getInt() : 0;
            passive.reset();
            // While the loop writes without a pause (a big first sync), a passive
            // checkpoint never catches up with it, so the WAL never starts again from
            // its beginning: it grew by gigabytes at a million steps, every write went
            // to new blocks and every page read searched a longer WAL index (the last
            // fifth of such an ingest ran at a third of the first's speed). Past
            // kRestartFrames, the rest is copied with writers held back for that
            // moment (the passive pass above did the bulk), and the next write starts
            // the WAL again from its beginning. Writers wait while it waits for readers
            // of older snapshots to finish: at most kRestartWaitMs, then it gives up
            // (busy) until the next second.
            if (frames >= kRestartFrames) {
              c->db->setBusyTimeout(kRestartWaitMs);
              struct Restore {
                SQLite::Database& db;
                ~Restore() { db.setBusyTimeout(10000); }
              } restore{*c->db};
              SQLite::Statement restart(*c->db, "PRAGMA wal_checkpoint(RESTART)");
              restart.executeStep();
            }
          }
        } catch (const std::exception&) {
          c->db.reset();  // a store fault: the loop reports it on its own writes
        }
        boost::asio::post(io, [c] { c->running = false; });
      });
    }
    schedule_checkpoint();
  });
}

// A source's cursor and last poll as the store has them. The first aliexpress source
// of a `sources:` list takes over the cursor the singular `source:` kept (named
// "aliexpress"), so moving to a list does not read the shop again from scratch.
void Service::load_feed_state(Feed& f, const Policy& policy) {
  auto read = [&](const std::string& name) {
    auto& q = store_->stmt("SELECT cursor, last_poll_at FROM source_state WHERE source=?");
    q.bind(1, name);
    bool found = q.executeStep();
    if (found) {
      if (!q.getColumn(0).isNull()) f.cursor = q.getColumn(0).getString();
      f.last_poll = q.getColumn(1).isNull() ? 0 : q.getColumn(1).getInt64();
    }
    q.reset();
    return found;
  };
  if (read(f.conf.name) || f.conf.type != "aliexpress" || f.conf.name == f.conf.type) return;
  for (const auto& s : policy.sources)
    if (s.type == "aliexpress") {
      if (s.name == f.conf.name) read(f.conf.type);
      break;
    }
}

Service::Feed* Service::feed_named(const std::string& name) {
  for (auto& f : feeds_)
    if (f->conf.name == name) return f.get();
  return nullptr;
}

void Service::schedule_poll(Feed& f, Millis delay) {
  if (stopping_) return;
  f.timer->expires_after(std::chrono::milliseconds(delay));
  f.timer->async_wait([this, name = f.conf.name](const boost::system::error_code& ec) {
    if (ec) return;
    if (Feed* f = feed_named(name)) poll(*f);
  });
}

void Service::poll(Feed& f) {
  if (stopping_ || f.polling) return;
  f.polling = true;
  // The page is matched to its source by name when it comes back: a reload may have
  // replaced the Feed (and kept the name) or removed it (the page is then dropped,
  // its cursor not stored, and nothing is lost).
  f.source->fetch(f.cursor, [this, name = f.conf.name](std::optional<SourcePage> page, std::string error) {
    boost::asio::post(io_, [this, name, page = std::move(page), error = std::move(error)]() mutable {
      on_page(name, std::move(page), error);
    });
  });
}

void Service::on_page(const std::string& name, std::optional<SourcePage> page, const std::string& error) {
  Feed* fp = feed_named(name);
  if (!fp) return;
  Feed& f = *fp;
  f.polling = false;
  f.last_poll = clock_.now();
  Millis next = f.conf.every;
  const std::string prefix = policy_->sources.size() > 1 || f.implicit ? name + ": " : "";
  // The inbox read beside the policy's sources is not one of them: the poll metrics
  // (and the alert on them) are about the sources the seller configured.
  auto count_poll = [&](bool ok) {
    if (!f.implicit) metrics_->poll(ok, name, f.conf.shop);
  };
  if (!page) {
    f.last_error = error;
    log_warn(prefix + "poll failed: " + error);
    count_poll(false);
    try {
      WriteTx tx(*store_);
      auto& s = store_->stmt(
          "INSERT INTO source_state(source, last_poll_at, last_error) VALUES(?,?,?) ON CONFLICT(source) DO UPDATE "
          "SET last_poll_at=excluded.last_poll_at, last_error=excluded.last_error");
      s.bind(1, name);
      s.bind(2, static_cast<int64_t>(f.last_poll));
      s.bind(3, error);
      s.exec();
      tx.commit();
    } catch (const std::exception&) {
    }
  } else if (f.implicit && page->records.empty()) {
    // The inbox read beside the sources, empty: nothing to store (no write, no fsync,
    // every 2 s); its cursor is stored with the first records it brings.
    f.last_error.clear();
  } else {
    f.last_error.clear();
    try {
      bool empty_page = page->records.empty() && page->cursor == f.cursor;
      auto r = engine_->ingest(page->records, name, page->cursor);
      f.cursor = page->cursor;
      if (!empty_page && (r.orders || r.status_changes || r.rejected || r.reminds || r.replies))
        log_info(prefix + "poll: " + std::to_string(r.orders) + " orders, " + std::to_string(r.status_changes) +
                 " status changes, " + std::to_string(r.rejected) + " rejected, " + std::to_string(r.planned_steps) +
                 " steps planned, " + std::to_string(r.cancelled_steps) + " cancelled" +
                 (r.reminds ? ", " + std::to_string(r.reminds) + " manual reminders" : "") +
                 (r.replies ? ", " + std::to_string(r.replies) + " replies" : ""));
      if (page->more) next = 0;
      store_ok();
      count_poll(true);
      after_commit();
      arm_wake();
    } catch (const std::exception& e) {
      store_fault("recording a page of orders", e);
      count_poll(false);  // fetched but not stored: the next poll asks again
      next = kFaultRetry;
    }
  }
  notify_status_soon();
  schedule_poll(f, next);
}

// After a page: STATUS= at most every 5 seconds. Its counts scan the pending steps and
// today's audit, which a first sync of a big shop must not pay for on every page.
void Service::notify_status_soon() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_status_ >= kStatusEvery) {
    notify_status();
    return;
  }
  if (status_pending_ || stopping_) return;
  status_pending_ = true;
  status_timer_.expires_at(last_status_ + kStatusEvery);
  status_timer_.async_wait([this](const boost::system::error_code& ec) {
    status_pending_ = false;
    if (!ec && !stopping_) notify_status();
  });
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
  // Due work held back because its channel has no room: wait for the channel's next
  // token (a report from the channel re-arms sooner).
  else if (!held_.empty() && delay == 0) delay = hold_wait();
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
    std::map<std::string, int> room;
    auto now = TokenBucket::Clock::now();
    int total_room = 0;
    for (const auto& [name, conf] : policy_->channels) total_room += room[name] = gates_[name].room(now, kQueueLimit);
    // The outcomes that came back and the next claim: one transaction, one commit.
    // Each buyer claimed takes room on a channel: no more candidates are read than
    // there is room for (a buyer read and not claimed was half the reads of a run
    // through the outbox, whose queue is full while it writes a batch).
    jobs = engine_->complete_and_claim(pending_completions_, std::min(kBatch, total_room), &room);
    pending_completions_.clear();
    held_.clear();
    if (jobs.empty())
      for (const auto& [name, r] : room)
        if (r <= 0) held_.push_back(name);
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

// Sends go through their channel's gate: a paused channel puts them back for later
// (state `retry`, no attempt counted); otherwise they wait for a token of the
// channel's rate and are delivered in claim order.
void Service::dispatch(std::vector<SendJob> jobs) {
  for (auto& job : jobs) {
    if (!channels_.count(job.channel)) {
      finish_send(job.send_id, Outcome::kPermanent, "channel '" + job.channel + "' is no longer in the policy");
      continue;
    }
    std::string name = job.channel;
    gates_[name].waiting.push_back(std::move(job));
    pump(name);
  }
}

// Gates keep their waiting sends and breaker state across a reload; the rate is
// the policy's.
void Service::sync_gates() {
  for (const auto& [name, conf] : policy_->channels) gates_[name].bucket = TokenBucket(conf.rate_per_sec);
}

void Service::pump(const std::string& name) {
  auto& gate = gates_[name];
  auto now = TokenBucket::Clock::now();
  while (!gate.waiting.empty()) {
    if (gate.paused(now)) {
      Millis until = clock_.now() +
          std::chrono::duration_cast<std::chrono::milliseconds>(gate.paused_until - now).count();
      try {
        for (const auto& job : gate.waiting) engine_->postpone(job.send_id, until, "channel_paused");
        after_commit();
        gate.waiting.clear();
      } catch (const std::exception& e) {
        store_fault("postponing sends of a paused channel", e);
      }
      return;
    }
    auto wait = gate.bucket.take(now);
    if (wait.count() > 0) {
      if (gate.timer_armed || stopping_) return;
      auto& timer = gate_timers_[name];
      if (!timer) timer = std::make_unique<boost::asio::steady_timer>(io_);
      gate.timer_armed = true;
      timer->expires_after(wait);
      timer->async_wait([this, name](const boost::system::error_code& ec) {
        gates_[name].timer_armed = false;
        if (!ec && !stopping_) pump(name);
      });
      return;
    }
    SendJob job = std::move(gate.waiting.front());
    gate.waiting.pop_front();
    deliver(job);
  }
}

void Service::deliver(const SendJob& job) {
  auto it = channels_.find(job.channel);
  if (it == channels_.end()) {
    finish_send(job.send_id, Outcome::kPermanent, "channel '" + job.channel + "' is no longer in the policy");
    return;
  }
  ++in_flight_;
  ++gates_[job.channel].in_flight;
  std::shared_ptr<Channel> ch = it->second;  // keeps it alive across a reload
  std::int64_t id = job.send_id;
  std::string name = job.channel;
  ch->send(job, [this, ch, id, name](Outcome outcome, std::string error) {
    boost::asio::post(io_, [this, id, name, outcome, error = std::move(error)] {
      --in_flight_;
      --gates_[name].in_flight;
      note_outcome(name, outcome);
      finish_send(id, outcome, error);
      if (stopping_ && in_flight_ == 0) exit_timer_.cancel();
    });
  });
}

// The breaker: after kFailuresBeforePause failures in a row a channel rests, for
// longer each time it trips again without a success in between.
void Service::note_outcome(const std::string& name, Outcome outcome) {
  auto& gate = gates_[name];
  if (outcome == Outcome::kSent || outcome == Outcome::kCancelled) {
    gate.consecutive_failures = 0;
    gate.pauses = 0;
    return;
  }
  if (++gate.consecutive_failures < ChannelGate::kFailuresBeforePause) return;
  auto pause = gate.next_pause();
  gate.paused_until = TokenBucket::Clock::now() + pause;
  gate.consecutive_failures = 0;
  ++gate.pauses;
  log_warn("channel '" + name + "' failed " + std::to_string(ChannelGate::kFailuresBeforePause) +
           " times in a row; pausing it for " + format_duration(pause.count()));
  try {
    engine_->audit({.event = "channel_paused", .channel = name, .reason = "failing",
                    .due = clock_.now() + pause.count(),
                    .detail = std::to_string(ChannelGate::kFailuresBeforePause) + " failures in a row"});
  } catch (const std::exception& e) {
    store_fault("auditing a channel pause", e);
  }
}

// At shutdown, sends still waiting for a token were never tried: they go back to
// `retry` so that the next start sends them, instead of calling them in doubt.
void Service::release_waiting(const std::string& why) {
  for (auto& [name, gate] : gates_) {
    try {
      for (const auto& job : gate.waiting) engine_->postpone(job.send_id, clock_.now(), why);
      gate.waiting.clear();
    } catch (const std::exception& e) {
      log_error("could not put back waiting sends of channel '" + name + "': " + e.what());
    }
  }
}

// Outcomes reported together (a batch of outbox files, say) are recorded in one
// transaction: the first report posts the flush, the others join it.
void Service::finish_send(std::int64_t send_id, Outcome outcome, const std::string& error) {
  if (outcome != Outcome::kSent) log_warn("send " + std::to_string(send_id) + " did not go through: " + error);
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 0.25);
  pending_completions_.push_back({send_id, outcome, error, jitter(rng)});
  held_.clear();  // a channel has room again
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(io_, [this] {
    flush_posted_ = false;
    if (!stopping_ && !faulted_) {
      // Recorded together with the next claim (on_wake), in one transaction.
      on_wake();
      return;
    }
    try {
      flush_completions();
      store_ok();
      after_commit();
    } catch (const std::exception& e) {
      store_fault("recording a send's outcome", e);
    }
    if (!stopping_) arm_wake();
  });
}

// All pending outcomes in one transaction; on a store fault none is recorded and
// all stay pending.
void Service::flush_completions() {
  if (pending_completions_.empty()) return;
  engine_->complete_all(pending_completions_);
  pending_completions_.clear();
}

// How long until a channel that had no room at the last claim has a token again. A
// channel that was full of sends in flight gets room when one reports, and that
// report re-arms the wake.
Millis Service::hold_wait() const {
  Millis wait = kMaxWake;
  auto now = TokenBucket::Clock::now();
  for (const auto& name : held_) {
    auto it = gates_.find(name);
    if (it != gates_.end() && it->second.bucket.limited())
      wait = std::min<Millis>(wait, std::max<Millis>(1, it->second.bucket.until_next(now).count()));
  }
  return wait;
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
  if (metrics_) metrics_->store_fault();
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

// STATUS= is what `systemctl status nudged` shows: pending steps, reminders sent
// since UTC midnight, and when the source was last polled.
void Service::notify_status() {
  last_status_ = std::chrono::steady_clock::now();
  try {
    std::int64_t pending = engine_->pending();
    Millis now = clock_.now();
    std::int64_t sent_today =
        count_at(*store_, "SELECT COALESCE(SUM(n), 0) FROM audit_daily WHERE event='sent' AND day = ?",
                 now / (24 * 3600 * kSecond));
    // The policy's first source speaks for the poll; a failure of any source shows.
    const Feed& first = *feeds_.front();
    bool failed = std::any_of(feeds_.begin(), feeds_.end(), [](const auto& f) { return !f->last_error.empty(); });
    notifier_.status(std::to_string(pending) + " pending, " + std::to_string(sent_today) + " sent today, last poll " +
                     describe_age(first.last_poll ? now - first.last_poll : -1) + (faulted_ ? ", STORE FAULT" : "") +
                     (failed ? ", last poll failed" : ""));
  } catch (const std::exception&) {
  }
}

// News a channel learnt while sending (verify_before_send found an order paid):
// stored like a source's records, before the channel's outcome is recorded.
void Service::on_order_news(const std::vector<FeedRecord>& records) {
  try {
    auto r = engine_->ingest(records, "verify_before_send");
    log_info("verify_before_send: " + std::to_string(r.status_changes) + " orders no longer awaiting payment");
    after_commit();
  } catch (const std::exception& e) {
    store_fault("recording what verify_before_send found", e);
  }
}

// A token refresh: audited when it worked (never the token itself), logged when not.
void Service::on_token_refresh(const IopAuth& auth, bool ok, const std::string& error) {
  if (!ok) {
    log_warn("refreshing the access token of shop '" + auth.shop + "' failed: " + error);
    return;
  }
  if (!error.empty()) log_warn(error);
  try {
    engine_->audit({.event = "token_refreshed", .shop = auth.shop,
                    .due = auth.tokens.expires_at.value_or(0),
                    .detail = auth.tokens.expires_at ? "expires " + format_instant(*auth.tokens.expires_at) : ""});
    after_commit();
  } catch (const std::exception& e) {
    store_fault("auditing a token refresh", e);
  }
  log_info("refreshed the access token of shop '" + auth.shop + "'" +
           (auth.tokens.expires_at ? "; it expires " + format_instant(*auth.tokens.expires_at) : ""));
}

Metrics::Gauges Service::read_gauges() {
  Metrics::Gauges g;
  for (const auto& [shop, expiry] : token_expiries()) g.token_expiry_seconds[shop] = static_cast<double>(expiry) / 1000.0;
  Millis now = clock_.now();
  g.pending_steps = engine_->pending();
  g.due_backlog = count_at(*store_, "SELECT COUNT(*) FROM schedule WHERE state='scheduled' AND due_at <= ?", now);
  // The stalest source: one that stopped polling shows, however many others work.
  for (const auto& f : feeds_) {
    if (!f->last_poll || f->implicit) continue;
    double age = static_cast<double>(now - f->last_poll) / 1000.0;
    if (!g.last_poll_age_seconds || age > *g.last_poll_age_seconds) g.last_poll_age_seconds = age;
    g.source_poll_age_seconds[{f->conf.name, f->conf.shop}] = age;
  }
  g.open_flags = count_at(*store_, "SELECT COUNT(*) FROM flags WHERE cleared_at IS NULL AND ? >= 0", now);
  return g;
}

}  // namespace nudge
