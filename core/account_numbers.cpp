#include "core/account_numbers.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <openssl/sha.h>

namespace nudge {

bool iban_ok(const std::string& iban) {
  if (iban.size() < 15 || iban.size() > 34) return false;
  std::string r = iban.substr(4) + iban.substr(0, 4);
  int mod = 0;
  for (char c : r) {
    if (c >= '0' && c <= '9') {
      mod = (mod * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      int v = c - 'A' + 10;
      mod = (mod * 100 + v) % 97;
    } else {
      return false;
    }
  }
  return mod == 1;
}

int iban_length(const std::string& cc) {
  static const std::unordered_map<std::string, int> kLen = {
      {"AD", 24}, {"AE", 23}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29},
      {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20},
      {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18},
      {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
      {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
      {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28},
      {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SE", 24}, {"SI", 19},
      {"SK", 24}, {"SM", 27}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VG", 24}, {"XK", 20}};
  auto it = kLen.find(cc);
  return it == kLen.end() ? 0 : it->second;
}

bool luhn_ok(const std::string& digits) {
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

// Issuer prefixes of the card schemes buyers meet: Visa, Mastercard, Amex, Mir,
// UnionPay, Discover, JCB, Diners, Maestro, Elo, Hipercard.
bool card_prefix_ok(const std::string& d) {
  if (d.size() < 4 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  auto p = [&](int n) { return std::atoi(d.substr(0, n).c_str()); };
  if (d[0] == '4') return true;
  int p2 = p(2), p4 = p(4);
  return (p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720) || p2 == 34 || p2 == 37 || (p4 >= 2200 && p4 <= 2204) ||
         p2 == 62 || p2 == 60 || p2 == 65 || p2 == 64 || p2 == 35 || p2 == 36 || p2 == 30 || p2 == 38 || p2 == 50 ||
         (p2 >= 56 && p2 <= 69);
}

bool clabe_ok(const std::string& d) {
  if (d.size() != 18 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  static const int w[3] = {3, 7, 1};
  int sum = 0;
  for (int k = 0; k < 17; ++k) sum += ((d[k] - '0') * w[k % 3]) % 10;
  return (10 - sum % 10) % 10 == d[17] - '0';
}

bool cpf_ok(const std::string& d) {
  if (d.size() != 11 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  if (d.size() != 11 || std::all_of(d.begin(), d.end(), [&](char c) { return c == d[0]; })) return false;
  for (int n = 9; n <= 10; ++n) {
    int sum = 0;
    for (int k = 0; k < n; ++k) sum += (d[k] - '0') * (n + 1 - k);
    int check = (sum * 10) % 11 % 10;
    if (check != d[n] - '0') return false;
  }
  return true;
}

bool cnpj_ok(const std::string& d) {
  if (d.size() != 14 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  static const int w1[12] = {5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2};
  static const int w2[13] = {6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2};
  int s = 0;
  for (int k = 0; k < 12; ++k) s += (d[k] - '0') * w1[k];
  int c1 = s % 11 < 2 ? 0 : 11 - s % 11;
  s = 0;
  for (int k = 0; k < 13; ++k) s += (d[k] - '0') * w2[k];
  int c2 = s % 11 < 2 ? 0 : 11 - s % 11;
  return c1 == d[12] - '0' && c2 == d[13] - '0';
}

// Base58Check (Bitcoin P2PKH/P2SH, Tron, Litecoin, Dogecoin addresses).
bool base58check_ok(const std::string& s) {
  static const char* kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::vector<unsigned char> bytes;
  for (char c : s) {
    const char* p = std::strchr(kAlphabet, c);
    if (!p || c == 0) return false;
    int carry = static_cast<int>(p - kAlphabet);
    for (auto& b : bytes) {
      carry += 58 * b;
      b = static_cast<unsigned char>(carry & 0xFF);
      carry >>= 8;
    }
    while (carry) {
      bytes.push_back(static_cast<unsigned char>(carry & 0xFF));
      carry >>= 8;
    }
  }
  for (char c : s) {
    if (c != '1') break;
    bytes.push_back(0);
  }
  std::reverse(bytes.begin(), bytes.end());
  if (bytes.size() < 5) return false;
  unsigned char h1[SHA256_DIGEST_LENGTH], h2[SHA256_DIGEST_LENGTH];
  SHA256(bytes.data(), bytes.size() - 4, h1);
  SHA256(h1, sizeof h1, h2);
  return std::memcmp(h2, bytes.data() + bytes.size() - 4, 4) == 0;
}

// Bech32 / Bech32m (BIP 173, BIP 350): bc1..., ltc1..., tb1...
bool bech32_ok(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t pos = s.rfind('1');
  if (pos == std::string::npos || pos == 0 || pos + 7 > s.size() || s.size() > 90) return false;
  static const char* kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  auto polymod = [](const std::vector<int>& v) {
    static const uint32_t g[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (int x : v) {
      uint32_t top = chk >> 25;
      chk = ((chk & 0x1ffffff) << 5) ^ static_cast<uint32_t>(x);
      for (int k = 0; k < 5; ++k)
        if ((top >> k) & 1) chk ^= g[k];
    }
    return chk;
  };
  std::vector<int> v;
  for (size_t k = 0; k < pos; ++k) v.push_back(s[k] >> 5);
  v.push_back(0);
  for (size_t k = 0; k < pos; ++k) v.push_back(s[k] & 31);
  for (size_t k = pos + 1; k < s.size(); ++k) {
    const char* p = std::strchr(kCharset, s[k]);
    if (!p || s[k] == 0) return false;
    v.push_back(static_cast<int>(p - kCharset));
  }
  uint32_t pm = polymod(v);
  return pm == 1 || pm == 0x2bc830a3;
}

// Keccak-256 (Ethereum's, not NIST SHA3), for EIP-55 mixed-case checksums.
std::array<uint8_t, 32> keccak256(std::string_view in) {
  static const uint64_t kRc[24] = {
      0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
      0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
      0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
      0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
      0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
      0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
  static const int kRot[25] = {0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14};
  auto rotl = [](uint64_t x, int n) { return n == 0 ? x : (x << n) | (x >> (64 - n)); };
  uint64_t st[25] = {0};
  auto permute = [&] {
    for (int round = 0; round < 24; ++round) {
      uint64_t c[5], d[5], b[25];
      for (int x = 0; x < 5; ++x) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
      for (int x = 0; x < 5; ++x) d[x] = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (int k = 0; k < 25; ++k) st[k] ^= d[k % 5];
      for (int x = 0; x < 5; ++x)
        for (int y = 0; y < 5; ++y) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(st[x + 5 * y], kRot[x + 5 * y]);
      for (int x = 0; x < 5; ++x)
        for (int y = 0; y < 5; ++y) st[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
      st[0] ^= kRc[round];
    }
  };
  const size_t rate = 136;
  std::string msg(in);
  msg += '\x01';
  while (msg.size() % rate) msg += '\0';
  msg.back() = static_cast<char>(msg.back() | 0x80);
  for (size_t off = 0; off < msg.size(); off += rate) {
    for (size_t k = 0; k < rate / 8; ++k) {
      uint64_t lane = 0;
      for (int byte = 0; byte < 8; ++byte)
        lane |= static_cast<uint64_t>(static_cast<unsigned char>(msg[off + 8 * k + byte])) << (8 * byte);
      st[k] ^= lane;
    }
    permute();
  }
  std::array<uint8_t, 32> out{};
  for (int k = 0; k < 32; ++k) out[k] = static_cast<uint8_t>(st[k / 8] >> (8 * (k % 8)));
  return out;
}

bool eth_ok(const std::string& s) {
  if (s.size() != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
  std::string hex = s.substr(2);
  bool lower = false, upper = false;
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    lower = lower || (c >= 'a' && c <= 'f');
    upper = upper || (c >= 'A' && c <= 'F');
  }
  if (!(lower && upper)) return true;  // no checksum to check
  std::string lc = hex;
  for (auto& c : lc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto h = keccak256(lc);
  for (size_t k = 0; k < 40; ++k) {
    if (!std::isalpha(static_cast<unsigned char>(hex[k]))) continue;
    int nibble = (k % 2 == 0) ? (h[k / 2] >> 4) : (h[k / 2] & 0x0F);
    bool should_upper = nibble >= 8;
    if (should_upper != (hex[k] >= 'A' && hex[k] <= 'F')) return false;
  }
  return true;
}

}  // namespace nudge
