// The smtp channel against a real SMTP server (aiosmtpd): what arrives is read back
// with Python's standard email parser, as a buyer's mail client would.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel_harness.h"
#include "fakes/smtp_sink.h"
#include "helpers.h"

using namespace test;
using nudge::Outcome;

namespace {

std::string smtp_conf(const SmtpSink& sink, const std::string& extra = "") {
  return "{type: smtp, url: \"" + sink.url() + "\", from: \"Shop <shop@example.com>\", timeout: 5s" + extra + "}";
}

}  // namespace

TEST_CASE("an email in Russian and in Chinese arrives with its subject and body as rendered") {
  TempDir dir;
  SmtpSink sink(dir / "sink");
  ChannelHarness h(dir.path(), smtp_conf(sink));
  struct Case {
    std::string email, name, subject, body, key;
  };
  const std::vector<Case> cases = {
      {"ivan@example.com", "Иван Петров", "Ваш заказ 8001 ждёт оплаты",
       "Здравствуйте, Иван Петров!\nСпасибо за заказ. Он зарезервирован, но оплата ещё не поступила.\n"
       "- заказ 8001: 33.31 USD\nОплатить можно в приложении, в разделе «Мои заказы».\n",
       "4b1e0c9a7d2f4e6a8b0c1d2e3f405162"},
      {"wang@example.cn", "王伟", "您的订单 8002 等待付款，订单将在 2 天后关闭，请在应用的“我的订单”中完成付款",
       "王伟，您好！\n感谢您的下单。订单已为您保留，但尚未收到付款。\n请在应用的“我的订单”中完成付款。\n",
       "9a8b7c6d5e4f30211203f4e5d6c7b8a9"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    CAPTURE(c.subject);
    SendResult r = h.send(email_job(c.email, c.name, c.subject, c.body, c.key));
    CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
    REQUIRE(sink.messages().size() == i + 1);
    std::string eml = sink.messages()[i];
    auto env = SmtpSink::envelope(eml);
    CHECK(env["mail_from"] == "shop@example.com");
    CHECK(env["rcpt_tos"] == nlohmann::json::array({c.email}));
    auto m = parse_mail(eml);
    CHECK(m["subject"] == c.subject);
    CHECK(m["body"] == c.body);
    CHECK(m["to_addresses"] == nlohmann::json::array({c.email}));
    CHECK(m["to_names"] == nlohmann::json::array({c.name}));
    CHECK(m["from"] == "Shop <shop@example.com>");
    CHECK(m["message_id"] == "<" + c.key + "@example.com>");
    CHECK(m["auto_submitted"] == "auto-generated");
    CHECK(m["content_type"] == "text/plain");
    CHECK(m["charset"] == "utf-8");
    CHECK(m["defects"].empty());
    // Every header line is at most 78 characters, as RFC 5322 asks.
    std::string raw = read_file(eml);
    std::string head = raw.substr(0, raw.find("\r\n\r\n"));
    size_t at = 0;
    for (size_t e; (e = head.find("\r\n", at)) != std::string::npos || at < head.size(); at = e + 2) {
      if (e == std::string::npos) e = head.size();
      CHECK(e - at <= 78);
    }
  }
}

TEST_CASE("a buyer name carrying CR LF and a Bcc header reaches only the buyer and adds no header") {
  TempDir dir;
  SmtpSink sink(dir / "sink");
  ChannelHarness h(dir.path(), smtp_conf(sink));
  for (std::string name : {"Ana\r\nBcc: evil@attacker.example", "Ana\nBcc: evil@attacker.example\n\nfake body"}) {
    SendResult r = h.send(email_job("ana@example.com", name, "Your order", "Hi", "00112233445566778899aabbccddeeff"));
    CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
  }
  REQUIRE(sink.messages().size() == 2);
  for (const auto& eml : sink.messages()) {
    auto env = SmtpSink::envelope(eml);
    CHECK(env["rcpt_tos"] == nlohmann::json::array({"ana@example.com"}));
    auto m = parse_mail(eml);
    CHECK(m["bcc"].empty());
    CHECK(m["to_addresses"] == nlohmann::json::array({"ana@example.com"}));
    CHECK(m["body"] == "Hi");
    for (const auto& h : m["header_names"]) CHECK(h != "Bcc");
    CHECK(m["defects"].empty());
  }
}

TEST_CASE("a 451 reply is transient and a 550 reply is permanent, and nothing is delivered") {
  TempDir dir;
  SmtpSink sink(dir / "sink", {.replies = {"451:later@example.com", "550:nobody@example.com"}});
  ChannelHarness h(dir.path(), smtp_conf(sink));
  SendResult later = h.send(email_job("later@example.com", "L", "s", "b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  CHECK(outcome_name(later.outcome) == std::string("transient"));
  CHECK(later.error.find("451 4.3.0 Temporary failure") != std::string::npos);  // what the server said
  SendResult nobody = h.send(email_job("nobody@example.com", "N", "s", "b", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
  CHECK(outcome_name(nobody.outcome) == std::string("permanent"));
  CHECK(nobody.error.find("550 5.1.1 No such user here") != std::string::npos);
  CHECK(sink.messages().empty());
  SendResult ok = h.send(email_job("ok@example.com", "O", "s", "b", "cccccccccccccccccccccccccccccccc"));
  CHECK_MESSAGE(ok.outcome == Outcome::kSent, ok.error);
  CHECK(sink.messages().size() == 1);
}

TEST_CASE("AUTH with the password from password_file delivers over TLS and a wrong password fails without revealing it") {
  TempDir dir;
  make_test_cert(dir / "cert.pem", dir / "key.pem");
  SmtpSink sink(dir / "sink", {.user = "shop", .password = "right-Pa55word", .cert = dir / "cert.pem",
                               .key = dir / "key.pem"});
  const std::string tls = ", ca_file: " + (dir / "cert.pem");
  SUBCASE("the right password") {
    write_file(dir / "smtp_password", "right-Pa55word\n");
    ChannelHarness h(dir.path(), smtp_conf(sink, ", username: shop, password_file: smtp_password" + tls));
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "dddddddddddddddddddddddddddddddd"));
    CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
    REQUIRE(sink.messages().size() == 1);
    CHECK(SmtpSink::envelope(sink.messages()[0])["authenticated"] == true);
    CHECK(SmtpSink::envelope(sink.messages()[0])["tls"] == true);
  }
  SUBCASE("a wrong password") {
    write_file(dir / "smtp_password", "wrong-Pa55word\n");
    ChannelHarness h(dir.path(), smtp_conf(sink, ", username: shop, password_file: smtp_password" + tls));
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "dddddddddddddddddddddddddddddddd"));
    CHECK(outcome_name(r.outcome) == std::string("permanent"));
    CHECK(r.error.find("535") != std::string::npos);
    CHECK(r.error.find("wrong-Pa55word") == std::string::npos);
    CHECK(r.error.find("right-Pa55word") == std::string::npos);
    CHECK(sink.messages().empty());
  }
  SUBCASE("no credentials") {
    ChannelHarness h(dir.path(), smtp_conf(sink, tls));
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "dddddddddddddddddddddddddddddddd"));
    CHECK(outcome_name(r.outcome) == std::string("permanent"));  // 530 authentication required
    CHECK(sink.messages().empty());
  }
  SUBCASE("a missing password file stops the channel from being built") {
    ChannelHarness h(dir.path(), smtp_conf(sink, ", username: shop, password_file: nowhere"));
    CHECK(h.channel() == nullptr);
    CHECK(h.build_error().find("nowhere") != std::string::npos);
  }
}

