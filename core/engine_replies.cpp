// Replies: a buyer's answer taken from a page of records, what it does to their
// reminders at once (an opt-out cancels them, an off-platform request holds them and
// raises a flag), and what the latest one does at claim time (a promise or any other
// reply makes automatic steps wait). The classifier and the wait are pure functions
// in core/replies.cpp; this file applies them to the store.
#include "core/engine.h"

#include "core/safety.h"

namespace nudge {

namespace {
constexpr const char* kHeldPrefix = "off_platform_request:";
}

void Engine::take_reply(const ReplyRecord& rp, IngestResult& r) {
  Millis now = clock_.now();
  // The buyer's language (for phone formats) from their latest order, when known.
  std::string lang;
  {
    auto& q = store_.stmt(
        "SELECT buyer_lang, buyer_country FROM orders WHERE shop=? AND buyer_id=? ORDER BY placed_at DESC LIMIT 1");
    q.bind(1, rp.shop);
    q.bind(2, rp.buyer_id);
    if (q.executeStep()) {
      lang = q.getColumn(0).getString();
      std::string country = q.getColumn(1).getString();
      if (lang.find('-') == std::string::npos && !lang.empty() && !country.empty()) lang += "-" + country;
    }
    q.reset();
  }
  auto lint = policy_->content_lint ? policy_->content_lint : make_content_lint(*policy_);
  ReplyVerdict v = classify_reply(rp.text, lang, *lint);

  // A message id is taken once: a repeated page, a re-polled chat or a replayed
  // webhook changes nothing.
  auto& ins = store_.stmt(
      "INSERT OR IGNORE INTO replies(shop, channel, message_id, buyer_id, at, class, category, received_at) "
      "VALUES(?,?,?,?,?,?,?,?)");
  ins.bind(1, rp.shop);
  ins.bind(2, rp.channel);
  ins.bind(3, rp.message_id);
  ins.bind(4, rp.buyer_id);
  ins.bind(5, static_cast<int64_t>(rp.at));
  ins.bind(6, to_string(v.cls));
  if (v.category.empty()) ins.bind(7); else ins.bind(7, v.category);
  ins.bind(8, static_cast<int64_t>(now));
  if (ins.exec() == 0) {
    ++r.duplicate_replies;
    return;
  }
  ++r.replies;
  append_audit(store_, now, {.event = "replied", .shop = rp.shop, .buyer = rp.buyer_id, .channel = rp.channel,
                             .reason = to_string(v.cls),
                             .detail = v.category.empty() ? std::string() : v.category});

  // The steps this reply acts on at once: every one not yet claimed.
  struct Open {
    std::int64_t id;
    std::string order_id, step, state;
  };
  auto open_steps = [&](const char* states) {
    std::vector<Open> out;
    auto& q = store_.stmt(std::string("SELECT id, order_id, step, state FROM schedule WHERE shop=? AND buyer_id=? "
                                      "AND state IN (") + states + ") ORDER BY due_at");
    q.bind(1, rp.shop);
    q.bind(2, rp.buyer_id);
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                     q.getColumn(3).getString()});
    q.reset();
    return out;
  };

  if (v.cls == ReplyClass::kOptOut) {
    auto& o = store_.stmt("INSERT OR IGNORE INTO optout(shop, buyer_id, at) VALUES(?,?,?)");
    o.bind(1, rp.shop);
    o.bind(2, rp.buyer_id);
    o.bind(3, static_cast<int64_t>(now));
    if (o.exec() > 0)
      append_audit(store_, now, {.event = "opted_out", .shop = rp.shop, .buyer = rp.buyer_id, .channel = rp.channel,
                                 .reason = "buyer_reply"});
    for (const auto& s : open_steps("'scheduled','held'")) {
      set_step_state(s.id, StepState::kCancelled, "opted_out");
      append_audit(store_, now, {.event = "cancelled", .shop = rp.shop, .buyer = rp.buyer_id, .orders = {s.order_id},
                                 .step = s.step, .reason = "opted_out"});
      ++r.cancelled_steps;
    }
    return;
  }

  if (v.cls == ReplyClass::kOffPlatform) {
    auto& f = store_.stmt(
        "INSERT INTO flags(shop, buyer_id, category, matched, text, channel, message_id, at) VALUES(?,?,?,?,?,?,?,?)");
    f.bind(1, rp.shop);
    f.bind(2, rp.buyer_id);
    f.bind(3, v.category);
    f.bind(4, v.matched);
    f.bind(5, rp.text);
    f.bind(6, rp.channel);
    f.bind(7, rp.message_id);
    f.bind(8, static_cast<int64_t>(rp.at));
    f.exec();
    std::int64_t flag = store_.db().getLastInsertRowid();
    const std::string reason = kHeldPrefix + v.category;
    append_audit(store_, now, {.event = "flagged", .shop = rp.shop, .buyer = rp.buyer_id, .channel = rp.channel,
                               .reason = reason, .detail = "flag " + std::to_string(flag)});
    for (const auto& s : open_steps("'scheduled'")) {
      set_step_state(s.id, StepState::kHeld, reason);
      append_audit(store_, now, {.event = "held", .shop = rp.shop, .buyer = rp.buyer_id, .orders = {s.order_id},
                                 .step = s.step, .reason = reason});
    }
  }
  // A promise and any other reply act at claim time (buyer_reply_wait): the latest
  // reply decides, so a later "stop" or question replaces an earlier promise.
}

