// Replies: what a buyer's answer to a reminder asks for. A pure classifier (opt-out,
// off-platform request, promise to pay, anything else) and the pure decision of what
// each class does to the buyer's reminders. Safe from any thread: the classifier's
// patterns are compiled once, and the content lint it is given is immutable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/content_lint.h"

namespace nudge {

enum class ReplyClass { kOptOut, kOffPlatform, kPromise, kOther };

// "opt_out", "off_platform", "promise", "other": the names in the corpus, the audit
// detail and `nudgectl buyer`.
const char* to_string(ReplyClass c);
std::optional<ReplyClass> parse_reply_class(std::string_view s);

struct ReplyVerdict {
  ReplyClass cls = ReplyClass::kOther;
  // For kOffPlatform: the content lint's category ("payment_route", "contact",
  // "account_number", "off_platform"); empty otherwise.
  std::string category;
  // What decided it, as written in the text (a keyword, a phrase, a lint finding).
  std::string matched;
};

// Classifies a buyer's reply. Opt-out wins over everything (the standard keywords
// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ARRET, TD, 退订 ... as the whole
// message, and plain phrases in en, es, pt, ru, fr and zh whatever `lang` says);
// then an off-platform request (`lint`'s contact routes, payment routes, account
// numbers and off-platform wording, after its normalisation; findings a
// safety.allow phrase covers do not count); then a promise to pay; else kOther.
// Look-alikes ("don't stop my order", "stop by the post office") are kOther.
// `lang` ("pt-BR", "ru", or empty) only adds its countries' phone formats.
ReplyVerdict classify_reply(std::string_view text, std::string_view lang, const ContentLint& lint);

// The text as the classifier's phrases see it: NFKC, case folded, accents dropped,
// everything that is not a letter or a digit a single space, padded with one space
// on each side. Exposed for tests.
std::string reply_words(std::string_view text);

// What the buyer's latest reply does to an automatic step due now (the "waits until"
// half of the decision; opt-outs and flags act when the reply is taken).
struct ReplyWait {
  Millis until = 0;
  std::string reason;  // "buyer_promised" or "buyer_replied"
};

// `promise` and `pause` are replies.promise and replies.pause; a pause of 0 turns the
// wait after ordinary replies off. Nothing when the reply asks for no wait or the wait
// is over at `now`.
std::optional<ReplyWait> reply_wait(ReplyClass latest, Millis reply_at, Millis now, Millis promise, Millis pause);

}  // namespace nudge
