// Store faults (issue 5): the real nudged while its database cannot be written (a
// full disk, a file size limit) or is locked by another process. What must hold:
// nothing goes out that cannot be recorded, the process stays up and says so in its
// log, and once the fault clears what was due goes out. A lock is waited for, not
// treated as a fault.
#include <doctest/doctest.h>

#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "crash_checks.h"
#include "daemon_fixture.h"

using namespace std::chrono_literals;
using test::Daemon;
using test::now_ms;

namespace {

// Orders are scheduled at once and due 3 s after they are placed: time to put a fault
// in place between the two.
// `store_dir` holds the database, `files_dir` the audit file and the outbox.
std::string fault_policy(const std::string& store_dir = "", const std::string& files_dir = "") {
  return "version: 1\nstore: " + store_dir + "nudge.db\naudit_log: " + files_dir + "audit.jsonl\n" + R"(source: {type: inbox, every: 1s}
payment: {deadline: 3s, closes_after: 10m, stop_before_close: 1s}
campaigns:
  - name: default
    match: {}
    steps:
      - {name: first, after: 0s, channel: outbox, template: gentle}
limits: {per_order: 1, per_buyer: [{max: 2, within: 5s}], merge: true}
channels:
  outbox: {type: outbox, dir: )" + files_dir + R"(outbox, retries: {max: 10, backoff: 1s}}
templates:
  gentle:
    en: {subject: "Order {{first_order_id}} awaits payment", body: "Hi {{buyer_name}}."}
)";
}

std::vector<std::string> orders_for(int n, const std::string& prefix) {
  std::vector<std::string> lines;
  auto t = now_ms();
  for (int i = 0; i < n; ++i)
    lines.push_back(test::order_line(prefix + std::to_string(i), prefix + "buyer" + std::to_string(i), t));
  return lines;
}

int count_events(Daemon& d, const std::string& event, const std::string& data_dir) {
  int n = 0;
  for (const auto& l : test::audit_table(data_dir + "/nudge.db")) n += nlohmann::json::parse(l)["event"] == event;
  return n;
}

// Starts nudged with its stderr through a pipe (as under journald), so that a file
// size limit on the daemon does not also silence its log.
void start_piped(Daemon& d) {
  size_t from = test::read_file(d.log_path).size();
  d.proc = std::make_unique<test::Process>(
      std::vector<std::string>{"/bin/bash", "-c", "exec \"$0\" --config \"$1\" 2> >(exec cat >> \"$2\")", NUDGED_PATH,
                               d.policy_path, d.log_path},
      d.log_path);
  REQUIRE(test::eventually(
      [&] { return d.log().find(" started: ", from) != std::string::npos || !d.proc->running(); }, 10s));
  REQUIRE(d.proc->running());
}

// Every outbox message has its claim in the store: nothing went out unrecorded.
void check_outbox_recorded(Daemon& d, const std::string& data_dir) {
  std::set<std::int64_t> claimed;
  for (const auto& l : test::audit_table(data_dir + "/nudge.db")) {
    auto j = nlohmann::json::parse(l);
    if (j["event"] == "sending") claimed.insert(j["send_id"].get<std::int64_t>());
  }
  std::error_code ec;
  for (auto it = test::fs::directory_iterator(data_dir + "/outbox", ec); !ec && it != test::fs::directory_iterator();
       ++it) {
    if (it->path().extension() != ".json" || it->path().filename().string()[0] == '.') continue;
    auto m = nlohmann::json::parse(test::read_file(it->path().string()));
    INFO("outbox message " << it->path().filename() << " has no `sending` line in the store");
    CHECK(claimed.count(m["send_id"].get<std::int64_t>()) == 1);
  }
}

// A small tmpfs at `dir`, unmounted (lazily: the daemon may still hold files) when
// it goes out of scope, after the daemon is stopped.
struct SmallDisk {
  std::string dir;
  Daemon& d;
  bool mounted = false;
  SmallDisk(std::string where, Daemon& daemon) : dir(std::move(where)), d(daemon) {
    test::fs::create_directories(dir);
    mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=4m") == 0;
    if (!mounted) MESSAGE("cannot mount a tmpfs here (" << std::strerror(errno) << "); this full-disk case is not run");
  }
  ~SmallDisk() {
    if (!mounted) return;
    d.proc.reset();  // the daemon first
    ::umount2(dir.c_str(), MNT_DETACH);
  }
  // Fills it up with another file, as a log or a backup would.
  void fill() {
    auto r = test::run({"/bin/dd", "if=/dev/zero", "of=" + dir + "/filler", "bs=64k"});
    CHECK(r.err.find("No space left") != std::string::npos);
  }
  void free() { test::fs::remove(dir + "/filler"); }
};

