// The webhook channel against a real local receiver (tests/fakes/webhook_receiver.py)
// that verifies Standard Webhooks signatures: over HTTPS with a CA made by the test,
// with the wrong CA, with refusing, failing and stalling receivers, and end to end
// through nudged.
#include <doctest/doctest.h>

#include "core/time_util.h"
#include "daemon/webhook_channel.h"
#include "integration/servers.h"

using namespace std::chrono_literals;
using nlohmann::json;
using nudge::Outcome;

namespace {

const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Receiver {
  test::TempDir& dir;
  std::string log;
  test::PythonServer server;
  Receiver(test::TempDir& d, std::vector<std::string> extra, const std::string& name = "hook")
      : dir(d),
        log(d / (name + ".jsonl")),
        server("webhook_receiver.py",
               [&] {
                 std::vector<std::string> a = {"--secret", kSecret, "--log", d / (name + ".jsonl")};
                 a.insert(a.end(), extra.begin(), extra.end());
                 return a;
               }(),
               d / (name + ".port"), d / (name + ".log")) {}
  std::vector<json> received() const { return test::json_lines(log); }
};

nudge::SendJob job() {
  nudge::SendJob j;
  j.send_id = 17;
  j.idempotency_key = "idem-0123456789abcdef";
  j.shop = "s1";
  j.buyer_id = "es1001";
  j.order_ids = {"8001", "8002"};
  j.step = "first";
  j.tmpl = "gentle";
  j.lang = "es";
  j.subject = "Tu pedido 8001 espera el pago";
  j.body = "Hola Ana,\nañadimos \"comillas\" y acentos.";
  return j;
}

// Sends one job on a private io_context, as the daemon's loop would, and waits for `done`.
std::pair<Outcome, std::string> send(const std::string& url, const std::string& ca_file, nudge::Millis timeout = 3000,
                                     const std::string& secret = kSecret) {
  boost::asio::io_context io;
  nudge::WebhookChannel ch(io, url, secret, ca_file, timeout);
  std::optional<std::pair<Outcome, std::string>> result;
  int calls = 0;
  ch.send(job(), [&](Outcome o, std::string e) {
    ++calls;
    result.emplace(o, e);
  });
  io.run_for(std::chrono::milliseconds(timeout + 5000));
  CHECK(calls == 1);
  REQUIRE(result);
  return *result;
}

}  // namespace

TEST_CASE("a reminder is POSTed over HTTPS, signed, to a server whose certificate our CA signed") {
  test::TempDir dir;
  test::make_ca(dir, "ca", true);
  Receiver hook(dir, {"--cert", dir / "server.pem", "--key", dir / "server.key"});
  auto [outcome, error] = send(hook.server.url("https") + "/hook", dir / "ca.pem");
  CHECK_MESSAGE(outcome == Outcome::kSent, error);
  auto got = hook.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0]["valid"] == true);
  CHECK(got[0]["path"] == "/hook");
  CHECK(got[0]["id"] == "idem-0123456789abcdef");
  CHECK(got[0]["content_type"] == "application/json");
  const auto& b = got[0]["body"];
  CHECK(b["send_id"] == 17);
  CHECK(b["idempotency_key"] == "idem-0123456789abcdef");
  CHECK(b["shop"] == "s1");
  CHECK(b["buyer"] == "es1001");
  CHECK(b["orders"] == json::array({"8001", "8002"}));
  CHECK(b["step"] == "first");
  CHECK(b["template"] == "gentle");
  CHECK(b["lang"] == "es");
  CHECK(b["subject"] == "Tu pedido 8001 espera el pago");
  CHECK(b["body"] == "Hola Ana,\nañadimos \"comillas\" y acentos.");
  std::int64_t ts = std::stoll(got[0]["timestamp"].get<std::string>());
  CHECK(std::abs(ts - nudge::SystemClock().now() / 1000) < 60);
}

