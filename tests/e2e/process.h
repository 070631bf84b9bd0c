// Processes for the end-to-end tests: running a program to completion with its output captured,
// starting one in the background, and reading what /proc says about a running process.
//
// Everything here is bounded in time: a program that does not finish within its deadline is killed
// and reported as timed out, so that a hung server fails a test instead of hanging the suite.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cubby::e2e {

using namespace std::chrono_literals;

struct ProgramResult {
  int exit_code = -1;  // the exit status, or -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;  // stdout
  std::string err;  // stderr
  // "exit 1; stdout: ...; stderr: ..." for failure messages.
  std::string describe() const;
};

// Runs argv[0] (a path) with argv, waits at most `timeout` (then SIGKILL) and captures its output.
ProgramResult run_program(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 30s);
// The same with stdin read from the file `stdin_path` (run_program uses /dev/null).
ProgramResult run_program_with_stdin(const std::vector<std::string>& argv,
                                     const std::string& stdin_path,
                                     std::chrono::milliseconds timeout = 30s);

// Starts argv[0] in the background with stdout and stderr appended to `log_path`; the child is
// our child, so the caller reaps it (wait_for_exit). Returns the pid, or nullopt (errno-style
// reason in *error).
std::optional<pid_t> spawn_logged(const std::vector<std::string>& argv, const std::string& log_path,
                                  std::string* error);

// Waits up to `timeout` for our child `pid` to exit; returns its raw wait status, or nullopt if it
// is still running at the deadline.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// The children of `pid` from /proc/<pid>/task/<pid>/children.
std::vector<pid_t> child_pids(pid_t pid);

// One variable ("CYRUS_SERVICE") of a process's environment; nullopt if unreadable or unset.
std::optional<std::string> process_env(pid_t pid, const std::string& name);

// A "VmHWM"/"VmRSS"-style line of /proc/<pid>/status, in KiB; nullopt if the process is gone.
std::optional<long> status_kib(pid_t pid, const std::string& field);

bool process_alive(pid_t pid);

// True in a sanitizer build (scripts/test --sanitize or --tsan). The programs' resident memory then
// includes the sanitizer's runtime, shadow and quarantine (freed memory kept back to catch
// use-after-free): limits on RSS are checked in the plain build, and widened by
// kSanitizerRssSlackKib (a 30 MiB runtime) or skipped (growth, which quarantine makes follow the
// allocation rate rather than what is live) in a sanitizer build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif
inline constexpr long kSanitizerRssSlackKib = kSanitized ? 64 * 1024 : 0;

// Polls `condition` every 10 ms until it holds or `timeout` passes; returns its last value.
template <typename F>
bool eventually(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace cubby::e2e
