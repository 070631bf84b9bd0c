// A private Cubby per test; see instance.h.
#include "tests/e2e/instance.h"

#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/e2e/lmtp_client.h"

namespace cubby::e2e {
namespace {

// A fresh connection that gets the 220 greeting (or the 421 of a peer not allowed to connect):
// the worker is up and has run its recovery.
bool greets(LmtpClient& c) {
  c.set_timeout(2s);
  const int code = c.read_reply().code;
  return code == 220 || code == 421;
}

// The sanitizer options this process was started with (scripts/test --sanitize/--tsan sets them),
// before direct_sanitizer_reports() added a log path.
const std::map<std::string, std::string>& original_sanitizer_options() {
  static const std::map<std::string, std::string> options = [] {
    std::map<std::string, std::string> m;
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
      if (const char* v = getenv(name)) m[name] = v;
    }
    return m;
  }();
  return options;
}

}  // namespace

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      std::string n = ent->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
  }
  return names;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/cubby-e2e-XXXXXX";
  if (char* p = ::mkdtemp(tmpl)) path_ = p;
}

TempDir::~TempDir() {
  if (path_.empty() || getenv("CUBBY_E2E_KEEP")) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

bool wait_for_greeting(int port, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        LmtpClient probe;
        probe.set_timeout(2s);
        return probe.connect_tcp(port) && probe.read_reply().code == 220;
      },
      timeout);
}

CubbyInstance::CubbyInstance(InstanceOptions options) : options_(std::move(options)) {}

CubbyInstance::~CubbyInstance() {
  if (master_ <= 0) return;
  if (!stop(20s)) {
    for (pid_t w : child_pids(master_)) kill(w, SIGKILL);
    kill(master_, SIGKILL);
    wait_for_exit(master_, 5s);
    master_ = -1;
  }
}

void CubbyInstance::write_files() {
  std::ofstream settings(settings_path(), std::ios::trunc);
  settings << "configdirectory: " << options_.root << "/lib\n"
           << "partition-default: " << spool() << "\n";
  if (!options_.second_root.empty()) settings << "partition-p2: " << spool2() << "\n";
  settings << "servername: e2e.test\n";
  // deliver(8) finds lmtpd here; a test's own lmtpsocket line (below) wins.
  settings << "lmtpsocket: " << socket_path() << "\n";
  // Run as root on purpose, whatever users this machine has (the temporary root is 0700): a test
  // that wants the service user sets cubby_user itself.
  bool user_given = false;
  for (const auto& line : options_.settings) user_given = user_given || line.rfind("cubby_user", 0) == 0;
  if (!user_given) settings << "cubby_user: root\n";
  for (const auto& line : options_.settings) settings << line << "\n";

  tcp_port_ = free_tcp_port();
  auth_port_ = free_tcp_port();
  while (auth_port_ == tcp_port_) auth_port_ = free_tcp_port();
  std::ofstream services(options_.root + "/cyrus.conf", std::ios::trunc);
  services << "SERVICES {\n"
           << "  lmtpunix cmd=\"lmtpd\" listen=\"" << socket_path() << "\" prefork=1"
           << (options_.unix_service_options.empty() ? "" : " ") << options_.unix_service_options
           << "\n"
           << "  lmtp     cmd=\"lmtpd -a\" listen=\"127.0.0.1:" << tcp_port_ << "\" prefork=1\n"
           << "  lmtpauth cmd=\"lmtpd\" listen=\"127.0.0.1:" << auth_port_ << "\" prefork=1\n";
  for (const auto& line : options_.extra_services) services << "  " << line << "\n";
  services << "}\n" << options_.extra_sections;
}

bool CubbyInstance::accepting() const {
  LmtpClient unix_client, tcp_client, auth_client;
  return unix_client.connect_unix(socket_path()) && greets(unix_client) &&
         tcp_client.connect_tcp(tcp_port_) && greets(tcp_client) &&
         auth_client.connect_tcp(auth_port_) && greets(auth_client);
}

