// A private Dovecot on loopback over a Maildir partition; see dovecot_instance.h.
#include "tests/interop/dovecot/dovecot_instance.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/e2e/process.h"

namespace cubby::interop {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

// True once a connection to the port gets a greeting starting with `greeting`.
bool answers(int port, const std::string& greeting) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ok = n > 0 && std::string(buf, static_cast<size_t>(n)).starts_with(greeting);
  }
  ::close(fd);
  return ok;
}

// The settings block of docs/dovecot.md (between its "dovecot.conf begin/end" markers) with the
// documented example partition replaced by `partition`: the tests run exactly what the document
// tells an administrator to write.
std::string documented_settings(const std::string& partition, std::string* error) {
  const std::string doc = read_file(std::string(CUBBY_SOURCE_DIR) + "/docs/dovecot.md");
  const std::string begin = "<!-- dovecot.conf begin -->", end = "<!-- dovecot.conf end -->";
  size_t from = doc.find(begin), to = doc.find(end);
  if (from == std::string::npos || to == std::string::npos || to < from) {
    *error = "docs/dovecot.md has no dovecot.conf begin/end markers";
    return "";
  }
  std::string block = doc.substr(from + begin.size(), to - from - begin.size());
  // Drop the ``` fence lines.
  std::string out;
  std::istringstream lines(block);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("```")) continue;
    out += line + "\n";
  }
  const std::string example = "/var/spool/cubby-maildir";
  for (size_t at = out.find(example); at != std::string::npos; at = out.find(example, at)) {
    out.replace(at, example.size(), partition);
    at += partition.size();
  }
  return out;
}

// Starts `argv` with stdout and stderr appended to `log_path`, as a child that gets SIGTERM when
// this process dies (PR_SET_PDEATHSIG): a test killed by a timeout or a crash still takes its
// Dovecot down (the master stops its own processes on SIGTERM).
std::optional<pid_t> spawn_guarded(const std::vector<std::string>& argv,
                                   const std::string& log_path, std::string* error) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the test died before prctl
    int null = ::open("/dev/null", O_RDONLY);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null < 0 || log < 0) ::_exit(127);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

DovecotInstance::DovecotInstance(std::string root, std::string partition)
    : root_(std::move(root)), partition_(std::move(partition)) {
  mail_uid_ = ::getuid();
  mail_gid_ = ::getgid();
  if (mail_uid_ == 0) {
    const passwd* nobody = ::getpwnam("nobody");
    mail_uid_ = nobody ? nobody->pw_uid : 65534;
    mail_gid_ = nobody ? nobody->pw_gid : 65534;
  }
}

std::optional<std::string> DovecotInstance::hand_over_partition() const {
  if (::getuid() != 0) return std::nullopt;  // already the test's own files
  std::error_code ec;
  if (::lchown(partition_.c_str(), mail_uid_, mail_gid_) != 0) return "chown " + partition_;
  for (auto it = std::filesystem::recursive_directory_iterator(partition_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path();
    if (::lchown(path.c_str(), mail_uid_, mail_gid_) != 0) return "chown " + path;
  }
  if (ec) return "walking " + partition_ + ": " + ec.message();
  // Every directory above the partition must let the mail user through.
  for (std::filesystem::path dir = std::filesystem::path(partition_).parent_path();
       dir != dir.root_path(); dir = dir.parent_path()) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & 0001) == 0) {
      ::chmod(dir.c_str(), (st.st_mode & 07777) | 0111);
    }
  }
  return std::nullopt;
}

DovecotInstance::~DovecotInstance() { (void)stop(); }

std::string DovecotInstance::log() const { return read_file(root_ + "/dovecot.log"); }

