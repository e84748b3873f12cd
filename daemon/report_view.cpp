#include "daemon/report_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "core/time_util.h"

namespace nudge {
namespace {

std::string window_text(Millis w) { return w % kHour == 0 ? std::to_string(w / kHour) + "h" : format_duration(w); }

double round_to(double v, int places) {
  double f = std::pow(10.0, places);
  return std::round(v * f) / f;
}

std::string fixed(double v, int places) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", places, v);
  return buf;
}

std::string pct(double v) { return fixed(100 * v, 1) + "%"; }

std::string signed_points(double v) { return (v >= 0 ? "+" : "") + fixed(100 * v, 1); }

std::string money_text(const std::map<std::string, Money>& m) {
  if (m.empty()) return "-";
  std::string out;
  for (const auto& [cur, v] : m) out += (out.empty() ? "" : ", ") + cur + " " + format_money(v);
  return out;
}

nlohmann::ordered_json money_json(const std::map<std::string, Money>& m) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [cur, v] : m) j[cur] = format_money(v);
  return j;
}

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) { return fixed(v, 1); }

// A bar chart of pay rates with their 95% Wilson intervals as whiskers.
void rate_chart(std::ostream& out, const std::string& id, const std::string& title,
                const std::vector<ReportRow>& rows) {
  out << "<h2>" << esc(title) << "</h2>\n";
  if (rows.empty()) {
    out << "<p class=\"none\">no reminders sent in this window</p>\n";
    return;
  }
  const double left = 140, width = 420, bar = 22, gap = 12, top = 10;
  const double height = top + rows.size() * (bar + gap) + 30;
  out << "<svg id=\"" << id << "\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(left + width + 140)
      << "\" height=\"" << num(height) << "\" role=\"img\" aria-label=\"" << esc(title) << "\">\n";
  for (int t = 0; t <= 4; ++t) {
    double x = left + width * t / 4;
    out << "<line x1=\"" << num(x) << "\" y1=\"" << num(top - 4) << "\" x2=\"" << num(x) << "\" y2=\""
        << num(height - 24) << "\" class=\"grid\"/>"
        << "<text x=\"" << num(x) << "\" y=\"" << num(height - 8) << "\" class=\"tick\">" << t * 25 << "%</text>\n";
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    double y = top + i * (bar + gap);
    out << "<g class=\"row\"><title>" << esc(r.by) << ": " << r.paid_after_reminder << " of " << r.reminded
        << " paid after a reminder (" << pct(r.rate) << ", 95% CI " << pct(r.rate_ci95.lo) << " to "
        << pct(r.rate_ci95.hi) << ")</title>"
        << "<text x=\"" << num(left - 8) << "\" y=\"" << num(y + bar * 0.7) << "\" class=\"label\">" << esc(r.by)
        << "</text>"
        << "<rect class=\"bar\" x=\"" << num(left) << "\" y=\"" << num(y) << "\" width=\""
        << num(std::max(1.0, width * r.rate)) << "\" height=\"" << num(bar) << "\"/>";
    double lo = left + width * r.rate_ci95.lo, hi = left + width * r.rate_ci95.hi, mid = y + bar / 2;
    out << "<line class=\"whisker\" x1=\"" << num(lo) << "\" y1=\"" << num(mid) << "\" x2=\"" << num(hi) << "\" y2=\""
        << num(mid) << "\"/>"
        << "<line class=\"whisker\" x1=\"" << num(lo) << "\" y1=\"" << num(mid - 6) << "\" x2=\"" << num(lo)
        << "\" y2=\"" << num(mid + 6) << "\"/>"
        << "<line class=\"whisker\" x1=\"" << num(hi) << "\" y1=\"" << num(mid - 6) << "\" x2=\"" << num(hi)
        << "\" y2=\"" << num(mid + 6) << "\"/>"
        << "<text x=\"" << num(left + width + 8) << "\" y=\"" << num(y + bar * 0.7) << "\" class=\"value\">"
        << pct(r.rate) << " (n=" << r.reminded << ")</text></g>\n";
  }
  out << "</svg>\n";
}

