// A private Postfix per interop test; see postfix_instance.h.
#include "tests/interop/postfix/postfix_instance.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"

extern char** environ;

namespace cubby::interop {
namespace {

using e2e::run_program;

constexpr const char* kPostfix = "/usr/sbin/postfix";
constexpr const char* kSendmail = "/usr/sbin/sendmail";
constexpr const char* kPostqueue = "/usr/sbin/postqueue";
constexpr const char* kPostmap = "/usr/sbin/postmap";
constexpr const char* kPostalias = "/usr/sbin/postalias";

// Debian's master.cf without the pipe(8) examples, nothing chrooted (a chroot would need copies of
// system files in the queue directory), and smtpd on a loopback port instead of port 25.
const char* const kMasterCf[] = {
    "pickup     unix  n - n 60    1 pickup",
    "cleanup    unix  n - n -     0 cleanup",
    "qmgr       unix  n - n 300   1 qmgr",
    "tlsmgr     unix  - - n 1000? 1 tlsmgr",
    "rewrite    unix  - - n -     - trivial-rewrite",
    "bounce     unix  - - n -     0 bounce",
    "defer      unix  - - n -     0 bounce",
    "trace      unix  - - n -     0 bounce",
    "verify     unix  - - n -     1 verify",
    "flush      unix  n - n 1000? 0 flush",
    "proxymap   unix  - - n -     - proxymap",
    "proxywrite unix  - - n -     1 proxymap",
    "smtp       unix  - - n -     - smtp",
    "relay      unix  - - n -     - smtp",
    "showq      unix  n - n -     - showq",
    "error      unix  - - n -     - error",
    "retry      unix  - - n -     - error",
    "discard    unix  - - n -     - discard",
    "local      unix  - n n -     - local",
    "virtual    unix  - n n -     - virtual",
    "lmtp       unix  - - n -     - lmtp",
    "anvil      unix  - - n -     1 anvil",
    "scache     unix  - - n -     1 scache",
    "postlog    unix-dgram n - n - 1 postlogd",
};

// Waits for EOF or a line on stdin. "stopped" means the instance was stopped cleanly; anything
// else (EOF: the test process is gone) means kill every process of the instance, found by the
// MAIL_CONFIG=<config> that Postfix passes to all its processes.
constexpr const char* kGuardScript =
    "read -r state\n"
    "[ \"$state\" = stopped ] && exit 0\n"
    "pids=$(grep -lzxF \"MAIL_CONFIG=$1\" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)\n"
    "[ -z \"$pids\" ] || kill -9 $pids\n";

bool make_dir(const std::string& path, mode_t mode, std::string* error) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    *error = "mkdir " + path + ": " + strerror(errno);
    return false;
  }
  if (::chmod(path.c_str(), mode) != 0) {
    *error = "chmod " + path + ": " + strerror(errno);
    return false;
  }
  return true;
}

