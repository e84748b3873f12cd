#include "daemon/aliexpress_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/steady_timer.hpp>
#include <date/date.h>

#include "core/hash.h"
#include "core/time_util.h"
#include "daemon/channel.h"

namespace nudge {

namespace {

constexpr Millis kRefreshAhead = 24 * kHour;        // refresh a token that expires within a day
constexpr Millis kRefreshRetryEvery = 60 * kSecond;  // after a failed refresh, try again at most this often

// One per shop for the life of the process: the source and the channel of a shop,
// and the policies before and after a reload, see the same token. Keyed by app key
// and shop: two stores (policy `sources`) on different apps never share an entry.
std::map<std::string, std::shared_ptr<IopAuth>>& auth_registry() {
  static std::map<std::string, std::shared_ptr<IopAuth>> r;
  return r;
}

RefreshHook& refresh_hook() {
  static RefreshHook h;
  return h;
}

// Until when each API of each app is banned after throttling.
std::map<std::string, std::chrono::steady_clock::time_point>& bans() {
  static std::map<std::string, std::chrono::steady_clock::time_point> b;
  return b;
}

std::optional<Millis> http_date(const std::string& s) {
  std::istringstream in(s);
  date::sys_seconds t;
  in >> date::parse("%a, %d %b %Y %H:%M:%S GMT", t);
  if (in.fail()) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Writes the token state file whole or not at all, readable by its owner only.
bool write_state(const IopAuth& auth, std::string& error) {
  if (auth.state_file.empty()) return true;
  nlohmann::json j = aliexpress::token_json(auth.tokens);
  j["session_sha256"] = auth.session_sha;
  j["shop"] = auth.shop;
  std::string text = j.dump() + "\n";
  std::string tmp = auth.state_file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, 0600);  // an older file of another mode is replaced, not kept
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), auth.state_file.c_str()) != 0) {
    error = "cannot write " + auth.state_file + ": " + std::strerror(ok ? errno : saved);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<nlohmann::json> read_state(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::string sign_path(const std::string& api) { return api.find('.') != std::string::npos ? "" : api; }

// The signed POST itself, without the token and ban logic around it.
void raw_call(boost::asio::io_context& io, const IopConf& conf, const std::string& api,
              std::map<std::string, std::string> params, IopDone done) {
  bool sync = api.find('.') != std::string::npos;
  params["app_key"] = conf.app_key;
  if (api != aliexpress::kTokenRefresh && conf.auth) params["access_token"] = conf.auth->tokens.access_token;
  params["sign_method"] = "sha256";
  params["timestamp"] = std::to_string(SystemClock().now());
  params["format"] = "json";  // the default, unsimplified answer shapes
  if (sync) params["method"] = api;
  params["sign"] = aliexpress::sign(sign_path(api), params, conf.app_secret);

  HttpRequest req;
  req.method = "POST";
  req.url = conf.gateway + (sync ? "/sync" : "/rest" + api);
  req.timeout = conf.timeout;
  req.ca_file = conf.ca_file;
  req.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8";
  for (const auto& [k, v] : params) req.body += (req.body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);

  std::string ban_key = conf.gateway + "|" + conf.app_key + "|" + api;
  http_request(io, std::move(req), [api, ban_key, done = std::move(done)](HttpResponse res) {
    IopResult r;
    if (auto d = res.headers.find("date"); d != res.headers.end()) r.server_time = http_date(d->second);
    if (!res.error.empty()) {
      r.error = api + ": " + res.error;
      r.transient = true;
      done(std::move(r));
      return;
    }
    auto answer = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded()) {
      r.error = api + ": HTTP " + std::to_string(res.status) + " with an answer that is not JSON";
      r.transient = true;
    } else if (auto e = aliexpress::gateway_error(answer)) {
      r.error = api + ": " + *e;
      r.transient = aliexpress::is_transient_error_code(*e) || res.status >= 500 || res.status == 429;
      r.credentials = aliexpress::is_credentials_error(*e);
      if (Millis ban = aliexpress::ban_of(*e); ban > 0)
        bans()[ban_key] = std::chrono::steady_clock::now() + std::chrono::milliseconds(ban);
    } else if (res.status < 200 || res.status >= 300) {
      r.error = api + ": HTTP " + std::to_string(res.status);
      r.transient = res.status >= 500 || res.status == 429 || res.status == 408;
    } else {
      r.answer = std::move(answer);
    }
    done(std::move(r));
  });
}

void finish_refresh(IopAuth& auth) {
  auth.refreshing = false;
  auto waiting = std::move(auth.waiting);
  auth.waiting.clear();
  for (auto& f : waiting) f();
}

// Refreshes the token, then runs every call held meanwhile (with the new token, or
// the old one if the refresh failed: it may still be good until it expires).
void refresh(boost::asio::io_context& io, const IopConf& conf) {
  auto auth = conf.auth;
  auth->refreshing = true;
  auth->last_refresh_try = SystemClock().now();
  raw_call(io, conf, aliexpress::kTokenRefresh, {{"refresh_token", auth->tokens.refresh_token}},
           [auth](IopResult r) {
             bool refreshed = false;
             std::string error;
             if (r.answer) {
               auto t = aliexpress::read_token_refresh(*r.answer, SystemClock().now());
               if (t.tokens) {
                 if (t.tokens->refresh_token.empty()) t.tokens->refresh_token = auth->tokens.refresh_token;
                 auth->tokens = *t.tokens;
                 refreshed = true;
                 std::string werr;  // an unwritable state folder: the new token still works in memory
                 if (!write_state(*auth, werr)) error = "the new token is kept in memory only: " + werr;
               } else {
                 error = std::string(aliexpress::kTokenRefresh) + ": " + t.error;
               }
             } else {
               error = r.error;
             }
             auth->last_refresh_error = refreshed ? "" : error;
             if (refresh_hook()) refresh_hook()(*auth, refreshed, error);
             finish_refresh(*auth);
           });
}

}  // namespace

