// Store: the SQLite file that holds orders, the schedule, sends, the per-buyer
// ledger, the audit table, the inbox and the source cursor. Opening it applies the
// schema migrations (PRAGMA user_version) and refuses a database newer than the code.
// One Store per thread; the daemon uses it only from the io_context thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

namespace nudge {

class Store {
 public:
  // The schema this code writes. Migrations 1..kSchemaVersion are in store.cpp.
  static constexpr int kSchemaVersion = 14;

  enum class Mode { kReadWrite, kReadOnly };

  // Why an open failed: kDamaged is a file that is not a nudge store (not SQLite,
  // corrupt, or another program's database); kOther is anything else (permissions,
  // a missing folder, a newer schema).
  enum class Failure { kOther, kDamaged };

  // Opens (creating when read-write) and migrates up to `target_version` (tests use a
  // lower target to build an old database). Returns null and sets `error` (and
  // `failure`, when given) on failure.
  static std::unique_ptr<Store> open(const std::string& path, std::string& error, Mode mode = Mode::kReadWrite,
                                     int target_version = kSchemaVersion, Failure* failure = nullptr);

  SQLite::Database& db() { return db_; }
  const std::string& path() const { return path_; }
  int schema_version();

  // A statement prepared once per Store and reset for reuse. Bind with `?`.
  // The const char* form is for string literals: it finds the statement by the
  // literal's address (no string built, no long SQL compared on every call).
  SQLite::Statement& stmt(const char* sql);
  SQLite::Statement& stmt(const std::string& sql);

  // Small facts of the daemon's (table meta): `fallback` when the key has none.
  std::string meta(const char* key, const std::string& fallback = "");
  void set_meta(const char* key, const std::string& value);

  // The audit chain's last (seq, hash) as seen inside the current write transaction,
  // so that a transaction reads it once: no other writer can append while it holds the
  // write lock. Valid only for the transaction that set it (`tx_serial`).
  struct AuditTail {
    std::uint64_t tx = 0;
    std::int64_t seq = 0;
    std::string hash;
  };
  AuditTail& audit_tail() { return audit_tail_; }

  // Audit lines of committed write transactions, kept (once asked for) for the audit
  // file mirror, so that it need not read them back from the table. Bounded: a commit
  // that would take them past kMaxCommittedLines drops those kept so far (the mirror
  // then reads the gap from the table).
  struct CommittedLine {
    std::int64_t seq = 0;
    std::string line;
  };
  void keep_committed_lines(bool on) { keep_lines_ = on; }
  void note_audit_line(std::int64_t seq, std::string line);  // append_audit, in a WriteTx
  std::vector<CommittedLine> take_committed_lines() { return std::exchange(committed_lines_, {}); }
  std::uint64_t tx_serial() const { return tx_serial_; }
  void next_tx_serial() { ++tx_serial_; }

  // Audit rows held in memory instead of written to the audit table, for `nudgectl
  // simulate`: its store is thrown away, and writing each row (the table, its index by
  // buyer, the daily counts) took a fifth of a simulation. append_audit hands rows
  // here; those of a committed transaction (or written outside one) wait in
  // take_held_audit(), a rolled-back transaction's are dropped with it, as its table
  // rows would be. insert_audit_row writes one into the table, as append_audit does.
  struct AuditRow {
    std::int64_t seq = 0, ts = 0;
    std::string event, shop, buyer, line, hash;
  };
  void hold_audit(bool on) { hold_audit_ = on; }
  bool holds_audit() const { return hold_audit_; }
  void add_held_audit(AuditRow row);
  // The last row held (pending or committed) since holding began, if any.
  const AuditRow* last_held_audit() const;
  std::vector<AuditRow> take_held_audit() { return std::exchange(held_, {}); }
  // Writes one into the table and counts it in audit_daily (the only way audit rows
  // are written: the counts are kept here, not by a trigger).
  void insert_audit_row(const AuditRow& row);

 private:
  Store(const std::string& path, int flags);
  std::string path_;
  SQLite::Database db_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> stmts_;
  std::unordered_map<const char*, SQLite::Statement*> by_address_;
  AuditTail audit_tail_;
  std::uint64_t tx_serial_ = 1;
  friend class WriteTx;
  static constexpr size_t kMaxCommittedLines = 20000;
  bool keep_lines_ = false;
  std::vector<CommittedLine> tx_lines_, committed_lines_;
  bool hold_audit_ = false;
  std::vector<AuditRow> tx_held_, held_;
  std::optional<AuditRow> last_committed_held_;  // its seq and hash (the line is not kept)
  // audit_daily counts of the open transaction's rows, by (UTC day, event).
  static constexpr int kDailyCountedFrom = 13;  // the schema that dropped the trigger
  bool count_daily_ = false;
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> tx_daily_;
  void add_daily(std::int64_t day, const std::string& event, std::int64_t n);
};

// BEGIN IMMEDIATE ... COMMIT, rolled back unless commit() is called. IMMEDIATE takes
// the write lock up front, so a busy database is waited for at BEGIN (busy_timeout),
// never half-way through.
class WriteTx {
 public:
  explicit WriteTx(Store& s);
  ~WriteTx();
  void commit();
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;

 private:
  Store& store_;
  bool done_ = false;
};

}  // namespace nudge
