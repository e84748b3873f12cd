// parse_http_page (daemon/http_source.h) on its own: no Asio, so bench/fuzz can build
// it with clang 14, which cannot compile the coroutines of daemon/http_client.cpp.
#include <nlohmann/json.hpp>

#include "daemon/http_source.h"

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

}  // namespace nudge
