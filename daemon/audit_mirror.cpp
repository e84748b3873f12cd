#include "daemon/audit_mirror.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/channel_logger.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <nlohmann/json.hpp>

#include "daemon/log.h"

namespace nudge {
namespace {
namespace bl = boost::log;
BOOST_LOG_ATTRIBUTE_KEYWORD(channel_kw, "Channel", std::string)
using Backend = bl::sinks::text_ostream_backend;
using Frontend = bl::sinks::synchronous_sink<Backend>;

constexpr const char* kMetaKey = "audit_mirror_seq";

std::int64_t meta_seq(Store& store) {
  try {
    return std::stoll(store.meta(kMetaKey, "0"));
  } catch (const std::exception&) {
    return 0;
  }
}

void save_meta_seq(Store& store, std::int64_t seq) {
  store.set_meta(kMetaKey, std::to_string(seq));
}

}  // namespace

struct AuditMirror::Sink {
  boost::shared_ptr<Frontend> frontend;
  boost::shared_ptr<std::ofstream> stream;
  bl::sources::channel_logger_mt<std::string> logger{bl::keywords::channel = "audit"};
};

std::int64_t last_audit_seq_in_file(const std::string& path, bool repair) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return 0;
  std::streamoff size = in.tellg();
  if (size <= 0) return 0;
  std::streamoff chunk = std::min<std::streamoff>(size, 1 << 20);
  in.seekg(size - chunk);
  std::string tail(static_cast<size_t>(chunk), '\0');
  in.read(tail.data(), chunk);
  in.close();
  size_t end = tail.size();
  if (tail.back() != '\n') {
    // A torn last line: drop it, the table still has it and catch_up rewrites it.
    size_t nl = tail.rfind('\n');
    std::streamoff keep = nl == std::string::npos ? size - chunk : size - chunk + static_cast<std::streamoff>(nl) + 1;
    if (repair) {
      log_warn("audit file " + path + " ended with a partial line; truncating it (the line is rewritten from the store)");
      std::filesystem::resize_file(path, static_cast<std::uintmax_t>(keep));
    }
    if (nl == std::string::npos) return 0;
    end = nl + 1;
  }
  size_t start = tail.rfind('\n', end - 2);
  start = start == std::string::npos ? 0 : start + 1;
  try {
    auto j = nlohmann::json::parse(tail.substr(start, end - 1 - start));
    return j.at("seq").get<std::int64_t>();
  } catch (const std::exception&) {
    return 0;
  }
}

AuditMirror::AuditMirror(std::string path) : path_(std::move(path)) {}

AuditMirror::~AuditMirror() {
  if (sink_) bl::core::get()->remove_sink(sink_->frontend);
}

bool AuditMirror::open(Store& store, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto dir = fs::path(path_).parent_path();
  if (!dir.empty()) fs::create_directories(dir, ec);
  bool has_lines = fs::exists(path_) && fs::file_size(path_, ec) > 0;
  std::int64_t file_seq = has_lines ? last_audit_seq_in_file(path_, true) : 0;
  std::int64_t table_max = store.db().execAndGet("SELECT COALESCE(MAX(seq), 0) FROM audit").getInt64();
  if (!has_lines || file_seq == 0) {
    // A fresh or just-rotated file: continue after what the last file held.
    file_seq = std::min(meta_seq(store), table_max);
  }
  if (file_seq > table_max) {
    std::string aside = path_ + ".orphaned";
    log_warn("audit file " + path_ + " is ahead of the store (seq " + std::to_string(file_seq) + " > " +
             std::to_string(table_max) + "): it belongs to another database; moving it to " + aside);
    fs::rename(path_, aside, ec);
    file_seq = 0;
  }
  last_seq_ = file_seq;
  sink_ = std::make_unique<Sink>();
  sink_->stream = boost::make_shared<std::ofstream>(path_, std::ios::app | std::ios::binary);
  if (!*sink_->stream) {
    error = "cannot open the audit log " + path_ + " for appending: " + std::strerror(errno);
    sink_.reset();
    return false;
  }
  auto backend = boost::make_shared<Backend>();
  backend->add_stream(sink_->stream);
  backend->auto_flush(false);  // catch_up flushes once per batch of lines
  sink_->frontend = boost::make_shared<Frontend>(backend);
  sink_->frontend->set_filter(channel_kw == "audit");
  sink_->frontend->set_formatter(bl::expressions::stream << bl::expressions::smessage);
  bl::core::get()->add_sink(sink_->frontend);
  good_size_ = fs::file_size(path_, ec);
  if (ec) good_size_ = 0;
  good_seq_ = last_seq_;
  catch_up(store);
  return true;
}

