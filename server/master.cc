// The master's start-up, signal handling, reaping and shutdown; see master.h.
#include "server/master.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "conf/log.h"

extern char** environ;

namespace cubby::server {
namespace {

// Creates `dir` and its missing parents with mode 0755 (a UNIX socket's directory).
bool make_directories(const std::string& dir, std::string* error) {
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) == 0) return true;
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0 && !make_directories(dir.substr(0, slash), error))
    return false;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    *error = "cannot create directory " + dir + ": " + strerror(errno);
    return false;
  }
  return true;
}

// Gives a UNIX socket the owner and group of its entry ("" = leave as created).
bool set_owner(const std::string& path, const std::string& owner, const std::string& group,
               std::string* error) {
  if (owner.empty() && group.empty()) return true;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (!owner.empty()) {
    struct passwd* pw = getpwnam(owner.c_str());
    if (!pw) {
      *error = "unknown user \"" + owner + "\"";
      return false;
    }
    uid = pw->pw_uid;
  }
  if (!group.empty()) {
    struct group* gr = getgrnam(group.c_str());
    if (!gr) {
      *error = "unknown group \"" + group + "\"";
      return false;
    }
    gid = gr->gr_gid;
  }
  if (chown(path.c_str(), uid, gid) != 0) {
    *error = "cannot change the owner of " + path + ": " + strerror(errno);
    return false;
  }
  return true;
}

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3g s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

Master::Master(MasterOptions options)
    : options_(std::move(options)), signals_(io_), shutdown_deadline_(io_) {}

Master::~Master() = default;

Result<std::unique_ptr<Master>, std::string> Master::load(const MasterOptions& options) {
  std::unique_ptr<Master> m(new Master(options));
  std::vector<std::string> warnings;

  auto settings = conf::Settings::load(options.settings_path, &warnings);
  if (!settings) return fail(settings.error().str());
  m->settings_ = std::move(settings.value());
  std::error_code ec;
  auto abs = std::filesystem::absolute(options.settings_path, ec);
  m->settings_abs_ = ec ? options.settings_path : abs.lexically_normal().string();
  m->shutdown_timeout_ = m->settings_.get_duration("master_shutdown_timeout");
  if (m->options_.pidfile.empty())
    m->options_.pidfile = m->settings_.get_string("configdirectory") + "/master.pid";

  auto file = conf::load_services(options.services_path, &warnings);
  for (const auto& w : warnings) CUBBY_LOG_WARNING("%s", w.c_str());
  if (!file) return fail(file.error().str());

  auto dir = program_directory();
  if (!dir) return fail(dir.error());

  for (const auto& entry : file->start) {
    auto spec = conf::command_spec(entry);
    if (!spec) return fail(spec.error().str());
    auto exe = resolve_executable(spec->argv.empty() ? "" : spec->argv[0], *dir);
    if (!exe) return fail(entry.origin() + ": START \"" + entry.name + "\": " + exe.error());
    m->start_.push_back({std::move(spec.value()), std::move(exe.value())});
  }
  // EVENTS and DAEMON are checked so that mistakes show now, but not run yet.
  for (const auto* section : {&file->events, &file->daemons}) {
    for (const auto& entry : *section) {
      auto spec = conf::command_spec(entry);
      if (!spec) return fail(spec.error().str());
      CUBBY_LOG_WARNING("%s: %s entry \"%s\" ignored: not supported yet", entry.origin().c_str(),
                        section == &file->events ? "EVENTS" : "DAEMON", entry.name.c_str());
    }
  }
  for (const auto& entry : file->services) {
    auto spec = conf::service_spec(entry);
    if (!spec) return fail(spec.error().str());
    std::string where = entry.origin() + ": service \"" + spec->name + "\": ";
    auto exe = resolve_executable(spec->argv.empty() ? "" : spec->argv[0], *dir);
    if (!exe) return fail(where + exe.error());
    auto addresses = conf::resolve_listen(spec->listen, spec->proto);
    if (!addresses) return fail(where + addresses.error());
    if (addresses->empty()) return fail(where + "listen=\"" + spec->listen + "\" has no address");
    // Binding a UNIX socket removes the file that is there, so a second service on the same
    // path would silently take the first one's socket; TCP would fail later, less clearly.
    for (const auto& other : m->services_) {
      for (const auto& a : other.addresses) {
        for (const auto& b : *addresses) {
          if (a.display() == b.display())
            return fail(where + "listen=\"" + spec->listen + "\": " + b.display() +
                        " is already used by service \"" + other.spec.name + "\" (" +
                        other.spec.origin + ")");
        }
      }
    }
    m->services_.push_back(
        {std::move(spec.value()), std::move(exe.value()), std::move(addresses.value())});
  }
  if (m->services_.empty())
    CUBBY_LOG_WARNING("%s: no SERVICES entries; nothing to supervise",
                      options.services_path.c_str());
  return m;
}

void Master::fatal(const std::string& message) {
  CUBBY_LOG_ERR("%s", message.c_str());
  if (!options_.log_to_stderr) fprintf(stderr, "cubby-master: %s\n", message.c_str());
}

int Master::run() {
  auto pid = PidFile::acquire(options_.pidfile);
  if (!pid) {
    fatal(pid.error());
    return 1;
  }
  pidfile_ = std::move(pid.value());
  if (!run_start_entries() || !bind_services()) {
    for (auto& a : addresses_) a->stop_accepting();
    addresses_.clear();
    pidfile_.reset();
    return 1;
  }

  signals_.add(SIGCHLD);
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  wait_signal();
  for (auto& a : addresses_) a->start();
  CUBBY_LOG_NOTICE("started: %zu service(s) on %zu address(es)", services_.size(),
                   addresses_.size());

  if (!options_.readyfile.empty()) {
    auto ready = write_ready_file(options_.readyfile);
    if (ready) {
      ready_written_ = true;
    } else {
      fatal(ready.error());
      begin_shutdown(1);
    }
  }
  io_.run();

  if (ready_written_) unlink(options_.readyfile.c_str());
  pidfile_.reset();
  CUBBY_LOG_NOTICE("stopped");
  return exit_status_;
}

