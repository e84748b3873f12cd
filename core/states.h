// The states of a schedule step and of a send, as stored in the `state` columns.
// One to_string/parse pair each, as OrderStatus has; compare enums, never strings.
#pragma once

#include <optional>
#include <string_view>

namespace nudge {

// A step: scheduled until claimed; then sending (its send is in flight) and one of
// the final states. `held` waits, unclaimed, while the buyer has an open flag (a reply
// that asked to pay or talk off the platform); clearing the flag schedules it again.
enum class StepState { kScheduled, kSending, kSent, kFailed, kSkipped, kCancelled, kInDoubt, kHeld };

// A send: sending (committed before its channel is called), retry (waits for its
// next attempt), or final.
enum class SendState { kSending, kSent, kFailed, kCancelled, kRetry, kInDoubt };

const char* to_string(StepState s);
const char* to_string(SendState s);
std::optional<StepState> parse_step_state(std::string_view s);
std::optional<SendState> parse_send_state(std::string_view s);

}  // namespace nudge
