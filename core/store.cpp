#include "core/store.h"

#include <chrono>
#include <filesystem>
#include <thread>

#include <sqlite3.h>

#include "core/clock.h"

namespace nudge {
namespace {

// Each entry moves the schema from version i to i+1 and commits with its user_version
// bump (the pending entries of one open commit together). Never edit a released entry:
// add a new one.
const char* const kMigrations[] = {
    // 1: orders, schedule, sends, ledger, audit, inbox, source state.
    R"sql(
CREATE TABLE orders(
  shop TEXT NOT NULL, order_id TEXT NOT NULL, buyer_id TEXT NOT NULL,
  buyer_name TEXT NOT NULL DEFAULT '', buyer_country TEXT NOT NULL DEFAULT '',
  buyer_lang TEXT NOT NULL DEFAULT '', buyer_tz TEXT NOT NULL DEFAULT '', buyer_email TEXT NOT NULL DEFAULT '',
  amount TEXT NOT NULL, currency TEXT NOT NULL DEFAULT '',
  placed_at INTEGER NOT NULL, closes_at INTEGER NOT NULL,
  status TEXT NOT NULL, status_at INTEGER NOT NULL, campaign TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(shop, order_id)) WITHOUT ROWID;
CREATE INDEX orders_buyer ON orders(shop, buyer_id, status, status_at);

CREATE TABLE schedule(
  id INTEGER PRIMARY KEY,
  shop TEXT NOT NULL, order_id TEXT NOT NULL, buyer_id TEXT NOT NULL,
  campaign TEXT NOT NULL, step TEXT NOT NULL, step_index INTEGER NOT NULL,
  due_at INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT, send_id INTEGER,
  updated_at INTEGER NOT NULL,
  UNIQUE(shop, order_id, step));
CREATE INDEX schedule_due ON schedule(due_at) WHERE state = 'scheduled';
CREATE INDEX schedule_buyer ON schedule(shop, buyer_id, state, due_at);
CREATE INDEX schedule_send ON schedule(send_id) WHERE send_id IS NOT NULL;

CREATE TABLE sends(
  id INTEGER PRIMARY KEY,
  shop TEXT NOT NULL, buyer_id TEXT NOT NULL, step TEXT NOT NULL,
  channel TEXT NOT NULL, template TEXT NOT NULL, lang TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1, next_attempt_at INTEGER,
  subject TEXT NOT NULL, body TEXT NOT NULL, error TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX sends_state ON sends(state, next_attempt_at);

CREATE TABLE ledger(
  id INTEGER PRIMARY KEY,
  shop TEXT NOT NULL, buyer_id TEXT NOT NULL, send_id INTEGER NOT NULL,
  at INTEGER NOT NULL, released INTEGER NOT NULL DEFAULT 0);
CREATE INDEX ledger_window ON ledger(shop, buyer_id, at) WHERE released = 0;
CREATE INDEX ledger_send ON ledger(send_id);

CREATE TABLE audit(
  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, event TEXT NOT NULL,
  shop TEXT, buyer TEXT, line TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_buyer ON audit(shop, buyer);
CREATE INDEX audit_ts ON audit(ts);

CREATE TABLE inbox(id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, line TEXT NOT NULL);

CREATE TABLE source_state(
  source TEXT PRIMARY KEY, cursor TEXT,
  last_poll_at INTEGER, last_ok_at INTEGER, last_error TEXT);
)sql",
    // 2: buyers who asked not to be reminded, resolved platform buyer ids, and small
    //    daemon facts (meta), such as how far the audit file mirror got.
    R"sql(
CREATE TABLE optout(
  shop TEXT NOT NULL, buyer_id TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY(shop, buyer_id)) WITHOUT ROWID;
CREATE TABLE buyer_ids(
  shop TEXT NOT NULL, login_id TEXT NOT NULL, platform_id TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY(shop, login_id)) WITHOUT ROWID;
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql",
    // 3: which of a step's channels to try first: after a permanent failure on one
    //    channel, the step goes on with the next.
    R"sql(
ALTER TABLE schedule ADD COLUMN next_channel INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: today's counts by event (nudgectl status, STATUS=) read the index alone,
    //    without a table lookup per audit line (checked with EXPLAIN QUERY PLAN).
    R"sql(
DROP INDEX audit_ts;
CREATE INDEX audit_ts ON audit(ts, event);
)sql",
    // 5: counts kept as rows change, so that `nudgectl status` and the metrics answer
    //    at once at any size (counting a million pending steps or a day's audit lines
    //    took a quarter of a second): the steps waiting to be claimed, and the audit
    //    events per UTC day. Triggers keep them, whoever writes (nudged, nudgectl).
    //    And the per-buyer index of steps no longer holds the state: a step that
    //    changes state (scheduled, sending, sent) no longer moves in it, which saved
    //    two writes to a random page of the index per reminder. A buyer has few steps.
    R"sql(
DROP INDEX schedule_buyer;
CREATE INDEX schedule_buyer ON schedule(shop, buyer_id);
CREATE TABLE counters(name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counters SELECT 'scheduled', COUNT(*) FROM schedule WHERE state = 'scheduled';
CREATE TRIGGER schedule_count_insert AFTER INSERT ON schedule WHEN NEW.state = 'scheduled' BEGIN
  UPDATE counters SET n = n + 1 WHERE name = 'scheduled';
END;
CREATE TRIGGER schedule_count_delete AFTER DELETE ON schedule WHEN OLD.state = 'scheduled' BEGIN
  UPDATE counters SET n = n - 1 WHERE name = 'scheduled';
END;
CREATE TRIGGER schedule_count_update AFTER UPDATE OF state ON schedule
  WHEN (OLD.state = 'scheduled') != (NEW.state = 'scheduled') BEGIN
  UPDATE counters SET n = n + (NEW.state = 'scheduled') - (OLD.state = 'scheduled') WHERE name = 'scheduled';
END;
CREATE TABLE audit_daily(
  day INTEGER NOT NULL, event TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(day, event)) WITHOUT ROWID;
INSERT INTO audit_daily SELECT ts / 86400000, event, COUNT(*) FROM audit GROUP BY 1, 2;
CREATE TRIGGER audit_daily_count AFTER INSERT ON audit BEGIN
  INSERT INTO audit_daily VALUES(NEW.ts / 86400000, NEW.event, 1)
    ON CONFLICT(day, event) DO UPDATE SET n = n + 1;
END;
)sql",
    // 6: nudgectl report reads the orders placed in a window (checked with EXPLAIN
    //    QUERY PLAN), so that a report over a year of orders stays fast.
    R"sql(
CREATE INDEX orders_placed ON orders(placed_at, shop, order_id);
)sql",
    // 7: manual reminders (`nudgectl remind`): a schedule row with step 'manual' keeps
    //    the channel and template asked for and the Unix user who asked; and the
    //    ledger by buyer alone, for caps counted across a seller's shops (limits.scope).
    R"sql(
ALTER TABLE schedule ADD COLUMN manual_channel TEXT;
ALTER TABLE schedule ADD COLUMN manual_template TEXT;
ALTER TABLE schedule ADD COLUMN actor TEXT;
CREATE INDEX ledger_buyer ON ledger(buyer_id, at) WHERE released = 0;
)sql",
    // 8: buyers' replies (each (shop, channel, message_id) taken once; the latest one
    //    of a buyer decides how long their reminders wait) and the flags that replies
    //    asking to pay or talk off the platform raise until the seller clears them.
    R"sql(
CREATE TABLE replies(
  shop TEXT NOT NULL, channel TEXT NOT NULL, message_id TEXT NOT NULL,
  buyer_id TEXT NOT NULL, at INTEGER NOT NULL, class TEXT NOT NULL, category TEXT,
  received_at INTEGER NOT NULL,
  PRIMARY KEY(shop, channel, message_id)) WITHOUT ROWID;
CREATE INDEX replies_buyer ON replies(shop, buyer_id, at);
CREATE INDEX replies_at ON replies(at);
CREATE TABLE flags(
  id INTEGER PRIMARY KEY, shop TEXT NOT NULL, buyer_id TEXT NOT NULL,
  category TEXT NOT NULL, matched TEXT NOT NULL, text TEXT NOT NULL,
  channel TEXT NOT NULL, message_id TEXT NOT NULL, at INTEGER NOT NULL,
  cleared_at INTEGER, cleared_by TEXT);
CREATE INDEX flags_open ON flags(shop, buyer_id) WHERE cleared_at IS NULL;
)sql",
    // 9: limits.scope: seller asks for a buyer's opt-outs and recent payments in every
    //    shop: by buyer alone, read from an index instead of the whole table (only paid
    //    orders enter the partial one).
    R"sql(
