// Fuzz target: the content lint (core/content_lint.h) on arbitrary bytes: lint() in
// a language picked by the first byte, tone() and unsafe(). Findings must lie inside
// the text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/content_lint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nudge::ContentLint lint(nudge::LintConfig{.allow = {"WhatsApp", "+34 600 000 000"},
                                                         .regions = {"ES", "US"}});
  if (size == 0) return 0;
  static const char* const kLangs[] = {"", "en", "es", "pt-BR", "fr", "ru", "zh", "de"};
  std::string_view lang = kLangs[data[0] % 8];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  for (const auto& f : lint.lint(text, lang))
    if (f.offset > text.size() || f.length > text.size() - f.offset) __builtin_trap();
  for (const auto& f : lint.tone(text))
    if (f.offset > text.size() || f.length > text.size() - f.offset) __builtin_trap();
  (void)lint.unsafe(text, lang);
  return 0;
}
