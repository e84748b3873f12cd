// The smtp channel: one email per reminder through libcurl (smtp:// with STARTTLS
// when offered, or smtps://), optionally authenticated. Created and called on the
// io_context thread; each send runs libcurl on a worker thread (a curl handle never
// leaves it) and posts its outcome back to the loop.
#pragma once

#include <memory>
#include <string>

#include "daemon/channel.h"

namespace nudge {

struct SmtpSettings {
  std::string url;               // smtp://host:port or smtps://host:port
  std::string envelope_from;     // the bare address of `from`, for MAIL FROM
  std::string username, password;  // password from `password_file`; never in errors
  std::string ca_file;           // empty: the system's CA store
  ChannelConf conf;
};

// How a finished SMTP transaction maps to an Outcome: the server's last reply code
// decides when there is one (4xx transient, 5xx permanent), else the libcurl error.
Outcome classify_smtp(int curl_code, long smtp_code);

class SmtpChannel final : public Channel {
 public:
  SmtpChannel(boost::asio::io_context& io, boost::asio::thread_pool& workers, SmtpSettings settings);
  void send(const SendJob& job, SendDone done) override;

 private:
  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  std::shared_ptr<const SmtpSettings> settings_;  // shared with sends still running
};

// Reads the channel's settings and secret; null with `error` when they are unusable.
std::unique_ptr<Channel> make_smtp_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error);

}  // namespace nudge
