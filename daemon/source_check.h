// `nudgectl source check`: one signed, read-only call per read API the policy's
// source uses, and what it saw: orders awaiting payment, the token's expiry, the
// clock skew from the answer's Date, or the gateway's code and message. For an
// operator before going live, and after changing credentials. Runs its own
// io_context; never refreshes a token or writes the daemon's state.
#pragma once

#include <ostream>
#include <string>

#include "core/policy.h"

namespace nudge {

inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: unreachable, or an answer we cannot read
inline constexpr int kExitNoPerm = 77;       // EX_NOPERM: the credentials were refused

// Returns 0 when the source works, kExitNoPerm, kExitUnavailable, or kExitConfig
// when the policy's credentials cannot be read.
int check_source(const Policy& policy, const std::string& credentials_dir, std::ostream& out);

}  // namespace nudge
