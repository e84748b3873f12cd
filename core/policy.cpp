#include "core/policy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <utility>

#include <date/tz.h>
#include <yaml-cpp/yaml.h>

#include "core/hash.h"
#include "core/safety.h"
#include "core/time_util.h"

namespace nudge {

std::string PolicyError::to_string() const {
  std::string kind = severity == Severity::kWarning ? "warning: " : severity == Severity::kNote ? "note: " : "";
  if (line == 0) return file + ": " + kind + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + kind + message;
}

std::string warning_count(const std::vector<PolicyError>& warnings) {
  int w = 0, n = 0;
  for (const auto& e : warnings) (e.severity == Severity::kNote ? n : w)++;
  if (w + n == 0) return "";
  std::string out = " (";
  if (w) out += std::to_string(w) + (w == 1 ? " warning" : " warnings");
  if (w && n) out += ", ";
  if (n) out += std::to_string(n) + (n == 1 ? " note" : " notes");
  return out + ")";
}

std::string Window::label() const { return std::to_string(max) + "/" + format_duration(within); }

std::string ChannelConf::get(const std::string& key, const std::string& fallback) const {
  auto it = settings.find(key);
  return it == settings.end() ? fallback : it->second;
}

std::string SourceConf::get(const std::string& key, const std::string& fallback) const {
  auto it = settings.find(key);
  return it == settings.end() ? fallback : it->second;
}

std::string Policy::default_language() const {
  auto it = languages.find("default");
  return it == languages.end() ? "en" : it->second;
}

std::string resolve_secret_path(const Policy& policy, const std::string& name, const std::string& credentials_dir) {
  namespace fs = std::filesystem;
  if (fs::path(name).is_absolute()) return name;
  if (!credentials_dir.empty()) return (fs::path(credentials_dir) / name).string();
  return (fs::path(policy.base_dir) / name).string();
}

namespace {
PolicyObserver* g_observer = nullptr;
}  // namespace

PolicyObserver* set_policy_observer(PolicyObserver* observer) { return std::exchange(g_observer, observer); }

namespace {

// Collects errors while walking the YAML tree, so that one run reports them all.
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& m, const std::string& msg) {
    errors_.push_back({file_, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, msg});
  }
  void error(const YAML::Node& n, const std::string& msg) { error(n.Mark(), msg); }
  std::vector<PolicyError>& errors() { return errors_; }

  // Reports every key of `map` not in `allowed`; returns false if `map` is not a map.
  bool keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& allowed) {
    if (g_observer) g_observer->keys_checked(where, allowed);
    if (!map.IsMap()) {
      error(map, where + " must be a mapping of keys to values");
      return false;
    }
    for (const auto& kv : map) {
      std::string k = kv.first.Scalar();
      if (!allowed.count(k)) {
        std::string hint;
        for (const auto& a : allowed) {
          if (close_to(k, a)) hint = " (did you mean '" + a + "'?)";
        }
        error(kv.first, "unknown key '" + k + "' in " + where + hint);
      }
    }
    return true;
  }

  std::optional<std::string> scalar(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, what + " must be a single value, not a list or mapping");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<Millis> duration(const YAML::Node& n, const std::string& what) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) error(n, what + " must be a duration like 30s, 15m, 2h, 7d or 1h30m, not '" + *s + "'");
    return d;
  }

  std::optional<long> integer(const YAML::Node& n, const std::string& what, long min, long max) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    char* end = nullptr;
    long v = std::strtol(s->c_str(), &end, 10);
    if (s->empty() || *end != '\0' || v < min || v > max) {
      error(n, what + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                   ", not '" + *s + "'");
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> number(const YAML::Node& n, const std::string& what) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(s->c_str(), &end);
    if (s->empty() || *end != '\0' || v < 0) {
      error(n, what + " must be a number such as 10 or 25.50, not '" + *s + "'");
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    auto s = scalar(n, what);
    if (!s) return std::nullopt;
    if (*s == "true" || *s == "yes" || *s == "on") return true;
    if (*s == "false" || *s == "no" || *s == "off") return false;
    error(n, what + " must be true or false, not '" + *s + "'");
    return std::nullopt;
  }

  // Accepts a single string or a list of strings.
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
    } else if (n.IsSequence()) {
      for (const auto& item : n) {
        if (auto s = scalar(item, what + " entries")) out.push_back(*s);
      }
    } else {
      error(n, what + " must be a value or a list of values");
    }
    return out;
  }

 private:
  // One edit apart (a typo), for "did you mean".
  static bool close_to(const std::string& a, const std::string& b) {
    if (a == b) return false;
    size_t la = a.size(), lb = b.size();
    if (la > lb + 1 || lb > la + 1) return false;
    std::vector<std::vector<size_t>> d(la + 1, std::vector<size_t>(lb + 1));
    for (size_t i = 0; i <= la; ++i) d[i][0] = i;
    for (size_t j = 0; j <= lb; ++j) d[0][j] = j;
    for (size_t i = 1; i <= la; ++i)
      for (size_t j = 1; j <= lb; ++j)
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
    return d[la][lb] <= 2 && std::min(la, lb) >= 3;
  }

  std::string file_;
  std::vector<PolicyError> errors_;
};