// Another process holding the database's write lock for `seconds`.
std::unique_ptr<test::Process> hold_write_lock(Daemon& d, int seconds) {
  std::string marker = d.dir / "locked";
  test::fs::remove(marker);
  auto p = std::make_unique<test::Process>(
      std::vector<std::string>{"/usr/bin/python3", "-c",
                               "import sqlite3, sys, time\n"
                               "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
                               "c.execute('BEGIN EXCLUSIVE')\n"
                               "open(sys.argv[2], 'w').write('x')\n"
                               "time.sleep(float(sys.argv[3]))\n"
                               "c.execute('COMMIT')\n",
                               d.dir / "nudge.db", marker, std::to_string(seconds)},
      d.dir / "locker.log");
  REQUIRE(test::eventually([&] { return test::fs::exists(marker); }, 5s));
  return p;
}

}  // namespace

TEST_CASE("while the store cannot be written nothing is sent and sending resumes when it can") {
  // RLIMIT_FSIZE of 1 byte on the running daemon: every write to the database, its WAL,
  // the audit file and the outbox fails (EFBIG), as on a full disk, even for root.
  Daemon d(fault_policy());
  start_piped(d);
  d.import(orders_for(4, "a"));
  REQUIRE(test::eventually([&] { return count_events(d, "scheduled", d.dir.path()) == 4; }, 5s));
  std::string pid = std::to_string(d.proc->pid());
  REQUIRE(test::run({"/usr/bin/prlimit", "--pid", pid, "--fsize=1:unlimited"}).status == 0);
  d.import(orders_for(3, "b"));  // arrive during the fault: their page cannot be recorded

  // The four steps come due during the fault: nudged must not send them.
  REQUIRE(test::eventually([&] { return d.log().find("store fault") != std::string::npos; }, 8s));
  std::this_thread::sleep_for(3s);
  CHECK(d.proc->running());  // SIGXFSZ did not kill it
  CHECK(d.outbox().empty());
  CHECK(count_events(d, "sending", d.dir.path()) == 0);
  CHECK(d.log().find("sending is paused") != std::string::npos);

  // The fault clears: the due steps go out, and the orders that came meanwhile too.
  REQUIRE(test::run({"/usr/bin/prlimit", "--pid", pid, "--fsize=unlimited:unlimited"}).status == 0);
  CHECK(test::eventually([&] { return d.log().find("store is writable again; sending resumes") != std::string::npos; },
                         5s));
  CHECK(test::eventually([&] { return d.outbox().size() == 7; }, 10s));
  CHECK(d.proc->running());
  REQUIRE(d.stop() == 0);
  check_outbox_recorded(d, d.dir.path());
  CHECK(count_events(d, "failed", d.dir.path()) == 0);
  auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2);
  CHECK(f.violations == 0);
  CHECK(f.sent == 7);
}

TEST_CASE("a full disk pauses sending without losing a line and freeing space resumes it") {
  // A real full disk: the daemon's files on a small tmpfs, filled up by another file.
  Daemon d(fault_policy("data/", "data/"));
  std::string data = d.dir / "data";
  SmallDisk disk(data, d);
  if (!disk.mounted) return;
  start_piped(d);
  d.import(orders_for(5, "a"));
  REQUIRE(test::eventually([&] { return count_events(d, "scheduled", data) == 5; }, 5s));
  disk.fill();

  // The steps come due on the full disk: whatever gets out must be recorded.
  std::this_thread::sleep_for(5s);
  CHECK(d.proc->running());
  check_outbox_recorded(d, data);
  size_t during = test::count_files(data + "/outbox");

  disk.free();
  CHECK(test::eventually([&] { return test::unfinished_work(data + "/nudge.db") == 0; }, 15s));
  REQUIRE(d.stop() == 0);
  std::string log = d.log();
  MESSAGE("full disk: " << during << " of 5 reminders went out while it was full; store fault logged: "
                        << (log.find("store fault") != std::string::npos));
  if (log.find("store fault") != std::string::npos)
    CHECK(log.find("store is writable again; sending resumes") != std::string::npos);
  check_outbox_recorded(d, data);
  auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2, true, data);
  CHECK(f.violations == 0);
  CHECK(f.sent == 5);
}

