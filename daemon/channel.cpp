#include "daemon/channel.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <boost/asio/post.hpp>

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
  if (!job.steps.empty()) j["steps"] = job.steps;  // each order's step, when they differ
  j["template"] = job.tmpl;
  j["lang"] = job.lang;
  j["attempt"] = job.attempt;
  j["subject"] = job.subject;
  j["body"] = job.body;
  return j;
}

OutboxChannel::OutboxChannel(std::string dir, boost::asio::io_context& io, boost::asio::thread_pool& workers)
    : dir_(std::move(dir)), io_(io), workers_(workers) {}

void OutboxChannel::send(const SendJob& job, SendDone done) {
  Item item;
  item.name = std::to_string(job.send_id) + "-" + job.idempotency_key.substr(0, 12) + ".json";
  item.job = job;
  item.done = std::move(done);
  pending_->items.push_back(std::move(item));
  // The first message of a turn queues a flush; the others join it. While a batch
  // is being written, messages gather for the next one.
  if (pending_->items.size() == 1 && !pending_->busy)
    boost::asio::post(io_, [p = pending_, dir = dir_, &io = io_, &workers = workers_] { flush(p, dir, io, workers); });
}

void OutboxChannel::flush(std::shared_ptr<Pending> pending, const std::string& dir, boost::asio::io_context& io,
                          boost::asio::thread_pool& workers) {
  if (pending->busy || pending->items.empty()) return;
  pending->busy = true;  // one batch at a time: writers of one folder only contend
  auto batch = std::make_shared<std::vector<Item>>(std::move(pending->items));
  pending->items.clear();
  boost::asio::post(workers, [pending, batch, dir, &io, &workers] {
    write_batch(dir, *batch);
    boost::asio::post(io, [pending, batch, dir, &io, &workers] {
      pending->busy = false;
      for (auto& it : *batch) it.done(it.outcome, it.error);
      flush(pending, dir, io, workers);
    });
  });
}

