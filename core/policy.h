// Policy: the seller's YAML file, parsed and checked. load_policy() never throws:
// it returns either a Policy or every error it found, each with file:line:col.
// A Policy is an immutable value once loaded; share it by shared_ptr<const Policy>.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/experiment.h"
#include "core/feed.h"

namespace nudge {

class ContentLint;

enum class Severity { kError, kWarning, kNote };

struct PolicyError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error is about the file as a whole
  int col = 0;
  std::string message;
  Severity severity = Severity::kError;
  std::string to_string() const;  // "file:line:col: message", "file:line:col: warning: message"
};

struct Step {
  std::string name;
  Millis after = 0;
  std::vector<std::string> channels;  // tried in order: the first that can reach the buyer
  std::string tmpl;                   // the template; with A/B variants, the first variant
  std::vector<Variant> variants;      // A/B: empty for one template (core/experiment.h picks)
};

struct Match {
  std::vector<std::string> shops;
  std::vector<std::string> countries;
  std::vector<std::string> not_countries;
  std::optional<double> min_amount;
  std::optional<double> max_amount;
};

struct Campaign {
  std::string name;
  Match match;
  std::vector<Step> steps;
};

struct Window {
  int max = 1;
  Millis within = kDay;
  std::string label() const;  // "1/24h", used in reasons: "cap_buyer:1/24h"
};

struct QuietHours {
  int from_min = 21 * 60;  // minutes after local midnight
  int to_min = 9 * 60;
};

enum class WhenLimited { kDefer, kSkip };

// Whose reminders the per-buyer rules count: the buyer's in this order's shop, or
// the buyer's in every shop of this instance (one seller, several stores).
enum class CapScope { kShop, kSeller };

struct Limits {
  int per_order = 2;
  std::vector<Window> per_buyer;
  Millis skip_if_paid_within = 0;
  std::optional<QuietHours> quiet_hours;
  WhenLimited when_limited = WhenLimited::kDefer;
  bool merge = true;
  Millis misfire_grace = 6 * kHour;
  // kSeller: per_buyer windows, opt-outs and skip_if_paid_within count across shops.
  CapScope scope = CapScope::kShop;
};

// What buyers' replies do (core/replies.h): how long a promise to pay and any other
// reply hold the buyer's automatic reminders back.
struct Replies {
  Millis promise = 24 * kHour;  // a promise to pay: the next step waits this long after it
  Millis pause = 24 * kHour;    // any other reply: automatic steps wait this long; 0 = off
  Millis watch = 7 * kDay;      // the aliexpress chat of buyers reminded this recently is read
  Millis every = kMinute;       // each watched buyer's chat is read this often
  std::string listen;           // "127.0.0.1:9465": the signed inbound webhook; empty: none
  std::string secret_file;      // its Standard Webhooks secret (resolved at use)
};

// How long finished orders and audit rows are kept in the store (core/retention.h).
struct Retention {
  Millis orders = 90 * kDay;
  Millis audit = 400 * kDay;
};

struct Retries {
  int max = 3;
  Millis backoff = 30 * kSecond;
};

enum class Delivery { kAtMostOnce, kAtLeastOnce };

struct ChannelConf {
  std::string name;
  std::string type;  // outbox | smtp | sendmail | webhook | aliexpress
  double rate_per_sec = 0;  // 0: unlimited
  Millis timeout = 30 * kSecond;
  Retries retries;
  Delivery delivery = Delivery::kAtMostOnce;
  // Type-specific scalar settings, already checked against the type's key list.
  // Paths (dir, ca_file) are absolute; *_file secrets are kept as written and
  // resolved at use (see resolve_secret_path).
  std::map<std::string, std::string> settings;
  // aliexpress: names no credentials of its own, so it sends each message with the
  // credentials of the aliexpress source of the message's shop.
  bool uses_source_credentials = false;
  std::string get(const std::string& key, const std::string& fallback = "") const;
};

struct SourceConf {
  std::string type = "inbox";  // inbox | http | aliexpress
  // Its key in the store's source_state (cursor, last poll) and its label in status
  // and metrics: the type for the singular `source:`; in a `sources:` list,
  // "aliexpress:<shop>" for aliexpress sources, the type for the others.
  std::string name = "inbox";
  std::string shop;  // aliexpress: the shop its records carry (`shop`, else the app key)
  Millis every = 30 * kSecond;
  std::map<std::string, std::string> settings;  // gateway, url, token_file, ...
  std::string get(const std::string& key, const std::string& fallback = "") const;
};