std::string absolute_in(const std::string& base, const std::string& p) {
  namespace fs = std::filesystem;
  if (p.empty() || p == ":memory:" || fs::path(p).is_absolute()) return p;
  return (fs::path(base) / p).lexically_normal().string();
}

const std::set<std::string> kChannelCommon = {"type", "rate", "timeout", "retries", "delivery"};
const std::map<std::string, std::set<std::string>> kChannelKeys = {
    {"outbox", {"dir"}},
    {"discard", {}},
    {"smtp", {"url", "from", "username", "password_file", "ca_file", "reply_to"}},
    {"sendmail", {"from", "path", "reply_to"}},
    {"webhook", {"url", "secret_file", "ca_file"}},
    {"aliexpress",
     {"gateway", "app_key", "app_secret_file", "session_file", "refresh_token_file", "ca_file", "message",
      "verify_before_send"}},
};
const std::map<std::string, std::set<std::string>> kSourceKeys = {
    {"inbox", {"page_size"}},
    {"http", {"url", "token_file", "ca_file"}},
    {"aliexpress",
     {"gateway", "app_key", "app_secret_file", "session_file", "refresh_token_file", "ca_file", "page_size", "overlap",
      "shop"}},
};
// What an aliexpress channel that names no credentials of its own takes from the
// policy's aliexpress source: one authorised seller, one set of credentials.
const std::vector<std::string> kIopCredentials = {"gateway", "app_key", "app_secret_file", "session_file",
                                                  "refresh_token_file", "ca_file"};
const std::set<std::string> kPathSettings = {"dir", "ca_file", "path"};

// "5/s", "100/m", "1000/h", "10000/d" -> per second.
std::optional<double> parse_rate(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  // The number in a string of its own that outlives `end` (strtod's end pointed into
  // a destroyed temporary: found by scripts/test --sanitize).
  const std::string number = s.substr(0, slash);
  char* end = nullptr;
  double n = std::strtod(number.c_str(), &end);
  if (*end != '\0' || n <= 0) return std::nullopt;
  std::string unit = s.substr(slash + 1);
  if (unit == "s") return n;
  if (unit == "m") return n / 60;
  if (unit == "h") return n / 3600;
  if (unit == "d") return n / 86400;
  return std::nullopt;
}

void parse_settings(Checker& c, const YAML::Node& node, const std::string& where, const std::set<std::string>& skip,
                    const std::string& base, std::map<std::string, std::string>& out) {
  for (const auto& kv : node) {
    std::string k = kv.first.Scalar();
    if (skip.count(k)) continue;
    if (auto v = c.scalar(kv.second, where + "." + k)) {
      out[k] = kPathSettings.count(k) ? absolute_in(base, *v) : *v;
    }
  }
}

// One source, `where` naming it in errors ("source", "sources[2]").
bool parse_source(Checker& c, const YAML::Node& n, const std::string& where, const std::string& base_dir,
                  SourceConf& out) {
  std::set<std::string> allowed = {"type", "every"};
  std::string type = "inbox";
  if (n.IsMap() && n["type"]) {
    if (auto t = c.scalar(n["type"], where + ".type")) type = *t;
  }
  auto it = kSourceKeys.find(type);
  if (it == kSourceKeys.end()) {
    c.error(n["type"], where + ".type must be one of inbox, http, aliexpress, not '" + type + "'");
    return false;
  }
  allowed.insert(it->second.begin(), it->second.end());
  if (!c.keys(n, where, allowed)) return false;
  out.type = type;
  out.name = type;
  if (n["every"]) {
    if (auto d = c.duration(n["every"], where + ".every")) {
      if (*d < kSecond)
        c.error(n["every"], where + ".every must be at least 1s");
      else
        out.every = *d;
    }
  }
  parse_settings(c, n, where, {"type", "every"}, base_dir, out.settings);
  for (const char* req : {"url"}) {
    if (type == "http" && !n[req]) c.error(n, where + " of type http needs '" + req + "'");
  }
  if (type == "aliexpress") {
    for (const char* req : {"app_key", "app_secret_file", "session_file"})
      if (!n[req]) c.error(n, where + " of type aliexpress needs '" + req + "'");
    out.shop = out.get("shop", out.get("app_key"));
  }
  if (n["page_size"]) {
    long max = type == "aliexpress" ? 50 : 10000;
    c.integer(n["page_size"], where + ".page_size", 1, max);
  }
  return true;
}

