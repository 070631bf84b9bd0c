// The master's decisions about one service address, as pure functions of its counters, so they can
// be tested without processes.
//
// Model (Cyrus's master/master.c, adapted to event-loop workers that serve many connections): a
// worker counts as ready from its fork until it reports kBusy, and again after kReady. The master
// keeps `ready >= prefork` by forking, never exceeding `maxchild` live workers (-1 = unlimited),
// and starts one worker in place of each that died busy.
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
  // Workers owed in place of busy ones that died: their clients come back at once, so each is
  // replaced even beyond prefork (within maxchild and the allowance).
  int owed = 0;
};

struct StaffingDecision {
  int fork = 0;                 // workers to fork now
  bool watch_listener = false;  // fork one more when a connection waits
  bool at_maxchild = false;     // no worker ready and none may be forked: connections queue
  bool rate_limited = false;    // more forks wanted than fork_allowance permitted
};

// What to do given the counters. Pure.
StaffingDecision decide_staffing(const StaffingInput& in);

// How a worker's life ended, as far as the master can tell from its status messages:
//   kAtStart  before it said anything: it never got as far as accepting (a bad cmd=, a settings
//             file or a partition it cannot open);
//   kIdle     after it said it was ready, with no connection open;
//   kBusy     with a connection open (a kConnection not yet followed by kIdle).
// Only deaths at start can disable an address (see counts_towards_disabling); idle and busy
// workers are replaced, held back by ReplacementBackoff when they keep dying. Cyrus counts the
// deaths of ready (idle) workers too; event-loop workers are ready while they serve connections,
// so that would take a service down for crashes under load.
enum class WorkerDeath { kAtStart = 0, kIdle = 1, kBusy = 2 };
inline constexpr int kWorkerDeathKinds = 3;
// "at_start", "idle", "busy": for logs and metric labels.
const char* death_name(WorkerDeath kind);

// Pure: the kind of death of a worker that `reported` a status message at least once and, if so,
// had a connection open (`in_session`) when it died.
WorkerDeath classify_death(bool reported, bool in_session);

// Whether an abnormal exit (`wait_status` as from waitpid) of kind `kind` counts towards disabling
// the address: deaths at start do, except SIGKILL, which comes only from outside (the OOM killer,
// an administrator) and says nothing about whether the worker can start.
bool counts_towards_disabling(WorkerDeath kind, int wait_status);

// Counts abnormal worker exits of one address over a sliding window; trips when `limit` of them
// fall within `window` (Cyrus: 5 within 10 s disables the service until SIGHUP; Cubby counts only
// deaths at start, see WorkerDeath).
class FailureWindow {
 public:
  using Clock = std::chrono::steady_clock;
  FailureWindow(int limit = 5, Clock::duration window = std::chrono::seconds(10))
      : limit_(limit), window_(window) {}
  // Records a failure at `now`; true when the limit is reached.
  bool record(Clock::time_point now);
  void clear() { failures_.clear(); }
  int limit() const { return limit_; }
  Clock::duration window() const { return window_; }

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

// Whether a death of this kind feeds ReplacementBackoff: deaths at start and idle ones do (they
// need no client, so a broken worker could make the master fork in a tight loop); busy ones do
// not: each took a client connection with it, so they can come no faster than clients connect, and
// holding their replacements back would only keep the service dark for longer after a burst of
// kills (the OOM killer, a crash bug hit by many connections).
bool holds_back_replacements(WorkerDeath kind);

// How long to hold back new workers of an address whose workers keep dying before they serve (see
// holds_back_replacements): the first kFree such deaths within kWindow are replaced at once; each
// further one within the window holds every start back for kFirst, doubling up to kMax.
class ReplacementBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kFree = 10;
  static constexpr std::chrono::seconds kWindow{10};
  static constexpr std::chrono::milliseconds kFirst{50};
  static constexpr std::chrono::milliseconds kMax{250};

  // Records a death at `now`; returns how long new workers are held back from `now` (zero while
  // deaths are few).
  Clock::duration record(Clock::time_point now);
  // Forks allowed at `now` (a StaffingInput::fork_allowance): none while held back.
  int allowance(Clock::time_point now) const { return now < not_before_ ? 0 : INT_MAX; }
  Clock::time_point not_before() const { return not_before_; }
  void clear();

 private:
  std::deque<Clock::time_point> deaths_;
  Clock::time_point not_before_{};
};

// When a disabled address is tried again: kFirst after it is disabled, then twice as long each
// time it is disabled again, up to kMax; reset() (a worker of it became ready, or SIGHUP) starts
// over. A retry costs a few forks; the growing delay keeps a lasting fault from filling the log.
class EnableRetry {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kFirst{10};
  static constexpr std::chrono::seconds kMax{300};
  // The delay before the next retry; the one after it is twice as long.
  Clock::duration next();
  void reset() { next_ = kFirst; }

 private:
  Clock::duration next_ = kFirst;
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
