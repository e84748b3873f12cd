// How libcurl's result and the SMTP server's last reply map to an Outcome. The
// real-server behaviour is in tests/integration/smtp_delivery_test.cpp.
#include <doctest/doctest.h>

#include <curl/curl.h>

#include "daemon/sendmail_channel.h"
#include "daemon/smtp_channel.h"

using nudge::Outcome;

TEST_CASE("SMTP replies and libcurl errors map to sent, transient or permanent") {
  struct Case {
    CURLcode curl;
    long reply;
    Outcome outcome;
  };
  const Case cases[] = {
      {CURLE_OK, 250, Outcome::kSent},
      {CURLE_SEND_ERROR, 421, Outcome::kTransient},  // service not available, closing
      {CURLE_SEND_ERROR, 450, Outcome::kTransient},  // mailbox busy
      {CURLE_SEND_ERROR, 451, Outcome::kTransient},  // local error, greylisting
      {CURLE_SEND_ERROR, 452, Outcome::kTransient},  // insufficient storage
      {CURLE_LOGIN_DENIED, 454, Outcome::kTransient},  // temporary authentication failure
      {CURLE_SEND_ERROR, 550, Outcome::kPermanent},  // no such user
      {CURLE_SEND_ERROR, 553, Outcome::kPermanent},  // mailbox name not allowed
      {CURLE_WEIRD_SERVER_REPLY, 554, Outcome::kPermanent},  // transaction failed
      {CURLE_LOGIN_DENIED, 535, Outcome::kPermanent},  // wrong credentials
      {CURLE_COULDNT_CONNECT, 0, Outcome::kTransient},
      {CURLE_OPERATION_TIMEDOUT, 0, Outcome::kTransient},
      {CURLE_RECV_ERROR, 250, Outcome::kTransient},  // dropped after an accepted command
      {CURLE_PEER_FAILED_VERIFICATION, 220, Outcome::kPermanent},  // the operator must fix ca_file
      {CURLE_USE_SSL_FAILED, 0, Outcome::kPermanent},
  };
  for (const auto& c : cases) {
    CAPTURE(c.curl);
    CAPTURE(c.reply);
    CHECK(nudge::classify_smtp(c.curl, c.reply) == c.outcome);
  }
}

TEST_CASE("sendmail exit statuses follow sysexits.h") {
  CHECK(nudge::classify_sendmail_exit(0) == Outcome::kSent);
  CHECK(nudge::classify_sendmail_exit(75) == Outcome::kTransient);  // EX_TEMPFAIL
  CHECK(nudge::classify_sendmail_exit(67) == Outcome::kPermanent);  // EX_NOUSER
  CHECK(nudge::classify_sendmail_exit(1) == Outcome::kPermanent);
}
