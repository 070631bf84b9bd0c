// Running the real deliver program (build/bin/deliver) for the end-to-end tests.
//
// run_deliver() starts it with the given arguments and environment, feeds its stdin from a
// thread (a string, then pieces from a generator, so a large message streams without being held
// in memory), captures stdout and stderr, and reaps it with wait4(2), which also gives its peak
// resident memory. Like run_program() it is bounded in time: a deliver still running at the
// deadline is killed and reported as timed out. spawn_deliver_on_socket() starts `deliver` the
// way inetd does, with one connected socket as both stdin and stdout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cubby::e2e {

using namespace std::chrono_literals;

struct DeliverInput {
  std::string text;                        // written first
  std::function<bool(std::string*)> more;  // then pieces, until it returns false (may be empty)
  bool keep_open = false;                  // never end stdin: deliver sees no end of file
};

struct DeliverRun {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out, err;
  long max_rss_kib = 0;  // ru_maxrss of deliver
  std::string describe() const;
};

std::string deliver_program();

// Runs deliver with `args` (argv[0] is added); `env` entries ("NAME=value") replace or extend
// the test's environment.
DeliverRun run_deliver(const std::vector<std::string>& args, const DeliverInput& input,
                       std::chrono::milliseconds timeout = 30s,
                       const std::vector<std::string>& env = {});

// Starts deliver with `fd` as its stdin and stdout and stderr appended to `log_path`; the caller
// reaps it (wait_for_exit). nullopt (and *error) when it could not be started.
std::optional<pid_t> spawn_deliver_on_socket(const std::vector<std::string>& args, int fd,
                                             const std::string& log_path, std::string* error);

}  // namespace cubby::e2e