void uplift_chart(std::ostream& out, const Report& r) {
  out << "<h2>Uplift over the holdout</h2>\n";
  if (!r.uplift) {
    out << "<p id=\"uplift-none\" class=\"none\">not enough data: the uplift needs at least " << kMinUpliftGroup
        << " orders in each group (held out: " << r.holdout_orders << ", reminded: " << r.treated_orders << ")</p>\n";
    return;
  }
  const Uplift& u = *r.uplift;
  double lo = std::min({u.ci95.lo, 0.0, u.difference}), hi = std::max({u.ci95.hi, 0.0, u.difference});
  double span = std::max(hi - lo, 0.02);
  lo -= span * 0.1;
  hi += span * 0.1;
  const double left = 20, width = 560;
  auto x = [&](double v) { return left + width * (v - lo) / (hi - lo); };
  out << "<p>Paid (at any time after the first step came due): reminded " << pct(u.reminded_rate) << " of "
      << r.treated_orders << " orders; held out " << pct(u.holdout_rate) << " of " << r.holdout_orders
      << " orders. Difference <b>" << signed_points(u.difference) << " points</b>, 95% CI "
      << signed_points(u.ci95.lo) << " to " << signed_points(u.ci95.hi)
      << " (Newcombe's hybrid score interval).</p>\n";
  out << "<svg id=\"uplift\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"70\" "
         "role=\"img\" aria-label=\"uplift and its 95% interval\">\n"
      << "<line class=\"zero\" x1=\"" << num(x(0)) << "\" y1=\"5\" x2=\"" << num(x(0)) << "\" y2=\"50\"/>"
      << "<text class=\"tick\" x=\"" << num(x(0)) << "\" y=\"64\">0</text>\n"
      << "<line class=\"interval\" x1=\"" << num(x(u.ci95.lo)) << "\" y1=\"28\" x2=\"" << num(x(u.ci95.hi))
      << "\" y2=\"28\"/>"
      << "<line class=\"interval\" x1=\"" << num(x(u.ci95.lo)) << "\" y1=\"18\" x2=\"" << num(x(u.ci95.lo))
      << "\" y2=\"38\"/>"
      << "<line class=\"interval\" x1=\"" << num(x(u.ci95.hi)) << "\" y1=\"18\" x2=\"" << num(x(u.ci95.hi))
      << "\" y2=\"38\"/>"
      << "<circle class=\"point\" cx=\"" << num(x(u.difference)) << "\" cy=\"28\" r=\"6\"/>"
      << "<text class=\"tick\" x=\"" << num(x(u.ci95.lo)) << "\" y=\"64\">" << signed_points(u.ci95.lo) << "</text>"
      << "<text class=\"tick\" x=\"" << num(x(u.ci95.hi)) << "\" y=\"64\">" << signed_points(u.ci95.hi) << "</text>\n"
      << "</svg>\n";
}

void histogram(std::ostream& out, const Report& r) {
  out << "<h2>Hours from the reminder to the payment</h2>\n";
  long most = 0;
  for (long n : r.hist) most = std::max(most, n);
  const double left = 40, width = 540, height = 160, top = 10;
  const double w = width / r.hist.size();
  out << "<svg id=\"hours\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\""
      << num(top + height + 30) << "\" role=\"img\" aria-label=\"hours to pay\">\n"
      << "<line class=\"grid\" x1=\"" << num(left) << "\" y1=\"" << num(top + height) << "\" x2=\""
      << num(left + width) << "\" y2=\"" << num(top + height) << "\"/>\n";
  for (size_t i = 0; i < r.hist.size(); ++i) {
    double h = most ? height * r.hist[i] / most : 0;
    double from = i * r.hist_bin_hours, to = (i + 1) * r.hist_bin_hours;
    out << "<rect class=\"bar\" x=\"" << num(left + i * w + 1) << "\" y=\"" << num(top + height - h) << "\" width=\""
        << num(w - 2) << "\" height=\"" << num(h) << "\"><title>" << num(from) << "-" << num(to) << "h: " << r.hist[i]
        << " orders</title></rect>\n";
    if (i % 4 == 0)
      out << "<text class=\"tick\" x=\"" << num(left + i * w) << "\" y=\"" << num(top + height + 16) << "\">"
          << num(from) << "h</text>\n";
  }
  out << "<text class=\"tick\" x=\"" << num(left - 4) << "\" y=\"" << num(top + 10) << "\">" << most << "</text>\n"
      << "</svg>\n";
}

}  // namespace

