// Local servers for the integration tests: Python fakes started with fork/exec of
// /usr/bin/python3, killed when the test ends (RAII), plus small readers for what
// the daemon leaves behind (audit lines, JSONL records).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.h"

namespace test {

// A Python server from tests/fakes/ that writes its port to `port_file` once listening.
class PythonServer {
 public:
  PythonServer(const std::string& script, std::vector<std::string> args, const std::string& port_file,
               const std::string& log_path)
      : port_file_(port_file) {
    std::vector<std::string> argv = {"/usr/bin/python3", std::string(NUDGE_SOURCE_DIR) + "/tests/fakes/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--port-file");
    argv.push_back(port_file);
    proc_ = std::make_unique<Process>(argv, log_path);
    bool up = eventually([&] { return fs::exists(port_file_) || !proc_->running(); }, std::chrono::seconds(10));
    REQUIRE_MESSAGE(up, script << " did not start: " << read_file(log_path));
    REQUIRE_MESSAGE(proc_->running(), script << " exited: " << read_file(log_path));
    port_ = std::stoi(read_file(port_file_));
  }
  int port() const { return port_; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  std::string port_file_;
  std::unique_ptr<Process> proc_;  // SIGKILLed and reaped by its destructor
  int port_ = 0;
};

// Every parsable JSON line of a file (a line being written is skipped).
inline std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const auto& line : read_lines(path)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

// Audit events of `event` that name `order_id`.
inline size_t audit_count(const std::string& audit_path, const std::string& event, const std::string& order_id = "") {
  size_t n = 0;
  for (const auto& e : json_lines(audit_path)) {
    if (e.value("event", "") != event) continue;
    if (order_id.empty()) {
      ++n;
      continue;
    }
    if (e.contains("orders") && e["orders"].is_array())
      for (const auto& o : e["orders"])
        if (o.is_string() && o.get<std::string>() == order_id) ++n;
  }
  return n;
}

// Writes a file whole: the fakes re-read it on every request and must never see half of it.
inline void replace_file(const std::string& path, const std::string& text) {
  write_file(path + ".tmp", text);
  fs::rename(path + ".tmp", path);
}

// Runs the openssl CLI; the test stops if it fails.
inline void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  REQUIRE_MESSAGE(r.status == 0, r.err);
}

// A CA (`name`.pem) and, when `server` is set, a certificate it signs for IP 127.0.0.1.
inline void make_ca(const test::TempDir& dir, const std::string& name, bool server) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           dir / (name + ".key"), "-out", dir / (name + ".pem"), "-days", "2", "-subj", "/CN=" + name,
           "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  if (!server) return;
  test::write_file(dir / "ext.cnf", "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir / "server.key",
           "-out", dir / "server.csr", "-subj", "/CN=127.0.0.1"});
  openssl({"x509", "-req", "-in", dir / "server.csr", "-CA", dir / (name + ".pem"), "-CAkey", dir / (name + ".key"),
           "-CAcreateserial", "-out", dir / "server.pem", "-days", "2", "-extfile", dir / "ext.cnf"});
}

}  // namespace test
