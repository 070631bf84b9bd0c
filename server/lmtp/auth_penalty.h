// AuthPenalty: what the engine asks before it checks an AUTH attempt and tells after, so that
// password guessing is slowed per client address across connections (and worker processes), as
// Dovecot's auth penalty does. The engine knows nothing of addresses or shared memory; the session
// gives it the penalty of its peer's address (server/lmtpd/auth_penalty_table.h), tests a plain one.
#pragma once

#include <chrono>

namespace cubby::lmtp {

class AuthPenalty {
 public:
  virtual ~AuthPenalty() = default;
  // An AUTH attempt is about to be checked: how long it must wait first (zero: at once). A wait
  // reserves the attempt's turn, so attempts from one address are spaced whatever connection
  // they come on.
  virtual std::chrono::milliseconds admit() = 0;
  // The attempt failed: the address's next attempts wait longer.
  virtual void failed() = 0;
  // The attempt succeeded: the address's failures are forgotten.
  virtual void succeeded() = 0;
};

}  // namespace cubby::lmtp
