#include <doctest/doctest.h>

#include "core/time_util.h"
#include "daemon/channel.h"
#include "engine_fixture.h"

using namespace nudge;
using test::EngineFixture;
using test::T0;

TEST_CASE("an unpaid order gets its steps planned from the payment deadline") {
  EngineFixture f;
  auto r = f.add({.id = "o1"});
  CHECK(r.orders == 1);
  CHECK(r.planned_steps == 2);
  CHECK(f.engine->next_due() == T0 + 2 * kHour);  // deadline 2h, first step after 0s
  SQLite::Statement q(f.store->db(), "SELECT step, due_at FROM schedule ORDER BY due_at");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "first");
  CHECK(q.getColumn(1).getInt64() == T0 + 2 * kHour);
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "second");
  CHECK(q.getColumn(1).getInt64() == T0 + 26 * kHour);
}

TEST_CASE("steps due after the close (minus stop_before_close) are not planned") {
  EngineFixture f;
  auto o = test::make_order({.id = "o1"});
  o.closes_at = T0 + 3 * kHour;  // first step at 2h is fine, 26h is past 3h - 1h
  auto r = f.engine->ingest({o});
  CHECK(r.planned_steps == 1);
  CHECK(f.reasons("skipped") == std::vector<std::string>{"too_close_to_close"});
}

TEST_CASE("nothing is sent before a step is due, and a due step is sent once") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.run_until(T0 + 2 * kHour - 1);
  CHECK(f.delivered.empty());
  f.run_until(T0 + 2 * kHour);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].order_ids == std::vector<std::string>{"o1"});
  CHECK(f.delivered[0].step == "first");
  CHECK(f.step_state("o1", "first") == "sent");
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.size() == 1);
}

TEST_CASE("an order paid before its step is never reminded (G2)") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.clock.set(T0 + kHour);
  auto r = f.status("o1", OrderStatus::kPaid);
  CHECK(r.cancelled_steps == 2);
  f.run_until(T0 + 30 * kDay);
  CHECK(f.delivered.empty());
  CHECK(f.reasons("cancelled") == std::vector<std::string>{"paid", "paid"});
  CHECK(f.step_state("o1", "first") == "cancelled");
}

TEST_CASE("an order paid after the first reminder gets no second one") {
  EngineFixture f(test::base_policy("limits: {per_order: 2}"));
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.size() == 1);
  f.status("o1", OrderStatus::kPaid);
  f.run_until(T0 + 30 * kDay);
  CHECK(f.delivered.size() == 1);
  CHECK(f.step_state("o1", "second") == "cancelled");
}

TEST_CASE("a status for an unknown order and a malformed record are rejected, the rest goes on") {
  EngineFixture f;
  auto r = f.engine->ingest({StatusRecord{"s1", "nope", OrderStatus::kPaid, T0},
                             RejectedRecord{"s1", "x", "missing field 'buyer_id'"}, test::make_order({.id = "o1"})});
  CHECK(r.rejected == 2);
  CHECK(r.orders == 1);
  CHECK(f.reasons("order_rejected") == std::vector<std::string>{"unknown_order", "invalid_record"});
}

TEST_CASE("the same order twice plans its steps once") {
  EngineFixture f;
  f.add({.id = "o1"});
  auto r = f.add({.id = "o1"});
  CHECK(r.planned_steps == 0);
  CHECK(f.store->db().execAndGet("SELECT COUNT(*) FROM schedule").getInt() == 2);
}

TEST_CASE("a buyer reminded today is deferred to when the window allows (when_limited: defer)") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], when_limited: defer, merge: false}"));
  f.add({.id = "o1", .placed = T0});
  f.add({.id = "o2", .placed = T0 + kHour});
  f.run_until(T0 + 2 * kHour);
  REQUIRE(f.delivered.size() == 1);
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.size() == 1);
  CHECK(f.reasons("deferred") == std::vector<std::string>{"cap_buyer:1/1d"});
  // o2 goes out exactly when the first reminder leaves the 24h window.
  f.run_until(T0 + 26 * kHour - 1);
  CHECK(f.delivered.size() == 1);
  f.run_until(T0 + 26 * kHour);
  REQUIRE(f.delivered.size() >= 2);
  CHECK(f.delivered[1].order_ids == std::vector<std::string>{"o2"});
  CHECK(f.delivered_at[1] == T0 + 26 * kHour);
}

