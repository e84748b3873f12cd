// Metrics: what a Prometheus scrape shows after a sequence of audit lines.
#include <doctest/doctest.h>

#include "core/audit.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"

namespace {

std::string line(const std::string& event, std::optional<int> send_id, const std::string& channel = "platform",
                 const std::string& reason = "", const std::string& ts = "2026-11-26T12:00:00.000Z") {
  std::string j = R"({"seq":1,"ts":")" + ts + R"(","event":")" + event + R"(","channel":)" +
                  (channel.empty() ? "null" : "\"" + channel + "\"") + R"(,"send_id":)" +
                  (send_id ? std::to_string(*send_id) : "null") + R"(,"reason":)" +
                  (reason.empty() ? "null" : "\"" + reason + "\"") + "}";
  return j;
}

bool has(const std::string& body, const std::string& sample) { return body.find("\n" + sample + "\n") != std::string::npos; }

struct Fixture {
  boost::asio::io_context io;
  nudge::Metrics::Gauges gauges{.pending_steps = 7, .due_backlog = 2, .last_poll_age_seconds = 1.5};
  bool gauges_fail = false;
  nudge::Metrics metrics{io, [this] {
    if (gauges_fail) throw std::runtime_error("database is locked");
    return gauges;
  }};
};

}  // namespace

using nudge::Metrics;

TEST_CASE("reminder outcomes are counted per channel, only for claimed sends") {
  Fixture f;
  f.metrics.add_channels({"platform", "email"});
  for (const auto& l : {line("sending", 1), line("sent", 1), line("sending", 2), line("failed", 2, "platform", "http_400"),
                        line("in_doubt", 3, "email", "interrupted"), line("cancelled", 4, "email", "paid"),
                        line("cancelled", std::nullopt, "", "paid"), line("scheduled", std::nullopt, "")})
    f.metrics.observe(l);
  std::string body = f.metrics.render();
  CHECK(has(body, R"(nudge_reminders_total{channel="platform",outcome="sent"} 1)"));
  CHECK(has(body, R"(nudge_reminders_total{channel="platform",outcome="failed"} 1)"));
  CHECK(has(body, R"(nudge_reminders_total{channel="email",outcome="in_doubt"} 1)"));
  CHECK(has(body, R"(nudge_reminders_total{channel="email",outcome="cancelled"} 1)"));  // not the unclaimed step
  CHECK(has(body, R"(nudge_reminders_total{channel="email",outcome="sent"} 0)"));
}

TEST_CASE("polls are counted by result, both results shown from the start") {
  Fixture f;
  std::string body = f.metrics.render();
  CHECK(has(body, "nudge_polls_total{result=\"ok\"} 0"));
  CHECK(has(body, "nudge_polls_total{result=\"failed\"} 0"));
  f.metrics.poll(true);
  f.metrics.poll(true);
  f.metrics.poll(false);
  body = f.metrics.render();
  CHECK(has(body, "nudge_polls_total{result=\"ok\"} 2"));
  CHECK(has(body, "nudge_polls_total{result=\"failed\"} 1"));
  CHECK(body.find("# TYPE nudge_polls_total counter\n") != std::string::npos);
}

TEST_CASE("deferrals, skips and channel pauses are counted by reason") {
  Fixture f;
  for (const auto& l : {line("deferred", std::nullopt, "", "quiet_hours"), line("deferred", std::nullopt, "", "quiet_hours"),
                        line("deferred", std::nullopt, "", "cap_buyer:1/24h"), line("skipped", 5, "", "superseded"),
                        line("deferred", 6, "email", "channel_paused: 3 failures")})
    f.metrics.observe(l);
  std::string body = f.metrics.render();
  CHECK(has(body, R"(nudge_deferrals_total{reason="quiet_hours"} 2)"));
  CHECK(has(body, R"(nudge_deferrals_total{reason="cap_buyer:1/24h"} 1)"));
  CHECK(has(body, R"(nudge_skips_total{reason="superseded"} 1)"));
  CHECK(has(body, R"(nudge_channel_pauses_total{channel="email"} 1)"));
}

