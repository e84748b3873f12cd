// decide_buyer and allowed_at alone: a buyer's state as plain values, the policy as a
// seller writes it, and the instant; no store. (engine_test.cpp runs the same rules
// through the engine and SQLite.)
#include <doctest/doctest.h>

#include "core/decide.h"
#include "engine_fixture.h"

namespace {

using namespace nudge;
using test::T0;

OrderFacts order(const std::string& id, const std::string& status = "awaiting_payment") {
  return {.order_id = id, .buyer_name = "Ana", .country = "ES", .lang = "en", .tz = "UTC", .amount = "10.00",
          .currency = "USD", .status = status, .placed_at = T0 - 2 * kHour, .closes_at = T0 + 10 * kDay};
}

DueStep due(std::int64_t id, const std::string& order_id, const std::string& step = "first", Millis at = T0) {
  return {.id = id, .order_id = order_id, .campaign = "default", .step = step,
          .step_index = step == "first" ? 0 : 1, .due_at = at};
}

BuyerSnapshot buyer(std::vector<DueStep> steps, std::vector<OrderFacts> orders) {
  BuyerSnapshot s{.shop = "s1", .buyer = "b1", .due = std::move(steps)};
  for (auto& o : orders) s.orders[o.order_id] = o;
  return s;
}

// "kind state reason channel" per decision, and the order ids of each, to compare whole lists.
std::vector<std::string> describe(const std::vector<Decision>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) {
    std::string line = d.kind == Decision::Kind::kSend    ? "send"
                       : d.kind == Decision::Kind::kDefer ? "defer"
                                                          : std::string(to_string(d.state));
    if (!d.reason.empty()) line += " " + d.reason;
    if (!d.channel.empty()) line += " via " + d.channel;
    line += " [";
    for (size_t i = 0; i < d.steps.size(); ++i) line += (i ? "," : "") + d.steps[i]->order_id + "/" + d.steps[i]->step;
    out.push_back(line + "]");
  }
  return out;
}

}  // namespace

TEST_CASE("decide: a paid order's due steps are cancelled; the buyer's other orders merge into one message") {
  auto p = test::policy_from(test::base_policy());
  auto s = buyer({due(1, "o1"), due(2, "o2"), due(3, "o3", "first", T0 - kMinute)},
                 {order("o1"), order("o2", "paid"), order("o3")});
  auto ds = decide_buyer(*p, s, T0, nullptr);
  CHECK(describe(ds) == std::vector<std::string>{"cancelled paid [o2/first]", "send via outbox [o3/first,o1/first]"});
  REQUIRE(ds.size() == 2);
  // The message is rendered for both orders, oldest first.
  CHECK(ds[1].text.subject == "Order o3");
  CHECK(ds[1].text.body.find("2 order(s)") != std::string::npos);
  CHECK(ds[1].tmpl == "gentle");
  CHECK(ds[1].steps_by_order.empty());  // both at the same step
}

TEST_CASE("decide: a step missed past misfire_grace gives way to the newer due step of its order") {
  auto p = test::policy_from(test::base_policy());
  // first was due 30 h ago (grace is 6 h), second is due now.
  auto s = buyer({due(1, "o1", "first", T0 - 30 * kHour), due(2, "o1", "second", T0 - 6 * kHour)}, {order("o1")});
  CHECK(describe(decide_buyer(*p, s, T0, nullptr)) ==
        std::vector<std::string>{"skipped superseded [o1/first]", "send via outbox [o1/second]"});
  // Within the grace the older step goes first (and the newer waits for a later claim).
  auto late = buyer({due(1, "o1", "first", T0 - 5 * kHour), due(2, "o1", "second", T0 - kHour)}, {order("o1")});
  CHECK(describe(decide_buyer(*p, late, T0, nullptr)) == std::vector<std::string>{"send via outbox [o1/first]"});
}

