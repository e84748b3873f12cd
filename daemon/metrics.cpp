#include "daemon/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/report.h"
#include "core/time_util.h"
#include "daemon/log.h"

namespace nudge {
namespace {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// Claim-to-outcome latency, seconds: a platform API answers in tens of ms, SMTP in
// seconds, a stuck channel hits its timeout.
constexpr double kLatencyBounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr int kMaxConnections = 8;  // a scraper or two, plus a curl; more is refused

const std::set<std::string> kOutcomes = {"sent", "failed", "in_doubt", "cancelled"};
const std::set<std::string> kAttemptEnds = {"sent", "failed", "retry", "cancelled", "in_doubt"};

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);  // 0.025, not 0.025000000000000001
  return buf;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void counter_samples(std::string& out, const char* name, const std::vector<std::string>& label_names,
                     const std::map<std::vector<std::string>, std::uint64_t>& values) {
  for (const auto& [labels, n] : values) {
    out += name;
    out += '{';
    for (size_t i = 0; i < label_names.size(); ++i)
      out += (i ? "," : "") + label_names[i] + "=\"" + escape_label(labels[i]) + "\"";
    out += "} " + std::to_string(n) + "\n";
  }
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A top-level field of an audit line as written by audit_line: `,"key":` cannot occur
// inside a string value (its quotes are escaped there). Returns false when the line
// needs a real JSON parser (the key is missing, or its string holds an escape).
bool audit_field(std::string_view line, std::string_view key, std::string& out, bool& is_null) {
  // The pattern ,"key": built on the stack: this runs five times for every audit line.
  char buf[40];
  if (key.size() + 4 > sizeof buf) return false;
  buf[0] = ',';
  buf[1] = '"';
  key.copy(buf + 2, key.size());
  buf[key.size() + 2] = '"';
  buf[key.size() + 3] = ':';
  const std::string_view pat(buf, key.size() + 4);
  auto p = line.find(pat);
  if (p == std::string_view::npos) return false;
  p += pat.size();
  if (line.compare(p, 4, "null") == 0) {
    is_null = true;
    out.clear();
    return true;
  }
  is_null = false;
  if (p < line.size() && line[p] == '"') {
    auto end = line.find('"', p + 1);
    if (end == std::string_view::npos) return false;
    auto v = line.substr(p + 1, end - p - 1);
    if (v.find('\\') != std::string_view::npos) return false;
    out.assign(v);
    return true;
  }
  auto end = line.find_first_of(",}", p);
  if (end == std::string_view::npos) return false;
  out.assign(line.substr(p, end - p));
  return true;
}

}  // namespace

// The HTTP side: accept on 127.0.0.1, read one request (bounded by kRequestTimeout),
// answer it, close. One request per connection keeps it small; scrapers reconnect.
class Metrics::Server : public std::enable_shared_from_this<Metrics::Server> {
 public:
  Server(boost::asio::io_context& io, Metrics& metrics) : acceptor_(io), metrics_(metrics) {}

  bool listen(int port, std::string& error) {
    boost::system::error_code ec;
    tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error = "cannot serve metrics on 127.0.0.1:" + std::to_string(port) + ": " + ec.message();
      return false;
    }
    accept();
    return true;
  }

  void close() {
    closed_ = true;  // Metrics may be gone once the loop drains: render nothing after this
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& [id, weak] : sessions_)
      if (auto s = weak.lock()) s->stream.socket().close(ec);
    sessions_.clear();
  }

 private:
  struct Session {
    explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
  };

  void accept() {
    acceptor_.async_accept([this, self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec) {
        if (static_cast<int>(sessions_.size()) < kMaxConnections) start(std::move(socket));
      }
      accept();
    });
  }

  void start(tcp::socket socket) {
    auto s = std::make_shared<Session>(std::move(socket));
    int id = next_id_++;
    sessions_[id] = s;
    s->stream.expires_after(kRequestTimeout);
    auto self = shared_from_this();
    http::async_read(s->stream, s->buffer, s->request, [this, self, s, id](const boost::system::error_code& ec, size_t) {
      if (ec || closed_) return finish(id, s);
      auto& res = s->response;
      res.version(s->request.version());
      res.keep_alive(false);
      res.set(http::field::server, "nudged");
      if (s->request.method() != http::verb::get && s->request.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.body() = "only GET\n";
      } else if (s->request.target() != "/metrics") {
        res.result(http::status::not_found);
        res.body() = "metrics are at /metrics\n";
      } else {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = metrics_.render();
      }
      res.prepare_payload();
      if (s->request.method() == http::verb::head) res.body().clear();
      http::async_write(s->stream, res, [this, self, s, id](const boost::system::error_code&, size_t) { finish(id, s); });
    });
  }

  void finish(int id, const std::shared_ptr<Session>& s) {
    boost::system::error_code ec;
    s->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    s->stream.socket().close(ec);
    sessions_.erase(id);
  }

  tcp::acceptor acceptor_;
  Metrics& metrics_;
  std::map<int, std::weak_ptr<Session>> sessions_;
  int next_id_ = 0;
  bool closed_ = false;
};