void set_refresh_hook(RefreshHook hook) { refresh_hook() = std::move(hook); }

std::map<std::string, Millis> token_expiries() {
  std::map<std::string, Millis> out;
  for (const auto& [key, auth] : auth_registry())
    if (auth && auth->tokens.expires_at) out[auth->shop] = *auth->tokens.expires_at;
  return out;
}

void iop_call(boost::asio::io_context& io, const IopConf& conf, const std::string& api,
              std::map<std::string, std::string> params, IopDone done) {
  auto& auth = conf.auth;
  if (auth && api != aliexpress::kTokenRefresh) {
    if (auth->refreshing) {  // after the refresh, with the new token
      auth->waiting.push_back([&io, conf, api, params = std::move(params), done = std::move(done)]() mutable {
        iop_call(io, conf, api, std::move(params), std::move(done));
      });
      return;
    }
    Millis now = SystemClock().now();
    const auto& t = auth->tokens;
    bool refreshable = !t.refresh_token.empty() && (!t.refresh_expires_at || now < *t.refresh_expires_at);
    if (conf.may_refresh && t.expires_at && now >= *t.expires_at - kRefreshAhead && refreshable &&
        now - auth->last_refresh_try >= kRefreshRetryEvery) {
      auth->waiting.push_back([&io, conf, api, params = std::move(params), done = std::move(done)]() mutable {
        iop_call(io, conf, api, std::move(params), std::move(done));
      });
      refresh(io, conf);
      return;
    }
    if (t.expires_at && now >= *t.expires_at) {
      IopResult r;
      r.credentials = true;
      r.error = api + ": the access token of shop '" + auth->shop + "' expired at " + format_instant(*t.expires_at) +
                (t.refresh_token.empty() ? "; no refresh_token_file is set: authorise the app again and put the new "
                                           "token in the session file"
                                         : "; refreshing it failed: " + auth->last_refresh_error);
      done(std::move(r));
      return;
    }
  }
  // A throttled API waits out the ban the gateway stated before it is called again.
  std::string ban_key = conf.gateway + "|" + conf.app_key + "|" + api;
  if (auto b = bans().find(ban_key); b != bans().end()) {
    auto wait = b->second - std::chrono::steady_clock::now();
    if (wait > std::chrono::steady_clock::duration::zero()) {
      auto timer = std::make_shared<boost::asio::steady_timer>(io, wait);
      timer->async_wait([timer, &io, conf, api, params = std::move(params), done = std::move(done)](
                            const boost::system::error_code&) mutable {
        iop_call(io, conf, api, std::move(params), std::move(done));
      });
      return;
    }
    bans().erase(b);
  }
  raw_call(io, conf, api, std::move(params), std::move(done));
}

