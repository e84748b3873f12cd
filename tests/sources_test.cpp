// Several stores in one policy (`sources:`) and caps across them (`limits.scope`).
#include <doctest/doctest.h>

#include "engine_fixture.h"

using namespace nudge;
using test::EngineFixture;
using test::T0;

namespace {

const std::string kTail = R"(campaigns:
  - name: all
    match: {}
    steps:
      - {name: first, after: 0s, channel: platform, template: gentle}
channels:
  platform: {type: aliexpress}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}}", body: "Hi {{buyer_name}}"}
)";

std::string ali(const std::string& shop, const std::string& key) {
  return "  - {type: aliexpress, shop: " + shop + ", app_key: \"" + key + "\", app_secret_file: sec-" + shop +
         ", session_file: ses-" + shop + "}\n";
}

std::vector<std::string> errors(const std::string& yaml) {
  auto r = parse_policy(yaml, "shop.yaml");
  CHECK_FALSE(r.ok());
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

bool has(const std::vector<std::string>& errors, const std::string& words) {
  for (const auto& e : errors)
    if (e.find(words) != std::string::npos) return true;
  for (const auto& e : errors) MESSAGE(e);
  return false;
}

}  // namespace

TEST_CASE("sources lists several stores, each with its shop, credentials and name") {
  auto r = parse_policy("version: 1\nstore: nudge.db\nsources:\n" + ali("north", "111") + ali("south", "222") +
                            "  - {type: inbox, every: 5s}\n" + kTail,
                        "shop.yaml");
  for (const auto& e : r.errors) MESSAGE(e.to_string());
  REQUIRE(r.ok());
  const auto& s = r.policy->sources;
  REQUIRE(s.size() == 3);
  CHECK(s[0].name == "aliexpress:north");
  CHECK(s[0].shop == "north");
  CHECK(s[1].name == "aliexpress:south");
  CHECK(s[1].get("app_key") == "222");
  CHECK(s[2].name == "inbox");
  CHECK(s[2].every == 5 * kSecond);
  CHECK(r.policy->source.name == "aliexpress:north");
  const auto& ch = r.policy->channels.at("platform");
  CHECK(ch.uses_source_credentials);
  CHECK(ch.get("shop") == "north");
  CHECK(r.policy->limits.scope == CapScope::kShop);
}

TEST_CASE("the singular source stays valid and keeps its name") {
  auto r = parse_policy("version: 1\nstore: nudge.db\nsource: {type: aliexpress, app_key: \"42\", app_secret_file: s, "
                        "session_file: t}\n" + kTail,
                        "shop.yaml");
  REQUIRE(r.ok());
  REQUIRE(r.policy->sources.size() == 1);
  CHECK(r.policy->source.name == "aliexpress");
  CHECK(r.policy->source.shop == "42");  // the app key, as before
  auto none = parse_policy(test::base_policy(), "shop.yaml");
  REQUIRE(none.ok());
  CHECK(none.policy->sources.size() == 1);
  CHECK(none.policy->source.type == "inbox");
}

