// The webhook channel: POSTs each reminder as JSON to the seller's endpoint, signed
// the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature), over
// http:// or https:// with peer verification. Use only from the io_context thread.
#pragma once

#include "daemon/channel.h"
#include "daemon/http_client.h"

namespace nudge {

// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>"; a secret "whsec_<base64>" is
// decoded to its key bytes first, as Standard Webhooks libraries do.
std::string webhook_signature(const std::string& secret, const std::string& id, const std::string& timestamp,
                              const std::string& body);

// What an HTTP answer means for the send: 2xx sent; 408, 429, 5xx and no answer at
// all retried later; any other status is a refusal that retrying will not change.
Outcome webhook_outcome(const HttpResponse& res);

class WebhookChannel final : public Channel {
 public:
  WebhookChannel(boost::asio::io_context& io, std::string url, std::string secret, std::string ca_file, Millis timeout)
      : io_(io), url_(std::move(url)), secret_(std::move(secret)), ca_file_(std::move(ca_file)), timeout_(timeout) {}
  void send(const SendJob& job, SendDone done) override;

 private:
  boost::asio::io_context& io_;
  std::string url_, secret_, ca_file_;
  Millis timeout_;
};

}  // namespace nudge
