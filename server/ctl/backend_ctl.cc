// Running cubbyctl on a back end; see backend_ctl.h.
#include "server/ctl/backend_ctl.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace cubby::ctl {

Result<std::string, std::string> backend_command(const std::string& admin_command,
                                                 const std::string& backend) {
  std::string host;
  const size_t colon = backend.rfind(':');
  if (backend.rfind("unix:", 0) != 0 && colon != std::string::npos && colon > 0) {
    host = backend.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);  // [::1]:24
    }
  }
  std::string out;
  for (size_t i = 0; i < admin_command.size(); ++i) {
    const char c = admin_command[i];
    if (c != '%' || i + 1 == admin_command.size()) {
      out += c;
      continue;
    }
    const char what = admin_command[++i];
    if (what == 'h') {
      if (host.empty()) {
        return fail("back end " + backend +
                    " has no host name: set directory_admin_command without %h for it");
      }
      out += shell_quote(host);
    } else if (what == 'b') {
      out += shell_quote(backend);
    } else if (what == '%') {
      out += '%';
    } else {
      out += '%';
      out += what;
    }
  }
  return out;
}

std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

Result<BackendRun, std::string> run_on_backend(const std::string& command,
                                               const std::vector<std::string>& args, bool capture) {
  BackendRun run;
  run.command = command;
  for (const auto& a : args) run.command += " " + shell_quote(a);
  fflush(stdout);
  fflush(stderr);
  int fds[2] = {-1, -1};
  if (capture && ::pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe failed"));
  const pid_t pid = ::fork();
  if (pid < 0) {
    if (capture) {
      ::close(fds[0]);
      ::close(fds[1]);
    }
    return fail(std::string("fork failed"));
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);  // ssh must not eat our stdin
    if (capture) ::dup2(fds[1], STDOUT_FILENO);
    ::execl("/bin/sh", "sh", "-c", run.command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (capture) {
    ::close(fds[1]);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) {
        run.out.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    ::close(fds[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exited = WIFEXITED(status);
  run.exit_code = run.exited ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace cubby::ctl
