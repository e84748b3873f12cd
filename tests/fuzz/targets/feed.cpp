// Fuzz target: one JSON Lines feed record (core/feed.h parse_feed_line) and its time.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/feed.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  auto r = nudge::parse_feed_line(line);
  (void)nudge::record_time(r);
  return 0;
}
