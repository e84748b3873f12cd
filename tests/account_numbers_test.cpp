#include <doctest/doctest.h>

#include "core/account_numbers.h"

using namespace nudge;

TEST_CASE("account numbers pass their checksums and one changed digit fails them") {
  struct Case {
    const char* good;
    const char* bad;
    bool (*check)(const std::string&);
  };
  const Case cases[] = {
      {"GB29NWBK60161331926819", "GB29NWBK60161331926818", iban_ok},
      {"ES9121000418450200051332", "ES9121000418450200051333", iban_ok},
      {"4111824628194822", "4111824628194823", luhn_ok},
      {"002180000118359710", "002180000118359711", clabe_ok},
      {"52998224725", "52998224726", cpf_ok},
      {"11222333000181", "11222333000182", cnpj_ok},
      {"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", base58check_ok},
      {"TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL", "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeM", base58check_ok},
      {"0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886e0F7030069857D2E4169EE7", eth_ok},
  };
  for (const auto& c : cases) {
    CAPTURE(c.good);
    CHECK(c.check(c.good));
    CHECK_FALSE(c.check(c.bad));
  }
  CHECK(bech32_ok("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
  CHECK_FALSE(bech32_ok("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx"));
  CHECK(eth_ok("0xde709f2102306220921060314715629080e2fb77"));  // one case: no checksum to check
}

TEST_CASE("short, empty or non-digit input is simply not an account number") {
  for (const char* s : {"", "1", "abc", "0x", "x4111"}) {
    CAPTURE(s);
    CHECK_FALSE(luhn_ok(std::string(s) + "x"));
    CHECK_FALSE(card_prefix_ok(s));
    CHECK_FALSE(clabe_ok(s));
    CHECK_FALSE(cpf_ok(s));
    CHECK_FALSE(cnpj_ok(s));
    CHECK_FALSE(eth_ok(s));
    CHECK_FALSE(iban_ok(s));
    CHECK_FALSE(base58check_ok(s));
    CHECK_FALSE(bech32_ok(s));
  }
  CHECK(iban_length("DE") == 22);
  CHECK(iban_length("ZZ") == 0);
}