TEST_CASE("with when_limited: skip, a capped reminder is skipped, not deferred") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], when_limited: skip, merge: false}"));
  f.add({.id = "o1", .placed = T0});
  f.add({.id = "o2", .placed = T0 + kHour});
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.size() == 1);
  CHECK(f.reasons("deferred").empty());
  CHECK(f.reasons("skipped") == std::vector<std::string>{"cap_buyer:1/1d"});
  CHECK(f.step_state("o2", "first") == "skipped");
}

TEST_CASE("caps hold over sliding windows: never more than max within any window (G1)") {
  EngineFixture f(test::base_policy("limits: {per_order: 3, per_buyer: [{max: 2, within: 7d}], merge: false}",
                                    R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: a, after: 0s, channel: outbox, template: gentle}
      - {name: b, after: 1d, channel: outbox, template: gentle}
      - {name: c, after: 2d, channel: outbox, template: gentle}
)"));
  for (int i = 0; i < 4; ++i) f.add({.id = "o" + std::to_string(i), .placed = T0 + i * kHour});
  f.run_until(T0 + 20 * kDay);
  REQUIRE(f.delivered.size() >= 2);
  for (size_t i = 0; i < f.delivered_at.size(); ++i) {
    int in_window = 0;
    for (size_t j = 0; j <= i; ++j)
      if (f.delivered_at[j] > f.delivered_at[i] - 7 * kDay) ++in_window;
    CHECK(in_window <= 2);
  }
}

TEST_CASE("per_order caps how many reminders one order gets") {
  EngineFixture f(test::base_policy("limits: {per_order: 1}"));
  f.add({.id = "o1"});
  f.run_until(T0 + 5 * kDay);
  CHECK(f.delivered.size() == 1);
  CHECK(f.reasons("skipped") == std::vector<std::string>{"cap_order"});
}

TEST_CASE("a buyer with several due orders gets one message listing them all") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], merge: true}"));
  f.add({.id = "o1", .placed = T0});
  f.add({.id = "o2", .placed = T0});
  f.add({.id = "o3", .placed = T0, .shop = "s2"});  // another shop: another ledger
  f.run_until(T0 + 2 * kHour);
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered[0].order_ids == std::vector<std::string>{"o1", "o2"});
  CHECK(f.delivered[0].body.find("2 order(s)") != std::string::npos);
  CHECK(f.store->db().execAndGet("SELECT COUNT(*) FROM ledger WHERE shop='s1'").getInt() == 1);
  CHECK(f.step_state("o1", "first") == "sent");
  CHECK(f.step_state("o2", "first") == "sent");
}

TEST_CASE("after downtime, missed steps collapse into the newest due one") {
  EngineFixture f(test::base_policy("limits: {per_order: 3, misfire_grace: 6h}"));
  f.add({.id = "o1"});
  // The daemon was down for two days: both steps are overdue.
  f.clock.set(T0 + 2 * kDay + 4 * kHour);
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].step == "second");
  CHECK(f.step_state("o1", "first") == "skipped");
  CHECK(f.reasons("skipped") == std::vector<std::string>{"superseded"});
}

TEST_CASE("a failed send releases its ledger reservation") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], merge: false}"));
  f.add({.id = "o1"});
  f.add({.id = "o2", .placed = T0 + kHour});
  f.run_until(T0 + 2 * kHour, Outcome::kPermanent);
  CHECK(f.reasons("failed") == std::vector<std::string>{"permanent_error"});
  f.run_until(T0 + 3 * kHour);
  // o2 was not held back by o1's failed send.
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered[1].order_ids == std::vector<std::string>{"o2"});
  CHECK(f.delivered_at[1] == T0 + 3 * kHour);
}

