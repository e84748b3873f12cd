// The signed inbound webhook's pure parts: the body, the replay window, the signature,
// and the policy keys that turn it on.
#include <doctest/doctest.h>

#include "core/hash.h"
#include "core/reply_webhook.h"
#include "core/time_util.h"
#include "daemon/reply_listener.h"
#include "daemon/webhook_channel.h"
#include "engine_fixture.h"

using namespace nudge;

TEST_CASE("a webhook body is one reply object; at, channel and message_id have defaults") {
  const Millis now = *parse_instant("2026-11-20T12:00:00Z");
  auto r = parse_reply_body(R"({"shop":"s1","buyer_id":"b1","text":"stop"})", "msg_1", now);
  REQUIRE(std::holds_alternative<ReplyRecord>(r));
  const auto& rp = std::get<ReplyRecord>(r);
  CHECK(rp.message_id == "msg_1");
  CHECK(rp.channel == "webhook");
  CHECK(rp.at == now);
  r = parse_reply_body(
      R"({"shop":"s1","buyer_id":"b1","text":"x","channel":"whatsapp","message_id":"wamid.7","at":"2026-11-20T11:00:00Z"})",
      "msg_1", now);
  REQUIRE(std::holds_alternative<ReplyRecord>(r));
  CHECK(std::get<ReplyRecord>(r).message_id == "wamid.7");
  CHECK(std::get<ReplyRecord>(r).channel == "whatsapp");

  struct Case {
    std::string body, reason;
  };
  const Case bad[] = {
      {"", "not valid JSON"},
      {"{\"shop\":", "not valid JSON"},
      {"[1]", "must be a JSON object"},
      {R"({"type":"order","shop":"s1"})", "field 'type' must be \"reply\""},
      {R"({"shop":"s1","buyer_id":"b1"})", "missing field 'text'"},
      {R"({"shop":"s1","buyer_id":7.5,"text":"x"})", "field 'buyer_id' must be a string"},
      {std::string(kReplyBodyMax + 1, ' '), "larger than 64 KiB"},
  };
  for (const auto& c : bad) {
    CAPTURE(c.body.substr(0, 40));
    auto x = parse_reply_body(c.body, "msg_1", now);
    REQUIRE(std::holds_alternative<RejectedRecord>(x));
    CHECK(std::get<RejectedRecord>(x).reason.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("a webhook timestamp more than 5 minutes from now is a replay") {
  const Millis now = 1'800'000'000'000;
  CHECK(webhook_timestamp_fresh("1800000000", now));
  CHECK(webhook_timestamp_fresh("1799999700", now));   // 5 minutes ago
  CHECK_FALSE(webhook_timestamp_fresh("1799999699", now));
  CHECK(webhook_timestamp_fresh("1800000300", now));
  CHECK_FALSE(webhook_timestamp_fresh("1800000301", now));
  for (const char* junk : {"", "-5", "18e8", "1800000000.5", " 1800000000", "99999999999999999999"}) {
    CAPTURE(junk);
    CHECK_FALSE(webhook_timestamp_fresh(junk, now));
  }
}

TEST_CASE("a webhook signature is checked against every v1 signature of the header") {
  const std::string secret = "whsec_" + base64_encode("key bytes"), body = R"({"a":1})";
  const std::string good = webhook_signature(secret, "msg_1", "1800000000", body);
  CHECK(webhook_signature_ok(secret, "msg_1", "1800000000", body, good));
  CHECK(webhook_signature_ok(secret, "msg_1", "1800000000", body, "v1,b3Rocg== " + good));
  CHECK_FALSE(webhook_signature_ok(secret, "msg_2", "1800000000", body, good));
  CHECK_FALSE(webhook_signature_ok(secret, "msg_1", "1800000001", body, good));
  CHECK_FALSE(webhook_signature_ok(secret, "msg_1", "1800000000", body + " ", good));
  CHECK_FALSE(webhook_signature_ok("whsec_" + base64_encode("other"), "msg_1", "1800000000", body, good));
  CHECK_FALSE(webhook_signature_ok(secret, "msg_1", "1800000000", body, ""));
}

TEST_CASE("replies: listen needs an IPv4 address, a port and a secret file; promise, pause, watch and every are durations") {
  auto errors = [](const std::string& replies) {
    auto r = parse_policy(test::base_policy() + replies, "/tmp/nudge-test/policy.yaml");
    std::string all;
    for (const auto& e : r.errors) all += e.message + "\n";
    return all;
  };
  CHECK(errors("replies: {promise: 12h, pause: 0s}\n") == "");
  CHECK(errors("replies: {listen: \"127.0.0.1:9465\", secret_file: s}\n") == "");
  CHECK(errors("replies: {listen: \"127.0.0.1:9465\"}\n").find("needs replies.secret_file") != std::string::npos);
  CHECK(errors("replies: {listen: \"localhost:9465\", secret_file: s}\n").find("IPV4_ADDRESS:PORT") != std::string::npos);
  CHECK(errors("replies: {listen: \"127.0.0.1:70000\", secret_file: s}\n").find("IPV4_ADDRESS:PORT") != std::string::npos);
  CHECK(errors("replies: {promise: soon}\n").find("replies.promise") != std::string::npos);
  CHECK(errors("replies: {watch: 7d, every: 0s}\n") == "");
  CHECK(errors("replies: {every: 500ms}\n") != "");
  CHECK(errors("replies: {hear: 1s}\n").find("hear") != std::string::npos);
}
