#include <doctest/doctest.h>

#include "core/policy.h"
#include "core/time_util.h"
#include "engine_fixture.h"
#include "helpers.h"

using namespace nudge;

namespace {

std::vector<PolicyError> errors_of(const std::string& yaml) {
  auto r = parse_policy(yaml, "shop.yaml");
  CHECK_FALSE(r.ok());
  return r.errors;
}

bool has_error(const std::vector<PolicyError>& errors, int line, int col, const std::string& words) {
  for (const auto& e : errors)
    if (e.line == line && e.col == col && e.message.find(words) != std::string::npos) return true;
  std::string all;
  for (const auto& e : errors) all += e.to_string() + "\n";
  MESSAGE("errors were:\n" << all);
  return false;
}

}  // namespace

TEST_CASE("the demo policy shipped in etc/nudge is valid") {
  auto r = load_policy(std::string(NUDGE_SOURCE_DIR) + "/etc/nudge/demo.yaml");
  for (const auto& e : r.errors) MESSAGE(e.to_string());
  REQUIRE(r.ok());
  CHECK(r.policy->source.every == 1000);
  CHECK(r.policy->campaigns.size() == 2);
  CHECK(r.policy->limits.per_buyer.size() == 2);
  CHECK(r.policy->channels.at("outbox").get("dir") == r.policy->base_dir + "/outbox");
}

TEST_CASE("durations are read as a seller writes them") {
  CHECK(parse_duration("30s") == 30 * kSecond);
  CHECK(parse_duration("15m") == 15 * kMinute);
  CHECK(parse_duration("2h") == 2 * kHour);
  CHECK(parse_duration("7d") == 7 * kDay);
  CHECK(parse_duration("1h30m") == 90 * kMinute);
  CHECK(parse_duration("0s") == 0);
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("30"));
  CHECK_FALSE(parse_duration("1m1h"));  // largest unit first
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("5 s"));
  CHECK_FALSE(parse_duration("99999999999999999999d"));
  CHECK(format_duration(90 * kMinute) == "1h30m");
  CHECK(format_duration(kDay) == "1d");
}

TEST_CASE("a channel's rate is read per second, minute, hour or day; anything else is an error") {
  auto with_rate = [](const std::string& rate) {
    std::string yaml = test::base_policy();
    yaml.replace(yaml.find("{type: outbox, dir: outbox}"), 27, "{type: outbox, dir: outbox, rate: \"" + rate + "\"}");
    return parse_policy(yaml, "/tmp/nudge-test/policy.yaml");
  };
  // (the number was read from a destroyed temporary: scripts/test --sanitize found it)
  for (auto [rate, per_sec] : std::vector<std::pair<std::string, double>>{{"2/s", 2}, {"120/m", 2}, {"7200/h", 2},
                                                                         {"0.5/s", 0.5}, {"86400/d", 1}}) {
    INFO(rate);
    auto r = with_rate(rate);
    REQUIRE(r.ok());
    CHECK(r.policy->channels.at("outbox").rate_per_sec == doctest::Approx(per_sec));
  }
  for (const char* bad : {"2", "2/w", "x/s", "2x/s", "/s", "0/s", "-1/s", "2/"}) {
    INFO(bad);
    CHECK_FALSE(with_rate(bad).ok());
  }
}

TEST_CASE("instants parse with Z, fractions and offsets, and print in UTC") {
  CHECK(parse_instant("2026-11-20T10:00:00Z") == 1795168800000);
  CHECK(parse_instant("2026-11-20T10:00:00.250Z") == 1795168800250);
  CHECK(parse_instant("2026-11-20T12:00:00+02:00") == 1795168800000);
  CHECK_FALSE(parse_instant("2026-11-20"));
  CHECK_FALSE(parse_instant("yesterday at noon"));
  CHECK_FALSE(parse_instant("2026-13-40T10:00:00Z"));
  CHECK(format_instant(1795168800123) == "2026-11-20T10:00:00.123Z");
}

