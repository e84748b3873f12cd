#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include "core/audit.h"
#include "core/hash.h"
#include "core/time_util.h"
#include "daemon/inspect.h"
#include "engine_fixture.h"
#include "helpers.h"

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

namespace {

// The former serialisation (a JSON tree dumped by nlohmann), kept as the reference the
// one-pass writer must match byte for byte: old lines and new ones hash alike.
std::string reference_body(std::int64_t seq, nudge::Millis ts, const nudge::AuditEvent& e, const std::string& prev) {
  auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  nlohmann::ordered_json j;
  j["seq"] = seq;
  j["ts"] = nudge::format_instant(ts);
  j["event"] = e.event;
  j["shop"] = opt(e.shop);
  j["buyer"] = opt(e.buyer);
  j["orders"] = e.orders;
  j["step"] = opt(e.step);
  j["channel"] = opt(e.channel);
  j["template"] = opt(e.tmpl);
  j["lang"] = opt(e.lang);
  j["attempt"] = e.attempt ? nlohmann::json(*e.attempt) : nlohmann::json(nullptr);
  j["send_id"] = e.send_id ? nlohmann::json(*e.send_id) : nlohmann::json(nullptr);
  j["reason"] = opt(e.reason);
  j["due"] = e.due ? nlohmann::json(nudge::format_instant(*e.due)) : nlohmann::json(nullptr);
  j["detail"] = opt(e.detail);
  if (!e.steps.empty()) {
    nlohmann::ordered_json steps;
    for (const auto& [order, step] : e.steps) steps[order] = step;
    j["steps"] = steps;
  }
  j["prev"] = prev;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

TEST_CASE("audit lines are written in one pass, byte for byte as the JSON tree wrote them") {
  using nudge::AuditEvent;
  std::vector<AuditEvent> events = {
      {.event = "started", .detail = "nudge 0.1.0"},
      {.event = "sending", .shop = "s1", .buyer = "b1", .orders = {"o1", "o2"}, .step = "first", .channel = "outbox",
       .tmpl = "gentle", .lang = "es", .attempt = 1, .send_id = 12345678901,
       .steps = {{"o1", "first"}, {"o2", "second"}, {"q\"x\\", "ü step"}}},
      {.event = "deferred", .shop = "s1", .buyer = "José Ñandú", .orders = {"ö\"q\\"}, .reason = "cap_buyer:1/1d",
       .due = 1795168800123},
      {.event = "order_rejected", .shop = "s\t1", .orders = {}, .reason = "invalid_record",
       .detail = std::string("bad \x01 byte \xff\xfe and a\nnewline \x7f")},
      {.event = "", .shop = "", .orders = {""}, .attempt = 0, .send_id = -1},
  };
  for (const auto& e : events) {
    std::string hash;
    std::string line = nudge::audit_line(7, 1795168800123, e, std::string(64, 'a'), hash);
    std::string ref = reference_body(7, 1795168800123, e, std::string(64, 'a'));
    CHECK(line.substr(0, line.size() - 75) + "}" == ref);
    CHECK(hash == nudge::sha256_hex(ref));
  }
}

TEST_CASE("instants print as date::format prints them, across years and leap days") {
  using namespace std::chrono;
  for (nudge::Millis t : {0LL, 1LL, 999LL, 86399999LL, 951782400000LL /* 2000-02-29 */, 1795168800123LL,
                          4107542399999LL /* 2100-02-28T23:59:59.999 */, 4107542400000LL, 253402300799999LL}) {
    date::sys_time<milliseconds> tp{milliseconds{t}};
    CHECK(nudge::format_instant(t) == date::format("%FT%TZ", tp));
  }
  for (nudge::Millis t = 0; t < 253402300800000LL; t += 86400000LL * 97 + 3600007) {
    date::sys_time<milliseconds> tp{milliseconds{t}};
    REQUIRE(nudge::format_instant(t) == date::format("%FT%TZ", tp));
  }
}

TEST_CASE("the chain stays whole when another process appends between two transactions") {
  test::TempDir dir;
  std::string error;
  auto daemon = Store::open(dir / "nudge.db", error);
  auto ctl = Store::open(dir / "nudge.db", error);  // as nudgectl optout add would
  REQUIRE(daemon);
  REQUIRE(ctl);
  {
    WriteTx tx(*daemon);
    append_audit(*daemon, 1000, {.event = "started"});
    append_audit(*daemon, 1000, {.event = "policy_loaded"});
    tx.commit();
  }
  {
    WriteTx tx(*ctl);
    CHECK(append_audit(*ctl, 2000, {.event = "opted_out", .shop = "s1", .buyer = "b1"}) == 3);
    tx.commit();
  }
  {
    WriteTx tx(*daemon);
    CHECK(append_audit(*daemon, 3000, {.event = "stopped"}) == 4);
    tx.commit();
  }
  std::istringstream in(table_as_file(*daemon));
  auto check = verify_audit(in);
  CHECK(check.ok);
  CHECK(check.lines == 4);
}

// nudgectl audit tail reads the file from its end, a block at a time: the last n
// complete lines, whatever block boundary they fall on; a partial last line (being
// written) is not one of them.
TEST_CASE("audit tail prints the last n complete lines, read from the end of the file") {
  test::TempDir dir;
  const std::string path = dir / "audit.jsonl";
  std::vector<std::string> lines;
  {
    std::ofstream f(path, std::ios::binary);
    char buf[32];
    for (int i = 1; i <= 10000; ++i) {  // 16 bytes a line: 4,096 lines to a 64 KiB block
      std::snprintf(buf, sizeof buf, "{\"seq\":%07d}", i);
      lines.push_back(buf);
      f << buf << "\n";
    }
    f << "{\"seq\":0010001";  // being written
  }
  for (int n : {0, 1, 2, 4095, 4096, 4097, 8192, 9999, 10000, 20000}) {
    INFO("n = " << n);
    std::ostringstream out;
    REQUIRE(tail_audit(path, n, false, true, out) == 0);
    std::string want;
    for (size_t i = lines.size() - std::min<size_t>(lines.size(), static_cast<size_t>(n)); i < lines.size(); ++i)
      want += lines[i] + "\n";
    CHECK(out.str() == want);
  }
  std::ostringstream none;
  CHECK(tail_audit(dir / "missing.jsonl", 5, false, true, none) == 66);
}

TEST_CASE("held audit rows (nudgectl simulate) chain as table rows do: a rolled-back transaction's are dropped") {
  std::string error;
  auto store = Store::open(":memory:", error);
  REQUIRE(store);
  auto event = [](const std::string& name) { return AuditEvent{.event = name, .shop = "s1", .buyer = "b1"}; };
  {
    WriteTx tx(*store);
    append_audit(*store, 1000, event("started"));  // in the table, as before holding
    tx.commit();
  }
  store->hold_audit(true);
  std::vector<Store::AuditRow> rows;
  {
    WriteTx tx(*store);
    CHECK(append_audit(*store, 2000, event("scheduled")) == 2);
    CHECK(append_audit(*store, 2000, event("deferred")) == 3);
    CHECK(store->take_held_audit().empty());  // not yet committed
    tx.commit();
  }
  for (auto& r : store->take_held_audit()) rows.push_back(std::move(r));
  REQUIRE(rows.size() == 2);
  {
    WriteTx tx(*store);
    append_audit(*store, 3000, event("sending"));
  }  // rolled back
  CHECK(store->take_held_audit().empty());
  {
    WriteTx tx(*store);
    CHECK(append_audit(*store, 4000, event("sent")) == 4);  // the rolled-back seq is free again
    tx.commit();
  }
  CHECK(append_audit(*store, 5000, event("stopped")) == 5);  // outside a transaction: committed at once
  for (auto& r : store->take_held_audit()) rows.push_back(std::move(r));
  REQUIRE(rows.size() == 4);
  CHECK(rows[2].event == "sent");
  CHECK(rows[3].ts == 5000);
  CHECK(store->db().execAndGet("SELECT COUNT(*) FROM audit").getInt() == 1);  // none written

  // Written out, they continue the table's chain and verify whole.
  {
    WriteTx tx(*store);
    for (const auto& r : rows) store->insert_audit_row(r);
    tx.commit();
  }
  auto verified = check(table_as_file(*store));
  CHECK_MESSAGE(verified.ok, verified.problem);
  CHECK(verified.lines == 5);
  CHECK(verified.last_seq == 5);
}

TEST_CASE("sha256_hex gives the FIPS 180-2 test vectors' digests, on any thread, again and again") {
  auto vectors = [] {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  };
  vectors();
  vectors();  // the kept context starts afresh
  std::thread other(vectors);
  other.join();
}
