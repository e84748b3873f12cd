#include "core/content_lint.h"

#include "core/account_numbers.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <set>
#include <unordered_map>

#include <phonenumbers/phonenumbermatch.h>
#include <phonenumbers/phonenumbermatcher.h>
#include <phonenumbers/phonenumberutil.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>

namespace nudge {

const char* builtin_content_patterns();  // core/content_words.cpp

const char* to_string(Category c) {
  switch (c) {
    case Category::kContact: return "contact";
    case Category::kPaymentRoute: return "payment_route";
    case Category::kAccountNumber: return "account_number";
    case Category::kOffPlatform: return "off_platform";
    case Category::kLink: return "link";
    case Category::kTone: return "tone";
  }
  return "unknown";
}

std::vector<std::string> LintConfig::default_link_hosts() {
  return {"aliexpress.com", "aliexpress.ru", "aliexpress.us"};
}

namespace {

// ---------------------------------------------------------------------------
// UTF-8

bool decode(std::string_view s, size_t& i, char32_t& cp) {
  unsigned char c = s[i];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    cp = 0xFFFD;
    return false;
  }
  cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    unsigned char d = s[i + k];
    if ((d >> 6) != 2) {
      ++i;
      cp = 0xFFFD;
      return false;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return true;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_cjk(char32_t cp) {
  UErrorCode st = U_ZERO_ERROR;
  UScriptCode sc = uscript_getScript(static_cast<UChar32>(cp), &st);
  return sc == USCRIPT_HAN || sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA || sc == USCRIPT_HANGUL;
}

// ---------------------------------------------------------------------------
// Normalisation, one code point at a time, cached per thread.
//
// plain: NFKC (full-width and styled letters become plain ones), format characters
//        (zero-width space, joiners, soft hyphen, ...) and invisible fillers dropped,
//        controls become spaces. Case and digits are kept: numbers, links and
//        addresses are found in this view.
// key:   plain, case folded, mapped to ICU's confusable skeleton (Cyrillic 'а' and
//        Latin 'a' agree, as do 'I', 'l' and '1'), accents dropped, case folded
//        again; 'i' is folded into 'l' so that "PayPaI" and "paypal" agree. ASCII
//        digits stay digits. Words are matched in this view.
struct CharNorm {
  std::string plain, key;
  bool word = false;  // the key is letters or digits
  bool cjk = false;   // a CJK character: a word of its own
};

class Normaliser {
 public:
  Normaliser() {
    UErrorCode st = U_ZERO_ERROR;
    nfkc_ = icu::Normalizer2::getNFKCInstance(st);
    spoof_ = uspoof_open(&st);
    if (U_FAILURE(st)) {
      spoof_ = nullptr;
      st = U_ZERO_ERROR;
      nfkc_ = icu::Normalizer2::getNFKCInstance(st);
    }
    for (char32_t c = 0; c < 128; ++c) ascii_[c] = compute(c);
  }
  ~Normaliser() {
    if (spoof_) uspoof_close(spoof_);
  }
  const CharNorm& get(char32_t cp) {
    if (cp < 128) return ascii_[cp];
    auto it = cache_.find(cp);
    if (it != cache_.end()) return it->second;
    if (cache_.size() > 50000) cache_.clear();  // bounded for years of odd input
    return cache_.emplace(cp, compute(cp)).first->second;
  }
  static Normaliser& local() {
    thread_local Normaliser n;
    return n;
  }

 private:
  static bool invisible(char32_t cp) {
    int8_t type = u_charType(static_cast<UChar32>(cp));
    return type == U_FORMAT_CHAR || cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0 ||
           cp == 0x2800 || cp == 0x034F || (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF);
  }

  CharNorm compute(char32_t cp) {
    CharNorm n;
    if (invisible(cp)) return n;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x2028 || cp == 0x2029) {
      n.plain = n.key = (cp == '\n' || cp == 0x2028 || cp == 0x2029) ? "\n" : " ";
      return n;
    }
    UErrorCode st = U_ZERO_ERROR;
    icu::UnicodeString src(static_cast<UChar32>(cp));
    icu::UnicodeString plain = nfkc_ ? nfkc_->normalize(src, st) : src;
    if (U_FAILURE(st)) plain = src;
    plain.toUTF8String(n.plain);
    if (cp < 128 && cp >= '0' && cp <= '9') {
      n.key = n.plain;
      n.word = true;
      return n;
    }
    icu::UnicodeString folded = plain;
    folded.foldCase();
    icu::UnicodeString skel;
    if (spoof_) {
      st = U_ZERO_ERROR;
      uspoof_getSkeletonUnicodeString(spoof_, 0, folded, skel, &st);
      if (U_FAILURE(st)) skel = folded;
    } else {
      skel = folded;
    }
    skel.foldCase();
    // Drop the accents (the skeleton is decomposed), keep digits as digits, fold i
    // into l.
    std::string key;
    bool word = false, cjk = false;
    for (int32_t k = 0; k < skel.length();) {
      UChar32 c = skel.char32At(k);
      k += U16_LENGTH(c);
      int8_t type = u_charType(c);
      if (type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK) continue;
      if (c == 'i') c = 'l';
      if (is_cjk(static_cast<char32_t>(c))) cjk = true;
      if (u_isalnum(c)) word = true;
      append_utf8(key, static_cast<char32_t>(c));
    }
    // A digit of another script stays that digit.
    if (u_isdigit(static_cast<UChar32>(cp)) && u_charDigitValue(static_cast<UChar32>(cp)) >= 0) {
      key = std::string(1, static_cast<char>('0' + u_charDigitValue(static_cast<UChar32>(cp))));
      word = true;
    }
    n.key = key;
    n.word = word && !cjk;
    n.cjk = cjk;
    return n;
  }

  const icu::Normalizer2* nfkc_ = nullptr;
  USpoofChecker* spoof_ = nullptr;
  std::array<CharNorm, 128> ascii_;
  std::unordered_map<char32_t, CharNorm> cache_;
};

// The plain view of a text, with each byte's origin.
struct PlainText {
  std::string s;
  std::vector<uint32_t> from, to;  // per byte of s: the original code point's [from, to)
};

PlainText plain_view(std::string_view text) {
  PlainText p;
  p.s.reserve(text.size());
  p.from.reserve(text.size());
  p.to.reserve(text.size());
  Normaliser& norm = Normaliser::local();
  for (size_t i = 0; i < text.size();) {
    size_t b = i;
    char32_t cp;
    decode(text, i, cp);
    const std::string& pl = norm.get(cp).plain;
    p.s += pl;
    for (size_t k = 0; k < pl.size(); ++k) {
      p.from.push_back(static_cast<uint32_t>(b));
      p.to.push_back(static_cast<uint32_t>(i));
    }
  }
  return p;
}

// A word of the key view.
struct Token {
  std::string key;
  uint32_t b = 0, e = 0;   // original bytes
  uint32_t cps = 0;        // original code points
  uint32_t sentence = 0;
  bool cjk = false, num = false, letters = false;
  // Written to dodge a filter: spelled apart, mixed scripts (Cyrillic 'а' in a Latin
  // word), full-width or styled letters, zero-width characters inside, digits for
  // letters. Such a word is never excused by "in the app".
  bool evasive = false;
  bool digits = false;     // has digits as written (the skeleton alone may make some: 'Б' -> '6')
  int script = -1;         // of its first letter, to see mixed scripts
  std::string sep;         // the plain separators before it (at most a few)
};

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> out;
  out.reserve(text.size() / 4 + 4);  // a word and its space: most words are longer than three letters
  Normaliser& norm = Normaliser::local();
  Token cur;
  std::string sep;
  uint32_t sentence = 0;
  bool open = false;
  auto flush = [&] {
    if (!open) return;
    cur.num = !cur.letters;
    out.push_back(std::move(cur));
    cur = Token{};
    open = false;
  };
  for (size_t i = 0; i < text.size();) {
    size_t b = i;
    char32_t cp;
    decode(text, i, cp);
    const CharNorm& n = norm.get(cp);
    if (n.key.empty() && n.plain.empty()) {  // invisible: as if absent
      if (open) cur.evasive = true;
      continue;
    }
    if (n.cjk) {
      flush();
      Token t;
      t.key = n.key;
      t.b = static_cast<uint32_t>(b);
      t.e = static_cast<uint32_t>(i);
      t.cps = 1;
      t.cjk = true;
      t.letters = true;
      t.sentence = sentence;
      t.sep = std::move(sep);
      sep.clear();
      out.push_back(std::move(t));
      continue;
    }
    if (n.word) {
      if (!open) {
        cur.b = static_cast<uint32_t>(b);
        cur.sentence = sentence;
        cur.sep = std::move(sep);
        sep.clear();
        open = true;
      }
      cur.key += n.key;
      cur.e = static_cast<uint32_t>(i);
      cur.cps++;
      if (cp >= 0xFF00 || (cp >= 0x1D400 && cp <= 0x1D7FF) || (cp >= 0x2460 && cp <= 0x24FF)) cur.evasive = true;
      // (ASCII letters and digits without ICU: most of every text.)
      const bool ascii = cp < 128;
      if (ascii ? ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') : u_isalpha(static_cast<UChar32>(cp))) {
        UErrorCode st = U_ZERO_ERROR;
        int sc = ascii ? USCRIPT_LATIN : uscript_getScript(static_cast<UChar32>(cp), &st);
        if (cur.script < 0) cur.script = sc;
        else if (sc != cur.script) cur.evasive = true;
      }
      if (!(cp >= '0' && cp <= '9') && (ascii || !u_isdigit(static_cast<UChar32>(cp))))
        cur.letters = true;
      else
        cur.digits = true;
      continue;
    }
    flush();
    const std::string& pl = n.plain;
    if (sep.size() < 8) sep += pl;
    // A sentence ends at ! ? ; 。 or a newline, and at a full stop followed by a space.
    const char c1 = pl.size() == 1 ? pl[0] : '\0';
    if (c1 == '\n' || c1 == '!' || c1 == '?' || c1 == ';' || pl == "\xE3\x80\x82" /* 。 */) ++sentence;
    if (c1 == ' ' && sep.size() >= 2 && sep[sep.size() - 2] == '.') ++sentence;
  }
  flush();
  // Letters spelled apart: three or more single letters separated by one space, dot,
  // dash, underscore, star or middle dot ("p.a.y.p.a.l", "P A Y P A L") become a word.
  std::vector<Token> joined;
  joined.reserve(out.size());
  for (size_t k = 0; k < out.size();) {
    auto single = [&](size_t j) { return out[j].cps == 1 && out[j].letters && !out[j].cjk; };
    auto joiner = [&](size_t j) {
      const std::string& s = out[j].sep;
      if (s.size() == 1) return s[0] == ' ' || s[0] == '.' || s[0] == '-' || s[0] == '_' || s[0] == '*';
      return s == "\xC2\xB7";
    };
    size_t end = k;
    if (single(k)) {  // one separator throughout: "P.I.X e" joins "PIX", not "PIXe"
      end = k + 1;
      while (end < out.size() && single(end) && joiner(end) && out[end].sep == out[k + 1].sep) ++end;
    }
    if (end - k >= 3) {
      Token t = out[k];
      t.evasive = true;
      for (size_t j = k + 1; j < end; ++j) {
        t.key += out[j].key;
        t.e = out[j].e;
        t.cps += out[j].cps;
      }
      joined.push_back(std::move(t));
      k = end;
    } else {
      joined.push_back(std::move(out[k]));
      ++k;
    }
  }
  // Digits inside a word are read as the letters they stand for ("wh4tsapp").
  for (auto& t : joined) {
    if (!t.letters || t.cjk || !t.digits) continue;
    t.evasive = true;
    for (char& c : t.key) {
      switch (c) {
        case '0': c = 'o'; break;
        case '1': c = 'l'; break;
        case '3': c = 'e'; break;
        case '4': c = 'a'; break;
        case '5': c = 's'; break;
        case '7': c = 't'; break;
        default: break;
      }
    }
  }
  return joined;
}

// ---------------------------------------------------------------------------
// Patterns over tokens (syntax in core/content_words.cpp).

struct Atom {
  std::string key;
  bool prefix = false;
};

struct Element {
  int gap = -1;      // >= 0: up to `gap` other tokens
  bool num = false;  // a number token
  bool optional = false;  // written "(...)?": may be absent
  std::vector<std::vector<Atom>> alts;
};

enum class Kind { kContact, kPayment, kOffPlatform, kLink, kTone, kAppContext, kAllow };

struct Pattern {
  Kind kind;
  bool unless_in_app = false;
  std::vector<Element> elems;
  std::string source;  // the pattern as written, for allow notes
};

std::vector<Atom> atoms_of(std::string_view words) {
  std::vector<Atom> atoms;
  bool star = !words.empty() && words.back() == '*';
  if (star) words.remove_suffix(1);
  for (auto& t : tokenize(words)) atoms.push_back({t.key, false});
  if (star && !atoms.empty()) atoms.back().prefix = true;
  return atoms;
}

std::vector<Element> compile(std::string_view text) {
  std::vector<Element> elems;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i >= text.size()) break;
    Element e;
    if (text[i] == '(') {
      size_t close = text.find(')', i);
      if (close == std::string_view::npos) close = text.size();
      std::string_view inner = text.substr(i + 1, close - i - 1);
      size_t s = 0;
      while (s <= inner.size()) {
        size_t bar = inner.find('|', s);
        if (bar == std::string_view::npos) bar = inner.size();
        std::string_view alt = inner.substr(s, bar - s);
        // "(chama ~2)" style alternatives are kept simple: a gap inside an
        // alternative is not supported, so drop it.
        std::string clean;
        for (size_t k = 0; k < alt.size(); ++k) {
          if (alt[k] == '~') {
            while (k < alt.size() && alt[k] != ' ') ++k;
            continue;
          }
          clean += alt[k];
        }
        // Each space-separated word may carry its own '*'.
        std::vector<Atom> atoms;
        size_t w = 0;
        while (w < clean.size()) {
          while (w < clean.size() && clean[w] == ' ') ++w;
          size_t we = clean.find(' ', w);
          if (we == std::string::npos) we = clean.size();
          if (we > w)
            for (auto& a : atoms_of(std::string_view(clean).substr(w, we - w))) atoms.push_back(a);
          w = we;
        }
        if (!atoms.empty()) e.alts.push_back(std::move(atoms));
        s = bar + 1;
      }
      i = close + 1;
      if (i < text.size() && text[i] == '?') {
        e.optional = true;
        ++i;
      }
    } else {
      size_t end = text.find(' ', i);
      if (end == std::string_view::npos) end = text.size();
      std::string_view word = text.substr(i, end - i);
      i = end;
      if (word[0] == '~') {
        e.gap = std::atoi(std::string(word.substr(1)).c_str());
      } else if (word == "#") {
        e.num = true;
      } else {
        auto atoms = atoms_of(word);
        if (atoms.empty()) continue;
        e.alts.push_back(std::move(atoms));
      }
    }
    if (e.gap >= 0 || e.num || !e.alts.empty()) elems.push_back(std::move(e));
  }
  return elems;
}

