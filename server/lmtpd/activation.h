// How lmtpd was started, told from its descriptors and environment, in this order:
//   1. systemd socket activation: LISTEN_PID is our pid and LISTEN_FDS=n: fds 3 .. 3+n-1 are
//      listening sockets (Accept=no: serve them until stopped), or one connected socket
//      (Accept=yes: serve that one session). LISTEN_PID must match because under cubby-master
//      fd 3 is the status pipe, and a variable inherited from elsewhere names another process.
//      The variables are removed from the environment once read, as sd_listen_fds() does;
//   2. cubby-master: CYRUS_SERVICE is set and fd 4 is a listening socket (worker_protocol.h);
//   3. inetd `nowait`, xinetd `wait = no`: stdin is a connected socket (serve that one session);
//      inetd `wait`: stdin is the listening socket (serve it; with -T lmtpd exits when idle and
//      inetd takes the socket back);
//   4. none of these: an error saying how lmtpd is meant to be started.
// detect_activation() takes the environment and pid as arguments so it can be tested in-process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace cubby::server {

struct Activation {
  enum class Mode { kMaster, kSystemdListen, kSystemdConnection, kInetd, kInetdWait, kNone };
  Mode mode = Mode::kNone;
  // kSystemdListen: the listening fds; kSystemdConnection: the connected fd; kInetd and
  // kInetdWait: stdin (0); kMaster: the listening fd (4).
  std::vector<int> fds;
  std::string problem;  // kNone: why no mode applies
};

// `getenv` returns the variable's value or null. Uses fstat/getsockopt on the descriptors.
Activation detect_activation(const std::function<const char*(const char*)>& getenv, pid_t pid);

// detect_activation() for this process, unsetting LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES when
// they were meant for it, and marking the systemd descriptors close-on-exec.
Activation detect_activation();

// "cubby-master", "systemd (Accept=no, 2 sockets)", "inetd", ...: for log lines.
std::string describe(const Activation& a);

}  // namespace cubby::server