std::optional<ReplyWait> Engine::buyer_reply_wait(const std::string& shop, const std::string& buyer, Millis now) {
  auto& q = store_.stmt("SELECT class, at FROM replies WHERE shop=? AND buyer_id=? ORDER BY at DESC LIMIT 1");
  q.bind(1, shop);
  q.bind(2, buyer);
  std::optional<ReplyWait> w;
  if (q.executeStep()) {
    auto cls = parse_reply_class(q.getColumn(0).getString());
    if (cls) w = reply_wait(*cls, q.getColumn(1).getInt64(), now, policy_->replies.promise, policy_->replies.pause);
  }
  q.reset();
  return w;
}

int Engine::clear_flag(std::int64_t id, const std::string& actor) {
  Millis now = clock_.now();
  WriteTx tx(store_);
  std::string shop, buyer, category;
  {
    auto& q = store_.stmt("SELECT shop, buyer_id, category FROM flags WHERE id=? AND cleared_at IS NULL");
    q.bind(1, static_cast<int64_t>(id));
    bool found = q.executeStep();
    if (found) {
      shop = q.getColumn(0).getString();
      buyer = q.getColumn(1).getString();
      category = q.getColumn(2).getString();
    }
    q.reset();
    if (!found) return -1;
  }
  auto& u = store_.stmt("UPDATE flags SET cleared_at=?, cleared_by=? WHERE id=?");
  u.bind(1, static_cast<int64_t>(now));
  u.bind(2, actor);
  u.bind(3, static_cast<int64_t>(id));
  u.exec();
  append_audit(store_, now, {.event = "flag_cleared", .shop = shop, .buyer = buyer,
                             .reason = kHeldPrefix + category,
                             .detail = "flag " + std::to_string(id) + " cleared by " + actor});
  int released = 0;
  bool still = false;
  {
    auto& q = store_.stmt("SELECT 1 FROM flags WHERE shop=? AND buyer_id=? AND cleared_at IS NULL LIMIT 1");
    q.bind(1, shop);
    q.bind(2, buyer);
    still = q.executeStep();
    q.reset();
  }
  if (!still) {
    struct Held {
      std::int64_t id;
      std::string order_id, step;
      Millis due;
    };
    std::vector<Held> rows;
    auto& q = store_.stmt("SELECT id, order_id, step, due_at FROM schedule WHERE shop=? AND buyer_id=? AND state='held'");
    q.bind(1, shop);
    q.bind(2, buyer);
    while (q.executeStep())
      rows.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                      q.getColumn(3).getInt64()});
    q.reset();
    for (const auto& h : rows) {
      Millis due = std::max(h.due, now);
      auto& s = store_.stmt("UPDATE schedule SET state='scheduled', reason=NULL, due_at=?, updated_at=? WHERE id=?");
      s.bind(1, static_cast<int64_t>(due));
      s.bind(2, static_cast<int64_t>(now));
      s.bind(3, static_cast<int64_t>(h.id));
      s.exec();
      append_audit(store_, now, {.event = "scheduled", .shop = shop, .buyer = buyer, .orders = {h.order_id},
                                 .step = h.step, .reason = "flag_cleared", .due = due});
      ++released;
    }
  }
  tx.commit();
  return released;
}

}  // namespace nudge
