// Account numbers: the format and checksum checks that tell an IBAN, a card number,
// a CLABE, a CPF/CNPJ or a crypto-currency address from any other run of digits and
// letters. Pure functions of their argument; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace nudge {

// Uppercase letters and digits, no spaces: "GB29NWBK60161331926819". ISO 13616 mod 97.
bool iban_ok(const std::string& iban);
// The IBAN length of a country ("DE": 22), 0 when unknown.
int iban_length(const std::string& country);
// Digits only.
bool luhn_ok(const std::string& digits);
// Issuer prefixes of the card schemes buyers meet (Visa, Mastercard, Amex, Mir,
// UnionPay, Discover, JCB, Diners, Maestro, Elo).
bool card_prefix_ok(const std::string& digits);
bool clabe_ok(const std::string& digits);  // 18 digits, Mexico's interbank account
bool cpf_ok(const std::string& digits);    // 11 digits, Brazil's personal tax id
bool cnpj_ok(const std::string& digits);   // 14 digits, Brazil's company tax id
// Base58Check (Bitcoin P2PKH/P2SH, Tron, Litecoin, Dogecoin addresses).
bool base58check_ok(const std::string& address);
// Bech32 / Bech32m (BIP 173, BIP 350): bc1..., ltc1..., tb1...
bool bech32_ok(std::string address);
// "0x" + 40 hex digits; a mixed-case one must carry a valid EIP-55 checksum.
bool eth_ok(const std::string& address);
// Keccak-256 as Ethereum uses it (not NIST SHA3-256).
std::array<uint8_t, 32> keccak256(std::string_view in);

}  // namespace nudge