// Postfix re-reads a configuration file until its modification time is in the past (it waits
// for an editor to finish), which costs up to a second per command after every write; a file the
// test just wrote is dated two seconds back instead.
void backdate(const std::string& path) {
  struct timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 2;
  times[1] = times[0];
  ::utimensat(AT_FDCWD, path.c_str(), times, 0);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<pid_t> read_pid_file(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (in >> pid && pid > 0) return static_cast<pid_t>(pid);
  return std::nullopt;
}

// Like e2e::eventually, for conditions that read files or run programs: every 100 ms.
template <typename F>
bool poll_until(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

std::string last_lines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

}  // namespace

PostfixInstance::PostfixInstance(std::string root) : root_(std::move(root)) {
  // Postfix's unprivileged processes (user postfix) must reach the queue below the root, which
  // mkdtemp made 0700.
  std::string ignored;
  make_dir(root_, 0755, &ignored);
  make_dir(config_dir(), 0755, &ignored);
  params_ = {
      {"compatibility_level", "3.6"},
      {"queue_directory", queue_dir()},
      {"data_directory", root_ + "/data"},
      {"mail_owner", "postfix"},
      {"setgid_group", "postdrop"},
      {"myhostname", "mx.cubby.test"},
      {"mydomain", "cubby.test"},
      {"myorigin", "$mydomain"},
      {"mydestination", "$mydomain, $myhostname, localhost"},
      {"inet_interfaces", "loopback-only"},
      {"inet_protocols", "ipv4"},
      {"mynetworks", "127.0.0.0/8"},
      {"maillog_file", maillog_path()},
      {"maillog_file_prefixes", root_},
      {"alias_maps", "hash:" + config_dir() + "/aliases"},
      {"alias_database", "hash:" + config_dir() + "/aliases"},
      // local(8) must never read a real user's ~/.forward or write to /var/mail.
      {"forward_path", ""},
      {"mail_spool_directory", mail_spool()},
      {"home_mailbox", ""},
      {"mailbox_command", ""},
      {"biff", "no"},
      // Retries within seconds, so that deferred mail is tried again while the test waits.
      {"queue_run_delay", "1s"},
      {"minimal_backoff_time", "1s"},
      {"maximal_backoff_time", "2s"},
      {"delay_warning_time", "0"},
  };
}

PostfixInstance::~PostfixInstance() {
  stop();
  release_guard();
}

void PostfixInstance::set(const std::string& name, const std::string& value) {
  for (auto& [n, v] : params_) {
    if (n == name) {
      v = value;
      return;
    }
  }
  params_.emplace_back(name, value);
}

void PostfixInstance::unset(const std::string& name) {
  std::erase_if(params_, [&](const auto& p) { return p.first == name; });
}

void PostfixInstance::add_service(const std::string& entry) { services_.push_back(entry); }

void PostfixInstance::write_config() const {
  {
    std::ofstream main_cf(config_dir() + "/main.cf", std::ios::trunc);
    main_cf << "# Written by the Cubby interop test; a private instance.\n";
    for (const auto& [name, value] : params_) {
      main_cf << name << " =" << (value.empty() ? "" : " ") << value << "\n";
    }
    std::ofstream master_cf(config_dir() + "/master.cf", std::ios::trunc);
    master_cf << "127.0.0.1:" << smtp_port_ << " inet n - n - - smtpd\n";
    for (const char* line : kMasterCf) master_cf << line << "\n";
    for (const auto& line : services_) master_cf << line << "\n";
  }
  backdate(config_dir() + "/main.cf");
  backdate(config_dir() + "/master.cf");
}

std::string PostfixInstance::write_table(const std::string& name, const std::string& content,
                                         std::string* error) {
  const std::string path = config_dir() + "/" + name;
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
    if (!out) {
      *error = "cannot write " + path;
      return "";
    }
  }
  backdate(path);
  write_config();  // postmap -c reads main.cf
  const bool aliases = name == "aliases";
  auto r = run_program({aliases ? kPostalias : kPostmap, "-c", config_dir(), "hash:" + path});
  if (r.exit_code != 0) {
    *error = std::string(aliases ? "postalias " : "postmap ") + path + ": " + r.describe();
    return "";
  }
  return "hash:" + path;
}

