// Small helpers the engine's files share (not part of the engine's interface).
#pragma once

#include <string>

#include "core/policy.h"

namespace nudge::engine_detail {

// Whether a channel can reach a buyer: email channels need an address.
inline bool can_reach(const ChannelConf& ch, const std::string& email) {
  if (ch.type == "smtp" || ch.type == "sendmail") return !email.empty();
  return true;
}

inline const Step* find_step(const Policy& p, const std::string& campaign, const std::string& step) {
  for (const auto& c : p.campaigns)
    if (c.name == campaign)
      for (const auto& s : c.steps)
        if (s.name == step) return &s;
  return nullptr;
}

}  // namespace nudge::engine_detail
