#include "core/reply_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace nudge {

std::vector<ReplySample> read_reply_corpus(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".tsv") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(dir + ": no *.tsv reply corpus files");
  std::vector<ReplySample> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      std::string where = f.filename().string() + ":" + std::to_string(n);
      auto tab = line.find('\t');
      if (tab == std::string::npos) throw std::runtime_error(where + ": expected <class><TAB><text>");
      ReplySample s{f.stem().string(), line.substr(0, tab), line.substr(tab + 1), where};
      if (s.label != "opt_out" && s.label != "off_platform" && s.label != "promise" && s.label != "other" &&
          s.label != "lookalike")
        throw std::runtime_error(where + ": unknown class '" + s.label + "'");
      if (s.text.empty()) throw std::runtime_error(where + ": empty text");
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::string expected_class(const ReplySample& s) { return s.label == "lookalike" ? "other" : s.label; }

}  // namespace nudge