TEST_CASE("decide: the buyer's fullest window defers the message until its oldest reminder ages out") {
  auto p = test::policy_from(test::base_policy());  // per_buyer: 1 within 24h
  auto s = buyer({due(1, "o1")}, {order("o1")});
  s.ledger = {T0 - 2 * kHour};
  auto ds = decide_buyer(*p, s, T0, nullptr);
  CHECK(describe(ds) == std::vector<std::string>{"defer cap_buyer:1/1d via outbox [o1/first]"});
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].until == T0 + 22 * kHour);
  // A window that ends before the order closes skips it instead.
  auto closing = buyer({due(1, "o1")}, {order("o1")});
  closing.orders["o1"].closes_at = T0 + 12 * kHour;
  closing.ledger = {T0 - 2 * kHour};
  CHECK(describe(decide_buyer(*p, closing, T0, nullptr)) ==
        std::vector<std::string>{"skipped too_close_to_close via outbox [o1/first]"});
}

TEST_CASE("decide: without merge, the second message of the same moment counts the first against the window") {
  auto p = test::policy_from(
      test::base_policy("limits: {per_order: 2, merge: false, per_buyer: [{max: 1, within: 24h}]}"));
  auto s = buyer({due(1, "o1"), due(2, "o2")}, {order("o1"), order("o2")});
  auto ds = decide_buyer(*p, s, T0, nullptr);
  CHECK(describe(ds) ==
        std::vector<std::string>{"send via outbox [o1/first]", "defer cap_buyer:1/1d via outbox [o2/first]"});
  REQUIRE(ds.size() == 2);
  CHECK(ds[1].until == T0 + 24 * kHour);
}

TEST_CASE("decide: a channel without room leaves the steps out, still scheduled; a message takes one") {
  auto p = test::policy_from(test::base_policy());
  auto s = buyer({due(1, "o1")}, {order("o1")});
  std::map<std::string, int> room{{"outbox", 0}};
  CHECK(decide_buyer(*p, s, T0, &room).empty());
  room["outbox"] = 2;
  CHECK(describe(decide_buyer(*p, s, T0, &room)) == std::vector<std::string>{"send via outbox [o1/first]"});
  CHECK(room["outbox"] == 1);
}

TEST_CASE("decide: an opted-out buyer is skipped, a flagged one held, one who promised to pay deferred") {
  auto p = test::policy_from(test::base_policy());
  auto s = buyer({due(1, "o1")}, {order("o1")});
  s.hold = "opted_out";
  CHECK(describe(decide_buyer(*p, s, T0, nullptr)) == std::vector<std::string>{"skipped opted_out [o1/first]"});
  s.hold = "off_platform_request:payment";
  CHECK(describe(decide_buyer(*p, s, T0, nullptr)) ==
        std::vector<std::string>{"held off_platform_request:payment [o1/first]"});
  s.hold.clear();
  s.wait = ReplyWait{.until = T0 + 2 * kDay, .reason = "buyer_promised"};
  auto ds = decide_buyer(*p, s, T0, nullptr);
  CHECK(describe(ds) == std::vector<std::string>{"defer buyer_promised [o1/first]"});
  CHECK(ds.at(0).until == T0 + 2 * kDay);
}

TEST_CASE("decide: limits.per_order counts what went out; email needs an address; quiet hours defer") {
  auto p = test::policy_from(test::base_policy());
  auto s = buyer({due(1, "o1", "second")}, {order("o1")});
  s.sent_by_order["o1"] = 2;  // per_order: 2
  CHECK(describe(decide_buyer(*p, s, T0, nullptr)) == std::vector<std::string>{"skipped cap_order [o1/second]"});

  auto mail = test::policy_from(test::base_policy(
      "limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}]}",
      "campaigns:\n  - name: default\n    match: {}\n    steps:\n"
      "      - {name: first, after: 0s, channel: email, template: gentle}\n"));
  auto e = buyer({due(1, "o1")}, {order("o1")});
  CHECK(describe(decide_buyer(*mail, e, T0, nullptr)) == std::vector<std::string>{"skipped no_channel [o1/first]"});
  e.orders["o1"].email = "ana@example.com";
  CHECK(describe(decide_buyer(*mail, e, T0, nullptr)) == std::vector<std::string>{"send via email [o1/first]"});

  // T0 is noon UTC; in Tokyo it is 21:00, inside 21:00-09:00.
  auto quiet = test::policy_from(test::base_policy("limits: {quiet_hours: {from: \"21:00\", to: \"09:00\"}}"));
  auto q = buyer({due(1, "o1")}, {order("o1")});
  q.orders["o1"].tz = "Asia/Tokyo";
  auto ds = decide_buyer(*quiet, q, T0, nullptr);
  CHECK(describe(ds) == std::vector<std::string>{"defer quiet_hours via outbox [o1/first]"});
  CHECK(ds.at(0).until == T0 + 12 * kHour);  // 09:00 in Tokyo
}

