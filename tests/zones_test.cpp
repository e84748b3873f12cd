#include <doctest/doctest.h>

#include <date/tz.h>

#include "core/time_util.h"
#include "core/zones.h"
#include "engine_fixture.h"

using namespace nudge;

namespace {

const QuietHours kNight{21 * 60, 9 * 60};  // 21:00-09:00, across midnight

Millis at(const char* iso) { return *parse_instant(iso); }
const date::time_zone* zone(const char* name) { return date::locate_zone(name); }

}  // namespace

TEST_CASE("quiet hours across midnight, east and west of UTC") {
  struct Case {
    const char* zone;
    const char* utc;
    std::optional<const char*> until;  // nullopt: not quiet
  };
  const Case cases[] = {
      // Tokyo, UTC+9: 14:00 UTC = 23:00 local, quiet until 09:00 local = 00:00 UTC.
      {"Asia/Tokyo", "2026-11-20T14:00:00Z", "2026-11-21T00:00:00Z"},
      {"Asia/Tokyo", "2026-11-20T03:00:00Z", std::nullopt},          // 12:00 local
      {"Asia/Tokyo", "2026-11-20T23:59:00Z", "2026-11-21T00:00:00Z"},  // 08:59 local
      {"Asia/Tokyo", "2026-11-21T00:00:00Z", std::nullopt},          // 09:00 local: allowed again
      // Los Angeles, UTC-8 in November: 06:00 UTC = 22:00 local, until 09:00 local = 17:00 UTC.
      {"America/Los_Angeles", "2026-11-20T06:00:00Z", "2026-11-20T17:00:00Z"},
      {"America/Los_Angeles", "2026-11-20T04:59:00Z", std::nullopt},  // 20:59 local
      {"America/Los_Angeles", "2026-11-20T05:00:00Z", "2026-11-20T17:00:00Z"},  // 21:00 local
      // Kolkata, UTC+5:30: a half-hour offset.
      {"Asia/Kolkata", "2026-11-20T16:00:00Z", "2026-11-21T03:30:00Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.zone);
    CAPTURE(c.utc);
    auto until = quiet_until(kNight, zone(c.zone), at(c.utc));
    if (c.until) {
      REQUIRE(until);
      CHECK(format_instant(*until) == format_instant(at(*c.until)));
    } else {
      CHECK_FALSE(until);
    }
  }
}

TEST_CASE("quiet hours within one day (not across midnight)") {
  QuietHours lunch{12 * 60, 14 * 60};
  CHECK(quiet_until(lunch, zone("Europe/Madrid"), at("2026-11-20T11:30:00Z")) == at("2026-11-20T13:00:00Z"));
  CHECK_FALSE(quiet_until(lunch, zone("Europe/Madrid"), at("2026-11-20T13:00:00Z")));
  CHECK_FALSE(quiet_until(lunch, zone("Europe/Madrid"), at("2026-11-20T10:59:00Z")));
}

TEST_CASE("quiet hours follow DST changes") {
  // New York leaves DST on 2026-11-01 at 02:00 local. 09:00 local on Nov 1 is 14:00 UTC
  // (EST, UTC-5); the evening before, 21:00 EDT is 01:00 UTC.
  auto ny = zone("America/New_York");
  CHECK(quiet_until(kNight, ny, at("2026-11-01T02:00:00Z")) == at("2026-11-01T14:00:00Z"));
  CHECK_FALSE(quiet_until(kNight, ny, at("2026-11-01T00:59:00Z")));  // 20:59 EDT
  // Spring forward on 2026-03-08: 09:00 EDT = 13:00 UTC.
  CHECK(quiet_until(kNight, ny, at("2026-03-08T06:00:00Z")) == at("2026-03-08T13:00:00Z"));
  // A quiet time ending inside the skipped hour (02:30 does not exist that day) ends
  // at the transition itself.
  QuietHours early{22 * 60, 2 * 60 + 30};
  CHECK(quiet_until(early, ny, at("2026-03-08T05:00:00Z")) == at("2026-03-08T07:00:00Z"));
  // Europe: Madrid leaves DST on 2026-10-25; 09:00 CET = 08:00 UTC.
  CHECK(quiet_until(kNight, zone("Europe/Madrid"), at("2026-10-25T03:00:00Z")) == at("2026-10-25T08:00:00Z"));
}

TEST_CASE("the buyer's zone: buyer_tz, then zones.<COUNTRY>, then tzdata, then zones.default") {
  auto p = test::policy_from(test::base_policy() + "zones: {default: Europe/Lisbon, US: America/Los_Angeles}\n");
  CHECK(buyer_zone(*p, "Asia/Tokyo", "US")->name() == "Asia/Tokyo");
  CHECK(buyer_zone(*p, "Not/AZone", "US")->name() == "America/Los_Angeles");
  CHECK(buyer_zone(*p, "", "US")->name() == "America/Los_Angeles");
  CHECK(buyer_zone(*p, "", "JP")->name() == "Asia/Tokyo");  // from tzdata
  CHECK(buyer_zone(*p, "", "")->name() == "Europe/Lisbon");
  CHECK(buyer_zone(*p, "", "XX")->name() == "Europe/Lisbon");
}

TEST_CASE("a country with several zones: tzdata's first zone unless the policy or the buyer says") {
  auto p = test::policy_from(test::base_policy());
  // The first US zone in zone1970.tab is New York; a Californian buyer with buyer_tz
  // gets their own night.
  CHECK(buyer_zone(*p, "", "US")->name() == "America/New_York");
  CHECK(buyer_zone(*p, "America/Los_Angeles", "US")->name() == "America/Los_Angeles");
  test::EngineFixture f(test::base_policy("limits: {quiet_hours: {from: \"21:00\", to: \"09:00\"}}"));
  // 2026-11-20T04:00Z: 23:00 in New York, 20:00 in Los Angeles.
  f.clock.set(at("2026-11-20T02:00:00Z"));
  f.add({.id = "east", .buyer = "e", .country = "US", .placed = at("2026-11-20T02:00:00Z"), .tz = ""});
  f.add({.id = "west", .buyer = "w", .country = "US", .placed = at("2026-11-20T02:00:00Z"),
         .tz = "America/Los_Angeles"});
  f.run_until(at("2026-11-20T04:00:00Z"));
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].order_ids == std::vector<std::string>{"west"});
  f.run_until(at("2026-11-20T14:00:00Z"));  // 09:00 in New York
  REQUIRE(f.delivered.size() == 2);
  CHECK(f.delivered[1].order_ids == std::vector<std::string>{"east"});
  CHECK(f.delivered_at[1] == at("2026-11-20T14:00:00Z"));
}

