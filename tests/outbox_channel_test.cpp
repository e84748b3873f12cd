// The outbox channel's batch writer on the real file system: every message a file
// of its own under its final name, nothing half-written or left over beside them.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "daemon/channel.h"
#include "helpers.h"

using namespace test;
using nudge::OutboxChannel;
using nudge::Outcome;

namespace {

mode_t current_umask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

std::vector<OutboxChannel::Item> items(int n, int first_id = 1, int attempt = 1) {
  std::vector<OutboxChannel::Item> v;
  for (int i = 0; i < n; ++i) {
    OutboxChannel::Item it;
    it.job.send_id = first_id + i;
    it.job.idempotency_key = "0123456789abcdef0123456789abcdef";
    it.job.shop = "s1";
    it.job.buyer_id = "b" + std::to_string(first_id + i);
    it.job.order_ids = {"o" + std::to_string(first_id + i)};
    it.job.step = "first";
    it.job.tmpl = "gentle";
    it.job.lang = "en";
    it.job.attempt = attempt;
    it.job.subject = "Your order is waiting";
    it.job.body = "Hi, please pay.";
    it.name = std::to_string(it.job.send_id) + "-0123456789ab.json";
    v.push_back(std::move(it));
  }
  return v;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("an outbox batch leaves one complete file per message under its final name, and nothing else") {
  TempDir dir;
  std::string out = dir / "outbox";
  // 300: more than the writer keeps open as unnamed files at once, so the rest of the
  // batch goes through dot-files and renames; both kinds must end up alike.
  auto batch = items(300);
  OutboxChannel::write_batch(out, batch);
  for (const auto& it : batch) CHECK_MESSAGE(it.outcome == Outcome::kSent, it.error);
  auto names = names_in(out);
  REQUIRE(names.size() == 300);
  for (const auto& n : names) CHECK_MESSAGE(n.front() != '.', "a dot-file was left: " << n);
  for (int id : {1, 256, 257, 300}) {
    std::string path = out + "/" + std::to_string(id) + "-0123456789ab.json";
    auto j = nlohmann::json::parse(read_file(path));
    CHECK(j["send_id"] == id);
    CHECK(j["buyer"] == "b" + std::to_string(id));
    CHECK(j["body"] == "Hi, please pay.");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0077) == ((0640 & ~current_umask()) & 0077));
  }
}

TEST_CASE("a retried message replaces the file an earlier attempt left, alone or in a batch") {
  TempDir dir;
  std::string out = dir / "outbox";
  for (int size : {1, 3}) {
    auto first = items(size);
    OutboxChannel::write_batch(out, first);
    auto again = items(size, 1, 2);
    OutboxChannel::write_batch(out, again);
    for (const auto& it : again) CHECK_MESSAGE(it.outcome == Outcome::kSent, it.error);
    REQUIRE(names_in(out).size() == static_cast<size_t>(size == 1 ? 1 : 3));
    CHECK(nlohmann::json::parse(read_file(out + "/1-0123456789ab.json"))["attempt"] == 2);
  }
}

TEST_CASE("an outbox that cannot be created fails every message of the batch as transient, naming the path") {
  TempDir dir;
  write_file(dir / "file", "not a folder");
  auto batch = items(2);
  OutboxChannel::write_batch(dir / "file/outbox", batch);
  for (const auto& it : batch) {
    CHECK(it.outcome == Outcome::kTransient);
    CHECK_MESSAGE(it.error.find(dir / "file/outbox") != std::string::npos, it.error);
  }
}
