// Runs a libFuzzer target over files without libFuzzer (like libFuzzer's
// StandaloneFuzzTargetMain.c): every file named, and every file inside each folder
// named, is passed once to LLVMFuzzerTestOneInput. Built with the normal toolchain so
// the ctest replays the seed corpora (and every past finding) with no clang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path p(argv[i]);
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.push_back(p);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "no input files\n");
    return 1;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());  // exact size, for ASan
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("%zu inputs ran\n", files.size());
  return 0;
}
