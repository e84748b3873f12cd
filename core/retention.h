// Retention: keeps the store's size bounded for years of running. Each call of
// prune_step() deletes at most `batch` rows of one kind in one short transaction, so
// pruning never holds the write lock long enough to hold up sending:
//  - inbox lines the inbox source has already ingested (its cursor is past them);
//  - finished orders older than retention.orders — paid, cancelled or closed that
//    long ago, or still "awaiting payment" that long after they closed — with their
//    steps, their sends (when no kept step shares them) and their ledger rows; never
//    an order with a step still open, nor one whose ledger rows are inside a cap
//    window;
//  - buyers' replies older than records.max_age (a record that old is refused anyway,
//    so its message id cannot come back), flags cleared longer ago than
//    retention.audit, chat cursors of buyers not read for retention.orders, and chat
//    ids (buyer_ids) resolved longer ago than that for buyers with no order left;
//  - audit rows older than retention.audit that the audit file already holds (never
//    the newest line, which the next one chains to). The hash of the last deleted
//    line is kept (meta: audit_anchor_seq/_hash), so the table's chain is still
//    proven from there; the JSONL files keep the whole history.
// Runs on whatever thread owns the Store.
#pragma once

#include <cstdint>
#include <string>

#include "core/audit.h"
#include "core/clock.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

struct PruneResult {
  std::int64_t inbox = 0, orders = 0, steps = 0, sends = 0, ledger = 0, audit = 0, replies = 0;
  bool more = false;  // a batch was full: call again soon
  std::int64_t total() const { return inbox + orders + steps + sends + ledger + audit + replies; }
};

// One round: at most `batch` inbox lines, `batch` orders and `batch` audit rows, each
// kind in its own transaction.
PruneResult prune_step(Store& store, const Policy& policy, Millis now, int batch = 500);

// Where the audit table now starts: the seq and hash of the last line pruned (0 and
// the genesis when nothing was pruned).
struct AuditAnchor {
  std::int64_t seq = 0;
  std::string hash = kGenesisHash;
};
AuditAnchor audit_anchor(Store& store);

}  // namespace nudge