CREATE INDEX optout_buyer ON optout(buyer_id);
CREATE INDEX orders_paid_buyer ON orders(buyer_id, status_at) WHERE status = 'paid';
)sql",
    // 10: fewer indexes to write per reminder (issue 9). The audit by time served only
    //    the count of opt-outs in a report (now a small partial index) and two figures
    //    that audit_daily and the newest line answer; the ledger kept two indexes by
    //    buyer (one per limits.scope) and neither served `nudgectl buyer`, which asks
    //    for released rows too: one index by buyer now serves all three (a buyer's
    //    ledger is short, so reading the shop and released of each row costs little).
    R"sql(
DROP INDEX audit_ts;
CREATE INDEX audit_optout ON audit(ts) WHERE event = 'opted_out';
DROP INDEX ledger_window;
DROP INDEX ledger_buyer;
CREATE INDEX ledger_buyer ON ledger(buyer_id, at);
)sql",
    // 11: retention prunes the chat ids (buyer_ids) of buyers who have no order left,
    //    oldest first: without it the table grew by every buyer ever reminded through
    //    AliExpress, and the chat poller walks all of it.
    R"sql(
CREATE INDEX buyer_ids_at ON buyer_ids(at);
)sql",
    // 12: a send's idempotency key is no longer UNIQUE: the key hashes the send's own
    //    id (the primary key), so the index only repeated that, and it was a write at a
    //    random place per reminder (issue 9). Nothing looks a send up by its key. SQLite
    //    drops a column constraint only by copying the table.
    R"sql(
