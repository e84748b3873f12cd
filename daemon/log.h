// Operational log: one line per event on stderr, for journald (with <N> priority
// prefixes when stderr is the journal). Built on Boost.Log; safe from any thread.
#pragma once

#include <string>

namespace nudge {

enum class Level { kDebug, kInfo, kWarning, kError };

void init_logging(bool verbose);
void log(Level level, const std::string& message);
inline void log_debug(const std::string& m) { log(Level::kDebug, m); }
inline void log_info(const std::string& m) { log(Level::kInfo, m); }
inline void log_warn(const std::string& m) { log(Level::kWarning, m); }
inline void log_error(const std::string& m) { log(Level::kError, m); }

}  // namespace nudge
