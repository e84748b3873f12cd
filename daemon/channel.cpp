#include "daemon/channel.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/time_util.h"
#include "daemon/sendmail_channel.h"
#include "daemon/smtp_channel.h"
#include "daemon/aliexpress_channel.h"
#include "daemon/webhook_channel.h"

namespace nudge {

bool read_secret(const Policy& policy, const std::string& name, const std::string& credentials_dir,
                 std::string& value, std::string& error) {
  std::string path = resolve_secret_path(policy, name, credentials_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read the secret file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) {
    error = "the secret file " + path + " is empty";
    return false;
  }
  return true;
}

nlohmann::ordered_json message_json(const SendJob& job) {
  nlohmann::ordered_json j;
  j["send_id"] = job.send_id;
  j["idempotency_key"] = job.idempotency_key;
  j["shop"] = job.shop;
  j["buyer"] = job.buyer_id;
  j["orders"] = job.order_ids;
  j["step"] = job.step;
  j["template"] = job.tmpl;
  j["lang"] = job.lang;
  j["attempt"] = job.attempt;
  j["subject"] = job.subject;
  j["body"] = job.body;
  return j;
}

void OutboxChannel::send(const SendJob& job, SendDone done) {
  namespace fs = std::filesystem;
  nlohmann::ordered_json j = message_json(job);
  std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::error_code ec;
  fs::create_directories(dir_, ec);
  std::string name = std::to_string(job.send_id) + "-" + job.idempotency_key.substr(0, 12) + ".json";
  std::string final_path = (fs::path(dir_) / name).string();
  std::string tmp_path = (fs::path(dir_) / ("." + name + ".tmp")).string();
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    done(Outcome::kTransient, "cannot create " + tmp_path + ": " + std::strerror(errno));
    return;
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp_path.c_str());
      done(Outcome::kTransient, "cannot write " + tmp_path + ": " + err);
      return;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp_path.c_str());
    done(Outcome::kTransient, "cannot flush " + tmp_path + ": " + err);
    return;
  }
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp_path.c_str());
    done(Outcome::kTransient, "cannot rename into " + final_path + ": " + err);
    return;
  }
  // The rename is durable only once the folder is synced: without it a power loss
  // after `sent` is committed (synchronous=FULL) could lose the message. The file is
  // in place either way, so a failure here does not make the send fail.
  if (int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  done(Outcome::kSent, "");
}

std::unique_ptr<Channel> make_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error) {
  if (conf.type == "outbox") return std::make_unique<OutboxChannel>(conf.get("dir"));
  if (conf.type == "smtp") return make_smtp_channel(conf, ctx, error);
  if (conf.type == "sendmail") return make_sendmail_channel(conf, ctx, error);
  if (conf.type == "webhook") {
    std::string secret;
    if (!parse_url(conf.get("url"))) {
      error = "channel '" + conf.name + "': url must be an http:// or https:// URL";
      return nullptr;
    }
    if (!read_secret(ctx.policy, conf.get("secret_file"), ctx.credentials_dir, secret, error)) {
      error = "channel '" + conf.name + "': " + error;
      return nullptr;
    }
    return std::make_unique<WebhookChannel>(ctx.io, conf.get("url"), secret, conf.get("ca_file"), conf.timeout);
  }
  if (conf.type == "aliexpress") {
    IopConf iop;
    if (!load_iop_conf(ctx.policy, conf.settings, ctx.credentials_dir, conf.get("shop", conf.get("app_key")), iop,
                       error)) {
      error = "channel '" + conf.name + "': " + error;
      return nullptr;
    }
    iop.timeout = conf.timeout;
    std::string message = conf.get("message", "text");
    if (message != "text" && message != "card") {
      error = "channel '" + conf.name + "': message must be text or card, not '" + message + "'";
      return nullptr;
    }
    std::string verify = conf.get("verify_before_send", "false");
    return std::make_unique<AliexpressChannel>(ctx.io, std::move(iop), ctx.store, message == "card",
                                               verify == "true" || verify == "yes", ctx.order_news);
  }
  error = "channel '" + conf.name + "': type '" + conf.type + "' is not available in this build yet";
  return nullptr;
}

}  // namespace nudge