std::optional<std::string> PostfixInstance::start_guard() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + strerror(errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own session: a ctest timeout that kills the test's process group spares the guard.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  const std::string dir = config_dir();
  const char* argv[] = {"/bin/sh", "-c", kGuardScript, "postfix-guard", dir.c_str(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return std::string("posix_spawn /bin/sh (guard): ") + strerror(rc);
  }
  guard_ = pid;
  guard_fd_ = fds[1];
  return std::nullopt;
}

void PostfixInstance::release_guard() {
  if (guard_fd_ >= 0) {
    ssize_t ignored = ::write(guard_fd_, "stopped\n", 8);
    (void)ignored;
    ::close(guard_fd_);
    guard_fd_ = -1;
  }
  if (guard_ > 0) {
    if (!e2e::wait_for_exit(guard_, 10s)) {
      ::kill(guard_, SIGKILL);
      e2e::wait_for_exit(guard_, 5s);
    }
    guard_ = -1;
  }
}

std::optional<std::string> PostfixInstance::start() {
  if (running_) return "already running";
  std::string error;
  if (!make_dir(queue_dir(), 0755, &error) || !make_dir(root_ + "/data", 0700, &error) ||
      !make_dir(mail_spool(), 01777, &error)) {
    return error;
  }
  struct passwd* pw = ::getpwnam("postfix");
  if (!pw) return "no user \"postfix\" (is the postfix package installed?)";
  if (::chown((root_ + "/data").c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return "chown " + root_ + "/data: " + strerror(errno);
  }
  if (::access((config_dir() + "/aliases.db").c_str(), F_OK) != 0) {
    write_table("aliases", "postmaster: root\n", &error);
    if (!error.empty()) return error;
  }
  if (smtp_port_ == 0) smtp_port_ = e2e::free_tcp_port();
  write_config();

  // check creates the queue directories (post-install create-missing) and reports problems.
  auto check = run_program({kPostfix, "-c", config_dir(), "check"}, 60s);
  if (check.exit_code != 0) return "postfix check: " + check.describe();
  if (auto e = start_guard()) return e;
  auto started = run_program({kPostfix, "-c", config_dir(), "start"}, 60s);
  running_ = true;  // from here on stop() cleans up, whatever happened
  if (started.exit_code != 0) {
    return "postfix start: " + started.describe() + "\nmaillog:\n" + last_lines(maillog(), 20);
  }
  bool greets = poll_until(
      [&] {
        e2e::LmtpClient c;
        if (!c.connect_tcp(smtp_port_)) return false;
        c.set_timeout(5s);
        bool ok = c.read_reply().code == 220;
        c.command("QUIT");
        return ok;
      },
      20s);
  if (!greets) {
    return "smtpd on 127.0.0.1:" + std::to_string(smtp_port_) + " does not greet; maillog:\n" +
           last_lines(maillog(), 20);
  }
  return std::nullopt;
}

std::optional<std::string> PostfixInstance::stop() {
  if (!running_) return std::nullopt;
  std::string problems;
  const auto master = read_pid_file(queue_dir() + "/pid/master.pid");
  auto r = run_program({kPostfix, "-c", config_dir(), "stop"}, 30s);
  if (r.exit_code != 0) problems += "postfix stop: " + r.describe() + "\n";
  if (master && !e2e::eventually([&] { return !e2e::process_alive(*master); }, 15s)) {
    problems += "the master (pid " + std::to_string(*master) + ") outlived postfix stop\n";
  }
  // "postfix stop" lets running processes finish; give them a moment, then kill what is left.
  if (!poll_until([&] { return processes().empty(); }, 10s)) {
    for (pid_t p : processes()) {
      problems += "killed pid " + std::to_string(p) + "\n";
      ::kill(p, SIGKILL);
    }
    poll_until([&] { return processes().empty(); }, 5s);
  }
  running_ = false;
  release_guard();
  if (problems.empty()) return std::nullopt;
  return problems;
}

std::optional<std::string> PostfixInstance::restart() {
  if (auto e = stop()) return e;
  return start();
}

std::vector<pid_t> PostfixInstance::processes() const {
  std::vector<pid_t> out;
  const std::string dir = config_dir();
  const pid_t self = ::getpid();
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* ent = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(ent->d_name, &end, 10);
      if (pid <= 0 || *end != '\0' || pid == self) continue;
      auto value = e2e::process_env(static_cast<pid_t>(pid), "MAIL_CONFIG");
      if (value && *value == dir && e2e::process_alive(static_cast<pid_t>(pid))) {
        out.push_back(static_cast<pid_t>(pid));
      }
    }
    ::closedir(d);
  }
  return out;
}

std::string PostfixInstance::maillog() const { return read_all(maillog_path()); }

