// Channels deliver one SendJob each and report how it went. Channels are created
// per policy and live on the io_context thread; send() must not block the loop
// (blocking work goes to the service's worker pool) and calls `done` exactly once,
// on the loop thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <utility>  // Boost 1.74's asio/awaitable.hpp needs it first under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <nlohmann/json.hpp>

#include "core/engine.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

using SendDone = std::function<void(Outcome outcome, std::string error)>;

// What a channel learnt about orders while sending (verify_before_send): status
// records for the service to ingest like a source's. Called on the loop thread.
using OrderNews = std::function<void(std::vector<FeedRecord> records)>;

class Channel {
 public:
  virtual ~Channel() = default;
  virtual void send(const SendJob& job, SendDone done) = 0;
};

struct ChannelContext {
  boost::asio::io_context& io;
  boost::asio::thread_pool& workers;  // for blocking calls (libcurl, sendmail)
  const Policy& policy;
  std::string credentials_dir;        // $CREDENTIALS_DIRECTORY, or empty
  Store* store = nullptr;             // for channel caches (AliExpress buyer ids); loop thread only
  OrderNews order_news;               // may be empty: news is then dropped
};

// Builds the channel for `conf`, or returns null with `error` set (missing secret
// file, bad URL). Never throws.
std::unique_ptr<Channel> make_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error);

// The outbox: one JSON file per message in a folder, written unnamed (O_TMPFILE; a
// dot-file where the file system lacks it), flushed to disk and only then named, so a
// reader never sees half a message. Messages handed over in the same turn of the loop
// are written together on the worker pool: the files, one sync of their data, the
// names, one sync of the folder; then each reports. A message reports `sent` only
// once its name is durable.
class OutboxChannel final : public Channel {
 public:
  OutboxChannel(std::string dir, boost::asio::io_context& io, boost::asio::thread_pool& workers);
  void send(const SendJob& job, SendDone done) override;

  struct Item {
    std::string name;
    SendJob job;  // turned into the file's JSON by the worker, off the event loop
    SendDone done;
    Outcome outcome = Outcome::kSent;
    std::string error;
  };
  // Writes a batch into `dir` (blocking); sets each item's outcome.
  static void write_batch(const std::string& dir, std::vector<Item>& items);

 private:
  struct Pending {
    std::vector<Item> items;
    bool busy = false;  // a batch is being written
  };
  static void flush(std::shared_ptr<Pending> pending, const std::string& dir, boost::asio::io_context& io,
                    boost::asio::thread_pool& workers);
  std::string dir_;
  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();  // outlives the channel if need be
};

// Discard: renders and records like any channel, delivers nothing, and reports
// every message as sent (its `sent` audit line says channel_type: discard). For
// trials of a policy on live orders and for benchmarks.
class DiscardChannel final : public Channel {
 public:
  void send(const SendJob& job, SendDone done) override { done(Outcome::kSent, ""); }
};

// The message as the outbox and webhook channels hand it over: send id, idempotency
// key, shop, buyer, orders, step, template, language, attempt, subject, body.
nlohmann::ordered_json message_json(const SendJob& job);

// Reads a secret file (trailing newline removed). Errors name the file, never its content.
bool read_secret(const Policy& policy, const std::string& name, const std::string& credentials_dir,
                 std::string& value, std::string& error);

}  // namespace nudge
