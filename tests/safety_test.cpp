#include <doctest/doctest.h>

#include <chrono>

#include "core/content_lint.h"
#include "core/policy.h"
#include "core/safety.h"
#include "core/safety_corpus.h"
#include "engine_fixture.h"
#include "helpers.h"

using namespace nudge;

namespace {

PolicyResult load(const std::string& body, const std::string& safety = "") {
  std::string yaml = test::base_policy() + safety;
  std::string from = "body: \"Hi {{buyer_name}}, {{order_count}} order(s), closes in {{closes_in}}\"";
  yaml.replace(yaml.find(from), from.size(), "body: \"" + body + "\"");
  return parse_policy(yaml, "shop.yaml");
}

std::vector<PolicyError> lint(const std::string& body, const std::string& safety = "") {
  return load(body, safety).errors;
}

std::string all(const std::vector<PolicyError>& errors) {
  std::string s;
  for (const auto& e : errors) s += e.to_string() + "\n";
  return s;
}

// The categories lint() finds in `text`, space-separated, in text order.
std::string categories(const std::string& text, const std::string& lang = "") {
  static ContentLint lint{LintConfig{}};
  std::string out;
  for (const auto& f : lint.lint(text, lang)) out += std::string(out.empty() ? "" : " ") + to_string(f.category);
  return out;
}

bool has_category(const std::string& text, const std::string& category, const std::string& lang = "") {
  return (" " + categories(text, lang) + " ").find(" " + category + " ") != std::string::npos;
}

}  // namespace

// Line 17 of base_policy holds the English body; its scalar's quote is at column 53.
TEST_CASE("an unsafe template is refused with the line and column of what matched, its category and the text") {
  auto e = lint("Pay here: https://paypal.me/x");
  REQUIRE_FALSE(e.empty());
  CHECK(all(e).find("shop.yaml:17:64: template 'gentle' (en): link 'https://paypal.me/x': a link to paypal.me") !=
        std::string::npos);

  e = lint("You can also pay by bank transfer.");
  REQUIRE(e.size() == 1);
  CHECK(e[0].line == 17);
  CHECK(e[0].col == 74);
  CHECK(e[0].message.find("payment_route 'bank transfer'") != std::string::npos);
}

TEST_CASE("columns count characters and follow block scalars onto their own lines") {
  std::string yaml = test::base_policy();
  std::string from =
      "en: {subject: \"Order {{first_order_id}}\", body: \"Hi {{buyer_name}}, {{order_count}} order(s), closes in "
      "{{closes_in}}\"}";
  REQUIRE(yaml.find(from) != std::string::npos);
  yaml.replace(yaml.find(from), from.size(),
               "en:\n      subject: \"Заказ {{first_order_id}}\"\n      body: |\n        Здравствуйте, "
               "{{buyer_name}}!\n        Звоните: +7 916 123-45-67");
  auto r = parse_policy(yaml, "shop.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(all(r.errors).find("shop.yaml:21:18: template 'gentle' (en): contact '+7 916 123-45-67'") !=
                    std::string::npos,
                all(r.errors));
}

