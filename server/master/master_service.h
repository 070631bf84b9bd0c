// One listening address of a SERVICES entry, as the master supervises it: the listening socket,
// the status pipe its workers report on, the workers' pids, readiness and counters, and the
// staffing rule of master_policy.h applied to them.
//
// A ServiceAddress owns its listening socket and both ends of its status pipe; it forks workers
// (fd 3 = the pipe's write end, fd 4 = the socket, fd 5 = the worker's counters region; see
// worker_protocol.h) but never reaps them: the master reaps every child and hands each exit to the
// address that owns the pid. It never accepts a connection.
//
// Its life: start() forks the first workers; staff() keeps prefork ready workers, never more than
// maxchild live ones, no faster than maxforkrate. Workers that die are replaced (one that died
// busy at once, even beyond prefork; others held back by master_policy.h's ReplacementBackoff when
// they keep dying); how they died (at start, idle, busy: WorkerDeath) is counted. Only workers that
// die before they are ready (they cannot even start) can disable it: five within 10 s
// (FailureWindow) close the listener (clients are refused, so MTAs defer), with an error naming the
// cause, and it is tried again by itself after EnableRetry's delay (10 s, doubling up to 5 min;
// always 10 s with babysit) or at once by enable() (the master's SIGHUP). On reload the master
// either keeps it (reconfigure() + recycle_workers(): every worker gets SIGHUP, finishes what it
// has in flight and exits, and no longer counts as ready meanwhile) or retires it
// (stop_accepting(), then it lives on until its last worker has exited). All of its work runs on
// the io_context it was created with, which must outlive it.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "conf/result.h"
#include "server/master/master_exec.h"
#include "server/master/master_listen.h"
#include "server/master/master_policy.h"
#include "server/process/worker_counters.h"

namespace cubby::server {

struct ServiceAddressConfig {
  std::string service;  // the SERVICES entry's name (CYRUS_SERVICE)
  int id = 0;           // index of this address within the entry (CYRUS_ID)
  std::string address;  // for messages and as its identity: "/path", "1.2.3.4:24", "[::1]:24"
  ListenTarget listen;  // how to bind it again after it was disabled
  int prefork = 0;
  int maxchild = -1;     // -1 = unlimited
  int maxforkrate = 0;   // forks per second; 0 = unlimited
  bool babysit = false;  // retry 10 s after being disabled instead of waiting for SIGHUP
  std::string origin;    // file:line of the entry
  // path, argv (with -C), environment (with CYRUS_SERVICE and CYRUS_ID) and maxfds of a worker;
  // the descriptors are filled in by the ServiceAddress.
  Launch launch;
};

// What `cubbyctl status` and the metrics show about one address.
struct ServiceAddressStatus {
  std::string service, address, origin;
  std::string state;  // "enabled", "disabled" (retried at retry_at, or at SIGHUP), "removed"
  int ready = 0, busy = 0, retiring = 0;
  int prefork = 0, maxchild = -1;
  uint64_t connections = 0;                 // accepted by its workers (their kConnection reports)
  uint64_t forks = 0;                       // workers started
  uint64_t failures = 0;                    // abnormal worker exits (but status 75)
  uint64_t deaths[kWorkerDeathKinds] = {};  // abnormal worker exits by WorkerDeath
  uint64_t disabled_times = 0;              // times it was disabled
  std::chrono::system_clock::time_point retry_at{};  // disabled: the next automatic retry
  // The last connection a worker accepted; {} = none yet, then `listening_since` is the reference.
  std::chrono::system_clock::time_point last_connection_at{}, listening_since{};
  uint64_t maxchild_reached = 0;  // times it ran out of workers at maxchild
  std::string last_error;         // "" when none
  std::chrono::system_clock::time_point last_error_at{};
  CounterSnapshot counters;  // of every worker it has had, live or gone
};

class ServiceAddress {
 public:
  // Takes ownership of `listen_fd` (a bound, listening socket; it is made non-blocking, as workers
  // expect) and creates the status pipe. Fails only if the pipe cannot be made.
  static Result<std::unique_ptr<ServiceAddress>, std::string> create(boost::asio::io_context& io,
                                                                     ServiceAddressConfig config,
                                                                     int listen_fd);
  ~ServiceAddress();
  ServiceAddress(const ServiceAddress&) = delete;
  ServiceAddress& operator=(const ServiceAddress&) = delete;

