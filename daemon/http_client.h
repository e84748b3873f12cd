// A small async HTTP/1.1 client on Boost.Beast for the daemon's channels and sources:
// http:// and https:// (OpenSSL, peer verification on, SNI), one connection per
// request, a deadline on every network operation. Failures are values in the
// response (`error`), never exceptions. Use only from the io_context thread; the
// callback runs on that thread, exactly once.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <utility>  // Boost 1.74's asio/awaitable.hpp needs it first under C++20
#include <boost/asio/io_context.hpp>

#include "core/clock.h"

namespace nudge {

struct HttpRequest {
  std::string method = "GET";  // GET | POST
  std::string url;             // http://host[:port]/path?query or https://...
  std::map<std::string, std::string> headers;
  std::string body;
  Millis timeout = 30 * kSecond;  // for the whole exchange: resolve, connect, TLS, write, read
  std::string ca_file;            // empty: the system CA store
};

struct HttpResponse {
  int status = 0;  // 0 when no answer arrived; `error` then says why
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string error;
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

struct ParsedUrl {
  bool tls = false;
  std::string host, port, target;  // target: path and query, "/" at least
};
std::optional<ParsedUrl> parse_url(const std::string& url);

// Percent-encodes for a query component (RFC 3986 unreserved kept).
std::string url_encode(const std::string& s);

using HttpDone = std::function<void(HttpResponse)>;

void http_request(boost::asio::io_context& io, HttpRequest req, HttpDone done);

}  // namespace nudge
