// Fuzz target: the AliExpress IOP answer readers (core/aliexpress.h). The first byte
// picks the reader; the rest is the gateway's answer body, parsed as JSON the way
// daemon/aliexpress_client.cpp does (a parse failure is an error there, not a reader call).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/aliexpress.h"

namespace ae = nudge::aliexpress;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t which = data[0] % 8;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (which == 7) {  // the throttling text reader and the session file reader take text
    (void)ae::ban_of(body);
    (void)ae::is_transient_error_code(body);
    (void)ae::is_credentials_error(body);
    (void)ae::read_session_text(body, 1'760'000'000'000);
    return 0;
  }
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  const nudge::Millis now = 1'760'000'000'000;
  switch (which) {
    case 0: (void)ae::read_order_list(j, "shop1", 1, now); break;
    case 1: (void)ae::read_find_order(j, "8000012345678"); break;
    case 2: (void)ae::read_session_open(j); break;
    case 3: (void)ae::read_message_send(j); break;
    case 4: {
      auto t = ae::read_token_refresh(j, now);
      if (t.tokens) (void)ae::token_json(*t.tokens);
      break;
    }
    default:
      if (auto e = ae::gateway_error(j)) {
        (void)ae::ban_of(*e);
        (void)ae::is_transient_error_code(*e);
        (void)ae::is_credentials_error(*e);
      }
      break;
  }
  return 0;
}
