// The http source against a real local feed server (tests/fakes/feed_server.py):
// bearer token, cursor paging, errors, and nudged end to end.
#include <doctest/doctest.h>

#include "core/time_util.h"
#include "daemon/http_source.h"
#include "integration/servers.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* kToken = "feed-token-5d1e";

std::string order_line(const std::string& id, nudge::Millis placed) {
  return json({{"type", "order"}, {"shop", "s1"}, {"order_id", id}, {"buyer_id", "b" + id}, {"buyer_name", "Ana"},
               {"amount", "5.00"}, {"currency", "USD"}, {"placed_at", nudge::format_instant(placed)},
               {"status", "awaiting_payment"}})
      .dump();
}

struct Feed {
  test::TempDir dir;
  std::string pages = dir / "pages.json", log = dir / "requests.jsonl";
  std::unique_ptr<test::PythonServer> server;
  explicit Feed(const json& p, std::vector<std::string> extra = {}) {
    test::replace_file(pages, p.dump());
    std::vector<std::string> args = {"--pages", pages, "--token", kToken, "--log", log};
    if (!extra.empty() && extra[0] == "tls") {
      test::make_ca(dir, "ca", true);
      extra = {"--cert", dir / "server.pem", "--key", dir / "server.key", "--http10"};
    }
    args.insert(args.end(), extra.begin(), extra.end());
    server = std::make_unique<test::PythonServer>("feed_server.py", args, dir / "port", dir / "feed.log");
  }
};

std::pair<std::optional<nudge::SourcePage>, std::string> fetch(const std::string& url, const std::string& token,
                                                               const std::optional<std::string>& cursor,
                                                               const std::string& ca_file = "") {
  boost::asio::io_context io;
  nudge::HttpSource src(io, url, token, ca_file, 2000);
  std::pair<std::optional<nudge::SourcePage>, std::string> out;
  int calls = 0;
  src.fetch(cursor, [&](std::optional<nudge::SourcePage> p, std::string e) {
    ++calls;
    out = {std::move(p), e};
  });
  io.run_for(5s);
  CHECK(calls == 1);
  return out;
}

}  // namespace

TEST_CASE("the http source pages through the feed with its cursor and bearer token") {
  nudge::Millis t = nudge::SystemClock().now() - 60000;
  json first = {{"records", json::array({json::parse(order_line("1", t)), json::parse(order_line("2", t)),
                                         json{{"type", "order"}, {"shop", "s1"}}})},
                {"next_cursor", "c&1"},
                {"more", true}};
  json pages;
  pages[""] = first;
  pages["c&1"] = {{"records", json::array()}, {"next_cursor", "c&1"}, {"more", false}};
  pages["bad"] = "{\"records\": [ oops";
  Feed feed(pages);
  std::string url = feed.server->url() + "/orders";

  auto [page, error] = fetch(url, kToken, std::nullopt);
  REQUIRE_MESSAGE(page, error);
  REQUIRE(page->records.size() == 3);
  CHECK(std::get<nudge::OrderRecord>(page->records[0]).order_id == "1");
  CHECK(std::holds_alternative<nudge::RejectedRecord>(page->records[2]));  // rejected alone, the rest kept
  CHECK(page->cursor == "c&1");
  CHECK(page->more);

  auto [second, e2] = fetch(url, kToken, std::string("c&1"));
  REQUIRE_MESSAGE(second, e2);
  CHECK(second->records.empty());
  CHECK_FALSE(second->more);
  auto requests = test::json_lines(feed.log);
  REQUIRE(requests.size() == 2);
  CHECK(requests[1]["cursor"] == "c&1");  // sent URL-encoded, read back intact
  CHECK(requests[1]["authorized"] == true);

  SUBCASE("a wrong token is an error that does not show the token") {
    auto [p, e] = fetch(url, "wrong-token", std::nullopt);
    CHECK_FALSE(p);
    CHECK(e.find("401") != std::string::npos);
    CHECK(e.find("wrong-token") == std::string::npos);
  }
  SUBCASE("an answer that is not JSON is an error") {
    auto [p, e] = fetch(url, kToken, std::string("bad"));
    CHECK_FALSE(p);
    CHECK(e.find("not a JSON object") != std::string::npos);
  }
  SUBCASE("nobody listening is an error, not a crash") {
    auto [p, e] = fetch("http://127.0.0.1:9/orders", kToken, std::nullopt);
    CHECK_FALSE(p);
    CHECK_FALSE(e.empty());
  }
}

TEST_CASE("an HTTPS feed whose body ends when the server closes the connection is read whole") {
  nudge::Millis t = nudge::SystemClock().now() - 60000;
  json pages;
  pages[""] = {{"records", json::array({json::parse(order_line("5001", t)), json::parse(order_line("5002", t))})},
               {"next_cursor", "k2"},
               {"more", false}};
  Feed feed(pages, {"tls"});
  auto [page, error] = fetch(feed.server->url("https") + "/orders", kToken, std::nullopt, feed.dir / "ca.pem");
  REQUIRE_MESSAGE(page, error);
  CHECK(page->records.size() == 2);
  CHECK(page->cursor == "k2");
}

TEST_CASE("nudged reminds the orders an http feed brings") {
  nudge::Millis t = nudge::SystemClock().now() - 60000;
  json pages;
  pages[""] = {{"records", json::array({json::parse(order_line("7001", t))})}, {"next_cursor", "n1"}, {"more", false}};
  Feed feed(pages);
  test::write_file(feed.dir / "feed_token", std::string(kToken) + "\n");
  test::write_file(feed.dir / "nudge.yaml", R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: http, every: 1s, url: ")" + feed.server->url() + R"(/orders", token_file: feed_token}
payment: {deadline: 1s, closes_after: 10m, stop_before_close: 1s}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
limits: {per_order: 1, per_buyer: [{max: 5, within: 1h}]}
channels:
  outbox: {type: outbox, dir: outbox}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it is reserved for you."}
)");
  test::Process daemon({NUDGED_PATH, "--config", feed.dir / "nudge.yaml"}, feed.dir / "nudged.log");
  REQUIRE_MESSAGE(test::eventually([&] { return test::count_files(feed.dir / "outbox") == 1; }, 10s),
                  test::read_file(feed.dir / "nudged.log"));
  // The cursor the feed gave is used on the next polls.
  CHECK(test::eventually(
      [&] {
        for (const auto& r : test::json_lines(feed.log))
          if (r["cursor"] == "n1") return true;
        return false;
      },
      5s));
  CHECK(test::read_file(feed.dir / "nudged.log").find(kToken) == std::string::npos);
}
