// The signed inbound webhook for buyers' replies (docs/replies.md): POST /replies on
// replies.listen, verified the Standard Webhooks way with replies.secret_file (the
// signing of the webhook channel), a 5-minute replay window and a 64 KiB body bound.
// 202 taken (or a repeat), 400 junk, 401 bad signature or stale timestamp, 404, 405,
// 413 too large, 503 store fault. Use only from the io_context thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "core/clock.h"
#include "core/engine.h"
#include "core/policy.h"

namespace nudge {

class ReplyListener {
 public:
  // Takes one checked reply record (one transaction); throws on a store fault.
  using Take = std::function<IngestResult(const ReplyRecord&)>;

  ReplyListener(boost::asio::io_context& io, Clock& clock, Take take);
  ~ReplyListener();

  // Serves `policy.replies.listen` ("127.0.0.1:9465") with its secret, or nothing when
  // it is empty. On an error (a bad address, a port in use, an unreadable secret) the
  // server that ran before, if any, keeps running and `error` says why.
  bool apply(const Policy& policy, const std::string& credentials_dir, std::string& error);
  void close();
  int port() const;  // the bound port (0: not serving)

  // One request, as the server answers it (the tests' way in, without a socket).
  struct Answer {
    int status = 500;
    std::string body;
  };
  Answer answer(const std::string& method, const std::string& target, const std::map<std::string, std::string>& headers,
                const std::string& body);

 private:
  class Server;
  boost::asio::io_context& io_;
  Clock& clock_;
  Take take_;
  std::string secret_, listen_;
  std::shared_ptr<Server> server_;
};

// True when one of the space-separated "v1,<base64>" signatures of `header` is the
// HMAC of id.timestamp.body under `secret` (compared in constant time).
bool webhook_signature_ok(const std::string& secret, const std::string& id, const std::string& timestamp,
                          const std::string& body, const std::string& header);

}  // namespace nudge
