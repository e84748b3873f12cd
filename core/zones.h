// Buyer time zones and quiet hours. Zones come from the system tzdata through
// Howard Hinnant's date/tz, so DST is the tz database's business, not ours.
// Thread-safe: the country table is built once.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/policy.h"

namespace date {
class time_zone;
}

namespace nudge {

// DESIGN.md's order: buyer_tz if valid; zones.<COUNTRY>; the country's first zone in
// tzdata's zone1970.tab (or zone.tab); zones.default; UTC.
const date::time_zone* buyer_zone(const Policy& policy, const std::string& buyer_tz, const std::string& country);

// The first tzdata zone for a two-letter country code, or empty.
std::string country_zone(const std::string& country);

// When `t` falls inside the quiet hours in `zone`, the instant they end; else nullopt.
std::optional<Millis> quiet_until(const QuietHours& q, const date::time_zone* zone, Millis t);

// "2026-11-20 11:00" in the zone.
std::string format_local(Millis t, const date::time_zone* zone);

}  // namespace nudge