TEST_CASE("decide: a message whose rendering carries a phone number is skipped as unsafe_content") {
  auto p = test::policy_from(test::base_policy());
  auto s = buyer({due(1, "o1")}, {order("o1")});
  s.orders["o1"].buyer_name = "Ana WhatsApp +7 916 123-45-67";
  CHECK(describe(decide_buyer(*p, s, T0, nullptr)) ==
        std::vector<std::string>{"skipped unsafe_content:contact via outbox [o1/first]"});
}

TEST_CASE("allowed_at: each window counts the reminders within it; the fullest decides") {
  auto p = test::policy_from(
      test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}, {max: 3, within: 7d}]}"));
  std::string limiting;
  CHECK(allowed_at(p->limits, {}, T0, limiting) == T0);
  CHECK(limiting.empty());
  // One exactly a day old has left the day's window.
  CHECK(allowed_at(p->limits, {T0 - 24 * kHour}, T0, limiting) == T0);
  // One 30 h ago: outside the day, inside the week (1 of 3).
  CHECK(allowed_at(p->limits, {T0 - 30 * kHour}, T0, limiting) == T0);
  // One 2 h ago: the day is full until it is 24 h old.
  CHECK(allowed_at(p->limits, {T0 - 30 * kHour, T0 - 2 * kHour}, T0, limiting) == T0 + 22 * kHour);
  CHECK(limiting == "cap_buyer:1/1d");
  // Three in the week, the oldest 6 days ago: the week is full for one more day.
  limiting.clear();
  CHECK(allowed_at(p->limits, {T0 - 6 * kDay, T0 - 4 * kDay, T0 - 2 * kDay}, T0, limiting) == T0 + kDay);
  CHECK(limiting == "cap_buyer:3/7d");
}