std::optional<std::string> CubbyInstance::start() {
  if (options_.root.empty()) return "no root directory";
  if (master_ > 0) return "already running";
  write_files();
  const std::string bin = CUBBY_BIN_DIR;
  const std::string ready = options_.root + "/master.ready";
  ::unlink(ready.c_str());
  std::string error;
  direct_sanitizer_reports();
  for (const auto& [k, v] : options_.master_env) ::setenv(k.c_str(), v.c_str(), 1);
  auto pid = spawn_logged(
      {bin + "/cubby-master", "-C", settings_path(), "-M", options_.root + "/cyrus.conf", "-D",
       "-p", options_.root + "/master.pid", "-r", ready},
      options_.root + "/master.log", &error);
  for (const auto& [k, v] : options_.master_env) ::unsetenv(k.c_str());
  if (!pid) return error;
  master_ = *pid;
  bool up = eventually(
      [&] {
        if (!process_alive(master_)) return true;  // reported below
        return ::access(ready.c_str(), F_OK) == 0 && accepting();
      },
      20s);
  if (!up || !process_alive(master_)) {
    std::string why = up ? "cubby-master exited" : "cubby-master not accepting after 20 s";
    kill(master_, SIGKILL);
    wait_for_exit(master_, 5s);
    master_ = -1;
    return why + "; log:\n" + log();
  }
  return std::nullopt;
}

std::string CubbyInstance::sanitizer_dir() const { return options_.root + "/sanitizer"; }

void CubbyInstance::direct_sanitizer_reports() const {
  const auto& original = original_sanitizer_options();
  if (original.empty()) return;
  ::mkdir(sanitizer_dir().c_str(), 0755);
  // Later options win: the report files of every process this instance starts (the master, its
  // workers, cubbyctl, deliver) go to <root>/sanitizer/report.<pid>.
  for (const auto& [name, value] : original) {
    if (name == "LSAN_OPTIONS") continue;  // LeakSanitizer reports through ASan's log_path
    ::setenv(name.c_str(), (value + ":log_path=" + sanitizer_dir() + "/report").c_str(), 1);
  }
}

