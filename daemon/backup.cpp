#include "daemon/backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>

#include "core/audit.h"
#include "core/store.h"

namespace nudge {

namespace {

bool fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

BackupReport backup_store(const std::string& store_path, const std::string& dest) {
  BackupReport r;
  namespace fs = std::filesystem;
  std::string tmp = dest + ".tmp-" + std::to_string(::getpid());
  std::string lines_file = tmp + ".audit";
  auto fail = [&](const std::string& why) {
    r.ok = false;
    r.error = why;
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::remove(lines_file, ec);
    return r;
  };
  std::string error;
  auto src = Store::open(store_path, error, Store::Mode::kReadOnly);
  if (!src) return fail(error);
  try {
    {
      SQLite::Database copy(tmp, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      SQLite::Backup backup(copy, src->db());
      backup.executeStep(-1);  // all pages in one read transaction: one consistent snapshot
      // One self-contained file (no -wal beside it); nudged sets WAL again when it opens it.
      copy.exec("PRAGMA journal_mode=DELETE");
    }
    SQLite::Database copy(tmp, SQLite::OPEN_READONLY);
    std::string integrity = copy.execAndGet("PRAGMA integrity_check").getString();
    if (integrity != "ok") return fail(tmp + ": integrity_check says: " + integrity);
    r.schema_version = copy.execAndGet("PRAGMA user_version").getInt();
    r.orders = copy.execAndGet("SELECT COUNT(*) FROM orders").getInt64();
    {
      std::ofstream out(lines_file, std::ios::binary | std::ios::trunc);
      SQLite::Statement q(copy, "SELECT line FROM audit ORDER BY seq");
      while (q.executeStep()) out << q.getColumn(0).getString() << "\n";
      if (!out.flush()) return fail("cannot write " + lines_file);
    }
    // After retention pruned the oldest lines, the chain is proven from the anchor.
    std::int64_t anchor_seq = 0;
    std::string anchor_hash = kGenesisHash;
    {
      SQLite::Statement m(copy, "SELECT key, value FROM meta WHERE key IN ('audit_anchor_seq', 'audit_anchor_hash')");
      while (m.executeStep()) {
        if (m.getColumn(0).getString() == "audit_anchor_seq") anchor_seq = std::stoll(m.getColumn(1).getString());
        if (m.getColumn(0).getString() == "audit_anchor_hash") anchor_hash = m.getColumn(1).getString();
      }
    }
    std::ifstream in(lines_file, std::ios::binary);
    AuditCheck check = verify_audit(in, anchor_seq + 1, anchor_hash);
    r.first_seq = anchor_seq + 1;
    if (!check.ok)
      return fail("the copy's audit chain is broken at line " + std::to_string(check.first_bad_line) + ": " +
                  check.problem);
    r.audit_lines = check.lines;
    r.last_seq = check.last_seq;
  } catch (const std::exception& e) {
    return fail(std::string("backup failed: ") + e.what());
  }
  std::error_code ec;
  fs::remove(lines_file, ec);
  if (!fsync_path(tmp)) return fail("cannot sync " + tmp);
  fs::rename(tmp, dest, ec);
  if (ec) return fail("cannot rename " + tmp + " to " + dest + ": " + ec.message());
  fsync_path(fs::absolute(dest).parent_path().string());
  r.bytes = static_cast<std::int64_t>(fs::file_size(dest, ec));
  r.ok = true;
  return r;
}

}  // namespace nudge
