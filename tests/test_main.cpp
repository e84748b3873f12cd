// The tests' main. With NUDGE_POLICY_CORPUS=DIR in the environment, every policy text
// the parser accepts during the run is also written to DIR (named by its SHA-256), so
// the JSON Schema can be checked against the policies the tests really use
// (tests/tools/schema_validate.py).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/hash.h"
#include "core/policy.h"

namespace {

class CorpusWriter : public nudge::PolicyObserver {
 public:
  explicit CorpusWriter(std::string dir) : dir_(std::move(dir)) { std::filesystem::create_directories(dir_); }
  void accepted(const std::string& text, const std::string& path) override {
    std::ofstream(dir_ + "/" + nudge::sha256_hex(text) + ".yaml", std::ios::binary) << text;
  }

 private:
  std::string dir_;
};

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<CorpusWriter> corpus;
  if (const char* dir = std::getenv("NUDGE_POLICY_CORPUS"); dir && *dir) {
    corpus = std::make_unique<CorpusWriter>(dir);
    nudge::set_policy_observer(corpus.get());
  }
  doctest::Context context(argc, argv);
  return context.run();
}
