// The sendmail channel: one email per reminder, handed to the local MTA by piping
// the message to `sendmail -t -i` (recipients from the To header). Created and
// called on the io_context thread; the child process is run and waited for on a
// worker thread, and the outcome is posted back to the loop.
#pragma once

#include <memory>
#include <string>

#include "daemon/channel.h"

namespace nudge {

// sendmail's exit status (sysexits.h): 0 sent, 75 EX_TEMPFAIL transient, other permanent.
Outcome classify_sendmail_exit(int status);

class SendmailChannel final : public Channel {
 public:
  SendmailChannel(boost::asio::io_context& io, boost::asio::thread_pool& workers, ChannelConf conf);
  void send(const SendJob& job, SendDone done) override;

 private:
  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  std::shared_ptr<const ChannelConf> conf_;  // shared with sends still running
};

// Checks `from`, `reply_to` and that `path` (default /usr/sbin/sendmail) can be run;
// null with `error` otherwise.
std::unique_ptr<Channel> make_sendmail_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error);

}  // namespace nudge