bool atom_matches(const Atom& a, const Token& t) {
  return a.prefix ? t.key.compare(0, a.key.size(), a.key) == 0 : t.key == a.key;
}

// Matches elems[el..] at token i within one sentence; on success `end` is one past
// the last token used.
bool match_from(const std::vector<Element>& elems, size_t el, const std::vector<Token>& toks, size_t i,
                uint32_t sentence, size_t& end) {
  if (el == elems.size()) {
    end = i;
    return true;
  }
  const Element& e = elems[el];
  if (e.optional && match_from(elems, el + 1, toks, i, sentence, end)) return true;
  if (e.gap >= 0) {
    for (int k = 0; k <= e.gap; ++k) {
      size_t j = i + static_cast<size_t>(k);
      if (j > toks.size()) break;
      if (j < toks.size() && toks[j].sentence != sentence && el + 1 < elems.size()) break;
      if (match_from(elems, el + 1, toks, j, sentence, end)) return true;
    }
    return false;
  }
  if (i >= toks.size() || toks[i].sentence != sentence) return false;
  if (e.num) return toks[i].num && match_from(elems, el + 1, toks, i + 1, sentence, end);
  for (const auto& alt : e.alts) {
    if (i + alt.size() > toks.size()) continue;
    bool ok = true;
    for (size_t k = 0; k < alt.size() && ok; ++k)
      ok = toks[i + k].sentence == sentence && atom_matches(alt[k], toks[i + k]);
    if (ok && match_from(elems, el + 1, toks, i + alt.size(), sentence, end)) return true;
  }
  return false;
}

