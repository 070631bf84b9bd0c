// The client side of the master's control socket; see status_client.h.
#include "server/master/status_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
  if (answer->rfind("error:", 0) == 0) return 1;
  if (auto disabled = disabled_in_answer(request, *answer)) {
    fprintf(stderr, "cubbyctl: disabled: %s\n", disabled->c_str());
    return 2;
  }
  return 0;
}

std::optional<std::string> disabled_in_answer(const std::string& request,
                                              const std::string& answer) {
  if (request == "metrics") {
    const std::string name = "\ncubby_master_disabled_addresses ";
    size_t at = answer.find(name);
    if (at == std::string::npos) return std::nullopt;
    long n = strtol(answer.c_str() + at + name.size(), nullptr, 10);
    if (n <= 0) return std::nullopt;
    return std::to_string(n) + " service address(es) (see cubbyctl status)";
  }
  if (request == "status json") {
    const std::string key = "\"disabled\":[";
    size_t at = answer.find(key);
    if (at == std::string::npos || answer.compare(at + key.size(), 1, "]") == 0)
      return std::nullopt;
    size_t end = answer.find("],", at);
    return answer.substr(at + key.size(), end == std::string::npos ? 0 : end - at - key.size());
  }
  size_t at = answer.find("\nhealth: ");
  if (at == std::string::npos) return std::nullopt;
  size_t end = answer.find('\n', at + 1);
  std::string line = answer.substr(at + 9, end - at - 9);
  if (line == "ok") return std::nullopt;
  return line.rfind("DISABLED ", 0) == 0 ? line.substr(9) : line;
}

}  // namespace cubby::server
