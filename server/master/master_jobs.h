// The master's EVENTS and DAEMON entries: commands it runs on a schedule, and daemons it keeps
// alive. Like ServiceAddress, they fork but never reap: the master reaps every child and hands the
// exit to the owner of the pid. Both run on the master's io_context, which must outlive them.
//
// ScheduledEvent: runs its command at the times of master_policy.h's EventTiming and logs how each
// run ended; a run that is still going when the next one is due makes that one be skipped (with a
// log line), so one event never runs twice at once.
//
// KeptDaemon: starts its command and starts it again whenever it exits, after RestartBackoff's
// delay. With wait=yes the first start waits (bounded) until the daemon writes "ok\r\n" to fd 3,
// as Cyrus's wait daemons do, so that it is up before any service starts.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "server/master/master_exec.h"
#include "server/master/master_policy.h"

namespace cubby::server {

// What `cubbyctl status` shows about an EVENTS or DAEMON entry.
struct JobStatus {
  std::string kind;  // "event" or "daemon"
  std::string name, origin;
  pid_t pid = 0;  // running now, or 0
  uint64_t runs = 0, failures = 0;
  std::string last_exit;  // "exited with status 0", "" before the first end
  std::chrono::system_clock::time_point next_run{};  // events: 0 when no run is scheduled
};

struct JobConfig {
  std::string name;
  std::string origin;  // file:line
  Launch launch;       // path, argv (with -C), environment
  EventTiming timing;  // EVENTS
  bool wait = false;   // DAEMON wait=
};

class ScheduledEvent {
 public:
  ScheduledEvent(boost::asio::io_context& io, JobConfig config);
  ScheduledEvent(const ScheduledEvent&) = delete;
  ScheduledEvent& operator=(const ScheduledEvent&) = delete;

  // Schedules the first run (at once for a period= or once-only event, else the next hh:mm).
  void start();
  // Reload: the entry's new command and timing; rescheduled from now. A run in progress goes on.
  void reconfigure(JobConfig config);
  // Schedules no more runs; a run in progress goes on.
  void stop();
  bool owns(pid_t pid) const { return pid_ > 0 && pid == pid_; }
  void exited(pid_t pid, int wait_status);
  pid_t running() const { return pid_; }
  int signal(int sig);
  JobStatus status() const;
  const JobConfig& config() const { return config_; }

 private:
  void schedule(std::chrono::system_clock::time_point when);
  void fire();

  JobConfig config_;
  boost::asio::system_timer timer_;
  std::chrono::system_clock::time_point due_{};
  bool scheduled_ = false;
  pid_t pid_ = 0;
  std::chrono::steady_clock::time_point started_{};
  uint64_t runs_ = 0, failures_ = 0, skipped_ = 0;
  std::string last_exit_;
};

class KeptDaemon {
 public:
  KeptDaemon(boost::asio::io_context& io, JobConfig config);
  KeptDaemon(const KeptDaemon&) = delete;
  KeptDaemon& operator=(const KeptDaemon&) = delete;

  // Starts it; with wait=yes blocks until it says "ok\r\n" on fd 3 or `wait_limit` passes. The
  // error says why it is not running.
  std::optional<std::string> start(std::chrono::milliseconds wait_limit);
  // Starts no more; sends `sig` to the running process. Returns 1 if one was running, else 0.
  int stop(int sig);
  bool owns(pid_t pid) const { return pid_ > 0 && pid == pid_; }
  // Accounts for its exit and schedules the next start (unless stopped).
  void exited(pid_t pid, int wait_status);
  pid_t running() const { return pid_; }
  int signal(int sig);
  JobStatus status() const;
  const JobConfig& config() const { return config_; }

 private:
  bool spawn_now();

  JobConfig config_;
  boost::asio::steady_timer restart_;
  RestartBackoff backoff_;
  bool stopped_ = false;
  pid_t pid_ = 0;
  std::chrono::steady_clock::time_point started_{};
  uint64_t runs_ = 0, failures_ = 0;
  std::string last_exit_;
};

}  // namespace cubby::server
