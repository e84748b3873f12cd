// Manual reminders through a running nudged: `nudgectl remind` writes a remind record
// to the inbox and reports nudged's decision, which goes through every check an
// automatic step gets (caps, quiet hours, still unpaid), audited with the actor.
#include <doctest/doctest.h>

#include <pwd.h>
#include <unistd.h>

#include "integration/daemon_fixture.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// An Etc/GMT zone where the local hour now is within [lo, hi].
std::string zone_at_local_hour(int lo, int hi) {
  int utc_hour = static_cast<int>((test::now_ms() / nudge::kHour) % 24);
  for (int off = -12; off <= 14; ++off) {
    int local = ((utc_hour + off) % 24 + 24) % 24;
    if (local >= lo && local <= hi)
      return off == 0 ? "Etc/GMT" : (off > 0 ? "Etc/GMT-" : "Etc/GMT+") + std::to_string(off > 0 ? off : -off);
  }
  return "";
}

std::string me() {
  const passwd* pw = getpwuid(getuid());
  std::string name = pw ? pw->pw_name : std::to_string(getuid());
  if (getuid() == 0 && getenv("SUDO_USER") && *getenv("SUDO_USER")) name = std::string(getenv("SUDO_USER")) + " via sudo";
  return name;
}

std::vector<json> manual_lines(test::Daemon& d, const std::string& order) {
  std::vector<json> out;
  for (const auto& j : d.audit_file())
    if (j["step"] == "manual" && j["orders"].is_array() && !j["orders"].empty() && j["orders"][0] == order)
      out.push_back(j);
  return out;
}

}  // namespace