bool Master::run_start_entries() {
  for (const auto& c : start_) {
    Launch launch;
    launch.path = c.executable;
    launch.argv = worker_argv(c.spec.argv, settings_abs_);
    launch.env = child_environment(environ, {});
    CUBBY_LOG_INFO("START \"%s\": running %s", c.spec.name.c_str(), c.executable.c_str());
    auto pid = spawn(launch);
    if (!pid) {
      fatal("START \"" + c.spec.name + "\" (" + c.spec.origin + "): " + pid.error());
      return false;
    }
    int status = 0;
    while (waitpid(*pid, &status, 0) < 0) {
      if (errno != EINTR) {
        fatal("START \"" + c.spec.name + "\": waitpid: " + strerror(errno));
        return false;
      }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fatal("START \"" + c.spec.name + "\" (" + c.spec.origin + ") " +
            describe_wait_status(status) + "; not starting services");
      return false;
    }
  }
  return true;
}

bool Master::bind_services() {
  for (const auto& s : services_) {
    for (size_t i = 0; i < s.addresses.size(); ++i) {
      const conf::ListenAddress& addr = s.addresses[i];
      std::string where = "service \"" + s.spec.name + "\" (" + s.spec.origin +
                          "): cannot listen on " + addr.display() + ": ";
      std::string error;
      if (addr.is_unix) {
        auto slash = addr.path.rfind('/');
        if (slash != std::string::npos && slash > 0 &&
            !make_directories(addr.path.substr(0, slash), &error)) {
          fatal(where + error);
          return false;
        }
      }
      auto fd = conf::bind_listener(addr, options_.backlog, s.spec.mode ? s.spec.mode : 0660);
      if (!fd) {
        fatal(where + fd.error());
        return false;
      }
      if (addr.is_unix && !set_owner(addr.path, s.spec.owner, s.spec.group, &error)) {
        close(*fd);
        unlink(addr.path.c_str());
        fatal(where + error);
        return false;
      }
      ServiceAddressConfig config;
      config.service = s.spec.name;
      config.id = static_cast<int>(i);
      config.address = addr.display();
      if (addr.is_unix) config.unix_path = addr.path;
      config.prefork = s.spec.prefork;
      config.maxchild = s.spec.maxchild;
      config.launch.path = s.executable;
      config.launch.argv = worker_argv(s.spec.argv, settings_abs_);
      config.launch.env = child_environment(
          environ, {"CYRUS_SERVICE=" + s.spec.name, "CYRUS_ID=" + std::to_string(i)});
      config.launch.maxfds = s.spec.maxfds;
      auto address = ServiceAddress::create(io_, std::move(config), *fd);
      if (!address) {
        if (addr.is_unix) unlink(addr.path.c_str());
        fatal(where + address.error());
        return false;
      }
      CUBBY_LOG_INFO("%s: listening (prefork=%d, maxchild=%d)", (*address)->label().c_str(),
                     s.spec.prefork, s.spec.maxchild);
      addresses_.push_back(std::move(address.value()));
    }
  }
  return true;
}

void Master::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    on_signal(sig);
    wait_signal();
  });
}

void Master::on_signal(int sig) {
  switch (sig) {
    case SIGCHLD:
      reap();
      break;
    case SIGTERM:
    case SIGINT:
      CUBBY_LOG_NOTICE("%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      begin_shutdown(0);
      break;
    case SIGHUP:
      CUBBY_LOG_NOTICE("SIGHUP: reload not implemented yet; restart to apply changes");
      break;
  }
}

void Master::reap() {
  // Read what workers said before they died, so it is credited to the right pids.
  for (auto& a : addresses_) a->read_status();
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) break;
    bool known = false;
    for (auto& a : addresses_) {
      if (a->owns(pid)) {
        a->worker_exited(pid, status);
        known = true;
        break;
      }
    }
    if (!known)
      CUBBY_LOG_DEBUG("reaped process %d (%s)", static_cast<int>(pid),
                      describe_wait_status(status).c_str());
  }
  if (stopping_) {
    finish_if_drained();
  } else {
    staff_all();
  }
}

void Master::staff_all() {
  for (auto& a : addresses_) a->staff();
}

int Master::live_workers() const {
  int n = 0;
  for (const auto& a : addresses_) n += a->total();
  return n;
}

void Master::begin_shutdown(int exit_status) {
  if (stopping_) {
    CUBBY_LOG_NOTICE("already stopping; %d worker(s) left", live_workers());
    return;
  }
  stopping_ = true;
  exit_status_ = exit_status;
  int workers = 0;
  for (auto& a : addresses_) {
    a->stop_accepting();
    workers += a->signal_workers(SIGTERM);
  }
  CUBBY_LOG_NOTICE("stopping: waiting up to %s for %d worker(s) to finish",
                   seconds(shutdown_timeout_).c_str(), workers);
  shutdown_deadline_.expires_after(shutdown_timeout_);
  shutdown_deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    CUBBY_LOG_WARNING("master_shutdown_timeout (%s) passed; killing %d worker(s)",
                      seconds(shutdown_timeout_).c_str(), live_workers());
    for (auto& a : addresses_) a->signal_workers(SIGKILL);
  });
  finish_if_drained();
}

void Master::finish_if_drained() {
  if (live_workers() > 0) return;
  shutdown_deadline_.cancel();
  io_.stop();
}

}  // namespace cubby::server
