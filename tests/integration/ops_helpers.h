// Helpers for the operations tests (sd_notify, metrics, logrotate): a seconds-scale
// policy in a temporary folder, fresh orders, a free loopback port, a tiny HTTP GET.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <ctime>
#include <string>

#include "helpers.h"

namespace ops {

// The demo policy (relative store/audit paths), without quiet hours so that the tests
// do not depend on the time of day, plus `extra` top-level YAML.
inline std::string write_policy(const test::TempDir& dir, const std::string& extra = "") {
  std::string text = test::read_file(std::string(NUDGE_SOURCE_DIR) + "/etc/nudge/demo.yaml");
  auto q = text.find("  quiet_hours:");
  if (q != std::string::npos) text.erase(q, text.find('\n', q) + 1 - q);
  std::string path = dir / "nudge.yaml";
  test::write_file(path, text + "\n" + extra);
  return path;
}

inline std::string iso_utc(std::time_t t) {
  char buf[32];
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// `n` unpaid orders from `n` buyers, placed `ago` seconds ago (overdue after 5 s).
inline std::string write_orders(const test::TempDir& dir, int n, int first_id, int ago = 10) {
  std::string feed, placed = iso_utc(std::time(nullptr) - ago);
  for (int i = 0; i < n; ++i) {
    int id = first_id + i;
    feed += R"({"type":"order","shop":"s1","order_id":")" + std::to_string(id) + R"(","buyer_id":"b)" +
            std::to_string(id) + R"(","buyer_name":"Buyer","buyer_country":"DE","buyer_tz":"UTC","amount":"10.00",)"
            R"("currency":"USD","placed_at":")" + placed + R"(","status":"awaiting_payment"})" + "\n";
  }
  std::string path = dir / ("orders-" + std::to_string(first_id) + ".jsonl");
  test::write_file(path, feed);
  return path;
}

inline test::RunResult import_orders(const std::string& policy, const std::string& feed) {
  return test::run({NUDGECTL_PATH, "--config", policy, "orders", "import", feed});
}

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Sends `raw` to 127.0.0.1:port and returns the whole answer ("" when the connection
// fails), bounded by a receive timeout of `timeout_s` seconds.
inline std::string http_raw(int port, const std::string& raw, int timeout_s = 5) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  for (size_t off = 0; off < raw.size();) {
    ssize_t n = ::send(fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may refuse (413) before it has read everything
    off += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// GET http://127.0.0.1:port/path; returns the whole response (status line, headers,
// body), or "" when the connection fails. Bounded by a 3 s receive timeout.
inline std::string http_get(int port, const std::string& path) {
  return http_raw(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 3);
}

inline std::string http_body(const std::string& response) {
  auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

}  // namespace ops