TEST_CASE("a reminder whose quiet hours end after the stop time is skipped as too_close_to_close") {
  test::EngineFixture f(test::base_policy("limits: {quiet_hours: {from: \"21:00\", to: \"09:00\"}}"));
  auto o = test::make_order({.id = "o1", .tz = "Asia/Tokyo"});
  o.closes_at = test::T0 + 6 * kHour;  // stop at T0+5h = 02:00 Tokyo, inside the night
  f.engine->ingest({o});
  f.run_until(test::T0 + 10 * kDay);
  CHECK(f.delivered.empty());
  // The second step (at 26h) was never planned; the first was, and ran into the night.
  CHECK(f.reasons("skipped") == std::vector<std::string>{"too_close_to_close", "too_close_to_close"});
  CHECK(f.step_state("o1", "first") == "skipped");
}

TEST_CASE("format_local writes what date::format writes, across zones, DST changes and the years") {
  using namespace std::chrono;
  int compared = 0;
  for (const char* name : {"UTC", "Europe/Madrid", "America/New_York", "America/Sao_Paulo", "Asia/Kolkata",
                           "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns"}) {
    const date::time_zone* zone = date::locate_zone(name);
    // Every 26 h 56 min 37.123 s from 1970 to 2100 (the minutes, hours and days all
    // move), and the minutes around each DST change of 2026.
    std::vector<Millis> ts;
    for (Millis t = 0; t < 4102444800000; t += 97'000'000 - 2'877) ts.push_back(t);
    auto info = zone->get_info(date::sys_seconds{seconds{1767225600}});  // 2026-01-01
    for (int k = 0; k < 4 && info.end < date::sys_seconds{seconds{1798761600}}; ++k) {
      Millis change = duration_cast<milliseconds>(info.end.time_since_epoch()).count();
      for (Millis d = -2 * 60000; d <= 2 * 60000; d += 30000) ts.push_back(change + d);
      info = zone->get_info(info.end);
    }
    for (Millis t : ts) {
      date::zoned_time<milliseconds> zt{zone, date::sys_time<milliseconds>{milliseconds{t}}};
      std::string want = date::format("%Y-%m-%d %H:%M", zt);
      if (format_local(t, zone) != want) {
        FAIL_CHECK(std::string(name) << " at " << t << ": " << format_local(t, zone) << " != " << want);
        break;
      }
      ++compared;
    }
  }
  CHECK(compared > 9 * 40000);
  // Before 1970 and after 9999 it is date::format's own text.
  const date::time_zone* ny = date::locate_zone("America/New_York");
  CHECK(format_local(-86400000, ny) == "1969-12-30 19:00");
  CHECK(format_local(253402300800000 + 86400000, date::locate_zone("Asia/Tokyo")) == "10000-01-02 09:00");
}
