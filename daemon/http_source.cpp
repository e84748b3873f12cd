#include "daemon/http_source.h"

#include <nlohmann/json.hpp>

namespace nudge {

std::optional<SourcePage> parse_http_page(const std::string& body, std::string& error) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "the answer is not a JSON object";
    return std::nullopt;
  }
  auto records = j.find("records");
  if (records == j.end() || !records->is_array()) {
    error = "the answer has no 'records' array";
    return std::nullopt;
  }
  SourcePage page;
  for (const auto& r : *records) page.records.push_back(parse_feed_line(r.dump()));
  auto next = j.find("next_cursor");
  if (next != j.end() && next->is_string()) page.cursor = next->get<std::string>();
  auto more = j.find("more");
  page.more = more != j.end() && more->is_boolean() && more->get<bool>();
  return page;
}

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