TEST_CASE("a transient failure is retried with backoff, then given up") {
  EngineFixture f;  // outbox: retries max 3, backoff 30s
  f.add({.id = "o1"});
  f.run_until(T0 + 2 * kHour + 10 * kMinute, Outcome::kTransient);
  CHECK(f.delivered.size() == 4);  // the first try and 3 retries
  CHECK(f.delivered_at[1] - f.delivered_at[0] == 30 * kSecond);
  CHECK(f.delivered_at[2] - f.delivered_at[1] == 60 * kSecond);
  CHECK(f.delivered_at[3] - f.delivered_at[2] == 120 * kSecond);
  CHECK(f.delivered[3].attempt == 4);
  CHECK(f.delivered[3].idempotency_key == f.delivered[0].idempotency_key);
  CHECK(f.reasons("failed") == std::vector<std::string>{"retries_exhausted"});
}

TEST_CASE("a retry is not sent once the order was paid in the meantime") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.clock.set(T0 + 2 * kHour);
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  f.engine->complete(jobs[0].send_id, Outcome::kTransient, "timeout");
  f.status("o1", OrderStatus::kPaid);
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.empty());
  CHECK(f.step_state("o1", "first") == "cancelled");
}

TEST_CASE("a send left in flight by a crash becomes in_doubt, counts against caps, and is not resent (G4)") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], merge: false}"));
  f.add({.id = "o1"});
  f.add({.id = "o2", .placed = T0 + kHour});
  f.clock.set(T0 + 2 * kHour);
  REQUIRE(f.engine->claim_due().size() == 1);  // then the process dies
  Engine restarted(*f.store, f.policy, f.clock);
  restarted.start("test");
  CHECK(f.step_state("o1", "first") == "in_doubt");
  CHECK(f.reasons("in_doubt") == std::vector<std::string>{"interrupted"});
  f.clock.set(T0 + 3 * kHour);
  CHECK(restarted.claim_due().empty());  // o2 deferred: the in-doubt send still counts
  CHECK(f.reasons("deferred") == std::vector<std::string>{"cap_buyer:1/1d"});
}

TEST_CASE("on an at_least_once channel, a send left in flight is sent again with the same key") {
  std::string yaml = test::base_policy();
  yaml.replace(yaml.find("{type: outbox, dir: outbox}"), 27, "{type: outbox, dir: outbox, delivery: at_least_once}");
  EngineFixture f(yaml);
  f.add({.id = "o1"});
  f.clock.set(T0 + 2 * kHour);
  auto first = f.engine->claim_due();
  REQUIRE(first.size() == 1);
  Engine restarted(*f.store, f.policy, f.clock);
  restarted.start("test");
  auto again = restarted.claim_due();
  REQUIRE(again.size() == 1);
  CHECK(again[0].idempotency_key == first[0].idempotency_key);
  CHECK(again[0].attempt == 2);
}

TEST_CASE("quiet hours defer a reminder to their end in the buyer's zone (G3)") {
  // Quiet 21:00-09:00. T0 + 2h = 14:00 UTC = 23:00 in Asia/Tokyo (UTC+9).
  EngineFixture f(test::base_policy("limits: {quiet_hours: {from: \"21:00\", to: \"09:00\"}}"));
  f.add({.id = "o1", .country = "JP", .tz = ""});
  f.add({.id = "o2", .buyer = "b2", .country = "ES", .tz = "America/New_York"});  // 09:00 in New York: allowed
  f.run_until(T0 + 2 * kHour);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].order_ids == std::vector<std::string>{"o2"});
  CHECK(f.reasons("deferred") == std::vector<std::string>{"quiet_hours"});
  // 09:00 Tokyo = 00:00 UTC next day.
  f.run_until(*parse_instant("2026-11-21T00:00:00Z"));
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered_at[1] == *parse_instant("2026-11-21T00:00:00Z"));
}

TEST_CASE("an opted-out buyer's steps are skipped") {
  EngineFixture f;
  f.engine->opt_out("s1", "b1", true);
  f.add({.id = "o1"});
  f.run_until(T0 + 5 * kDay);
  CHECK(f.delivered.empty());
  CHECK(f.reasons("skipped") == std::vector<std::string>{"opted_out", "opted_out"});
}