TEST_CASE("a full disk under the audit file and the outbox loses no audit line and no reminder") {
  // The store has room, the audit file and the outbox do not: claims commit, the
  // outbox cannot take the message (a transient failure, retried), the audit file
  // cannot take its lines. Once space is freed the file is cut back to its last whole
  // line and caught up from the table, and the retries go out.
  Daemon d(fault_policy("", "data/"));
  std::string data = d.dir / "data";
  SmallDisk disk(data, d);
  if (!disk.mounted) return;
  // The checks read the audit file and the outbox from the Daemon's folder.
  test::fs::create_symlink(data + "/audit.jsonl", d.dir / "audit.jsonl");
  test::fs::create_symlink(data + "/outbox", d.dir / "outbox");
  start_piped(d);
  d.import(orders_for(5, "a"));
  REQUIRE(test::eventually([&] { return count_events(d, "scheduled", d.dir.path()) == 5; }, 5s));
  disk.fill();
  REQUIRE(test::eventually([&] { return count_events(d, "retry", d.dir.path()) >= 5; }, 8s));
  CHECK(d.log().find("writing the audit log") != std::string::npos);
  CHECK(d.proc->running());
  CHECK(d.outbox().empty());
  CHECK(test::read_lines(d.dir / "audit.jsonl").size() < test::audit_table(d.dir / "nudge.db").size());

  disk.free();
  // Five failures in a row may have paused the outbox channel (30 s, then 60 s while
  // it keeps failing): the retries wait for the pause to end.
  CHECK(test::eventually([&] { return test::unfinished_work(d.dir / "nudge.db") == 0; }, 100s));
  CHECK(d.log().find("is writable again; catching it up from the store") != std::string::npos);
  REQUIRE(d.stop() == 0);
  CHECK(count_events(d, "failed", d.dir.path()) == 0);
  auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2);
  CHECK(f.violations == 0);
  CHECK(f.sent == 5);
  CHECK(d.outbox().size() == 5);
}

TEST_CASE("a database locked by another process is waited for and not failed on") {
  Daemon d(fault_policy());
  d.start();
  d.import(orders_for(3, "a"));
  REQUIRE(test::eventually([&] { return count_events(d, "scheduled", d.dir.path()) == 3; }, 5s));
  // Another process takes the write lock for 5 s (busy_timeout is 10 s); the steps come
  // due while it holds it.
  auto locker = hold_write_lock(d, 5);
  auto locked_at = std::chrono::steady_clock::now();
  REQUIRE(locker->wait(10s) == 0);
  CHECK(std::chrono::steady_clock::now() - locked_at > 4s);
  CHECK(test::eventually([&] { return d.outbox().size() == 3; }, 5s));
  CHECK(d.proc->running());
  REQUIRE(d.stop() == 0);
  CHECK(d.log().find("store fault") == std::string::npos);
  CHECK(count_events(d, "failed", d.dir.path()) == 0);
  auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2);
  CHECK(f.violations == 0);
  CHECK(f.sent == 3);
}

TEST_CASE("a lock held longer than busy_timeout pauses sending which then resumes by itself") {
  Daemon d(fault_policy());
  d.start();
  d.import(orders_for(3, "a"));
  REQUIRE(test::eventually([&] { return count_events(d, "scheduled", d.dir.path()) == 3; }, 5s));
  auto locker = hold_write_lock(d, 13);
  REQUIRE(test::eventually([&] { return d.log().find("store fault") != std::string::npos; }, 13s));
  CHECK(d.log().find("database is locked; sending is paused") != std::string::npos);
  CHECK(d.outbox().empty());
  REQUIRE(locker->wait(15s) == 0);
  CHECK(test::eventually([&] { return d.outbox().size() == 3; }, 12s));
  CHECK(d.log().find("store is writable again; sending resumes") != std::string::npos);
  CHECK(d.proc->running());
  REQUIRE(d.stop() == 0);
  auto f = test::check_after_crashes(d, 5 * nudge::kSecond, 2);
  CHECK(f.violations == 0);
  CHECK(f.sent == 3);
}
