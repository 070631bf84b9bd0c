// cubby-master: reads the settings and services files, runs the START entries, binds every
// `listen=` of SERVICES, keeps each address staffed with workers (master_service.h), respawns them,
// and on SIGTERM or SIGINT stops accepting and lets the workers finish what they have in flight.
// It only supervises: it never accepts a connection and never touches mail.
//
// Usage: Master::load() reads and checks everything that can be checked without side effects
// (syntax, executables, listen= resolution); run() then takes the pidfile, runs START, binds,
// forks, and serves until told to stop. Both report administrator errors as messages, never as
// exceptions. One Master per process: it installs signal handlers.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "conf/listen.h"
#include "conf/result.h"
#include "conf/services.h"
#include "conf/settings.h"
#include "server/master_files.h"
#include "server/master_service.h"

namespace cubby::server {

struct MasterOptions {
  std::string settings_path = "/etc/cubby/imapd.conf";  // -C
  std::string services_path = "/etc/cubby/cyrus.conf";  // -M
  std::string pidfile;                                  // -p; "" = {configdirectory}/master.pid
  std::string readyfile;                                // -r; "" = none
  int backlog = 128;                                    // -l
  // Logs go to stderr (-D). When they go to syslog, fatal start-up errors are also printed to
  // stderr so that whoever started the master sees why it stopped.
  bool log_to_stderr = false;
};

class Master {
 public:
  // Reads both files and prepares every entry. The error is ready to print: `file:line: message`
  // for a ConfigError, `service "x": ...` for an entry that cannot run. Warnings are logged.
  static Result<std::unique_ptr<Master>, std::string> load(const MasterOptions& options);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Runs until stopped. Returns the exit status: 0 after SIGTERM/SIGINT and a clean drain, 1 when
  // start-up failed (the reason is logged).
  int run();

 private:
  // A SERVICES entry with its executable resolved and its addresses looked up.
  struct Service {
    conf::ServiceSpec spec;
    std::string executable;
    std::vector<conf::ListenAddress> addresses;
  };
  struct Command {
    conf::CommandSpec spec;
    std::string executable;
  };

  explicit Master(MasterOptions options);
  bool run_start_entries();
  bool bind_services();
  void wait_signal();
  void on_signal(int sig);
  void reap();
  void staff_all();
  void begin_shutdown(int exit_status);
  void finish_if_drained();
  void fatal(const std::string& message);
  int live_workers() const;

  MasterOptions options_;
  std::string settings_abs_;  // the settings file as an absolute path, passed to workers
  conf::Settings settings_;
  std::vector<Command> start_;
  std::vector<Service> services_;
  std::chrono::milliseconds shutdown_timeout_{std::chrono::seconds(300)};

  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer shutdown_deadline_;
  std::unique_ptr<PidFile> pidfile_;
  std::vector<std::unique_ptr<ServiceAddress>> addresses_;
  bool ready_written_ = false;
  bool stopping_ = false;
  int exit_status_ = 0;
};

}  // namespace cubby::server
