// Buyers' replies end to end against the real nudged: replies posted to the signed
// webhook and pasted with `nudgectl reply` change what the buyers get (an opt-out
// stops the second reminder, a bank transfer request holds and flags, a promise and a
// question defer), a message id is taken once across a restart, and junk, bad
// signatures, replays and oversized bodies are refused while the daemon carries on.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "daemon/webhook_channel.h"
#include "integration/ops_helpers.h"
#include "integration/servers.h"

namespace {
using namespace std::chrono_literals;
using ops::http_raw;

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::stoi(response.substr(9, 3));
}

const std::string kSecret = "whsec_" + nudge::base64_encode("a secret of the reply webhook!");

// A POST /replies signed with `secret` at `ts` (Unix seconds).
std::string post(int port, const std::string& body, const std::string& id, long long ts,
                 const std::string& secret = kSecret) {
  std::string t = std::to_string(ts);
  std::string req = "POST /replies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "webhook-id: " + id + "\r\nwebhook-timestamp: " + t + "\r\nwebhook-signature: " +
                    nudge::webhook_signature(secret, id, t, body) + "\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  return http_raw(port, req);
}

std::string reply_body(const std::string& buyer, const std::string& text) {
  return nlohmann::json{{"shop", "s1"}, {"buyer_id", buyer}, {"text", text}, {"channel", "whatsapp"}}.dump();
}

long long now_s() { return std::time(nullptr); }

// The audit events of `event` for `order`, as their reasons.
std::vector<std::string> reasons(const std::string& audit, const std::string& event, const std::string& order) {
  std::vector<std::string> out;
  for (const auto& e : test::json_lines(audit))
    if (e.value("event", "") == event && e.contains("orders") && e["orders"].is_array() && !e["orders"].empty() &&
        e["orders"][0] == order)
      out.push_back(e["reason"].is_string() ? e["reason"].get<std::string>() : "");
  return out;
}

}  // namespace