// Patterns indexed by their first word, so that a text is read once.
class PatternSet {
 public:
  void add(Pattern p) {
    if (p.elems.empty() || p.elems[0].alts.empty()) return;
    size_t idx = patterns_.size();
    for (const auto& alt : p.elems[0].alts) {
      const Atom& a = alt[0];
      if (!a.prefix)
        exact_[a.key].push_back(idx);
      else
        prefix_[std::min<size_t>(a.key.size(), 3)][a.key.substr(0, 3)].push_back(idx);
    }
    patterns_.push_back(std::move(p));
  }

  // Calls f(pattern, first token, end token) for every match.
  template <typename F>
  void scan(const std::vector<Token>& toks, F&& f) const {
    std::vector<size_t> cands;
    for (size_t i = 0; i < toks.size(); ++i) {
      cands.clear();
      const std::string& key = toks[i].key;
      if (auto it = exact_.find(key); it != exact_.end()) cands.insert(cands.end(), it->second.begin(), it->second.end());
      for (size_t len = 1; len <= 3 && len <= key.size(); ++len) {
        auto it = prefix_[len].find(key.substr(0, len));
        if (it != prefix_[len].end()) cands.insert(cands.end(), it->second.begin(), it->second.end());
      }
      if (cands.size() > 1) {
        std::sort(cands.begin(), cands.end());
        cands.erase(std::unique(cands.begin(), cands.end()), cands.end());
      }
      for (size_t c : cands) {
        size_t end = 0;
        if (match_from(patterns_[c].elems, 0, toks, i, toks[i].sentence, end) && end > i) f(patterns_[c], i, end);
      }
    }
  }