nlohmann::ordered_json report_json(const Report& r, const std::string& by) {
  nlohmann::ordered_json j;
  j["since"] = format_instant(r.since);
  j["until"] = format_instant(r.until);
  j["attribution_window"] = window_text(r.attribution_window);
  j["totals"] = {{"orders", r.orders},
                 {"overdue", r.overdue},
                 {"reminded", r.reminded},
                 {"paid_after_reminder", r.paid_after_reminder},
                 {"paid_without_reminder", r.paid_without_reminder},
                 {"recovered", money_json(r.recovered)},
                 {"holdout", {{"orders", r.holdout_orders}, {"paid", r.holdout_paid}}}};
  if (r.uplift)
    j["uplift"] = {{"reminded_rate", round_to(r.uplift->reminded_rate, 4)},
                   {"holdout_rate", round_to(r.uplift->holdout_rate, 4)},
                   {"difference", round_to(r.uplift->difference, 4)},
                   {"ci95", {round_to(r.uplift->ci95.lo, 4), round_to(r.uplift->ci95.hi, 4)}}};
  else
    j["uplift"] = nullptr;
  j["rows"] = nlohmann::ordered_json::array();
  auto it = r.rows.find(by);
  if (it != r.rows.end())
    for (const auto& row : it->second) {
      nlohmann::ordered_json x = {{"by", row.by},
                                  {"reminded", row.reminded},
                                  {"paid_after_reminder", row.paid_after_reminder},
                                  {"rate", round_to(row.rate, 4)},
                                  {"recovered", money_json(row.recovered)}};
      if (row.median_hours_to_pay)
        x["median_hours_to_pay"] = round_to(*row.median_hours_to_pay, 1);
      else
        x["median_hours_to_pay"] = nullptr;
      j["rows"].push_back(std::move(x));
    }
  return j;
}

void print_report(const Report& r, const std::string& by, std::ostream& out) {
  out << "orders placed " << format_instant(r.since) << " .. " << format_instant(r.until)
      << (r.shop.empty() ? "" : " in shop " + r.shop) << "; attribution window " << window_text(r.attribution_window)
      << "\n\n";
  auto line = [&](const std::string& k, const std::string& v) { out << "  " << std::left << std::setw(30) << k << v << "\n"; };
  line("orders", std::to_string(r.orders));
  line("overdue", std::to_string(r.overdue));
  line("reminded", std::to_string(r.reminded) + " (" + std::to_string(r.reminders) + " reminders sent)");
  line("paid after a reminder", std::to_string(r.paid_after_reminder));
  line("paid without a reminder", std::to_string(r.paid_without_reminder));
  if (r.paid_late) line("paid later than the window", std::to_string(r.paid_late));
  line("recovered", money_text(r.recovered));
  line("opt-outs", r.reminders ? fixed(1000.0 * r.opt_outs / r.reminders, 1) + " per 1,000 reminders (" +
                                     std::to_string(r.opt_outs) + ")"
                               : std::to_string(r.opt_outs));
  line("held out", std::to_string(r.holdout_orders) + " orders, " + std::to_string(r.holdout_paid) + " paid");
  out << "\nuplift (pay rate of reminded orders minus held-out orders):\n";
  if (r.uplift) {
    const Uplift& u = *r.uplift;
    out << "  reminded " << pct(u.reminded_rate) << " of " << r.treated_orders << ", held out " << pct(u.holdout_rate)
        << " of " << r.holdout_orders << "\n  difference " << signed_points(u.difference) << " points, 95% CI "
        << signed_points(u.ci95.lo) << " to " << signed_points(u.ci95.hi) << " (Newcombe's hybrid score interval)\n";
  } else {
    out << "  not enough data: needs at least " << kMinUpliftGroup << " orders in each group (held out "
        << r.holdout_orders << ", reminded " << r.treated_orders << ")\n";
  }
  out << "\n  " << std::left << std::setw(20) << by << std::right << std::setw(9) << "reminded" << std::setw(12)
      << "paid after" << std::setw(8) << "rate" << std::setw(12) << "median h" << "  recovered\n";
  auto it = r.rows.find(by);
  if (it == r.rows.end() || it->second.empty()) out << "  (no reminders sent)\n";
  if (it != r.rows.end())
    for (const auto& row : it->second)
      out << "  " << std::left << std::setw(20) << row.by << std::right << std::setw(9) << row.reminded
          << std::setw(12) << row.paid_after_reminder << std::setw(8) << pct(row.rate) << std::setw(12)
          << (row.median_hours_to_pay ? fixed(*row.median_hours_to_pay, 1) : "-") << "  " << money_text(row.recovered)
          << "\n";
}

