#include "core/report.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/attribution.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

const std::vector<std::string>& report_dimensions() {
  static const std::vector<std::string> kDims = {"campaign", "step", "template", "channel", "lang", "country", "shop"};
  return kDims;
}

std::optional<Money> parse_money(const std::string& s) {
  if (s.empty() || s.size() > 24) return std::nullopt;
  Money whole = 0, frac = 0;
  size_t i = 0;
  bool digits = false;
  for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
    if (whole > 100000000000000LL) return std::nullopt;  // 10^14: far beyond any order
    whole = whole * 10 + (s[i] - '0');
    digits = true;
  }
  int places = 0;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, ++places) {
      if (places < 4) frac = frac * 10 + (s[i] - '0');
      digits = true;
    }
  }
  if (i != s.size() || !digits) return std::nullopt;
  for (int p = std::min(places, 4); p < 4; ++p) frac *= 10;
  return whole * 10000 + frac;
}

std::string format_money(Money m) {
  std::string sign = m < 0 ? "-" : "";
  if (m < 0) m = -m;
  std::string frac = std::to_string(m % 10000);
  frac.insert(0, 4 - frac.size(), '0');
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  return sign + std::to_string(m / 10000) + "." + frac;
}

const char* report_orders_sql() {
  return "SELECT o.shop, o.order_id, o.buyer_country, o.amount, o.currency, o.placed_at, o.status, o.status_at, "
         "s.campaign, s.step, s.state, s.reason, se.id, se.state, se.updated_at, se.template, se.channel, se.lang "
         "FROM orders o "
         "LEFT JOIN schedule s ON s.shop = o.shop AND s.order_id = o.order_id "
         "LEFT JOIN sends se ON se.id = s.send_id "
         "WHERE o.placed_at >= ?1 AND o.placed_at < ?2 AND (?3 = '' OR o.shop = ?3) "
         "ORDER BY o.placed_at, o.shop, o.order_id";
}