Metrics::Metrics(boost::asio::io_context& io, GaugeSource gauges)
    : gauges_(std::move(gauges)), io_(io), latency_buckets_(std::size(kLatencyBounds), 0) {}

Metrics::~Metrics() { close(); }

bool Metrics::listen(int port, std::string& error) {
  if (port == port_ && (port == 0 || server_)) return true;
  if (port == 0) {
    close();
    return true;
  }
  auto server = std::make_shared<Server>(io_, *this);
  if (!server->listen(port, error)) return false;  // the old server, if any, keeps serving
  close();
  server_ = std::move(server);
  port_ = port;
  log_info("metrics at http://127.0.0.1:" + std::to_string(port) + "/metrics");
  return true;
}

void Metrics::close() {
  if (server_) server_->close();
  server_.reset();
  port_ = 0;
}

bool Metrics::apply(const Policy& policy, std::string& error) {
  std::vector<std::string> names;
  for (const auto& [name, conf] : policy.channels) names.push_back(name);
  add_channels(names);
  // Each source's polls from 0, so that one that never succeeds shows (and alerts).
  for (const auto& src : policy.sources)
    for (const char* result : {"ok", "failed"}) source_polls_.try_emplace({src.name, src.shop, result}, 0);
  return listen(policy.metrics_port, error);
}

void Metrics::add_channels(const std::vector<std::string>& channels) {
  for (const auto& ch : channels)
    for (const auto& outcome : kOutcomes) reminders_.try_emplace({ch, outcome}, 0);
}

void Metrics::observe(std::string_view line) {
  // Every committed audit line passes here: read the five fields straight from the
  // line, and parse it as JSON only when that is not enough (an escaped character).
  std::string event, reason, channel, send_text, ts_text;
  std::optional<std::int64_t> send_id;
  bool null_reason = false, null_channel = false, null_send = false, null_ts = false, null_event = false;
  bool fast = audit_field(line, "event", event, null_event) && audit_field(line, "reason", reason, null_reason) &&
              audit_field(line, "channel", channel, null_channel) &&
              audit_field(line, "send_id", send_text, null_send) && audit_field(line, "ts", ts_text, null_ts) &&
              !null_event && !null_ts;
  if (fast && !null_send) {
    char* end = nullptr;
    long long v = std::strtoll(send_text.c_str(), &end, 10);
    if (end && *end == '\0' && !send_text.empty())
      send_id = v;
    else
      fast = false;
  }
  if (!fast) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return;
    event = str(j, "event"), reason = str(j, "reason"), channel = str(j, "channel");
    ts_text = str(j, "ts");
    send_id.reset();
    if (auto it = j.find("send_id"); it != j.end() && it->is_number_integer()) send_id = it->get<std::int64_t>();
  }

  // Only claimed sends are reminders; a step cancelled before its claim is not.
  if (send_id && kOutcomes.count(event)) ++reminders_[{channel, event}];
  if (event == "deferred") {
    ++deferrals_[{reason}];
    // Contract with the channel circuit breaker: it defers with reason channel_paused[...].
    if (reason.rfind("channel_paused", 0) == 0) ++pauses_[{channel}];
  }
  if (event == "skipped") ++skips_[{reason}];
  if (event == "paid_after_reminder") {
    // Rare (one per recovered order): read its campaign and amount with the parser.
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return;
    ++paid_after_[{str(j, "campaign"), str(j, "step")}];
    if (auto m = parse_money(str(j, "amount"))) recovered_[str(j, "currency")] += *m;
    return;
  }
  if (event == "replied") ++replies_[{reason}];

  if (!send_id) return;
  auto ts = parse_instant(ts_text);
  if (event == "sending") {
    if (ts) {
      if (sending_at_ms_.size() > 100000) sending_at_ms_.clear();  // bound: outcomes lost by a crash
      sending_at_ms_[*send_id] = *ts;
    }
    return;
  }
  auto it = sending_at_ms_.find(*send_id);
  if (it == sending_at_ms_.end()) return;
  if (kAttemptEnds.count(event) && ts) {
    double s = std::max<double>(0, static_cast<double>(*ts - it->second) / 1000.0);
    for (size_t i = 0; i < std::size(kLatencyBounds); ++i)
      if (s <= kLatencyBounds[i]) ++latency_buckets_[i];
    ++latency_count_;
    latency_sum_ += s;
  }
  sending_at_ms_.erase(it);  // an outcome, or a postponement: the next claim writes `sending` again
}

