// What a buyer's reply does to their reminders (core/engine_replies.cpp and the
// claim's hook), on a real Engine with a manual clock.
#include "core/retention.h"
#include "engine_fixture.h"

using namespace test;

namespace {

IngestResult reply(EngineFixture& f, const std::string& text, const std::string& id, const std::string& buyer = "b1") {
  return f.engine->ingest({ReplyRecord{"s1", buyer, text, "chat", id, f.clock.now()}});
}

std::int64_t count(EngineFixture& f, const std::string& sql) {
  SQLite::Statement q(f.store->db(), sql);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace

TEST_CASE("a buyer who writes stop after the first reminder gets no second") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  f.clock.set(T0 + 4 * kHour);
  auto r = reply(f, "STOP", "m1");
  CHECK(r.replies == 1);
  CHECK(r.cancelled_steps == 1);
  f.run_until(T0 + 5 * kDay);
  CHECK(f.delivered.size() == 1);
  CHECK(f.step_state("o1", "second") == "cancelled");
  CHECK(f.reasons("opted_out") == std::vector<std::string>{"buyer_reply"});
  CHECK(f.reasons("cancelled") == std::vector<std::string>{"opted_out"});
  CHECK(f.reasons("replied") == std::vector<std::string>{"opt_out"});
  // A later order of the same buyer is not reminded either.
  f.add({.id = "o2", .placed = f.clock.now()});
  f.run_until(f.clock.now() + 3 * kDay);
  CHECK(f.delivered.size() == 1);
}

TEST_CASE("a buyer who asks to pay by bank transfer is held and flagged until the seller clears the flag") {
  EngineFixture f;
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  f.clock.set(T0 + 4 * kHour);
  reply(f, "Can I pay you by bank transfer instead?", "m1");
  CHECK(f.step_state("o1", "second") == "held");
  CHECK(f.reasons("flagged") == std::vector<std::string>{"off_platform_request:payment_route"});
  CHECK(f.reasons("held") == std::vector<std::string>{"off_platform_request:payment_route"});
  CHECK(count(f, "SELECT COUNT(*) FROM flags WHERE cleared_at IS NULL") == 1);

  SUBCASE("held: nothing goes out, and a new order of the buyer is held at its claim") {
    f.add({.id = "o2", .placed = f.clock.now()});
    f.run_until(T0 + 5 * kDay);
    CHECK(f.delivered.size() == 1);
    CHECK(f.step_state("o2", "first") == "held");
  }
  SUBCASE("cleared: the held step is scheduled again and sent") {
    f.run_until(T0 + 2 * kDay);  // past the second step's time: held, not sent
    CHECK(f.delivered.size() == 1);
    std::int64_t id = count(f, "SELECT id FROM flags");
    CHECK(f.engine->clear_flag(id, "alice") == 1);
    CHECK(f.engine->clear_flag(id, "alice") == -1);  // cleared once
    CHECK(f.step_state("o1", "second") == "scheduled");
    CHECK(f.reasons("flag_cleared") == std::vector<std::string>{"off_platform_request:payment_route"});
    f.run_until(T0 + 3 * kDay);
    CHECK(f.delivered.size() == 2);
  }
  SUBCASE("a stop after the flag cancels the held steps") {
    f.clock.set(T0 + 5 * kHour);
    reply(f, "stop messaging me", "m2");
    CHECK(f.step_state("o1", "second") == "cancelled");
  }
  SUBCASE("the order paid while held: its held step is cancelled, not left held") {
    f.status("o1", OrderStatus::kPaid);
    CHECK(f.step_state("o1", "second") == "cancelled");
  }
}

TEST_CASE("a buyer who promises to pay gets the next step replies.promise after the promise") {
  EngineFixture f(base_policy() + "replies: {promise: 30h}\n");
  f.add({.id = "o1"});
  f.run_until(T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  f.clock.set(T0 + 20 * kHour);
  reply(f, "I'll pay tomorrow, sorry", "m1");
  CHECK(f.reasons("replied") == std::vector<std::string>{"promise"});
  f.run_until(T0 + 49 * kHour);
  CHECK(f.delivered.size() == 1);
  CHECK(f.reasons("deferred") == std::vector<std::string>{"buyer_promised"});
  f.run_until(T0 + 51 * kHour);
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered_at[1] == T0 + 50 * kHour);  // 20h + 30h
}

TEST_CASE("any other reply pauses automatic steps for replies.pause; 0s turns the pause off") {
  SUBCASE("the default pause: 24h after the reply") {
    EngineFixture f;
    f.add({.id = "o1"});
    f.run_until(T0 + 3 * kHour);
    f.clock.set(T0 + 20 * kHour);
    reply(f, "When will it ship?", "m1");
    f.run_until(T0 + 3 * kDay);
    REQUIRE(f.delivered.size() == 2);
    CHECK(f.delivered_at[1] == T0 + 44 * kHour);
    CHECK(f.reasons("deferred") == std::vector<std::string>{"buyer_replied"});
  }
  SUBCASE("pause: 0s") {
    EngineFixture f(base_policy() + "replies: {pause: 0s}\n");
    f.add({.id = "o1"});
    f.run_until(T0 + 3 * kHour);
    f.clock.set(T0 + 20 * kHour);
    reply(f, "When will it ship?", "m1");
    f.run_until(T0 + 3 * kDay);
    REQUIRE(f.delivered.size() == 2);
    CHECK(f.delivered_at[1] == T0 + 26 * kHour);
  }
}

TEST_CASE("a reply's message id is taken once") {
  EngineFixture f;
  f.add({.id = "o1"});
  CHECK(reply(f, "Can I pay by Zelle?", "m1").replies == 1);
  auto again = reply(f, "Can I pay by Zelle?", "m1");
  CHECK(again.replies == 0);
  CHECK(again.duplicate_replies == 1);
  CHECK(count(f, "SELECT COUNT(*) FROM flags") == 1);
  CHECK(f.reasons("replied").size() == 1);
  // The same id on another channel is another message.
  f.engine->ingest({ReplyRecord{"s1", "b1", "thanks", "email", "m1", f.clock.now()}});
  CHECK(count(f, "SELECT COUNT(*) FROM replies") == 2);
}

TEST_CASE("a reply record is read strictly, like an order record") {
  auto ok = parse_feed_line(
      R"({"type":"reply","shop":"s1","buyer_id":"b1","text":"stop","at":"2026-11-20T10:00:00Z","channel":"chat","message_id":"m1"})");
  REQUIRE(std::holds_alternative<ReplyRecord>(ok));
  CHECK(std::get<ReplyRecord>(ok).text == "stop");
  struct Case {
    const char* line;
    const char* reason;
  };
  const Case cases[] = {
      {R"({"type":"reply","shop":"s1","buyer_id":"b1","at":"2026-11-20T10:00:00Z","channel":"chat","message_id":"m1"})",
       "missing field 'text'"},
      {R"({"type":"reply","shop":"s1","buyer_id":"b1","text":"x","at":"yesterday","channel":"chat","message_id":"m1"})",
       "field 'at' is not an ISO 8601 time"},
      {R"({"type":"reply","shop":"s1","buyer_id":"b1","text":"x","at":"2026-11-20T10:00:00Z","channel":"chat","message_id":"m\n1"})",
       "field 'message_id' has a control character"},
      {R"({"type":"reply","shop":"s1","buyer_id":"b1","text":"x","at":"2026-11-20T10:00:00Z","message_id":"m1"})",
       "missing field 'channel'"},
      {R"({"type":"reply","shop":"s1","buyer_id":"b1","text":"","at":"2026-11-20T10:00:00Z","channel":"c","message_id":"m1"})",
       "field 'text' is empty"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto r = parse_feed_line(c.line);
    REQUIRE(std::holds_alternative<RejectedRecord>(r));
    CHECK(std::get<RejectedRecord>(r).reason.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("replies older than records.max_age, long-cleared flags and idle chat cursors are pruned") {
  EngineFixture f(base_policy() + "records: {max_age: 30d}\nretention: {orders: 10d, audit: 20d}\n");
  reply(f, "Can I pay by Zelle?", "m1");
  reply(f, "thanks", "m2", "b2");
  f.engine->clear_flag(1, "alice");
  f.engine->ingest({}, "aliexpress_chat:s1/b2", R"({"start_time":1})");
  f.clock.set(T0 + 15 * kDay);
  auto r = prune_step(*f.store, *f.policy, f.clock.now());
  CHECK(r.replies == 0);
  f.clock.set(T0 + 25 * kDay);  // the flag cleared 25 days ago; the cursor idle for 25 > 10d + 7d
  r = prune_step(*f.store, *f.policy, f.clock.now());
  CHECK(r.replies == 2);
  CHECK(count(f, "SELECT COUNT(*) FROM flags") == 0);
  CHECK(count(f, "SELECT COUNT(*) FROM source_state WHERE source LIKE 'aliexpress_chat:%'") == 0);
  CHECK(count(f, "SELECT COUNT(*) FROM replies") == 2);
  f.clock.set(T0 + 31 * kDay);
  r = prune_step(*f.store, *f.policy, f.clock.now());
  CHECK(r.replies == 2);
  CHECK(count(f, "SELECT COUNT(*) FROM replies") == 0);
}

// buyer_ids grew by every buyer ever reminded through AliExpress, and the chat poller
// walks all of it.
TEST_CASE("chat ids of buyers with no order left are pruned, oldest first; buyers with orders keep theirs") {
  EngineFixture f(base_policy() + "retention: {orders: 10d, audit: 20d}\nreplies: {watch: 7d}\n");
  f.add({.id = "o1", .buyer = "act1"});
  f.add({.id = "o2", .buyer = "act2"});
  f.store->db().exec("INSERT INTO buyer_ids(shop, login_id, platform_id, at) VALUES ('s1','act1','1',0), "
                     "('s1','act2','2',1), ('s1','gone1','3',2), ('s1','gone2','4',3), ('s1','recent','5'," +
                     std::to_string(T0 + 17 * kDay) + ")");
  auto ids = [&] {
    std::string out;
    SQLite::Statement q(f.store->db(), "SELECT login_id FROM buyer_ids ORDER BY login_id");
    while (q.executeStep()) out += q.getColumn(0).getString() + " ";
    return out;
  };
  f.clock.set(T0 + 18 * kDay);  // resolved before T0 + 1d (10d + 7d ago): looked at
  prune_step(*f.store, *f.policy, f.clock.now(), 2);  // the oldest two have orders: kept, and dated now
  CHECK(ids() == "act1 act2 gone1 gone2 recent ");
  prune_step(*f.store, *f.policy, f.clock.now(), 2);  // so the next two are reached
  CHECK(ids() == "act1 act2 recent ");
}

TEST_CASE("a reply pauses automatic steps only: the seller's manual reminder still goes, an opt-out stops it") {
  SUBCASE("after a question, the manual reminder goes at once and the automatic step waits") {
    EngineFixture f;
    f.add({.id = "o1"});
    f.run_until(T0 + 3 * kHour);  // first, at T0 + 2h
    f.clock.set(T0 + 25 * kHour);
    reply(f, "When will it ship?", "m1");  // automatic steps wait until T0 + 49h
    f.clock.set(T0 + 27 * kHour);
    CHECK(f.engine->ingest({RemindRecord{"s1", "o1", "", "", "alice", f.clock.now()}}).reminds == 1);
    f.run_until(T0 + 28 * kHour);
    REQUIRE(f.delivered.size() == 2);
    CHECK(f.delivered[1].step == "manual");
    CHECK(f.delivered_at[1] == T0 + 27 * kHour);
    CHECK(f.reasons("deferred") == std::vector<std::string>{"buyer_replied"});  // the automatic second step
  }
  SUBCASE("after STOP, the manual reminder is refused like any reminder") {
    EngineFixture f;
    f.add({.id = "o1"});
    f.run_until(T0 + 3 * kHour);
    f.clock.set(T0 + 25 * kHour);
    reply(f, "STOP", "m1");
    f.clock.set(T0 + 27 * kHour);
    f.engine->ingest({RemindRecord{"s1", "o1", "", "", "alice", f.clock.now()}});
    f.run_until(T0 + 3 * kDay);
    CHECK(f.delivered.size() == 1);
  }
}

// Regression: a retry used to skip the reply's wait (decide_retry now applies it): a
// buyer who promised to pay while a send waited to be retried got the retry anyway.
TEST_CASE("a reply holds back a send that waits to be retried, as it holds a first send") {
  std::int64_t send_id = 0;
  auto fail_once = [&](EngineFixture& f, Millis at) {
    f.clock.set(at);
    auto jobs = f.engine->claim_due();
    REQUIRE(jobs.size() == 1);
    send_id = jobs[0].send_id;
    f.engine->complete(send_id, Outcome::kTransient, "503");  // the webhook answered 503
  };
  auto send_state = [&](EngineFixture& f) {
    SQLite::Statement q(f.store->db(), "SELECT state, attempt FROM sends WHERE id=?");
    q.bind(1, static_cast<int64_t>(send_id));
    REQUIRE(q.executeStep());
    return q.getColumn(0).getString() + "/" + std::to_string(q.getColumn(1).getInt());
  };
  SUBCASE("a promise: the retry waits replies.promise, then goes as the same send") {
    EngineFixture f(base_policy() + "replies: {promise: 30h}\n");
    f.add({.id = "o1"});
    fail_once(f, T0 + 2 * kHour);
    reply(f, "I'll pay tomorrow, sorry", "m1");
    f.run_until(T0 + 31 * kHour);
    CHECK(f.delivered.empty());
    // The retry, and the second step when it fell due at T0 + 26h.
    CHECK(f.reasons("deferred") == std::vector<std::string>{"buyer_promised", "buyer_promised"});
    CHECK(send_state(f) == "retry/1");
    f.run_until(T0 + 33 * kHour);
    REQUIRE(f.delivered.size() == 1);
    CHECK(f.delivered[0].send_id == send_id);
    CHECK(f.delivered[0].attempt == 2);
    CHECK(f.delivered_at[0] == T0 + 32 * kHour);  // 2h + 30h
  }
  SUBCASE("a promise beyond the order's close: the send is cancelled, its step skipped, its reservation released") {
    EngineFixture f(base_policy() + "replies: {promise: 30h}\n");
    f.add({.id = "o1"});
    fail_once(f, T0 + 9 * kDay);  // the order closes at T0 + 10d; reminders stop an hour before
    reply(f, "I'll pay tomorrow, sorry", "m1");
    f.run_until(T0 + 11 * kDay);
    CHECK(f.delivered.empty());
    CHECK(send_state(f) == "cancelled/1");
    CHECK(f.step_state("o1", "second") == "skipped");
    CHECK(f.reasons("skipped") == std::vector<std::string>{"superseded", "too_close_to_close"});
    CHECK(count(f, "SELECT released FROM ledger WHERE send_id=" + std::to_string(send_id)) == 1);
  }
  SUBCASE("a question: the retry waits replies.pause (24h by default)") {
    EngineFixture f;
    f.add({.id = "o1"});
    fail_once(f, T0 + 2 * kHour);
    f.clock.set(T0 + 2 * kHour + 10 * kMinute);
    reply(f, "When will it ship?", "m1");
    f.run_until(T0 + 3 * kDay);
    REQUIRE(f.delivered.size() == 2);  // the retry, then the second step
    CHECK(f.delivered[0].send_id == send_id);
    CHECK(f.delivered_at[0] == T0 + 26 * kHour + 10 * kMinute);
    CHECK(f.reasons("deferred").front() == "buyer_replied");
  }
}
