// Fuzz target: the generic HTTP source's answer body (daemon/http_source.h parse_http_page).
#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/http_source.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto page = nudge::parse_http_page(body, error);
  if (!page && error.empty()) __builtin_trap();  // a refusal always says why
  return 0;
}
