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