// `source:` (one) or `sources:` (a list: several aliexpress stores, each with its own
// shop, credentials and cursor; at most one inbox and one http source beside them).
void parse_sources(Checker& c, const YAML::Node& root, Policy& p) {
  if (root["source"] && root["sources"]) {
    c.error(root["sources"], "the policy has both 'source' and 'sources'; keep one (sources: a list of sources)");
    return;
  }
  if (root["source"]) {
    SourceConf s;
    if (parse_source(c, root["source"], "source", p.base_dir, s)) p.sources = {s};
  } else if (root["sources"]) {
    const auto& list = root["sources"];
    if (!list.IsSequence() || list.size() == 0) {
      c.error(list, "sources must be a list of at least one source, each like a 'source' (type, every, ...)");
      return;
    }
    std::map<std::string, int> names;  // name -> 1-based index
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = "sources[" + std::to_string(i + 1) + "]";
      SourceConf s;
      if (!parse_source(c, list[i], where, p.base_dir, s)) continue;
      if (s.type == "aliexpress") s.name = "aliexpress:" + s.shop;
      if (auto seen = names.find(s.name); seen != names.end()) {
        c.error(list[i], s.type == "aliexpress"
                             ? where + " is a second aliexpress source for shop '" + s.shop + "' (" + "sources[" +
                                   std::to_string(seen->second) + "]); give each store its own 'shop'"
                             : where + " is a second " + s.type + " source (sources[" +
                                   std::to_string(seen->second) + "]); only aliexpress sources may repeat, one per shop");
        continue;
      }
      names[s.name] = static_cast<int>(i + 1);
      p.sources.push_back(std::move(s));
    }
  }
  if (p.sources.empty()) p.sources.push_back(SourceConf{});
  p.source = p.sources.front();
}

void parse_payment(Checker& c, const YAML::Node& n, Policy& p) {
  if (!c.keys(n, "payment", {"deadline", "closes_after", "stop_before_close"})) return;
  if (n["deadline"])
    if (auto d = c.duration(n["deadline"], "payment.deadline")) p.payment.deadline = *d;
  if (n["closes_after"])
    if (auto d = c.duration(n["closes_after"], "payment.closes_after")) p.payment.closes_after = *d;
  if (n["stop_before_close"])
    if (auto d = c.duration(n["stop_before_close"], "payment.stop_before_close")) p.payment.stop_before_close = *d;
}

// A step's template: one name, a list of A/B variants with equal weights
// ([gentle, warm]) or a mapping of variants to weights ({gentle: 70, warm: 30}).
void parse_step_template(Checker& c, const YAML::Node& n, Step& step) {
  std::set<std::string> seen;
  auto add = [&](const YAML::Node& at, const std::string& name, int weight) {
    if (name.empty()) return c.error(at, "step.template: a variant needs a template name");
    if (!seen.insert(name).second) return c.error(at, "step.template names variant '" + name + "' twice");
    step.variants.push_back({name, weight});
  };
  if (n.IsScalar()) {
    step.tmpl = n.Scalar();
    return;
  }
  if (n.IsSequence()) {
    for (const auto& item : n)
      if (auto s = c.scalar(item, "step.template variants")) add(item, *s, 1);
  } else if (n.IsMap()) {
    for (const auto& kv : n)
      if (auto w = c.integer(kv.second, "the weight of variant '" + kv.first.Scalar() + "'", 1, 10000))
        add(kv.first, kv.first.Scalar(), static_cast<int>(*w));
  } else {
    return c.error(n, "step.template must be a template name, a list of variants [a, b] or weights {a: 70, b: 30}");
  }
  if (step.variants.empty()) {
    c.error(n, "step.template lists no variants");
    return;
  }
  step.tmpl = step.variants.front().template_name;
  if (step.variants.size() == 1) step.variants.clear();  // one variant is simply the template
}

