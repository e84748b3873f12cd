#include "core/safety.h"

#include <algorithm>
#include <mutex>
#include <regex>
#include <utility>

namespace nudge {

namespace {

// Where byte `offset` of a scalar's value is in the file: walks the raw text from the
// scalar's mark beside the value, undoing quotes, escapes, folding and block
// indentation. Falls back to the scalar's own position when the two cannot be lined up.
std::pair<int, int> locate(const std::string& source, const TextPos& at, const std::string& value, size_t offset) {
  std::pair<int, int> fallback{at.line, at.col};
  if (at.pos >= source.size() || at.line == 0) return fallback;
  size_t p = at.pos;
  // Columns count characters, not bytes (yaml-cpp's marks count bytes).
  int line = at.line, col = 1;
  for (size_t k = source.rfind('\n', p == 0 ? 0 : p - 1) == std::string::npos ? 0 : source.rfind('\n', p - 1) + 1;
       k < p; ++k)
    if ((static_cast<unsigned char>(source[k]) >> 6) != 2) ++col;
  auto advance = [&] {
    if (source[p] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(source[p]) >> 6) != 2) {
      ++col;
    }
    ++p;
  };
  char style = source[p];
  bool dq = style == '"', sq = style == '\'';
  if (dq || sq) {
    advance();
  } else if (style == '|' || style == '>') {
    while (p < source.size() && source[p] != '\n') advance();
    if (p < source.size()) advance();
  }
  for (size_t v = 0; v < offset && v < value.size();) {
    if (p >= source.size()) return fallback;
    char want = value[v];
    char got = source[p];
    if (dq && got == '\\' && p + 1 < source.size()) {
      char esc = source[p + 1];
      char decoded = esc == 'n' ? '\n' : esc == 't' ? '\t' : esc;
      if (decoded == want) {
        advance();
        advance();
        ++v;
        continue;
      }
      if (esc == '\n') {  // an escaped line break: nothing in the value
        advance();
        advance();
        continue;
      }
      return fallback;
    }
    if (sq && got == '\'' && p + 1 < source.size() && source[p + 1] == '\'' && want == '\'') {
      advance();
      advance();
      ++v;
      continue;
    }
    if (got == want) {
      advance();
      ++v;
      continue;
    }
    if (got == ' ' || got == '\t' || got == '\n' || got == '\r') {
      // Folding and indentation: a line break may stand for a space in the value.
      bool ws_want = want == ' ' || want == '\n';
      advance();
      if (ws_want && (got == '\n')) {
        ++v;
        while (p < source.size() && (source[p] == ' ' || source[p] == '\t')) advance();
      }
      continue;
    }
    return fallback;
  }
  // Skip indentation in front of the finding itself.
  while (p < source.size() && (source[p] == ' ' || source[p] == '\t' || source[p] == '\n') && offset < value.size() &&
         source[p] != value[offset])
    advance();
  return {line, col};
}

// Mustache tags ({{buyer_name}}, {{#orders}}) are blanked out, byte for byte, so that
// offsets stay those of the template and the tags' names are not read as words.
std::string blank_tags(const std::string& text) {
  std::string out = text;
  size_t pos = 0;
  while ((pos = out.find("{{", pos)) != std::string::npos) {
    size_t end = out.find("}}", pos + 2);
    if (end == std::string::npos) break;
    end += 2;
    if (end < out.size() && out[end] == '}') ++end;  // {{{triple}}}
    for (size_t k = pos; k < end; ++k) out[k] = ' ';
    pos = end;
  }
  return out;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return out + "'";
}

}  // namespace