TEST_CASE("a password is never sent to a server that offers no STARTTLS (a downgrade)") {
  TempDir dir;
  // What a man in the middle makes a server look like: AUTH offered, STARTTLS stripped.
  SmtpSink sink(dir / "sink", {.user = "shop", .password = "secret-Pa55word"});
  write_file(dir / "smtp_password", "secret-Pa55word\n");
  ChannelHarness h(dir.path(), smtp_conf(sink, ", username: shop, password_file: smtp_password"));
  SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "ffffffffffffffffffffffffffffffff"));
  MESSAGE(r.error);
  CHECK(outcome_name(r.outcome) == std::string("permanent"));
  CHECK(r.error.find("offers no STARTTLS") != std::string::npos);
  CHECK(r.error.find("secret-Pa55word") == std::string::npos);
  CHECK(sink.auth_attempts().empty());  // no AUTH ever reached the server
  CHECK(sink.messages().empty());
  SUBCASE("without a password, STARTTLS stays opportunistic and the message goes") {
    SmtpSink open_sink(dir / "open");
    ChannelHarness plain(dir.path(), smtp_conf(open_sink));
    SendResult ok = plain.send(email_job("ana@example.com", "Ana", "s", "b", "abababababababababababababababab"));
    CHECK_MESSAGE(ok.outcome == Outcome::kSent, ok.error);
  }
}

