// Starting programs from the master: finding a cmd='s executable, building a worker's argv and
// environment, and fork/exec with the descriptors of worker_protocol.h.
//
// Everything that can fail for a reason an administrator can fix (a missing executable, a failed
// fork) is returned as a message. The child side of spawn() uses only async-signal-safe calls; if
// exec fails the child writes the reason to stderr and exits 71 (EX_OSERR).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "conf/result.h"

namespace cubby::server {

constexpr int kExitExecFailed = 71;  // EX_OSERR: the child could not exec its program
constexpr int kExitTempFail = 75;    // EX_TEMPFAIL: Cyrus logs it as "was killed", not a failure

// The directory holding the running program (from /proc/self/exe), without a trailing slash.
Result<std::string, std::string> program_directory();

// Resolves cmd='s argv[0]: an absolute path is used as it is; anything else is looked up in
// `program_dir` (the master's own directory). The result must be an executable regular file;
// otherwise the error reads `cannot find executable "<argv0>"` plus the place(s) looked in.
Result<std::string, std::string> resolve_executable(const std::string& argv0,
                                                    const std::string& program_dir);

// cmd='s argv with `-C <settings_path>` inserted after argv[0] unless it already has a -C option
// (`-C x` or `-Cx`, before any `--`). An empty settings_path inserts nothing.
std::vector<std::string> worker_argv(const std::vector<std::string>& cmd,
                                     const std::string& settings_path);

// `base` (an environ-style list) with every `NAME=` in `set` replaced or added.
std::vector<std::string> child_environment(char** base, const std::vector<std::string>& set);

// What spawn() needs; everything is prepared before fork.
struct Launch {
  std::string path;               // resolved executable
  std::vector<std::string> argv;  // argv[0] as written in cmd=
  std::vector<std::string> env;   // full environment, NAME=value
  int status_fd = -1;             // becomes fd 3 (kStatusFd) when >= 0
  int listen_fd = -1;             // becomes fd 4 (kListenFd) when >= 0
  int counters_fd = -1;           // becomes fd 5 (kCountersFd) when >= 0
  int maxfds = 0;                 // RLIMIT_NOFILE soft limit, capped at the hard limit; 0 = keep
};

// Forks and execs `launch`. In the child: status_fd, listen_fd and counters_fd land on 3, 4 and 5
// without
// close-on-exec, every signal is reset to its default and unblocked, the rlimit is applied, and
// the child gets SIGTERM should the master die (PR_SET_PDEATHSIG).
// Descriptors the caller opened must be close-on-exec (see mark_descriptors_cloexec()).
// Returns the child's pid, or why fork failed.
Result<pid_t, std::string> spawn(const Launch& launch);

// Marks every open descriptor above 2 close-on-exec, so that what the master inherited does not
// leak into its workers. Call once at start-up.
void mark_descriptors_cloexec();

// "exited with status 1", "killed by signal 9 (Killed)", "killed by signal 11 (...) (core dumped)".
std::string describe_wait_status(int status);

}  // namespace cubby::server
