// Test helpers: temporary folders, files, running the real binaries, waiting for
// what a user would see. Shared by unit and integration tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace test {

namespace fs = std::filesystem;

// The top of a seconds-scale policy for tests that run the real nudged: store and
// audit file in the policy's folder, the inbox polled every second, a 1 s payment
// deadline. Campaigns, limits, channels and templates follow.
inline constexpr const char* kSecondsHead =
    "version: 1\nstore: nudge.db\naudit_log: audit.jsonl\nsource: {type: inbox, every: 1s}\n"
    "payment: {deadline: 1s, closes_after: 10m, stop_before_close: 1s}\n";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "nudge-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("NUDGE_KEEP_TEST_DIRS")) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

struct RunResult {
  int status = -1;  // exit code, or 128+signal
  std::string out, err;
};

// Runs argv to completion, capturing stdout and stderr (through files, so large
// outputs cannot deadlock).
inline RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  TempDir tmp;
  std::string out_path = tmp / "out", err_path = tmp / "err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  RunResult r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

// A background process (the daemon), its stderr going to a file.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& stderr_path,
          const std::vector<std::string>& env = {}) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int e = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int n = ::open("/dev/null", O_RDWR);
      ::dup2(n, 0);
      ::dup2(n, 1);
      ::dup2(e, 2);
      for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void signal(int sig) { ::kill(pid_, sig); }
  bool running() {
    if (exited_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return !exited_;
  }
  // Waits up to `timeout` for the process to exit; returns its status or -1.
  int wait(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (running() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return exited_ ? status_ : -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
};

// Polls `pred` every 20 ms until it holds or `timeout` passes. For the real daemon,
// which runs on real time; core/ logic is tested with a ManualClock instead.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

inline size_t count_files(const std::string& dir, const std::string& ext = ".json") {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it)
    if (it->path().extension() == ext && it->path().filename().string()[0] != '.') ++n;
  return n;
}

}  // namespace test
