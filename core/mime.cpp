#include "core/mime.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <vector>

#include "core/hash.h"
#include "core/safety.h"

namespace nudge {

namespace {

constexpr size_t kMaxLine = 78;  // RFC 5322 2.1.1: lines SHOULD be at most 78 characters
constexpr size_t kMaxWord = 75;  // RFC 2047 2: an encoded word is at most 75 characters
const std::string kWordOpen = "=?UTF-8?B?", kWordClose = "?=";

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool is_atext(unsigned char c) {
  if (std::isalnum(c) && c < 0x80) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Bytes in the UTF-8 sequence that starts with `lead` (1 for stray bytes, so that
// invalid input still makes progress; it is base64 encoded either way).
size_t utf8_len(unsigned char lead) {
  if (lead >= 0xf0 && lead < 0xf8) return 4;
  if (lead >= 0xe0) return lead < 0xf0 ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

// Splits `text` into encoded words. The first word is at most `first_budget`
// characters (what is left on the header's first line), the others at most 75.
// Words hold whole UTF-8 characters, so each decodes on its own (RFC 2047 5).
std::vector<std::string> encoded_words(std::string_view text, size_t first_budget) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t budget = words.empty() ? std::min(first_budget, kMaxWord) : kMaxWord;
    budget = std::max(budget, kWordOpen.size() + kWordClose.size() + 4);  // room for one character
    size_t max_raw = (budget - kWordOpen.size() - kWordClose.size()) / 4 * 3;
    size_t end = i;
    while (end < text.size()) {
      size_t n = std::min(utf8_len(static_cast<unsigned char>(text[end])), text.size() - end);
      if (end + n - i > max_raw) break;
      end += n;
    }
    if (end == i) end = i + std::min(utf8_len(static_cast<unsigned char>(text[i])), text.size() - i);
    words.push_back(kWordOpen + base64_encode(text.substr(i, end - i)) + kWordClose);
    i = end;
  }
  return words;
}

// "Name: " followed by tokens separated by spaces, folded (CRLF SP) before a token
// that would carry the line past 78 characters.
std::string fold(std::string_view name, const std::vector<std::string>& tokens) {
  std::string out = std::string(name) + ":";
  size_t line = out.size();
  for (const auto& t : tokens) {
    if (line + 1 + t.size() > kMaxLine && line > name.size() + 1) {
      out += "\r\n";
      line = 0;
    }
    out += " " + t;
    line += 1 + t.size();
  }
  return out + "\r\n";
}

std::string replace_controls(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (is_control(static_cast<unsigned char>(c))) c = ' ';
  return out;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// Display-name tokens, the first sized for a line that already holds `used` characters.
std::vector<std::string> name_tokens(std::string_view raw, size_t used) {
  std::string name(trim(replace_controls(raw)));
  if (name.empty()) return {};
  if (!printable_ascii(name)) return encoded_words(name, kMaxLine - used - 1);
  // "=?" is quoted so that a reader does not decode the name as an encoded word.
  bool atoms = name.find("=?") == std::string::npos;
  for (unsigned char c : name) atoms = atoms && (c == ' ' || is_atext(c));
  if (atoms) return {name};
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return {quoted + "\""};
}

std::string mailbox_header(std::string_view header, const Mailbox& mb) {
  auto tokens = name_tokens(mb.name, header.size() + 1);
  tokens.push_back("<" + mb.address + ">");
  return fold(header, tokens);
}

bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  for (unsigned char c : key)
    if (!(std::isalnum(c) && c < 0x80) && c != '-' && c != '_' && c != '.') return false;
  return key.front() != '.' && key.back() != '.';
}

}  // namespace

bool valid_address(std::string_view a, std::string& error) {
  for (unsigned char c : a)
    if (is_control(c)) {
      error = "the address has a control character (CR, LF, ...)";
      return false;
    }
  if (!printable_ascii(a)) {
    error = "the address '" + std::string(a) + "' is not ASCII (internationalised addresses are not supported)";
    return false;
  }
  size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size() || a.size() > 254 || at > 64) {
    error = "'" + std::string(a) + "' is not an email address (local@domain)";
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(a[i]);
    bool bad = c == ' ' || std::string_view("<>()[]\\,;:\"").find(static_cast<char>(c)) != std::string_view::npos ||
               (c == '@' && i != at);
    if (bad) {
      error = "'" + std::string(a) + "' is not an email address: '" + std::string(1, static_cast<char>(c)) +
              "' is not allowed";
      return false;
    }
  }
  std::string_view domain = a.substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos) {
    error = "'" + std::string(a) + "' has a malformed domain";
    return false;
  }
  return true;
}