TEST_CASE("bad sources and scopes are errors that say what to do") {
  SUBCASE("both source and sources") {
    CHECK(has(errors("version: 1\nsource: {type: inbox}\nsources:\n  - {type: inbox}\n" + kTail),
              "shop.yaml:4:3: the policy has both 'source' and 'sources'"));
  }
  SUBCASE("sources not a list, or empty") {
    CHECK(has(errors("version: 1\nsources: {type: inbox}\n" + kTail), "sources must be a list of at least one source"));
    CHECK(has(errors("version: 1\nsources: []\n" + kTail), "sources must be a list of at least one source"));
  }
  SUBCASE("two stores with the same shop") {
    CHECK(has(errors("version: 1\nsources:\n" + ali("north", "111") + ali("north", "222") + kTail),
              "shop.yaml:4:5: sources[2] is a second aliexpress source for shop 'north' (sources[1])"));
  }
  SUBCASE("two stores without a shop share their app key's") {
    CHECK(has(errors("version: 1\nsources:\n  - {type: aliexpress, app_key: \"1\", app_secret_file: a, session_file: b}\n"
                     "  - {type: aliexpress, app_key: \"1\", app_secret_file: c, session_file: d}\n" + kTail),
              "sources[2] is a second aliexpress source for shop '1' (sources[1]); give each store its own 'shop'"));
  }
  SUBCASE("a list item that is not a mapping") {
    CHECK(has(errors("version: 1\nsources: [inbox]\n" + kTail), "shop.yaml:2:11: sources[1] must be a mapping"));
  }
  SUBCASE("two inboxes") {
    CHECK(has(errors("version: 1\nsources:\n  - {type: inbox}\n  - {type: inbox}\n" + kTail),
              "sources[2] is a second inbox source (sources[1]); only aliexpress sources may repeat"));
  }
  SUBCASE("a source in the list with an error names its place") {
    CHECK(has(errors("version: 1\nsources:\n  - {type: aliexpress, shop: x}\n" + kTail),
              "sources[1] of type aliexpress needs 'app_key'"));
    CHECK(has(errors("version: 1\nsources:\n  - {type: ftp}\n" + kTail),
              "sources[1].type must be one of inbox, http, aliexpress, not 'ftp'"));
  }
  SUBCASE("an unknown scope") {
    CHECK(has(errors(test::base_policy("limits: {scope: planet}")),
              "limits.scope must be shop (caps per shop) or seller (across this instance's shops), not 'planet'"));
  }
}

TEST_CASE("with scope: seller, one buyer of two shops is capped once across them; with scope: shop, per shop") {
  for (const char* scope : {"seller", "shop"}) {
    CAPTURE(scope);
    EngineFixture f(test::base_policy(std::string("limits: {per_buyer: [{max: 1, within: 24h}], scope: ") + scope + "}"));
    f.add({.id = "n1", .buyer = "ana", .shop = "north"});
    f.add({.id = "s1", .buyer = "ana", .shop = "south"});
    f.run_until(T0 + 2 * kHour);
    if (std::string(scope) == "seller") {
      REQUIRE(f.delivered.size() == 1);
      CHECK(f.reasons("deferred") == std::vector<std::string>{"cap_buyer:1/1d"});
      f.run_until(T0 + 26 * kHour);
      CHECK(f.delivered.size() == 2);  // the other shop's, a day later
      CHECK(f.delivered_at[1] == T0 + 26 * kHour);
    } else {
      CHECK(f.delivered.size() == 2);
    }
    // A message is one shop's: never both orders in one.
    for (const auto& j : f.delivered) CHECK(j.order_ids.size() == 1);
  }
}

TEST_CASE("with scope: seller, an opt-out in one shop holds in the others") {
  EngineFixture f(test::base_policy("limits: {scope: seller}"));
  f.engine->opt_out("north", "ana", true);
  f.add({.id = "s1", .buyer = "ana", .shop = "south"});
  f.run_until(T0 + 3 * kHour);
  CHECK(f.delivered.empty());
  CHECK(f.reasons("skipped") == std::vector<std::string>{"opted_out"});
}

TEST_CASE("with scope: seller, a buyer's opt-outs, payments and reminders in every shop are read from indexes") {
  EngineFixture f(test::base_policy("limits: {scope: seller}"));
  auto plan = [&](const std::string& sql) {
    std::string out;
    SQLite::Statement q(f.store->db(), "EXPLAIN QUERY PLAN " + sql);
    while (q.executeStep()) out += q.getColumn(3).getString() + "\n";
    return out;
  };
  // The queries of the claim (core/engine_claim.cpp) under scope: seller.
  CHECK(plan("SELECT 1 FROM optout WHERE buyer_id='b' AND 's' IS NOT NULL").find("optout_buyer") != std::string::npos);
  CHECK(plan("SELECT 1 FROM orders WHERE buyer_id='b' AND status='paid' AND status_at > 5 AND 's' IS NOT NULL LIMIT 1")
            .find("orders_paid_buyer") != std::string::npos);
  CHECK(plan("SELECT at FROM ledger WHERE buyer_id='b' AND released=0 AND at > 5 AND send_id != 0 AND 's' IS NOT NULL "
             "ORDER BY at")
            .find("ledger_buyer") != std::string::npos);
}