TEST_CASE("decide_retry: a retry goes through a first send's checks, in their order") {
  auto p = test::policy_from(test::base_policy());
  auto retry = [](std::vector<RetrySnapshot::Order> orders) {
    RetrySnapshot s;
    s.orders = std::move(orders);
    return s;
  };
  RetrySnapshot::Order o1{.order_id = "o1", .step = "first", .status = "awaiting_payment", .tz = "UTC",
                          .country = "ES", .closes_at = T0 + 10 * kDay};
  RetrySnapshot::Order manual = o1;
  manual.order_id = "o2";
  manual.step = "manual";

  CHECK(decide_retry(*p, retry({o1}), T0).kind == RetryDecision::Kind::kSend);

  SUBCASE("a reply's wait defers it; a manual reminder goes on; a send of both is split") {
    auto s = retry({o1});
    s.wait = ReplyWait{.until = T0 + 30 * kHour, .reason = "buyer_promised"};
    auto d = decide_retry(*p, s, T0);
    CHECK(d.kind == RetryDecision::Kind::kDefer);
    CHECK(d.until == T0 + 30 * kHour);
    CHECK(d.reason == "buyer_promised");

    s.orders = {manual};
    CHECK(decide_retry(*p, s, T0).kind == RetryDecision::Kind::kSend);

    s.orders = {o1, manual};
    d = decide_retry(*p, s, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    REQUIRE(d.orders.size() == 2);
    CHECK(d.orders[0].split);
    CHECK(d.orders[1].split);
  }
  SUBCASE("a wait past the close ends it; a paid order's step is cancelled, the others' go back") {
    auto s = retry({o1, o1});
    s.orders[1].order_id = "o3";
    s.orders[1].closes_at = T0 + kDay;  // reminders stop at T0 + 23h
    s.wait = ReplyWait{.until = T0 + 30 * kHour, .reason = "buyer_promised"};
    auto d = decide_retry(*p, s, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    CHECK(d.orders[0].split);
    CHECK_FALSE(d.orders[1].split);
    CHECK(d.orders[1].reason == "too_close_to_close");

    s.wait.reset();
    s.orders[1].status = "paid";
    d = decide_retry(*p, s, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    CHECK(d.orders[0].split);
    CHECK(d.orders[1].state == StepState::kCancelled);
    CHECK(d.orders[1].reason == "paid");
  }
  SUBCASE("a hold ends it: a flag holds the step, an opt-out skips it") {
    auto s = retry({o1});
    s.hold = "off_platform_request:payment_route";
    auto d = decide_retry(*p, s, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    CHECK(d.orders[0].state == StepState::kHeld);
    s.hold = "opted_out";
    CHECK(decide_retry(*p, s, T0).orders[0].state == StepState::kSkipped);
  }
  SUBCASE("the buyer's window defers it until a reminder leaves the window") {
    auto s = retry({o1});
    s.ledger = {T0 - 2 * kHour};  // per_buyer: 1 within 24h
    auto d = decide_retry(*p, s, T0);
    CHECK(d.kind == RetryDecision::Kind::kDefer);
    CHECK(d.until == T0 + 22 * kHour);
    CHECK(d.reason == "cap_buyer:1/1d");
  }
  SUBCASE("a wait that ends after an order's stop ends the retry at once, as it ends a first send") {
    // T0 is noon UTC, 21:00 in Tokyo: quiet until 09:00 there (T0 + 12h).
    auto quiet = test::policy_from(test::base_policy("limits: {quiet_hours: {from: \"21:00\", to: \"09:00\"}}"));
    auto s = retry({o1, o1});
    s.orders[0].tz = "Asia/Tokyo";
    s.orders[1].order_id = "o3";
    s.orders[1].closes_at = T0 + 10 * kHour;  // reminders stop at T0 + 9h, before 09:00 in Tokyo
    auto d = decide_retry(*quiet, s, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    REQUIRE(d.orders.size() == 2);
    CHECK(d.orders[0].split);  // o1 goes back to the schedule: its fresh claim defers it
    CHECK_FALSE(d.orders[1].split);
    CHECK(d.orders[1].state == StepState::kSkipped);
    CHECK(d.orders[1].reason == "too_close_to_close");
    // Both close after the quiet hours: the retry waits for them, as before.
    s.orders[1].closes_at = T0 + 10 * kDay;
    d = decide_retry(*quiet, s, T0);
    CHECK(d.kind == RetryDecision::Kind::kDefer);
    CHECK(d.until == T0 + 12 * kHour);
    CHECK(d.reason == "quiet_hours");

    // The buyer's window likewise: full until T0 + 22h, past the stop at T0 + 9h.
    auto w = retry({o1});
    w.orders[0].closes_at = T0 + 10 * kHour;
    w.ledger = {T0 - 2 * kHour};
    d = decide_retry(*p, w, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    CHECK(d.orders.at(0).reason == "too_close_to_close");
  }
  SUBCASE("when_limited: skip skips a limited retry, as it skips a limited first send") {
    auto skip = test::policy_from(
        test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 24h}], when_limited: skip}"));
    auto s = retry({o1});
    s.ledger = {T0 - 2 * kHour};
    auto d = decide_retry(*skip, s, T0);
    REQUIRE(d.kind == RetryDecision::Kind::kCancel);
    CHECK_FALSE(d.orders.at(0).split);
    CHECK(d.orders.at(0).state == StepState::kSkipped);
    CHECK(d.orders.at(0).reason == "cap_buyer:1/1d");
    // And the same first send, for comparison.
    auto b = buyer({due(1, "o1")}, {order("o1")});
    b.ledger = {T0 - 2 * kHour};
    CHECK(describe(decide_buyer(*skip, b, T0, nullptr)) ==
          std::vector<std::string>{"skipped cap_buyer:1/1d via outbox [o1/first]"});
  }
}
