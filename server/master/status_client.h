// `cubbyctl status`: asks the running cubby-master over its control socket
// ({configdirectory}/socket/master-status, see master_control.h) and prints the answer.
//
//   cubbyctl status [--json]      services, listeners, workers, connections, deliveries, errors
//   cubbyctl status --metrics     the same numbers as Prometheus text
// Exit codes: 0 answered and every service address accepts, 1 no master answers (not running, or
// the socket is not ours to open), 2 answered and a service address is disabled (named on stderr
// too: its workers cannot start), 64 usage.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "conf/settings.h"

namespace cubby::server {

// Runs the subcommand with the arguments after "status"; prints to stdout, errors to stderr.
int status_command(const conf::Settings& settings, const std::vector<std::string>& args, bool json);

// Sends `request` ("status", "status json", "metrics") to the control socket at `path` and returns
// the whole answer; the error says why there is none.
Result<std::string, std::string> ask_master(const std::string& path, const std::string& request);

// Which service addresses the master's answer to `request` reports disabled (as the answer puts
// it), or nullopt when none is.
std::optional<std::string> disabled_in_answer(const std::string& request,
                                              const std::string& answer);

}  // namespace cubby::server