std::string DovecotInstance::config() const {
  std::string error;
  std::string c =
      "# Written by tests/interop/dovecot/dovecot_instance.cc.\n"
      "# From docs/dovecot.md:\n";
  c += documented_settings(partition_, &error);
  if (!error.empty()) return "# " + error + "\n";
  const uid_t uid = mail_uid_;
  const gid_t gid = mail_gid_;
  c += "\n# This test's instance.\n";
  c += "base_dir = " + root_ + "/run\n";
  c += "state_dir = " + root_ + "/state\n";
  c += "log_path = " + root_ + "/dovecot.log\n";
  c += "instance_name = cubby-test-dovecot\n";
  c += "protocols = imap pop3\n";
  c += "listen = 127.0.0.1\n";
  c += "ssl = no\n";
  c += "disable_plaintext_auth = no\n";
  c += "auth_mechanisms = plain login\n";
  c += "first_valid_uid = " + std::to_string(uid) + "\n";
  c += "first_valid_gid = " + std::to_string(gid) + "\n";
  c += "passdb {\n  driver = static\n  args = password=" + std::string(kPassword) + "\n}\n";
  c += "userdb {\n  driver = static\n  args = uid=" + std::to_string(uid) +
       " gid=" + std::to_string(gid) + " home=" + partition_ + "/%d/%n\n}\n";
  c += "service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = " +
       std::to_string(imap_port_) + "\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}\n";
  c += "service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = " +
       std::to_string(pop3_port_) + "\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}\n";
  if (::getuid() != 0) {
    // Without root every process runs as the test's user, and nothing can chroot.
    const passwd* pw = ::getpwuid(::getuid());
    const group* gr = ::getgrgid(::getgid());
    const std::string user = pw ? pw->pw_name : std::to_string(::getuid());
    const std::string group_name = gr ? gr->gr_name : std::to_string(::getgid());
    c += "default_internal_user = " + user + "\n";
    c += "default_internal_group = " + group_name + "\n";
    c += "default_login_user = " + user + "\n";
    for (const char* service : {"imap-login", "pop3-login", "anvil"}) {
      c += "service " + std::string(service) + " {\n  chroot =\n}\n";
    }
  }
  return c;
}

std::optional<std::string> DovecotInstance::start() {
  if (running()) return "already running";
  if (::access("/usr/sbin/dovecot", X_OK) != 0) {
    return "no /usr/sbin/dovecot: install dovecot-imapd and dovecot-pop3d (scripts/install-deps)";
  }
  ::chmod(root_.c_str(), 0755);  // Dovecot's unprivileged processes pass through base_dir
  if (auto error = hand_over_partition()) return error;
  imap_port_ = free_loopback_port();
  pop3_port_ = free_loopback_port();
  while (pop3_port_ == imap_port_) pop3_port_ = free_loopback_port();
  const std::string text = config();
  if (text.starts_with("# docs")) return text;
  {
    std::ofstream out(config_path(), std::ios::trunc);
    out << text;
    if (!out) return "cannot write " + config_path();
  }
  std::string error;
  auto pid = spawn_guarded({"/usr/sbin/dovecot", "-F", "-c", config_path()},
                           root_ + "/dovecot.stdout", &error);
  if (!pid) return error;
  master_ = *pid;
  const bool up = e2e::eventually(
      [&] {
        if (!e2e::process_alive(master_)) return true;
        return answers(imap_port_, "* OK") && answers(pop3_port_, "+OK");
      },
      20s);
  if (!up || !e2e::process_alive(master_)) {
    std::string why = "dovecot did not come up; stdout: " + read_file(root_ + "/dovecot.stdout") +
                      "; log: " + log();
    (void)stop();
    return why;
  }
  return std::nullopt;
}

std::optional<std::string> DovecotInstance::stop() {
  if (master_ <= 0) return std::nullopt;
  std::optional<std::string> problem;
  ::kill(master_, SIGTERM);
  if (!e2e::wait_for_exit(master_, 15s)) {
    for (pid_t child : e2e::child_pids(master_)) ::kill(child, SIGKILL);
    ::kill(master_, SIGKILL);
    (void)e2e::wait_for_exit(master_, 5s);
    problem = "dovecot did not stop on SIGTERM within 15 s; killed";
  }
  master_ = -1;
  return problem;
}

}  // namespace cubby::interop
