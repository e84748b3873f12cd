#include <doctest/doctest.h>

#include <sstream>

#include "core/audit.h"
#include "core/retention.h"
#include "engine_fixture.h"

using namespace nudge;
using test::EngineFixture;
using test::T0;

namespace {

std::int64_t count(Store& s, const std::string& sql) { return s.db().execAndGet(sql).getInt64(); }

// The audit table's lines, verified from the anchor retention left.
AuditCheck verify_table(Store& s) {
  std::stringstream lines;
  SQLite::Statement q(s.db(), "SELECT line FROM audit ORDER BY seq");
  while (q.executeStep()) lines << q.getColumn(0).getString() << "\n";
  auto anchor = audit_anchor(s);
  return verify_audit(lines, anchor.seq + 1, anchor.hash);
}

void mirrored_up_to_now(Store& s) {
  s.db().exec("INSERT INTO meta(key, value) SELECT 'audit_mirror_seq', COALESCE(MAX(seq), 0) FROM audit "
              "WHERE 1 ON CONFLICT(key) DO UPDATE SET value=excluded.value");
}

}  // namespace

TEST_CASE("orders finished longer ago than retention.orders are pruned with their steps, sends and ledger rows") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 5, within: 7d}]}"));
  f.add({.id = "old-paid", .buyer = "b1"});
  f.add({.id = "old-open", .buyer = "b2"});  // never paid: closes after 10d
  f.run_until(T0 + 3 * kHour);  // old-paid and old-open reminded
  f.status("old-paid", OrderStatus::kPaid);
  f.run_until(T0 + 80 * kDay);
  f.add({.id = "recent", .buyer = "b3", .placed = T0 + 80 * kDay});
  f.run_until(T0 + 80 * kDay + 3 * kHour);
  f.status("recent", OrderStatus::kPaid);
  f.run_until(T0 + 101 * kDay);
  f.add({.id = "waiting", .buyer = "b4", .placed = T0 + 101 * kDay});  // its steps are still ahead
  REQUIRE(count(*f.store, "SELECT COUNT(*) FROM sends") >= 3);

  Millis now = T0 + 101 * kDay;
  PruneResult r;
  do {
    r = prune_step(*f.store, *f.policy, now, 1);  // one at a time: each a transaction of its own
  } while (r.more);
  // old-paid: paid ~101 days ago; old-open: closed 91 days ago. recent and waiting stay.
  CHECK(count(*f.store, "SELECT COUNT(*) FROM orders WHERE order_id IN ('old-paid', 'old-open')") == 0);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM orders WHERE order_id IN ('recent', 'waiting')") == 2);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM schedule WHERE order_id IN ('old-paid', 'old-open')") == 0);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM schedule WHERE order_id = 'waiting' AND state='scheduled'") == 2);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM sends WHERE buyer_id IN ('b1', 'b2')") == 0);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM ledger WHERE buyer_id IN ('b1', 'b2')") == 0);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM sends WHERE buyer_id = 'b3'") >= 1);
  // The engine goes on as before: the waiting order's steps are still claimed.
  f.run_until(T0 + 104 * kDay);
  CHECK(f.step_state("waiting", "first") == "sent");
}

// Regression: a send's id was MAX(id) + 1 of the sends left, so once retention had
// pruned every send, ids began again at 1 and the audit log named two sends by one id.
TEST_CASE("send ids go on past the sends retention pruned, even when it pruned them all") {
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 5, within: 7d}]}"));
  f.add({.id = "o1", .buyer = "b1"});
  f.add({.id = "o2", .buyer = "b2"});
  f.run_until(T0 + 3 * kHour);
  f.status("o1", OrderStatus::kPaid);
  f.status("o2", OrderStatus::kPaid);
  const std::int64_t high = count(*f.store, "SELECT MAX(id) FROM sends");
  REQUIRE(high >= 2);
  Millis now = T0 + 101 * kDay;
  f.run_until(now);
  PruneResult r;
  do {
    r = prune_step(*f.store, *f.policy, now, 1);
  } while (r.more);
  REQUIRE(count(*f.store, "SELECT COUNT(*) FROM sends") == 0);
  f.add({.id = "o3", .buyer = "b3", .placed = now});
  f.run_until(now + 3 * kHour);
  CHECK(count(*f.store, "SELECT MIN(id) FROM sends") == high + 1);
}