ProgramResult PostfixInstance::sendmail(const std::string& from,
                                        const std::vector<std::string>& rcpts,
                                        std::string_view content) {
  std::string lf;
  lf.reserve(content.size());
  for (size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\r' && i + 1 < content.size() && content[i + 1] == '\n') continue;
    lf += content[i];
  }
  const std::string path = root_ + "/sendmail-input";
  {
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    out << lf;
  }
  std::vector<std::string> argv = {kSendmail, "-C", config_dir(), "-f", from, "--"};
  argv.insert(argv.end(), rcpts.begin(), rcpts.end());
  auto r = e2e::run_program_with_stdin(argv, path, 30s);
  ::unlink(path.c_str());
  return r;
}

std::string PostfixInstance::smtp(const std::vector<Submission>& messages) {
  e2e::LmtpClient c;  // SMTP and LMTP differ only in LHLO/EHLO and the replies after the dot
  if (!c.connect_tcp(smtp_port_)) return "connect to smtpd: " + c.error();
  c.set_timeout(30s);
  auto expect = [](const e2e::LmtpReply& r, int code, const std::string& what) -> std::string {
    if (r.code == code) return "";
    return what + ": expected " + std::to_string(code) + ", got " + r.text();
  };
  if (auto e = expect(c.read_reply(), 220, "greeting"); !e.empty()) return e;
  if (auto e = expect(c.command("EHLO client.interop.test"), 250, "EHLO"); !e.empty()) return e;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Submission& m = messages[i];
    const std::string which = "message " + std::to_string(i + 1) + ": ";
    if (auto e = expect(c.command("MAIL FROM:<" + m.from + ">"), 250, which + "MAIL"); !e.empty())
      return e;
    for (const auto& rcpt : m.rcpts) {
      if (auto e = expect(c.command("RCPT TO:<" + rcpt + ">"), 250, which + "RCPT " + rcpt);
          !e.empty())
        return e;
    }
    if (auto e = expect(c.command("DATA"), 354, which + "DATA"); !e.empty()) return e;
    if (!c.send_data(m.content)) return which + "sending the content: " + c.error();
    if (auto e = expect(c.read_reply(), 250, which + "end of data"); !e.empty()) return e;
  }
  c.command("QUIT");
  return "";
}

ProgramResult PostfixInstance::postqueue(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kPostqueue, "-c", config_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, 30s);
}

size_t PostfixInstance::queued() const {
  size_t n = 0;
  for (const char* sub : {"maildrop", "incoming", "active", "deferred", "hold"}) {
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(queue_dir() + "/" + sub, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec)) ++n;
    }
  }
  return n;
}

bool PostfixInstance::wait_queue_empty(std::chrono::milliseconds timeout,
                                       std::chrono::milliseconds flush_every) {
  auto last_flush = std::chrono::steady_clock::now();
  // A message moving from deferred/ back to active/ can slip between two directory scans, so
  // one empty scan is not proof: the queue must be seen empty twice in a row.
  return poll_until(
      [&] {
        if (queued() == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (queued() == 0) return true;
        }
        if (std::chrono::steady_clock::now() - last_flush >= flush_every) {
          postqueue({"-f"});
          last_flush = std::chrono::steady_clock::now();
        }
        return false;
      },
      timeout);
}

std::vector<std::string> PostfixInstance::log_lines(const std::string& pattern) const {
  const std::regex re(pattern);
  std::vector<std::string> out;
  std::istringstream in(maillog());
  std::string line;
  while (std::getline(in, line)) {
    if (std::regex_search(line, re)) out.push_back(line);
  }
  return out;
}

std::vector<std::string> PostfixInstance::wait_log(const std::string& pattern, size_t count,
                                                   std::chrono::milliseconds timeout) const {
  std::vector<std::string> lines;
  poll_until(
      [&] {
        lines = log_lines(pattern);
        return lines.size() >= count;
      },
      timeout);
  return lines;
}

}  // namespace cubby::interop
