#include <doctest/doctest.h>

#include "daemon/webhook_channel.h"

using namespace nudge;

TEST_CASE("webhook signatures match the Standard Webhooks reference vector") {
  // From the Standard Webhooks specification's examples.
  CHECK(webhook_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                          R"({"test": 2432232314})") == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  SUBCASE("a secret without the whsec_ prefix is used as the key bytes") {
    CHECK(webhook_signature("plain", "id", "1", "{}") != webhook_signature("whsec_plain", "id", "1", "{}"));
  }
}

TEST_CASE("webhook answers map to outcomes: 2xx sent, 408/429/5xx and no answer retried, other 4xx refused") {
  auto outcome = [](int status) {
    HttpResponse r;
    r.status = status;
    if (status == 0) r.error = "connection refused";
    return webhook_outcome(r);
  };
  CHECK(outcome(200) == Outcome::kSent);
  CHECK(outcome(204) == Outcome::kSent);
  CHECK(outcome(0) == Outcome::kTransient);
  CHECK(outcome(408) == Outcome::kTransient);
  CHECK(outcome(429) == Outcome::kTransient);
  CHECK(outcome(500) == Outcome::kTransient);
  CHECK(outcome(503) == Outcome::kTransient);
  CHECK(outcome(400) == Outcome::kPermanent);
  CHECK(outcome(401) == Outcome::kPermanent);
  CHECK(outcome(404) == Outcome::kPermanent);
  CHECK(outcome(301) == Outcome::kPermanent);
}

TEST_CASE("URLs are split into scheme, host, port and target") {
  auto u = parse_url("https://127.0.0.1:8443/hook?x=1");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == "8443");
  CHECK(u->target == "/hook?x=1");
  auto d = parse_url("http://example.com");
  REQUIRE(d);
  CHECK(d->port == "80");
  CHECK(d->target == "/");
  CHECK(parse_url("https://[::1]/x")->host == "::1");
  CHECK_FALSE(parse_url("ftp://example.com/"));
  CHECK_FALSE(parse_url("https://user:pw@example.com/"));
  CHECK(url_encode("a b&c=d/é") == "a%20b%26c%3Dd%2F%C3%A9");
}
