#include "daemon/sendmail_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <boost/asio/post.hpp>

#include "core/mime.h"

extern char** environ;

namespace nudge {

namespace {

constexpr const char* kDefaultPath = "/usr/sbin/sendmail";
constexpr size_t kMaxStderr = 1000;  // enough to say why; a chatty MTA cannot grow the error

struct Result {
  Outcome outcome;
  std::string error;
};

std::string printable(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Runs `path -t -i`, writes `message` to its stdin and waits for it, all within
// `timeout`. Blocking: worker threads only.
Result run_sendmail(const std::string& name, const std::string& path, const std::string& message, Millis timeout) {
  std::string where = "sendmail " + name + ": ";
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return {Outcome::kTransient, where + "pipe: " + std::strerror(errno)};
  if (::pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(in[0]);
    ::close(in[1]);
    return {Outcome::kTransient, where + "pipe: " + std::strerror(e)};
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);         // the child starts with no signal blocked
  posix_spawnattr_setsigdefault(&attr, &pipe_only);  // and with SIGPIPE's default action
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string a0 = path, a1 = "-t", a2 = "-i";
  char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, path.c_str(), &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    return {Outcome::kPermanent, where + "cannot run " + path + ": " + std::strerror(rc)};
  }
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);

  // A sendmail that exits before reading everything makes write() raise SIGPIPE,
  // which would kill the daemon: block it on this thread and swallow it below.
  sigset_t old;
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
  int in_fd = in[1], out_fd = out[0], status = 0;
  size_t written = 0;
  std::string output;
  bool exited = false, timed_out = false;
  auto read_output = [&] {
    char buf[512];
    ssize_t n;
    while ((n = ::read(out_fd, buf, sizeof buf)) > 0)
      if (output.size() < kMaxStderr) output.append(buf, std::min<size_t>(n, kMaxStderr - output.size()));
    if (n == 0) {
      ::close(out_fd);
      out_fd = -1;
    }
  };
  while (true) {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (exited) break;  // a background helper may still hold its stdout: do not wait for EOF
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    ::poll(fds, n, static_cast<int>(std::min<long>(left.count(), 20)));
    if (in_fd >= 0) {
      ssize_t w = ::write(in_fd, message.data() + written, message.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (written == message.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        ::close(in_fd);  // EOF ends the message (-i: a lone "." does not)
        in_fd = -1;
      }
    }
    if (out_fd >= 0) read_output();
  }
  if (in_fd >= 0) ::close(in_fd);
  if (out_fd >= 0) {
    read_output();
    if (out_fd >= 0) ::close(out_fd);
  }
  timespec zero{};
  while (::sigtimedwait(&pipe_only, nullptr, &zero) > 0) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);

  if (timed_out) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return {Outcome::kTransient, where + path + " did not finish within " + std::to_string(timeout) + " ms"};
  }
  if (WIFSIGNALED(status))
    return {Outcome::kTransient, where + path + " was killed by signal " + std::to_string(WTERMSIG(status))};
  int code = WEXITSTATUS(status);
  if (code == 0 && written < message.size())
    return {Outcome::kTransient, where + path + " exited before reading the whole message"};
  if (code == 0) return {Outcome::kSent, ""};
  std::string said = printable(output);
  return {classify_sendmail_exit(code),
          where + path + " exited with status " + std::to_string(code) + (said.empty() ? "" : ": " + said)};
}

}  // namespace

Outcome classify_sendmail_exit(int status) {
  if (status == 0) return Outcome::kSent;
  if (status == 75) return Outcome::kTransient;  // EX_TEMPFAIL: the MTA asks us to try later
  return Outcome::kPermanent;
}

SendmailChannel::SendmailChannel(boost::asio::io_context& io, boost::asio::thread_pool& workers, ChannelConf conf)
    : io_(io), workers_(workers), conf_(std::make_shared<const ChannelConf>(std::move(conf))) {}

void SendmailChannel::send(const SendJob& job, SendDone done) {
  boost::asio::post(workers_, [c = conf_, job, done = std::move(done), &io = io_]() mutable {
    MailMessage m = build_mail(mail_parts(*c, job, SystemClock().now()));
    Result r = m.ok() ? run_sendmail(c->name, c->get("path", kDefaultPath), m.text, c->timeout)
                      : Result{Outcome::kPermanent, "sendmail " + c->name + ": " + m.error};
    boost::asio::post(io, [done = std::move(done), r = std::move(r)] { done(r.outcome, r.error); });
  });
}

std::unique_ptr<Channel> make_sendmail_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error) {
  std::string where = "channel '" + conf.name + "': ";
  Mailbox mb;
  std::string err;
  if (!parse_mailbox(conf.get("from"), mb, err)) {
    error = where + "from: " + err;
    return nullptr;
  }
  if (!conf.get("reply_to").empty() && !parse_mailbox(conf.get("reply_to"), mb, err)) {
    error = where + "reply_to: " + err;
    return nullptr;
  }
  std::string path = conf.get("path", kDefaultPath);
  if (::access(path.c_str(), X_OK) != 0) {
    error = where + "cannot run " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<SendmailChannel>(ctx.io, ctx.workers, conf);
}

}  // namespace nudge
