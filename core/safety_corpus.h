// The content lint's corpus (tests/safety/corpus/): reading it, and judging the lint
// on it. Shared by tests/safety_corpus_test.cpp and bench/safety.
#pragma once

#include <string>
#include <vector>

#include "core/content_lint.h"

namespace nudge {

struct CorpusMessage {
  std::string lang, kind;  // kind: bad | legit | pushy
  std::string category;    // bad: the category it is filed under
  std::string text;
  int line = 0;
};

// Every message under `dir` (<lang>/bad.txt, legit.txt, pushy.txt); throws
// std::runtime_error on a file it cannot read or a malformed line.
std::vector<CorpusMessage> read_corpus(const std::string& dir);

struct Verdict {
  bool refused = false;         // some finding other than tone
  bool warned = false;          // some tone finding
  bool category_found = false;  // bad: a finding of its own category
  std::vector<Finding> findings, tone;
  bool ok(const CorpusMessage& m) const;  // what the corpus requires of this message
};

Verdict judge(const ContentLint& lint, const CorpusMessage& m);

}  // namespace nudge
