// The audit file mirror takes the lines the daemon's transactions committed from
// memory (Store::take_committed_lines) and everything else from the table: the file
// must be the table's lines, in order, whoever wrote them and whatever was rolled back.
#include <doctest/doctest.h>

#include <fstream>
#include <stdexcept>

#include "core/audit.h"
#include "core/store.h"
#include "daemon/audit_mirror.h"
#include "helpers.h"

using namespace nudge;

namespace {

void append(Store& s, const std::string& event, bool commit = true) {
  WriteTx tx(s);
  append_audit(s, 1795000000000, {.event = event, .shop = "s1", .buyer = "b1"});
  if (commit) tx.commit();
}

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> table_lines(Store& s) {
  std::vector<std::string> out;
  SQLite::Statement q(s.db(), "SELECT line FROM audit ORDER BY seq");
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

}  // namespace

TEST_CASE("committed lines are kept for the mirror; rolled-back ones are not") {
  test::TempDir dir;
  std::string error;
  auto s = Store::open(dir / "nudge.db", error);
  REQUIRE(s);
  append(*s, "a");
  CHECK(s->take_committed_lines().empty());  // not asked for: nothing kept
  s->keep_committed_lines(true);
  append(*s, "b");
  append(*s, "c", /*commit=*/false);  // rolled back
  append(*s, "d");
  auto lines = s->take_committed_lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].seq == 2);
  CHECK(lines[0].line.find("\"event\":\"b\"") != std::string::npos);
  CHECK(lines[1].seq == 3);  // the rolled-back line took no seq
  CHECK(lines[1].line.find("\"event\":\"d\"") != std::string::npos);
  CHECK(s->take_committed_lines().empty());
}

TEST_CASE("the audit file holds the table's lines in order, with lines of another connection between the daemon's") {
  test::TempDir dir;
  std::string error;
  auto daemon = Store::open(dir / "nudge.db", error);
  auto other = Store::open(dir / "nudge.db", error);  // nudgectl, say
  REQUIRE(daemon);
  REQUIRE(other);
  daemon->keep_committed_lines(true);
  AuditMirror mirror(dir / "audit.jsonl");
  REQUIRE(mirror.open(*daemon, error));
  std::vector<std::string> seen;
  mirror.set_observer([&](std::string_view l) { seen.emplace_back(l); });

  append(*daemon, "one");
  append(*daemon, "two");
  CHECK(mirror.catch_up(*daemon) == 2);
  append(*daemon, "three");
  append(*other, "four");  // not in the daemon's memory: read from the table
  append(*daemon, "five");
  append(*daemon, "six", /*commit=*/false);
  CHECK(mirror.catch_up(*daemon) == 3);
  CHECK(mirror.catch_up(*daemon) == 0);
  append(*other, "seven");
  append(*daemon, "eight");
  CHECK(mirror.catch_up(*daemon) == 2);

  auto table = table_lines(*daemon);
  REQUIRE(table.size() == 7);
  CHECK(file_lines(dir / "audit.jsonl") == table);
  CHECK(seen == table);
  CHECK(mirror.last_seq() == 7);
}
