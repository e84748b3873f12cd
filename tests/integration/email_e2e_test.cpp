// End to end: the real nudged, orders imported with the real nudgectl, reminders
// delivered by SMTP to a real server (aiosmtpd) or, for a buyer without an email,
// to the outbox — the step says `channel: [email, outbox]`.
#include <doctest/doctest.h>

#include <signal.h>

#include <set>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/time_util.h"
#include "fakes/smtp_sink.h"
#include "helpers.h"

using namespace test;

namespace {

std::string policy_yaml(const SmtpSink& sink, const std::string& ca_file) {
  return std::string(test::kSecondsHead) + R"(campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: [email, outbox], template: gentle}
limits:
  per_order: 1
  per_buyer: [{max: 3, within: 1m}]
languages: {default: en, RU: ru, CN: zh}
channels:
  outbox: {type: outbox, dir: outbox}
  email: {type: smtp, url: ")" + sink.url() + R"(", from: "Магазин <shop@example.com>",
          username: shop, password_file: smtp_password, ca_file: ")" + ca_file + R"(", timeout: 5s, retries: {max: 0}}
templates:
  gentle:
    en: {subject: "Your order {{first_order_id}} is waiting", body: "Hi {{buyer_name}}, please pay order {{first_order_id}} in the app."}
    ru: {subject: "Ваш заказ {{first_order_id}} ждёт оплаты", body: "Здравствуйте, {{buyer_name}}! Оплатите заказ {{first_order_id}} в приложении."}
    zh: {subject: "您的订单 {{first_order_id}} 等待付款", body: "{{buyer_name}}，您好！请在应用中为订单 {{first_order_id}} 付款。"}
)";
}

std::string order(const std::string& id, const std::string& buyer, const std::string& name, const std::string& country,
                  const std::string& lang, const std::string& email, nudge::Millis placed) {
  nlohmann::ordered_json j = {{"type", "order"},     {"shop", "s1"},        {"order_id", id},
                              {"buyer_id", buyer},   {"buyer_name", name},  {"buyer_country", country},
                              {"buyer_lang", lang},  {"amount", "33.31"},   {"currency", "USD"},
                              {"placed_at", nudge::format_instant(placed)}, {"status", "awaiting_payment"}};
  if (!email.empty()) j["buyer_email"] = email;
  return j.dump() + "\n";
}

std::string key_of(const std::string& db, const std::string& buyer) {
  SQLite::Database d(db, SQLite::OPEN_READONLY);
  SQLite::Statement q(d, "SELECT idempotency_key FROM sends WHERE buyer_id=?");
  q.bind(1, buyer);
  REQUIRE(q.executeStep());
  return q.getColumn(0).getString();
}

}  // namespace