TEST_CASE("STARTTLS is used when the server offers it, and the server's certificate is verified") {
  TempDir dir;
  make_test_cert(dir / "cert.pem", dir / "key.pem");
  write_file(dir / "smtp_password", "tls-Pa55word");
  SmtpSink sink(dir / "sink", {.user = "shop", .password = "tls-Pa55word", .cert = dir / "cert.pem",
                               .key = dir / "key.pem"});  // offered, not required: the client must choose TLS
  SUBCASE("with the server's CA in ca_file, the message goes over TLS") {
    ChannelHarness h(dir.path(), smtp_conf(sink, ", username: shop, password_file: smtp_password, ca_file: " +
                                                     (dir / "cert.pem")));
    SendResult r = h.send(email_job("ana@example.com", "Ana", "Ваш заказ", "Тело", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"));
    CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
    REQUIRE(sink.messages().size() == 1);
    auto env = SmtpSink::envelope(sink.messages()[0]);
    CHECK(env["tls"] == true);
    CHECK(env["authenticated"] == true);
    CHECK(parse_mail(sink.messages()[0])["subject"] == "Ваш заказ");
  }
  SUBCASE("without it, the unknown certificate is refused and nothing is sent") {
    ChannelHarness h(dir.path(), smtp_conf(sink, ", username: shop, password_file: smtp_password"));
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"));
    CHECK(outcome_name(r.outcome) == std::string("permanent"));
    CHECK(r.error.find("tls-Pa55word") == std::string::npos);
    CHECK(sink.messages().empty());
  }
}

TEST_CASE("a server that is down or silent is a transient failure, bounded by the channel's timeout") {
  TempDir dir;
  SUBCASE("nothing listens") {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(s);  // the port was free a moment ago and nobody listens on it now
    ChannelHarness h(dir.path(), "{type: smtp, url: \"smtp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) +
                                     "\", from: \"shop@example.com\", timeout: 5s}");
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "ffffffffffffffffffffffffffffffff"));
    CHECK(outcome_name(r.outcome) == std::string("transient"));
  }
  SUBCASE("a server that accepts the connection and never greets") {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(s, 4) == 0);
    REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ChannelHarness h(dir.path(), "{type: smtp, url: \"smtp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) +
                                     "\", from: \"shop@example.com\", timeout: 1s}");
    auto start = std::chrono::steady_clock::now();
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "ffffffffffffffffffffffffffffffff"));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(outcome_name(r.outcome) == std::string("transient"));
    CHECK(took < std::chrono::seconds(4));
    ::close(s);
  }
}

TEST_CASE("smtps:// speaks TLS from the first byte and refuses a server that does not") {
  TempDir dir;
  make_test_cert(dir / "cert.pem", dir / "key.pem");
  std::string ca = ", ca_file: " + (dir / "cert.pem");
  SUBCASE("a TLS server") {
    SmtpSink sink(dir / "sink", {.cert = dir / "cert.pem", .key = dir / "key.pem", .implicit_tls = true});
    ChannelHarness h(dir.path(), "{type: smtp, url: \"" + sink.smtps_url() +
                                     "\", from: \"shop@example.com\", timeout: 5s" + ca + "}");
    SendResult r = h.send(email_job("ana@example.com", "Ana", "您的订单", "b", "abababababababababababababababab"));
    CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
    REQUIRE(sink.messages().size() == 1);
    CHECK(SmtpSink::envelope(sink.messages()[0])["tls"] == true);
    CHECK(parse_mail(sink.messages()[0])["subject"] == "您的订单");
  }
  SUBCASE("a plain server") {
    SmtpSink sink(dir / "sink");
    ChannelHarness h(dir.path(), "{type: smtp, url: \"" + sink.smtps_url() +
                                     "\", from: \"shop@example.com\", timeout: 5s" + ca + "}");
    SendResult r = h.send(email_job("ana@example.com", "Ana", "s", "b", "abababababababababababababababab"));
    CHECK(r.outcome != Outcome::kSent);
    CHECK(sink.messages().empty());
  }
}