void write_report_html(const Report& r, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<link rel=\"icon\" href=\"data:,\">\n"
         "<title>nudge report " << format_instant(r.since).substr(0, 10) << " to "
      << format_instant(r.until).substr(0, 10) << "</title>\n"
      << "<style>\n"
         "body{font-family:sans-serif;margin:2em;color:#222;background:#fff}\n"
         "table{border-collapse:collapse}td,th{padding:2px 12px;text-align:right}td:first-child,th:first-child{text-align:left}\n"
         ".bar{fill:#4a7ebb}.whisker,.interval{stroke:#222;stroke-width:2}.zero{stroke:#b33;stroke-dasharray:4 3}\n"
         ".point{fill:#4a7ebb;stroke:#222}.grid{stroke:#ddd}.tick{font-size:11px;text-anchor:middle;fill:#555}\n"
         ".label{font-size:13px;text-anchor:end}.value{font-size:12px}.none{color:#777}\n"
         "</style></head><body>\n"
      << "<h1>Does reminding pay?</h1>\n<p>Orders placed " << esc(format_instant(r.since)) << " to "
      << esc(format_instant(r.until)) << (r.shop.empty() ? "" : " in shop " + esc(r.shop))
      << "; a payment within " << window_text(r.attribution_window)
      << " after a reminder counts for it (the last reminder before the payment).</p>\n"
      << "<h2>Totals</h2>\n<table id=\"totals\">\n";
  auto row = [&](const std::string& k, const std::string& v) {
    out << "<tr><td>" << esc(k) << "</td><td>" << esc(v) << "</td></tr>\n";
  };
  row("orders", std::to_string(r.orders));
  row("overdue", std::to_string(r.overdue));
  row("reminded", std::to_string(r.reminded));
  row("reminders sent", std::to_string(r.reminders));
  row("paid after a reminder", std::to_string(r.paid_after_reminder));
  row("paid without a reminder", std::to_string(r.paid_without_reminder));
  row("paid later than the window", std::to_string(r.paid_late));
  row("recovered", money_text(r.recovered));
  row("opt-outs per 1,000 reminders", r.reminders ? fixed(1000.0 * r.opt_outs / r.reminders, 1) : "-");
  row("held out", std::to_string(r.holdout_orders) + " orders, " + std::to_string(r.holdout_paid) + " paid");
  out << "</table>\n";
  uplift_chart(out, r);
  rate_chart(out, "by-step", "Pay rate after a reminder, by step (95% Wilson intervals)", r.rows.at("step"));
  rate_chart(out, "by-variant", "Pay rate after a reminder, by template variant (95% Wilson intervals)",
             r.rows.at("template"));
  histogram(out, r);
  out << "</body></html>\n";
}

}  // namespace nudge
