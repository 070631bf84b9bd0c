// How lmtpd tells how it was started (server/lmtpd/activation.h), checked in a forked child whose
// descriptors 0, 3 and 4 are set up the way cubby-master, inetd or systemd would leave them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>

#include "server/lmtpd/activation.h"

namespace cubby::server {
namespace {

int listening_socket() {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;  // autobind: an abstract address, no file
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa_family_t));
  listen(fd, 4);
  return fd;
}

int connected_socket() {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  return sv[0];  // the other end leaks into the child only; the test does not need it
}

// Runs detect_activation() in a child after `setup` (which arranges its descriptors) with `env`
// and the child's own pid substituted for "$$". Returns "<mode> <fds...>" or "none: <problem>".
std::string detect_in_child(const std::function<void()>& setup,
                            std::map<std::string, std::string> env) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    int report = fcntl(out[1], F_DUPFD, 20);
    close(out[1]);
    for (int fd = 0; fd < 10; ++fd) close(fd);
    setup();
    std::string me = std::to_string(getpid());
    for (auto& [k, v] : env)
      if (v == "$$") v = me;
    Activation a = detect_activation(
        [&](const char* name) -> const char* {
          auto it = env.find(name);
          return it == env.end() ? nullptr : it->second.c_str();
        },
        getpid());
    static const char* kNames[] = {"master", "systemd-listen", "systemd-connection",
                                   "inetd",  "inetd-wait",     "none"};
    std::string text = kNames[static_cast<int>(a.mode)];
    for (int fd : a.fds) text += " " + std::to_string(fd);
    if (a.mode == Activation::Mode::kNone) text += ": " + a.problem;
    (void)!write(report, text.data(), text.size());
    _exit(0);
  }
  close(out[1]);
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  waitpid(pid, nullptr, 0);
  return text;
}

// Puts a new descriptor made by `make` on `target`.
void place(int target, int (*make)()) {
  int fd = make();
  if (fd != target) {
    dup2(fd, target);
    close(fd);
  }
}
int dev_null() { return open("/dev/null", O_RDWR); }

TEST(MasterActivation, UnderTheMasterFd4IsTheListener) {
  auto setup = [] {
    place(0, dev_null);
    place(3, [] { return open("/dev/null", O_WRONLY); });
    place(4, listening_socket);
  };
  EXPECT_EQ(detect_in_child(setup, {{"CYRUS_SERVICE", "lmtp"}}), "master 4");
  // Without CYRUS_SERVICE the same descriptors are not the master's.
  EXPECT_EQ(detect_in_child(setup, {}).rfind("none: ", 0), 0u);
}

TEST(MasterActivation, InetdLeavesTheConnectionOnStdin) {
  EXPECT_EQ(detect_in_child([] { place(0, connected_socket); }, {}), "inetd 0");
  EXPECT_EQ(detect_in_child([] { place(0, listening_socket); }, {}), "inetd-wait 0");
}

TEST(MasterActivation, SystemdPassesListenersOrOneConnectionFromFd3) {
  auto two_listeners = [] {
    place(0, dev_null);
    place(3, listening_socket);
    place(4, listening_socket);
  };
  EXPECT_EQ(detect_in_child(two_listeners, {{"LISTEN_PID", "$$"}, {"LISTEN_FDS", "2"}}),
            "systemd-listen 3 4");
  auto one_connection = [] {
    place(0, dev_null);
    place(3, connected_socket);
  };
  EXPECT_EQ(detect_in_child(one_connection, {{"LISTEN_PID", "$$"}, {"LISTEN_FDS", "1"}}),
            "systemd-connection 3");
}

TEST(MasterActivation, ListenPidOfAnotherProcessIsIgnored) {
  // What a worker of a master that systemd started would inherit: not meant for it.
  auto setup = [] {
    place(0, dev_null);
    place(3, [] { return open("/dev/null", O_WRONLY); });
    place(4, listening_socket);
  };
  EXPECT_EQ(
      detect_in_child(setup, {{"LISTEN_PID", "1"}, {"LISTEN_FDS", "1"}, {"CYRUS_SERVICE", "lmtp"}}),
      "master 4");
}

TEST(MasterActivation, SystemdMistakesAreExplained) {
  auto mixed = [] {
    place(0, dev_null);
    place(3, listening_socket);
    place(4, connected_socket);
  };
  std::string text = detect_in_child(mixed, {{"LISTEN_PID", "$$"}, {"LISTEN_FDS", "2"}});
  EXPECT_NE(text.find("none: systemd passed 2 sockets, 1 of them listening"), std::string::npos)
      << text;
  text = detect_in_child(
      [] {
        place(0, dev_null);
        place(3, dev_null);
      },
      {{"LISTEN_PID", "$$"}, {"LISTEN_FDS", "1"}});
  EXPECT_NE(text.find("fd 3, which is not a socket"), std::string::npos) << text;
  text = detect_in_child([] { place(0, dev_null); }, {{"LISTEN_PID", "$$"}, {"LISTEN_FDS", "x"}});
  EXPECT_NE(text.find("LISTEN_FDS is \"x\""), std::string::npos) << text;
}

TEST(MasterActivation, NothingUsableSaysHowToStartLmtpd) {
  std::string text = detect_in_child([] { place(0, dev_null); }, {});
  EXPECT_NE(text.find("run lmtpd under cubby-master, inetd, xinetd or systemd"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace cubby::server
