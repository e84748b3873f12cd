// /metrics as an operator's Prometheus sees it: the real nudged on a seconds-scale
// policy sends reminders, and the scrape shows them in valid exposition format
// (checked by promtool), on 127.0.0.1 only.
#include <doctest/doctest.h>

#include "integration/ops_helpers.h"

namespace {
using namespace std::chrono_literals;

// The value of one sample line ("name{labels} value"), or -1 if absent.
double sample(const std::string& body, const std::string& series) {
  auto p = body.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::stod(body.substr(p + series.size() + 2));
}
}  // namespace

TEST_CASE("a scrape of /metrics shows the reminders sent and passes promtool") {
  test::TempDir dir;
  int port = ops::free_port();
  std::string policy = ops::write_policy(dir, "metrics: {port: " + std::to_string(port) + "}\n");
  test::Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log");
  REQUIRE_MESSAGE(test::eventually([&] { return !ops::http_get(port, "/metrics").empty(); }, 10s),
                  test::read_file(dir / "nudged.log"));

  std::string before = ops::http_body(ops::http_get(port, "/metrics"));
  CHECK(sample(before, "nudge_reminders_total{channel=\"outbox\",outcome=\"sent\"}") == 0);

  auto imported = ops::import_orders(policy, ops::write_orders(dir, 3, 9100));
  REQUIRE_MESSAGE(imported.status == 0, imported.err);
  // Each of the 3 buyers gets the first step at once (overdue 5 s after placing).
  REQUIRE_MESSAGE(test::eventually([&] { return test::count_files(dir / "outbox") >= 3; }, 15s),
                  test::read_file(dir / "nudged.log"));

  std::string body;
  REQUIRE(test::eventually([&] {
    body = ops::http_body(ops::http_get(port, "/metrics"));
    return sample(body, "nudge_reminders_total{channel=\"outbox\",outcome=\"sent\"}") >= 3;
  }, 5s));
  CHECK(sample(body, "nudge_reminders_total{channel=\"outbox\",outcome=\"sent\"}") == 3);
  CHECK(sample(body, "nudge_reminders_total{channel=\"outbox\",outcome=\"failed\"}") == 0);
  CHECK(sample(body, "nudge_send_latency_seconds_count") == 3);
  CHECK(sample(body, "nudge_pending_steps") == 3);  // the `last` step of each order
  CHECK(sample(body, "nudge_due_backlog") == 0);
  CHECK(sample(body, "nudge_last_poll_age_seconds") >= 0);
  CHECK(sample(body, "nudge_last_poll_age_seconds") < 5);
  CHECK(sample(body, "nudge_store_faults_total") == 0);
  CHECK(sample(body, "nudge_polls_total{result=\"ok\"}") >= 1);
  CHECK(sample(body, "nudge_polls_total{result=\"failed\"}") == 0);
  for (const char* family : {"nudge_polls_total", "nudge_reminders_total", "nudge_deferrals_total", "nudge_skips_total",
                             "nudge_due_backlog", "nudge_pending_steps", "nudge_last_poll_age_seconds",
                             "nudge_send_latency_seconds", "nudge_channel_pauses_total", "nudge_store_faults_total"}) {
    CAPTURE(family);
    CHECK(body.find(std::string("# HELP ") + family + " ") != std::string::npos);
    CHECK(body.find(std::string("# TYPE ") + family + " ") != std::string::npos);
  }

  // One order is paid after its reminder: counted for the reminder's campaign and step,
  // its amount recovered (issue 12). A second after now: the status record's second
  // is not earlier than the reminder's millisecond.
  test::write_file(dir / "paid.jsonl", R"({"type":"status","shop":"s1","order_id":"9100","status":"paid","at":")" +
                                           ops::iso_utc(std::time(nullptr) + 1) + "\"}\n");
  auto paid = ops::import_orders(policy, dir / "paid.jsonl");
  REQUIRE_MESSAGE(paid.status == 0, paid.err);
  const std::string paid_series = "nudge_orders_paid_after_reminder_total{campaign=\"default\",step=\"first\"}";
  REQUIRE_MESSAGE(test::eventually([&] {
    body = ops::http_body(ops::http_get(port, "/metrics"));
    return sample(body, paid_series) >= 1;
  }, 10s), body);
  CHECK(sample(body, paid_series) == 1);
  CHECK(sample(body, "nudge_recovered_amount_total{currency=\"USD\"}") == 10);

  // promtool reads the exposition from stdin; any complaint (a lint too) is a failure.
  test::write_file(dir / "scrape.txt", body);
  auto lint = test::run({"/bin/sh", "-c", "promtool check metrics < '" + dir / "scrape.txt" + "'"});
  std::string complaints = lint.out + lint.err;
  CHECK_MESSAGE(lint.status == 0, complaints);
  CHECK(complaints == "");

  SUBCASE("other paths are 404 and the server is on loopback only") {
    CHECK(ops::http_get(port, "/").rfind("HTTP/1.1 404", 0) == 0);
    auto ss = test::run({"/bin/sh", "-c", "ss -Hltn 'sport = :" + std::to_string(port) + "'"});
    if (ss.status == 0) {
      CHECK(ss.out.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
      CHECK(ss.out.find("0.0.0.0:" + std::to_string(port)) == std::string::npos);
    }
  }

  // A scraper that connected but sent nothing does not hold up the stop.
  int idle = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(idle, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  std::this_thread::sleep_for(100ms);
  auto stop_at = std::chrono::steady_clock::now();
  nudged.signal(SIGTERM);
  CHECK(nudged.wait(10s) == 0);
  CHECK(std::chrono::steady_clock::now() - stop_at < 2s);  // not the 5 s request timeout
  ::close(idle);
}

TEST_CASE("nudged refuses to start (exit 73) when the metrics port is taken") {
  test::TempDir dir;
  int port = ops::free_port();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::listen(fd, 1);
  std::string policy = ops::write_policy(dir, "metrics: {port: " + std::to_string(port) + "}\n");
  auto r = test::run({NUDGED_PATH, "--config", policy});
  ::close(fd);
  CHECK(r.status == 73);
  CHECK(r.err.find("cannot serve metrics on 127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("a reload moves /metrics to the policy's new port, and port 0 turns it off") {
  test::TempDir dir;
  int first = ops::free_port(), second = ops::free_port();
  while (second == first) second = ops::free_port();
  std::string policy = ops::write_policy(dir, "metrics: {port: " + std::to_string(first) + "}\n");
  test::Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log");
  REQUIRE(test::eventually([&] { return !ops::http_get(first, "/metrics").empty(); }, 10s));

  ops::write_policy(dir, "metrics: {port: " + std::to_string(second) + "}\n");
  nudged.signal(SIGHUP);
  CHECK(test::eventually([&] { return !ops::http_get(second, "/metrics").empty(); }, 5s));
  CHECK(ops::http_get(first, "/metrics").empty());

  ops::write_policy(dir, "metrics: {port: 0}\n");
  nudged.signal(SIGHUP);
  CHECK(test::eventually([&] { return ops::http_get(second, "/metrics").empty(); }, 5s));
  CHECK(nudged.running());
  nudged.signal(SIGTERM);
  CHECK(nudged.wait(10s) == 0);
}