std::string Metrics::render() {
  std::string out;
  family(out, "nudge_reminders_total", "counter",
         "Reminders that reached an outcome (sent, failed, in_doubt, cancelled), by channel.");
  counter_samples(out, "nudge_reminders_total", {"channel", "outcome"}, reminders_);
  family(out, "nudge_deferrals_total", "counter", "Reminder steps deferred, by reason (quiet_hours, cap_buyer:..., ...).");
  counter_samples(out, "nudge_deferrals_total", {"reason"}, deferrals_);
  family(out, "nudge_skips_total", "counter", "Reminder steps skipped, by reason.");
  counter_samples(out, "nudge_skips_total", {"reason"}, skips_);
  family(out, "nudge_replies_total", "counter",
         "Buyers' replies taken, by class (opt_out, off_platform, promise, other).");
  counter_samples(out, "nudge_replies_total", {"class"}, replies_);
  family(out, "nudge_channel_pauses_total", "counter", "Sends deferred because their channel was paused.");
  counter_samples(out, "nudge_channel_pauses_total", {"channel"}, pauses_);
  family(out, "nudge_store_faults_total", "counter", "Store errors (disk full, read-only, locked); sending pauses.");
  out += "nudge_store_faults_total " + std::to_string(store_faults_) + "\n";
  family(out, "nudge_polls_total", "counter", "Polls of the order source, by result: ok, or failed (unreachable, refused, or an answer of an unexpected shape).");
  counter_samples(out, "nudge_polls_total", {"result"}, polls_);
  family(out, "nudge_orders_paid_after_reminder_total", "counter",
         "Orders paid within experiment.attribution_window after a reminder, by the campaign and step of the last "
         "reminder before the payment.");
  counter_samples(out, "nudge_orders_paid_after_reminder_total", {"campaign", "step"}, paid_after_);
  family(out, "nudge_recovered_amount_total", "counter",
         "The amount of the orders paid after a reminder, by currency (in the currency's units).");
  for (const auto& [cur, m] : recovered_)
    out += "nudge_recovered_amount_total{currency=\"" + escape_label(cur) + "\"} " + format_money(m) + "\n";
  family(out, "nudge_source_polls_total", "counter", "Polls of each order source (policy sources), by result.");
  counter_samples(out, "nudge_source_polls_total", {"source", "shop", "result"}, source_polls_);

  family(out, "nudge_send_latency_seconds", "histogram", "Time from a send's claim to its outcome.");
  for (size_t i = 0; i < std::size(kLatencyBounds); ++i)
    out += "nudge_send_latency_seconds_bucket{le=\"" + number(kLatencyBounds[i]) + "\"} " +
           std::to_string(latency_buckets_[i]) + "\n";
  out += "nudge_send_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(latency_count_) + "\n";
  out += "nudge_send_latency_seconds_sum " + number(latency_sum_) + "\n";
  out += "nudge_send_latency_seconds_count " + std::to_string(latency_count_) + "\n";

  Gauges g;
  bool gauges_ok = true;
  try {
    g = gauges_();
  } catch (const std::exception& e) {
    gauges_ok = false;  // a store fault: leave the gauges out rather than report zeros
    log_warn(std::string("metrics: cannot read the gauges: ") + e.what());
  }
  family(out, "nudge_pending_steps", "gauge", "Reminder steps scheduled and not yet claimed.");
  if (gauges_ok) out += "nudge_pending_steps " + std::to_string(g.pending_steps) + "\n";
  family(out, "nudge_due_backlog", "gauge", "Scheduled reminder steps already due (should stay near 0).");
  if (gauges_ok) out += "nudge_due_backlog " + std::to_string(g.due_backlog) + "\n";
  family(out, "nudge_open_flags", "gauge",
         "Buyers' replies that asked to pay or talk off the platform, not yet cleared (nudgectl flags).");
  if (gauges_ok) out += "nudge_open_flags " + std::to_string(g.open_flags) + "\n";
  family(out, "nudge_last_poll_age_seconds", "gauge", "Seconds since the source was last polled.");
  if (gauges_ok && g.last_poll_age_seconds) out += "nudge_last_poll_age_seconds " + number(*g.last_poll_age_seconds) + "\n";
  family(out, "nudge_source_last_poll_age_seconds", "gauge", "Seconds since each order source was last polled.");
  if (gauges_ok)
    for (const auto& [key, age] : g.source_poll_age_seconds)
      out += "nudge_source_last_poll_age_seconds{source=\"" + escape_label(key.first) + "\",shop=\"" +
             escape_label(key.second) + "\"} " + number(age) + "\n";
  family(out, "nudge_token_expiry_timestamp_seconds", "gauge",
         "When the marketplace access token of each shop expires (Unix time).");
  if (gauges_ok)
    for (const auto& [shop, at] : g.token_expiry_seconds)
      out += "nudge_token_expiry_timestamp_seconds{shop=\"" + escape_label(shop) + "\"} " + number(at) + "\n";
  return out;
}

}  // namespace nudge