int AuditMirror::catch_up(Store& store) {
  if (!sink_) return 0;
  if (failing_ && !restart_stream()) return 0;
  int n = 0;
  bool failed = false;
  // The lines of one commit go out as one log record (lines joined by newlines; the
  // backend ends the record with the last one) and one write at the flush: a record
  // per line cost more than the rest of the mirror. A long catch-up (after a restart)
  // goes out in records of about a MiB. The observer sees the lines once they are in
  // the file.
  std::vector<std::string> written;
  std::string chunk;
  std::int64_t chunk_seq = last_seq_;
  auto put = [&] {
    if (chunk.empty()) return;
    BOOST_LOG(sink_->logger) << chunk;
    chunk.clear();
    // A write that failed (disk full, EFBIG) shows on the stream, here or at the flush.
    if (!sink_->stream->good()) {
      failed = true;
      return;
    }
    last_seq_ = chunk_seq;
  };
  auto add = [&](std::int64_t seq, std::string_view line) {
    if (!chunk.empty()) chunk += '\n';
    chunk.append(line);
    chunk_seq = seq;
    if (observer_) written.emplace_back(line);
    ++n;
    if (chunk.size() >= (1u << 20)) put();
  };
  // The lines the daemon's own transactions committed since the last call, from
  // memory (Store::take_committed_lines); whatever else is new (another process's
  // lines, or more than the store kept) from the table.
  for (const auto& fresh : store.take_committed_lines()) {
    if (failed || fresh.seq <= chunk_seq) continue;
    if (fresh.seq != chunk_seq + 1) break;  // a gap: the table has the rest
    add(fresh.seq, fresh.line);
  }
  auto& q = store.stmt("SELECT seq, line FROM audit WHERE seq > ? ORDER BY seq");
  q.bind(1, static_cast<int64_t>(chunk_seq));
  while (!failed && q.executeStep())
    add(q.getColumn(0).getInt64(),
        std::string_view(q.getColumn(1).getText(), static_cast<size_t>(q.getColumn(1).getBytes())));
  q.reset();
  if (!failed) put();
  if (!failed && n > 0) {
    sink_->frontend->flush();
    failed = !sink_->stream->good();
  }
  if (!failed && observer_)
    for (const auto& line : written) observer_(line);
  if (failed) {
    if (!failing_)
      log_error("writing the audit log " + path_ + " failed (" + std::strerror(errno) +
                "); its lines stay in the store and are written when the file can grow again");
    failing_ = true;
    return n;
  }
  if (n > 0) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path_, ec);
    if (!ec) {
      good_size_ = size;
      good_seq_ = last_seq_;
    }
  }
  return n;
}

// After a failed write the ofstream stays failed, and may hold part of a line. Close
// it (closing may write what it still held), cut the file back to the last write that
// went through, and append from there with a fresh stream. Returns false while the
// file cannot be opened.
bool AuditMirror::restart_stream() {
  {
    auto backend = sink_->frontend->locked_backend();
    backend->remove_stream(sink_->stream);
  }
  sink_->stream.reset();
  std::error_code ec;
  auto size = std::filesystem::file_size(path_, ec);
  if (!ec && size > good_size_) std::filesystem::resize_file(path_, good_size_, ec);
  last_seq_ = good_seq_;
  sink_->stream = boost::make_shared<std::ofstream>(path_, std::ios::app | std::ios::binary);
  sink_->frontend->locked_backend()->add_stream(sink_->stream);
  if (!*sink_->stream) return false;
  failing_ = false;
  log_info("the audit log " + path_ + " is writable again; catching it up from the store");
  return true;
}

bool AuditMirror::reopen(Store& store, std::string& error) {
  if (!sink_) return open(store, error);
  catch_up(store);
  // Remember where this file ended, so that a restart before the new file has a line
  // continues from here instead of copying the whole history into it.
  try {
    WriteTx tx(store);
    save_meta_seq(store, last_seq_);
    tx.commit();
  } catch (const std::exception& e) {
    log_warn(std::string("could not record the audit mirror position: ") + e.what());
  }
  auto stream = boost::make_shared<std::ofstream>(path_, std::ios::app | std::ios::binary);
  if (!*stream) {
    error = "cannot reopen the audit log " + path_ + ": " + std::strerror(errno);
    return false;
  }
  {
    auto backend = sink_->frontend->locked_backend();
    backend->remove_stream(sink_->stream);
    backend->add_stream(stream);
  }
  sink_->stream = stream;
  // A new file (after logrotate): a failed write is cut back to its current end.
  std::error_code ec;
  good_size_ = std::filesystem::file_size(path_, ec);
  if (ec) good_size_ = 0;
  good_seq_ = last_seq_;
  failing_ = false;
  return true;
}

}  // namespace nudge
