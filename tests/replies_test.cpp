#include <doctest/doctest.h>

#include <map>
#include <set>

#include "core/replies.h"
#include "core/reply_corpus.h"

using namespace nudge;

namespace {
const ContentLint& lint() {
  static ContentLint l(LintConfig{});
  return l;
}
}  // namespace

TEST_CASE("every reply of the corpus gets the class it is labelled with") {
  auto corpus = read_reply_corpus(NUDGE_SOURCE_DIR "/tests/replies");
  for (const auto& s : corpus) {
    CAPTURE(s.where);
    CAPTURE(s.text);
    ReplyVerdict v = classify_reply(s.text, s.lang, lint());
    CAPTURE(v.matched);
    CHECK(to_string(v.cls) == expected_class(s));
  }
}

TEST_CASE("the corpus has every class, look-alikes included, in each of the six languages") {
  auto corpus = read_reply_corpus(NUDGE_SOURCE_DIR "/tests/replies");
  std::map<std::string, std::map<std::string, int>> n;
  for (const auto& s : corpus) n[s.lang][s.label]++;
  for (const char* lang : {"en", "es", "pt", "ru", "fr", "zh"})
    for (const char* label : {"opt_out", "off_platform", "promise", "other", "lookalike"}) {
      CAPTURE(lang);
      CAPTURE(label);
      CHECK(n[lang][label] >= 4);
    }
}

TEST_CASE("opt-out wins over an off-platform request, and an off-platform request over a promise") {
  auto v = classify_reply("stop messaging me, or whatsapp me at +1 415 555 0134", "en", lint());
  CHECK(v.cls == ReplyClass::kOptOut);
  v = classify_reply("I'll pay tomorrow by bank transfer", "en", lint());
  CHECK(v.cls == ReplyClass::kOffPlatform);
  CHECK(v.category == "payment_route");
  v = classify_reply("I'll pay tomorrow", "en", lint());
  CHECK(v.cls == ReplyClass::kPromise);
}

TEST_CASE("a keyword is an opt-out only as the whole message") {
  CHECK(classify_reply("CANCEL", "", lint()).cls == ReplyClass::kOptOut);
  CHECK(classify_reply("  stop!!! ", "", lint()).cls == ReplyClass::kOptOut);
  CHECK(classify_reply("cancel the red one please", "", lint()).cls == ReplyClass::kOther);
  CHECK(classify_reply("the end of the month", "", lint()).cls == ReplyClass::kOther);
}

TEST_CASE("junk, empty and huge replies are classified without a crash") {
  CHECK(classify_reply("", "", lint()).cls == ReplyClass::kOther);
  CHECK(classify_reply(std::string("\xff\xfe\x80 stop", 8), "", lint()).cls == ReplyClass::kOptOut);
  std::string huge(200000, 'a');
  CHECK(classify_reply(huge, "", lint()).cls == ReplyClass::kOther);
  CHECK(classify_reply(std::string("st\0op", 5), "", lint()).cls == ReplyClass::kOther);
}

TEST_CASE("a promise waits replies.promise after the reply, any other reply replies.pause, 0s turns the pause off") {
  const Millis h = 3600000;
  auto w = reply_wait(ReplyClass::kPromise, 1000, 2000, 24 * h, 12 * h);
  REQUIRE(w);
  CHECK(w->until == 1000 + 24 * h);
  CHECK(w->reason == "buyer_promised");
  w = reply_wait(ReplyClass::kOther, 1000, 2000, 24 * h, 12 * h);
  REQUIRE(w);
  CHECK(w->until == 1000 + 12 * h);
  CHECK(w->reason == "buyer_replied");
  CHECK_FALSE(reply_wait(ReplyClass::kOther, 1000, 2000, 24 * h, 0));
  CHECK_FALSE(reply_wait(ReplyClass::kPromise, 1000, 1000 + 24 * h, 24 * h, 0));  // over
  CHECK_FALSE(reply_wait(ReplyClass::kOptOut, 1000, 2000, 24 * h, 12 * h));
}