namespace {

// Writes all of `text` to `fd`; false (errno set) on an error.
bool write_all(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

constexpr size_t kMaxUnnamed = 256;

// Gives the unnamed file `fd` (O_TMPFILE) the name `path`, through /proc as open(2)
// shows (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH). 0 or an errno.
int link_unnamed(int fd, const std::string& path) {
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
}

}  // namespace

// Each message is written into an unnamed file (O_TMPFILE) where the file system has
// them, else into a dot-file: either way no reader ever sees a half-written message.
// The unnamed files stay open until one syncfs has put all their data on disk; then
// each gets its name (one directory entry, where a dot-file costs an entry, a rename
// and a removal: a sixth less time per file on ext4).
void OutboxChannel::write_batch(const std::string& dir, std::vector<Item>& items) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto fail = [](Item& it, const std::string& what) {
    it.outcome = Outcome::kTransient;
    it.error = what;
  };
  auto dot_path = [&](const Item& it) { return (fs::path(dir) / ("." + it.name + ".tmp")).string(); };
  std::vector<std::string> tmp(items.size());  // the dot-file's path, if one is used
  std::vector<int> unnamed(items.size(), -1);  // the open unnamed file, if one is used
  // Naming an unnamed file goes through /proc: without it, dot-files.
  static const bool have_proc = ::access("/proc/self/fd", X_OK) == 0;
  bool any = false, tmpfile_ok = have_proc;
  size_t open_unnamed = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    const std::string text =
        message_json(it.job).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    int fd = -1;
    // At most kMaxUnnamed descriptors held at once; the rest of a big batch, or all
    // where the file system has no O_TMPFILE (EOPNOTSUPP; EISDIR on old kernels), or
    // once descriptors run out, use dot-files.
    if (tmpfile_ok && open_unnamed < kMaxUnnamed) {
      fd = ::open(dir.c_str(), O_WRONLY | O_TMPFILE | O_CLOEXEC, 0640);
      if (fd < 0) tmpfile_ok = false;
    }
    const bool is_unnamed = fd >= 0;
    if (!is_unnamed) tmp[i] = dot_path(it);
    const std::string where = is_unnamed ? "an unnamed file in " + dir : tmp[i];
    if (!is_unnamed) {
      fd = ::open(tmp[i].c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
      if (fd < 0) {
        fail(it, "cannot create " + where + ": " + std::strerror(errno));
        continue;
      }
    }
    bool ok = write_all(fd, text);
    if (!ok) fail(it, "cannot write " + where + ": " + std::strerror(errno));
    // One file alone is flushed with fsync; a batch with one syncfs below.
    if (ok && items.size() == 1 && ::fsync(fd) != 0) {
      fail(it, "cannot flush " + where + ": " + std::strerror(errno));
      ok = false;
    }
    if (is_unnamed && ok) {
      unnamed[i] = fd;  // closed once named
      ++open_unnamed;
    } else {
      if (::close(fd) != 0 && ok) {
        fail(it, "cannot flush " + where + ": " + std::strerror(errno));
        ok = false;
      }
      if (!ok && !is_unnamed) ::unlink(tmp[i].c_str());
    }
    any = any || ok;
  }
  auto close_unnamed = [&] {
    for (int& fd : unnamed)
      if (fd >= 0) ::close(fd), fd = -1;
  };
  if (!any) return;
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // The files' data must be on disk before their names can be: one syncfs for all.
  if (items.size() > 1 && (dfd < 0 || ::syncfs(dfd) != 0)) {
    std::string err = std::strerror(errno);
    for (size_t i = 0; i < items.size(); ++i)
      if (items[i].outcome == Outcome::kSent) {
        if (!tmp[i].empty()) ::unlink(tmp[i].c_str());
        fail(items[i], "cannot flush the messages in " + dir + ": " + err);
      }
    close_unnamed();
    if (dfd >= 0) ::close(dfd);
    return;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    if (it.outcome != Outcome::kSent) continue;
    std::string final_path = (fs::path(dir) / it.name).string();
    if (unnamed[i] >= 0) {
      int err = link_unnamed(unnamed[i], final_path);
      if (err == EEXIST) {
        // An earlier attempt of this send left its file: replace it in one step, as
        // a rename does, through a dot-file name.
        tmp[i] = dot_path(it);
        ::unlink(tmp[i].c_str());
        err = link_unnamed(unnamed[i], tmp[i]);
        if (err == 0 && ::rename(tmp[i].c_str(), final_path.c_str()) != 0) {
          err = errno;
          ::unlink(tmp[i].c_str());
        }
      }
      ::close(unnamed[i]);
      unnamed[i] = -1;
      if (err != 0) fail(it, "cannot name " + final_path + ": " + std::strerror(err));
      continue;
    }
    if (::rename(tmp[i].c_str(), final_path.c_str()) != 0) {
      std::string err = std::strerror(errno);
      ::unlink(tmp[i].c_str());
      fail(it, "cannot rename into " + final_path + ": " + err);
    }
  }
  // The names are durable only once the folder is synced: without it a power loss
  // after `sent` is committed (synchronous=FULL) could lose the messages. The files
  // are in place either way, so a failure here does not make the sends fail.
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::unique_ptr<Channel> make_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error) {
  if (conf.type == "outbox") return std::make_unique<OutboxChannel>(conf.get("dir"), ctx.io, ctx.workers);
  if (conf.type == "discard") return std::make_unique<DiscardChannel>();
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
    // Without credentials of its own: each shop's source's (one IOP token per shop).
    std::map<std::string, IopConf> by_shop;
    if (conf.uses_source_credentials)
      for (const auto& src : ctx.policy.sources) {
        if (src.type != "aliexpress") continue;
        IopConf shop_conf;
        if (!load_iop_conf(ctx.policy, src.settings, ctx.credentials_dir, src.shop, shop_conf, error)) {
          error = "channel '" + conf.name + "' (credentials of " + src.name + "): " + error;
          return nullptr;
        }
        shop_conf.timeout = conf.timeout;
        by_shop[src.shop] = std::move(shop_conf);
      }
    return std::make_unique<AliexpressChannel>(ctx.io, std::move(iop), ctx.store, message == "card",
                                               verify == "true" || verify == "yes", ctx.order_news,
                                               std::move(by_shop));
  }
  error = "channel '" + conf.name + "': type '" + conf.type + "' is not available in this build yet";
  return nullptr;
}

}  // namespace nudge
