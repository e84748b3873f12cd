#include <doctest/doctest.h>

#include "core/render.h"
#include "core/safety.h"
#include "core/time_util.h"
#include "engine_fixture.h"

using namespace nudge;

TEST_CASE("the language is buyer_lang, then languages.<COUNTRY>, then languages.default") {
  auto p = test::policy_from(test::base_policy() + "languages: {default: en, MX: es, BR: pt}\n");
  const Template& t = p->templates.at("gentle");  // has en and es
  CHECK(choose_language(*p, t, "es", "US") == "es");
  CHECK(choose_language(*p, t, "es-AR", "US") == "es");
  CHECK(choose_language(*p, t, "", "MX") == "es");
  CHECK(choose_language(*p, t, "de", "MX") == "es");  // no German text: the country's language
  CHECK(choose_language(*p, t, "", "BR") == "en");    // no Portuguese text: the default
  CHECK(choose_language(*p, t, "", "") == "en");
}

TEST_CASE("closes_in reads naturally in the shipped languages") {
  CHECK(human_duration(3 * kDay + kHour, "en") == "3 days");
  CHECK(human_duration(kDay + 5 * kHour, "en") == "29 hours");
  CHECK(human_duration(90 * kSecond, "en") == "1 minute");
  CHECK(human_duration(5 * kDay, "es") == "5 días");
  CHECK(human_duration(2 * kDay, "pt") == "2 dias");
  CHECK(human_duration(2 * kDay, "fr") == "2 jours");
  CHECK(human_duration(21 * kDay, "ru") == "21 день");
  CHECK(human_duration(3 * kDay, "ru") == "3 дня");
  CHECK(human_duration(5 * kDay, "ru") == "5 дней");
  CHECK(human_duration(12 * kDay, "ru") == "12 дней");
  CHECK(human_duration(3 * kHour, "zh") == "3 小时");
}

TEST_CASE("a merged message lists every order and totals them") {
  std::string yaml = test::base_policy();
  yaml.replace(yaml.find("body: \"Hi {{buyer_name}}, {{order_count}} order(s), closes in {{closes_in}}\""), 76,
               "body: \"{{#orders}}[{{order_id}} {{amount}} {{currency}}]{{/orders}} total {{total}} & more\"");
  auto p = test::policy_from(yaml);
  RenderInput in{.tmpl = "gentle", .buyer_name = "Ana", .country = "ES", .shop = "s1", .step = "first",
                 .orders = {{"o1", "10.50", "USD", 0, 10 * kDay}, {"o2", "2.25", "USD", 0, 5 * kDay}}, .now = 0};
  auto r = render_message(*p, in);
  CHECK(r.body == "[o1 10.50 USD][o2 2.25 USD] total 12.75 USD & more");
  CHECK(r.subject == "Order o1");
}

TEST_CASE("buyer-supplied text is cleaned before rendering") {
  CHECK(clean_buyer_text("Ana\r\nBcc: x@y.example") == "Ana Bcc: x@y.example");
  CHECK(clean_buyer_text("Bob\tthe\x01" "builder") == "Bob the builder");
  CHECK(clean_buyer_text("Eve https://evil.example/pay now") == "Eve now");
  CHECK(clean_buyer_text("Mallory www.pay-here.com") == "Mallory");
  CHECK(clean_buyer_text("Trudy paypal.me/trudy") == "Trudy");
  CHECK(clean_buyer_text("Ольга Петрова") == "Ольга Петрова");
  CHECK(clean_buyer_text("王芳") == "王芳");
  CHECK(clean_buyer_text(std::string(200, 'a')).size() == 64);
  CHECK(clean_buyer_text("Ж" + std::string(100, 'x'), 3) == "Жxx");
  CHECK(clean_buyer_text("bad\xff\xfe utf8") == "bad utf8");
  CHECK(clean_buyer_text("line\xe2\x80\xa8separator") == "line separator");
}