TEST_CASE("orders matching no campaign are not reminded") {
  EngineFixture f(test::base_policy("limits: {}", R"(campaigns:
  - name: brazil
    match: {countries: [BR]}
    steps:
      - {name: first, after: 48h, channel: outbox, template: gentle}
)"));
  f.add({.id = "o1", .country = "ES"});
  f.add({.id = "o2", .buyer = "b2", .country = "BR"});
  CHECK(f.reasons("skipped") == std::vector<std::string>{"no_campaign"});
  f.run_until(T0 + 5 * kDay);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].order_ids == std::vector<std::string>{"o2"});
  CHECK(f.delivered_at[0] == T0 + 50 * kHour);
}

TEST_CASE("an email step falls to the next channel when the buyer has no address") {
  EngineFixture f(test::base_policy("limits: {}", R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: [email, outbox], template: gentle}
)"));
  f.add({.id = "o1", .email = "a@example.com"});
  f.add({.id = "o2", .buyer = "b2"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered[0].channel == "email");
  CHECK(f.delivered[0].buyer_email == "a@example.com");
  CHECK(f.delivered[1].channel == "outbox");
}

TEST_CASE("messages are rendered in the buyer's language, with buyer text cleaned") {
  EngineFixture f;
  auto o = test::make_order({.id = "o1", .lang = "es-MX"});
  o.buyer_name = "Ana\r\nBcc: x www.evil.example";
  f.engine->ingest({o});
  f.run_until(T0 + 2 * kHour);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].lang == "es");
  CHECK(f.delivered[0].subject == "Pedido o1");
  CHECK(f.delivered[0].body == "Hola Ana Bcc: x, se cierra en 9 días");
}

TEST_CASE("a permanent failure on a step's channel goes on with the step's next channel") {
  EngineFixture f(test::base_policy("limits: {per_buyer: [{max: 1, within: 24h}]}", R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: [email, outbox], template: gentle}
)"));
  f.add({.id = "o1", .email = "a@example.com"});
  f.clock.set(T0 + 2 * kHour);
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].channel == "email");
  f.engine->complete(jobs[0].send_id, Outcome::kPermanent, "550 no such user");
  // The failed email released its reservation, so the buyer's cap lets the outbox through.
  auto again = f.engine->claim_due();
  REQUIRE(again.size() == 1);
  CHECK(again[0].channel == "outbox");
  f.engine->complete(again[0].send_id, Outcome::kPermanent, "disk on fire");
  CHECK(f.step_state("o1", "first") == "failed");
  CHECK(f.reasons("failed") == std::vector<std::string>{"permanent_error", "permanent_error"});
  CHECK(f.reasons("scheduled").back() == "next_channel");
}

namespace {
// A clock that moves on every reading, like the system clock under load.
class TickingClock final : public Clock {
 public:
  explicit TickingClock(Millis start) : now_(start) {}
  Millis now() const override { return now_++; }
  void set(Millis t) { now_ = t; }

 private:
  mutable Millis now_;
};
}  // namespace

TEST_CASE("a clock that moves during a decision never defers a reminder without a reason") {
  std::string error;
  auto store = Store::open(":memory:", error);
  auto policy = test::policy_from(test::base_policy("limits: {per_buyer: [{max: 1, within: 24h}]}"));
  TickingClock clock(T0);
  Engine engine(*store, policy, clock);
  engine.ingest({test::make_order({.id = "o1"}), test::make_order({.id = "o2", .buyer = "b2"})});
  clock.set(T0 + 2 * kHour);
  auto jobs = engine.claim_due();
  CHECK(jobs.size() == 2);
  CHECK(store->db().execAndGet("SELECT COUNT(*) FROM audit WHERE event='deferred'").getInt() == 0);
}