// experiment: {holdout: 5%, salt: "...", attribution_window: 72h}
void parse_experiment(Checker& c, const YAML::Node& n, Policy& p) {
  auto& e = p.experiment;
  if (!c.keys(n, "experiment", {"holdout", "salt", "attribution_window"})) return;
  if (n["holdout"]) {
    if (auto s = c.scalar(n["holdout"], "experiment.holdout")) {
      // "5%", "2.5%", "0%": a percentage with at most two decimals, at most 50%.
      std::optional<int> bp;
      std::string v = *s;
      if (v.size() >= 2 && v.back() == '%') {
        v.pop_back();
        auto dot = v.find('.');
        std::string whole = v.substr(0, dot), frac = dot == std::string::npos ? "" : v.substr(dot + 1);
        auto digits = [](const std::string& d) {
          return std::all_of(d.begin(), d.end(), [](unsigned char ch) { return std::isdigit(ch); });
        };
        if (!whole.empty() && whole.size() <= 3 && digits(whole) && frac.size() <= 2 && digits(frac) &&
            (dot == std::string::npos || !frac.empty())) {
          while (frac.size() < 2) frac += '0';
          bp = std::stoi(whole) * 100 + std::stoi(frac);
        }
      }
      if (!bp || *bp > 5000)
        c.error(n["holdout"], "experiment.holdout must be a share from 0% to 50% such as 5% or 2.5%, not '" + *s + "'");
      else
        e.holdout_bp = *bp;
    }
  }
  if (n["salt"])
    if (auto s = c.scalar(n["salt"], "experiment.salt")) e.salt = *s;
  if (n["attribution_window"])
    if (auto d = c.duration(n["attribution_window"], "experiment.attribution_window")) {
      if (*d < kHour || *d > 30 * kDay)
        c.error(n["attribution_window"], "experiment.attribution_window must be from 1h to 30d");
      else
        e.attribution_window = *d;
    }
  // Without a salt of its own, every seller's holdout would be the same buyers, and a
  // new experiment could not be drawn afresh: a holdout needs one.
  if (e.holdout_bp > 0 && e.salt.empty())
    c.error(n["holdout"], "experiment.holdout needs experiment.salt, a text of your choice (say \"2026-q4\"); "
                          "a new salt draws a new holdout");
}

void parse_campaigns(Checker& c, const YAML::Node& n, Policy& p) {
  if (!n.IsSequence()) {
    c.error(n, "campaigns must be a list, each with a name, a match and steps");
    return;
  }
  std::set<std::string> names;
  for (const auto& cn : n) {
    Campaign camp;
    if (!c.keys(cn, "a campaign", {"name", "match", "steps"})) continue;
    if (!cn["name"]) {
      c.error(cn, "this campaign has no name");
    } else if (auto s = c.scalar(cn["name"], "campaign name")) {
      camp.name = *s;
      if (!names.insert(*s).second) c.error(cn["name"], "campaign name '" + *s + "' is used twice");
    }
    std::string where = "campaign '" + camp.name + "'";
    if (!cn["match"]) {
      c.error(cn, where + " has no match (use match: {} to match every order)");
    } else {
      const auto& m = cn["match"];
      if (m.IsNull()) {
      } else if (c.keys(m, where + " match", {"shops", "countries", "not_countries", "min_amount", "max_amount"})) {
        if (m["shops"]) camp.match.shops = c.strings(m["shops"], "match.shops");
        if (m["countries"]) camp.match.countries = c.strings(m["countries"], "match.countries");
        if (m["not_countries"]) camp.match.not_countries = c.strings(m["not_countries"], "match.not_countries");
        for (auto* list : {&camp.match.countries, &camp.match.not_countries})
          for (auto& cc : *list) std::transform(cc.begin(), cc.end(), cc.begin(), ::toupper);
        if (m["min_amount"]) camp.match.min_amount = c.number(m["min_amount"], "match.min_amount");
        if (m["max_amount"]) camp.match.max_amount = c.number(m["max_amount"], "match.max_amount");
      }
    }
    if (!cn["steps"] || !cn["steps"].IsSequence() || cn["steps"].size() == 0) {
      c.error(cn["steps"] ? cn["steps"] : cn, where + " needs a list of steps");
    } else {
      std::set<std::string> step_names;
      for (const auto& sn : cn["steps"]) {
        Step step;
        if (!c.keys(sn, "a step", {"name", "after", "channel", "template"})) continue;
        for (const char* req : {"name", "after", "channel", "template"}) {
          if (!sn[req]) c.error(sn, "this step of " + where + " has no " + req);
        }
        if (sn["name"])
          if (auto s = c.scalar(sn["name"], "step name")) {
            step.name = *s;
            if (!step_names.insert(*s).second) c.error(sn["name"], "step name '" + *s + "' is used twice in " + where);
          }
        if (sn["after"])
          if (auto d = c.duration(sn["after"], "step.after")) step.after = *d;
        if (sn["channel"]) step.channels = c.strings(sn["channel"], "step.channel");
        if (sn["template"]) parse_step_template(c, sn["template"], step);
        for (const auto& ch : step.channels) {
          if (!p.channels.count(ch)) {
            std::string known;
            for (const auto& [k, v] : p.channels) known += (known.empty() ? "" : ", ") + k;
            c.error(sn["channel"], "step '" + step.name + "' uses channel '" + ch + "', which is not defined under channels" +
                                       (known.empty() ? "" : " (defined: " + known + ")"));
          }
        }
        if (step.variants.empty()) {
          if (!step.tmpl.empty() && !p.templates.count(step.tmpl))
            c.error(sn["template"], "step '" + step.name + "' uses template '" + step.tmpl +
                                        "', which is not defined under templates");
        } else {
          for (const auto& v : step.variants)
            if (!p.templates.count(v.template_name))
              c.error(sn["template"], "step '" + step.name + "' uses template '" + v.template_name +
                                          "' as a variant, which is not defined under templates");
        }
        camp.steps.push_back(step);
      }
    }
    p.campaigns.push_back(std::move(camp));
  }
}

