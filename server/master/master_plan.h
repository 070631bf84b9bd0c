// MasterPlan: everything cubby-master will run, read from the settings and services files and
// checked without side effects: syntax (ConfigError, `file:line: ...`), executables, listen=
// resolution, addresses used twice, the service user, the metrics settings. The master loads one
// at start-up and another on SIGHUP; a plan that fails to load changes nothing.
#pragma once

#include <string>
#include <vector>

#include "conf/listen.h"
#include "conf/result.h"
#include "conf/services.h"
#include "conf/settings.h"
#include "server/process/privileges.h"

namespace cubby::server {

struct PlannedService {
  conf::ServiceSpec spec;
  std::string executable;
  std::vector<conf::ListenAddress> addresses;
};

struct PlannedCommand {
  conf::CommandSpec spec;
  std::string executable;
};

struct MasterPlan {
  conf::Settings settings;
  std::string settings_path;  // absolute: what workers get with -C
  std::string services_path;
  ServiceIdentity identity;
  std::vector<PlannedCommand> start, events, daemons;
  std::vector<PlannedService> services;
  std::vector<conf::ListenAddress> metrics_listen;  // empty: no metrics listener
  std::vector<std::string> warnings;                // to log
};

// Reads and checks both files. The error is ready to print: `file:line: message` for a
// ConfigError, `file:line: service "x": ...` for an entry that cannot run, `metrics_listen ...`.
// An entry running a Cyrus program Cubby does not provide (cyrus_programs.h) is left out of the
// plan with a warning instead.
Result<MasterPlan, std::string> load_plan(const std::string& settings_path,
                                          const std::string& services_path);

// The control socket cubbyctl status talks to: {configdirectory}/socket/master-status.
std::string control_socket_path(const conf::Settings& settings);

}  // namespace cubby::server
