// The generic HTTP order source: GETs `url` (with `cursor=` once there is one) with a
// bearer token and reads {"records": [feed records], "next_cursor": "...", "more": bool}.
// Each record is parsed like a line of the JSON Lines feed. Use only from the
// io_context thread.
#pragma once

#include "daemon/http_client.h"
#include "daemon/source.h"

namespace nudge {

// Parses one answer body into a page; nullopt with `error` when it is not the format.
std::optional<SourcePage> parse_http_page(const std::string& body, std::string& error);

class HttpSource final : public Source {
 public:
  HttpSource(boost::asio::io_context& io, std::string url, std::string token, std::string ca_file, Millis timeout)
      : io_(io), url_(std::move(url)), token_(std::move(token)), ca_file_(std::move(ca_file)), timeout_(timeout) {}
  void fetch(const std::optional<std::string>& cursor, FetchDone done) override;

 private:
  boost::asio::io_context& io_;
  std::string url_, token_, ca_file_;
  Millis timeout_;
};

}  // namespace nudge
