#include "core/safety.h"

#include <algorithm>
#include <regex>

namespace nudge {

const std::vector<std::string>& builtin_forbidden_phrases() {
  static const std::vector<std::string> kPhrases = {
      // English
      "paypal", "bank transfer", "wire transfer", "western union", "moneygram", "wechat pay", "alipay transfer",
      "crypto", "cryptocurrency", "bitcoin", "usdt", "tether", "pay outside", "outside aliexpress", "outside the platform",
      "pay me directly", "direct payment", "iban", "swift code", "zelle", "venmo", "cash app", "gift card",
      // Spanish
      "transferencia bancaria", "pago fuera", "pagar fuera", "fuera de la plataforma", "giro postal", "criptomoneda",
      // Portuguese
      "transferência bancária", "transferencia bancaria", "pix", "pagar fora", "pagamento fora", "fora da plataforma",
      "criptomoeda",
      // Russian
      "банковский перевод", "перевод на карту", "на карту", "оплата вне", "оплатить вне", "вне платформы",
      "криптовалют", "вестерн юнион", "western юнион",
      // French
      "virement bancaire", "virement", "payer en dehors", "paiement en dehors", "hors de la plateforme",
      "cryptomonnaie",
      // Chinese
      "银行转账", "电汇", "微信支付", "微信转账", "支付宝转账", "加密货币", "比特币", "平台外", "站外付款", "西联汇款",
  };
  return kPhrases;
}

namespace {

// Lowercases ASCII and the Cyrillic capitals (two-byte UTF-8), enough to match
// the phrase list case-insensitively.
std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c < 0x80) {
      out += static_cast<char>(std::tolower(c));
    } else if ((c == 0xD0) && i + 1 < s.size()) {
      unsigned char d = s[i + 1];
      if (d >= 0x90 && d <= 0x9F) {  // А..П -> а..п
        out += '\xD0';
        out += static_cast<char>(d + 0x20);
      } else if (d >= 0xA0 && d <= 0xAF) {  // Р..Я -> р..я
        out += '\xD1';
        out += static_cast<char>(d - 0x20);
      } else {
        out += static_cast<char>(c);
        out += static_cast<char>(d);
      }
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool host_allowed(std::string host, const std::vector<std::string>& allowed) {
  std::transform(host.begin(), host.end(), host.begin(), ::tolower);
  for (auto a : allowed) {
    std::transform(a.begin(), a.end(), a.begin(), ::tolower);
    if (host == a || (host.size() > a.size() && host.compare(host.size() - a.size(), a.size(), a) == 0 &&
                      host[host.size() - a.size() - 1] == '.'))
      return true;
  }
  return false;
}

// Whole-word match for short ASCII phrases ("pix", "usdt"), substring otherwise.
bool contains_phrase(const std::string& folded, const std::string& phrase) {
  size_t pos = 0;
  while ((pos = folded.find(phrase, pos)) != std::string::npos) {
    bool ascii = static_cast<unsigned char>(phrase[0]) < 0x80;
    auto word = [&](size_t i) { return i < folded.size() && std::isalnum(static_cast<unsigned char>(folded[i])); };
    bool left_ok = !ascii || pos == 0 || !word(pos - 1);
    bool right_ok = !ascii || !word(pos + phrase.size());
    if (left_ok && right_ok) return true;
    ++pos;
  }
  return false;
}

}  // namespace

void lint_policy(const Policy& policy, const std::string& file, std::vector<PolicyError>& errors) {
  static const std::regex kLink(R"((https?://|www\.)([A-Za-z0-9.-]+))", std::regex::icase);
  static const std::regex kBareHost(R"(\b([A-Za-z0-9-]+\.)+(me|com|net|org|io|co|ru|cn|info|biz|link|ly|gl)\b)",
                                    std::regex::icase);
  std::vector<std::string> phrases = builtin_forbidden_phrases();
  for (const auto& p : policy.safety.forbidden_phrases) phrases.push_back(fold(p));
  for (const auto& [name, tmpl] : policy.templates) {
    for (const auto& [lang, text] : tmpl.by_lang) {
      for (auto [field, pos] : {std::pair{&text.subject, text.subject_pos}, std::pair{&text.body, text.body_pos}}) {
        auto where = "template '" + name + "' (" + lang + ")";
        auto report = [&](const std::string& msg) { errors.push_back({file, pos.line, pos.col, where + " " + msg}); };
        std::vector<std::string> linked;
        for (std::sregex_iterator it(field->begin(), field->end(), kLink), end; it != end; ++it) {
          std::string host = (*it)[2];
          linked.push_back((*it)[2]);
          while (!host.empty() && host.back() == '.') host.pop_back();
          if ((*it)[1].str().rfind("www", 0) == 0 || (*it)[1].str().rfind("WWW", 0) == 0) host = "www." + host;
          if (!host_allowed(host, policy.safety.allowed_link_hosts))
            report("links to '" + host + "', which is not in safety.allowed_link_hosts; buyers must pay only on the platform");
        }
        for (std::sregex_iterator it(field->begin(), field->end(), kBareHost), end; it != end; ++it) {
          std::string host = (*it)[0];
          bool in_link = std::find(linked.begin(), linked.end(), host) != linked.end();
          if (!in_link && !host_allowed(host, policy.safety.allowed_link_hosts))
            report("names the site '" + host + "', which is not in safety.allowed_link_hosts");
        }
        std::string folded = fold(*field);
        for (const auto& phrase : phrases) {
          if (contains_phrase(folded, phrase))
            report("mentions '" + phrase + "', which looks like an off-platform payment request; buyers must pay only on the platform");
        }
      }
    }
  }
}

std::string clean_buyer_text(std::string_view text, size_t max_chars) {
  // Decode UTF-8, replacing controls by spaces and dropping invalid bytes.
  std::string plain;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > text.size()) {
      ++i;
      continue;
    }
    bool valid = true;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 2) valid = false;
    if (!valid) {
      ++i;
      continue;
    }
    if (len == 1 && (c < 0x20 || c == 0x7F)) {
      plain += ' ';
    } else if (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      plain += ' ';  // C1 controls
    } else if (len == 3 && c == 0xE2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(text[i + 2]) == 0xA8 || static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
      plain += ' ';  // U+2028, U+2029 line and paragraph separators
    } else {
      plain.append(text.substr(i, len));
    }
    i += len;
  }
  static const std::regex kLinkish(R"((\w+://\S*)|(www\.\S*)|(\S+\.(com|net|org|me|io|ru|cn|ly|link)\S*))",
                                   std::regex::icase);
  plain = std::regex_replace(plain, kLinkish, "");
  // Collapse whitespace and trim.
  std::string out;
  bool space = false;
  for (char ch : plain) {
    if (ch == ' ' || ch == '\t') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += ch;
    }
  }
  // Cut to max_chars characters, never inside a UTF-8 sequence.
  size_t chars = 0, i = 0;
  for (; i < out.size(); ++i) {
    if ((static_cast<unsigned char>(out[i]) >> 6) != 2) {
      if (chars == max_chars) break;
      ++chars;
    }
  }
  out.resize(i);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace nudge
