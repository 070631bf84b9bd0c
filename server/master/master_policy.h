// The master's decisions about one service address, as pure functions of its counters, so they can
// be tested without processes.
//
// Model (Cyrus's master/master.c, adapted to event-loop workers that serve many connections): a
// worker counts as ready from its fork until it reports kBusy, and again after kReady. The master
// keeps `ready >= prefork` by forking, never exceeding `maxchild` live workers (-1 = unlimited).
// When no worker is ready and another may be forked, it watches the listening socket and forks one
// worker when a connection waits there; it never accepts. When no worker is ready and maxchild is
// reached, connections wait in the kernel's listen backlog, which the master logs once per episode.
#pragma once

#include <chrono>
#include <climits>
#include <deque>
#include <optional>

namespace cubby::server {

struct StaffingInput {
  int ready = 0;      // workers that have room for connections
  int total = 0;      // live workers
  int prefork = 0;    // ready workers to keep
  int maxchild = -1;  // live workers allowed; -1 = unlimited
  // Forks allowed right now by other limits (a fork-rate limit); INT_MAX = no such limit.
  int fork_allowance = INT_MAX;
};

struct StaffingDecision {
  int fork = 0;                 // workers to fork now
  bool watch_listener = false;  // fork one more when a connection waits
  bool at_maxchild = false;     // no worker ready and none may be forked: connections queue
  bool rate_limited = false;    // more forks wanted than fork_allowance permitted
};

// What to do given the counters. Pure.
StaffingDecision decide_staffing(const StaffingInput& in);

// Counts abnormal worker exits of one address over a sliding window; trips when `limit` of them
// fall within `window` (Cyrus: 5 within 10 s disables the service until SIGHUP).
class FailureWindow {
 public:
  using Clock = std::chrono::steady_clock;
  FailureWindow(int limit = 5, Clock::duration window = std::chrono::seconds(10))
      : limit_(limit), window_(window) {}
  // Records a failure at `now`; true when the limit is reached.
  bool record(Clock::time_point now);
  void clear() { failures_.clear(); }

 private:
  int limit_;
  Clock::duration window_;
  std::deque<Clock::time_point> failures_;
};

// maxforkrate: Cyrus's estimate of forks per second, which decays by half every second (its
// FORKRATE_ALPHA). Cyrus refreshes the estimate only between staffing passes, so a burst of forks
// at one instant is never limited; here each fork adds ln 2 to the estimate (so that forks at a
// steady rate r keep it near r) and the estimate decays continuously, so bursts are bounded too.
// Forking is allowed while the estimate is below the limit; when it is not, the master tries again
// after kRetry (Cyrus's FORKRATE_INTERVAL).
class ForkRate {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kRetry{400};

  explicit ForkRate(int max_per_second = 0) : max_(max_per_second) {}
  // 0 = unlimited.
  void set_limit(int max_per_second) { max_ = max_per_second; }
  int limit() const { return max_; }
  // The estimate at `now`, in forks per second.
  double estimate(Clock::time_point now) const;
  // How many forks may happen at `now`: INT_MAX without a limit, else as many as keep the estimate
  // below the limit before each of them (0 when it is already there).
  int allowance(Clock::time_point now) const;
  void record_fork(Clock::time_point now);

 private:
  int max_;
  double rate_ = 0;  // the estimate at last_
  Clock::time_point last_{};
};

// When an EVENTS entry runs (Cyrus's master/master.c add_event and schedule_event): with at=hhmm,
// every day at that local time (period is then 24 hours, as Cyrus); otherwise with a period, at
// start-up and then every period; with neither, once at start-up.
struct EventTiming {
  int period_seconds = 0;
  int at_hhmm = -1;
};
// The first run for a master started at `now`.
std::chrono::system_clock::time_point first_event_run(const EventTiming& timing,
                                                      std::chrono::system_clock::time_point now);
// The run after one that was due at `due`, never at or before `now` (runs missed while the master
// was busy or suspended are skipped, not caught up); nullopt when the event runs only once.
std::optional<std::chrono::system_clock::time_point> next_event_run(
    const EventTiming& timing, std::chrono::system_clock::time_point due,
    std::chrono::system_clock::time_point now);

// How long to wait before respawning a DAEMON entry that exited: a daemon that ran for `kHealthy`
// or longer is restarted at once; one that exits sooner waits 1 s, then 2, 4, ... up to kMax.
class RestartBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kHealthy{60};
  static constexpr std::chrono::seconds kMax{60};
  // The delay before the next start, given how long the last run lasted.
  Clock::duration after_exit(Clock::duration ran_for);

 private:
  Clock::duration next_ = std::chrono::seconds(1);
};

// Tracks the "reached maxchild" episode so the condition is logged once when it starts.
class EpisodeLatch {
 public:
  // Feeds the current condition; true only on the transition from off to on.
  bool update(bool on) {
    bool starts = on && !on_;
    on_ = on;
    return starts;
  }

 private:
  bool on_ = false;
};

}  // namespace cubby::server