void parse_limits(Checker& c, const YAML::Node& n, Policy& p) {
  auto& l = p.limits;
  if (!c.keys(n, "limits", {"per_order", "per_buyer", "skip_if_paid_within", "quiet_hours", "when_limited", "merge",
                            "misfire_grace", "scope"}))
    return;
  if (n["per_order"])
    if (auto v = c.integer(n["per_order"], "limits.per_order", 1, 1000)) l.per_order = static_cast<int>(*v);
  if (n["per_buyer"]) {
    if (!n["per_buyer"].IsSequence()) {
      c.error(n["per_buyer"], "limits.per_buyer must be a list like [{max: 1, within: 24h}]");
    } else {
      for (const auto& w : n["per_buyer"]) {
        if (!c.keys(w, "a per_buyer window", {"max", "within"})) continue;
        Window win;
        bool ok = true;
        if (!w["max"] || !w["within"]) {
          c.error(w, "a per_buyer window needs both max and within");
          ok = false;
        }
        if (w["max"]) {
          if (auto v = c.integer(w["max"], "per_buyer max", 1, 1000)) win.max = static_cast<int>(*v); else ok = false;
        }
        if (w["within"]) {
          if (auto d = c.duration(w["within"], "per_buyer within"); d && *d > 0) win.within = *d; else {
            if (d) c.error(w["within"], "per_buyer within must be longer than 0s");
            ok = false;
          }
        }
        if (ok) l.per_buyer.push_back(win);
      }
    }
  }
  if (n["skip_if_paid_within"])
    if (auto d = c.duration(n["skip_if_paid_within"], "limits.skip_if_paid_within")) l.skip_if_paid_within = *d;
  if (n["quiet_hours"]) {
    const auto& q = n["quiet_hours"];
    if (q.IsNull()) {
    } else if (c.keys(q, "limits.quiet_hours", {"from", "to"})) {
      QuietHours qh;
      bool ok = true;
      for (auto [key, field] : {std::pair{"from", &qh.from_min}, std::pair{"to", &qh.to_min}}) {
        if (!q[key]) {
          c.error(q, std::string("limits.quiet_hours needs '") + key + "' (a time like \"21:00\")");
          ok = false;
          continue;
        }
        auto s = c.scalar(q[key], std::string("quiet_hours.") + key);
        auto t = s ? parse_clock_time(*s) : std::nullopt;
        if (!t) {
          if (s) c.error(q[key], std::string("quiet_hours.") + key + " must be a time like \"21:00\", not '" + *s + "'");
          ok = false;
        } else {
          *field = *t;
        }
      }
      if (ok && qh.from_min == qh.to_min) {
        c.error(q, "quiet_hours from and to are equal; remove quiet_hours to allow any time");
        ok = false;
      }
      if (ok) l.quiet_hours = qh;
    }
  }
  if (n["scope"])
    if (auto s = c.scalar(n["scope"], "limits.scope")) {
      if (*s == "shop")
        l.scope = CapScope::kShop;
      else if (*s == "seller")
        l.scope = CapScope::kSeller;
      else
        c.error(n["scope"], "limits.scope must be shop (caps per shop) or seller (across this instance's shops), not '" +
                                *s + "'");
    }
  if (n["when_limited"])
    if (auto s = c.scalar(n["when_limited"], "limits.when_limited")) {
      if (*s == "defer")
        l.when_limited = WhenLimited::kDefer;
      else if (*s == "skip")
        l.when_limited = WhenLimited::kSkip;
      else
        c.error(n["when_limited"], "limits.when_limited must be defer or skip, not '" + *s + "'");
    }
  if (n["merge"])
    if (auto b = c.boolean(n["merge"], "limits.merge")) l.merge = *b;
  if (n["misfire_grace"])
    if (auto d = c.duration(n["misfire_grace"], "limits.misfire_grace")) l.misfire_grace = *d;
}

