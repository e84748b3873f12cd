#include "core/states.h"

namespace nudge {

const char* to_string(StepState s) {
  switch (s) {
    case StepState::kScheduled: return "scheduled";
    case StepState::kSending: return "sending";
    case StepState::kSent: return "sent";
    case StepState::kFailed: return "failed";
    case StepState::kSkipped: return "skipped";
    case StepState::kCancelled: return "cancelled";
    case StepState::kInDoubt: return "in_doubt";
    case StepState::kHeld: return "held";
  }
  return "?";
}

const char* to_string(SendState s) {
  switch (s) {
    case SendState::kSending: return "sending";
    case SendState::kSent: return "sent";
    case SendState::kFailed: return "failed";
    case SendState::kCancelled: return "cancelled";
    case SendState::kRetry: return "retry";
    case SendState::kInDoubt: return "in_doubt";
  }
  return "?";
}

std::optional<StepState> parse_step_state(std::string_view s) {
  for (auto v : {StepState::kScheduled, StepState::kSending, StepState::kSent, StepState::kFailed, StepState::kSkipped,
                 StepState::kCancelled, StepState::kInDoubt, StepState::kHeld})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

std::optional<SendState> parse_send_state(std::string_view s) {
  for (auto v : {SendState::kSending, SendState::kSent, SendState::kFailed, SendState::kCancelled, SendState::kRetry,
                 SendState::kInDoubt})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

}  // namespace nudge
