// Telling how lmtpd was started; see activation.h.
#include "server/lmtpd/activation.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "conf/values.h"
#include "server/process/worker_protocol.h"

namespace cubby::server {
namespace {

constexpr int kSystemdFirstFd = 3;  // SD_LISTEN_FDS_START
constexpr int kMaxSystemdFds = 64;

bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

bool is_listening(int fd) {
  int listening = 0;
  socklen_t len = sizeof listening;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

}  // namespace

Activation detect_activation(const std::function<const char*(const char*)>& getenv, pid_t pid) {
  Activation a;
  const char* listen_pid = getenv("LISTEN_PID");
  auto for_us = listen_pid ? conf::parse_int(listen_pid) : std::nullopt;
  if (for_us && *for_us == pid) {
    const char* listen_fds = getenv("LISTEN_FDS");
    auto n = listen_fds ? conf::parse_int(listen_fds) : std::nullopt;
    if (!n || *n < 1 || *n > kMaxSystemdFds) {
      a.problem = std::string("LISTEN_PID is ours but LISTEN_FDS is \"") +
                  (listen_fds ? listen_fds : "") + "\"";
      return a;
    }
    int listening = 0;
    for (int fd = kSystemdFirstFd; fd < kSystemdFirstFd + *n; ++fd) {
      if (!is_socket(fd)) {
        a.problem = "systemd passed fd " + std::to_string(fd) + ", which is not a socket";
        return a;
      }
      listening += is_listening(fd);
      a.fds.push_back(fd);
    }
    if (listening == *n) {
      a.mode = Activation::Mode::kSystemdListen;
    } else if (listening == 0 && *n == 1) {
      a.mode = Activation::Mode::kSystemdConnection;
    } else {
      a.fds.clear();
      a.problem = "systemd passed " + std::to_string(*n) + " sockets, " +
                  std::to_string(listening) +
                  " of them listening: lmtpd serves either listening sockets (Accept=no) or one "
                  "connection (Accept=yes)";
    }
    return a;
  }
  if (getenv("CYRUS_SERVICE") && is_listening(kListenFd)) {
    a.mode = Activation::Mode::kMaster;
    a.fds = {kListenFd};
    return a;
  }
  if (is_socket(STDIN_FILENO)) {
    a.mode = is_listening(STDIN_FILENO) ? Activation::Mode::kInetdWait : Activation::Mode::kInetd;
    a.fds = {STDIN_FILENO};
    return a;
  }
  a.problem =
      "no listening socket on fd 4, no systemd sockets and stdin is not a connected "
      "socket; run lmtpd under cubby-master, inetd, xinetd or systemd";
  return a;
}

Activation detect_activation() {
  pid_t pid = getpid();
  Activation a = detect_activation([](const char* name) { return ::getenv(name); }, pid);
  const char* listen_pid = ::getenv("LISTEN_PID");
  auto for_us = listen_pid ? conf::parse_int(listen_pid) : std::nullopt;
  if (for_us && *for_us == pid) {
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    for (int fd : a.fds) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  return a;
}

std::string describe(const Activation& a) {
  switch (a.mode) {
    case Activation::Mode::kMaster:
      return "cubby-master";
    case Activation::Mode::kSystemdListen:
      return "systemd socket activation (Accept=no, " + std::to_string(a.fds.size()) +
             " socket(s))";
    case Activation::Mode::kSystemdConnection:
      return "systemd socket activation (Accept=yes)";
    case Activation::Mode::kInetd:
      return "inetd (a connection on stdin)";
    case Activation::Mode::kInetdWait:
      return "inetd wait (a listening socket on stdin)";
    case Activation::Mode::kNone:
      break;
  }
  return "nothing";
}

}  // namespace cubby::server
