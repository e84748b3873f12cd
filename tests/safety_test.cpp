#include <doctest/doctest.h>

#include "core/policy.h"
#include "engine_fixture.h"

using namespace nudge;

namespace {

std::vector<PolicyError> lint(const std::string& body, const std::string& safety = "") {
  std::string yaml = test::base_policy() + safety;
  std::string from = "body: \"Hi {{buyer_name}}, {{order_count}} order(s), closes in {{closes_in}}\"";
  yaml.replace(yaml.find(from), from.size(), "body: \"" + body + "\"");
  return parse_policy(yaml, "shop.yaml").errors;
}

}  // namespace

TEST_CASE("a template linking outside the allowed hosts is rejected with its line and column") {
  auto e = lint("Pay here: https://paypal.me/x");
  REQUIRE_FALSE(e.empty());
  CHECK(e[0].to_string().rfind("shop.yaml:17:53: template 'gentle' (en) links to 'paypal.me'", 0) == 0);
}

TEST_CASE("a template asking for a bank transfer is rejected with its line and column") {
  auto e = lint("You can also pay by bank transfer.");
  REQUIRE(e.size() == 1);
  CHECK(e[0].line == 17);
  CHECK(e[0].col == 53);
  CHECK(e[0].message.find("mentions 'bank transfer'") != std::string::npos);
}

TEST_CASE("off-platform payment wording is caught in every shipped language") {
  const char* bodies[] = {
      "Pay with PayPal", "Send it by Western Union", "WeChat Pay accepted", "pay in crypto", "USDT please",
      "You can pay outside AliExpress", "wire transfer is fine",
      "Pague por transferencia bancaria", "puede pagar fuera de la plataforma",
      "pague via Pix", "transferência bancária",
      "Оплата переводом на карту", "Банковский перевод",
      "par virement bancaire", "payer en dehors de la plateforme",
      "请用银行转账付款", "可以微信支付",
  };
  for (const char* b : bodies) {
    CAPTURE(b);
    CHECK_FALSE(lint(b).empty());
  }
}

TEST_CASE("allowed links, aliexpress subdomains and ordinary words pass") {
  CHECK(lint("See https://www.aliexpress.com/p/order/detail.html?orderId={{first_order_id}}").empty());
  CHECK(lint("See https://m.aliexpress.com/orders").empty());
  CHECK(lint("Pay in the app under My Orders; the order closes in {{closes_in}}.").empty());
  CHECK(lint("Your Pixel case is waiting").empty());  // 'pix' only as a word
}

TEST_CASE("the seller's own forbidden phrases and allowed hosts extend the lists") {
  CHECK_FALSE(lint("Ask about our Discount Club", "safety: {forbidden_phrases: [discount club]}\n").empty());
  CHECK(lint("https://shop.example.com/help",
             "safety: {allowed_link_hosts: [aliexpress.com, shop.example.com]}\n").empty());
  CHECK_FALSE(lint("https://evil.example.com/help", "safety: {allowed_link_hosts: [example.co]}\n").empty());
  // A look-alike host is not a subdomain.
  CHECK_FALSE(lint("https://aliexpress.com.evil.io/pay").empty());
  CHECK_FALSE(lint("https://notaliexpress.com/pay").empty());
}
