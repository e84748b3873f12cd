// Metrics: Prometheus text-format metrics for nudged, served by a tiny HTTP server on
// 127.0.0.1:<metrics.port>/metrics. Counters are fed by observe(), called with every
// audit line the audit mirror writes, so each committed event is counted once; gauges
// are read at scrape time through a callback. Counters start at zero with the process.
// Use only from the io_context thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <utility>
#include <boost/asio/io_context.hpp>

#include "core/policy.h"

namespace nudge {

class Metrics {
 public:
  struct Gauges {
    std::int64_t pending_steps = 0;                 // schedule rows in state `scheduled`
    std::int64_t due_backlog = 0;                   // ... of which already due
    std::optional<double> last_poll_age_seconds;    // nullopt: no poll yet
    std::map<std::string, double> token_expiry_seconds;  // shop -> Unix seconds (AliExpress tokens)
    // Each source (its name, its shop or ""): seconds since its last poll.
    std::map<std::pair<std::string, std::string>, double> source_poll_age_seconds;
    std::int64_t open_flags = 0;                    // buyers' off-platform requests not yet cleared
  };
  using GaugeSource = std::function<Gauges()>;

  Metrics(boost::asio::io_context& io, GaugeSource gauges);
  ~Metrics();

  // Counts one audit line (the JSON the mirror appends). Lines that do not parse are ignored.
  void observe(std::string_view audit_line);
  void store_fault() { ++store_faults_; }
  // One poll of the source ended: a page stored (ok) or an error (failed).
  // `source`/`shop` name the source (policy `sources`), for the per-source family.
  void poll(bool ok, const std::string& source = "", const std::string& shop = "") {
    ++polls_[{ok ? "ok" : "failed"}];
    if (!source.empty()) ++source_polls_[{source, shop, ok ? "ok" : "failed"}];
  }
  // Channels named in the policy, so that their counters show 0 before the first send.
  void add_channels(const std::vector<std::string>& channels);

  // At start and after each reload: the policy's channels, and its metrics.port.
  bool apply(const Policy& policy, std::string& error);

  // Serves /metrics on 127.0.0.1:port. 0 closes the server; the same port again keeps it.
  // Returns false with `error` when the port cannot be bound (a server on the old port stays).
  bool listen(int port, std::string& error);
  // Stops accepting and closes open connections, so that io_context::run() can return.
  void close();
  int port() const { return port_; }

  // The text exposition (format 0.0.4).
  std::string render();

 private:
  class Server;
  using Labels = std::vector<std::string>;  // label values, in the family's label order

  GaugeSource gauges_;
  boost::asio::io_context& io_;
  std::shared_ptr<Server> server_;  // pending handlers hold it too, so close() is safe mid-request
  int port_ = 0;

  std::map<Labels, std::uint64_t> reminders_;  // {channel, outcome}
  std::map<Labels, std::uint64_t> deferrals_;  // {reason}
  std::map<Labels, std::uint64_t> skips_;      // {reason}
  std::map<Labels, std::uint64_t> replies_;    // {class}
  std::map<Labels, std::uint64_t> pauses_;     // {channel}
  std::uint64_t store_faults_ = 0;
  std::map<Labels, std::uint64_t> polls_ = {{{"ok"}, 0}, {{"failed"}, 0}};  // {result}, both from 0
  std::map<Labels, std::uint64_t> paid_after_;        // {campaign, step}: paid_after_reminder lines
  std::map<std::string, std::int64_t> recovered_;     // currency -> amount in 1/10,000 (core/report.h Money)
  std::map<Labels, std::uint64_t> source_polls_;                             // {source, shop, result}

  // Send latency: from a send's `sending` line to its outcome line (audit timestamps).
  std::map<std::int64_t, std::int64_t> sending_at_ms_;  // send_id -> ts
  std::vector<std::uint64_t> latency_buckets_;           // cumulative counts by kLatencyBounds
  std::uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
};

}  // namespace nudge
