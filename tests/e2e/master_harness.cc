// Helpers for the master's end-to-end tests; see master_harness.h.
#include "tests/e2e/master_harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tests/e2e/process.h"

extern char** environ;

namespace cubby::e2e {

std::optional<pid_t> spawn_child(const std::vector<std::string>& argv, const ChildFds& fds) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid > 0) return pid;

  // Child: copy everything we keep far up, then put each on its place.
  int base = 100;
  auto up = [&](int fd) { return fd < 0 ? -1 : fcntl(fd, F_DUPFD, base++); };
  int in = up(fds.in), out = up(fds.out), err = up(fds.err);
  std::vector<int> high;
  for (int fd : fds.from_3) high.push_back(up(fd));
  if (err < 0 && !fds.stderr_path.empty())
    err = open(fds.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int null = open("/dev/null", O_RDWR);
  dup2(in >= 0 ? in : null, 0);
  dup2(out >= 0 ? out : null, 1);
  dup2(err >= 0 ? err : null, 2);
  for (size_t i = 0; i < high.size(); ++i) dup2(high[i], 3 + static_cast<int>(i));
  for (int fd = 3 + static_cast<int>(high.size()); fd < 1024; ++fd) close(fd);
  for (const auto& e : fds.env) putenv(const_cast<char*>(e.c_str()));
  if (fds.systemd_env) {
    setenv("LISTEN_FDS", std::to_string(fds.from_3.size()).c_str(), 1);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  }
  unsetenv("CYRUS_SERVICE");
  execv(args[0], args.data());
  _exit(127);
}

int listen_loopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

bool tcp_pair(int listener, int port, int* client, int* accepted) {
  *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(*client, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return false;
  *accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  return *accepted >= 0;
}

std::string example(const std::string& name) {
  std::ifstream in(std::string(CUBBY_SOURCE_DIR) + "/docs/examples/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> example_lines(const std::string& name) {
  std::vector<std::string> lines;
  std::istringstream in(example(name));
  std::string line;
  while (std::getline(in, line)) {
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    lines.push_back(line.substr(start));
  }
  return lines;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

std::optional<uid_t> ensure_user(const std::string& name, std::string* why) {
  if (struct passwd* pw = getpwnam(name.c_str())) return pw->pw_uid;
  if (geteuid() != 0) {
    *why = "not root: cannot create the user " + name;
    return std::nullopt;
  }
  auto r = run_program({"/usr/sbin/useradd", "--system", "--no-create-home", "--user-group",
                        "--shell", "/usr/sbin/nologin", name},
                       30s);
  if (struct passwd* pw = getpwnam(name.c_str())) return pw->pw_uid;
  *why = "useradd --system " + name + " failed: " + r.describe();
  return std::nullopt;
}

std::string http_get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return "";
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

std::optional<double> metric(const std::string& text, const std::string& name_and_labels) {
  std::string needle = "\n" + name_and_labels + " ";
  size_t at = text.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(text.c_str() + at + needle.size(), nullptr);
}

}  // namespace cubby::e2e
