// The policy's JSON Schema (etc/nudge/nudge.schema.json) against the parser: the keys
// the schema describes at each place are exactly the keys the parser accepts there.
// The parser's keys come from the parser itself (a PolicyObserver told of every key
// check), so a key added to one and not the other fails here, naming both.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/policy.h"

using namespace nudge;

namespace {

nlohmann::json load_schema() {
  std::ifstream in(std::string(NUDGE_SOURCE_DIR) + "/etc/nudge/nudge.schema.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

std::set<std::string> property_names(const nlohmann::json& object_schema) {
  std::set<std::string> out;
  if (object_schema.contains("properties"))
    for (const auto& [k, v] : object_schema["properties"].items()) out.insert(k);
  return out;
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// A policy that reaches every place where the parser checks keys: each section, one
// channel of each type the parser knows (named after its type), retries, a match, a
// step, a per_buyer window, quiet hours, a template text. Whether it is valid does not
// matter: keys are checked before anything else.
std::string reaching_policy(const std::string& source) {
  std::string channels = "channels:\n";
  for (const auto& type : policy_channel_types())
    channels += "  " + type + ": {type: " + type + ", retries: {max: 1}}\n";
  return "version: 1\n" + source +
         "payment: {deadline: 2h}\n"
         "campaigns:\n"
         "  - name: c\n"
         "    match: {countries: [ES]}\n"
         "    steps: [{name: first, after: 0s, channel: outbox, template: t}]\n"
         "limits:\n"
         "  per_buyer: [{max: 1, within: 24h}]\n"
         "  quiet_hours: {from: \"21:00\", to: \"09:00\"}\n"
         "zones: {default: UTC}\n"
         "languages: {default: en}\n" +
         channels +
         "templates:\n"
         "  t:\n"
         "    en: {subject: s, body: b}\n"
         "safety: {allowed_link_hosts: [aliexpress.com]}\n"
         "metrics: {port: 0}\n"
         "records: {max_age: 400d}\n"
         "retention: {orders: 90d}\n"
         "experiment: {holdout: 5%, salt: s, attribution_window: 72h}\n"
         "replies: {promise: 24h}\n";
}

struct KeyRecorder : PolicyObserver {
  std::vector<std::pair<std::string, std::set<std::string>>> checks;
  void keys_checked(const std::string& where, const std::set<std::string>& allowed) override {
    checks.emplace_back(where, allowed);
  }
};

// Where, in the parser's words, names which object of the schema. Quoted names and the
// language in parentheses vary; a channel's name is its type in reaching_policy().
std::string schema_def_for(const std::string& where, const std::string& source_type) {
  static const std::regex kChannel(R"(channel '([a-z]+)')");
  std::smatch m;
  if (std::regex_match(where, m, kChannel)) return "channel_" + m[1].str();
  std::string w = std::regex_replace(where, std::regex("'[^']*'"), "'*'");
  w = std::regex_replace(w, std::regex(R"(\([^)]*\))"), "(*)");
  static const std::map<std::string, std::string> kDefs = {
      {"the policy", ""},  // the root object
      {"payment", "payment"},
      {"a campaign", "campaign"},
      {"campaign '*' match", "match"},
      {"a step", "step"},
      {"limits", "limits"},
      {"a per_buyer window", "window"},
      {"limits.quiet_hours", "quiet_hours"},
      {"channel '*' retries", "retries"},
      {"template '*' (*)", "template_text"},
      {"safety", "safety"},
      {"metrics", "metrics"},
      {"records", "records"},
      {"retention", "retention"},
      {"experiment", "experiment"},
      {"replies", "replies"},
  };
  if (w == "source" || std::regex_match(w, std::regex(R"(sources\[[0-9]+\])"))) return "source_" + source_type;
  auto it = kDefs.find(w);
  return it == kDefs.end() ? "?" : it->second;
}

}  // namespace

TEST_CASE("the JSON Schema describes exactly the keys the policy parser accepts, place by place") {
  auto schema = load_schema();
  REQUIRE(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema");

  // The types: one schema object per channel and source type the parser knows.
  auto one_of = [&](const std::string& def) {
    std::set<std::string> out;
    for (const auto& ref : schema["$defs"][def]["oneOf"]) out.insert(ref["$ref"].get<std::string>());
    return out;
  };
  std::set<std::string> channel_refs, source_refs;
  for (const auto& t : policy_channel_types()) channel_refs.insert("#/$defs/channel_" + t);
  for (const auto& t : policy_source_types()) source_refs.insert("#/$defs/source_" + t);
  CHECK_MESSAGE(one_of("channel") == channel_refs,
                "the schema's channel types {" << join(one_of("channel")) << "}, the parser's {" << join(channel_refs) << "}");
  CHECK_MESSAGE(one_of("source") == source_refs,
                "the schema's source types {" << join(one_of("source")) << "}, the parser's {" << join(source_refs) << "}");

  std::map<std::string, std::set<std::string>> parser_keys;  // schema def -> keys
  // Each source type, as the singular `source` and in a `sources` list.
  for (const std::string& type : policy_source_types())
   for (const std::string& form : {"source: {type: " + type + "}\n", "sources:\n  - {type: " + type + "}\n"}) {
    KeyRecorder rec;
    PolicyObserver* previous = set_policy_observer(&rec);
    parse_policy(reaching_policy(form), "/tmp/nudge-schema-test/policy.yaml");
    set_policy_observer(previous);
    REQUIRE(rec.checks.size() >= 14);
    for (const auto& [where, allowed] : rec.checks) {
      std::string def = schema_def_for(where, type);
      INFO("the parser checks keys at '" << where << "': {" << join(allowed) << "}");
      // A new place: map it in schema_def_for() and describe it in the schema.
      REQUIRE_MESSAGE(def != "?", "this test does not know which schema object describes it");
      auto [it, fresh] = parser_keys.emplace(def, allowed);
      CHECK_MESSAGE(it->second == allowed, "the parser allows different keys at two places this test maps to one");
    }
  }

  for (const auto& [def, allowed] : parser_keys) {
    const auto& obj = def.empty() ? schema : schema["$defs"][def];
    std::string name = def.empty() ? "the top level" : "$defs/" + def;
    INFO("schema object: " << name);
    REQUIRE_MESSAGE(obj.is_object(), "the schema has no " << name);
    auto described = property_names(obj);
    std::set<std::string> missing, extra;
    for (const auto& k : allowed)
      if (!described.count(k)) missing.insert(k);
    for (const auto& k : described)
      if (!allowed.count(k)) extra.insert(k);
    CHECK_MESSAGE(missing.empty(), "the parser accepts keys the schema does not describe: " << join(missing));
    CHECK_MESSAGE(extra.empty(), "the schema describes keys the parser refuses: " << join(extra));
    // Closed like the parser: an unknown key is an error in both.
    CHECK(obj.value("additionalProperties", true) == false);
  }

  // And no schema object with properties goes unchecked.
  for (const auto& [def, obj] : schema["$defs"].items()) {
    if (!obj.contains("properties")) continue;
    INFO("schema object: $defs/" << def << " {" << join(property_names(obj)) << "}");
    CHECK_MESSAGE(parser_keys.count(def), "the parser never checks keys at the place this object describes");
  }
}

TEST_CASE("the parser tells its observer the keys it allows where it checks them") {
  // Guards the test above: the observer really reports what the parser checks.
  KeyRecorder rec;
  PolicyObserver* previous = set_policy_observer(&rec);
  auto r = parse_policy("version: 1\nlimits: {per_ordr: 2}\n", "/tmp/nudge-schema-test/policy.yaml");
  set_policy_observer(previous);
  CHECK_FALSE(r.ok());
  bool saw_limits = false;
  for (const auto& [where, allowed] : rec.checks)
    if (where == "limits") saw_limits = allowed.count("per_order") && !allowed.count("per_ordr");
  CHECK(saw_limits);
}