TEST_CASE("nudged emails buyers who have an address and writes the outbox for those who do not") {
  TempDir dir;
  const std::string password = "e2e-Pa55word";
  make_test_cert(dir / "cert.pem", dir / "key.pem");  // a password goes only over TLS
  SmtpSink sink(dir / "sink", {.user = "shop", .password = password, .cert = dir / "cert.pem", .key = dir / "key.pem",
                               .replies = {"550:gone@example.com"}});
  std::string policy = dir / "nudge.yaml";
  write_file(policy, policy_yaml(sink, dir / "cert.pem"));
  write_file(dir / "smtp_password", password + "\n");
  nudge::Millis placed = nudge::SystemClock().now() - 5 * nudge::kSecond;  // already past the 1s deadline
  write_file(dir / "feed.jsonl", order("9001", "ru1", "Иван Петров", "RU", "ru", "ivan@example.com", placed) +
                                     order("9002", "cn1", "王伟", "CN", "zh", "wang@example.cn", placed) +
                                     order("9003", "es1", "Ana Ruiz", "ES", "es", "", placed) +
                                     order("9004", "gone1", "Gone", "US", "en", "gone@example.com", placed));
  RunResult imp = run({NUDGECTL_PATH, "--config", policy, "orders", "import", dir / "feed.jsonl"});
  INFO("nudgectl: " << imp.out << imp.err);
  REQUIRE(imp.status == 0);

  Process nudged({NUDGED_PATH, "--config", policy}, dir / "nudged.log");
  INFO("nudged log:\n" << read_file(dir / "nudged.log"));
  INFO("audit:\n" << read_file(dir / "audit.jsonl"));
  auto audit_has = [&](const std::string& event, const std::string& buyer) {
    for (const auto& l : read_lines(dir / "audit.jsonl")) {
      auto j = nlohmann::json::parse(l, nullptr, false);
      if (!j.is_discarded() && j["event"] == event && j["buyer"] == buyer) return true;
    }
    return false;
  };
  bool arrived = eventually(
      [&] {
        return sink.messages().size() >= 2 && count_files(dir / "outbox") >= 2 && audit_has("failed", "gone1");
      },
      std::chrono::seconds(20));
  REQUIRE(arrived);

  // The two buyers with an email got one each, in their language.
  REQUIRE(sink.messages().size() == 2);
  std::map<std::string, nlohmann::json> by_rcpt;
  for (const auto& eml : sink.messages()) {
    auto env = SmtpSink::envelope(eml);
    CHECK(env["authenticated"] == true);
    CHECK(env["mail_from"] == "shop@example.com");
    REQUIRE(env["rcpt_tos"].size() == 1);
    by_rcpt[env["rcpt_tos"][0]] = parse_mail(eml);
  }
  REQUIRE(by_rcpt.count("ivan@example.com"));
  REQUIRE(by_rcpt.count("wang@example.cn"));
  auto& ru = by_rcpt["ivan@example.com"];
  CHECK(ru["subject"] == "Ваш заказ 9001 ждёт оплаты");
  CHECK(ru["body"] == "Здравствуйте, Иван Петров! Оплатите заказ 9001 в приложении.");
  CHECK(ru["from"] == "Магазин <shop@example.com>");
  CHECK(ru["to_names"] == nlohmann::json::array({"Иван Петров"}));
  CHECK(ru["message_id"] == "<" + key_of(dir / "nudge.db", "ru1") + "@example.com>");
  auto& zh = by_rcpt["wang@example.cn"];
  CHECK(zh["subject"] == "您的订单 9002 等待付款");
  CHECK(zh["body"] == "王伟，您好！请在应用中为订单 9002 付款。");
  CHECK(zh["message_id"] == "<" + key_of(dir / "nudge.db", "cn1") + "@example.com>");

  // The buyer without an email got the outbox file; so did the one whose address the
  // server refused (the step's next channel). Nobody else.
  CHECK(count_files(dir / "outbox") == 2);
  std::set<std::string> outbox_buyers;
  for (const auto& e : fs::directory_iterator(dir / "outbox"))
    if (e.path().extension() == ".json") outbox_buyers.insert(nlohmann::json::parse(read_file(e.path()))["buyer"]);
  CHECK(outbox_buyers == std::set<std::string>{"es1", "gone1"});

  // The address the server refuses (550) is a permanent failure, audited with the reply.
  CHECK(audit_has("sent", "ru1"));
  CHECK(audit_has("sent", "cn1"));
  CHECK(audit_has("sent", "es1"));
  bool saw_550 = false;
  for (const auto& l : read_lines(dir / "audit.jsonl")) {
    auto j = nlohmann::json::parse(l);
    if (j["event"] == "failed" && j["buyer"] == "gone1") {
      CHECK(j["reason"] == "permanent_error");
      saw_550 = j["detail"].is_string() && j["detail"].get<std::string>().find("550") != std::string::npos;
    }
  }
  CHECK(saw_550);
  CHECK(audit_has("sent", "gone1"));  // through the outbox

  // The password is nowhere an operator looks.
  CHECK(read_file(dir / "audit.jsonl").find(password) == std::string::npos);
  CHECK(read_file(dir / "nudged.log").find(password) == std::string::npos);

  nudged.signal(SIGTERM);
  CHECK(nudged.wait(std::chrono::seconds(10)) == 0);
}
