// AuditMirror: appends the store's audit rows to the JSONL file that operators
// `tail -F`, through a Boost.Log sink. The table is the truth; the file is caught
// up from it by seq at start and after every commit, so a crash between the two
// loses no line. reopen() follows logrotate's `create` (SIGUSR1).
// Use only from the io_context thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/store.h"

namespace nudge {

class AuditMirror {
 public:
  explicit AuditMirror(std::string path);
  ~AuditMirror();

  // Opens the file (creating its folder), finds the last seq it holds, repairs a
  // torn last line. Returns false with `error` set when the file cannot be used.
  bool open(Store& store, std::string& error);

  // Appends every audit row newer than the last one written. Returns lines written.
  // A failed write (disk full) stops there; the next call cuts the file back to its
  // last whole line and goes on from the row after it.
  int catch_up(Store& store);

  // Closes and reopens the file at the same path (after logrotate moved it away).
  bool reopen(Store& store, std::string& error);

  // Called with each line as catch_up writes it (metrics count events this way).
  // Lines already in the file when the observer is set are not replayed.
  using Observer = std::function<void(std::string_view line)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  std::int64_t last_seq() const { return last_seq_; }
  const std::string& path() const { return path_; }

 private:
  struct Sink;
  bool restart_stream();
  std::string path_;
  std::int64_t last_seq_ = 0;
  // The file's size and last seq after the last write known to have gone through:
  // where a failed write is cut back to.
  std::uintmax_t good_size_ = 0;
  std::int64_t good_seq_ = 0;
  bool failing_ = false;
  std::unique_ptr<Sink> sink_;
  Observer observer_;
};

// The seq of the last complete line of an audit file (0 if none). Truncates a torn
// final line (a crash mid-write) when `repair` is set.
std::int64_t last_audit_seq_in_file(const std::string& path, bool repair);

}  // namespace nudge
