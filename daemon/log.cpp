#include "daemon/log.h"

#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>
#include <iostream>

#include <boost/core/null_deleter.hpp>
#include <boost/log/attributes/constant.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/channel_logger.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_channel_logger.hpp>

namespace nudge {
namespace {

namespace bl = boost::log;
BOOST_LOG_ATTRIBUTE_KEYWORD(severity_kw, "Severity", Level)
BOOST_LOG_ATTRIBUTE_KEYWORD(channel_kw, "Channel", std::string)

using OpsLogger = bl::sources::severity_channel_logger_mt<Level, std::string>;

OpsLogger& ops_logger() {
  static OpsLogger lg(bl::keywords::channel = "ops");
  return lg;
}

Level g_min_level = Level::kInfo;
bool g_initialised = false;

// journald reads "<N>" priority prefixes on the streams it collects. systemd sets
// $JOURNAL_STREAM to "DEVICE:INODE" of that stream (systemd.exec(5)); a stderr
// redirected elsewhere (a file, a terminal) does not match and gets plain lines.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  unsigned long long dev = 0, ino = 0;
  char end = 0;
  if (std::sscanf(stream, "%llu:%llu%c", &dev, &ino, &end) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

void init_logging(bool verbose) {
  if (g_initialised) return;
  g_initialised = true;
  g_min_level = verbose ? Level::kDebug : Level::kInfo;
  bool journal = stderr_is_journal();
  auto backend = boost::make_shared<bl::sinks::text_ostream_backend>();
  backend->add_stream(boost::shared_ptr<std::ostream>(&std::clog, boost::null_deleter()));
  backend->auto_flush(true);
  auto sink = boost::make_shared<bl::sinks::synchronous_sink<bl::sinks::text_ostream_backend>>(backend);
  sink->set_filter(channel_kw == "ops");
  sink->set_formatter([journal](const bl::record_view& rec, bl::formatting_ostream& out) {
    auto level = rec[severity_kw].get();
    static const char* kNames[] = {"debug", "info", "warning", "error"};
    static const char* kPrio[] = {"<7>", "<6>", "<4>", "<3>"};
    int i = static_cast<int>(level);
    if (!journal) {
      out << kNames[i] << ": " << rec[bl::expressions::smessage];
      return;
    }
    // journald splits at newlines: each line of a multi-line message (a rejected
    // policy's errors) carries the priority, so `journalctl -p err` shows them all.
    out << kPrio[i] << kNames[i] << ": ";
    for (char c : rec[bl::expressions::smessage].get()) {
      out << c;
      if (c == '\n') out << kPrio[i];
    }
  });
  bl::core::get()->add_sink(sink);
}

void log(Level level, const std::string& message) {
  if (level < g_min_level) return;
  if (!g_initialised) {
    std::clog << message << std::endl;
    return;
  }
  BOOST_LOG_SEV(ops_logger(), level) << message;
}

}  // namespace nudge