  // Starts reading the status pipe and forks the initial workers.
  void start();
  // Re-applies the staffing rule: forks up to prefork, or watches the listener for a connection.
  void staff();
  // Reads every status message already in the pipe, without waiting. The master calls this before
  // reaping so that the last words of an exited worker are not credited to a later pid.
  void read_status();

  bool owns(pid_t pid) const { return workers_.count(pid) != 0; }
  // Accounts for the exit of one of this address's workers (reaped by the master). Logs abnormal
  // exits; too many within the failure window disables the address. Does not re-staff.
  void worker_exited(pid_t pid, int wait_status);

  // Reload, same address: takes the entry's new command, numbers and environment (`config` must
  // name the same address). Workers already running keep their old command until recycled.
  void reconfigure(ServiceAddressConfig config);
  // Sends SIGHUP to every worker; from then on they count as neither ready nor busy but still
  // count against maxchild. Returns how many there were.
  int recycle_workers();
  // Binds the address again after it was disabled (at once, as SIGHUP), clears the failure window
  // and the back-offs and staffs it. The error (a bind failure) is also recorded as the last error;
  // the automatic retry goes on then.
  std::optional<std::string> enable();
  bool disabled() const { return disabled_; }

  // Closes the listening socket (removing a UNIX socket's file) and forks no more workers.
  // Workers already running keep their copy of the socket.
  void stop_accepting();
  // Gives up the listening socket without removing its file (another entry takes the address over
  // on reload); -1 when it has none. Then as stop_accepting().
  int take_listener();
  // Marks the address as removed by a reload (for status) and stops accepting.
  void retire();
  // Sends `sig` to every live worker; returns how many there are.
  int signal_workers(int sig);

  bool accepting() const { return listener_.is_open(); }
  int total() const { return static_cast<int>(workers_.size()); }
  int ready() const;
  ServiceAddressStatus status() const;
  const ServiceAddressConfig& config() const { return config_; }
  // `service "lmtp" (127.0.0.1:24)`, for log lines.
  const std::string& label() const { return label_; }

 private:
  struct Worker {
    bool ready = true;        // ready from its fork until it says otherwise
    bool retiring = false;    // sent SIGHUP by a reload
    bool reported = false;    // has sent a status message: it started
    bool in_session = false;  // has a connection open (kConnection, not yet kIdle)
    uint64_t connections = 0;
    std::unique_ptr<CountersRegion> counters;
  };
  ServiceAddress(boost::asio::io_context& io, ServiceAddressConfig config, int listen_fd,
                 int status_read, int status_write);
  void adopt_listener(int fd);
  void wait_status();
  void watch_listener();
  void retry_staffing(std::chrono::milliseconds after);
  bool fork_worker();
  void handle_message(int32_t status, pid_t pid);
  StaffingInput staffing_input();
  void record_error(std::string text);
  void disable(const std::string& last_death);
  std::optional<std::string> rebind();
  void schedule_enable(std::chrono::steady_clock::duration delay);

  ServiceAddressConfig config_;
  std::string label_;
  boost::asio::posix::stream_descriptor listener_;
  dev_t unix_dev_ = 0;  // identity of the socket file we bound, so we remove only our own
  ino_t unix_ino_ = 0;
  boost::asio::posix::stream_descriptor status_;  // read end
  int status_write_ = -1;                         // write end, handed to every worker
  std::string pending_;                           // a partial status message
  bool watching_ = false;                         // an async_wait on the listener is pending
  bool started_ = false;
  bool disabled_ = false, retired_ = false;
  boost::asio::steady_timer retry_;  // re-staffing after a failed fork or the fork-rate limit
  bool retry_armed_ = false;
  boost::asio::steady_timer enable_timer_;  // enabling again after being disabled
  std::map<pid_t, Worker> workers_;
  FailureWindow failures_;  // deaths at start
  ReplacementBackoff replacement_;
  int owed_ = 0;  // replacements for workers that died busy, not yet started
  bool holding_back_logged_ = false;
  EnableRetry enable_retry_;
  std::chrono::system_clock::time_point retry_at_{}, last_connection_at_{}, listening_since_{};
  uint64_t deaths_[kWorkerDeathKinds] = {};
  uint64_t disabled_times_ = 0;
  ForkRate fork_rate_;
  EpisodeLatch at_maxchild_;
  bool rate_limit_logged_ = false;
  uint64_t connections_ = 0, forks_ = 0, failure_count_ = 0, maxchild_reached_ = 0;
  std::string last_error_;
  std::chrono::system_clock::time_point last_error_at_{};
  CounterSnapshot gone_;  // counters of workers that have exited
};

}  // namespace cubby::server