 private:
  std::vector<Pattern> patterns_;
  std::unordered_map<std::string, std::vector<size_t>> exact_;
  std::array<std::unordered_map<std::string, std::vector<size_t>>, 4> prefix_;
};

// ---------------------------------------------------------------------------
// Hosts.

bool host_allowed(std::string host, const std::vector<std::string>& allowed) {
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!host.empty() && host.back() == '.') host.pop_back();
  // The host is `a` or ends in "." + `a`, whatever the case `a` is written in.
  auto ends_with = [&](const std::string& a) {
    if (host.size() < a.size() || (host.size() > a.size() && host[host.size() - a.size() - 1] != '.')) return false;
    for (size_t i = 0, off = host.size() - a.size(); i < a.size(); ++i)
      if (host[off + i] != std::tolower(static_cast<unsigned char>(a[i]))) return false;
    return true;
  };
  return std::any_of(allowed.begin(), allowed.end(), ends_with);
}

const std::set<std::string>& tlds() {
  // Top-level domains that make a bare "word.tld" a link: the generic ones scammers
  // use, URL shorteners' and the ccTLDs of the markets nudge serves.
  static const std::set<std::string> k = {
      "com", "net", "org", "info", "biz", "io", "co", "me", "ly", "gl", "cc", "tv", "xyz", "top", "shop", "store",
      "site", "online", "website", "club", "vip", "app", "dev", "page", "link", "click", "live", "life", "fun", "icu",
      "buzz", "win", "bid", "pro", "ru", "su", "by", "kz", "ua", "cn", "hk", "tw", "br", "pt", "es", "mx", "ar", "cl",
      "pe", "fr", "be", "ch", "de", "uk", "us", "pl", "nl", "tk", "ml", "ga", "cf", "gq", "ws", "to", "gg", "la",
      "pw", "gd", "id", "su", "am", "rs", "one", "today", "world", "store", "market", "money", "cash", "pay", "рф",
      "bet", "casino", "work", "email", "chat", "sale", "deals", "cz", "it", "eu", "ca", "in", "au"};
  return k;
}

bool contact_host(const std::string& host) {
  static const std::vector<std::string> k = {
      "wa.me", "whatsapp.com", "wa.link", "t.me", "telegram.me", "telegram.org", "telegram.dog", "line.me",
      "viber.com", "signal.me", "signal.group", "skype.com", "weixin.qq.com", "qm.qq.com", "discord.gg",
      "discord.com", "m.me", "messenger.com", "ig.me", "instagram.com", "facebook.com", "fb.com", "vk.com", "vk.me",
      "ok.ru", "u.wechat.com", "wechat.com", "kakao.com", "snapchat.com"};
  return host_allowed(host, k);
}

bool host_char(char32_t c) {
  return (c < 128 && (std::isalnum(static_cast<int>(c)) || c == '-' || c == '_')) ||
         (c >= 128 && u_isalnum(static_cast<UChar32>(c)) && !is_cjk(c));
}

// ---------------------------------------------------------------------------
// Phone regions.

