// Mime: turns one reminder into an RFC 5322 email (UTF-8 text, RFC 2047 encoded
// headers, base64 body, CRLF line endings) for the smtp and sendmail channels.
// Pure functions of their arguments (the date is passed in): safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/engine.h"
#include "core/policy.h"

namespace nudge {

struct Mailbox {
  std::string name;     // display name, UTF-8, may be empty
  std::string address;  // local@domain, ASCII
  std::string domain() const { return address.substr(address.rfind('@') + 1); }
};

// Checks a bare address: printable ASCII, one '@', a local part and a domain, no
// spaces, brackets, quotes or separators. CR/LF and control characters are refused
// here, so a hostile value can never start a header or an SMTP command.
bool valid_address(std::string_view address, std::string& error);

// Parses "Shop <shop@example.com>", "\"Shop, Inc.\" <shop@example.com>" or a bare
// "shop@example.com". False, with `error` saying why, on anything valid_address
// refuses or a display name with control characters.
bool parse_mailbox(std::string_view text, Mailbox& out, std::string& error);

// "Thu, 26 Nov 2026 12:40:55 +0000" (RFC 5322 section 3.3), always in UTC.
std::string format_mail_date(Millis at);

// An unstructured header value for a header named `name` (without ": "): kept as
// is when it is short printable ASCII, else RFC 2047 base64 words ("=?UTF-8?B?...?="),
// each at most 75 characters and split on whole UTF-8 characters, folded with CRLF
// SP so that no line passes 78 characters. Control characters become spaces.
std::string encode_header_text(std::string_view name, std::string_view text);

// A display name for From/To/Reply-To: an atom phrase, a quoted string, or encoded
// words when it is not ASCII. Empty input gives "".
std::string encode_display_name(std::string_view name);

// The body as canonical text (CRLF line breaks) in base64, 76-character lines.
std::string encode_body_base64(std::string_view body);

struct MailParts {
  std::string from;         // policy `from`, "Shop <shop@example.com>"
  std::string reply_to;     // policy `reply_to`, optional
  std::string to_address;   // the buyer's email
  std::string to_name;      // the buyer's name as given; cleaned here
  std::string subject, body;
  std::string message_key;  // the send's idempotency key: Message-ID <key@domain of from>
  Millis date = 0;
};

struct MailMessage {
  std::string text;           // the whole message, CRLF line endings; empty on error
  std::string envelope_from;  // the bare `from` address, for MAIL FROM
  std::string error;          // why it could not be built (bad address, empty key)
  bool ok() const { return error.empty(); }
};

MailMessage build_mail(const MailParts& parts);

// The parts for a SendJob on an smtp or sendmail channel, dated `now`.
MailParts mail_parts(const ChannelConf& conf, const SendJob& job, Millis now);

}  // namespace nudge
