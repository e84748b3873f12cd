#include "daemon/smtp_channel.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <curl/curl.h>

#include "core/mime.h"

namespace nudge {

namespace {

// libcurl wants one curl_global_init before any handle exists; the first channel
// built (on the loop thread, before any send) does it.
void init_curl_once() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)ok;
}

struct Upload {
  const std::string& text;
  size_t off = 0;
};

size_t read_upload(char* buf, size_t size, size_t n, void* p) {
  auto* u = static_cast<Upload*>(p);
  size_t k = std::min(size * n, u->text.size() - u->off);
  std::memcpy(buf, u->text.data() + u->off, k);
  u->off += k;
  return k;
}

// Keeps the server's last error reply (4xx or 5xx), so a failure can say what the
// server said ("550 5.1.1 no such user") rather than the "221 Bye" that follows.
// Only incoming lines: what we send holds the password.
int keep_last_reply(CURL*, curl_infotype type, char* data, size_t size, void* p) {
  if (type != CURLINFO_HEADER_IN) return 0;
  std::string line(data, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (!line.empty() && (line[0] == '4' || line[0] == '5')) *static_cast<std::string*>(p) = line;
  return 0;
}

std::string without_secret(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at; (at = text.find(secret)) != std::string::npos;) text.replace(at, secret.size(), "***");
  return text;
}

struct Result {
  Outcome outcome;
  std::string error;
};

// One SMTP transaction, blocking, on a worker thread.
Result deliver(const SmtpSettings& s, const std::string& rcpt, const std::string& message) {
  CURL* c = curl_easy_init();
  if (!c) return {Outcome::kTransient, "smtp: cannot create a libcurl handle"};
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string last_reply;
  Upload upload{message};
  std::string mail_from = "<" + s.envelope_from + ">";
  curl_slist* rcpts = curl_slist_append(nullptr, ("<" + rcpt + ">").c_str());
  bool implicit_tls = s.url.rfind("smtps://", 0) == 0;
  curl_easy_setopt(c, CURLOPT_URL, s.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // A password never crosses in clear: with one, TLS is required (smtps://, or a
  // STARTTLS that must succeed, before AUTH). Without one, STARTTLS is opportunistic.
  bool must_tls = implicit_tls || !s.password.empty();
  curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(must_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!s.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, s.ca_file.c_str());
  if (!s.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, s.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, s.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(s.conf.timeout));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded process
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // feeds keep_last_reply; nothing is printed
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, keep_last_reply);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &last_reply);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(rcpts);
  curl_easy_cleanup(c);
  if (rc == CURLE_OK) return {Outcome::kSent, ""};
  std::string error = "smtp " + s.conf.name + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
  if (rc == CURLE_USE_SSL_FAILED && !implicit_tls)
    error += " — the server offers no STARTTLS, and the password is never sent without TLS: use a server "
             "that offers STARTTLS, or smtps://";
  if (code >= 400 && !last_reply.empty()) error += " (server said: " + last_reply + ")";
  return {classify_smtp(rc, code), without_secret(error, s.password)};
}

}  // namespace

Outcome classify_smtp(int curl_code, long smtp_code) {
  if (curl_code == CURLE_OK) return Outcome::kSent;
  if (smtp_code >= 500 && smtp_code < 600) return Outcome::kPermanent;  // 550 no such user, 554 rejected
  if (smtp_code >= 400 && smtp_code < 500) return Outcome::kTransient;  // 421, 450, 451, 452: later
  switch (curl_code) {
    // Configuration the operator must fix: retrying cannot help, and the step's
    // next channel should get its chance.
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_LOGIN_DENIED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return Outcome::kPermanent;
    default:  // connection refused or reset, timeouts, DNS: the server may be back later
      return Outcome::kTransient;
  }
}

SmtpChannel::SmtpChannel(boost::asio::io_context& io, boost::asio::thread_pool& workers, SmtpSettings settings)
    : io_(io), workers_(workers), settings_(std::make_shared<const SmtpSettings>(std::move(settings))) {
  init_curl_once();
}

void SmtpChannel::send(const SendJob& job, SendDone done) {
  boost::asio::post(workers_, [s = settings_, job, done = std::move(done), &io = io_]() mutable {
    MailMessage m = build_mail(mail_parts(s->conf, job, SystemClock().now()));
    Result r = m.ok() ? deliver(*s, job.buyer_email, m.text)
                      : Result{Outcome::kPermanent, "smtp " + s->conf.name + ": " + m.error};
    boost::asio::post(io, [done = std::move(done), r = std::move(r)] { done(r.outcome, r.error); });
  });
}

std::unique_ptr<Channel> make_smtp_channel(const ChannelConf& conf, ChannelContext& ctx, std::string& error) {
  std::string where = "channel '" + conf.name + "': ";
  SmtpSettings s;
  s.conf = conf;
  s.url = conf.get("url");
  if (s.url.rfind("smtp://", 0) != 0 && s.url.rfind("smtps://", 0) != 0) {
    error = where + "url must start with smtp:// or smtps://";
    return nullptr;
  }
  Mailbox from;
  std::string err;
  if (!parse_mailbox(conf.get("from"), from, err)) {
    error = where + "from: " + err;
    return nullptr;
  }
  s.envelope_from = from.address;
  Mailbox reply_to;
  if (!conf.get("reply_to").empty() && !parse_mailbox(conf.get("reply_to"), reply_to, err)) {
    error = where + "reply_to: " + err;
    return nullptr;
  }
  s.username = conf.get("username");
  std::string password_file = conf.get("password_file");
  if (s.username.empty() != password_file.empty()) {
    error = where + "username and password_file go together";
    return nullptr;
  }
  if (!password_file.empty() && !read_secret(ctx.policy, password_file, ctx.credentials_dir, s.password, err)) {
    error = where + err;
    return nullptr;
  }
  s.ca_file = conf.get("ca_file");
  if (!s.ca_file.empty() && ::access(s.ca_file.c_str(), R_OK) != 0) {
    error = where + "cannot read ca_file " + s.ca_file + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<SmtpChannel>(ctx.io, ctx.workers, std::move(s));
}

}  // namespace nudge
