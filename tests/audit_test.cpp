#include <doctest/doctest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "core/audit.h"
#include "core/hash.h"
#include "engine_fixture.h"

using namespace nudge;

namespace {

std::string table_as_file(Store& s) {
  std::string out;
  SQLite::Statement q(s.db(), "SELECT line FROM audit ORDER BY seq");
  while (q.executeStep()) out += q.getColumn(0).getString() + "\n";
  return out;
}

AuditCheck check(const std::string& text) {
  std::istringstream in(text);
  return verify_audit(in);
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

TEST_CASE("every state change writes an audit line with contiguous seq and a hash chain") {
  test::EngineFixture f;
  f.engine->start("test");
  f.add({.id = "o1"});
  f.add({.id = "o2", .buyer = "b2"});
  f.status("o2", OrderStatus::kPaid);
  f.run_until(test::T0 + 3 * kHour);
  std::string file = table_as_file(*f.store);
  auto lines = split(file);
  REQUIRE(lines.size() >= 8);
  auto r = check(file);
  CHECK(r.ok);
  CHECK(r.last_seq == static_cast<std::int64_t>(lines.size()));
  auto first = nlohmann::json::parse(lines[0]);
  CHECK(first["seq"] == 1);
  CHECK(first["event"] == "started");
  CHECK(first["prev"] == kGenesisHash);
  auto second = nlohmann::json::parse(lines[1]);
  CHECK(second["prev"] == first["hash"]);
  // The line carries what an operator needs, and not the message text.
  bool saw_sent = false;
  for (const auto& l : lines) {
    auto j = nlohmann::json::parse(l);
    if (j["event"] == "sent") {
      saw_sent = true;
      CHECK(j["orders"] == nlohmann::json::array({"o1"}));
      CHECK(j["channel"] == "outbox");
      CHECK(j["lang"] == "en");
      CHECK(j["send_id"].is_number());
    }
    CHECK(l.find("Hi Buyer") == std::string::npos);
  }
  CHECK(saw_sent);
}

TEST_CASE("audit verification catches every kind of tampering") {
  test::EngineFixture f;
  f.engine->start("test");
  for (int i = 0; i < 5; ++i) f.add({.id = "o" + std::to_string(i), .buyer = "b" + std::to_string(i)});
  auto lines = split(table_as_file(*f.store));
  REQUIRE(lines.size() >= 10);
  REQUIRE(check(join(lines)).ok);

  SUBCASE("a flipped byte") {
    auto bad = lines;
    bad[4][bad[4].find("\"event\":\"") + 10] ^= 1;
    auto r = check(join(bad));
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_line == 5);
  }
  SUBCASE("an edited field with a recomputed hash still breaks the chain") {
    auto bad = lines;
    auto j = nlohmann::ordered_json::parse(bad[3]);
    j["reason"] = "edited";
    j.erase("hash");
    std::string body = j.dump();
    std::string hash = sha256_hex(body);
    body.pop_back();
    bad[3] = body + ",\"hash\":\"" + hash + "\"}";
    auto r = check(join(bad));
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_line == 5);  // line 4 is self-consistent; line 5's prev no longer matches
  }
  SUBCASE("a deleted line") {
    auto bad = lines;
    bad.erase(bad.begin() + 6);
    auto r = check(join(bad));
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_line == 7);
  }
  SUBCASE("two lines swapped") {
    auto bad = lines;
    std::swap(bad[2], bad[3]);
    auto r = check(join(bad));
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_line == 3);
  }
  SUBCASE("a truncated last line") {
    std::string text = join(lines);
    text.resize(text.size() - 20);
    auto r = check(text);
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_line == static_cast<std::int64_t>(lines.size()));
  }
  SUBCASE("lines cut from the start") {
    auto bad = std::vector<std::string>(lines.begin() + 2, lines.end());
    auto r = check(join(bad));
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad_line == 1);
  }
}
