#include "core/manual.h"

namespace nudge {

std::optional<Step> manual_step(const Policy& p, const std::string& campaign, const std::string& channel,
                                const std::string& tmpl, std::string& error) {
  const Step* first = nullptr;
  for (const auto& c : p.campaigns)
    if (c.name == campaign && !c.steps.empty()) first = &c.steps.front();
  Step s;
  s.name = kManualStep;
  if (!channel.empty()) {
    if (!p.channels.count(channel)) {
      error = "unknown channel '" + channel + "' (the policy's channels: ";
      bool sep = false;
      for (const auto& [name, ch] : p.channels) error += (sep ? ", " : "") + name, sep = true;
      error += ")";
      return std::nullopt;
    }
    s.channels = {channel};
  } else if (first) {
    s.channels = first->channels;
  } else {
    error = "the order has no campaign to take a channel from: give --channel";
    return std::nullopt;
  }
  if (!tmpl.empty()) {
    if (!p.templates.count(tmpl)) {
      error = "unknown template '" + tmpl + "' (the policy's templates: ";
      bool sep = false;
      for (const auto& [name, t] : p.templates) error += (sep ? ", " : "") + name, sep = true;
      error += ")";
      return std::nullopt;
    }
    s.tmpl = tmpl;
  } else if (first) {
    s.tmpl = first->tmpl;
  } else {
    error = "the order has no campaign to take a template from: give --template";
    return std::nullopt;
  }
  return s;
}

std::string manual_refusal(const std::string& status, const std::string& manual_state, std::string& detail) {
  if (status != "awaiting_payment") {
    detail = "the order is " + status + ", no longer awaiting payment";
    return status;
  }
  if (manual_state == "scheduled" || manual_state == "sending") {
    detail = "a manual reminder for this order is already waiting to be sent";
    return "manual_pending";
  }
  return "";
}

}  // namespace nudge
