// bench/safety: the content lint on its corpus. Prints recall (bad messages refused,
// and found under their own category) and false-positive rates (legitimate messages
// refused or warned) per language and category, pushy messages warned, and the time
// to lint one rendered message, which happens before every send (target < 50 µs).
//
//   bench/safety [CORPUS_DIR] [--misses]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "core/content_lint.h"
#include "core/safety_corpus.h"

using namespace nudge;

int main(int argc, char** argv) {
  std::string dir = NUDGE_SOURCE_DIR "/tests/safety/corpus";
  bool misses = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--misses") misses = true;
    else dir = a;
  }
  std::vector<CorpusMessage> corpus;
  try {
    corpus = read_corpus(dir);
  } catch (const std::exception& e) {
    std::cerr << "bench/safety: " << e.what() << "\n";
    return 1;
  }
  ContentLint lint(LintConfig{});
  const char* cats[] = {"contact", "payment_route", "account_number", "off_platform", "link"};
  struct Count {
    int n = 0, hit = 0;
  };
  std::map<std::string, std::map<std::string, Count>> recall, cat_recall;  // lang -> category
  std::map<std::string, std::map<std::string, Count>> fp;                  // lang -> category (+ "tone", "any")
  std::map<std::string, Count> pushy, legit_n;
  std::set<std::string> langs;
  for (const auto& m : corpus) {
    langs.insert(m.lang);
    Verdict v = judge(lint, m);
    if (m.kind == "bad") {
      recall[m.lang][m.category].n++;
      recall[m.lang][m.category].hit += v.refused;
      recall["all"][m.category].n++;
      recall["all"][m.category].hit += v.refused;
      cat_recall[m.lang][m.category].n++;
      cat_recall[m.lang][m.category].hit += v.category_found;
      cat_recall["all"][m.category].n++;
      cat_recall["all"][m.category].hit += v.category_found;
    } else if (m.kind == "legit") {
      std::set<std::string> seen;
      for (const auto& f : v.findings)
        if (f.allowed_by.empty()) seen.insert(to_string(f.category));
      if (v.warned) seen.insert("tone");
      for (const std::string& l : {m.lang, std::string("all")}) {
        legit_n[l].n++;
        if (!seen.empty()) legit_n[l].hit++;
        for (const auto& c : seen) fp[l][c].hit++;
      }
    } else {
      for (const std::string& l : {m.lang, std::string("all")}) {
        pushy[l].n++;
        pushy[l].hit += v.ok(m);
      }
    }
    if (misses && !v.ok(m)) {
      std::cout << "MISS " << m.lang << "/" << m.kind << ".txt:" << m.line << " [" << m.category << "] " << m.text << "\n";
      for (const auto& f : v.findings)
        std::cout << "      " << to_string(f.category) << " '" << f.matched << "' " << f.detail << "\n";
      for (const auto& f : v.tone) std::cout << "      tone '" << f.matched << "' " << f.detail << "\n";
    }
  }
  langs.insert("all");
  auto pct = [](const Count& c) {
    char buf[32];
    if (c.n == 0) return std::string("    -  ");
    std::snprintf(buf, sizeof buf, "%5.1f%%", 100.0 * c.hit / c.n);
    return std::string(buf);
  };
  std::printf("corpus: %zu messages in %s\n\n", corpus.size(), dir.c_str());
  std::printf("recall: bad messages refused (and found under their own category), per language and category\n");
  std::printf("%-5s", "lang");
  for (auto c : cats) std::printf(" %22s", c);
  std::printf(" %22s\n", "all");
  for (const auto& l : langs) {
    std::printf("%-5s", l.c_str());
    Count total, total_cat;
    for (auto c : cats) {
      Count r = recall[l][c], rc = cat_recall[l][c];
      total.n += r.n;
      total.hit += r.hit;
      total_cat.n += rc.n;
      total_cat.hit += rc.hit;
      std::printf(" %6s (%6s) n=%-3d", pct(r).c_str(), pct(rc).c_str(), r.n);
    }
    std::printf(" %6s (%6s) n=%-3d\n", pct(total).c_str(), pct(total_cat).c_str(), total.n);
  }
  std::printf("\nfalse positives: legitimate messages refused or warned, per language and category\n");
  std::printf("%-5s", "lang");
  for (auto c : cats) std::printf(" %14s", c);
  std::printf(" %14s %14s %6s\n", "tone", "any", "n");
  for (const auto& l : langs) {
    std::printf("%-5s", l.c_str());
    for (auto c : cats) std::printf(" %14s", pct({legit_n[l].n, fp[l][c].hit}).c_str());
    std::printf(" %14s %14s %6d\n", pct({legit_n[l].n, fp[l]["tone"].hit}).c_str(), pct(legit_n[l]).c_str(),
                legit_n[l].n);
  }
  std::printf("\npushy messages warned (and not refused)\n");
  for (const auto& l : langs) std::printf("%-5s %6s n=%d\n", l.c_str(), pct(pushy[l]).c_str(), pushy[l].n);

  // Time to lint one rendered message: what the engine does before every claim.
  std::vector<std::string> rendered = {
      "Your order 8187654321098765 is waiting",
      "Hi Ana Ruiz, your order 8187654321098765 (33.31 USD), placed 2026-11-20 10:00, is still unpaid. It closes in 9 "
      "days. Pay in the app: https://www.aliexpress.com/p/order/detail.html?orderId=8187654321098765",
      "Здравствуйте, Иван! Заказ 8187654321098765 на 33.31 USD от 2026-11-20 10:00 ждёт оплаты и закроется через 9 "
      "дней. Оплатить можно в приложении: https://www.aliexpress.com/p/order/detail.html?orderId=8187654321098765",
      "您好，李伟！您的订单 8187654321098765（33.31 USD，2026-11-20 10:00 下单）尚未付款，将在 9 天后关闭。请在 App 中付款："
      "https://www.aliexpress.com/p/order/detail.html?orderId=8187654321098765",
  };
  for (auto& r : rendered) lint.lint(r, "en");  // warm the per-thread caches
  for (size_t k = 1; k < rendered.size(); ++k) {
    const int n = 20000;
    auto t0 = std::chrono::steady_clock::now();
    size_t found = 0;
    for (int i = 0; i < n; ++i) found += lint.lint(rendered[k], k == 2 ? "ru" : k == 3 ? "zh" : "en").size();
    auto t1 = std::chrono::steady_clock::now();
    double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
    std::printf("%slint one rendered message (%zu bytes, %s): %.1f us%s\n", k == 1 ? "\n" : "", rendered[k].size(),
                k == 1 ? "en" : k == 2 ? "ru" : "zh", us, found ? " (with findings!)" : "");
  }
  {
    const int n = 2000;
    std::string with_phone = rendered[1] + " Call +7 916 123-45-67.";
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) lint.lint(with_phone, "en");
    auto t1 = std::chrono::steady_clock::now();
    std::printf("lint one rendered message carrying a phone number: %.1f us\n",
                std::chrono::duration<double, std::micro>(t1 - t0).count() / n);
  }
  return 0;
}