TEST_CASE("a merged message of orders at different steps names each order's step on every line about it") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 1h}], merge: true}"));
  f.add({.id = "o1", .placed = T0 - 24 * kHour});  // its second step is due at T0 + 2h too
  f.add({.id = "o2", .placed = T0});
  f.clock.set(T0 - 22 * kHour);
  REQUIRE(f.engine->claim_due().size() == 1);  // o1's first step, alone
  f.clock.set(T0 + 2 * kHour);
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].order_ids == std::vector<std::string>{"o2", "o1"});
  CHECK(jobs[0].steps == std::map<std::string, std::string>{{"o1", "second"}, {"o2", "first"}});
  auto file = message_json(jobs[0]);  // what the outbox file and the webhook carry
  CHECK(file["steps"]["o1"] == "second");
  CHECK(file["steps"]["o2"] == "first");
  // Every line about the message: sending, the retry after a transient failure, the
  // second sending and the sent line.
  f.engine->complete(jobs[0].send_id, Outcome::kTransient);
  f.run_until(T0 + 3 * kHour);
  const std::string want = "\"steps\":{\"o1\":\"second\",\"o2\":\"first\"}";
  std::map<std::string, int> carrying;
  const std::string of_send = "%\"send_id\":" + std::to_string(jobs[0].send_id) + ",%";
  SQLite::Statement q(f.store->db(), "SELECT event, line FROM audit WHERE line LIKE ?");
  q.bind(1, of_send);
  while (q.executeStep()) {
    std::string line = q.getColumn(1).getString();
    CHECK_MESSAGE(line.find(want) != std::string::npos, line);
    ++carrying[q.getColumn(0).getString()];
  }
  CHECK(carrying["sending"] == 2);
  CHECK(carrying["retry"] == 1);
  CHECK(carrying["sent"] == 1);
  // A message of orders at one step carries no steps field.
  SQLite::Statement single(f.store->db(), "SELECT COUNT(*) FROM audit WHERE line LIKE '%\"steps\":%' AND line NOT LIKE ?");
  single.bind(1, of_send);
  single.executeStep();
  CHECK(single.getColumn(0).getInt() == 0);
}

TEST_CASE("a discard channel's sends are decided and counted like any other, and say so in their sent line") {
  std::string yaml = test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], merge: false}");
  yaml.replace(yaml.find("{type: outbox, dir: outbox}"), 27, "{type: discard}");
  EngineFixture f(yaml);
  f.add({.id = "o1"});
  f.add({.id = "o2", .placed = T0 + kHour});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);  // o2 waits: the discarded send counts against the buyer's cap
  CHECK(f.reasons("deferred") == std::vector<std::string>{"cap_buyer:1/1d"});
  SQLite::Statement q(f.store->db(), "SELECT line FROM audit WHERE event='sent'");
  REQUIRE(q.executeStep());
  CHECK(std::string(q.getColumn(0).getString()).find("\"channel\":\"outbox\"") != std::string::npos);
  CHECK(std::string(q.getColumn(0).getString()).find("\"detail\":\"channel_type: discard\"") != std::string::npos);
}

// Regression: claim_retry used to leave out opt-out and skip_if_paid_within.
TEST_CASE("a retry goes through the same checks as a first send: a buyer who opted out meanwhile gets nothing") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.clock.set(T0 + 2 * kHour);
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  f.engine->complete(jobs[0].send_id, Outcome::kTransient, "503");
  f.engine->opt_out("s1", "b1", true);
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.empty());
  CHECK(f.step_state("o1", "first") == "skipped");
  CHECK(f.reasons("skipped") == std::vector<std::string>{"opted_out"});
  SQLite::Statement q(f.store->db(), "SELECT state FROM sends WHERE id=?");
  q.bind(1, static_cast<int64_t>(jobs[0].send_id));
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "cancelled");
  // Its reservation is released: it never went out.
  SQLite::Statement l(f.store->db(), "SELECT released FROM ledger WHERE send_id=?");
  l.bind(1, static_cast<int64_t>(jobs[0].send_id));
  REQUIRE(l.executeStep());
  CHECK(l.getColumn(0).getInt() == 1);
}

TEST_CASE("a retry goes through the same checks as a first send: skip_if_paid_within holds on retry") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, skip_if_paid_within: 6h, merge: false}"));
  f.add({.id = "o1"});
  f.add({.id = "o2", .placed = T0 + 3 * kHour});
  f.clock.set(T0 + 2 * kHour);
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  f.engine->complete(jobs[0].send_id, Outcome::kTransient, "timeout");
  f.status("o2", OrderStatus::kPaid);  // the buyer pays another order while o1's send waits
  f.run_until(T0 + 2 * kHour + 10 * kMinute);
  CHECK(f.delivered.empty());
  CHECK(f.step_state("o1", "first") == "skipped");
  CHECK(f.reasons("skipped") == std::vector<std::string>{"paid_recently"});
}

