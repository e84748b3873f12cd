#include <doctest/doctest.h>

#include "daemon_fixture.h"

using namespace std::chrono_literals;
using test::Daemon;
using test::now_ms;

TEST_CASE("nudged skips a message whose order field carries a phone number, audits why, and sends nothing for it") {
  Daemon d;
  d.start();
  auto t = now_ms();
  // The template is clean; alice's name, as the marketplace passed it on, is a phone number.
  std::string alice = R"({"type":"order","shop":"s1","order_id":"o1","buyer_id":"alice",)"
                      R"("buyer_name":"WhatsApp +7 916 123-45-67","buyer_country":"ES","amount":"10.00",)"
                      R"("currency":"USD","placed_at":")" +
                      nudge::format_instant(t) + "\"}";
  REQUIRE(d.import({alice, test::order_line("o2", "bob", t)}).status == 0);
  REQUIRE(test::eventually([&] { return d.outbox().size() >= 1 && d.audit_has("skipped", "unsafe_content:contact"); },
                           10s));
  REQUIRE(d.stop() == 0);
  for (const auto& m : d.outbox()) CHECK(m["buyer"] == "bob");
  auto step = d.ctl({"order", "o1", "--shop", "s1"});
  CHECK(step.out.find("unsafe_content:contact") != std::string::npos);
}
