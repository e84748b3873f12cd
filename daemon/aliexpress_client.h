// Signed calls to the AliExpress (IOP) gateway, shared by the aliexpress source and
// channel: builds the signed form, POSTs it with the HTTP client, parses the JSON and
// classifies failures. Also owns what every call needs around it: the seller's
// current access token (refreshed ahead of expiry with /auth/token/refresh and kept
// in the state folder) and the platform's per-API bans after throttling ("this ban
// will last N seconds": the next call to that API waits it out).
// Use only from the io_context thread; `done` runs there once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/aliexpress.h"
#include "core/policy.h"
#include "daemon/http_client.h"

namespace nudge {

// The seller's tokens for one shop, shared by the source and the channel that use
// them and kept across reloads (one per shop in the process). Loop thread only.
struct IopAuth {
  std::string shop;
  aliexpress::TokenSet tokens;
  std::string session_sha;    // of the session file it came from: a new file means a new token
  std::string state_file;     // <state folder>/aliexpress-<shop>.token.json, mode 0600
  bool refreshing = false;
  std::vector<std::function<void()>> waiting;  // calls held while a refresh is in flight
  Millis last_refresh_try = 0;
  std::string last_refresh_error;
};

// Told of every refresh, for the audit (`token_refreshed`) and the logs.
using RefreshHook = std::function<void(const IopAuth& auth, bool ok, const std::string& error)>;
void set_refresh_hook(RefreshHook hook);

struct IopConf {
  std::string gateway;  // "https://api-sg.aliexpress.com", no trailing slash
  std::string app_key, app_secret;
  std::shared_ptr<IopAuth> auth;
  Millis timeout = 30 * kSecond;
  std::string ca_file;
  bool may_refresh = true;  // false for `nudgectl source check`: the daemon owns the token
};

struct IopResult {
  std::optional<nlohmann::json> answer;  // set on success
  std::string error;                     // otherwise: what went wrong, without secrets
  bool transient = false;                // throttling, 5xx, timeouts, bad JSON: try later
  bool credentials = false;              // the gateway refused the app key, token or signature
  std::optional<Millis> server_time;     // from the answer's Date header, for clock skew
};

using IopDone = std::function<void(IopResult)>;

// `api` is either a /sync method name with dots ("aliexpress.trade.seller.orderlist.get")
// or a /rest path ("/aliexpress/message/send"). Refreshes the token first when it
// expires within a day and a refresh token is known; waits out a ban on `api`.
void iop_call(boost::asio::io_context& io, const IopConf& conf, const std::string& api,
              std::map<std::string, std::string> params, IopDone done);

// Reads gateway, app_key, app_secret_file, session_file, refresh_token_file from a
// source or channel's settings (a channel inherits them from the policy's aliexpress
// source). The session file holds the seller's access token, or the JSON answer of
// /auth/token/create. `shop` names the token's state file, which the daemon keeps
// (`keep_state`) and any other reader only reads.
bool load_iop_conf(const Policy& policy, const std::map<std::string, std::string>& settings,
                   const std::string& credentials_dir, const std::string& shop, IopConf& conf, std::string& error,
                   bool keep_state = true);

// The known expiry of each shop's current token (shop -> UTC ms), for the metrics.
std::map<std::string, Millis> token_expiries();

// Where the current token of `shop` is kept, beside the store.
std::string token_state_file(const Policy& policy, const std::string& shop);

// The expiry kept in a token state file, for `nudgectl status` and the metrics.
std::optional<Millis> token_expiry_in(const std::string& state_file);

}  // namespace nudge
