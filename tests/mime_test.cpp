#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/mime.h"
#include "core/time_util.h"

using namespace nudge;

namespace {

std::string b64_decode(const std::string& in) {
  std::string out(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  REQUIRE(n >= 0);
  size_t pad = in.size() >= 2 && in[in.size() - 2] == '=' ? 2 : (!in.empty() && in.back() == '=' ? 1 : 0);
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::vector<std::string> split_crlf(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t e; (e = text.find("\r\n", at)) != std::string::npos; at = e + 2) lines.push_back(text.substr(at, e - at));
  if (at < text.size()) lines.push_back(text.substr(at));
  return lines;
}

// What a mail reader does with an unstructured header: unfold, then decode each
// encoded word (the whitespace between two encoded words is dropped, RFC 2047 6.2).
std::string decode_header_value(const std::string& header_line) {
  std::string unfolded;
  for (const auto& l : split_crlf(header_line)) unfolded += l;
  std::string value = unfolded.substr(unfolded.find(": ") + 2);
  if (value.rfind("=?", 0) != 0) return value;
  std::string out;
  size_t at = 0;
  while ((at = value.find("=?UTF-8?B?", at)) != std::string::npos) {
    size_t end = value.find("?=", at + 10);
    REQUIRE(end != std::string::npos);
    out += b64_decode(value.substr(at + 10, end - at - 10));
    at = end + 2;
  }
  return out;
}

void check_line_limits(const std::string& header) {
  for (const auto& l : split_crlf(header)) {
    CHECK(l.size() <= 78);
    size_t at = 0;
    while ((at = l.find("=?", at)) != std::string::npos) {
      size_t end = l.find("?=", at + 10);
      CHECK(end - at + 2 <= 75);
      at = end + 2;
    }
  }
}

MailParts parts() {
  return MailParts{.from = "Shop <shop@example.com>",
                   .to_address = "ana@example.com",
                   .to_name = "Ana Ruiz",
                   .subject = "Your order 8001 is waiting",
                   .body = "Hi Ana,\nplease pay.\n",
                   .message_key = "0123456789abcdef0123456789abcdef",
                   .date = *parse_instant("2026-11-20T12:00:00Z")};
}

std::vector<std::string> header_lines(const std::string& message) {
  return split_crlf(message.substr(0, message.find("\r\n\r\n")));
}

}  // namespace

TEST_CASE("subjects in any language decode back to the text that was rendered") {
  const std::vector<std::string> subjects = {
      "Your order 8001 is waiting",
      "Ваш заказ 8001 ждёт оплаты",
      "您的订单 8001 等待付款",
      "Tu pedido 8001 espera el pago 🛒",
      "Последнее напоминание: заказ 8001 закроется через 2 дня — оплатите его в приложении, в разделе «Мои заказы»",
      "最后提醒：订单 8001 将在 2 天后关闭。如仍需要，请在应用的“我的订单”中付款；如不需要，无需任何操作。",
  };
  for (const auto& s : subjects) {
    CAPTURE(s);
    std::string h = encode_header_text("Subject", s);
    CHECK(h.rfind("Subject: ", 0) == 0);
    CHECK(decode_header_value(h) == s);
    check_line_limits(h);
  }
}

TEST_CASE("a long subject is folded into encoded words of at most 75 and lines of at most 78 characters") {
  std::string s;
  for (int i = 0; i < 12; ++i) s += "Ваш заказ ждёт оплаты. ";
  std::string h = encode_header_text("Subject", s);
  auto lines = split_crlf(h);
  CHECK(lines.size() > 3);
  for (size_t i = 1; i < lines.size(); ++i) CHECK(lines[i].rfind(" =?UTF-8?B?", 0) == 0);  // folded, not new headers
  check_line_limits(h);
  CHECK(decode_header_value(h) == s);
}

TEST_CASE("a short ASCII subject stays readable and control characters never reach a header") {
  CHECK(encode_header_text("Subject", "Order 8001") == "Subject: Order 8001\r\n");
  CHECK(encode_header_text("Subject", "Order\r\nBcc: evil@x") == "Subject: Order  Bcc: evil@x\r\n");
}

TEST_CASE("a buyer name carrying CR LF and a Bcc header adds no header") {
  for (std::string name : {"Ana\r\nBcc: evil@x", "Ana\nBcc: evil@x", "Ana\rBcc: evil@x", "Аня\r\nBcc: evil@x"}) {
    CAPTURE(name);
    MailParts p = parts();
    p.to_name = name;
    MailMessage m = build_mail(p);
    REQUIRE(m.ok());
    int to = 0;
    for (const auto& l : header_lines(m.text)) {
      CHECK(l.rfind("Bcc", 0) != 0);
      if (l.rfind("To:", 0) == 0) ++to;
      CHECK((l[0] == ' ' || l.find(": ") != std::string::npos));  // a header or its continuation
    }
    CHECK(to == 1);
    // The header block ends where it should: nothing was pushed into the body either.
    std::string last = "Auto-Submitted: auto-generated";
    CHECK(m.text.find("\r\n\r\n") == m.text.find(last) + last.size());
  }
}

TEST_CASE("the Message-ID is the send's idempotency key at the sender's domain") {
  MailMessage m = build_mail(parts());
  REQUIRE(m.ok());
  CHECK(m.text.find("\r\nMessage-ID: <0123456789abcdef0123456789abcdef@example.com>\r\n") != std::string::npos);
  CHECK(build_mail(parts()).text == m.text);  // the same send gives the same message: a resend is recognisable
  MailParts other = parts();
  other.message_key = "fedcba9876543210fedcba9876543210";
  CHECK(build_mail(other).text.find("<fedcba9876543210fedcba9876543210@example.com>") != std::string::npos);
  other.message_key = "bad key>";
  CHECK_FALSE(build_mail(other).ok());
}

TEST_CASE("the message has the headers a mail client and an MTA expect, in CRLF lines") {
  MailParts p = parts();
  p.reply_to = "Help <help@example.com>";
  MailMessage m = build_mail(p);
  REQUIRE(m.ok());
  CHECK(m.envelope_from == "shop@example.com");
  auto lines = header_lines(m.text);
  auto has = [&](const std::string& l) { return std::find(lines.begin(), lines.end(), l) != lines.end(); };
  CHECK(has("Date: Fri, 20 Nov 2026 12:00:00 +0000"));
  CHECK(has("From: Shop <shop@example.com>"));
  CHECK(has("To: Ana Ruiz <ana@example.com>"));
  CHECK(has("Reply-To: Help <help@example.com>"));
  CHECK(has("Subject: Your order 8001 is waiting"));
  CHECK(has("MIME-Version: 1.0"));
  CHECK(has("Content-Type: text/plain; charset=UTF-8"));
  CHECK(has("Content-Transfer-Encoding: base64"));
  CHECK(has("Auto-Submitted: auto-generated"));
  std::string body = m.text.substr(m.text.find("\r\n\r\n") + 4);
  for (const auto& l : split_crlf(body)) CHECK(l.size() <= 76);
  std::string joined;
  for (const auto& l : split_crlf(body)) joined += l;
  CHECK(b64_decode(joined) == "Hi Ana,\r\nplease pay.\r\n");
  // No bare LF anywhere: SMTP servers reject or rewrite them.
  for (size_t i = 0; i < m.text.size(); ++i)
    if (m.text[i] == '\n') CHECK((i > 0 && m.text[i - 1] == '\r'));
}

TEST_CASE("display names are atoms, quoted strings or encoded words") {
  CHECK(encode_display_name("Ana Ruiz") == "Ana Ruiz");
  CHECK(encode_display_name("Ruiz, Ana") == "\"Ruiz, Ana\"");
  CHECK(encode_display_name("Ana \"AR\" R.") == "\"Ana \\\"AR\\\" R.\"");
  CHECK(encode_display_name("=?UTF-8?B?QmNjOg==?=") == "\"=?UTF-8?B?QmNjOg==?=\"");  // shown as typed, not decoded
  std::string ru = encode_display_name("Магазин");
  CHECK(ru == "=?UTF-8?B?" + std::string("0JzQsNCz0LDQt9C40L0=") + "?=");
  MailParts p = parts();
  p.from = "Магазин «Ромашка» <shop@example.com>";
  MailMessage m = build_mail(p);
  REQUIRE(m.ok());
  CHECK(m.text.find("From: =?UTF-8?B?") != std::string::npos);
}

TEST_CASE("addresses with CR, LF, control characters or no domain are refused, as values") {
  struct Case {
    std::string address;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"ana@example.com", true},
      {"ana.ruiz+shop@mail.example.co.uk", true},
      {"ana@example.com\r\nBcc: evil@x", false},
      {"ana@example.com\n", false},
      {"ana\t@example.com", false},
      {"ana@exam\x01ple.com", false},
      {"ana example@example.com", false},
      {"ana@", false},
      {"@example.com", false},
      {"ana", false},
      {"<ana@example.com>", false},
      {"ana@example.com,evil@x", false},
      {"аня@example.com", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.address);
    std::string err;
    CHECK(valid_address(c.address, err) == c.ok);
    CHECK(err.empty() == c.ok);
    MailParts p = parts();
    p.to_address = c.address;
    MailMessage m = build_mail(p);
    CHECK(m.ok() == c.ok);
    if (!c.ok) CHECK(m.text.empty());
  }
  MailParts p = parts();
  p.from = "Shop <shop@example.com>\r\nBcc: evil@x";
  CHECK_FALSE(build_mail(p).ok());
}

TEST_CASE("mailboxes parse with and without a display name") {
  Mailbox mb;
  std::string err;
  REQUIRE(parse_mailbox("Shop <shop@example.com>", mb, err));
  CHECK(mb.name == "Shop");
  CHECK(mb.address == "shop@example.com");
  CHECK(mb.domain() == "example.com");
  REQUIRE(parse_mailbox("\"Shop, Inc.\" <shop@example.com>", mb, err));
  CHECK(mb.name == "Shop, Inc.");
  REQUIRE(parse_mailbox("  shop@example.com ", mb, err));
  CHECK(mb.name.empty());
  CHECK(mb.address == "shop@example.com");
  CHECK_FALSE(parse_mailbox("Shop shop@example.com>", mb, err));
}

TEST_CASE("the Date header is RFC 5322 in UTC") {
  CHECK(format_mail_date(*parse_instant("2026-11-20T12:00:00Z")) == "Fri, 20 Nov 2026 12:00:00 +0000");
  CHECK(format_mail_date(*parse_instant("2027-01-03T07:08:09Z")) == "Sun, 03 Jan 2027 07:08:09 +0000");
}