TEST_CASE("each detector names its category") {
  struct Case {
    const char* text;
    const char* lang;
    const char* category;
  };
  const Case cases[] = {
      {"WhatsApp me", "en", "contact"},
      {"call +1 415 555 0132", "en", "contact"},
      {"звоните 8 (916) 765-43-21", "ru", "contact"},
      {"加我 13812345678", "zh", "contact"},
      {"wa.me/79161234567", "", "contact"},
      {"t.me/deals", "", "contact"},
      {"write to shop@gmail.com", "", "contact"},
      {"加V信 haohuo", "zh", "contact"},
      {"薇信 haohuo", "zh", "contact"},
      {"微x haohuo", "zh", "contact"},
      {"QQ 2845671234", "zh", "contact"},
      {"pague com Pix para a chave 123", "pt", "payment_route"},
      {"paga por Bizum", "es", "payment_route"},
      {"transferencia SPEI con CLABE", "es", "payment_route"},
      {"paga en OXXO con esta referencia", "es", "payment_route"},
      {"por Mercado Pago", "es", "payment_route"},
      {"via PicPay", "pt", "payment_route"},
      {"оплата по СБП по номеру телефона", "ru", "payment_route"},
      {"QIWI кошелёк", "ru", "payment_route"},
      {"на ЮMoney", "ru", "payment_route"},
      {"par Lydia", "fr", "payment_route"},
      {"支付宝扫码付款", "zh", "payment_route"},
      {"USDT only", "en", "payment_route"},
      {"IBAN GB29 NWBK 6016 1331 9268 19", "en", "account_number"},
      {"card 4111 8246 2819 4822", "en", "account_number"},
      {"карта 4276526018159080", "ru", "account_number"},
      {"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "", "account_number"},
      {"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "", "account_number"},
      {"0x52908400098527886E0F7030069857D2E4169EE7", "", "account_number"},
      {"TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL", "", "account_number"},
      {"私下交易", "zh", "off_platform"},
      {"线下付款", "zh", "off_platform"},
      {"直接转账给我", "zh", "off_platform"},
      {"pay us directly", "en", "off_platform"},
      {"cancel the order and buy on our website", "en", "off_platform"},
      {"оплатите минуя площадку", "ru", "off_platform"},
      {"payez hors plateforme", "fr", "off_platform"},
      {"paga por fuera", "es", "off_platform"},
      {"pague por fora", "pt", "off_platform"},
      {"see shop.xyz", "", "link"},
      {"bit.ly/abc", "", "link"},
      {"https://aliexpress.com.evil.io/pay", "", "link"},
      {"https://notaliexpress.com/pay", "", "link"},
      {"shopdeals . com", "", "link"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_MESSAGE(has_category(c.text, c.category, c.lang), "found: " << categories(c.text, c.lang));
  }
}

TEST_CASE("evasions are undone before matching") {
  const char* evasive[] = {
      "p.a.y.p.a.l",          "P A Y P A L",          "p-a-y-p-a-l",        "p_a_y_p_a_l",
      "p\xD0\xB0ypal",        // Cyrillic а
      "PayPaI",               // capital I for l
      "\xEF\xBD\x90\xEF\xBD\x81\xEF\xBD\x99\xEF\xBD\x90\xEF\xBD\x81\xEF\xBD\x8C",  // full-width
      "pay\xE2\x80\x8Bpal",   // zero-width space
      "p4yp4l",               // digits for letters
  };
  for (const char* t : evasive) {
    CAPTURE(t);
    CHECK(has_category(std::string("Pay with ") + t, "payment_route"));
  }
  // An evasive spelling is never excused by "in the app".
  CHECK(has_category("Pay with P.a.y.P.a.l in the app", "payment_route"));
  CHECK_FALSE(has_category("Pay with PayPal in the app", "payment_route"));
}

TEST_CASE("a payment method the platform offers passes in the app, and its off-platform uses do not") {
  CHECK(categories("Você pode pagar com Pix ou boleto no app do AliExpress.", "pt").empty());
  CHECK(has_category("Faça um PIX para 11987654321", "payment_route", "pt"));
  CHECK(has_category("Chave pix: e4b2c1d0-77aa", "payment_route", "pt"));
  CHECK(has_category("Pix no CPF 529.982.247-25", "account_number", "pt"));
  CHECK(has_category("pague via Pix", "payment_route", "pt"));
}

TEST_CASE("order numbers, prices, dates and the marketplace's links are not findings") {
  CHECK(categories("Order 8187654321098765 (33.31 USD), placed 2026-11-20 10:00, closes 2026-12-10.").empty());
  CHECK(categories("See https://www.aliexpress.com/p/order/detail.html?orderId=8187654321098765").empty());
  CHECK(categories("https://aliexpress.ru/order-list/8187654321098765 and https://m.aliexpress.com/orders").empty());
  CHECK(categories("Your Pixel case is waiting").empty());
  CHECK(categories("Bonjour Line, votre commande attend.").empty());
}

TEST_CASE("lint() reports category, matched text and byte offset of any text") {
  ContentLint l{LintConfig{}};
  std::string text = "Olá! Me chama no zap 11 91234-5678";
  auto found = l.lint(text, "pt");
  REQUIRE(found.size() == 3);
  CHECK(found[0].category == Category::kContact);
  CHECK(found[0].matched == "Me chama");
  CHECK(found[0].offset == text.find("Me chama"));
  CHECK(found[1].matched == "no zap");
  CHECK(found[1].allowable);  // wording: safety.allow may let it through
  CHECK(found[2].matched == "11 91234-5678");
  CHECK(found[2].detail == "a phone number");
  CHECK(found[2].offset == text.find("11 9"));
  CHECK(found[2].length == std::string("11 91234-5678").size());
  CHECK_FALSE(found[2].allowable);
}

TEST_CASE("pushy wording draws warnings, not errors, unless safety.tone is error") {
  auto r = load("PAY NOW OR WE CANCEL YOUR ORDER!!!");
  REQUIRE(r.ok());
  REQUIRE(r.warnings.size() >= 2);
  std::string w = all(r.warnings);
  CHECK(w.find("shop.yaml:17:54: warning: template 'gentle' (en): tone 'PAY NOW OR WE CANCEL YOUR ORDER': shouting") !=
        std::string::npos);
  CHECK(w.find("tone '!!!': a run of exclamation marks") != std::string::npos);
  CHECK(w.find("tone 'PAY NOW OR': a threat or ultimatum") != std::string::npos);

  auto strict = load("We will report your account.", "safety: {tone: error}\n");
  REQUIRE_FALSE(strict.ok());
  CHECK(all(strict.errors).find("tone 'report your account': a threat or ultimatum (safety.tone: error)") !=
        std::string::npos);
  CHECK(all(lint("Hi", "safety: {tone: loud}\n")).find("safety.tone must be warn or error, not 'loud'") !=
        std::string::npos);
}

TEST_CASE("safety.allow lets a phrase through with a note, but never a phone, an account number or a link") {
  auto r = load("Pague com Pix", "safety: {allow: [pague com pix]}\n");
  REQUIRE_MESSAGE(r.ok(), all(r.errors));
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].to_string().find("note: template 'gentle' (en): payment_route 'Pix'") != std::string::npos);
  CHECK(r.warnings[0].message.find("allowed by safety.allow 'pague com pix'") != std::string::npos);

  CHECK_FALSE(lint("call +1 415 555 0132", "safety: {allow: [\"call +1 415 555 0132\"]}\n").empty());
  CHECK_FALSE(lint("card 4111 8246 2819 4822", "safety: {allow: [\"card 4111 8246 2819 4822\"]}\n").empty());
  CHECK_FALSE(lint("see shop.xyz", "safety: {allow: [see shop.xyz]}\n").empty());
}

TEST_CASE("a template using {{order_url}} needs the marketplace's host allowed") {
  CHECK(lint("Pay at {{order_url}}").empty());
  auto e = lint("Pay at {{order_url}}", "safety: {allowed_link_hosts: [shop.example.com]}\n");
  REQUIRE(e.size() == 1);
  CHECK(e[0].message.find("uses {{order_url}}, a link to www.aliexpress.com, which is not in "
                          "safety.allowed_link_hosts") != std::string::npos);
}

TEST_CASE("any bytes at all are linted without a crash, and a long text in bounded time") {
  ContentLint l{LintConfig{}};
  std::string junk;
  for (int i = 0; i < 20000; ++i) junk += static_cast<char>((i * 7919) % 256);
  CHECK_NOTHROW(l.lint(junk, "ru"));
  CHECK_NOTHROW(l.tone(junk));
  std::string invalid = "pay\xC3pal \xF0\x9F\x98 +7 916 \xE2\x80 123-45-67 \xFF";
  CHECK_NOTHROW(l.lint(invalid, ""));
  std::string long_text;
  for (int i = 0; i < 2000; ++i) long_text += "Hola, pague en la app el pedido 8001 por 33,31 USD. ";
  auto t0 = std::chrono::steady_clock::now();
  CHECK(l.lint(long_text, "es").empty());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("the seller's own forbidden phrases and allowed hosts extend the lists") {
  CHECK_FALSE(lint("Ask about our Discount Club", "safety: {forbidden_phrases: [discount club]}\n").empty());
  CHECK_FALSE(lint("Ask about our D1SCOUNT CLUB", "safety: {forbidden_phrases: [discount club]}\n").empty());
  CHECK(lint("https://shop.example.com/help", "safety: {allowed_link_hosts: [aliexpress.com, shop.example.com]}\n")
            .empty());
  CHECK_FALSE(lint("https://evil.example.com/help", "safety: {allowed_link_hosts: [example.co]}\n").empty());
}

TEST_CASE("the corpus: every off-platform message refused, every legitimate one accepted, every pushy one warned") {
  auto corpus = read_corpus(std::string(NUDGE_SOURCE_DIR) + "/tests/safety/corpus");
  std::map<std::string, std::map<std::string, int>> sizes;
  ContentLint l{LintConfig{}};
  for (const auto& m : corpus) {
    sizes[m.lang][m.kind]++;
    Verdict v = judge(l, m);
    std::string found;
    for (const auto& f : v.findings) found += " " + std::string(to_string(f.category)) + " '" + f.matched + "'";
    for (const auto& f : v.tone) found += " tone '" + f.matched + "'";
    CHECK_MESSAGE(v.ok(m), m.lang << "/" << m.kind << ".txt:" << m.line << ": " << m.text << "\n  found:" << found);
  }
  for (const char* lang : {"en", "es", "pt", "ru", "fr", "zh"}) {
    CAPTURE(lang);
    CHECK(sizes[lang]["bad"] >= 40);
    CHECK(sizes[lang]["legit"] >= 40);
    CHECK(sizes[lang]["pushy"] >= 10);
  }
}

TEST_CASE("nudgectl check names every unsafe template and warns about the pushy one") {
  auto r = test::run({NUDGECTL_PATH, "check", std::string(NUDGE_SOURCE_DIR) + "/tests/safety/check-demo.yaml"});
  CHECK(r.status == 78);
  for (const char* want : {"check-demo.yaml:16:84: template 'contact' (en): contact 'WhatsApp'",
                           "check-demo.yaml:16:97: template 'contact' (en): contact '+1 415 555 0132': a phone number",
                           "check-demo.yaml:18:74: template 'payment_route' (pt): payment_route 'faça um PIX'",
                           "check-demo.yaml:21:84: template 'account_number' (ru): account_number '2202 9139 0996 0300'",
                           "check-demo.yaml:28:9: template 'off_platform' (en): off_platform 'cancel the order and buy",
                           "check-demo.yaml:30:66: template 'link' (es): link 'bit.ly/pagoAli'",
                           "check-demo.yaml:33:20: warning: template 'pushy' (en): tone 'LAST WARNING'",
                           "check-demo.yaml:33:49: warning: template 'pushy' (en): tone '!!!'"}) {
    CAPTURE(want);
    CHECK(r.err.find(want) != std::string::npos);
  }
  CHECK(r.err.find("template 'gentle'") == std::string::npos);

  // Warnings alone: exit 0, and the summary counts them.
  test::TempDir dir;
  std::string yaml = test::base_policy();
  std::string from = "body: \"Hi {{buyer_name}}, {{order_count}} order(s), closes in {{closes_in}}\"";
  yaml.replace(yaml.find(from), from.size(), "body: \"Pay now!!!\"");
  test::write_file(dir / "p.yaml", yaml);
  auto ok = test::run({NUDGECTL_PATH, "check", dir / "p.yaml"});
  CHECK(ok.status == 0);
  CHECK(ok.err.find("p.yaml:17:61: warning: template 'gentle' (en): tone '!!!'") != std::string::npos);
  CHECK(ok.out.find("policy is valid (1 warning)") != std::string::npos);
  auto daemon = test::run({NUDGED_PATH, "--check", "--config", dir / "p.yaml"});
  CHECK(daemon.status == 0);
  CHECK(daemon.err.find("warning: template 'gentle' (en): tone '!!!'") != std::string::npos);
}

TEST_CASE("a rendered message carrying a phone number is skipped as unsafe_content:contact, audited, never sent") {
  test::EngineFixture f;
  // The template is clean; the buyer's name, an order field, carries a phone number.
  auto o = test::make_order({.id = "o1", .lang = "en"});
  o.buyer_name = "Ana WhatsApp +7 916 123-45-67";
  f.engine->ingest({o});
  f.add({.id = "o2", .buyer = "b2"});  // a clean one beside it still goes
  f.run_until(test::T0 + 3 * kHour);
  REQUIRE(f.delivered.size() == 1);
  CHECK(f.delivered[0].buyer_id == "b2");
  CHECK(f.step_state("o1", "first") == "skipped");
  auto skipped = f.reasons("skipped");
  CHECK(std::count(skipped.begin(), skipped.end(), "unsafe_content:contact") == 1);
  auto& db = f.store->db();
  CHECK(db.execAndGet("SELECT COUNT(*) FROM sends WHERE buyer_id='b1'").getInt() == 0);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM ledger WHERE buyer_id='b1'").getInt() == 0);
  auto line = db.execAndGet("SELECT line FROM audit WHERE event='skipped' AND buyer='b1'").getString();
  CHECK(line.find("\"reason\":\"unsafe_content:contact\"") != std::string::npos);
  CHECK(line.find("916") == std::string::npos);  // the audit holds no message text
}

TEST_CASE("an order id carrying a card number is skipped as unsafe_content:account_number") {
  std::string yaml = test::base_policy();
  test::EngineFixture f(yaml);
  f.add({.id = "4111 8246 2819 4822"});
  f.run_until(test::T0 + 3 * kHour);
  CHECK(f.delivered.empty());
  auto skipped = f.reasons("skipped");
  CHECK(std::count(skipped.begin(), skipped.end(), "unsafe_content:account_number") == 1);
}