TEST_CASE("buyers' replies through the signed webhook and nudgectl reply change what the real nudged sends") {
  test::TempDir dir;
  int port = ops::free_port();
  std::string policy = ops::write_policy(
      dir, "replies: {promise: 20s, pause: 40s, listen: \"127.0.0.1:" + std::to_string(port) +
               "\", secret_file: replies_secret}\n");  // the demo's orders close after 2 minutes
  test::write_file(dir / "replies_secret", kSecret + "\n");
  const std::string audit = dir / "audit.jsonl";
  auto nudged = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", policy},
                                                dir / "nudged.log");
  auto log = [&] { return test::read_file(dir / "nudged.log"); };
  REQUIRE_MESSAGE(test::eventually([&] { return status_of(http_raw(port, "GET /replies HTTP/1.1\r\n\r\n")) == 405; }, 15s),
                  log());

  // Four buyers, each reminded once at once; their `last` step is due 12 s later.
  auto imported = ops::import_orders(policy, ops::write_orders(dir, 4, 9101, 5));
  REQUIRE_MESSAGE(imported.status == 0, imported.err);
  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(audit, "sent") >= 4; }, 15s), log());

  // They answer.
  std::string stop = post(port, reply_body("b9101", "STOP"), "msg_stop", now_s());
  CHECK_MESSAGE(status_of(stop) == 202, stop);
  CHECK(stop.find("\"taken\"") != std::string::npos);
  CHECK(status_of(post(port, reply_body("b9102", "Can I pay you by bank transfer instead?"), "msg_bank", now_s())) == 202);
  CHECK(status_of(post(port, reply_body("b9103", "I'll pay tomorrow, sorry"), "msg_promise", now_s())) == 202);
  auto pasted = test::run({NUDGECTL_PATH, "--config", policy, "reply", "--shop", "s1", "--buyer", "b9104", "--text",
                           "When will it ship to Berlin?"});
  CHECK_MESSAGE(pasted.status == 0, pasted.err);

  // Past the `last` steps' time: nobody got a second reminder, each for its reason.
  REQUIRE_MESSAGE(test::eventually([&] {
    return reasons(audit, "cancelled", "9101").size() == 1 && reasons(audit, "held", "9102").size() == 1 &&
           reasons(audit, "deferred", "9103").size() == 1 && reasons(audit, "deferred", "9104").size() == 1;
  }, 25s), log() << test::read_file(audit));
  CHECK(reasons(audit, "cancelled", "9101") == std::vector<std::string>{"opted_out"});
  CHECK(reasons(audit, "held", "9102") == std::vector<std::string>{"off_platform_request:payment_route"});
  CHECK(reasons(audit, "deferred", "9103") == std::vector<std::string>{"buyer_promised"});
  CHECK(reasons(audit, "deferred", "9104") == std::vector<std::string>{"buyer_replied"});
  for (const char* order : {"9101", "9102", "9103", "9104"}) {
    CAPTURE(order);
    CHECK(test::audit_count(audit, "sent", order) == 1);
  }
  CHECK(test::audit_count(audit, "opted_out") == 1);
  CHECK(test::audit_count(audit, "flagged") == 1);
  // The promise is kept for: 20 s after it, the buyer gets the reminder after all.
  CHECK_MESSAGE(test::eventually([&] { return test::audit_count(audit, "sent", "9103") == 2; }, 25s),
                test::read_file(audit));

  // The seller sees the flag with the buyer's words, and the held buyer.
  auto flags = test::run({NUDGECTL_PATH, "--config", policy, "flags"});
  CHECK(flags.status == 0);
  CHECK(flags.out.find("s1/b9102  off_platform_request:payment_route") != std::string::npos);
  CHECK(flags.out.find("> Can I pay you by bank transfer instead?") != std::string::npos);
  auto buyer = test::run({NUDGECTL_PATH, "--config", policy, "buyer", "b9102"});
  CHECK(buyer.out.find("held: off_platform_request:payment_route") != std::string::npos);
  CHECK(buyer.out.find("off_platform (payment_route) via whatsapp") != std::string::npos);
  MESSAGE("nudgectl flags:\n" << flags.out << "nudgectl buyer b9102:\n" << buyer.out);
  std::string metrics_none = ops::http_get(port, "/metrics");  // not served there: 404
  CHECK(status_of(metrics_none) == 404);

  // Junk of every kind is refused, and nudged carries on.
  const std::string body = reply_body("b9101", "stop");
  CHECK(status_of(post(port, body, "msg_x", now_s(), "whsec_" + nudge::base64_encode("another secret"))) == 401);
  CHECK(status_of(post(port, body, "msg_x", now_s() - 6 * 60)) == 401);   // a replay: 6 minutes old
  CHECK(status_of(post(port, body, "msg_x", now_s() + 6 * 60)) == 401);   // from the future
  CHECK(status_of(post(port, std::string(70 * 1024, 'x'), "msg_big", now_s())) == 413);
  CHECK(status_of(post(port, "{\"shop\":\"s1\",", "msg_bad", now_s())) == 400);
  CHECK(status_of(post(port, "[1,2,3]", "msg_arr", now_s())) == 400);
  CHECK(status_of(post(port, reply_body("b\x01", "hi"), "msg_ctl", now_s())) == 400);
  CHECK(status_of(http_raw(port, "POST /replies HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")) == 400);  // unsigned
  std::string garbage = http_raw(port, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n");
  CHECK((garbage.empty() || status_of(garbage) == 400));
  CHECK(status_of(http_raw(port, "POST /elsewhere HTTP/1.1\r\nContent-Length: 0\r\n\r\n")) == 404);
  CHECK(nudged->running());

  // A restart: the same message is a repeat, taken once across it.
  nudged->signal(SIGTERM);
  REQUIRE(nudged->wait(15s) == 0);
  nudged = std::make_unique<test::Process>(std::vector<std::string>{NUDGED_PATH, "--config", policy},
                                           dir / "nudged.log");
  REQUIRE_MESSAGE(test::eventually([&] { return status_of(http_raw(port, "GET /replies HTTP/1.1\r\n\r\n")) == 405; }, 15s),
                  log());
  std::string again = post(port, reply_body("b9101", "STOP"), "msg_stop", now_s());
  CHECK_MESSAGE(status_of(again) == 202, again);
  CHECK(again.find("\"duplicate\"") != std::string::npos);
  CHECK(test::audit_count(audit, "replied") == 4);

  // Clearing the flag lets b9102's reminder go on.
  auto cleared = test::run({NUDGECTL_PATH, "--config", policy, "flags", "clear", "1"});
  CHECK_MESSAGE(cleared.status == 0, cleared.err);
  CHECK(cleared.out.find("1 held reminder step scheduled again") != std::string::npos);
  CHECK(test::eventually([&] { return test::audit_count(audit, "sent", "9102") == 2; }, 20s));
  CHECK(test::run({NUDGECTL_PATH, "--config", policy, "flags"}).out == "no open flags\n");
  nudged->signal(SIGTERM);
  CHECK(nudged->wait(15s) == 0);
}
