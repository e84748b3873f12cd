// The reply corpus (tests/replies/<lang>.tsv): buyers' answers labelled with the class
// they must get. Read by tests/replies_test.cpp and bench/replies. Reads files only.
#pragma once

#include <string>
#include <vector>

namespace nudge {

struct ReplySample {
  std::string lang;   // the file's name: "en", "es", ...
  std::string label;  // "opt_out", "off_platform", "promise", "other" or "lookalike"
  std::string text;
  std::string where;  // "en.tsv:12"
};

// Every sample of every *.tsv in `dir`, by file name then line. Throws
// std::runtime_error naming the file and line of a malformed one (no tab, an unknown
// label, an empty text).
std::vector<ReplySample> read_reply_corpus(const std::string& dir);

// The class a sample must get: its label, "other" for a look-alike.
std::string expected_class(const ReplySample& s);

}  // namespace nudge