bool valid_zone(const std::string& z) {
  try {
    date::locate_zone(z);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void parse_country_map(Checker& c, const YAML::Node& n, const std::string& what,
                       std::map<std::string, std::string>& out, bool zones) {
  if (!n.IsMap()) {
    c.error(n, what + " must be a mapping like {default: ..., ES: ...}");
    return;
  }
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    bool is_country = k.size() == 2 && std::isupper(static_cast<unsigned char>(k[0])) &&
                      std::isupper(static_cast<unsigned char>(k[1]));
    if (k != "default" && !is_country) {
      c.error(kv.first, what + " keys must be 'default' or a two-letter country code like ES, not '" + k + "'");
      continue;
    }
    auto v = c.scalar(kv.second, what + "." + k);
    if (!v) continue;
    if (zones && !valid_zone(*v)) {
      c.error(kv.second, "'" + *v + "' is not a time zone in the system's tz database (use names like Europe/Madrid)");
      continue;
    }
    out[k] = *v;
  }
}

void parse_channels(Checker& c, const YAML::Node& n, Policy& p) {
  if (!n.IsMap()) {
    c.error(n, "channels must be a mapping of channel names to settings");
    return;
  }
  for (const auto& kv : n) {
    ChannelConf ch;
    ch.name = kv.first.Scalar();
    const auto& cn = kv.second;
    std::string where = "channel '" + ch.name + "'";
    if (!cn.IsMap()) {
      c.error(cn, where + " must be a mapping with at least a type");
      continue;
    }
    if (!cn["type"]) {
      c.error(cn, where + " has no type (one of outbox, smtp, sendmail, webhook, aliexpress, discard)");
      continue;
    }
    auto type = c.scalar(cn["type"], where + " type");
    if (!type) continue;
    auto it = kChannelKeys.find(*type);
    if (it == kChannelKeys.end()) {
      c.error(cn["type"], where + " has type '" + *type + "'; it must be one of outbox, smtp, sendmail, webhook, aliexpress, discard");
      continue;
    }
    ch.type = *type;
    std::set<std::string> allowed = kChannelCommon;
    allowed.insert(it->second.begin(), it->second.end());
    c.keys(cn, where, allowed);
    if (cn["rate"])
      if (auto s = c.scalar(cn["rate"], where + " rate")) {
        if (auto r = parse_rate(*s))
          ch.rate_per_sec = *r;
        else
          c.error(cn["rate"], where + " rate must look like 5/s, 100/m or 1000/h, not '" + *s + "'");
      }
    if (cn["timeout"])
      if (auto d = c.duration(cn["timeout"], where + " timeout")) ch.timeout = *d;
    if (cn["retries"]) {
      const auto& r = cn["retries"];
      if (c.keys(r, where + " retries", {"max", "backoff"})) {
        if (r["max"])
          if (auto v = c.integer(r["max"], "retries.max", 0, 100)) ch.retries.max = static_cast<int>(*v);
        if (r["backoff"])
          if (auto d = c.duration(r["backoff"], "retries.backoff")) ch.retries.backoff = *d;
      }
    }
    if (cn["delivery"])
      if (auto s = c.scalar(cn["delivery"], where + " delivery")) {
        if (*s == "at_most_once")
          ch.delivery = Delivery::kAtMostOnce;
        else if (*s == "at_least_once")
          ch.delivery = Delivery::kAtLeastOnce;
        else
          c.error(cn["delivery"], where + " delivery must be at_most_once or at_least_once, not '" + *s + "'");
      }
    parse_settings(c, cn, where, kChannelCommon, p.base_dir, ch.settings);
    if (ch.type == "outbox" && !cn["dir"]) c.error(cn, where + " (outbox) needs 'dir', the folder messages are written to");
    if (ch.type == "smtp")
      for (const char* req : {"url", "from"})
        if (!cn[req]) c.error(cn, where + " (smtp) needs '" + req + "'");
    if (ch.type == "webhook")
      for (const char* req : {"url", "secret_file"})
        if (!cn[req]) c.error(cn, where + " (webhook) needs '" + req + "'");
    if (ch.type == "sendmail" && !cn["from"]) c.error(cn, where + " (sendmail) needs 'from'");
    if (ch.type == "aliexpress") {
      bool names_any = cn["app_key"] || cn["app_secret_file"] || cn["session_file"];
      const SourceConf* ali = nullptr;  // the first aliexpress source
      for (const auto& src : p.sources)
        if (!ali && src.type == "aliexpress") ali = &src;
      if (!names_any && ali) {
        // Each message goes with its shop's source's credentials (daemon/channel.cpp);
        // the first source's are kept here for tools that need one set.
        for (const auto& k : kIopCredentials)
          if (auto v = ali->settings.find(k); v != ali->settings.end() && !ch.settings.count(k))
            ch.settings[k] = v->second;
        ch.settings["shop"] = ali->shop;
        ch.uses_source_credentials = true;
      } else if (!names_any) {
        c.error(cn, where + " (aliexpress) names no app_key, app_secret_file and session_file, and the policy has "
                            "no aliexpress source to take them from");
      } else {
        for (const char* req : {"app_key", "app_secret_file", "session_file"})
          if (!cn[req]) c.error(cn, where + " (aliexpress) names some credentials but not '" + req + "'");
      }
    }
    p.channels[ch.name] = std::move(ch);
  }
}

void parse_templates(Checker& c, const YAML::Node& n, Policy& p) {
  if (!n.IsMap()) {
    c.error(n, "templates must be a mapping of template names to languages");
    return;
  }
  for (const auto& kv : n) {
    std::string name = kv.first.Scalar();
    const auto& tn = kv.second;
    if (!tn.IsMap()) {
      c.error(tn, "template '" + name + "' must map languages to {subject, body}");
      continue;
    }
    Template t;
    for (const auto& lv : tn) {
      std::string lang = lv.first.Scalar();
      const auto& v = lv.second;
      std::string where = "template '" + name + "' (" + lang + ")";
      if (!c.keys(v, where, {"subject", "body"})) continue;
      TemplateText text;
      if (!v["body"]) c.error(v, where + " has no body");
      if (v["subject"])
        if (auto s = c.scalar(v["subject"], where + " subject")) {
          text.subject = *s;
          text.subject_pos = {v["subject"].Mark().line + 1, v["subject"].Mark().column + 1,
                              static_cast<size_t>(std::max(0, v["subject"].Mark().pos))};
        }
      if (v["body"])
        if (auto s = c.scalar(v["body"], where + " body")) {
          text.body = *s;
          text.body_pos = {v["body"].Mark().line + 1, v["body"].Mark().column + 1,
                           static_cast<size_t>(std::max(0, v["body"].Mark().pos))};
        }
      t.by_lang[lang] = std::move(text);
    }
    p.templates[name] = std::move(t);
  }
}

void parse_safety(Checker& c, const YAML::Node& n, Policy& p) {
  if (!c.keys(n, "safety", {"allowed_link_hosts", "forbidden_phrases", "allow", "tone"})) return;
  if (n["allowed_link_hosts"]) p.safety.allowed_link_hosts = c.strings(n["allowed_link_hosts"], "allowed_link_hosts");
  if (n["forbidden_phrases"]) p.safety.forbidden_phrases = c.strings(n["forbidden_phrases"], "forbidden_phrases");
  if (n["allow"]) p.safety.allow = c.strings(n["allow"], "safety.allow");
  if (n["tone"])
    if (auto s = c.scalar(n["tone"], "safety.tone")) {
      if (*s == "warn" || *s == "error")
        p.safety.tone_error = *s == "error";
      else
        c.error(n["tone"], "safety.tone must be warn or error, not '" + *s + "'");
    }
}

}  // namespace

