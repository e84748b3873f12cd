#include "core/time_util.h"

#include <chrono>
#include <limits>
#include <sstream>

#include <date/date.h>

namespace nudge {

std::optional<Millis> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  struct Unit {
    std::string_view name;
    Millis ms;
  };
  // Order matters: "ms" must be tried before "m".
  static constexpr Unit kUnits[] = {{"d", kDay}, {"h", kHour}, {"ms", 1}, {"m", kMinute}, {"s", kSecond}};
  static constexpr int kRank[] = {0, 1, 4, 2, 3};  // required order of appearance
  Millis total = 0;
  int last_rank = -1;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    Millis n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > std::numeric_limits<Millis>::max() / 10 - 10) return std::nullopt;
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    int found = -1;
    for (int u = 0; u < 5; ++u) {
      if (text.substr(i, kUnits[u].name.size()) == kUnits[u].name) {
        found = u;
        break;
      }
    }
    if (found < 0 || kRank[found] <= last_rank) return std::nullopt;
    last_rank = kRank[found];
    i += kUnits[found].name.size();
    if (n > std::numeric_limits<Millis>::max() / kUnits[found].ms) return std::nullopt;
    total += n * kUnits[found].ms;
    if (total < 0) return std::nullopt;
  }
  return total;
}

std::string format_duration(Millis d) {
  if (d == 0) return "0s";
  std::string out;
  if (d < 0) {
    out = "-";
    d = -d;
  }
  const std::pair<Millis, const char*> parts[] = {{kDay, "d"}, {kHour, "h"}, {kMinute, "m"}, {kSecond, "s"}, {1, "ms"}};
  for (auto [unit, name] : parts) {
    if (d >= unit) {
      out += std::to_string(d / unit) + name;
      d %= unit;
    }
  }
  return out;
}

std::optional<Millis> parse_instant(std::string_view text) {
  using namespace std::chrono;
  // Reject obviously wrong shapes early: date::parse is lenient about some.
  if (text.size() < 20 || text.size() > 35 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' '))
    return std::nullopt;
  // date::parse casts a half-read seconds field (NaN) to an integer before it reports
  // the failure (undefined behaviour, found by bench/fuzz): check the digits first.
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  if (text[13] != ':' || text[16] != ':') return std::nullopt;
  // The rest: an optional fraction, then Z or an offset [+-]h[h][:mm]. date::parse
  // negates an offset it did not read when a sign has no digits after it ("...:02-",
  // undefined behaviour, found by bench/fuzz): check the shape first.
  {
    auto digit = [&](size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
    size_t i = 19;
    if (i < text.size() && text[i] == '.') {
      size_t from = ++i;
      while (digit(i)) ++i;
      if (i == from) return std::nullopt;
    }
    if (i < text.size() && text[i] == 'Z') {
      if (i + 1 != text.size()) return std::nullopt;
    } else {
      if (i >= text.size() || (text[i] != '+' && text[i] != '-')) return std::nullopt;
      size_t from = ++i;
      while (digit(i) && i - from < 2) ++i;
      if (i == from) return std::nullopt;
      if (i < text.size() && text[i] == ':') ++i;
      if (i < text.size()) {
        if (!digit(i) || !digit(i + 1) || i + 2 != text.size()) return std::nullopt;
      }
    }
  }
  // The common shape, "YYYY-MM-DDTHH:MM:SS[.mmm]Z" with a real date and time, read
  // without a stream: every feed record and every audit line the metrics read passes
  // here, and date::parse through an istringstream was most of their cost. Any other
  // shape, and anything out of range, goes on to date::parse.
  if (text.back() == 'Z' && (text.size() == 20 || (text.size() == 24 && text[19] == '.'))) {
    auto num = [&](size_t at, size_t n) {
      int v = 0;
      for (size_t k = 0; k < n; ++k) {
        char c = text[at + k];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
      }
      return v;
    };
    const date::year_month_day ymd{date::year{num(0, 4)}, date::month{static_cast<unsigned>(num(5, 2))},
                                   date::day{static_cast<unsigned>(num(8, 2))}};
    const int hh = num(11, 2), mm = num(14, 2), ss = num(17, 2), ms = text.size() == 24 ? num(20, 3) : 0;
    if (ymd.ok() && ymd.year() >= date::year{1970} && hh <= 23 && mm <= 59 && ss <= 59 && ms >= 0)
      return date::sys_days{ymd}.time_since_epoch().count() * 86400000LL + ((hh * 60 + mm) * 60 + ss) * 1000LL + ms;
  }
  std::string s(text);
  s[10] = 'T';
  date::sys_time<milliseconds> tp;
  if (s.back() == 'Z') {
    std::istringstream in(s.substr(0, s.size() - 1));
    in >> date::parse("%FT%T", tp);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
  } else {
    std::istringstream in(s);
    in >> date::parse("%FT%T%Ez", tp);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
  }
  return tp.time_since_epoch().count();
}

std::string format_instant(Millis t) {
  using namespace std::chrono;
  // Years 1970..9999 (every instant nudge meets) by hand: this runs for every audit
  // line. Outside that range, date::format (the same text, slower).
  constexpr Millis kYear10000 = 253402300800000;
  if (t < 0 || t >= kYear10000) {
    date::sys_time<milliseconds> tp{milliseconds{t}};
    return date::format("%FT%TZ", tp);
  }
  Millis days = t / 86400000, ms_of_day = t % 86400000;
  // civil_from_days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
  Millis z = days + 719468;
  Millis era = z / 146097;
  Millis doe = z - era * 146097;
  Millis yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  Millis y = yoe + era * 400;
  Millis doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  Millis mp = (5 * doy + 2) / 153;
  Millis d = doy - (153 * mp + 2) / 5 + 1;
  Millis m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  // "YYYY-MM-DDTHH:MM:SS.mmmZ", digit by digit (snprintf was a quarter of an audit line).
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&](size_t at, Millis v, int width) {
    for (int k = width - 1; k >= 0; --k, v /= 10) out[at + static_cast<size_t>(k)] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  put(5, m, 2);
  put(8, d, 2);
  put(11, ms_of_day / 3600000, 2);
  put(14, ms_of_day / 60000 % 60, 2);
  put(17, ms_of_day / 1000 % 60, 2);
  put(20, ms_of_day % 1000, 3);
  return out;
}

std::optional<int> parse_clock_time(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  auto digit = [&](size_t i) { return text[i] >= '0' && text[i] <= '9' ? text[i] - '0' : -100; };
  int h = digit(0) * 10 + digit(1), m = digit(3) * 10 + digit(4);
  if (h < 0 || h > 23 || m < 0 || m > 59) return std::nullopt;
  return h * 60 + m;
}

}  // namespace nudge
