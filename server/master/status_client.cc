// The client side of the master's control socket; see status_client.h.
#include "server/master/status_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "server/master/master_plan.h"

namespace cubby::server {
namespace {
constexpr int kTimeoutMs = 10000;
}

Result<std::string, std::string> ask_master(const std::string& path, const std::string& request) {
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) return fail("control socket path too long: " + path);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::string err = strerror(errno);
    close(fd);
    return fail("cubby-master does not answer on " + path + ": " + err);
  }
  std::string line = request + "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    std::string err = strerror(errno);
    close(fd);
    return fail("cannot ask cubby-master: " + err);
  }
  std::string answer;
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, kTimeoutMs);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      close(fd);
      return fail(std::string("cubby-master did not answer within 10 s"));
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = strerror(errno);
      close(fd);
      return fail("reading cubby-master's answer: " + err);
    }
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

int status_command(const conf::Settings& settings, const std::vector<std::string>& args,
                   bool json) {
  std::string request = json ? "status json" : "status";
  for (const auto& a : args) {
    if (a == "--metrics") {
      request = "metrics";
    } else {
      fprintf(stderr, "usage: cubbyctl status [--json | --metrics]\n");
      return 64;
    }
  }
  auto answer = ask_master(control_socket_path(settings), request);
  if (!answer) {
    fprintf(stderr, "cubbyctl: %s\n", answer.error().c_str());
    return 1;
  }
  fwrite(answer->data(), 1, answer->size(), stdout);
  return answer->rfind("error:", 0) == 0 ? 1 : 0;
}

}  // namespace cubby::server