std::vector<std::string> policy_channel_types() {
  std::vector<std::string> out;
  for (const auto& [type, keys] : kChannelKeys) out.push_back(type);
  return out;
}

std::vector<std::string> policy_source_types() {
  std::vector<std::string> out;
  for (const auto& [type, keys] : kSourceKeys) out.push_back(type);
  return out;
}

PolicyResult parse_policy(const std::string& text, const std::string& path) {
  namespace fs = std::filesystem;
  PolicyResult result;
  Checker c(path);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    c.error(e.mark, "this is not valid YAML: " + e.msg);
    result.errors = std::move(c.errors());
    return result;
  }
  auto p = std::make_shared<Policy>();
  p->path = fs::absolute(path).lexically_normal().string();
  p->base_dir = fs::path(p->path).parent_path().string();
  p->text_sha256 = sha256_hex(text);
  if (!root.IsMap()) {
    c.error(root, "the policy must be a YAML mapping starting with 'version: 1'");
    result.errors = std::move(c.errors());
    return result;
  }
  try {
    c.keys(root, "the policy", {"version", "store", "audit_log", "source", "sources", "payment", "campaigns", "limits", "zones",
                                "languages", "channels", "templates", "safety", "metrics", "records", "retention",
                                "experiment", "replies"});
    if (!root["version"]) {
      c.error(root, "the policy needs 'version: 1' at the top");
    } else if (auto v = c.integer(root["version"], "version", 1, 1000); v && *v != 1) {
      c.error(root["version"], "this nudge understands policy version 1, not " + std::to_string(*v));
    }
    p->store = absolute_in(p->base_dir, "/var/lib/nudge/nudge.db");
    p->audit_log = "/var/log/nudge/audit.jsonl";
    if (root["store"])
      if (auto s = c.scalar(root["store"], "store")) p->store = absolute_in(p->base_dir, *s);
    if (root["audit_log"])
      if (auto s = c.scalar(root["audit_log"], "audit_log")) p->audit_log = absolute_in(p->base_dir, *s);
    parse_sources(c, root, *p);
    if (root["payment"]) parse_payment(c, root["payment"], *p);
    if (root["records"]) {
      const auto& r = root["records"];
      if (c.keys(r, "records", {"max_age", "max_ahead"})) {
        if (r["max_age"])
          if (auto d = c.duration(r["max_age"], "records.max_age")) p->records.max_age = *d;
        if (r["max_ahead"])
          if (auto d = c.duration(r["max_ahead"], "records.max_ahead")) p->records.max_ahead = *d;
      }
    }
    if (root["retention"]) {
      const auto& r = root["retention"];
      if (c.keys(r, "retention", {"orders", "audit"})) {
        if (r["orders"])
          if (auto d = c.duration(r["orders"], "retention.orders")) {
            if (*d < kDay)
              c.error(r["orders"], "retention.orders must be at least 1d");
            else
              p->retention.orders = *d;
          }
        if (r["audit"])
          if (auto d = c.duration(r["audit"], "retention.audit")) {
            if (*d < kDay)
              c.error(r["audit"], "retention.audit must be at least 1d");
            else
              p->retention.audit = *d;
          }
      }
    }
    if (root["replies"]) {
      const auto& r = root["replies"];
      if (c.keys(r, "replies", {"promise", "pause", "listen", "secret_file", "watch", "every"})) {
        if (r["watch"])
          if (auto d = c.duration(r["watch"], "replies.watch")) p->replies.watch = *d;
        if (r["every"])
          if (auto d = c.duration(r["every"], "replies.every")) {
            if (*d != 0 && *d < kSecond)
              c.error(r["every"], "replies.every must be 0s (off) or at least 1s");
            else
              p->replies.every = *d;
          }
        if (r["promise"])
          if (auto d = c.duration(r["promise"], "replies.promise")) p->replies.promise = *d;
        if (r["pause"])
          if (auto d = c.duration(r["pause"], "replies.pause")) p->replies.pause = *d;
        if (r["listen"])
          if (auto s = c.scalar(r["listen"], "replies.listen")) {
            // An IPv4 address and a port: the webhook is meant for 127.0.0.1 behind a proxy.
            static const std::regex kListen(R"(((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9]):([0-9]{1,5}))");
            std::smatch m;
            if (!std::regex_match(*s, m, kListen) || std::stoi(m[4].str()) < 1 || std::stoi(m[4].str()) > 65535)
              c.error(r["listen"], "replies.listen must be IPV4_ADDRESS:PORT like \"127.0.0.1:9465\", not '" + *s + "'");
            else
              p->replies.listen = *s;
          }
        if (r["secret_file"])
          if (auto s = c.scalar(r["secret_file"], "replies.secret_file")) p->replies.secret_file = *s;
        if (r["listen"] && !r["secret_file"])
          c.error(r["listen"], "replies.listen needs replies.secret_file: the webhook takes only signed replies");
      }
    }
    // channels and templates first: steps refer to them.
    if (root["channels"]) parse_channels(c, root["channels"], *p);
    if (root["templates"]) parse_templates(c, root["templates"], *p);
    if (root["zones"]) parse_country_map(c, root["zones"], "zones", p->zones, true);
    if (root["languages"]) parse_country_map(c, root["languages"], "languages", p->languages, false);
    if (root["limits"]) parse_limits(c, root["limits"], *p);
    if (root["safety"]) parse_safety(c, root["safety"], *p);
    if (root["experiment"]) parse_experiment(c, root["experiment"], *p);
    if (root["metrics"]) {
      const auto& m = root["metrics"];
      if (c.keys(m, "metrics", {"port"}) && m["port"])
        if (auto v = c.integer(m["port"], "metrics.port", 0, 65535)) p->metrics_port = static_cast<int>(*v);
    }
    if (!root["campaigns"])
      c.error(root, "the policy needs 'campaigns', a list of at least one campaign");
    else
      parse_campaigns(c, root["campaigns"], *p);
    if (!root["channels"]) c.error(root, "the policy needs 'channels', at least one way to reach buyers");
    if (!root["templates"]) c.error(root, "the policy needs 'templates', the messages to send");
    // Every template must have the default language: it is the fallback for every buyer.
    if (root["templates"] && root["templates"].IsMap()) {
      std::string def = p->default_language();
      for (const auto& kv : root["templates"]) {
        auto it = p->templates.find(kv.first.Scalar());
        if (it != p->templates.end() && !it->second.by_lang.count(def))
          c.error(kv.first, "template '" + kv.first.Scalar() + "' has no text in the default language '" + def + "'");
      }
    }
    if (c.errors().empty()) {
      p->content_lint = make_content_lint(*p);
      lint_policy(*p, path, text, c.errors(), result.warnings);
    }
  } catch (const YAML::Exception& e) {
    c.error(e.mark, "unexpected structure: " + e.msg);
  }
  auto by_place = [](const PolicyError& a, const PolicyError& b) { return std::tie(a.line, a.col) < std::tie(b.line, b.col); };
  std::stable_sort(result.warnings.begin(), result.warnings.end(), by_place);
  if (!c.errors().empty()) {
    result.errors = std::move(c.errors());
    std::stable_sort(result.errors.begin(), result.errors.end(), by_place);
    return result;
  }
  if (g_observer) g_observer->accepted(text, path);
  result.policy = std::move(p);
  return result;
}

PolicyResult load_policy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    PolicyResult r;
    r.errors.push_back({path, 0, 0, "cannot read the policy file: " + std::string(std::strerror(errno))});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_policy(ss.str(), path);
}

}  // namespace nudge
