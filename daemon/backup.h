// `nudgectl backup FILE`: a consistent copy of the store, taken with SQLite's online
// backup API while nudged runs (a read transaction in WAL mode holds up no writer),
// and checked before it is called good: PRAGMA integrity_check on the copy and the
// audit chain of its audit table, line by line. The copy appears under FILE only
// once checked (written beside it, synced, renamed).
#pragma once

#include <cstdint>
#include <string>

namespace nudge {

struct BackupReport {
  bool ok = false;
  std::string error;           // set when !ok: what failed, naming the file
  std::int64_t bytes = 0;
  int schema_version = 0;
  std::int64_t audit_lines = 0, first_seq = 1, last_seq = 0, orders = 0;  // first_seq > 1: after pruning
};

BackupReport backup_store(const std::string& store_path, const std::string& dest);

}  // namespace nudge
