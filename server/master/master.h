// cubby-master: reads the settings and services files, runs the START entries, binds every
// `listen=` of SERVICES, keeps each address staffed with workers (master_service.h), runs EVENTS
// on their schedule and keeps DAEMONs alive (master_jobs.h), answers `cubbyctl status` and
// Prometheus scrapes (master_control.h), and on SIGTERM or SIGINT stops accepting and lets the
// workers finish what they have in flight. It only supervises: it never accepts a connection and
// never touches mail.
//
// Usage: Master::load() reads and checks everything that can be checked without side effects
// (master_plan.h); run() then prepares the store's directories, takes the pidfile, binds (as
// root, if started so), switches to the service user (privileges.h), runs START, starts daemons,
// events and services, and serves until told to stop. Both report administrator errors as
// messages, never as exceptions. One Master per process: it installs signal handlers.
//
// SIGHUP reloads both files (reload()): services, addresses, events and daemons are added,
// removed or changed to match; every worker is recycled (idle ones exit at once, busy ones finish
// their transaction); a disabled address is enabled again. A file that does not load changes
// nothing: the running configuration goes on and the error is logged as `file:line: ...`.
// START entries are not run again.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/result.h"
#include "server/master/master_control.h"
#include "server/master/master_files.h"
#include "server/master/master_jobs.h"
#include "server/master/master_plan.h"
#include "server/master/master_report.h"
#include "server/master/master_service.h"

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
  explicit Master(MasterOptions options, MasterPlan plan);
  bool bind_services();
  bool open_report_servers();
  bool open_metrics_listeners(const MasterPlan& plan,
                              std::vector<std::unique_ptr<ReportServer>>* out);
  bool run_start_entries();
  bool start_daemons();
  void start_events();
  ServiceAddressConfig address_config(const PlannedService& s, size_t i) const;
  JobConfig job_config(const PlannedCommand& c, bool daemon) const;
  std::optional<std::pair<uid_t, gid_t>> dirs_owner() const;
  void wait_signal();
  void on_signal(int sig);
  void reload();
  void reload_services(const MasterPlan& plan);
  void reload_jobs(const MasterPlan& plan);
  void reap();
  void staff_all();
  void begin_shutdown(int exit_status);
  void finish_if_drained();
  void fatal(const std::string& message);
  int live_children() const;
  MasterStatus snapshot() const;
  std::string answer(const std::string& request) const;
  void schedule_textfile();
  void write_textfile();
  void cleanup_after_failed_start();

  MasterOptions options_;
  MasterPlan plan_;
  std::chrono::milliseconds shutdown_timeout_{std::chrono::seconds(300)};
  std::chrono::system_clock::time_point started_at_;
  std::string user_;  // who the master runs as, for status

  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer shutdown_deadline_;
  boost::asio::steady_timer textfile_timer_;
  std::unique_ptr<PidFile> pidfile_;
  std::vector<std::unique_ptr<ServiceAddress>> addresses_;
  // Addresses a reload removed, kept until their last worker has exited.
  std::vector<std::unique_ptr<ServiceAddress>> retired_;
  std::map<std::string, std::unique_ptr<ScheduledEvent>> events_;
  std::map<std::string, std::unique_ptr<KeptDaemon>> daemons_;
  // Events and daemons a reload removed or replaced, kept until their process has exited.
  std::vector<std::unique_ptr<ScheduledEvent>> old_events_;
  std::vector<std::unique_ptr<KeptDaemon>> old_daemons_;
  std::unique_ptr<ReportServer> control_;
  std::vector<std::unique_ptr<ReportServer>> metrics_;
  std::string textfile_error_;  // the last textfile error logged, so it is logged once
  uint64_t reloads_ = 0, reload_failures_ = 0;
  std::string last_reload_;
  std::chrono::system_clock::time_point last_reload_at_{};
  bool ready_written_ = false;
  bool running_ = false;  // start-up is over: errors from here on are not fatal
  bool stopping_ = false;
  int exit_status_ = 0;
};

}  // namespace cubby::server
