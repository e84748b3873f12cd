// Fuzz target: the audit log verifier (core/audit.h verify_audit) on arbitrary lines.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/audit.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  auto c = nudge::verify_audit(in);
  if (!c.ok && c.problem.empty()) __builtin_trap();  // a failed check always says why
  return 0;
}