struct Payment {
  Millis deadline = 2 * kHour;
  Millis closes_after = 20 * kDay;
  Millis stop_before_close = kHour;
};

struct TextPos {
  int line = 0, col = 0;  // of the YAML scalar, 1-based
  size_t pos = 0;         // its byte offset in the file
};

struct TemplateText {
  std::string subject;
  std::string body;
  TextPos subject_pos, body_pos;
};

struct Template {
  std::map<std::string, TemplateText> by_lang;
};

struct Safety {
  std::vector<std::string> allowed_link_hosts = {"aliexpress.com", "aliexpress.ru", "aliexpress.us"};
  std::vector<std::string> forbidden_phrases;  // added to the built-in wording (off_platform)
  std::vector<std::string> allow;              // phrases the seller needs; check reports each use
  bool tone_error = false;                     // safety.tone: error makes tone warnings errors
};

// experiment: a holdout share of buyers gets no automatic reminder; payments within
// attribution_window after a reminder count for it (nudgectl report).
struct Experiment {
  int holdout_bp = 0;  // basis points: 500 = 5%
  std::string salt;    // reshuffles holdout and variants when changed
  Millis attribution_window = 72 * kHour;
};

struct Policy {
  std::string path;       // the file it came from, absolute
  std::string base_dir;   // relative paths in the policy are relative to this
  int version = 1;
  std::string store;
  std::string audit_log;
  SourceConf source;                // the first of `sources`
  std::vector<SourceConf> sources;  // `source:` or `sources:`; at least one
  Payment payment;
  RecordWindow records;  // how old or how far ahead a record's time may be
  Retention retention;
  Replies replies;
  std::vector<Campaign> campaigns;
  Limits limits;
  std::map<std::string, std::string> zones;      // country (or "default") -> IANA zone
  std::map<std::string, std::string> languages;  // country (or "default") -> language
  std::map<std::string, ChannelConf> channels;
  std::map<std::string, Template> templates;
  Safety safety;
  Experiment experiment;
  int metrics_port = 0;  // 0: off
  std::string text_sha256;  // of the file's bytes, for the audit's policy_loaded
  // The content lint built from `safety` and the policy's countries; checks every
  // rendered message before it is claimed (core/safety.h).
  std::shared_ptr<const ContentLint> content_lint;

  std::string default_language() const;
};

struct PolicyResult {
  std::shared_ptr<const Policy> policy;  // null when errors is not empty
  std::vector<PolicyError> errors;
  std::vector<PolicyError> warnings;     // warnings and notes, in file order; never block loading
  bool ok() const { return policy != nullptr; }
};

// " (2 warnings, 1 note)" for a summary line, or "" when there are none.
std::string warning_count(const std::vector<PolicyError>& warnings);

// Reads and checks the policy at `path`.
PolicyResult load_policy(const std::string& path);
// Same, from text already in memory; `path` names it in errors and anchors relative paths.
PolicyResult parse_policy(const std::string& text, const std::string& path);

// The channel types and source types the parser knows (outbox, smtp, ...; inbox, ...).
std::vector<std::string> policy_channel_types();
std::vector<std::string> policy_source_types();

// For the policy's JSON Schema tests: told of every mapping whose keys the parser
// checks (where, in the words of its error messages, e.g. "channel 'mail'", and the
// keys it allows there) and of every policy text it accepts. The daemon sets none.
// Not thread-safe: set it before parsing, from the thread that parses.
class PolicyObserver {
 public:
  virtual ~PolicyObserver() = default;
  virtual void keys_checked(const std::string& where, const std::set<std::string>& allowed) {}
  virtual void accepted(const std::string& text, const std::string& path) {}
};
// Returns the observer it replaces.
PolicyObserver* set_policy_observer(PolicyObserver* observer);  // nullptr: none

// Where a *_file secret lives: $CREDENTIALS_DIRECTORY/name when that is set,
// else relative to the policy's folder. `credentials_dir` is passed in so core/
// reads no environment.
std::string resolve_secret_path(const Policy& policy, const std::string& name, const std::string& credentials_dir);

}  // namespace nudge