TEST_CASE("send latency runs from the sending line to the outcome line of the same send") {
  Fixture f;
  f.metrics.observe(line("sending", 1, "platform", "", "2026-11-26T12:00:00.000Z"));
  f.metrics.observe(line("sending", 2, "platform", "", "2026-11-26T12:00:00.000Z"));
  f.metrics.observe(line("sent", 1, "platform", "", "2026-11-26T12:00:00.040Z"));    // 40 ms
  f.metrics.observe(line("retry", 2, "platform", "", "2026-11-26T12:00:03.000Z"));   // 3 s
  f.metrics.observe(line("sent", 9, "platform", "", "2026-11-26T12:00:05.000Z"));    // claimed before start: no sample
  std::string body = f.metrics.render();
  CHECK(has(body, "nudge_send_latency_seconds_count 2"));
  CHECK(has(body, "nudge_send_latency_seconds_sum 3.04"));
  CHECK(has(body, R"(nudge_send_latency_seconds_bucket{le="0.025"} 0)"));
  CHECK(has(body, R"(nudge_send_latency_seconds_bucket{le="0.05"} 1)"));
  CHECK(has(body, R"(nudge_send_latency_seconds_bucket{le="5"} 2)"));
  CHECK(has(body, R"(nudge_send_latency_seconds_bucket{le="+Inf"} 2)"));
}

TEST_CASE("gauges are read at scrape time, and left out when the store cannot answer") {
  Fixture f;
  std::string body = f.metrics.render();
  CHECK(has(body, "nudge_pending_steps 7"));
  CHECK(has(body, "nudge_due_backlog 2"));
  CHECK(has(body, "nudge_last_poll_age_seconds 1.5"));
  f.gauges_fail = true;
  f.metrics.store_fault();
  body = f.metrics.render();
  CHECK(body.find("\nnudge_pending_steps ") == std::string::npos);
  CHECK(body.find("# TYPE nudge_pending_steps gauge") != std::string::npos);
  CHECK(has(body, "nudge_store_faults_total 1"));
}

TEST_CASE("label values are escaped and broken lines are ignored") {
  Fixture f;
  f.metrics.observe(R"({"event":"skipped","reason":"a \"quoted\" \\ reason\nx","send_id":null})");
  f.metrics.observe("{not json");
  f.metrics.observe("");
  CHECK(has(f.metrics.render(), R"(nudge_skips_total{reason="a \"quoted\" \\ reason\nx"} 1)"));
}

TEST_CASE("STATUS= ages read like a person would say them") {
  CHECK(nudge::describe_age(-1) == "never");
  CHECK(nudge::describe_age(4200) == "4s ago");
  CHECK(nudge::describe_age(192000) == "3m12s ago");
  CHECK(nudge::describe_age(7500000) == "2h5m ago");
}

TEST_CASE("real audit lines are read right, also when an order id or detail looks like another field") {
  Fixture f;
  std::string hash;
  f.metrics.observe(nudge::audit_line(1, 1795168800000,
                                      {.event = "skipped", .shop = "s1", .buyer = "b1",
                                       .orders = {"o1\",\"reason\":\"evil", ",\"reason\":"}, .reason = "cap_order",
                                       .detail = ",\"reason\":\"evil\""},
                                      nudge::kGenesisHash, hash));
  f.metrics.observe(nudge::audit_line(2, 1795168800000,
                                      {.event = "skipped", .shop = "s1", .buyer = "b1", .reason = "quiet\thours"},
                                      hash, hash));
  std::string body = f.metrics.render();
  CHECK(has(body, R"(nudge_skips_total{reason="cap_order"} 1)"));
  CHECK(has(body, "nudge_skips_total{reason=\"quiet\thours\"} 1"));  // a tab, through the JSON parser
  CHECK(body.find("evil") == std::string::npos);
}

TEST_CASE("orders paid after a reminder and the amount recovered are counted from paid_after_reminder lines") {
  Fixture f;
  auto paid = [](const std::string& campaign, const std::string& step, const std::string& amount,
                 const std::string& currency) {
    nudge::AuditEvent e{.event = "paid_after_reminder", .shop = "s1", .buyer = "b1", .orders = {"o1"}, .step = step,
                        .channel = "platform", .tmpl = "warm", .lang = "en", .detail = "paid 1.0h after the reminder",
                        .campaign = campaign, .amount = amount, .currency = currency};
    std::string hash;
    return nudge::audit_line(1, 0, e, nudge::kGenesisHash, hash);
  };
  f.metrics.observe(paid("default", "first", "10.10", "USD"));
  f.metrics.observe(paid("default", "first", "0.20", "USD"));
  f.metrics.observe(paid("brazil", "second", "100", "BRL"));
  f.metrics.observe(line("sent", 1));  // not a payment
  std::string body = f.metrics.render();
  CHECK(body.find("# TYPE nudge_orders_paid_after_reminder_total counter") != std::string::npos);
  CHECK(has(body, R"(nudge_orders_paid_after_reminder_total{campaign="default",step="first"} 2)"));
  CHECK(has(body, R"(nudge_orders_paid_after_reminder_total{campaign="brazil",step="second"} 1)"));
  CHECK(has(body, R"(nudge_recovered_amount_total{currency="USD"} 10.30)"));
  CHECK(has(body, R"(nudge_recovered_amount_total{currency="BRL"} 100.00)"));
}