CREATE TABLE sends_new(
  id INTEGER PRIMARY KEY,
  shop TEXT NOT NULL, buyer_id TEXT NOT NULL, step TEXT NOT NULL,
  channel TEXT NOT NULL, template TEXT NOT NULL, lang TEXT NOT NULL,
  idempotency_key TEXT NOT NULL, state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1, next_attempt_at INTEGER,
  subject TEXT NOT NULL, body TEXT NOT NULL, error TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
INSERT INTO sends_new(id, shop, buyer_id, step, channel, template, lang, idempotency_key, state, attempt,
                      next_attempt_at, subject, body, error, created_at, updated_at)
  SELECT id, shop, buyer_id, step, channel, template, lang, idempotency_key, state, attempt,
         next_attempt_at, subject, body, error, created_at, updated_at FROM sends;
DROP TABLE sends;
ALTER TABLE sends_new RENAME TO sends;
CREATE INDEX sends_state ON sends(state, next_attempt_at);
)sql",
    // 13: the audit events per day (audit_daily) are counted by Store::insert_audit_row,
    //    the only writer of audit rows, once per event and day at each commit, instead
    //    of by a trigger that ran an upsert per audit line: four per reminder, a
    //    twentieth of the daemon's time (issue 9). Schema 12 binaries refuse this store.
    R"sql(
DROP TRIGGER audit_daily_count;
)sql",
    // 14: an inbox id is never given twice (AUTOINCREMENT). Before, once retention had
    //    pruned every line nudged had taken, the next line written (`nudgectl orders
    //    import`, or any SQLite client) got id 1, at or below the inbox cursor: it was
    //    never read, and then pruned as if taken. Ids go on past the highest ever held
    //    or taken.
    R"sql(
CREATE TABLE inbox_new(id INTEGER PRIMARY KEY AUTOINCREMENT, received_at INTEGER NOT NULL, line TEXT NOT NULL);
INSERT INTO inbox_new(id, received_at, line) SELECT id, received_at, line FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_new RENAME TO inbox;
DELETE FROM sqlite_sequence WHERE name = 'inbox';
INSERT INTO sqlite_sequence(name, seq) VALUES('inbox', MAX(
  COALESCE((SELECT MAX(id) FROM inbox), 0),
  COALESCE((SELECT CAST(cursor AS INTEGER) FROM source_state WHERE source = 'inbox'), 0)));
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == Store::kSchemaVersion);

}  // namespace

namespace {

// Called before the first connection opens (it passes the path through):
// SQLite's memory statistics take a global mutex on every allocation, and nothing
// here reads them (sqlite3Malloc and that mutex were a tenth of the daemon's
// profile). Too late once SQLite is initialized (another library opened a database
// first): then it stays as it is.
const std::string& configured_sqlite(const std::string& path) {
  static const int once = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)once;
  return path;
}

}  // namespace

Store::Store(const std::string& path, int flags) : path_(path), db_(configured_sqlite(path), flags, 10000) {}