std::vector<std::string> regions_for(std::string_view lang) {
  std::string p(lang.substr(0, lang.find_first_of("-_")));
  for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::string> r;
  if (lang.size() > 3) {  // pt-BR: the region tag first
    std::string region(lang.substr(lang.find_first_of("-_") + 1));
    for (auto& c : region) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (region.size() == 2) r.push_back(region);
  }
  if (p == "en") r.insert(r.end(), {"US", "GB"});
  else if (p == "es") r.insert(r.end(), {"ES", "MX", "AR", "CO"});
  else if (p == "pt") r.insert(r.end(), {"BR", "PT"});
  else if (p == "ru") r.insert(r.end(), {"RU", "KZ", "UA"});
  else if (p == "fr") r.insert(r.end(), {"FR", "BE"});
  else if (p == "zh") r.insert(r.end(), {"CN", "HK", "TW"});
  else r.insert(r.end(), {"US", "GB", "ES", "MX", "BR", "RU", "FR", "CN"});
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------

struct ContentLint::Impl {
  LintConfig config;
  PatternSet words;     // C P O L T (and the seller's forbidden phrases)
  PatternSet context;   // A: "in the app"
  PatternSet allow;     // safety.allow
  std::vector<std::string> card_context;  // keys of words that say "card"
  // libphonenumber's singleton, looked up once: GetInstance() takes a lock and was a
  // twentieth of a lint.
  const i18n::phonenumbers::PhoneNumberUtil* phone_util = i18n::phonenumbers::PhoneNumberUtil::GetInstance();

  void scan_words(const std::vector<Token>& toks, std::string_view text, bool tone, std::vector<Finding>& out) const;
  void scan_plain(const PlainText& p, std::string_view text, const std::vector<Token>& toks, std::string_view lang,
                  std::vector<Finding>& out) const;
  void scan_phones(const PlainText& p, std::string_view text, std::string_view lang, std::vector<Finding>& out) const;
  void apply_allow(const std::vector<Token>& toks, std::vector<Finding>& out) const;
};

namespace {

Finding make(Category c, std::string_view text, size_t b, size_t e, std::string detail, bool allowable) {
  Finding f{c, std::string(text.substr(b, e - b)), b, e - b, std::move(detail), allowable, {}};
  return f;
}

}  // namespace

ContentLint::ContentLint(LintConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  std::string_view all = builtin_content_patterns();
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string_view::npos) nl = all.size();
    std::string_view line = all.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.size() < 3) continue;
    size_t sp = line.find(' ');
    std::string_view kind = line.substr(0, sp);
    Pattern p;
    p.unless_in_app = kind.size() > 1 && kind[1] == 'x';
    switch (kind[0]) {
      case 'C': p.kind = Kind::kContact; break;
      case 'P': p.kind = Kind::kPayment; break;
      case 'O': p.kind = Kind::kOffPlatform; break;
      case 'L': p.kind = Kind::kLink; break;
      case 'T': p.kind = Kind::kTone; break;
      case 'A': p.kind = Kind::kAppContext; break;
      default: continue;
    }
    p.source = std::string(line.substr(sp + 1));
    p.elems = compile(p.source);
    if (p.kind == Kind::kAppContext)
      impl_->context.add(std::move(p));
    else
      impl_->words.add(std::move(p));
  }
  for (const auto& phrase : impl_->config.forbidden_phrases) {
    Pattern p{Kind::kOffPlatform, false, {}, phrase};
    for (auto& t : tokenize(phrase)) p.elems.push_back(Element{-1, false, false, {{Atom{t.key, false}}}});
    impl_->words.add(std::move(p));
  }
  for (const auto& phrase : impl_->config.allow) {
    Pattern p{Kind::kAllow, false, {}, phrase};
    for (auto& t : tokenize(phrase)) p.elems.push_back(Element{-1, false, false, {{Atom{t.key, false}}}});
    impl_->allow.add(std::move(p));
  }
  for (const char* w : {"card", "карт", "tarjet", "cart", "卡", "visa", "mastercard", "mir", "мир", "сбер", "cb"})
    for (auto& t : tokenize(w)) impl_->card_context.push_back(t.key);
}

ContentLint::~ContentLint() = default;

const LintConfig& ContentLint::config() const { return impl_->config; }

void ContentLint::Impl::scan_words(const std::vector<Token>& toks, std::string_view text, bool tone,
                                   std::vector<Finding>& out) const {
  words.scan(toks, [&](const Pattern& p, size_t i, size_t end) {
    if ((p.kind == Kind::kTone) != tone) return;
    bool evasive = false;
    for (size_t k = i; k < end; ++k) evasive = evasive || toks[k].evasive;
    if (p.unless_in_app && !evasive) {
      // Legitimate when the same sentence says it happens in the app.
      bool in_app = false;
      uint32_t s = toks[i].sentence;
      size_t lo = i, hi = end;
      while (lo > 0 && toks[lo - 1].sentence == s) --lo;
      while (hi < toks.size() && toks[hi].sentence == s) ++hi;
      std::vector<Token> sentence(toks.begin() + static_cast<long>(lo), toks.begin() + static_cast<long>(hi));
      context.scan(sentence, [&](const Pattern&, size_t, size_t) { in_app = true; });
      if (in_app) return;
    }
    Category c = Category::kOffPlatform;
    std::string detail;
    switch (p.kind) {
      case Kind::kContact: c = Category::kContact; detail = "a contact route outside the platform"; break;
      case Kind::kPayment: c = Category::kPaymentRoute; detail = "a payment route outside the platform"; break;
      case Kind::kOffPlatform: c = Category::kOffPlatform; detail = "asks to deal outside the platform"; break;
      case Kind::kLink: c = Category::kLink; detail = "a link spelled out"; break;
      case Kind::kTone: c = Category::kTone; detail = "a threat or ultimatum"; break;
      default: return;
    }
    out.push_back(make(c, text, toks[i].b, toks[end - 1].e, detail, p.kind != Kind::kLink));
  });
}