// A retry whose quiet hours end after the order's reminders stop is ended at once,
// as a first send is: it used to wait for the morning and only then be cancelled.
TEST_CASE("a retry that quiet hours would hold past the order's stop is skipped at once, as a first send") {
  std::string yaml = test::base_policy("limits: {per_order: 2, quiet_hours: {from: \"14:01\", to: \"09:00\"}}");
  yaml.replace(yaml.find("closes_after: 10d"), 17, "closes_after: 12h");  // reminders stop at T0 + 11h
  yaml.replace(yaml.find("dir: outbox}"), 12, "dir: outbox, retries: {backoff: 10m}}");
  EngineFixture f(yaml);
  f.add({.id = "o1", .tz = "UTC"});
  f.clock.set(T0 + 2 * kHour);  // 14:00 UTC: not yet quiet
  auto jobs = f.engine->claim_due();
  REQUIRE(jobs.size() == 1);
  f.engine->complete(jobs[0].send_id, Outcome::kTransient, "timeout");
  f.run_until(T0 + 3 * kHour);  // the retry is due at 14:10, in quiet hours until 09:00
  CHECK(f.delivered.empty());
  CHECK(f.reasons("deferred").empty());
  // The second step, planned past the stop, and now the first.
  CHECK(f.reasons("skipped") == std::vector<std::string>{"too_close_to_close", "too_close_to_close"});
  CHECK(f.step_state("o1", "first") == "skipped");
  SQLite::Statement q(f.store->db(), "SELECT state FROM sends WHERE id=?");
  q.bind(1, static_cast<int64_t>(jobs[0].send_id));
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "cancelled");
  CHECK_FALSE(f.engine->next_due());  // nothing left to wake for
}

// Regression: claims used to run ahead of what a channel could take.
TEST_CASE("a claim takes only what each channel has room for; the rest stays scheduled, unaudited") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, merge: false}"));
  for (int i = 0; i < 5; ++i) f.add({.id = "o" + std::to_string(i), .buyer = "b" + std::to_string(i)});
  f.clock.set(T0 + 2 * kHour);
  std::map<std::string, int> room{{"outbox", 2}};
  auto jobs = f.engine->claim_due(100, &room);
  CHECK(jobs.size() == 2);
  CHECK(room["outbox"] == 0);
  CHECK(f.engine->counts().scheduled == 5 + 3);  // 5 second steps, 3 first steps left
  CHECK(f.reasons("deferred").empty());
  // A retry without room waits as a retry.
  f.engine->complete(jobs[0].send_id, Outcome::kTransient, "timeout");
  f.clock.set(T0 + 3 * kHour);
  room["outbox"] = 0;
  CHECK(f.engine->claim_due(100, &room).empty());
  room["outbox"] = 10;
  auto next = f.engine->claim_due(100, &room);
  CHECK(next.size() == 4);  // the retry and the three first steps
  CHECK(room["outbox"] == 6);
}

// Regression: reload used to install the new policy before its transaction committed.
TEST_CASE("a reload whose store write fails installs nothing: the old policy stays, in memory and in the store") {
  EngineFixture f;
  f.add({.id = "o1"});
  auto old = f.engine->policy_ptr();
  auto next = test::policy_from(test::base_policy("limits: {per_order: 3}", R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 5h, channel: outbox, template: gentle}
)"));
  f.store->db().exec("PRAGMA query_only=1");  // every write now fails
  CHECK_THROWS(f.engine->reload(next));
  f.store->db().exec("PRAGMA query_only=0");
  CHECK(f.engine->policy_ptr() == old);
  CHECK(f.engine->policy().limits.per_order == 2);
  f.run_until(T0 + 3 * kHour);  // the old plan: first step at T0+2h
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered_at[0] == T0 + 2 * kHour);
}