TEST_CASE("nudgectl remind sends through a running nudged, within caps and quiet hours, and names who asked") {
  // The campaign's own step comes an hour later: what is sent now is the manual reminder.
  // Orders close in 10 days: a reminder deferred to the buyer's morning or the next hour
  // is still in time.
  test::Daemon d(R"(version: 1
store: nudge.db
audit_log: audit.jsonl
source: {type: inbox, every: 1s}
payment: {deadline: 1s, closes_after: 10d, stop_before_close: 1s}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 1h, channel: outbox, template: gentle}
limits: {per_order: 3, per_buyer: [{max: 1, within: 1h}], quiet_hours: {from: "21:00", to: "09:00"}}
channels:
  outbox: {type: outbox, dir: outbox}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} awaits payment", body: "Hi {{buyer_name}}, it closes in {{closes_in}}."}
  warm:
    en: {subject: "Still there? {{first_order_id}}", body: "Hi {{buyer_name}}, your order is reserved."}
)");
  std::string day = zone_at_local_hour(11, 16), night = zone_at_local_hour(1, 6);
  REQUIRE(!day.empty());
  REQUIRE(!night.empty());
  auto placed = test::now_ms() - nudge::kMinute;
  auto tz = [](const std::string& z) { return ",\"buyer_tz\":\"" + z + "\""; };
  d.start();
  REQUIRE(d.import({test::order_line("o1", "b1", placed, tz(day)), test::order_line("o2", "b1", placed, tz(day)),
                    test::order_line("o3", "b3", placed, tz(night)), test::order_line("o4", "b4", placed, tz(day)),
                    test::order_line("o5", "b5", placed, tz(day)), test::order_line("o6", "b6", placed, tz(day))})
              .status == 0);
  REQUIRE(test::eventually([&] { return d.ctl({"order", "o6", "--shop", "s1"}).status == 0; }, 10s));

  SUBCASE("sent at once, as step manual with the actor, on the campaign's first step's channel") {
    auto r = d.ctl({"remind", "o1", "--shop", "s1"});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(r.out.find("order o1: reminder sent to buyer b1 by outbox (template gentle)") != std::string::npos);
    auto out = d.outbox();
    REQUIRE(out.size() == 1);
    auto lines = manual_lines(d, "o1");
    std::vector<std::string> events;
    for (const auto& j : lines) {
      events.push_back(j["event"]);
      CHECK(j["actor"] == me());
      CHECK(j["step"] == "manual");
    }
    CHECK(events == std::vector<std::string>{"scheduled", "sending", "sent"});
    for (const auto& j : lines) MESSAGE(j.dump());
    auto tail = d.ctl({"audit", "tail", "-n", "1"});
    CHECK(tail.out.find("sent            s1/b1  o1  manual via outbox (en)  send 1  asked by " + me()) != std::string::npos);
    // Asked again at once: b1 was reminded a moment ago (1 an hour), so it waits for the
    // window; a third request, while that one waits, is refused with the reason.
    auto again = d.ctl({"remind", "o1", "--shop", "s1"});
    CHECK_MESSAGE(again.status == 0, again.err);
    CHECK(again.out.find("order o1: reminder deferred to ") != std::string::npos);
    auto third = d.ctl({"remind", "o1", "--shop", "s1"});
    CHECK(third.status == 1);
    CHECK(third.err.find("a manual reminder for this order is already waiting to be sent") != std::string::npos);

    // Caps: b1 was reminded a moment ago (1 per hour): o2's manual reminder waits for the window.
    auto capped = d.ctl({"remind", "o2", "--shop", "s1", "--template", "warm"});
    CHECK_MESSAGE(capped.status == 0, capped.err);
    CHECK(capped.out.find("order o2: reminder deferred to ") != std::string::npos);
    CHECK(capped.out.find("cap_buyer:1/1h") != std::string::npos);
    CHECK(d.outbox().size() == 1);
  }

  SUBCASE("in the buyer's quiet hours, deferred to their morning, and the command says so") {
    auto r = d.ctl({"remind", "o3", "--shop", "s1", "--json"});
    CHECK_MESSAGE(r.status == 0, r.err);
    auto j = json::parse(r.out);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["outcome"] == "deferred");
    CHECK(j[0]["reason"] == "quiet_hours");
    CHECK(j[0]["due_local"].get<std::string>().find(" 09:00") != std::string::npos);
    CHECK(d.outbox().empty());
    auto lines = manual_lines(d, "o3");
    REQUIRE(lines.size() == 2);
    CHECK(lines[1]["event"] == "deferred");
    CHECK(lines[1]["actor"] == me());
  }

  SUBCASE("an unknown order, a paid one, an unknown channel: refused with the reason, non-zero") {
    REQUIRE(d.import({test::status_line("o4", "paid", test::now_ms())}).status == 0);
    REQUIRE(test::eventually([&] { return d.ctl({"order", "o4", "--shop", "s1"}).out.find("paid") != std::string::npos; },
                             10s));
    auto unknown = d.ctl({"remind", "nope", "--shop", "s1"});
    CHECK(unknown.status == 1);
    CHECK(unknown.err.find("order nope of shop s1: no such order") != std::string::npos);
    auto paid = d.ctl({"remind", "o4", "--shop", "s1"});
    CHECK(paid.status == 1);
    CHECK(paid.err.find("the order is paid, no longer awaiting payment") != std::string::npos);
    auto channel = d.ctl({"remind", "o5", "--shop", "s1", "--channel", "sms"});
    CHECK(channel.status == 64);
    CHECK(channel.err.find("unknown channel 'sms' (the policy's channels: outbox)") != std::string::npos);
    CHECK(d.outbox().empty());
  }

  SUBCASE("--feed reminds one order a line; without nudged the command says it got no answer") {
    std::string feed = d.dir / "orders.txt";
    test::write_file(feed, "o5\n\n# a comment\no6\n");
    auto r = d.ctl({"remind", "--feed", feed, "--shop", "s1"});
    CHECK_MESSAGE(r.status == 0, r.err);
    CHECK(d.outbox().size() == 2);
    CHECK(d.stop() == 0);
    auto late = d.ctl({"remind", "o1", "--shop", "s1", "--wait", "1s"});
    CHECK(late.status == 75);
    CHECK(late.err.find("nudged has not decided within 1s") != std::string::npos);
    d.start();  // it takes the record from the inbox when it runs again
    CHECK(test::eventually([&] { return d.outbox().size() == 3; }, 10s));
  }
  CHECK(d.ctl({"audit", "verify"}).status == 0);
}