bool parse_mailbox(std::string_view text, Mailbox& out, std::string& error) {
  for (unsigned char c : text)
    if (is_control(c)) {
      error = "the mailbox has a control character (CR, LF, ...)";
      return false;
    }
  std::string_view t = trim(text);
  out = Mailbox{};
  if (!t.empty() && t.back() == '>') {
    size_t lt = t.rfind('<');
    if (lt == std::string_view::npos) {
      error = "'" + std::string(text) + "' has '>' without '<'";
      return false;
    }
    std::string_view name = trim(t.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        out.name += name[i];
      }
    } else {
      out.name = std::string(name);
    }
    out.address = std::string(t.substr(lt + 1, t.size() - lt - 2));
  } else {
    out.address = std::string(t);
  }
  return valid_address(out.address, error);
}

std::string format_mail_date(Millis at) {
  std::time_t secs = static_cast<std::time_t>(at / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string encode_header_text(std::string_view name, std::string_view text) {
  std::string clean = replace_controls(text);
  size_t used = name.size() + 2;  // "Name: "
  if (printable_ascii(clean) && clean.find("=?") == std::string::npos && used + clean.size() <= kMaxLine)
    return std::string(name) + ": " + clean + "\r\n";
  return fold(name, encoded_words(clean, kMaxLine - used));
}

std::string encode_display_name(std::string_view name) {
  std::string out;
  for (const auto& t : name_tokens(name, 0)) out += (out.empty() ? "" : " ") + t;
  return out;
}

std::string encode_body_base64(std::string_view body) {
  std::string canonical;
  canonical.reserve(body.size() + body.size() / 16);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') continue;  // the '\n' adds it
    if (body[i] == '\n' || body[i] == '\r') {
      canonical += "\r\n";
      continue;
    }
    canonical += body[i];
  }
  std::string b64 = base64_encode(canonical), out;
  for (size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
  return out;
}

MailMessage build_mail(const MailParts& p) {
  MailMessage m;
  Mailbox from, to, reply_to;
  std::string err;
  if (!parse_mailbox(p.from, from, err)) {
    m.error = "from: " + err;
    return m;
  }
  if (!valid_address(p.to_address, err)) {
    m.error = "buyer email: " + err;
    return m;
  }
  if (!p.reply_to.empty() && !parse_mailbox(p.reply_to, reply_to, err)) {
    m.error = "reply_to: " + err;
    return m;
  }
  if (!valid_key(p.message_key)) {
    m.error = "the idempotency key '" + p.message_key + "' cannot be a Message-ID";
    return m;
  }
  to.address = p.to_address;
  to.name = clean_buyer_text(p.to_name);  // G7: no CR/LF, no controls, bounded
  std::string& t = m.text;
  t += "Date: " + format_mail_date(p.date) + "\r\n";
  t += mailbox_header("From", from);
  t += mailbox_header("To", to);
  if (!p.reply_to.empty()) t += mailbox_header("Reply-To", reply_to);
  t += encode_header_text("Subject", p.subject);
  // Stable per send: a resend (at_least_once) carries the same id, so receivers and
  // operators can recognise the copy.
  t += "Message-ID: <" + p.message_key + "@" + from.domain() + ">\r\n";
  t += "MIME-Version: 1.0\r\n";
  t += "Content-Type: text/plain; charset=UTF-8\r\n";
  t += "Content-Transfer-Encoding: base64\r\n";
  t += "Auto-Submitted: auto-generated\r\n";  // RFC 3834: no vacation auto-replies to us
  t += "\r\n";
  t += encode_body_base64(p.body);
  m.envelope_from = from.address;
  return m;
}

MailParts mail_parts(const ChannelConf& conf, const SendJob& job, Millis now) {
  return MailParts{.from = conf.get("from"),
                   .reply_to = conf.get("reply_to"),
                   .to_address = job.buyer_email,
                   .to_name = job.buyer_name,
                   .subject = job.subject,
                   .body = job.body,
                   .message_key = job.idempotency_key,
                   .date = now};
}

}  // namespace nudge