void ContentLint::Impl::scan_phones(const PlainText& p, std::string_view text, std::string_view lang,
                                    std::vector<Finding>& out) const {
  using namespace i18n::phonenumbers;
  const std::string& s = p.s;
  // The language's own countries first: "8 (916) ..." is read as Russian in Russian.
  std::vector<std::string> regions;
  for (auto& r : regions_for(lang))
    if (std::find(regions.begin(), regions.end(), r) == regions.end()) regions.push_back(r);
  for (auto& r : config.regions)
    if (std::find(regions.begin(), regions.end(), r) == regions.end()) regions.push_back(r);
  auto phone_char = [](char c) {
    return (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+' || c == '/';
  };
  const PhoneNumberUtil& util = *phone_util;
  // One candidate: trimmed to digits at the end, at least 7 digits, not a date.
  auto candidate = [&](size_t b, size_t e) {
    while (b < e && !((s[b] >= '0' && s[b] <= '9') || s[b] == '+' || s[b] == '(')) ++b;
    while (e > b && !(s[e - 1] >= '0' && s[e - 1] <= '9')) --e;
    if (e <= b) return;
    std::string run = s.substr(b, e - b);
    std::vector<int> groups;
    int digits = 0, cur = 0;
    for (char c : run) {
      if (c >= '0' && c <= '9') {
        ++digits;
        ++cur;
      } else if (cur) {
        groups.push_back(cur);
        cur = 0;
      }
    }
    if (cur) groups.push_back(cur);
    if (digits < 7) return;
    // Dates and times: 2026-11-20 10, 20/11/2026, 20.11.2026 (one separator, no '+').
    if ((groups.size() == 3 || groups.size() == 4) && run.find_first_of("+(") == std::string::npos &&
        ((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2) || (groups[0] <= 2 && groups[1] <= 2 && groups[2] == 4))) {
      char sep1 = run[static_cast<size_t>(groups[0])], sep2 = run[static_cast<size_t>(groups[0] + 1 + groups[1])];
      if (sep1 == sep2 && std::strchr("-./", sep1)) return;
    }
    // With a country code ("+44 ..."), a number that is only possible (a range the
    // metadata calls unassigned) is still written as a phone number to call.
    bool international = run.find('+') != std::string::npos;
    for (const auto& region : regions) {
      PhoneNumberMatcher m(util, run, region, international ? PhoneNumberMatcher::POSSIBLE : PhoneNumberMatcher::VALID,
                           5);
      PhoneNumberMatch match;
      bool found = false;
      while (m.HasNext() && m.Next(&match)) {
        size_t mb = b + static_cast<size_t>(match.start()), me = mb + static_cast<size_t>(match.length());
        out.push_back(make(Category::kContact, text, p.from[mb], p.to[me - 1], "a phone number", false));
        found = true;
      }
      if (found) break;
    }
  };
  for (size_t i = 0; i < s.size();) {
    if (!phone_char(s[i]) || s[i] == ' ') {
      ++i;
      continue;
    }
    size_t b = i;
    while (i < s.size() && phone_char(s[i])) ++i;
    // Split the run at digit groups too long for a phone (order numbers):
    // "8187654321098765 (33.31" holds no phone.
    size_t from = b;
    for (size_t k = b; k < i;) {
      if (!(s[k] >= '0' && s[k] <= '9')) {
        ++k;
        continue;
      }
      size_t g = k;
      while (k < i && s[k] >= '0' && s[k] <= '9') ++k;
      if (k - g > 15) {
        candidate(from, g);
        from = k;
      }
    }
    candidate(from, i);
  }
}

void ContentLint::Impl::scan_plain(const PlainText& p, std::string_view text, const std::vector<Token>& toks,
                                   std::string_view lang, std::vector<Finding>& out) const {
  const std::string& s = p.s;
  auto origin = [&](size_t b, size_t e) { return std::pair<size_t, size_t>{p.from[b], p.to[e - 1]}; };
  auto add = [&](Category c, size_t b, size_t e, std::string detail, bool allowable) {
    auto [ob, oe] = origin(b, e);
    out.push_back(make(c, text, ob, oe, std::move(detail), allowable));
  };

  // Runs of non-space characters: links, e-mail addresses, handles, IBANs, crypto.
  auto breaks = [](char32_t c) {
    if (c < 128) return c == ' ' || c == '\n' || c == '\t' || c == ',' || c == ';' || c == '"' || c == '<' || c == '>' ||
                        c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '!';
    return c == ' ' || c == '\n' || c == '\t' || c == ',' || c == ';' || c == '"' || c == '<' || c == '>' ||
           c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '!' || c == 0xAB ||
           c == 0xBB || c == 0x201C || c == 0x201D || c == 0x3001 || c == 0x3002 || c == 0xFF0C || c == 0x300C ||
           c == 0x300D || c == 0x3010 || c == 0x3011 || is_cjk(c);
  };
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    char32_t cp;
    size_t j = i;
    decode(s, j, cp);
    if (breaks(cp)) {
      i = j;
      continue;
    }
    size_t e = i;
    while (e < s.size()) {
      size_t k = e;
      decode(s, k, cp);
      if (breaks(cp)) break;
      e = k;
    }
    i = e;
    while (e > b && std::strchr(".:?'`*", s[e - 1])) --e;  // a sentence's full stop is not part of a link
    while (b < e && std::strchr(".:?'`*", s[b])) ++b;      // nor a colon before it
    if (e <= b) continue;
    std::string run = s.substr(b, e - b);
    std::string lower = run;
    for (auto& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');

    // Links with a scheme, www. links, contact schemes.
    size_t host_b = std::string::npos;
    if (auto sch = lower.find("://"); sch != std::string::npos && sch > 0) {
      host_b = sch + 3;
    } else if (lower.rfind("www.", 0) == 0) {
      host_b = 0;
    } else {
      for (const char* scheme : {"skype:", "viber:", "weixin:", "tg:", "whatsapp:", "mailto:", "sms:", "tel:"}) {
        if (lower.rfind(scheme, 0) == 0 && lower.size() > std::strlen(scheme)) {
          add(Category::kContact, b, e, "a messenger or contact link", false);
          host_b = std::string::npos - 1;
          break;
        }
      }
      if (host_b == std::string::npos - 1) continue;
    }
    if (host_b != std::string::npos) {
      size_t host_e = lower.find_first_of("/:?#", host_b);
      std::string host = lower.substr(host_b, host_e == std::string::npos ? std::string::npos : host_e - host_b);
      if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
      if (contact_host(host))
        add(Category::kContact, b, e, "a messenger link", false);
      else if (!host_allowed(host, config.allowed_link_hosts))
        add(Category::kLink, b, e, "a link to " + host + ", which is not in safety.allowed_link_hosts", false);
      continue;
    }
    // E-mail addresses and handles.
    if (auto at = run.find('@'); at != std::string::npos) {
      std::string domain = lower.substr(at + 1);
      size_t dot = domain.rfind('.');
      if (at > 0 && dot != std::string::npos && dot > 0 && domain.size() - dot > 2) {
        add(Category::kContact, b, e, "an e-mail address", false);
        continue;
      }
      if (at == 0 && run.size() >= 4) {
        add(Category::kContact, b, e, "a messenger handle", false);
        continue;
      }
    }
    // Crypto addresses, by format and checksum.
    {
      size_t k = 0;
      while (k < run.size()) {
        while (k < run.size() && !std::isalnum(static_cast<unsigned char>(run[k]))) ++k;
        size_t we = k;
        while (we < run.size() && std::isalnum(static_cast<unsigned char>(run[we]))) ++we;
        std::string w = run.substr(k, we - k);
        bool crypto = false;
        if (w.size() == 42 && (w.rfind("0x", 0) == 0 || w.rfind("0X", 0) == 0)) crypto = eth_ok(w);
        else if (w.size() >= 14 && w.size() <= 90 && (lower.compare(k, 4, "bc1q") == 0 || lower.compare(k, 4, "bc1p") == 0 ||
                                                       lower.compare(k, 4, "ltc1") == 0 || lower.compare(k, 3, "tb1") == 0))
          crypto = bech32_ok(w);
        else if (w.size() >= 25 && w.size() <= 35 && std::strchr("13TLMD", w[0])) crypto = base58check_ok(w);
        if (crypto) add(Category::kAccountNumber, b + k, b + we, "a crypto-currency address", false);
        k = we;
      }
    }
    // Bare domains: word.tld, contact hosts like wa.me, shorteners like bit.ly.
    {
      size_t host_e = lower.find_first_of("/:?#");
      std::string host = lower.substr(0, host_e);
      std::vector<std::string> labels;
      size_t start = 0;
      bool ok = true;
      while (true) {
        size_t dot = host.find('.', start);
        std::string label = host.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (label.empty()) {
          ok = false;
          break;
        }
        for (size_t q = 0; q < label.size();) {
          char32_t c;
          decode(label, q, c);
          if (!host_char(c)) ok = false;
        }
        labels.push_back(label);
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      if (ok && labels.size() >= 2 && tlds().count(labels.back())) {
        bool letter = false;
        for (char c : labels[labels.size() - 2]) letter = letter || !std::isdigit(static_cast<unsigned char>(c));
        if (letter) {
          if (contact_host(host))
            add(Category::kContact, b, e, "a messenger link", false);
          else if (!host_allowed(host, config.allowed_link_hosts))
            add(Category::kLink, b, e, "a link to " + host + ", which is not in safety.allowed_link_hosts", false);
          continue;
        }
      }
    }
  }

  // A domain spelled with spaced dots: "shop . xyz", "shop(.)xyz", "shop[.]com".
  for (size_t k = 1; k < toks.size(); ++k) {
    std::string sep;
    for (char c : toks[k].sep)
      if (c != ' ') sep += c;
    // Only an evasion when the dot stands apart: "shop . xyz", not "commandes. La".
    static const std::set<std::string> kSpelled = [] {
      std::set<std::string> keys;
      for (const char* t : {"com", "net", "org", "ru", "xyz", "shop", "top", "site", "store", "online", "io", "cn",
                            "br", "link", "ly", "cc", "vip", "club", "su"})
        for (auto& tok : tokenize(t)) keys.insert(tok.key);
      return keys;
    }();
    bool spaced = toks[k].sep == " . " || sep == "(.)" || sep == "[.]" || sep == "{.}";
    if (spaced && !toks[k - 1].cjk && toks[k - 1].letters && kSpelled.count(toks[k].key))
      out.push_back(make(Category::kLink, text, toks[k - 1].b, toks[k].e, "a link spelled out", false));
  }

  // IBANs: two letters, two digits, then letters and digits, grouped by four or not.
  auto alnum = [&](size_t k) { return k < s.size() && std::isalnum(static_cast<unsigned char>(s[k])); };
  auto digit = [&](size_t k) { return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])); };
  for (size_t i = 0; i + 4 < s.size(); ++i) {
    if (i > 0 && alnum(i - 1)) continue;
    if (!(std::isalpha(static_cast<unsigned char>(s[i])) && std::isalpha(static_cast<unsigned char>(s[i + 1])) &&
          digit(i + 2) && digit(i + 3)))
      continue;
    std::string compact;
    std::vector<size_t> at;
    for (size_t k = i; k < s.size() && compact.size() < 34;) {
      if (alnum(k)) {
        compact += static_cast<char>(std::toupper(static_cast<unsigned char>(s[k])));
        at.push_back(k);
        ++k;
      } else if ((s[k] == ' ' || s[k] == '-') && alnum(k + 1)) {
        ++k;
      } else {
        break;
      }
    }
    int len = iban_length(compact.substr(0, 2));
    for (int l = len ? len : 34; l >= (len ? len : 15); --l) {
      if (static_cast<int>(compact.size()) >= l && iban_ok(compact.substr(0, static_cast<size_t>(l)))) {
        add(Category::kAccountNumber, at[0], at[static_cast<size_t>(l) - 1] + 1, "an IBAN", false);
        i = at[static_cast<size_t>(l) - 1];
        break;
      }
    }
  }

  // Digit groups: cards, CLABE, CPF/CNPJ.
  for (size_t i = 0; i < s.size();) {
    if (!digit(i) || (i > 0 && alnum(i - 1))) {
      ++i;
      continue;
    }
    std::string d;
    std::vector<size_t> at;
    std::vector<int> groups;
    std::string seps;
    size_t k = i;
    int cur = 0;
    while (k < s.size()) {
      if (digit(k)) {
        d += s[k];
        at.push_back(k);
        ++cur;
        ++k;
      } else if ((s[k] == ' ' || s[k] == '-' || s[k] == '.' || s[k] == '/') && digit(k + 1) && cur > 0) {
        groups.push_back(cur);
        seps += s[k];
        cur = 0;
        ++k;
      } else {
        break;
      }
    }
    if (cur) groups.push_back(cur);
    i = k;
    if (alnum(k)) continue;  // digits run into letters: an id, not a number
    // Card numbers: grouped like cards (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4), or one run
    // of digits right after a word that says "card"; Luhn and a card prefix.
    static const std::vector<int> kCardGroups[] = {{4, 4, 4, 4}, {4, 4, 4, 4, 3}, {4, 6, 5},
                                                   {4, 6, 4},    {4, 4, 4, 4, 2}, {4, 4, 4, 3}};
    static const std::vector<int> kCpf{3, 3, 3, 2}, kCnpj{2, 3, 3, 4, 2};
    bool card_groups = std::find(std::begin(kCardGroups), std::end(kCardGroups), groups) != std::end(kCardGroups);
    bool card_words = false;
    if (groups.size() == 1 && d.size() >= 13 && d.size() <= 19) {
      size_t ob = p.from[at.front()];
      for (const auto& t : toks) {
        if (t.e > ob) break;
        if (ob - t.e > 40) continue;
        for (const auto& w : card_context)
          if (t.key.compare(0, w.size(), w) == 0) card_words = true;
      }
    }
    if ((card_groups || card_words) && luhn_ok(d) && card_prefix_ok(d))
      add(Category::kAccountNumber, at.front(), at.back() + 1, "a card number", false);
    else if (groups.size() == 1 && clabe_ok(d))
      add(Category::kAccountNumber, at.front(), at.back() + 1, "a CLABE account number", false);
    else if ((groups == kCpf && seps == "..-" && cpf_ok(d)) || (groups == kCnpj && seps == "../-" && cnpj_ok(d)))
      add(Category::kAccountNumber, at.front(), at.back() + 1, "a CPF/CNPJ (a Pix key)", false);
  }

  scan_phones(p, text, lang, out);
}

