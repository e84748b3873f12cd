#include "core/attribution.h"

#include <cmath>
#include <cstdio>

#include "core/audit.h"
#include "core/policy.h"
#include "core/store.h"

namespace nudge {

Attribution attribute(const std::vector<Reminder>& reminders, std::optional<Millis> paid_at, Millis window) {
  Attribution a;
  if (!paid_at) return a;
  std::optional<size_t> last;
  for (size_t i = 0; i < reminders.size(); ++i)
    if (reminders[i].at <= *paid_at && (!last || reminders[i].at >= reminders[*last].at)) last = i;
  if (!last) {
    a.kind = PaidKind::kWithoutReminder;
    return a;
  }
  Millis gap = *paid_at - reminders[*last].at;
  if (gap >= window) {
    a.kind = PaidKind::kLate;
    return a;
  }
  a.kind = PaidKind::kAfterReminder;
  a.reminder = last;
  a.to_pay = gap;
  return a;
}

std::vector<Reminder> order_reminders(Store& store, const std::string& shop, const std::string& order_id) {
  std::vector<Reminder> out;
  auto& q = store.stmt(
      "SELECT s.campaign, s.step, se.updated_at, se.template, se.channel, se.lang FROM schedule s "
      "JOIN sends se ON se.id = s.send_id WHERE s.shop=? AND s.order_id=? AND se.state='sent'");
  q.bind(1, shop);
  q.bind(2, order_id);
  while (q.executeStep())
    out.push_back({.at = q.getColumn(2).getInt64(), .campaign = q.getColumn(0).getString(),
                   .step = q.getColumn(1).getString(), .tmpl = q.getColumn(3).getString(),
                   .channel = q.getColumn(4).getString(), .lang = q.getColumn(5).getString()});
  q.reset();
  return out;
}

void audit_payment(Store& store, const Policy& policy, const std::string& shop, const std::string& order_id,
                   const std::string& buyer, Millis now) {
  auto& q = store.stmt("SELECT status, status_at, amount, currency FROM orders WHERE shop=? AND order_id=?");
  q.bind(1, shop);
  q.bind(2, order_id);
  if (!q.executeStep()) {
    q.reset();
    return;
  }
  std::string status = q.getColumn(0).getString();
  Millis paid_at = q.getColumn(1).getInt64();
  std::string amount = q.getColumn(2).getString(), currency = q.getColumn(3).getString();
  q.reset();
  if (status != "paid") return;
  auto reminders = order_reminders(store, shop, order_id);
  Attribution a = attribute(reminders, paid_at, policy.experiment.attribution_window);
  if (a.kind != PaidKind::kAfterReminder) return;
  const Reminder& r = reminders[*a.reminder];
  char hours[64];
  std::snprintf(hours, sizeof hours, "paid %.1fh after the reminder", static_cast<double>(a.to_pay) / kHour);
  append_audit(store, now, {.event = "paid_after_reminder", .shop = shop, .buyer = buyer, .orders = {order_id},
                            .step = r.step, .channel = r.channel, .tmpl = r.tmpl, .lang = r.lang, .detail = hours,
                            .campaign = r.campaign, .amount = amount, .currency = currency});
}

}  // namespace nudge
