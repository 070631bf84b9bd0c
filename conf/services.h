// The cyrus.conf-style services file: START, SERVICES, EVENTS and DAEMON sections.
//
// Grammar (as Cyrus's master/masterconf.c): a section starts with a line beginning with its name
// (case-insensitive) followed by `{` (on that line or later) and ends with `}` alone on a line;
// `START { }` is an empty section. Inside, one entry per line: `<name> key=value key="quoted value"
// ...`; `#` starts a comment anywhere on a line (even inside quotes, as Cyrus). Entry names are
// [A-Za-z0-9]+; keys are alphanumeric, followed by `=`, lower-cased, and given at most once per
// entry. A duplicate name within SERVICES (compared case-insensitively) is an error, and so is a
// section other than the four (Cyrus would silently skip it). Syntax errors are ConfigErrors with
// file:line; keys a section does not know are warnings (Cyrus ignores them silently). SERVICES
// knows cmd, listen, proto, prefork, maxchild, babysit, maxforkrate, maxfds and Cubby's mode, owner
// and group (the UNIX socket's permissions); START cmd; EVENTS cmd, period, at; DAEMON cmd, wait,
// maxfds, maxforkrate.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "conf/settings.h"

namespace cubby::conf {

struct ServiceEntry {
  std::string name;
  std::map<std::string, std::string> args;  // key (lower-cased) -> value
  std::string file;
  int line = 0;
  std::string origin() const { return file + ":" + std::to_string(line); }
};

struct ServicesFile {
  std::vector<ServiceEntry> start, services, events, daemons;
};

Result<ServicesFile, ConfigError> load_services(const std::string& path,
                                                std::vector<std::string>* warnings = nullptr);
Result<ServicesFile, ConfigError> parse_services(std::string_view text, const std::string& name,
                                                 std::vector<std::string>* warnings = nullptr);

// One SERVICES entry, checked and typed.
struct ServiceSpec {
  std::string name;
  std::vector<std::string> argv;  // cmd= split on whitespace (no quoting, as Cyrus)
  std::string listen;
  std::string proto = "tcp";  // tcp, tcp4, tcp6
  int prefork = 0;            // ready workers kept per listening address
  int maxchild = -1;          // live workers per listening address; -1 = unlimited
  int maxforkrate = 0;        // forks per second; 0 = unlimited
  bool babysit = false;
  int maxfds = 0;            // RLIMIT_NOFILE for workers; 0 = inherited
  int mode = 0;              // UNIX socket permission bits; 0 = default (0660)
  std::string owner, group;  // UNIX socket owner and group; "" = the master's
  std::string origin;        // file:line
};

// Checks an entry of SERVICES: cmd and listen required, numbers are numbers (maxchild -1 or at
// least 1, and not below prefork), proto known, mode octal, babysit a yes/no. As Cyrus, babysit
// raises prefork to at least 1 and a maxforkrate of 0 to 10. Errors read `service "<name>":
// <problem>`.
Result<ServiceSpec, ConfigError> service_spec(const ServiceEntry& entry);

// A START, EVENTS or DAEMON entry.
struct CommandSpec {
  std::string name;
  std::vector<std::string> argv;
  int period_minutes = 0;  // EVENTS period=, in whole minutes
  // EVENTS period= in seconds: minutes as Cyrus, or (a Cubby extension) a duration such as "30s".
  int period_seconds = 0;
  int at_hhmm = -1;        // EVENTS at=
  bool wait = false;       // DAEMON wait=
  int maxfds = 0;          // DAEMON maxfds=: RLIMIT_NOFILE; 0 = inherited
  std::string origin;
};
// Checks a START, EVENTS or DAEMON entry: cmd required, period= minutes (or a duration with a unit:
// 30s, 5m, 2h), at= hhmm (0000 to 2359),
// wait= yes/no. Errors read `entry "<name>": <problem>`.
Result<CommandSpec, ConfigError> command_spec(const ServiceEntry& entry);

}  // namespace cubby::conf
