#include "core/retention.h"

#include <algorithm>
#include <vector>

namespace nudge {

namespace {

constexpr const char* kAnchorSeq = "audit_anchor_seq";
constexpr const char* kAnchorHash = "audit_anchor_hash";
constexpr const char* kMirrorSeq = "audit_mirror_seq";  // how far the audit file got (daemon/audit_mirror.cpp)
constexpr const char* kSendIdHigh = "send_id_high";    // read by Engine's claim (engine_claim.cpp)

std::int64_t prune_inbox(Store& store, int batch) {
  auto& c = store.stmt("SELECT cursor FROM source_state WHERE source='inbox'");
  std::int64_t taken = 0;
  if (c.executeStep() && !c.getColumn(0).isNull()) {
    try {
      taken = std::stoll(c.getColumn(0).getString());
    } catch (const std::exception&) {
    }
  }
  c.reset();
  if (taken <= 0) return 0;
  WriteTx tx(store);
  auto& d = store.stmt("DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE id <= ? ORDER BY id LIMIT ?)");
  d.bind(1, static_cast<int64_t>(taken));
  d.bind(2, batch);
  std::int64_t n = d.exec();
  tx.commit();
  return n;
}

void prune_orders(Store& store, const Policy& policy, Millis now, int batch, PruneResult& r) {
  Millis cut = now - policy.retention.orders;
  Millis window = 0;
  for (const auto& w : policy.limits.per_buyer) window = std::max(window, w.within);
  // Candidates are read before the write transaction, so the scan holds no lock. An
  // order with a step still open, or with a reminder that still counts for a cap, is
  // never one: every candidate is deleted, so each round makes progress.
  std::vector<std::pair<std::string, std::string>> orders;
  {
    auto& q = store.stmt(
        "SELECT o.shop, o.order_id FROM orders o "
        // placed_at comes before status_at and closes_at: with it the scan reads only
        // the old orders (index orders_placed), not the whole table once a minute.
        "WHERE o.placed_at < ?1 AND ((o.status != 'awaiting_payment' AND o.status_at < ?1) OR (o.status = 'awaiting_payment' AND o.closes_at < ?1)) "
        "AND NOT EXISTS (SELECT 1 FROM schedule s WHERE s.shop = o.shop AND s.order_id = o.order_id "
        "                AND s.state IN ('scheduled', 'sending', 'held')) "
        "AND NOT EXISTS (SELECT 1 FROM schedule s JOIN ledger l ON l.send_id = s.send_id "
        "                WHERE s.shop = o.shop AND s.order_id = o.order_id AND l.released = 0 AND l.at > ?2) "
        "LIMIT ?3");
    q.bind(1, static_cast<int64_t>(cut));
    q.bind(2, static_cast<int64_t>(now - window));
    q.bind(3, batch);
    while (q.executeStep()) orders.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
    q.reset();
  }
  if (orders.empty()) return;
  r.more = r.more || static_cast<int>(orders.size()) == batch;
  WriteTx tx(store);
  // The highest send id so far, kept when sends are deleted: new ids go on past it
  // (Engine's claim), so that no id is ever given to a second send. It is never below
  // the one kept before: every send since was given a higher id.
  const std::int64_t high = store.db().execAndGet("SELECT COALESCE(MAX(id), 0) FROM sends").getInt64();
  const std::int64_t sends_before = r.sends;
  for (const auto& [shop, order] : orders) {
    std::vector<std::int64_t> sends;
    auto& s = store.stmt("SELECT DISTINCT send_id FROM schedule WHERE shop=? AND order_id=? AND send_id IS NOT NULL");
    s.bind(1, shop);
    s.bind(2, order);
    while (s.executeStep()) sends.push_back(s.getColumn(0).getInt64());
    s.reset();
    auto& ds = store.stmt("DELETE FROM schedule WHERE shop=? AND order_id=?");
    ds.bind(1, shop);
    ds.bind(2, order);
    r.steps += ds.exec();
    for (std::int64_t id : sends) {
      // A merged send stays while a kept order's step still points at it.
      auto& used = store.stmt("SELECT COUNT(*) FROM schedule WHERE send_id=?");
      used.bind(1, static_cast<int64_t>(id));
      used.executeStep();
      bool still_used = used.getColumn(0).getInt64() > 0;
      used.reset();
      if (still_used) continue;
      auto& dl = store.stmt("DELETE FROM ledger WHERE send_id=?");
      dl.bind(1, static_cast<int64_t>(id));
      r.ledger += dl.exec();
      auto& dsend = store.stmt("DELETE FROM sends WHERE id=?");
      dsend.bind(1, static_cast<int64_t>(id));
      r.sends += dsend.exec();
    }
    auto& dor = store.stmt("DELETE FROM orders WHERE shop=? AND order_id=?");
    dor.bind(1, shop);
    dor.bind(2, order);
    r.orders += dor.exec();
  }
  if (r.sends > sends_before) store.set_meta(kSendIdHigh, std::to_string(high));
  tx.commit();
}

std::int64_t prune_audit(Store& store, const Policy& policy, Millis now, int batch) {
  std::int64_t mirrored = 0;
  try {
    mirrored = std::stoll(store.meta(kMirrorSeq, "0"));
  } catch (const std::exception&) {
  }
  // The newest line always stays: the next line chains to its hash.
  std::int64_t newest = store.db().execAndGet("SELECT COALESCE(MAX(seq), 0) FROM audit").getInt64();
  mirrored = std::min(mirrored, newest - 1);
  // The last line of the batch: the oldest lines, up to the first one younger than the
  // retention (or not yet in the file). Reads at most a batch of rows, whatever the
  // table's size (a search for old lines among a million young ones read them all).
  auto& q = store.stmt("SELECT seq, hash, ts FROM audit WHERE seq <= ? ORDER BY seq LIMIT ?");
  q.bind(1, static_cast<int64_t>(mirrored));
  q.bind(2, batch);
  std::int64_t last = 0;
  std::string hash;
  while (q.executeStep()) {
    if (q.getColumn(2).getInt64() >= now - policy.retention.audit) break;
    last = q.getColumn(0).getInt64();
    hash = q.getColumn(1).getString();
  }
  q.reset();
  if (last == 0) return 0;
  WriteTx tx(store);
  auto& d = store.stmt("DELETE FROM audit WHERE seq <= ?");
  d.bind(1, static_cast<int64_t>(last));
  std::int64_t n = d.exec();
  store.set_meta(kAnchorSeq, std::to_string(last));
  store.set_meta(kAnchorHash, hash);
  tx.commit();
  return n;
}

// Replies, cleared flags and chat cursors: each at most `batch` rows, in one transaction.
std::int64_t prune_replies(Store& store, const Policy& policy, Millis now, int batch) {
  WriteTx tx(store);
  auto& a = store.stmt(
      "DELETE FROM replies WHERE (shop, channel, message_id) IN "
      "(SELECT shop, channel, message_id FROM replies WHERE at < ? LIMIT ?)");
  a.bind(1, static_cast<int64_t>(now - policy.records.max_age));
  a.bind(2, batch);
  std::int64_t n = a.exec();
  a.reset();
  auto& f = store.stmt(
      "DELETE FROM flags WHERE id IN (SELECT id FROM flags WHERE cleared_at IS NOT NULL AND cleared_at < ? LIMIT ?)");
  f.bind(1, static_cast<int64_t>(now - policy.retention.audit));
  f.bind(2, batch);
  n += f.exec();
  f.reset();
  auto& c = store.stmt(
      "DELETE FROM source_state WHERE source IN (SELECT source FROM source_state WHERE source LIKE 'aliexpress_chat:%' "
      "AND last_poll_at < ? LIMIT ?)");
  c.bind(1, static_cast<int64_t>(now - policy.retention.orders - policy.replies.watch));
  c.bind(2, batch);
  n += c.exec();
  c.reset();
  // Chat ids resolved that long ago for buyers with no order left (retention took
  // them): the aliexpress channel asks for the id again if such a buyer orders anew.
  // Only the oldest `batch` are looked at, so a round stays short; those whose buyer
  // still has orders are dated now, to be looked at again a period later, so that
  // they never stand in front of the others.
  const Millis idle = now - policy.retention.orders - policy.replies.watch;
  auto& b = store.stmt(
      "DELETE FROM buyer_ids WHERE (shop, login_id) IN (SELECT k.shop, k.login_id FROM "
      "(SELECT shop, login_id FROM buyer_ids WHERE at < ? ORDER BY at LIMIT ?) k "
      "WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.shop = k.shop AND o.buyer_id = k.login_id))");
  b.bind(1, static_cast<int64_t>(idle));
  b.bind(2, batch);
  n += b.exec();
  b.reset();
  auto& kept = store.stmt(
      "UPDATE buyer_ids SET at = ? WHERE (shop, login_id) IN (SELECT k.shop, k.login_id FROM "
      "(SELECT shop, login_id FROM buyer_ids WHERE at < ? ORDER BY at LIMIT ?) k "
      "WHERE EXISTS (SELECT 1 FROM orders o WHERE o.shop = k.shop AND o.buyer_id = k.login_id))");
  kept.bind(1, static_cast<int64_t>(now));
  kept.bind(2, static_cast<int64_t>(idle));
  kept.bind(3, batch);
  kept.exec();
  kept.reset();
  tx.commit();
  return n;
}

}  // namespace

PruneResult prune_step(Store& store, const Policy& policy, Millis now, int batch) {
  PruneResult r;
  r.inbox = prune_inbox(store, batch);
  prune_orders(store, policy, now, batch, r);
  r.audit = prune_audit(store, policy, now, batch);
  r.replies = prune_replies(store, policy, now, batch);
  r.more = r.more || r.inbox == batch || r.audit == batch || r.replies >= batch;
  return r;
}

AuditAnchor audit_anchor(Store& store) {
  AuditAnchor a;
  try {
    a.seq = std::stoll(store.meta(kAnchorSeq, "0"));
  } catch (const std::exception&) {
    a.seq = 0;
  }
  if (a.seq > 0) a.hash = store.meta(kAnchorHash, kGenesisHash);
  return a;
}

}  // namespace nudge