std::string token_state_file(const Policy& policy, const std::string& shop) {
  if (policy.store.empty() || policy.store == ":memory:") return "";
  std::string safe;
  for (char c : shop) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return (std::filesystem::path(policy.store).parent_path() / ("aliexpress-" + safe + ".token.json")).string();
}

std::optional<Millis> token_expiry_in(const std::string& state_file) {
  auto j = read_state(state_file);
  if (!j || !j->contains("expire_time") || !(*j)["expire_time"].is_number_integer()) return std::nullopt;
  return (*j)["expire_time"].get<Millis>();
}

bool load_iop_conf(const Policy& policy, const std::map<std::string, std::string>& settings,
                   const std::string& credentials_dir, const std::string& shop, IopConf& conf, std::string& error,
                   bool keep_state) {
  auto get = [&](const char* k, const std::string& fallback = "") {
    auto it = settings.find(k);
    return it == settings.end() ? fallback : it->second;
  };
  conf.gateway = get("gateway", aliexpress::kDefaultGateway);
  while (!conf.gateway.empty() && conf.gateway.back() == '/') conf.gateway.pop_back();
  if (!parse_url(conf.gateway)) {
    error = "gateway '" + conf.gateway + "' is not an http:// or https:// URL";
    return false;
  }
  conf.app_key = get("app_key");
  if (conf.app_key.empty()) {
    error = "app_key is missing";
    return false;
  }
  conf.ca_file = get("ca_file");
  std::string session, refresh_token;
  if (!read_secret(policy, get("app_secret_file"), credentials_dir, conf.app_secret, error) ||
      !read_secret(policy, get("session_file"), credentials_dir, session, error))
    return false;
  if (!get("refresh_token_file").empty() &&
      !read_secret(policy, get("refresh_token_file"), credentials_dir, refresh_token, error))
    return false;

  Millis now = SystemClock().now();
  std::string sha = sha256_hex(session + "\n" + refresh_token);
  auto& slot = auth_registry()[conf.app_key + "\n" + shop];
  if (!slot || slot->session_sha != sha) {
    auto auth = std::make_shared<IopAuth>();
    auth->shop = shop;
    auth->session_sha = sha;
    auth->state_file = token_state_file(policy, shop);
    auth->tokens = aliexpress::read_session_text(session, now);
    if (!refresh_token.empty()) auth->tokens.refresh_token = refresh_token;
    // A token refreshed earlier from these same files is newer than the files.
    if (auto kept = read_state(auth->state_file);
        kept && kept->value("session_sha256", "") == sha && kept->value("shop", "") == shop) {
      auto t = aliexpress::read_token_refresh(*kept, now);
      if (t.tokens) auth->tokens = *t.tokens;
    }
    std::string werr;
    if (keep_state) write_state(*auth, werr);  // best effort: `nudgectl status` reads the expiry from it
    slot = auth;
  }
  conf.auth = slot;
  return true;
}

}  // namespace nudge