TEST_CASE("a server certificate from another CA is refused: a transient failure, nothing delivered") {
  test::TempDir dir;
  test::make_ca(dir, "ca", true);
  test::make_ca(dir, "other", false);
  Receiver hook(dir, {"--cert", dir / "server.pem", "--key", dir / "server.key"});
  auto [outcome, error] = send(hook.server.url("https") + "/hook", dir / "other.pem");
  CHECK(outcome == Outcome::kTransient);
  CHECK(error.find("TLS") != std::string::npos);
  CHECK(error.find(kSecret) == std::string::npos);
  CHECK(hook.received().empty());
  SUBCASE("and so is the system CA store, which does not know the test CA") {
    auto [o2, e2] = send(hook.server.url("https") + "/hook", "");
    CHECK(o2 == Outcome::kTransient);
    CHECK(hook.received().empty());
  }
}

TEST_CASE("receivers that refuse, fail, stall or are not there give the right outcome") {
  test::TempDir dir;
  SUBCASE("a wrong secret: the receiver answers 401, a permanent refusal") {
    Receiver hook(dir, {});
    auto [o, e] = send(hook.server.url() + "/hook", "", 3000, "whsec_c29tZXRoaW5nIGVsc2U=");
    CHECK(o == Outcome::kPermanent);
    CHECK(e.find("401") != std::string::npos);
    REQUIRE(hook.received().size() == 1);
    CHECK(hook.received()[0]["valid"] == false);
  }
  SUBCASE("400 is permanent") {
    Receiver hook(dir, {"--status", "400"});
    CHECK(send(hook.server.url() + "/hook", "").first == Outcome::kPermanent);
  }
  SUBCASE("503 and 429 are transient") {
    Receiver a(dir, {"--status", "503"}, "a");
    CHECK(send(a.server.url() + "/hook", "").first == Outcome::kTransient);
    Receiver b(dir, {"--status", "429"}, "b");
    CHECK(send(b.server.url() + "/hook", "").first == Outcome::kTransient);
  }
  SUBCASE("an answer slower than the timeout is transient, and comes back in time") {
    Receiver hook(dir, {"--delay", "3"});
    auto start = std::chrono::steady_clock::now();
    auto [o, e] = send(hook.server.url() + "/hook", "", 500);
    CHECK(o == Outcome::kTransient);
    CHECK(e.find("timed out") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
  SUBCASE("nobody listening is transient") {
    auto [o, e] = send("http://127.0.0.1:9/hook", "");
    CHECK(o == Outcome::kTransient);
  }
}

TEST_CASE("nudged delivers a reminder through an HTTPS webhook channel set up in the policy") {
  test::TempDir dir;
  test::make_ca(dir, "ca", true);
  Receiver hook(dir, {"--cert", dir / "server.pem", "--key", dir / "server.key"});
  test::write_file(dir / "hook_secret", std::string(kSecret) + "\n");
  test::write_file(dir / "nudge.yaml", std::string(test::kSecondsHead) + R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: chat, template: gentle}
limits: {per_order: 1, per_buyer: [{max: 5, within: 1h}]}
channels:
  chat: {type: webhook, url: ")" + hook.server.url("https") + R"(/hook", secret_file: hook_secret, ca_file: ca.pem, timeout: 3s}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, it is reserved for you."}
)");
  std::string placed = nudge::format_instant(nudge::SystemClock().now() - 60000);
  test::write_file(dir / "orders.jsonl",
                   R"({"type":"order","shop":"s1","order_id":"9001","buyer_id":"b1","buyer_name":"Ana","amount":"5.00",)"
                   R"("currency":"USD","placed_at":")" + placed + R"(","status":"awaiting_payment"})" "\n");
  auto imp = test::run({NUDGECTL_PATH, "--config", dir / "nudge.yaml", "orders", "import", dir / "orders.jsonl"});
  REQUIRE_MESSAGE(imp.status == 0, imp.err);
  test::Process daemon({NUDGED_PATH, "--config", dir / "nudge.yaml"}, dir / "nudged.log");
  REQUIRE_MESSAGE(test::eventually([&] { return test::audit_count(dir / "audit.jsonl", "sent", "9001") == 1; }, 10s),
                  test::read_file(dir / "nudged.log"));
  auto got = hook.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0]["valid"] == true);
  CHECK(got[0]["body"]["orders"] == json::array({"9001"}));
  CHECK(got[0]["body"]["subject"] == "Your order 9001 is waiting");
  CHECK(test::read_file(dir / "nudged.log").find(kSecret) == std::string::npos);
  CHECK(test::read_file(dir / "audit.jsonl").find(kSecret) == std::string::npos);
}
