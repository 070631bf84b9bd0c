// Staffing decisions and the failure window of a service address; see master_policy.h.
#include "server/master_policy.h"

#include <algorithm>

namespace cubby::server {

StaffingDecision decide_staffing(const StaffingInput& in) {
  StaffingDecision d;
  int room = in.maxchild < 0 ? INT_MAX : std::max(0, in.maxchild - in.total);
  int wanted = std::max(0, in.prefork - in.ready);
  int allowed = std::min(room, std::max(0, in.fork_allowance));
  d.fork = std::min(wanted, allowed);
  d.rate_limited = std::min(wanted, room) > d.fork;
  int ready = in.ready + d.fork;
  int total = in.total + d.fork;
  bool may_grow = in.maxchild < 0 || total < in.maxchild;
  if (ready <= 0) {
    // One more fork is what a waiting connection would need; the rate limit may forbid it too.
    d.watch_listener = may_grow && in.fork_allowance - d.fork > 0;
    d.rate_limited = d.rate_limited || (may_grow && !d.watch_listener);
    d.at_maxchild = !may_grow;
  }
  return d;
}

bool FailureWindow::record(Clock::time_point now) {
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() >= window_) failures_.pop_front();
  return static_cast<int>(failures_.size()) >= limit_;
}

}  // namespace cubby::server
