// Service: the nudged event loop. One io_context, one thread: a poll timer for the
// source, one wake timer for the earliest due step, the channels, the signals and
// the audit mirror. Blocking channel work runs on a small worker pool and posts its
// result back. Construct, then run() on the thread that will own it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <utility>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/clock.h"
#include "core/engine.h"
#include "core/policy.h"
#include "core/store.h"
#include "daemon/audit_mirror.h"
#include "daemon/aliexpress_client.h"
#include "daemon/channel.h"
#include "daemon/channel_gate.h"
#include "daemon/metrics.h"
#include "daemon/chat_poller.h"
#include "daemon/notify.h"
#include "daemon/reply_listener.h"
#include "daemon/source.h"

namespace nudge {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr int kExitConfig = 78;    // EX_CONFIG
inline constexpr int kExitSoftware = 70;  // EX_SOFTWARE
inline constexpr int kExitCantCreate = 73;
inline constexpr int kExitIoErr = 74;      // EX_IOERR: the store file is damaged or not ours

class Service {
 public:
  struct Options {
    std::string config_path;
    std::string credentials_dir;  // $CREDENTIALS_DIRECTORY
  };

  explicit Service(Options options);
  ~Service();

  // Sets everything up, reports READY, runs until SIGTERM/SIGINT. Returns the exit code.
  int run();

 private:
  bool setup(std::shared_ptr<const Policy> policy, std::string& error);
  // One polled source of the policy's `sources` (and the inbox, always: manual
  // reminders and imports arrive there). Each has its own timer, cursor and last poll.
  struct Feed {
    SourceConf conf;
    std::unique_ptr<Source> source;
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::optional<std::string> cursor;
    Millis last_poll = 0;
    std::string last_error;
    bool polling = false;
    bool implicit = false;  // the inbox added beside sources that have none
  };
  bool build_io(const Policy& policy, std::vector<std::unique_ptr<Feed>>& feeds,
                std::map<std::string, std::shared_ptr<Channel>>& channels, std::string& error);
  void load_feed_state(Feed& f, const Policy& policy);
  Feed* feed_named(const std::string& name);
  void schedule_poll(Feed& f, Millis delay);
  void schedule_prune(Millis delay);
  void prune();
  void poll(Feed& f);
  void on_page(const std::string& feed, std::optional<SourcePage> page, const std::string& error);
  void on_order_news(const std::vector<FeedRecord>& records);
  void on_token_refresh(const IopAuth& auth, bool ok, const std::string& error);
  void arm_wake();
  void on_wake();
  void dispatch(std::vector<SendJob> jobs);
  void pump(const std::string& channel);
  void sync_gates();
  void deliver(const SendJob& job);
  void note_outcome(const std::string& channel, Outcome outcome);
  void release_waiting(const std::string& why);
  void finish_send(std::int64_t send_id, Outcome outcome, const std::string& error);
  void flush_completions();
  void wait_signal();
  void on_signal(int signo);
  void reload();
  void begin_shutdown();
  void after_commit();
  void store_fault(const std::string& what, const std::exception& e);
  void store_ok();
  void notify_status();
  void notify_status_soon();
  Metrics::Gauges read_gauges();

  Options options_;
  boost::asio::io_context io_;
  boost::asio::thread_pool workers_{2};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer wake_timer_, exit_timer_, checkpoint_timer_, status_timer_,
      prune_timer_;
  SystemClock clock_;
  std::shared_ptr<const Policy> policy_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<AuditMirror> mirror_;
  std::vector<std::unique_ptr<Feed>> feeds_;  // the policy's sources in order, then the implicit inbox
  std::map<std::string, std::shared_ptr<Channel>> channels_;
  std::map<std::string, ChannelGate> gates_;  // rate limit, waiting sends, breaker
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> gate_timers_;
  Notifier notifier_{io_};            // sd_notify: READY, RELOADING, STOPPING, STATUS, WATCHDOG
  std::unique_ptr<Metrics> metrics_;  // /metrics, fed by the audit mirror
  std::unique_ptr<ReplyListener> replies_;  // POST /replies (replies.listen), into the engine
  std::unique_ptr<ChatPoller> chat_;        // AliExpress buyer chat, read for replies

  Millis hold_wait() const;
  void schedule_checkpoint();

  std::vector<Engine::Completion> pending_completions_;  // outcomes not yet recorded
  // The WAL is checkpointed by a worker on its own connection, not by the commit
  // that happens to cross the threshold on the loop thread (a stall of a claim).
  struct Checkpointer {
    std::string path;
    std::unique_ptr<SQLite::Database> db;  // opened by the worker on first use
    bool running = false;                  // loop thread only
  };
  std::shared_ptr<Checkpointer> checkpointer_;
  std::chrono::steady_clock::time_point last_status_{};
  bool status_pending_ = false;
  bool flush_posted_ = false;  // a flush of pending_completions_ is queued on the loop
  std::vector<std::string> held_;  // channels without room when the last claim took nothing
  int in_flight_ = 0;
  int setup_exit_ = kExitCantCreate;  // what a failed setup exits with
  bool stopping_ = false;
  bool faulted_ = false;
};

}  // namespace nudge
