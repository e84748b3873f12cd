// SHA-256 and HMAC-SHA256 over OpenSSL, as lowercase or uppercase hex.
// Pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nudge {

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data, bool upper = false);
std::string hmac_sha256_raw(std::string_view key, std::string_view data);
std::string base64_encode(std::string_view data);
// Standard alphabet, padding optional; nullopt for anything that is not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace nudge