TEST_CASE("each kind of policy error names its line and column") {
  std::string good = test::base_policy();
  SUBCASE("an unknown key (a typo) is an error with a suggestion") {
    auto e = errors_of(good + "limts: {}\n");
    CHECK(has_error(e, 19, 1, "unknown key 'limts'"));
    CHECK(has_error(e, 19, 1, "did you mean 'limits'"));
  }
  SUBCASE("a bad duration") {
    auto e = errors_of("version: 1\npayment: {deadline: 2 hours}\n" + good.substr(good.find("campaigns:")));
    CHECK(has_error(e, 2, 21, "must be a duration like 30s"));
  }
  SUBCASE("a step using a channel that is not defined") {
    std::string bad = good;
    bad.replace(bad.find("channel: outbox"), 15, "channel: sms");
    auto e = errors_of(bad);
    CHECK(has_error(e, 9, 43, "uses channel 'sms', which is not defined"));
  }
  SUBCASE("a step using a template that is not defined") {
    std::string bad = good;
    bad.replace(bad.find("template: gentle"), 16, "template: rude");
    auto e = errors_of(bad);
    CHECK(has_error(e, 9, 61, "template 'rude', which is not defined"));
  }
  SUBCASE("a template without the default language") {
    std::string bad = good;
    bad.replace(bad.find("    en: "), 8, "    de: ");
    auto e = errors_of(bad);
    CHECK(has_error(e, 16, 3, "has no text in the default language 'en'"));
  }
  SUBCASE("invalid YAML") {
    auto e = errors_of("version: 1\ncampaigns: [\n");
    REQUIRE(e.size() == 1);
    CHECK(e[0].line >= 2);
    CHECK(e[0].message.find("not valid YAML") != std::string::npos);
  }
  SUBCASE("a bad value among several: all errors are reported at once") {
    std::string bad = good;
    bad.replace(bad.find("per_order: 2"), 12, "per_order: lots");
    bad += "metrics: {port: 99999}\nzones: {ES: Europe/Atlantis}\n";
    auto e = errors_of(bad);
    CHECK(e.size() >= 3);
    CHECK(has_error(e, 11, 21, "limits.per_order must be a whole number"));
    CHECK(has_error(e, 19, 17, "metrics.port must be a whole number"));
    CHECK(has_error(e, 20, 13, "is not a time zone"));
  }
  SUBCASE("quiet hours that are not times") {
    auto e = errors_of(test::base_policy("limits: {quiet_hours: {from: \"25:00\", to: \"09:00\"}}"));
    CHECK(has_error(e, 11, 30, "must be a time like \"21:00\""));
  }
  SUBCASE("a channel of an unknown type") {
    std::string bad = good;
    bad.replace(bad.find("{type: outbox, dir: outbox}"), 27, "{type: pigeon}");
    auto e = errors_of(bad);
    CHECK(has_error(e, 13, 18, "it must be one of outbox, smtp"));
  }
  SUBCASE("version is required") {
    auto e = errors_of(good.substr(good.find("store:")));
    CHECK(has_error(e, 1, 1, "needs 'version: 1'"));
  }
}

TEST_CASE("error messages read file:line:col: message") {
  PolicyError e{"shop.yaml", 3, 7, "something is wrong"};
  CHECK(e.to_string() == "shop.yaml:3:7: something is wrong");
}

TEST_CASE("relative paths in a policy are relative to the policy's folder") {
  auto p = test::policy_from(test::base_policy());
  CHECK(p->audit_log == "/tmp/nudge-test/audit.jsonl");
  CHECK(p->channels.at("outbox").get("dir") == "/tmp/nudge-test/outbox");
}

TEST_CASE("a missing policy file is reported, not crashed on") {
  auto r = load_policy("/nonexistent/nudge.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].to_string().find("/nonexistent/nudge.yaml: cannot read the policy file") == 0);
}

TEST_CASE("an aliexpress channel without credentials of its own takes the aliexpress source's") {
  const std::string tail = R"(
templates:
  gentle:
    en: {subject: "Order {{first_order_id}}", body: "Hi {{buyer_name}}"}
)";
  auto steps = "campaigns:\n  - name: all\n    match: {}\n    steps:\n      - {name: first, after: 0s, channel: platform, template: gentle}\n";
  SUBCASE("inherited from the source, with its shop") {
    auto r = parse_policy(std::string("version: 1\nstore: nudge.db\nsource: {type: aliexpress, shop: s1, app_key: \"42\", "
                                      "app_secret_file: sec, session_file: ses, refresh_token_file: ref}\n") +
                              steps + "channels:\n  platform: {type: aliexpress, verify_before_send: true}\n" + tail,
                          "shop.yaml");
    for (const auto& e : r.errors) MESSAGE(e.to_string());
    REQUIRE(r.ok());
    const auto& ch = r.policy->channels.at("platform");
    CHECK(ch.get("app_key") == "42");
    CHECK(ch.get("app_secret_file") == "sec");
    CHECK(ch.get("session_file") == "ses");
    CHECK(ch.get("refresh_token_file") == "ref");
    CHECK(ch.get("shop") == "s1");
  }
  SUBCASE("no aliexpress source to take them from: file:line:col") {
    auto errors = errors_of(std::string("version: 1\nstore: nudge.db\nsource: {type: inbox}\n") + steps +
                            "channels:\n  platform: {type: aliexpress}\n" + tail);
    CHECK(has_error(errors, 10, 13, "names no app_key, app_secret_file and session_file"));
  }
  SUBCASE("some credentials but not all") {
    auto errors = errors_of(std::string("version: 1\nstore: nudge.db\nsource: {type: inbox}\n") + steps +
                            "channels:\n  platform: {type: aliexpress, app_key: \"42\", session_file: ses}\n" + tail);
    CHECK(has_error(errors, 10, 13, "names some credentials but not 'app_secret_file'"));
  }
}
