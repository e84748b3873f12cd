#include "daemon/aliexpress_client.h"

#include "core/aliexpress.h"
#include "daemon/channel.h"

namespace nudge {

bool load_iop_conf(const Policy& policy, const std::map<std::string, std::string>& settings,
                   const std::string& credentials_dir, IopConf& conf, std::string& error) {
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
  return read_secret(policy, get("app_secret_file"), credentials_dir, conf.app_secret, error) &&
         read_secret(policy, get("session_file"), credentials_dir, conf.access_token, error);
}

void iop_call(boost::asio::io_context& io, const IopConf& conf, const std::string& api,
              std::map<std::string, std::string> params, IopDone done) {
  bool sync = api.find('.') != std::string::npos;
  params["app_key"] = conf.app_key;
  params["access_token"] = conf.access_token;
  params["sign_method"] = "sha256";
  params["timestamp"] = std::to_string(SystemClock().now());
  if (sync) params["method"] = api;
  params["sign"] = aliexpress::sign(sync ? "" : api, params, conf.app_secret);

  HttpRequest req;
  req.method = "POST";
  req.url = conf.gateway + (sync ? "/sync" : "/rest" + api);
  req.timeout = conf.timeout;
  req.ca_file = conf.ca_file;
  req.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8";
  for (const auto& [k, v] : params) req.body += (req.body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);

  http_request(io, std::move(req), [api, done = std::move(done)](HttpResponse res) {
    IopResult r;
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
    } else if (res.status < 200 || res.status >= 300) {
      r.error = api + ": HTTP " + std::to_string(res.status);
      r.transient = res.status >= 500 || res.status == 429 || res.status == 408;
    } else {
      r.answer = std::move(answer);
    }
    done(std::move(r));
  });
}

}  // namespace nudge
