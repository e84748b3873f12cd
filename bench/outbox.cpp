// bench/outbox: the outbox channel's own work, alone. N messages like the throughput
// benchmark's are written by OutboxChannel::write_batch in batches of 200, as nudged's
// worker writes them (the JSON, unnamed files, one syncfs per batch, the names, one
// fsync of the folder), with no store and no engine: the file system's floor under
// nudged's rate through the outbox on this machine. Prints `name value unit` lines.
//
//   build-release/bench/outbox DIR [N=50000]    (DIR: a new folder on the disk to measure)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "daemon/channel.h"

using namespace nudge;

namespace {

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
    return 64;
  }
  const std::string dir = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 50000;
  constexpr int kBatch = 200;  // as many as nudged claims at once
  if (std::filesystem::exists(dir)) {
    std::fprintf(stderr, "%s exists: give a new folder\n", dir.c_str());
    return 64;
  }
  int failed = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int first = 0; first < n; first += kBatch) {
    std::vector<OutboxChannel::Item> items;
    for (int i = first; i < std::min(n, first + kBatch); ++i) {
      OutboxChannel::Item it;
      SendJob& j = it.job;
      j.send_id = i + 1;
      j.idempotency_key = "0123456789abcdef0123456789abcdef";
      j.shop = "s1";
      j.buyer_id = "b" + std::to_string(i);
      j.order_ids = {"o" + std::to_string(i)};
      j.step = "first";
      j.tmpl = "gentle";
      j.lang = "en";
      j.subject = "Your order o" + std::to_string(i) + " is waiting";
      j.body = "Hi Buyer b" + std::to_string(i) + ", 1 order(s), 25.00 USD, closes in 19 days.";
      it.name = std::to_string(j.send_id) + "-" + j.idempotency_key.substr(0, 12) + ".json";
      items.push_back(std::move(it));
    }
    OutboxChannel::write_batch(dir, items);
    for (const auto& it : items)
      if (it.outcome != Outcome::kSent) {
        if (failed++ == 0) std::fprintf(stderr, "outbox: %s\n", it.error.c_str());
      }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  if (failed) {
    std::fprintf(stderr, "outbox: %d of %d messages failed\n", failed, n);
    return 1;
  }
  std::printf("outbox_alone %.0f messages/s\n", n / secs);
  std::printf("outbox_alone_cpu %.1f us/message\n", cpu * 1e6 / n);
  return 0;
}
