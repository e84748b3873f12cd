#include "core/zones.h"

#include <fstream>
#include <map>
#include <sstream>

#include <date/tz.h>

#include "core/time_util.h"

namespace nudge {
namespace {

const date::time_zone* find_zone(const std::string& name) {
  if (name.empty()) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::map<std::string, std::string> load_country_zones() {
  std::map<std::string, std::string> out;
  for (const char* file : {"/usr/share/zoneinfo/zone1970.tab", "/usr/share/zoneinfo/zone.tab"}) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string codes, coords, zone;
      if (!std::getline(fields, codes, '\t') || !std::getline(fields, coords, '\t') || !std::getline(fields, zone, '\t'))
        continue;
      std::istringstream cs(codes);
      std::string code;
      while (std::getline(cs, code, ',')) out.emplace(code, zone);  // first one wins
    }
  }
  return out;
}

}  // namespace

std::string country_zone(const std::string& country) {
  static const std::map<std::string, std::string> kTable = load_country_zones();
  auto it = kTable.find(country);
  return it == kTable.end() ? "" : it->second;
}

const date::time_zone* buyer_zone(const Policy& policy, const std::string& buyer_tz, const std::string& country) {
  if (auto* z = find_zone(buyer_tz)) return z;
  if (auto it = policy.zones.find(country); it != policy.zones.end())
    if (auto* z = find_zone(it->second)) return z;
  if (auto* z = find_zone(country_zone(country))) return z;
  if (auto it = policy.zones.find("default"); it != policy.zones.end())
    if (auto* z = find_zone(it->second)) return z;
  return date::locate_zone("UTC");
}

std::optional<Millis> quiet_until(const QuietHours& q, const date::time_zone* zone, Millis t) {
  using namespace std::chrono;
  date::sys_time<milliseconds> st{milliseconds{t}};
  auto local = zone->to_local(st);
  auto day = date::floor<date::days>(local);
  int minute = static_cast<int>(duration_cast<minutes>(local - day).count());
  bool wraps = q.from_min > q.to_min;  // e.g. 21:00 -> 09:00
  bool quiet = wraps ? (minute >= q.from_min || minute < q.to_min) : (minute >= q.from_min && minute < q.to_min);
  if (!quiet) return std::nullopt;
  auto end_day = (wraps && minute >= q.from_min) ? day + date::days{1} : day;
  auto end_local = end_day + minutes{q.to_min};
  // choose::earliest: when the end falls in a DST gap, end at the transition itself.
  auto end = zone->to_sys(date::local_time<milliseconds>(end_local), date::choose::earliest);
  return end.time_since_epoch().count();
}

std::string format_local(Millis t, const date::time_zone* zone) {
  using namespace std::chrono;
  const date::sys_time<milliseconds> tp{milliseconds{t}};
  // The zone's offset at t, then the digits as format_instant writes them: date::format
  // through a stream was a fifth of rendering a reminder. Outside years 1970..9999
  // (never met), date::format itself.
  const Millis local = t + duration_cast<milliseconds>(zone->get_info(date::floor<seconds>(tp)).offset).count();
  constexpr Millis kYear10000 = 253402300800000;
  if (local >= 0 && local < kYear10000) {
    std::string out = format_instant(local).substr(0, 16);  // "YYYY-MM-DDTHH:MM"
    out[10] = ' ';
    return out;
  }
  return date::format("%Y-%m-%d %H:%M", date::zoned_time<milliseconds>{zone, tp});
}

}  // namespace nudge