TEST_CASE("retention never prunes a reminder that still counts for a cap, nor a step still open") {
  // A 120-day cap window outlives the 90-day order retention: the ledger must stay.
  EngineFixture f(test::base_policy("limits: {per_order: 2, per_buyer: [{max: 1, within: 120d}]}"));
  f.add({.id = "o1", .buyer = "b1"});
  f.run_until(T0 + 3 * kHour);
  f.status("o1", OrderStatus::kPaid);
  f.run_until(T0 + 100 * kDay);
  f.add({.id = "o2", .buyer = "b1", .placed = T0 + 100 * kDay});
  auto r = prune_step(*f.store, *f.policy, T0 + 100 * kDay + kHour);
  CHECK(r.orders == 0);
  CHECK(count(*f.store, "SELECT COUNT(*) FROM ledger WHERE buyer_id='b1'") == 1);
  f.run_until(T0 + 100 * kDay + 3 * kHour);
  // o1's reminder, 100 days ago, still counts: o2 cannot be reminded before it closes.
  CHECK(f.step_state("o2", "first") != "sent");
  CHECK(count(*f.store, "SELECT COUNT(*) FROM sends WHERE buyer_id='b1'") == 1);
}

TEST_CASE("audit rows older than retention.audit are pruned once the file has them, and the chain is proven from the anchor") {
  EngineFixture f;
  for (int i = 0; i < 30; ++i) f.add({.id = "o" + std::to_string(i), .buyer = "b" + std::to_string(i)});
  f.run_until(T0 + 3 * kHour);
  std::int64_t lines = count(*f.store, "SELECT COUNT(*) FROM audit");
  REQUIRE(lines > 60);
  Millis later = T0 + 401 * kDay;
  SUBCASE("not before the audit file holds them") {
    auto r = prune_step(*f.store, *f.policy, later);
    CHECK(r.audit == 0);
    CHECK(count(*f.store, "SELECT COUNT(*) FROM audit") == lines);
  }
  SUBCASE("in batches, each moving the anchor") {
    mirrored_up_to_now(*f.store);
    auto r = prune_step(*f.store, *f.policy, later, 25);
    CHECK(r.audit == 25);
    CHECK(r.more);
    CHECK(audit_anchor(*f.store).seq == 25);
    CHECK(verify_table(*f.store).ok);
    do r = prune_step(*f.store, *f.policy, later, 25);
    while (r.more);
    CHECK(count(*f.store, "SELECT COUNT(*) FROM audit") == 1);  // the newest line stays: the next chains to it
    CHECK(audit_anchor(*f.store).seq == lines - 1);
    // New lines chain on from the anchor.
    f.clock.set(later);
    f.add({.id = "new", .buyer = "bn", .placed = later});
    auto check = verify_table(*f.store);
    CHECK_MESSAGE(check.ok, check.problem);
    CHECK(check.lines >= 2);
  }
  SUBCASE("a tampered line after the anchor is still caught") {
    mirrored_up_to_now(*f.store);
    prune_step(*f.store, *f.policy, later, 10);
    f.store->db().exec("UPDATE audit SET line = replace(line, '\"b15\"', '\"bX\"') WHERE buyer='b15'");
    CHECK_FALSE(verify_table(*f.store).ok);
  }
}

TEST_CASE("inbox lines the inbox source has taken are deleted; lines not yet taken stay") {
  EngineFixture f;
  for (int i = 1; i <= 10; ++i)
    f.store->db().exec("INSERT INTO inbox(id, received_at, line) VALUES(" + std::to_string(i) + ", 0, '{}')");
  f.engine->ingest({}, "inbox", std::string("7"));  // the source committed a page up to line 7
  auto r = prune_step(*f.store, *f.policy, T0);
  CHECK(r.inbox == 7);
  CHECK(count(*f.store, "SELECT MIN(id) FROM inbox") == 8);
}
