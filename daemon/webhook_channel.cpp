#include "daemon/webhook_channel.h"

#include <nlohmann/json.hpp>

#include "core/hash.h"

namespace nudge {

std::string webhook_signature(const std::string& secret, const std::string& id, const std::string& timestamp,
                              const std::string& body) {
  std::string key = secret;
  if (secret.rfind("whsec_", 0) == 0) {
    if (auto raw = base64_decode(secret.substr(6))) key = *raw;
  }
  return "v1," + base64_encode(hmac_sha256_raw(key, id + "." + timestamp + "." + body));
}

Outcome webhook_outcome(const HttpResponse& res) {
  if (res.status == 0) return Outcome::kTransient;  // no answer: network, TLS, timeout
  if (res.status >= 200 && res.status < 300) return Outcome::kSent;
  if (res.status == 408 || res.status == 429 || res.status >= 500) return Outcome::kTransient;
  return Outcome::kPermanent;
}

void WebhookChannel::send(const SendJob& job, SendDone done) {
  nlohmann::ordered_json j = message_json(job);

  HttpRequest req;
  req.method = "POST";
  req.url = url_;
  req.timeout = timeout_;
  req.ca_file = ca_file_;
  req.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string ts = std::to_string(SystemClock().now() / 1000);
  req.headers["Content-Type"] = "application/json";
  req.headers["webhook-id"] = job.idempotency_key;
  req.headers["webhook-timestamp"] = ts;
  req.headers["webhook-signature"] = webhook_signature(secret_, job.idempotency_key, ts, req.body);

  http_request(io_, std::move(req), [done = std::move(done)](HttpResponse res) {
    Outcome o = webhook_outcome(res);
    if (o == Outcome::kSent)
      done(o, "");
    else
      done(o, res.error.empty() ? "webhook answered HTTP " + std::to_string(res.status) : res.error);
  });
}

}  // namespace nudge