std::string CubbyInstance::sanitizer_reports() const {
  std::string out;
  for (const auto& name : list_dir(sanitizer_dir())) {
    std::ifstream in(sanitizer_dir() + "/" + name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    if (text.size() > 20000) text = text.substr(0, 20000) + "\n...";
    out += "---- " + sanitizer_dir() + "/" + name + " ----\n" + text;
  }
  return out;
}

std::optional<int> CubbyInstance::stop(std::chrono::milliseconds timeout) {
  if (master_ <= 0) return std::nullopt;
  kill(master_, SIGTERM);
  return wait_master(timeout);
}

std::optional<int> CubbyInstance::wait_master(std::chrono::milliseconds timeout) {
  if (master_ <= 0) return std::nullopt;
  auto status = wait_for_exit(master_, timeout);
  if (status) master_ = -1;
  return status;
}

void CubbyInstance::crash() {
  if (master_ <= 0) return;
  kill(master_, SIGSTOP);
  // Stopped, the master can neither respawn nor, by dying, send its workers SIGTERM
  // (PR_SET_PDEATHSIG) before they are killed.
  eventually(
      [&] {
        std::ifstream in("/proc/" + std::to_string(master_) + "/stat");
        std::string stat;
        std::getline(in, stat);
        size_t paren = stat.rfind(')');
        return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T';
      },
      5s);
  std::vector<pid_t> children = child_pids(master_);
  for (pid_t w : children) kill(w, SIGKILL);
  kill(master_, SIGKILL);
  wait_for_exit(master_, 10s);
  master_ = -1;
  // The workers were reparented; wait until they are really gone (their locks released).
  eventually(
      [&] {
        for (pid_t w : children) {
          if (process_alive(w)) return false;
        }
        return true;
      },
      10s);
}

std::vector<pid_t> CubbyInstance::workers(const std::string& service) const {
  std::vector<pid_t> out;
  if (master_ <= 0) return out;
  for (pid_t p : child_pids(master_)) {
    auto s = process_env(p, "CYRUS_SERVICE");
    if (!s) continue;  // gone, or not exec'd yet
    std::ifstream comm("/proc/" + std::to_string(p) + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name != "lmtpd") continue;
    if (service.empty() || *s == service) out.push_back(p);
  }
  return out;
}

std::string CubbyInstance::log() const {
  std::ifstream in(options_.root + "/master.log", std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ProgramResult CubbyInstance::ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {std::string(CUBBY_BIN_DIR) + "/cubbyctl", "-C", settings_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, 60s);
}

std::optional<std::string> CubbyInstance::create_mailbox(const std::string& user,
                                                         const std::string& partition) const {
  std::vector<std::string> args = {"mailbox", "create", "user/" + user};
  if (!partition.empty()) args.push_back(partition);
  auto r = ctl(args);
  if (r.exit_code != 0) return "cubbyctl mailbox create user/" + user + ": " + r.describe();
  return std::nullopt;
}

std::optional<std::vector<MessageRow>> CubbyInstance::messages(const std::string& user,
                                                               std::string* error) const {
  return mailbox_messages("user/" + user, error);
}

std::optional<std::string> CubbyInstance::mailbox_path(const std::string& mailbox) const {
  auto r = ctl({"mailbox", "info", mailbox, "--json"});
  std::smatch m;
  static const std::regex path(R"re("path":"([^"]*)")re");
  if (r.exit_code != 0 || !std::regex_search(r.out, m, path)) return std::nullopt;
  return m[1].str();
}

std::optional<std::vector<MessageRow>> CubbyInstance::mailbox_messages(
    const std::string& mailbox, std::string* error) const {
  auto r = ctl({"message", "list", mailbox, "--json"});
  if (r.exit_code != 0) {
    if (error) *error = r.describe();
    return std::nullopt;
  }
  std::vector<MessageRow> rows;
  static const std::regex object(
      R"re(\{"uid":(\d+),"size":(\d+),"internaldate":(\d+),"guid":"([0-9a-f]+)"\})re");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), object), end; it != end; ++it) {
    const auto& m = *it;
    rows.push_back(MessageRow{std::stoll(m[1]), std::stoull(m[2]), std::stoll(m[3]), m[4]});
  }
  if (rows.empty() && r.out.find('{') != std::string::npos) {
    if (error) *error = "unexpected message list: " + r.out;
    return std::nullopt;
  }
  return rows;
}

std::map<std::string, PartitionStats> CubbyInstance::stats() const {
  std::map<std::string, PartitionStats> out;
  auto r = ctl({"stats", "--json"});
  if (r.exit_code != 0) return out;
  static const std::regex object(
      R"re(\{"partition":"([^"]*)","messages":(\d+),"logical_bytes":(\d+),"physical_bytes":(\d+),"inodes":(\d+))re");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), object), end; it != end; ++it) {
    const auto& m = *it;
    PartitionStats s;
    s.messages = std::stoull(m[2]);
    s.logical_bytes = std::stoull(m[3]);
    s.physical_bytes = std::stoull(m[4]);
    s.inodes = std::stoull(m[5]);
    out[m[1]] = s;
  }
  return out;
}

std::string CubbyInstance::mailbox_dir(const std::string& spool, const std::string& user) {
  return spool + "/user/" + user;
}

std::string CubbyInstance::message_file(const std::string& spool, const std::string& user,
                                        int64_t uid) {
  return mailbox_dir(spool, user) + "/" + std::to_string(uid) + ".";
}

std::vector<std::string> CubbyInstance::stage_files(const std::string& spool) {
  std::vector<std::string> out;
  for (auto& n : list_dir(spool + "/stage.")) {
    struct stat st;
    if (::stat((spool + "/stage./" + n).c_str(), &st) == 0 && st.st_size == 0) continue;
    out.push_back(n);
  }
  return out;
}

std::vector<std::string> CubbyInstance::message_files(const std::string& spool,
                                                      const std::string& user) {
  static const std::regex uid_file(R"([0-9]+\.)");
  std::vector<std::string> out;
  for (auto& n : list_dir(mailbox_dir(spool, user))) {
    if (std::regex_match(n, uid_file)) out.push_back(n);
  }
  return out;
}

bool CubbyInstance::wait_settled(std::chrono::milliseconds timeout) const {
  return eventually(
      [&] {
        if (!stage_files(spool()).empty()) return false;
        return options_.second_root.empty() || stage_files(spool2()).empty();
      },
      timeout);
}

}  // namespace cubby::e2e