void ContentLint::Impl::apply_allow(const std::vector<Token>& toks, std::vector<Finding>& out) const {
  if (config.allow.empty()) return;
  allow.scan(toks, [&](const Pattern& p, size_t i, size_t end) {
    for (auto& f : out)
      if (f.allowable && f.allowed_by.empty() && f.offset >= toks[i].b && f.offset + f.length <= toks[end - 1].e)
        f.allowed_by = p.source;
  });
}

std::vector<Finding> ContentLint::lint(std::string_view text, std::string_view lang) const {
  std::vector<Finding> out;
  auto toks = tokenize(text);
  auto plain = plain_view(text);
  impl_->scan_words(toks, text, false, out);
  impl_->scan_plain(plain, text, toks, lang, out);
  impl_->apply_allow(toks, out);
  // In text order; one finding per category and place.
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.offset, a.category) < std::tie(b.offset, b.category);
  });
  std::vector<Finding> unique;
  auto overlaps = [](const Finding& a, const Finding& b) {
    return a.offset < b.offset + b.length && b.offset < a.offset + a.length;
  };
  for (auto& f : out) {
    bool dup = false;
    for (const auto& u : out)  // a CPF or a card is an account number, not a phone
      if (f.detail == "a phone number" && u.category == Category::kAccountNumber && overlaps(f, u)) dup = true;
    for (const auto& u : unique)
      if (u.category == f.category && overlaps(f, u)) dup = true;
    if (!dup) unique.push_back(std::move(f));
  }
  return unique;
}