std::shared_ptr<const ContentLint> make_content_lint(const Policy& policy) {
  LintConfig config;
  config.allowed_link_hosts = policy.safety.allowed_link_hosts;
  config.forbidden_phrases = policy.safety.forbidden_phrases;
  config.allow = policy.safety.allow;
  std::vector<std::string> regions;
  for (const auto& c : policy.campaigns)
    for (const auto& country : c.match.countries) regions.push_back(country);
  for (const auto& [country, zone] : policy.zones)
    if (country != "default") regions.push_back(country);
  for (const auto& [country, lang] : policy.languages)
    if (country != "default") regions.push_back(country);
  std::sort(regions.begin(), regions.end());
  regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
  config.regions = std::move(regions);
  // A policy is parsed at every start, reload and `nudgectl check`, nearly always with
  // the safety settings of the last parse; building a lint compiles every built-in
  // pattern, so the last one built is reused while those settings stay the same.
  static std::mutex mutex;
  static std::shared_ptr<const ContentLint> last;
  std::lock_guard lock(mutex);
  if (last) {
    const auto& c = last->config();
    if (c.allowed_link_hosts == config.allowed_link_hosts && c.forbidden_phrases == config.forbidden_phrases &&
        c.allow == config.allow && c.regions == config.regions)
      return last;
  }
  last = std::make_shared<const ContentLint>(std::move(config));
  return last;
}

void lint_policy(const Policy& policy, const std::string& file, const std::string& source,
                 std::vector<PolicyError>& errors, std::vector<PolicyError>& warnings) {
  auto lint = policy.content_lint ? policy.content_lint : make_content_lint(policy);
  for (const auto& [name, tmpl] : policy.templates) {
    for (const auto& [lang, text] : tmpl.by_lang) {
      for (auto field_pos : {std::pair{&text.subject, text.subject_pos}, std::pair{&text.body, text.body_pos}}) {
        // Not a structured binding: clang 14 (bench/fuzz) cannot capture one in the lambda below.
        const std::string* field = field_pos.first;
        const TextPos pos = field_pos.second;
        if (field->empty()) continue;
        std::string where = "template '" + name + "' (" + lang + ")";
        std::string blank = blank_tags(*field);
        auto report = [&](const Finding& f, Severity severity, const std::string& tail) {
          auto [line, col] = locate(source, pos, *field, f.offset);
          std::string msg = where + ": " + to_string(f.category) + " " + quoted(f.matched) + ": " + f.detail + tail;
          PolicyError e{file, line, col, msg, severity};
          (severity == Severity::kError ? errors : warnings).push_back(std::move(e));
        };
        // {{order_url}} renders a link to the marketplace's order page; were its host
        // not allowed, every message would be skipped at send time. Say so now.
        if (field->find("order_url") != std::string::npos &&
            !lint->lint("https://www.aliexpress.com/p/order/detail.html", "").empty())
          errors.push_back({file, pos.line, pos.col,
                            where + " uses {{order_url}}, a link to www.aliexpress.com, which is not in "
                                    "safety.allowed_link_hosts; every message would be skipped"});
        for (const auto& f : lint->lint(blank, lang)) {
          if (!f.allowed_by.empty())
            report(f, Severity::kNote, "; allowed by safety.allow " + quoted(f.allowed_by));
          else
            report(f, Severity::kError, f.category == Category::kLink ? "" : "; buyers must be reached and paid only on the platform");
        }
        for (const auto& f : lint->tone(blank)) {
          if (!f.allowed_by.empty())
            report(f, Severity::kNote, "; allowed by safety.allow " + quoted(f.allowed_by));
          else
            report(f, policy.safety.tone_error ? Severity::kError : Severity::kWarning,
                   policy.safety.tone_error ? " (safety.tone: error)" : "");
        }
      }
    }
  }
}

std::optional<Finding> unsafe_content(const Policy& policy, const Rendered& message) {
  auto lint = policy.content_lint ? policy.content_lint : make_content_lint(policy);
  Finding f;
  if (lint->unsafe(message.subject, message.lang, &f)) return f;
  if (lint->unsafe(message.body, message.lang, &f)) return f;
  return std::nullopt;
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
  // Every link the pattern knows has a '.' or a ':' in it; most names have neither,
  // and std::regex is slow (a quarter of a render before this test).
  if (plain.find_first_of(".:") != std::string::npos) plain = std::regex_replace(plain, kLinkish, "");
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
