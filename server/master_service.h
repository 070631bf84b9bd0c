// One listening address of a SERVICES entry, as the master supervises it: the listening socket,
// the status pipe its workers report on, the workers' pids and readiness, and the staffing rule of
// master_policy.h applied to them.
//
// A ServiceAddress owns its listening socket and both ends of its status pipe; it forks workers
// (fd 3 = the pipe's write end, fd 4 = the socket, see worker_protocol.h) but never reaps them:
// the master reaps every child and hands each exit to the address that owns the pid. It never
// accepts a connection. All of its work runs on the io_context it was created with, which must
// outlive it.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "conf/result.h"
#include "server/master_exec.h"
#include "server/master_policy.h"

namespace cubby::server {

struct ServiceAddressConfig {
  std::string service;    // the SERVICES entry's name (CYRUS_SERVICE)
  int id = 0;             // index of this address within the entry (CYRUS_ID)
  std::string address;    // for messages: "/path", "1.2.3.4:24", "[::1]:24"
  std::string unix_path;  // the socket file of a UNIX listener, removed when it stops; "" for TCP
  int prefork = 0;
  int maxchild = -1;  // -1 = unlimited
  // path, argv (with -C), environment (with CYRUS_SERVICE and CYRUS_ID) and maxfds of a worker;
  // the descriptors are filled in by the ServiceAddress.
  Launch launch;
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

  // Closes the listening socket (removing a UNIX socket's file) and forks no more workers.
  // Workers already running keep their copy of the socket.
  void stop_accepting();
  // Sends `sig` to every live worker; returns how many there are.
  int signal_workers(int sig);

  bool accepting() const { return listener_.is_open(); }
  int total() const { return static_cast<int>(workers_.size()); }
  int ready() const;
  const ServiceAddressConfig& config() const { return config_; }
  // `service "lmtp" (127.0.0.1:24)`, for log lines.
  const std::string& label() const { return label_; }

 private:
  struct Worker {
    bool ready = true;  // ready from its fork until it says otherwise
    uint64_t connections = 0;
  };
  ServiceAddress(boost::asio::io_context& io, ServiceAddressConfig config, int listen_fd,
                 int status_read, int status_write);
  void wait_status();
  void watch_listener();
  bool fork_worker();
  void handle_message(int32_t status, pid_t pid);

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
  boost::asio::steady_timer retry_;  // re-staffing after a failed fork
  bool retry_armed_ = false;
  std::map<pid_t, Worker> workers_;
  FailureWindow failures_;
  EpisodeLatch at_maxchild_;
  uint64_t connections_ = 0;  // kConnection reports, over this address's lifetime
};

}  // namespace cubby::server
