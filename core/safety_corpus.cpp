#include "core/safety_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace nudge {

std::vector<CorpusMessage> read_corpus(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<CorpusMessage> out;
  std::vector<fs::path> langs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) langs.push_back(e.path());
  std::sort(langs.begin(), langs.end());
  for (const auto& lang : langs) {
    for (const char* kind : {"bad", "legit", "pushy"}) {
      fs::path file = lang / (std::string(kind) + ".txt");
      std::ifstream in(file);
      if (!in) throw std::runtime_error("cannot read " + file.string());
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line[0] == '#') continue;
        CorpusMessage m{lang.filename().string(), kind, "", line, n};
        if (m.kind == "bad") {
          auto tab = line.find('\t');
          if (tab == std::string::npos)
            throw std::runtime_error(file.string() + ":" + std::to_string(n) + ": expected category<TAB>message");
          m.category = line.substr(0, tab);
          m.text = line.substr(tab + 1);
        }
        out.push_back(std::move(m));
      }
    }
  }
  return out;
}

bool Verdict::ok(const CorpusMessage& m) const {
  if (m.kind == "bad") return refused;
  if (m.kind == "legit") return !refused && !warned;
  return warned && !refused;
}

Verdict judge(const ContentLint& lint, const CorpusMessage& m) {
  Verdict v;
  v.findings = lint.lint(m.text, m.lang);
  v.tone = lint.tone(m.text);
  for (const auto& f : v.findings) {
    if (!f.allowed_by.empty()) continue;
    v.refused = true;
    if (m.category == to_string(f.category)) v.category_found = true;
  }
  v.warned = !v.tone.empty();
  return v;
}

}  // namespace nudge
