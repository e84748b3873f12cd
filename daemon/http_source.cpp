#include "daemon/http_source.h"

#include <nlohmann/json.hpp>

namespace nudge {

void HttpSource::fetch(const std::optional<std::string>& cursor, FetchDone done) {
  HttpRequest req;
  req.url = url_;
  if (cursor) req.url += (url_.find('?') == std::string::npos ? "?" : "&") + std::string("cursor=") + url_encode(*cursor);
  req.timeout = timeout_;
  req.ca_file = ca_file_;
  if (!token_.empty()) req.headers["Authorization"] = "Bearer " + token_;
  req.headers["Accept"] = "application/json";
  http_request(io_, std::move(req), [cursor, done = std::move(done)](HttpResponse res) {
    if (!res.error.empty()) {
      done(std::nullopt, "http source: " + res.error);
      return;
    }
    if (!res.ok()) {
      done(std::nullopt, "http source: HTTP " + std::to_string(res.status));
      return;
    }
    std::string error;
    auto page = parse_http_page(res.body, error);
    if (!page) {
      done(std::nullopt, "http source: " + error);
      return;
    }
    if (!page->cursor) page->cursor = cursor;  // no next_cursor: stay where we are
    done(std::move(page), "");
  });
}

}  // namespace nudge
