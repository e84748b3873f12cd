// Content lint: finds what steers a buyer off the platform (contact routes, payment
// routes, account numbers, off-platform wording, foreign links) and pushy wording in
// any UTF-8 text, after undoing the usual evasions. Used on templates at load, on
// every rendered message before it is claimed, and meant for buyers' replies too.
// A ContentLint is immutable once built: lint() and tone() may be called from any
// thread (each thread keeps its own cache of normalised characters).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nudge {

enum class Category { kContact, kPaymentRoute, kAccountNumber, kOffPlatform, kLink, kTone };

// "contact", "payment_route", "account_number", "off_platform", "link", "tone": the
// names used in errors and in the skip reason unsafe_content:<category>.
const char* to_string(Category c);

struct Finding {
  Category category;
  std::string matched;      // the original text that matched, as written
  std::size_t offset = 0;   // bytes into the linted text
  std::size_t length = 0;   // bytes
  std::string detail;       // what it is: "a phone number", "an IBAN", "shouting", ...
  bool allowable = true;    // false for phone numbers, e-mail addresses, account numbers, links
  std::string allowed_by;   // the safety.allow phrase that lets it through; empty if none
};

struct LintConfig {
  std::vector<std::string> allowed_link_hosts = default_link_hosts();
  std::vector<std::string> forbidden_phrases;  // extra off_platform phrases
  std::vector<std::string> allow;              // phrases the seller legitimately needs
  std::vector<std::string> regions;            // ISO countries whose phone formats to look for

  static std::vector<std::string> default_link_hosts();  // the marketplace's own hosts
};

class ContentLint {
 public:
  explicit ContentLint(LintConfig config);
  ~ContentLint();
  ContentLint(const ContentLint&) = delete;
  ContentLint& operator=(const ContentLint&) = delete;

  // Everything in `text` that steers off the platform, in text order. Findings that a
  // safety.allow phrase covers are returned too, with allowed_by set. `lang` ("pt",
  // "pt-BR", or empty) adds its countries' phone formats to the config's regions.
  // Wording is matched in all six languages whatever `lang` says.
  std::vector<Finding> lint(std::string_view text, std::string_view lang = "") const;

  // Pushy wording: shouting, runs of '!', threats and ultimatums (category kTone).
  std::vector<Finding> tone(std::string_view text) const;

  // True when some finding of lint() is not allowed; `first` gets it.
  bool unsafe(std::string_view text, std::string_view lang, Finding* first = nullptr) const;

  const LintConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nudge
