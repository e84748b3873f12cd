// bench/replies: the reply classifier on its corpus (tests/replies). Prints the
// accuracy per class and language (look-alikes apart: they must come out "other"),
// and the time to classify one reply.
//
//   bench/replies [CORPUS_DIR] [--misses]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "core/replies.h"
#include "core/reply_corpus.h"

using namespace nudge;

int main(int argc, char** argv) {
  std::string dir = NUDGE_SOURCE_DIR "/tests/replies";
  bool misses = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--misses") misses = true;
    else dir = a;
  }
  std::vector<ReplySample> corpus;
  try {
    corpus = read_reply_corpus(dir);
  } catch (const std::exception& e) {
    std::cerr << "bench/replies: " << e.what() << "\n";
    return 1;
  }
  ContentLint lint(LintConfig{});
  struct Count {
    int n = 0, ok = 0;
  };
  std::map<std::string, std::map<std::string, Count>> by;  // label -> lang
  std::set<std::string> langs;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& s : corpus) {
    langs.insert(s.lang);
    ReplyVerdict v = classify_reply(s.text, s.lang, lint);
    bool ok = to_string(v.cls) == expected_class(s);
    for (const std::string& l : {s.lang, std::string("all")}) {
      by[s.label][l].n++;
      by[s.label][l].ok += ok;
      by["all"][l].n++;
      by["all"][l].ok += ok;
    }
    if (!ok && misses)
      std::printf("miss %s [%s] got %s (%s): %s\n", s.where.c_str(), s.label.c_str(), to_string(v.cls),
                  v.matched.c_str(), s.text.c_str());
  }
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
              static_cast<double>(corpus.size());
  langs.insert("all");
  std::printf("reply classifier accuracy on %zu replies (%s)\n\n%-13s", corpus.size(), dir.c_str(), "class");
  for (const auto& l : langs) std::printf("%12s", l.c_str());
  std::printf("\n");
  for (const char* label : {"opt_out", "off_platform", "promise", "other", "lookalike", "all"}) {
    std::printf("%-13s", label);
    for (const auto& l : langs) {
      const Count& c = by[label][l];
      if (c.n == 0) {
        std::printf("%12s", "-");
        continue;
      }
      char cell[32];
      std::snprintf(cell, sizeof cell, "%d/%d %3.0f%%", c.ok, c.n, 100.0 * c.ok / c.n);
      std::printf("%12s", cell);
    }
    std::printf("\n");
  }
  std::printf("\n%.1f us per reply (first pass, patterns compiled on first use)\n", us);
  return 0;
}
