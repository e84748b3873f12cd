// Fuzz target: the policy parser (core/policy.h parse_policy) on arbitrary YAML text.
// Whatever the bytes, it returns errors or a policy; it never crashes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto r = nudge::parse_policy(text, "/nonexistent/nudge-fuzz/policy.yaml");
  if (r.ok() == !r.errors.empty()) __builtin_trap();  // a policy xor errors
  return 0;
}