namespace {

struct Acc {
  long reminded = 0, paid = 0;
  std::map<std::string, Money> recovered;
  std::vector<double> hours;
};

struct OrderFacts {
  std::string shop, order_id, country, amount, currency, status;
  Millis placed_at = 0, status_at = 0;
  bool held_out = false;
  std::vector<Reminder> reminders;
  std::set<std::int64_t> send_ids;
};

std::optional<double> median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

Report build_report(Store& store, const Policy& policy, const ReportQuery& query) {
  Report r;
  r.since = query.since;
  r.until = query.until;
  r.shop = query.shop;
  r.attribution_window = policy.experiment.attribution_window;
  const double window_h = static_cast<double>(r.attribution_window) / kHour;
  r.hist_bin_hours = window_h / 24;
  r.hist.assign(24, 0);

  // dimension -> (shop, value) -> counts
  std::map<std::string, std::map<std::pair<std::string, std::string>, Acc>> acc;
  std::set<std::string> shops;
  std::set<std::int64_t> sends;

  auto finish = [&](OrderFacts& o) {
    ++r.orders;
    shops.insert(o.shop);
    const bool paid = o.status == "paid";
    const Millis deadline = o.placed_at + policy.payment.deadline;
    if (o.status == "awaiting_payment" || o.status_at >= deadline) ++r.overdue;
    std::optional<Millis> paid_at;
    if (paid) paid_at = o.status_at;
    Attribution a = attribute(o.reminders, paid_at, r.attribution_window);
    if (!o.reminders.empty()) ++r.reminded;
    std::optional<Money> amount = parse_money(o.amount);
    switch (a.kind) {
      case PaidKind::kAfterReminder:
        ++r.paid_after_reminder;
        if (amount) r.recovered[o.currency] += *amount;
        break;
      case PaidKind::kWithoutReminder: ++r.paid_without_reminder; break;
      case PaidKind::kLate: ++r.paid_late; break;
      case PaidKind::kUnpaid: break;
    }
    if (o.held_out) {
      ++r.holdout_orders;
      if (paid) ++r.holdout_paid;
    } else if (!o.reminders.empty()) {
      ++r.treated_orders;
      if (paid) ++r.treated_paid;
    }
    for (auto id : o.send_ids) sends.insert(id);
    const double hours = static_cast<double>(a.to_pay) / kHour;
    if (a.kind == PaidKind::kAfterReminder) {
      size_t bin = r.hist_bin_hours > 0 ? static_cast<size_t>(hours / r.hist_bin_hours) : 0;
      ++r.hist[std::min(bin, r.hist.size() - 1)];
    }
    if (o.reminders.empty()) return;
    const Reminder* won = a.kind == PaidKind::kAfterReminder ? &o.reminders[*a.reminder] : nullptr;
    auto value_of = [&](const std::string& dim, const Reminder& m) -> std::string {
      if (dim == "campaign") return m.campaign;
      if (dim == "step") return m.step;
      if (dim == "template") return m.tmpl;
      if (dim == "channel") return m.channel;
      if (dim == "lang") return m.lang;
      if (dim == "country") return o.country;
      return o.shop;
    };
    for (const auto& dim : report_dimensions()) {
      std::set<std::string> values;
      for (const auto& m : o.reminders) values.insert(value_of(dim, m));
      for (const auto& v : values) ++acc[dim][{o.shop, v}].reminded;
      if (won) {
        Acc& w = acc[dim][{o.shop, value_of(dim, *won)}];
        ++w.paid;
        if (amount) w.recovered[o.currency] += *amount;
        w.hours.push_back(hours);
      }
    }
  };

  auto& q = store.stmt(report_orders_sql());
  q.bind(1, static_cast<int64_t>(query.since));
  q.bind(2, static_cast<int64_t>(query.until));
  q.bind(3, query.shop);
  std::optional<OrderFacts> cur;
  while (q.executeStep()) {
    std::string shop = q.getColumn(0).getString(), order_id = q.getColumn(1).getString();
    if (!cur || cur->shop != shop || cur->order_id != order_id) {
      if (cur) finish(*cur);
      cur.emplace();
      cur->shop = shop;
      cur->order_id = order_id;
      cur->country = q.getColumn(2).getString();
      cur->amount = q.getColumn(3).getString();
      cur->currency = q.getColumn(4).getString();
      cur->placed_at = q.getColumn(5).getInt64();
      cur->status = q.getColumn(6).getString();
      cur->status_at = q.getColumn(7).getInt64();
    }
    if (q.getColumn(8).isNull()) continue;  // no schedule row
    if (q.getColumn(10).getString() == "skipped" && q.getColumn(11).getString() == "holdout") cur->held_out = true;
    if (q.getColumn(12).isNull() || q.getColumn(13).getString() != "sent") continue;
    cur->send_ids.insert(q.getColumn(12).getInt64());
    cur->reminders.push_back({.at = q.getColumn(14).getInt64(), .campaign = q.getColumn(8).getString(),
                              .step = q.getColumn(9).getString(), .tmpl = q.getColumn(15).getString(),
                              .channel = q.getColumn(16).getString(), .lang = q.getColumn(17).getString()});
  }
  q.reset();
  if (cur) finish(*cur);
  r.reminders = static_cast<long>(sends.size());

  {
    auto& oq = store.stmt(
        "SELECT COUNT(*) FROM audit WHERE ts >= ?1 AND ts < ?2 AND event = 'opted_out' AND (?3 = '' OR shop = ?3)");
    oq.bind(1, static_cast<int64_t>(query.since));
    oq.bind(2, static_cast<int64_t>(query.until));
    oq.bind(3, query.shop);
    if (oq.executeStep()) r.opt_outs = oq.getColumn(0).getInt64();
    oq.reset();
  }

  if (r.holdout_orders >= kMinUpliftGroup && r.treated_orders >= kMinUpliftGroup) {
    Uplift u;
    u.reminded_rate = static_cast<double>(r.treated_paid) / r.treated_orders;
    u.holdout_rate = static_cast<double>(r.holdout_paid) / r.holdout_orders;
    u.difference = u.reminded_rate - u.holdout_rate;
    if (auto ci = newcombe_diff_ci95(r.treated_paid, r.treated_orders, r.holdout_paid, r.holdout_orders)) {
      u.ci95 = *ci;
      r.uplift = u;
    }
  }

  // With several shops, campaign and country rows name their shop ("s1/ES"): the
  // same campaign or country in two shops is two rows.
  const bool several = shops.size() > 1;
  for (const auto& dim : report_dimensions()) {
    auto& rows = r.rows[dim];
    std::map<std::string, Acc> merged;
    for (auto& [key, a] : acc[dim]) {
      std::string by = several && (dim == "campaign" || dim == "country") ? key.first + "/" + key.second : key.second;
      Acc& m = merged[by];
      m.reminded += a.reminded;
      m.paid += a.paid;
      for (const auto& [cur_, v] : a.recovered) m.recovered[cur_] += v;
      m.hours.insert(m.hours.end(), a.hours.begin(), a.hours.end());
    }
    for (auto& [by, a] : merged) {
      ReportRow row;
      row.by = by;
      row.reminded = a.reminded;
      row.paid_after_reminder = a.paid;
      row.rate = a.reminded ? static_cast<double>(a.paid) / a.reminded : 0;
      row.rate_ci95 = wilson_ci95(a.paid, a.reminded);
      row.recovered = a.recovered;
      row.median_hours_to_pay = median(std::move(a.hours));
      rows.push_back(std::move(row));
    }
  }
  return r;
}

}  // namespace nudge
