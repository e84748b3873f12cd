// A real SMTP server for one test: tests/fakes/smtp_sink.py (aiosmtpd) started with
// /usr/bin/python3 on 127.0.0.1 and a port the OS chose, killed when the object
// goes out of scope. Plus parse_mail(), which reads a saved message with Python's
// standard `email` package, the way a mail client would. Test thread only.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.h"

namespace test {

inline std::string fakes_dir() { return std::string(NUDGE_SOURCE_DIR) + "/tests/fakes"; }

struct SmtpSinkOptions {
  std::string user, password;  // require AUTH with these
  std::string cert, key;       // offer STARTTLS
  bool require_tls = false;
  bool implicit_tls = false;   // with cert: smtps, TLS from the first byte
  std::vector<std::string> replies;  // "451:later@example.com"
};

class SmtpSink {
 public:
  explicit SmtpSink(const std::string& dir, const SmtpSinkOptions& o = {}) : dir_(dir), maildir_(dir + "/mail") {
    std::string port_file = dir + "/port";
    std::vector<std::string> argv = {"/usr/bin/python3", fakes_dir() + "/smtp_sink.py", "--port-file", port_file,
                                     "--maildir", maildir_};
    if (!o.user.empty()) argv.insert(argv.end(), {"--user", o.user, "--password", o.password});
    if (!o.cert.empty()) argv.insert(argv.end(), {"--cert", o.cert, "--key", o.key});
    if (o.require_tls) argv.push_back("--require-tls");
    if (o.implicit_tls) argv.push_back("--implicit-tls");
    for (const auto& r : o.replies) argv.insert(argv.end(), {"--reply", r});
    fs::create_directories(dir);
    proc_ = std::make_unique<Process>(argv, dir + "/sink.log");
    bool up = eventually([&] { return fs::exists(port_file) || !proc_->running(); }, std::chrono::seconds(10));
    if (!up || !fs::exists(port_file)) FAIL("the SMTP sink did not start:\n" << read_file(dir + "/sink.log"));
    port_ = std::stoi(read_file(port_file));
  }

  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  std::string smtps_url() const { return "smtps://127.0.0.1:" + std::to_string(port_); }

  // The raw messages received so far, oldest first (NNNN.eml).
  // One line per AUTH the server received ("PLAIN tls=False").
  std::vector<std::string> auth_attempts() const { return read_lines(maildir_ + "/auth-attempts"); }

  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(maildir_, ec); !ec && it != fs::directory_iterator(); ++it)
      if (it->path().extension() == ".eml") out.push_back(it->path().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  // The envelope the sink saw for a message: mail_from, rcpt_tos, tls, authenticated.
  static nlohmann::json envelope(const std::string& eml) {
    return nlohmann::json::parse(read_file(eml.substr(0, eml.size() - 4) + ".json"));
  }

  std::string log() const { return read_file(dir_ + "/sink.log"); }

 private:
  std::string dir_, maildir_;
  std::unique_ptr<Process> proc_;
  int port_ = 0;
};

// What a mail client shows for a raw message: decoded subject, To, body, header names, ...
inline nlohmann::json parse_mail(const std::string& eml) {
  RunResult r = run({"/usr/bin/python3", fakes_dir() + "/parse_mail.py", eml});
  INFO("parse_mail.py: " << r.err);
  REQUIRE(r.status == 0);
  return nlohmann::json::parse(r.out);
}

// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI.
inline void make_test_cert(const std::string& cert, const std::string& key) {
  RunResult r = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                     "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"});
  INFO("openssl: " << r.err);
  REQUIRE(r.status == 0);
}

}  // namespace test