std::unique_ptr<Store> Store::open(const std::string& path, std::string& error, Mode mode, int target_version,
                                   Failure* failure) {
  std::unique_ptr<Store> s;
  if (failure) *failure = Failure::kOther;
  auto damaged = [&](const std::string& why) {
    error = path + ": " + why + ". nudged will not touch it: restore the last good backup (docs/operations.md), " +
            "or move it away to start afresh";
    if (failure) *failure = Failure::kDamaged;
    return nullptr;
  };
  try {
    bool ro = mode == Mode::kReadOnly;
    if (ro && path != ":memory:" && !std::filesystem::exists(path)) {
      error = path + ": no such database (has nudged run with this policy yet?)";
      return nullptr;
    }
    if (!ro && path != ":memory:") {
      auto dir = std::filesystem::path(path).parent_path();
      if (!dir.empty()) std::filesystem::create_directories(dir);
    }
    // NOMUTEX: a Store is used by one thread only (see store.h), so SQLite's own
    // locking per call is pure cost.
    s.reset(new Store(path, (ro ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) |
                                SQLite::OPEN_NOMUTEX));
    int version = s->schema_version();
    if (version > kSchemaVersion) {  // refused before anything in it is touched
      error = path + ": the database has schema version " + std::to_string(version) + ", newer than this nudge (" +
              std::to_string(kSchemaVersion) + "); refusing to use it. Upgrade nudge, or restore a matching backup.";
      return nullptr;
    }
    if (ro) {
      if (version < kSchemaVersion) {
        error = path + ": the database has schema version " + std::to_string(version) +
                "; start nudged once to upgrade it";
        return nullptr;
      }
      return s;
    }
    if (path != ":memory:") {
      // Switching to WAL needs the file to itself: another process creating the same
      // store at this moment (nudged and `nudgectl orders import` started together)
      // makes it busy for a moment, and this busy is not waited for by SQLite itself.
      for (int tries = 0;; ++tries) {
        try {
          s->db_.exec("PRAGMA journal_mode=WAL");
          break;
        } catch (const SQLite::Exception& e) {
          if ((e.getErrorCode() & 0xff) != SQLITE_BUSY || tries >= 500) throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    }
    s->db_.exec("PRAGMA synchronous=FULL");
    // 16 MiB of page cache (SQLite's default is 2 MiB): the hot pages of a big store
    // (indexes of the schedule, the ledger, the audit tail) stay in memory instead of
    // being read again after every commit.
    s->db_.exec("PRAGMA cache_size=-16384");
    if (path == ":memory:" && version == 0) {
      // An in-memory store (nudgectl simulate) lives in SQLite's page cache, and the
      // end of every transaction walks that cache: pages of 16 KiB make the walk a
      // quarter as long (a sixth of simulate's time with 4 KiB pages, measured). A
      // store on disk keeps the default: its WAL frames are whole pages.
      s->db_.exec("PRAGMA page_size=16384");
    }
    if (version < target_version) {
      // The version is read again under the write lock: of two processes creating or
      // upgrading the same store at once, the second waits here and then finds the
      // first one's work done. Every step and its version bump commit together.
      WriteTx tx(*s);
      version = s->schema_version();
      if (version == 0 && path != ":memory:") {
        // A new store is empty. Tables without our version are another program's database.
        auto n = s->db_.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").getInt();
        if (n > 0) return damaged("an SQLite database of another program (it has tables but no nudge schema version)");
      }
      for (int v = version; v < target_version; ++v) {
        s->db_.exec(kMigrations[v]);
        s->db_.exec("PRAGMA user_version=" + std::to_string(v + 1));
      }
      tx.commit();
      version = target_version;
    }
    // From schema 13 the store counts audit rows per day; before, a trigger did (tests
    // write into older stores).
    s->count_daily_ = version >= kDailyCountedFrom;
    return s;
  } catch (const SQLite::Exception& e) {
    int code = e.getErrorCode() & 0xff;
    if (code == SQLITE_NOTADB) return damaged("not an SQLite database (" + std::string(e.what()) + ")");
    if (code == SQLITE_CORRUPT) return damaged("the database is corrupt (" + std::string(e.what()) + ")");
    error = path + ": " + e.what();
    return nullptr;
  } catch (const std::exception& e) {
    error = path + ": " + e.what();
    return nullptr;
  }
}

int Store::schema_version() { return db_.execAndGet("PRAGMA user_version").getInt(); }

std::string Store::meta(const char* key, const std::string& fallback) {
  auto& q = stmt("SELECT value FROM meta WHERE key=?");
  q.bind(1, key);
  std::string v = q.executeStep() ? q.getColumn(0).getString() : fallback;
  q.reset();
  return v;
}

void Store::set_meta(const char* key, const std::string& value) {
  auto& s = stmt("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
  s.bind(1, key);
  s.bind(2, value);
  s.exec();
}

SQLite::Statement& Store::stmt(const char* sql) {
  auto it = by_address_.find(sql);
  if (it == by_address_.end()) {
    SQLite::Statement& st = stmt(std::string(sql));
    by_address_.emplace(sql, &st);
    return st;
  }
  // tryReset: a statement whose last step failed reports that error again on reset;
  // it was thrown then, and must not be thrown a second time at its next use (a
  // transaction after a busy BEGIN, an insert after a refused one).
  it->second->tryReset();
  it->second->clearBindings();
  return *it->second;
}

SQLite::Statement& Store::stmt(const std::string& sql) {
  auto& slot = stmts_[sql];
  if (!slot) {
    slot = std::make_unique<SQLite::Statement>(db_, sql);
  } else {
    slot->tryReset();  // as above
    slot->clearBindings();
  }
  return *slot;
}

void Store::note_audit_line(std::int64_t seq, std::string line) {
  // A line written outside a WriteTx waits here until the next one clears it: only
  // WriteTx::commit passes lines on.
  if (keep_lines_) tx_lines_.push_back({seq, std::move(line)});
}

void Store::add_held_audit(AuditRow row) {
  if (sqlite3_get_autocommit(db_.getHandle())) {  // outside a transaction: committed now
    last_committed_held_ = AuditRow{.seq = row.seq, .hash = row.hash};
    held_.push_back(std::move(row));
  } else {
    tx_held_.push_back(std::move(row));
  }
}

const Store::AuditRow* Store::last_held_audit() const {
  if (!tx_held_.empty()) return &tx_held_.back();
  return last_committed_held_ ? &*last_committed_held_ : nullptr;
}

void Store::insert_audit_row(const AuditRow& row) {
  auto& ins = stmt("INSERT INTO audit(seq, ts, event, shop, buyer, line, hash) VALUES(?,?,?,?,?,?,?)");
  ins.bind(1, static_cast<int64_t>(row.seq));
  ins.bind(2, static_cast<int64_t>(row.ts));
  ins.bind(3, row.event);
  if (row.shop.empty()) ins.bind(4); else ins.bind(4, row.shop);
  if (row.buyer.empty()) ins.bind(5); else ins.bind(5, row.buyer);
  ins.bind(6, row.line);
  ins.bind(7, row.hash);
  ins.exec();
  // The day's count goes in with the row: at once outside a transaction, at the
  // commit inside one (WriteTx::commit), one write per event and day.
  if (!count_daily_) return;
  const std::int64_t day = row.ts / kDay;
  if (sqlite3_get_autocommit(db_.getHandle()))
    add_daily(day, row.event, 1);
  else
    ++tx_daily_[{day, row.event}];
}

void Store::add_daily(std::int64_t day, const std::string& event, std::int64_t n) {
  auto& up = stmt("INSERT INTO audit_daily(day, event, n) VALUES(?,?,?) ON CONFLICT(day, event) DO UPDATE SET n = n + excluded.n");
  up.bind(1, static_cast<int64_t>(day));
  up.bind(2, event);
  up.bind(3, static_cast<int64_t>(n));
  up.exec();
}

WriteTx::WriteTx(Store& s) : store_(s) {
  // Prepared once (Store::stmt), not parsed again by sqlite3_exec on every
  // transaction: a twentieth of `nudgectl simulate`, 40,000 transactions.
  store_.stmt("BEGIN IMMEDIATE").exec();
  store_.next_tx_serial();  // a new transaction: what an earlier one cached is stale
  store_.tx_lines_.clear();
  store_.tx_daily_.clear();
}

WriteTx::~WriteTx() {
  store_.next_tx_serial();
  store_.tx_lines_.clear();  // committed (moved on) or rolled back: none of them stays
  store_.tx_held_.clear();
  store_.tx_daily_.clear();
  if (!done_) {
    try {
      store_.stmt("ROLLBACK").exec();
    } catch (...) {
    }
  }
}

void WriteTx::commit() {
  // The audit rows' daily counts, in the transaction (a failed write rolls back all).
  for (const auto& [key, n] : store_.tx_daily_) store_.add_daily(key.first, key.second, n);
  store_.tx_daily_.clear();
  store_.stmt("COMMIT").exec();
  done_ = true;
  auto& kept = store_.committed_lines_;
  if (kept.size() + store_.tx_lines_.size() > Store::kMaxCommittedLines) kept.clear();
  for (auto& l : store_.tx_lines_) kept.push_back(std::move(l));
  store_.tx_lines_.clear();
  if (!store_.tx_held_.empty()) {
    store_.last_committed_held_ = Store::AuditRow{.seq = store_.tx_held_.back().seq, .hash = store_.tx_held_.back().hash};
    for (auto& r : store_.tx_held_) store_.held_.push_back(std::move(r));
    store_.tx_held_.clear();
  }
}

}  // namespace nudge