std::vector<Finding> ContentLint::tone(std::string_view text) const {
  std::vector<Finding> out;
  // Shouting: most letters capitals, or three words in capitals in a row.
  struct Word {
    size_t b, e;
    bool caps;
  };
  std::vector<Word> words;
  int upper = 0, lower = 0;
  size_t first = std::string::npos, last = 0;
  {
    Word w{0, 0, false};
    int wu = 0, wl = 0;
    auto close = [&] {
      if (wu + wl > 0) words.push_back({w.b, w.e, wu >= 2 && wl == 0});
      wu = wl = 0;
    };
    for (size_t i = 0; i < text.size();) {
      size_t b = i;
      char32_t cp;
      decode(text, i, cp);
      UChar32 c = static_cast<UChar32>(cp);
      bool up = u_isUUppercase(c), lo = u_isULowercase(c);
      if (up || lo) {
        if (wu + wl == 0) w.b = b;
        w.e = i;
        (up ? wu : wl)++;
        (up ? upper : lower)++;
        if (first == std::string::npos) first = b;
        last = i;
      } else if (!u_isalnum(c)) {
        close();
      }
    }
    close();
  }
  if (upper >= 8 && upper * 10 > (upper + lower) * 6) {
    out.push_back(make(Category::kTone, text, first, last, "shouting (most letters are capitals)", true));
  } else {
    for (size_t k = 0; k + 2 < words.size(); ++k) {
      if (!(words[k].caps && words[k + 1].caps && words[k + 2].caps)) continue;
      size_t e = k + 2;
      while (e + 1 < words.size() && words[e + 1].caps) ++e;
      out.push_back(make(Category::kTone, text, words[k].b, words[e].e, "shouting (words in capitals)", true));
      break;
    }
  }
  // Runs of exclamation marks.
  auto plain = plain_view(text);
  for (size_t i = 0; i + 1 < plain.s.size(); ++i) {
    if (plain.s[i] == '!' && plain.s[i + 1] == '!') {
      size_t e = i;
      while (e < plain.s.size() && (plain.s[e] == '!' || plain.s[e] == '1' || plain.s[e] == '?')) ++e;
      out.push_back(make(Category::kTone, text, plain.from[i], plain.to[e - 1], "a run of exclamation marks", true));
      i = e;
    }
  }
  // Threats and ultimatums.
  auto toks = tokenize(text);
  impl_->scan_words(toks, text, true, out);
  impl_->apply_allow(toks, out);
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) { return a.offset < b.offset; });
  std::vector<Finding> unique;
  for (auto& f : out) {
    bool dup = false;
    for (const auto& u : unique)
      if (f.offset < u.offset + u.length && u.offset < f.offset + f.length && f.detail == u.detail) dup = true;
    if (!dup) unique.push_back(std::move(f));
  }
  return unique;
}

bool ContentLint::unsafe(std::string_view text, std::string_view lang, Finding* first) const {
  for (auto& f : lint(text, lang)) {
    if (!f.allowed_by.empty()) continue;
    if (first) *first = std::move(f);
    return true;
  }
  return false;
}

}  // namespace nudge
