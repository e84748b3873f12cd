#include "daemon/http_client.h"

#include <cctype>
#include <chrono>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/x509v3.h>

namespace nudge {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::optional<ParsedUrl> parse_url(const std::string& url) {
  ParsedUrl u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return std::nullopt;
  }
  auto slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target[0] == '?') u.target = "/" + u.target;
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  if (authority[0] == '[') {  // [::1]:8443
    auto close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = authority.substr(close + 2);
  } else {
    auto colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return std::nullopt;
  return u;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

// Time left until `deadline`, at least 1 ms so an expired deadline still fails the next operation.
std::chrono::milliseconds left(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return d.count() < 1 ? std::chrono::milliseconds(1) : d;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

http::request<http::string_body> build(const HttpRequest& req, const ParsedUrl& u) {
  http::request<http::string_body> r;
  r.method(req.method == "POST" ? http::verb::post : http::verb::get);
  r.target(u.target);
  r.version(11);
  bool default_port = u.port == (u.tls ? "443" : "80");
  std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  r.set(http::field::host, default_port ? host : host + ":" + u.port);
  r.set(http::field::user_agent, "nudged");
  r.set(http::field::connection, "close");
  for (const auto& [k, v] : req.headers) r.set(k, v);
  if (req.method == "POST" || !req.body.empty()) {
    r.body() = req.body;
    r.prepare_payload();
  }
  return r;
}

void fill(HttpResponse& out, http::response<http::string_body>& res) {
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  out.body = std::move(res.body());
}

// Resolves with a deadline: the resolver ignores tcp_stream's expiry, so a timer cancels it.
asio::awaitable<tcp::resolver::results_type> resolve(const ParsedUrl& u, Clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  asio::steady_timer timer(ex, left(deadline));
  timer.async_wait([&resolver](const boost::system::error_code& ec) {
    if (!ec) resolver.cancel();
  });
  auto results = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
  timer.cancel();
  co_return results;
}

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, beast::tcp_stream& lowest, const HttpRequest& req, const ParsedUrl& u,
                               Clock::time_point deadline, HttpResponse& out) {
  auto r = build(req, u);
  lowest.expires_after(left(deadline));
  co_await http::async_write(stream, r, asio::use_awaitable);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  lowest.expires_after(left(deadline));
  beast::error_code ec;
  co_await http::async_read(stream, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
  // Many servers end a body that has no length by closing the TCP connection without a
  // TLS close_notify. The body is then complete if the parser accepts the end here.
  if (ec == asio::ssl::error::stream_truncated) parser.put_eof(ec);
  if (ec) throw boost::system::system_error(ec);
  fill(out, parser.get());
}

asio::awaitable<HttpResponse> run(HttpRequest req) {
  HttpResponse out;
  auto u = parse_url(req.url);
  if (!u) {
    out.error = "not an http:// or https:// URL";
    co_return out;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(req.timeout);
  auto ex = co_await asio::this_coro::executor;
  bool timed_out = false;
  try {
    auto endpoints = co_await resolve(*u, deadline);
    if (!u->tls) {
      beast::tcp_stream stream(ex);
      stream.expires_after(left(deadline));
      co_await stream.async_connect(endpoints, asio::use_awaitable);
      co_await exchange(stream, stream, req, *u, deadline, out);
    } else {
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      if (req.ca_file.empty())
        ctx.set_default_verify_paths();
      else
        ctx.load_verify_file(req.ca_file);
      beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
      SSL* ssl = stream.native_handle();
      // Check the certificate names the host we asked for: an IP SAN for IP literals,
      // a DNS name otherwise (and only then SNI, which must not carry an IP).
      if (is_ip_literal(u->host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host.c_str());
      } else {
        SSL_set1_host(ssl, u->host.c_str());
        SSL_set_tlsext_host_name(ssl, u->host.c_str());
      }
      auto& lowest = beast::get_lowest_layer(stream);
      lowest.expires_after(left(deadline));
      co_await lowest.async_connect(endpoints, asio::use_awaitable);
      lowest.expires_after(left(deadline));
      co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      co_await exchange(stream, lowest, req, *u, deadline, out);
      // No TLS close_notify exchange: the request is answered and the connection is
      // ours alone ("Connection: close"), so waiting for the peer buys nothing.
    }
  } catch (const boost::system::system_error& e) {
    timed_out = Clock::now() >= deadline || e.code() == beast::error::timeout ||
                e.code() == asio::error::operation_aborted;
    out.status = 0;
    out.error = timed_out ? "timed out after " + std::to_string(req.timeout) + " ms"
                          : e.code().message();
    if (e.code().category() == asio::error::get_ssl_category()) out.error = "TLS: " + out.error;
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = e.what();
  }
  if (!out.error.empty()) out.error = req.method + " " + u->host + ":" + u->port + ": " + out.error;
  co_return out;
}

}  // namespace

void http_request(asio::io_context& io, HttpRequest req, HttpDone done) {
  asio::co_spawn(io, run(std::move(req)),
                 [done = std::move(done)](std::exception_ptr e, HttpResponse res) {
                   if (e) {
                     res = HttpResponse{};
                     res.error = "the HTTP client failed unexpectedly";
                   }
                   done(std::move(res));
                 });
}

}  // namespace nudge
