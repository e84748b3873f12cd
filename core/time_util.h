// Durations ("30s", "15m", "2h", "7d", "1h30m") and ISO 8601 instants, both as
// integer milliseconds. Pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace nudge {

// "1h30m" -> 5400000. Units d, h, m, s, ms, largest first, each at most once.
// Returns nullopt for anything else (empty, negative, unknown unit, overflow).
std::optional<Millis> parse_duration(std::string_view text);

// 5400000 -> "1h30m"; 0 -> "0s".
std::string format_duration(Millis d);

// "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.5Z", "2026-11-20T12:00:00+02:00".
std::optional<Millis> parse_instant(std::string_view text);

// Always "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_instant(Millis t);

// "HH:MM" -> minutes since midnight.
std::optional<int> parse_clock_time(std::string_view text);

}  // namespace nudge
