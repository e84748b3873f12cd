// The sendmail channel with small shell scripts standing in for sendmail: they store
// what they receive and exit with the status a real MTA would.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "channel_harness.h"
#include "daemon/sendmail_channel.h"
#include "fakes/smtp_sink.h"
#include "helpers.h"

using namespace test;
using nudge::Outcome;

namespace {

std::string fake_sendmail(const TempDir& dir, const std::string& name, const std::string& script) {
  std::string path = dir / name;
  write_file(path, "#!/bin/sh\n" + script + "\n");
  ::chmod(path.c_str(), 0755);
  return path;
}

std::string sendmail_conf(const std::string& path, const std::string& timeout = "5s") {
  return "{type: sendmail, path: \"" + path + "\", from: \"Shop <shop@example.com>\", reply_to: help@example.com, " +
         "timeout: " + timeout + "}";
}

}  // namespace

TEST_CASE("sendmail gets the whole message on stdin with -t -i, and exit 0 means sent") {
  TempDir dir;
  std::string path = fake_sendmail(dir, "sendmail", "printf '%s\\n' \"$@\" > " + (dir / "args") + "\ncat > " +
                                                        (dir / "message.eml") + "\nexit 0");
  ChannelHarness h(dir.path(), sendmail_conf(path));
  SendResult r = h.send(email_job("ivan@example.com", "Иван\r\nBcc: evil@x", "Ваш заказ 8001 ждёт оплаты",
                                  "Здравствуйте!\nОплатите заказ.\n", "0123456789abcdef0123456789abcdef"));
  CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
  CHECK(read_file(dir / "args") == "-t\n-i\n");
  auto m = parse_mail(dir / "message.eml");
  CHECK(m["subject"] == "Ваш заказ 8001 ждёт оплаты");
  CHECK(m["body"] == "Здравствуйте!\nОплатите заказ.\n");
  CHECK(m["to_addresses"] == nlohmann::json::array({"ivan@example.com"}));  // -t: the only recipient
  CHECK(m["bcc"].empty());
  CHECK(m["reply_to"] == "help@example.com");
  CHECK(m["message_id"] == "<0123456789abcdef0123456789abcdef@example.com>");
}

TEST_CASE("sendmail's exit status decides the outcome") {
  TempDir dir;
  struct Case {
    std::string script;
    Outcome outcome;
    std::string error_has;
  };
  const std::vector<Case> cases = {
      {"cat > /dev/null; echo 'queue is full' >&2; exit 75", Outcome::kTransient, "status 75: queue is full"},
      {"cat > /dev/null; echo 'ivan@example.com... User unknown' >&2; exit 67", Outcome::kPermanent,
       "status 67: ivan@example.com... User unknown"},
      {"cat > /dev/null; exit 1", Outcome::kPermanent, "status 1"},
      {"cat > /dev/null; kill -9 $$", Outcome::kTransient, "signal 9"},
  };
  int n = 0;
  for (const auto& c : cases) {
    CAPTURE(c.script);
    std::string path = fake_sendmail(dir, "sendmail" + std::to_string(++n), c.script);
    ChannelHarness h(dir.path(), sendmail_conf(path));
    SendResult r = h.send(email_job("ivan@example.com", "Ivan", "s", "b", "0123456789abcdef0123456789abcdef"));
    CHECK(outcome_name(r.outcome) == std::string(outcome_name(c.outcome)));
    CHECK_MESSAGE(r.error.find(c.error_has) != std::string::npos, r.error);
  }
}

TEST_CASE("a large message goes through the pipe whole, and a sendmail that stops reading does not kill us") {
  TempDir dir;
  std::string body;
  for (int i = 0; i < 20000; ++i) body += "Ваш заказ ждёт оплаты, строка " + std::to_string(i) + "\n";
  SUBCASE("read to the end") {
    std::string path = fake_sendmail(dir, "sendmail", "cat > " + (dir / "message.eml"));
    ChannelHarness h(dir.path(), sendmail_conf(path));
    SendResult r = h.send(email_job("ivan@example.com", "Ivan", "s", body, "0123456789abcdef0123456789abcdef"));
    CHECK_MESSAGE(r.outcome == Outcome::kSent, r.error);
    CHECK(parse_mail(dir / "message.eml")["body"] == body);
  }
  SUBCASE("exits without reading") {
    // Writing into a closed pipe raises SIGPIPE, which would end the test process
    // (and the daemon) if the channel did not block it.
    std::string path = fake_sendmail(dir, "sendmail", "exit 0");
    ChannelHarness h(dir.path(), sendmail_conf(path));
    SendResult r = h.send(email_job("ivan@example.com", "Ivan", "s", body, "0123456789abcdef0123456789abcdef"));
    CHECK(outcome_name(r.outcome) == std::string("transient"));
    CHECK_MESSAGE(r.error.find("before reading the whole message") != std::string::npos, r.error);
  }
}

TEST_CASE("a sendmail that hangs is stopped at the channel's timeout") {
  TempDir dir;
  std::string path = fake_sendmail(dir, "sendmail", "exec sleep 30");
  ChannelHarness h(dir.path(), sendmail_conf(path, "1s"));
  auto start = std::chrono::steady_clock::now();
  SendResult r = h.send(email_job("ivan@example.com", "Ivan", "s", "b", "0123456789abcdef0123456789abcdef"));
  CHECK(outcome_name(r.outcome) == std::string("transient"));
  CHECK(r.error.find("did not finish within 1000 ms") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
}

TEST_CASE("a sendmail channel whose program is missing or whose from is unsafe is not built") {
  TempDir dir;
  {
    ChannelHarness h(dir.path(), sendmail_conf(dir / "no-such-sendmail"));
    CHECK(h.channel() == nullptr);
    CHECK(h.build_error().find("no-such-sendmail") != std::string::npos);
  }
  {
    ChannelHarness h(dir.path(), "{type: sendmail, path: /bin/true, from: \"shop@example.com\\r\\nBcc: evil@x\"}");
    CHECK(h.channel() == nullptr);
    CHECK(h.build_error().find("from") != std::string::npos);
  }
}

TEST_CASE("a bad buyer address is a permanent failure and sendmail is not run") {
  TempDir dir;
  std::string path = fake_sendmail(dir, "sendmail", "cat > " + (dir / "message.eml"));
  ChannelHarness h(dir.path(), sendmail_conf(path));
  SendResult r = h.send(email_job("ivan@example.com\r\nBcc: evil@x", "Ivan", "s", "b", "0123456789abcdef0123456789abcdef"));
  CHECK(outcome_name(r.outcome) == std::string("permanent"));
  CHECK_FALSE(fs::exists(dir / "message.eml"));
}
