// Signed calls to the AliExpress (IOP) gateway, shared by the aliexpress source and
// channel: builds the signed form, POSTs it with the HTTP client, parses the JSON and
// classifies failures. Use only from the io_context thread; `done` runs there once.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/policy.h"
#include "daemon/http_client.h"

namespace nudge {

struct IopConf {
  std::string gateway;  // "https://api-sg.aliexpress.com", no trailing slash
  std::string app_key, app_secret, access_token;
  Millis timeout = 30 * kSecond;
  std::string ca_file;
};

struct IopResult {
  std::optional<nlohmann::json> answer;  // set on success
  std::string error;                     // otherwise: what went wrong, without secrets
  bool transient = false;                // throttling, 5xx, timeouts, bad JSON: try later
};

using IopDone = std::function<void(IopResult)>;

// `api` is either a /sync method name with dots ("aliexpress.trade.seller.orderlist.get")
// or a /rest path ("/aliexpress/message/send").
void iop_call(boost::asio::io_context& io, const IopConf& conf, const std::string& api,
              std::map<std::string, std::string> params, IopDone done);

// Reads gateway, app_key, app_secret_file, session_file from a source or channel's
// settings. The session file holds the seller's access token.
bool load_iop_conf(const Policy& policy, const std::map<std::string, std::string>& settings,
                   const std::string& credentials_dir, IopConf& conf, std::string& error);

}  // namespace nudge
