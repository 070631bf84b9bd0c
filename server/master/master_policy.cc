// Staffing decisions and the failure window of a service address; see master_policy.h.
#include "server/master/master_policy.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cmath>

namespace cubby::server {

StaffingDecision decide_staffing(const StaffingInput& in) {
  StaffingDecision d;
  int room = in.maxchild < 0 ? INT_MAX : std::max(0, in.maxchild - in.total);
  int wanted = std::max({0, in.prefork - in.ready, in.owed});
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

const char* death_name(WorkerDeath kind) {
  switch (kind) {
    case WorkerDeath::kAtStart:
      return "at_start";
    case WorkerDeath::kIdle:
      return "idle";
    case WorkerDeath::kBusy:
      return "busy";
  }
  return "unknown";
}

WorkerDeath classify_death(bool reported, bool in_session) {
  if (!reported) return WorkerDeath::kAtStart;
  return in_session ? WorkerDeath::kBusy : WorkerDeath::kIdle;
}

bool counts_towards_disabling(WorkerDeath kind, int wait_status) {
  if (kind != WorkerDeath::kAtStart) return false;
  return !(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);
}

bool holds_back_replacements(WorkerDeath kind) { return kind != WorkerDeath::kBusy; }

ReplacementBackoff::Clock::duration ReplacementBackoff::record(Clock::time_point now) {
  deaths_.push_back(now);
  while (!deaths_.empty() && now - deaths_.front() >= kWindow) deaths_.pop_front();
  const int beyond = static_cast<int>(deaths_.size()) - kFree;
  if (beyond <= 0) return Clock::duration::zero();
  Clock::duration hold = kFirst;
  for (int i = 1; i < beyond && hold < kMax; ++i) hold *= 2;
  hold = std::min<Clock::duration>(hold, kMax);
  not_before_ = std::max(not_before_, now + hold);
  return hold;
}

void ReplacementBackoff::clear() {
  deaths_.clear();
  not_before_ = {};
}

EnableRetry::Clock::duration EnableRetry::next() {
  Clock::duration delay = next_;
  next_ = std::min<Clock::duration>(next_ * 2, kMax);
  return delay;
}

bool FailureWindow::record(Clock::time_point now) {
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() >= window_) failures_.pop_front();
  return static_cast<int>(failures_.size()) >= limit_;
}

namespace {
constexpr double kLn2 = 0.69314718055994531;
}

double ForkRate::estimate(Clock::time_point now) const {
  if (rate_ <= 0 || now <= last_) return rate_;
  double seconds = std::chrono::duration<double>(now - last_).count();
  return rate_ * std::pow(0.5, seconds);
}

int ForkRate::allowance(Clock::time_point now) const {
  if (max_ <= 0) return INT_MAX;
  double e = estimate(now);
  if (e >= max_) return 0;
  return static_cast<int>(std::ceil((max_ - e) / kLn2));
}

void ForkRate::record_fork(Clock::time_point now) {
  rate_ = estimate(now) + kLn2;
  if (now > last_) last_ = now;
}

std::chrono::system_clock::time_point first_event_run(const EventTiming& timing,
                                                      std::chrono::system_clock::time_point now) {
  if (timing.at_hhmm < 0) return now;
  // Today at hh:mm local time, or tomorrow when that has passed; mktime() handles DST and month
  // ends.
  time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm tm;
  localtime_r(&t, &tm);
  for (int day = 0; day < 3; ++day) {
    struct tm at = tm;
    at.tm_mday += day;
    at.tm_hour = timing.at_hhmm / 100;
    at.tm_min = timing.at_hhmm % 100;
    at.tm_sec = 0;
    at.tm_isdst = -1;
    auto when = std::chrono::system_clock::from_time_t(mktime(&at));
    if (when > now) return when;
  }
  return now + std::chrono::hours(24);  // not reached
}

std::optional<std::chrono::system_clock::time_point> next_event_run(
    const EventTiming& timing, std::chrono::system_clock::time_point due,
    std::chrono::system_clock::time_point now) {
  if (timing.at_hhmm >= 0) return first_event_run(timing, std::max(due, now));
  if (timing.period_seconds <= 0) return std::nullopt;
  const auto period = std::chrono::seconds(timing.period_seconds);
  auto next = due + period;
  if (next <= now) next += ((now - next) / period + 1) * period;
  return next;
}

RestartBackoff::Clock::duration RestartBackoff::after_exit(Clock::duration ran_for) {
  if (ran_for >= kHealthy) {
    next_ = std::chrono::seconds(1);
    return Clock::duration::zero();
  }
  Clock::duration delay = next_;
  next_ = std::min<Clock::duration>(next_ * 2, kMax);
  return delay;
}

}  // namespace cubby::server
