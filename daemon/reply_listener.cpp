#include "daemon/reply_listener.h"

#include <openssl/crypto.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/reply_webhook.h"
#include "daemon/channel.h"
#include "daemon/log.h"
#include "daemon/webhook_channel.h"

namespace nudge {
namespace {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr int kMaxConnections = 16;  // a few integrations at once; more wait in the backlog

std::string json_answer(const std::string& key, const std::string& value) {
  return nlohmann::json{{key, value}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

bool webhook_signature_ok(const std::string& secret, const std::string& id, const std::string& timestamp,
                          const std::string& body, const std::string& header) {
  const std::string want = webhook_signature(secret, id, timestamp, body);
  size_t i = 0;
  while (i < header.size()) {
    size_t end = header.find(' ', i);
    if (end == std::string::npos) end = header.size();
    std::string_view got(header.data() + i, end - i);
    if (got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0) return true;
    i = end + 1;
  }
  return false;
}

// Accepts on the configured address, reads one request per connection (headers up to
// 8 KiB, body up to kReplyBodyMax, all within kRequestTimeout), answers, closes.
class ReplyListener::Server : public std::enable_shared_from_this<ReplyListener::Server> {
 public:
  Server(boost::asio::io_context& io, ReplyListener& owner) : acceptor_(io), owner_(owner) {}

  bool listen(const tcp::endpoint& ep, std::string& error) {
    boost::system::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error = "cannot serve replies on " + ep.address().to_string() + ":" + std::to_string(ep.port()) + ": " +
              ec.message();
      return false;
    }
    port_ = acceptor_.local_endpoint(ec).port();
    accept();
    return true;
  }

  void close() {
    closed_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& [id, weak] : sessions_)
      if (auto s = weak.lock()) s->stream.socket().close(ec);
    sessions_.clear();
  }

  int port() const { return port_; }

 private:
  struct Session {
    explicit Session(tcp::socket socket) : stream(std::move(socket)) {
      parser.header_limit(8 * 1024);
      parser.body_limit(kReplyBodyMax);
    }
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    http::response<http::string_body> response;
  };

  void accept() {
    acceptor_.async_accept([this, self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open() || closed_) return;
      if (!ec && static_cast<int>(sessions_.size()) < kMaxConnections) start(std::move(socket));
      accept();
    });
  }

  void start(tcp::socket socket) {
    auto s = std::make_shared<Session>(std::move(socket));
    int id = next_id_++;
    sessions_[id] = s;
    s->stream.expires_after(kRequestTimeout);
    auto self = shared_from_this();
    http::async_read(s->stream, s->buffer, s->parser, [this, self, s, id](const boost::system::error_code& ec, size_t) {
      if (closed_) return finish(id, s);
      Answer a;
      if (ec == http::error::body_limit) {
        a = {413, json_answer("error", "the body is larger than 64 KiB")};
      } else if (ec == http::error::header_limit) {
        a = {431, json_answer("error", "the headers are larger than 8 KiB")};
      } else if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
                 ec == boost::asio::error::connection_reset) {
        return finish(id, s);  // nobody to answer
      } else if (ec) {
        a = {400, json_answer("error", "not an HTTP/1.1 request: " + ec.message())};
      } else {
        const auto& req = s->parser.get();
        std::map<std::string, std::string> headers;
        for (const char* h : {"webhook-id", "webhook-timestamp", "webhook-signature"})
          if (auto it = req.find(h); it != req.end()) headers[h] = std::string(it->value());
        a = owner_.answer(std::string(req.method_string()), std::string(req.target()), headers, req.body());
      }
      auto& res = s->response;
      res.version(11);
      res.keep_alive(false);
      res.result(static_cast<http::status>(a.status));
      res.set(http::field::server, "nudged");
      res.set(http::field::content_type, "application/json");
      res.body() = std::move(a.body);
      res.prepare_payload();
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
  ReplyListener& owner_;
  std::map<int, std::weak_ptr<Session>> sessions_;
  int next_id_ = 0, port_ = 0;
  bool closed_ = false;
};

ReplyListener::ReplyListener(boost::asio::io_context& io, Clock& clock, Take take)
    : io_(io), clock_(clock), take_(std::move(take)) {}

ReplyListener::~ReplyListener() { close(); }

int ReplyListener::port() const { return server_ ? server_->port() : 0; }

void ReplyListener::close() {
  if (server_) server_->close();
  server_.reset();
  listen_.clear();
}

bool ReplyListener::apply(const Policy& policy, const std::string& credentials_dir, std::string& error) {
  const auto& r = policy.replies;
  if (r.listen.empty()) {
    close();
    return true;
  }
  std::string secret;
  if (!read_secret(policy, r.secret_file, credentials_dir, secret, error)) return false;
  if (secret.empty()) {
    error = "replies.secret_file " + r.secret_file + " is empty";
    return false;
  }
  if (r.listen == listen_ && server_) {
    secret_ = secret;  // a rotated secret takes effect at once
    return true;
  }
  auto colon = r.listen.rfind(':');
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(r.listen.substr(0, colon), ec);
  if (colon == std::string::npos || ec) {
    error = "replies.listen '" + r.listen + "' is not ADDRESS:PORT";
    return false;
  }
  int port = std::stoi(r.listen.substr(colon + 1));  // checked by the policy parser
  auto server = std::make_shared<Server>(io_, *this);
  if (!server->listen(tcp::endpoint(addr, static_cast<unsigned short>(port)), error)) return false;
  close();
  server_ = std::move(server);
  secret_ = secret;
  listen_ = r.listen;
  log_info("replies webhook at http://" + r.listen + "/replies");
  return true;
}

ReplyListener::Answer ReplyListener::answer(const std::string& method, const std::string& target,
                                            const std::map<std::string, std::string>& headers,
                                            const std::string& body) {
  if (target != "/replies") return {404, json_answer("error", "replies are posted to /replies")};
  if (method != "POST") return {405, json_answer("error", "only POST")};
  if (body.size() > kReplyBodyMax) return {413, json_answer("error", "the body is larger than 64 KiB")};
  auto get = [&](const char* k) {
    auto it = headers.find(k);
    return it == headers.end() ? std::string() : it->second;
  };
  const std::string id = get("webhook-id"), ts = get("webhook-timestamp"), sig = get("webhook-signature");
  if (id.empty() || ts.empty() || sig.empty())
    return {400, json_answer("error", "missing webhook-id, webhook-timestamp or webhook-signature")};
  // The timestamp first: a replayed request is refused whatever its signature.
  if (!webhook_timestamp_fresh(ts, clock_.now()))
    return {401, json_answer("error", "webhook-timestamp is not within 5 minutes of now")};
  if (!webhook_signature_ok(secret_, id, ts, body, sig)) return {401, json_answer("error", "bad webhook-signature")};
  FeedRecord rec = parse_reply_body(body, id, clock_.now());
  if (auto* bad = std::get_if<RejectedRecord>(&rec)) return {400, json_answer("error", bad->reason)};
  const auto& reply = std::get<ReplyRecord>(rec);
  try {
    IngestResult r = take_(reply);
    if (r.rejected) return {400, json_answer("error", "field 'at' is outside the policy's records window")};
    return {202, json_answer("status", r.replies ? "taken" : "duplicate")};
  } catch (const std::exception& e) {
    log_error(std::string("replies webhook: cannot store a reply: ") + e.what());
    return {503, json_answer("error", "the store is unavailable; try again")};
  }
}

}  // namespace nudge
