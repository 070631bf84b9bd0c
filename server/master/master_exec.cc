// Finding, preparing and starting the master's child programs; see master_exec.h.
#include "server/master/master_exec.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/process/worker_protocol.h"

namespace cubby::server {
namespace {

// Writes a whole string to stderr from the child (async-signal-safe).
void child_say(const char* a, const char* b, const char* c) {
  for (const char* s : {a, b, c}) {
    size_t n = strlen(s);
    while (n > 0) {
      ssize_t w = write(2, s, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      s += w;
      n -= static_cast<size_t>(w);
    }
  }
}

// Puts `fd` on `target` without close-on-exec. The caller first copies every descriptor above 5 so
// that installing one cannot clobber another.
bool child_install(int fd, int target) {
  if (fd < 0) return true;
  return dup2(fd, target) == target;
}

}  // namespace

Result<std::string, std::string> program_directory() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) return fail(std::string("cannot read /proc/self/exe: ") + strerror(errno));
  std::string path(buf, static_cast<size_t>(n));
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return fail("cannot tell the program's directory from " + path);
  return path.substr(0, slash == 0 ? 1 : slash);
}

Result<std::string, std::string> resolve_executable(const std::string& argv0,
                                                    const std::string& program_dir) {
  if (argv0.empty()) return fail(std::string("cannot find executable \"\": cmd= is empty"));
  std::string path = argv0[0] == '/'                                    ? argv0
                     : program_dir.empty() || program_dir.back() == '/' ? program_dir + argv0
                                                                        : program_dir + "/" + argv0;
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return fail("cannot find executable \"" + path + "\": " + strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail("cannot find executable \"" + path + "\": not a regular file");
  if (access(path.c_str(), X_OK) != 0)
    return fail("cannot find executable \"" + path + "\": " + strerror(errno));
  return path;
}

std::vector<std::string> worker_argv(const std::vector<std::string>& cmd,
                                     const std::string& settings_path) {
  std::vector<std::string> argv = cmd;
  if (argv.empty() || settings_path.empty()) return argv;
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "--") break;
    if (argv[i].rfind("-C", 0) == 0) return argv;
  }
  argv.insert(argv.begin() + 1, {"-C", settings_path});
  return argv;
}

std::vector<std::string> child_environment(char** base, const std::vector<std::string>& set) {
  auto name_of = [](const std::string& kv) { return kv.substr(0, kv.find('=') + 1); };
  std::vector<std::string> env;
  for (char** e = base; e && *e; ++e) {
    std::string kv(*e);
    bool replaced = false;
    for (const auto& s : set) replaced = replaced || name_of(s) == name_of(kv);
    if (!replaced) env.push_back(std::move(kv));
  }
  env.insert(env.end(), set.begin(), set.end());
  return env;
}

Result<pid_t, std::string> spawn(const Launch& launch) {
  if (launch.argv.empty()) return fail(std::string("empty argv"));
  std::vector<char*> argv, env;
  for (const auto& a : launch.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : launch.env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);

  // Block every signal across fork so that the child cannot run the master's handlers (which
  // would write into the master's signal pipe) before it resets them.
  sigset_t all, saved;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &saved);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // If the master dies without stopping its workers (kill -9, a crash), they drain and exit
    // rather than hold its sockets against the next master.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(kExitExecFailed);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);

    int status = launch.status_fd >= 0 ? fcntl(launch.status_fd, F_DUPFD_CLOEXEC, 6) : -1;
    int listen = launch.listen_fd >= 0 ? fcntl(launch.listen_fd, F_DUPFD_CLOEXEC, 6) : -1;
    int counters = launch.counters_fd >= 0 ? fcntl(launch.counters_fd, F_DUPFD_CLOEXEC, 6) : -1;
    if ((launch.status_fd >= 0 && status < 0) || (launch.listen_fd >= 0 && listen < 0) ||
        (launch.counters_fd >= 0 && counters < 0) || !child_install(status, kStatusFd) ||
        !child_install(listen, kListenFd) || !child_install(counters, kCountersFd)) {
      child_say("cubby-master: cannot set up descriptors for ", launch.path.c_str(), "\n");
      _exit(kExitExecFailed);
    }
    if (launch.maxfds > 0) {
      struct rlimit rl;
      if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = static_cast<rlim_t>(launch.maxfds);
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
      }
    }
    execve(launch.path.c_str(), argv.data(), env.data());
    int err = errno;
    child_say("cubby-master: cannot execute ", launch.path.c_str(), ": ");
    child_say(strerror(err), "\n", "");
    _exit(kExitExecFailed);
  }
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return fail(std::string("fork: ") + strerror(fork_errno));
  return pid;
}

void mark_descriptors_cloexec() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  int self = dirfd(dir);
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd <= 2 || fd == self) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(dir);
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = strsignal(sig);
    std::string s = "killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
    if (WCOREDUMP(status)) s += " (core dumped)";
    return s;
  }
  return "stopped with wait status " + std::to_string(status);
}

}  // namespace cubby::server
