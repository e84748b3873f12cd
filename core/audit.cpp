#include "core/audit.h"

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/time_util.h"

namespace nudge {
namespace {

// The hash covers the line's bytes up to, and without, the final ,"hash":"…"} part.
// This keeps verification byte-exact, independent of any JSON re-serialisation.
constexpr const char* kHashKey = ",\"hash\":\"";
constexpr size_t kHashTail = 9 + 64 + 2;  // ,"hash":" + 64 hex + "}

// Appends `s` as a JSON string exactly as nlohmann's dump writes it (no ASCII
// escaping, invalid UTF-8 replaced): plain text is copied, anything else goes
// through nlohmann. The line is built in one pass, without a JSON tree.
void put_str(std::string& out, const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
      out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  out += '"';
  out += s;
  out += '"';
}

void put_opt(std::string& out, const std::string& s) {
  if (s.empty())
    out += "null";
  else
    put_str(out, s);
}

template <typename T>
void put_num(std::string& out, const std::optional<T>& v) {
  out += v ? std::to_string(*v) : std::string("null");
}

}  // namespace

std::string audit_line(std::int64_t seq, Millis ts, const AuditEvent& e, const std::string& prev, std::string& hash_out) {
  std::string body;
  body.reserve(384);
  body += "{\"seq\":";
  body += std::to_string(seq);
  body += ",\"ts\":";
  put_str(body, format_instant(ts));
  body += ",\"event\":";
  put_str(body, e.event);
  body += ",\"shop\":";
  put_opt(body, e.shop);
  body += ",\"buyer\":";
  put_opt(body, e.buyer);
  body += ",\"orders\":[";
  for (size_t i = 0; i < e.orders.size(); ++i) {
    if (i) body += ',';
    put_str(body, e.orders[i]);
  }
  body += "],\"step\":";
  put_opt(body, e.step);
  body += ",\"channel\":";
  put_opt(body, e.channel);
  body += ",\"template\":";
  put_opt(body, e.tmpl);
  body += ",\"lang\":";
  put_opt(body, e.lang);
  body += ",\"attempt\":";
  put_num(body, e.attempt);
  body += ",\"send_id\":";
  put_num(body, e.send_id);
  body += ",\"reason\":";
  put_opt(body, e.reason);
  body += ",\"due\":";
  if (e.due)
    put_str(body, format_instant(*e.due));
  else
    body += "null";
  body += ",\"detail\":";
  put_opt(body, e.detail);
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"campaign", &e.campaign},
                                   {"amount", &e.amount}, {"currency", &e.currency}})
    if (!value->empty()) {
      body += ",\"";
      body += key;
      body += "\":";
      put_str(body, *value);
    }
  if (!e.steps.empty()) {  // last but prev: the fields metrics read come before it
    body += ",\"steps\":{";
    bool first = true;
    for (const auto& [order, step] : e.steps) {
      if (!first) body += ',';
      first = false;
      put_str(body, order);
      body += ':';
      put_str(body, step);
    }
    body += '}';
  }
  if (!e.actor.empty()) {
    body += ",\"actor\":";
    put_str(body, e.actor);
  }
  body += ",\"prev\":";
  put_str(body, prev);
  body += '}';
  hash_out = sha256_hex(body);
  body.pop_back();  // the closing brace
  body += kHashKey;
  body += hash_out;
  body += "\"}";
  return body;
}

std::int64_t append_audit(Store& store, Millis ts, const AuditEvent& e) {
  std::int64_t seq = 1;
  std::string prev = kGenesisHash;
  auto& tail = store.audit_tail();
  const Store::AuditRow* held = store.holds_audit() ? store.last_held_audit() : nullptr;
  if (held) {
    seq = held->seq + 1;
    prev = held->hash;
  } else if (tail.tx == store.tx_serial()) {
    seq = tail.seq + 1;
    prev = tail.hash;
  } else {
    auto& q = store.stmt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (q.executeStep()) {
      seq = q.getColumn(0).getInt64() + 1;
      prev = q.getColumn(1).getString();
    }
    q.reset();
  }
  Store::AuditRow row{.seq = seq, .ts = ts, .event = e.event, .shop = e.shop, .buyer = e.buyer};
  row.line = audit_line(seq, ts, e, prev, row.hash);
  if (store.holds_audit()) {
    store.add_held_audit(std::move(row));
    return seq;
  }
  store.insert_audit_row(row);
  tail = {store.tx_serial(), seq, std::move(row.hash)};
  store.note_audit_line(seq, std::move(row.line));
  return seq;
}

AuditCheck verify_audit(std::istream& in, std::int64_t expect_first_seq, const std::string& expect_prev) {
  AuditCheck r;
  std::string line;
  std::int64_t want_seq = expect_first_seq;
  std::string want_prev = expect_prev;
  auto fail = [&](const std::string& why) {
    r.ok = false;
    r.first_bad_line = r.lines;
    r.problem = why;
    return r;
  };
  while (std::getline(in, line)) {
    ++r.lines;
    if (line.empty()) return fail("empty line");
    if (line.size() < kHashTail + 2 || line.compare(line.size() - kHashTail, 9, kHashKey) != 0 ||
        line.back() != '}')
      return fail("the line does not end with its hash (truncated or edited)");
    std::string hash = line.substr(line.size() - kHashTail + 9, 64);
    std::string body = line.substr(0, line.size() - kHashTail) + "}";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(body);
    } catch (const std::exception&) {
      return fail("the line is not valid JSON");
    }
    if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_integer() || !j.contains("prev") ||
        !j["prev"].is_string())
      return fail("the line has no seq or prev");
    std::int64_t seq = j["seq"].get<std::int64_t>();
    if (seq != want_seq)
      return fail("seq " + std::to_string(seq) + " where " + std::to_string(want_seq) +
                  " was expected (a line is missing, repeated or out of order)");
    if (j["prev"].get<std::string>() != want_prev)
      return fail("prev does not match the previous line's hash (a line before it was changed or removed)");
    if (sha256_hex(body) != hash) return fail("the hash does not match the line's content (the line was edited)");
    want_seq = seq + 1;
    want_prev = hash;
    r.last_seq = seq;
    r.last_hash = hash;
  }
  return r;
}

}  // namespace nudge
