// Helpers of the hostile-client tests (tests/e2e/hostile_*.cc): what a worker holds (resident
// memory, open descriptors), the descriptor limit of the test process, and reading many replies
// while another thread is still writing.
#pragma once

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "server/lmtp/base64.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/e2e/process.h"

namespace cubby::e2e {

// The AUTH PLAIN command line for `user` and `password` (no authorization identity).
inline std::string plain(const std::string& user, const std::string& password) {
  return "AUTH PLAIN " + lmtp::encode_base64(std::string("\0", 1) + user + std::string("\0", 1) +
                                             password);
}

// Open descriptors of `pid` (entries of /proc/<pid>/fd) but its stage files (a worker keeps a
// bounded reserve of them open whatever its connections, store/stage_reserve.h); -1 when the
// process is gone.
inline int open_fds(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[4096];
    const ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (len > 0 && std::string(target, static_cast<size_t>(len)).find("/stage./") != std::string::npos)
      continue;
    ++n;
  }
  ::closedir(d);
  return n;
}

// What one worker holds at a moment.
struct WorkerUsage {
  pid_t pid = 0;
  long rss_kib = 0;  // VmRSS
  long hwm_kib = 0;  // VmHWM: the peak so far
  int fds = 0;
  std::string str() const {
    return "pid " + std::to_string(pid) + ": VmRSS " + std::to_string(rss_kib) + " KiB, VmHWM " +
           std::to_string(hwm_kib) + " KiB, " + std::to_string(fds) + " fds";
  }
};

inline WorkerUsage usage_of(pid_t pid) {
  WorkerUsage u;
  u.pid = pid;
  u.rss_kib = status_kib(pid, "VmRSS").value_or(-1);
  u.hwm_kib = status_kib(pid, "VmHWM").value_or(-1);
  u.fds = open_fds(pid);
  return u;
}

inline std::vector<WorkerUsage> usage_of(const std::vector<pid_t>& pids) {
  std::vector<WorkerUsage> out;
  for (pid_t p : pids) out.push_back(usage_of(p));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.pid < b.pid; });
  return out;
}

// Raises this process's RLIMIT_NOFILE (soft and, as root, hard) to at least `n`; false if it
// could not.
inline bool raise_nofile(rlim_t n) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return false;
  if (r.rlim_cur >= n) return true;
  if (r.rlim_max < n) r.rlim_max = n;
  r.rlim_cur = n;
  return ::setrlimit(RLIMIT_NOFILE, &r) == 0;
}

}  // namespace cubby::e2e

namespace cubby::e2e {

// Writes `bytes` to the connection from another thread (so that the test can read the replies
// meanwhile, as a pipelining peer must); join() it before the client goes. Never raises SIGPIPE.
class BackgroundWriter {
 public:
  BackgroundWriter(int fd, std::string bytes)
      : bytes_(std::move(bytes)), thread_([this, fd] { run(fd); }) {}
  ~BackgroundWriter() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return ok_; }

 private:
  void run(int fd) {
    size_t done = 0;
    while (done < bytes_.size()) {
      const ssize_t n = ::send(fd, bytes_.data() + done, bytes_.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok_ = false;
        return;
      }
      done += static_cast<size_t>(n);
    }
  }
  std::string bytes_;
  bool ok_ = true;
  std::thread thread_;
};

// The peak resident memory (VmHWM) of the busiest of `pids`, in KiB.
inline long peak_kib(const std::vector<pid_t>& pids) {
  long m = 0;
  for (pid_t p : pids) m = std::max(m, status_kib(p, "VmHWM").value_or(0));
  return m;
}

}  // namespace cubby::e2e
