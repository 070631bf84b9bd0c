// The master's start-up, signal handling, reload, reaping and shutdown; see master.h.
#include "server/master/master.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "conf/log.h"
#include "server/master/socket_reach.h"

extern char** environ;

namespace cubby::server {
namespace {

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3g s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string key_of(const std::string& service, const std::string& address) {
  return service + '\n' + address;
}

// How long the first start of a DAEMON with wait=yes may take to say "ok".
constexpr std::chrono::seconds kDaemonWaitLimit{60};

}  // namespace

Master::Master(MasterOptions options, MasterPlan plan)
    : options_(std::move(options)),
      plan_(std::move(plan)),
      signals_(io_),
      shutdown_deadline_(io_),
      textfile_timer_(io_) {
  shutdown_timeout_ = plan_.settings.get_duration("master_shutdown_timeout");
  if (options_.pidfile.empty())
    options_.pidfile = plan_.settings.get_string("configdirectory") + "/master.pid";
}

Master::~Master() = default;

Result<std::unique_ptr<Master>, std::string> Master::load(const MasterOptions& options) {
  auto plan = load_plan(options.settings_path, options.services_path);
  if (!plan) return fail(plan.error());
  for (const auto& w : plan->warnings) CUBBY_LOG_WARNING("%s", w.c_str());
  plan->warnings.clear();
  return std::unique_ptr<Master>(new Master(options, std::move(plan.value())));
}

void Master::fatal(const std::string& message) {
  CUBBY_LOG_ERR("%s", message.c_str());
  if (!options_.log_to_stderr) fprintf(stderr, "cubby-master: %s\n", message.c_str());
}

std::optional<std::pair<uid_t, gid_t>> Master::dirs_owner() const {
  if (plan_.identity.kind != ServiceIdentity::Kind::kSwitch) return std::nullopt;
  return std::make_pair(plan_.identity.uid, plan_.identity.gid);
}

void Master::cleanup_after_failed_start() {
  for (auto& a : addresses_) a->stop_accepting();
  addresses_.clear();
  control_.reset();
  metrics_.clear();
  pidfile_.reset();
}

int Master::run() {
  started_at_ = std::chrono::system_clock::now();
  const ServiceIdentity& id = plan_.identity;
  if (id.kind == ServiceIdentity::Kind::kRootByDefault) CUBBY_LOG_WARNING("%s", id.warning.c_str());
  auto prepared = prepare_store_directories(plan_.settings, id);
  if (!prepared) {
    fatal(prepared.error());
    return 1;
  }
  for (const auto& line : *prepared) CUBBY_LOG_NOTICE("%s", line.c_str());

  auto pid = PidFile::acquire(options_.pidfile);
  if (!pid) {
    fatal(pid.error());
    return 1;
  }
  pidfile_ = std::move(pid.value());
  if (!bind_services() || !open_report_servers()) {
    cleanup_after_failed_start();
    return 1;
  }
  // Everything that needs root is done: from here on the master and its children run as the
  // service user. CAP_NET_BIND_SERVICE stays so that a reload can bind port 24 again.
  if (auto e = switch_identity(id, true)) {
    fatal(*e);
    cleanup_after_failed_start();
    return 1;
  }
  if (id.kind == ServiceIdentity::Kind::kSwitch) {
    user_ = id.user + ":" + id.group;
    CUBBY_LOG_NOTICE("running as %s", user_.c_str());
  } else {
    struct passwd* pw = getpwuid(geteuid());
    user_ = pw ? pw->pw_name : std::to_string(geteuid());
  }
  // Children that exit from now on (daemons that die at once) are reaped once the loop runs; a
  // SIGHUP during START is a reload once it runs. SIGTERM still stops a START that hangs.
  signals_.add(SIGCHLD);
  signals_.add(SIGHUP);
  if (!run_start_entries() || !start_daemons()) {
    for (auto& [name, d] : daemons_) d->stop(SIGTERM);
    cleanup_after_failed_start();
    return 1;
  }

  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  wait_signal();
  start_events();
  for (auto& a : addresses_) a->start();
  CUBBY_LOG_NOTICE("started: %zu service(s) on %zu address(es), %zu event(s), %zu daemon(s)",
                   plan_.services.size(), addresses_.size(), events_.size(), daemons_.size());

  if (!options_.readyfile.empty()) {
    auto ready = write_ready_file(options_.readyfile);
    if (ready) {
      ready_written_ = true;
    } else {
      fatal(ready.error());
      begin_shutdown(1);
    }
  }
  schedule_textfile();
  running_ = true;
  io_.run();

  write_textfile();
  if (ready_written_) unlink(options_.readyfile.c_str());
  control_.reset();
  metrics_.clear();
  pidfile_.reset();
  CUBBY_LOG_NOTICE("stopped");
  return exit_status_;
}

bool Master::run_start_entries() {
  for (const auto& c : plan_.start) {
    Launch launch;
    launch.path = c.executable;
    launch.argv = worker_argv(c.spec.argv, plan_.settings_path);
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

ServiceAddressConfig Master::address_config(const PlannedService& s, size_t i) const {
  ServiceAddressConfig c;
  c.service = s.spec.name;
  c.id = static_cast<int>(i);
  c.address = s.addresses[i].display();
  c.listen.address = s.addresses[i];
  c.listen.mode = s.spec.mode;
  c.listen.owner = s.spec.owner;
  c.listen.group = s.spec.group;
  c.listen.backlog = options_.backlog;
  c.prefork = s.spec.prefork;
  c.maxchild = s.spec.maxchild;
  c.maxforkrate = s.spec.maxforkrate;
  c.babysit = s.spec.babysit;
  c.origin = s.spec.origin;
  c.launch.path = s.executable;
  c.launch.argv = worker_argv(s.spec.argv, plan_.settings_path);
  c.launch.env =
      child_environment(environ, {"CYRUS_SERVICE=" + s.spec.name, "CYRUS_ID=" + std::to_string(i)});
  c.launch.maxfds = s.spec.maxfds;
  return c;
}

JobConfig Master::job_config(const PlannedCommand& c, bool daemon) const {
  JobConfig j;
  j.name = c.spec.name;
  j.origin = c.spec.origin;
  j.launch.path = c.executable;
  j.launch.argv = worker_argv(c.spec.argv, plan_.settings_path);
  j.launch.env =
      daemon ? child_environment(environ, {"CYRUS_SERVICE=" + c.spec.name, "CYRUS_ISDAEMON=1"})
             : child_environment(environ, {});
  j.timing.period_seconds = c.spec.period_seconds;
  j.timing.at_hhmm = c.spec.at_hhmm;
  j.wait = c.spec.wait;
  j.launch.maxfds = c.spec.maxfds;
  return j;
}

bool Master::bind_services() {
  for (const auto& s : plan_.services) {
    for (size_t i = 0; i < s.addresses.size(); ++i) {
      ServiceAddressConfig config = address_config(s, i);
      std::string where = "service \"" + s.spec.name + "\" (" + s.spec.origin +
                          "): cannot listen on " + config.address + ": ";
      auto fd = open_listener(config.listen, dirs_owner());
      if (!fd) {
        fatal(where + fd.error());
        return false;
      }
      if (config.listen.address.is_unix) {
        if (auto w = socket_unreachable_by(config.listen.address.path))
          CUBBY_LOG_WARNING("service \"%s\": %s (set mode= and group= on the entry)",
                            s.spec.name.c_str(), w->c_str());
      }
      auto address = ServiceAddress::create(io_, std::move(config), *fd);
      if (!address) {
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

bool Master::open_report_servers() {
  // The control socket: cubbyctl status. Not fatal: the master supervises fine without it.
  const std::string path = control_socket_path(plan_.settings);
  auto resolved = conf::resolve_listen(path);
  if (resolved && resolved->size() == 1) {
    ListenTarget target;
    target.address = resolved->front();
    target.mode = 0600;
    if (plan_.identity.kind == ServiceIdentity::Kind::kSwitch) {
      target.owner = plan_.identity.user;
      target.group = plan_.identity.group;
    }
    target.backlog = 16;
    auto fd = open_listener(target, dirs_owner());
    if (fd) {
      control_ = std::make_unique<ReportServer>(
          io_, *fd, ReportServer::Protocol::kControl,
          [this](const std::string& request) { return answer(request); }, path);
    } else {
      CUBBY_LOG_WARNING("no control socket (cubbyctl status will not work): %s",
                        fd.error().c_str());
    }
  } else {
    CUBBY_LOG_WARNING("no control socket (cubbyctl status will not work): %s",
                      resolved ? "bad path" : resolved.error().c_str());
  }
  return open_metrics_listeners(plan_, &metrics_);
}

bool Master::open_metrics_listeners(const MasterPlan& plan,
                                    std::vector<std::unique_ptr<ReportServer>>* out) {
  for (const auto& a : plan.metrics_listen) {
    ListenTarget target;
    target.address = a;
    target.backlog = 16;
    auto fd = open_listener(target, std::nullopt);
    if (!fd) {
      std::string text = "metrics_listen: cannot listen on " + a.display() + ": " + fd.error();
      if (running_)
        CUBBY_LOG_ERR("SIGHUP: %s; no metrics over HTTP until it is fixed", text.c_str());
      else
        fatal(text);
      out->clear();
      return false;
    }
    out->push_back(std::make_unique<ReportServer>(
        io_, *fd, ReportServer::Protocol::kHttp,
        [this](const std::string& request) { return answer(request); }, ""));
    CUBBY_LOG_INFO("metrics on http://%s/metrics", a.display().c_str());
  }
  return true;
}

bool Master::start_daemons() {
  for (const auto& c : plan_.daemons) {
    auto d = std::make_unique<KeptDaemon>(io_, job_config(c, true));
    if (auto e = d->start(kDaemonWaitLimit)) {
      fatal("DAEMON \"" + c.spec.name + "\" (" + c.spec.origin + "): " + *e);
      daemons_[c.spec.name] = std::move(d);
      return false;
    }
    daemons_[c.spec.name] = std::move(d);
  }
  return true;
}

void Master::start_events() {
  for (const auto& c : plan_.events) {
    auto e = std::make_unique<ScheduledEvent>(io_, job_config(c, false));
    e->start();
    events_[c.spec.name] = std::move(e);
  }
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
      if (stopping_) {
        CUBBY_LOG_NOTICE("SIGHUP while stopping: ignored");
        break;
      }
      reload();
      break;
  }
}

void Master::reload() {
  ++reloads_;
  last_reload_at_ = std::chrono::system_clock::now();
  auto plan = load_plan(options_.settings_path, options_.services_path);
  if (!plan) {
    ++reload_failures_;
    last_reload_ = plan.error();
    CUBBY_LOG_ERR("SIGHUP: cannot reload, the running configuration stays: %s",
                  plan.error().c_str());
    return;
  }
  for (const auto& w : plan->warnings) CUBBY_LOG_WARNING("%s", w.c_str());
  if (plan->settings.get_string("cubby_user") != plan_.settings.get_string("cubby_user") ||
      plan->settings.get_string("cubby_group") != plan_.settings.get_string("cubby_group"))
    CUBBY_LOG_WARNING("SIGHUP: cubby_user and cubby_group take effect only at a restart");
  plan->identity = plan_.identity;

  // Settings the master itself uses.
  shutdown_timeout_ = plan->settings.get_duration("master_shutdown_timeout");
  if (plan->settings.get_string("metrics_listen") != plan_.settings.get_string("metrics_listen")) {
    metrics_.clear();  // the old addresses are free again before the new ones are bound
    std::vector<std::unique_ptr<ReportServer>> fresh;
    if (open_metrics_listeners(*plan, &fresh)) metrics_ = std::move(fresh);
  }
  plan_.settings = plan->settings;  // address_config() and job_config() read plan_
  reload_services(*plan);
  reload_jobs(*plan);
  plan_ = std::move(plan.value());
  last_reload_ = "ok";
  CUBBY_LOG_NOTICE(
      "SIGHUP: reloaded: %zu service(s) on %zu address(es), %zu event(s), "
      "%zu daemon(s)",
      plan_.services.size(), addresses_.size(), events_.size(), daemons_.size());
  schedule_textfile();
  staff_all();
}

void Master::reload_services(const MasterPlan& plan) {
  // Current addresses by (service, address); what stays is moved out, the rest is retired.
  std::map<std::string, std::unique_ptr<ServiceAddress>> current;
  for (auto& a : addresses_)
    current[key_of(a->config().service, a->config().address)] = std::move(a);
  addresses_.clear();
  std::set<std::string> wanted;
  for (const auto& s : plan.services)
    for (const auto& a : s.addresses) wanted.insert(key_of(s.spec.name, a.display()));

  std::vector<std::unique_ptr<ServiceAddress>> removed;
  for (auto it = current.begin(); it != current.end();) {
    if (wanted.count(it->first)) {
      ++it;
    } else {
      removed.push_back(std::move(it->second));
      it = current.erase(it);
    }
  }
  for (const auto& s : plan.services) {
    for (size_t i = 0; i < s.addresses.size(); ++i) {
      ServiceAddressConfig config = address_config(s, i);
      auto it = current.find(key_of(s.spec.name, config.address));
      if (it != current.end()) {
        ServiceAddress& a = *it->second;
        a.reconfigure(std::move(config));
        int recycled = a.recycle_workers();
        if (recycled) CUBBY_LOG_INFO("%s: recycling %d worker(s)", a.label().c_str(), recycled);
        if (a.disabled() || !a.accepting()) a.enable();
        addresses_.push_back(std::move(it->second));
        current.erase(it);
        continue;
      }
      // A new address. If an entry being removed listens there (a renamed service), take its
      // socket over instead of binding again (the port or path is still in use by it).
      int fd = -1;
      for (auto& r : removed) {
        if (r->config().address == config.address) fd = r->take_listener();
      }
      std::string where = "SIGHUP: service \"" + s.spec.name + "\" (" + s.spec.origin +
                          "): cannot listen on " + config.address + ": ";
      if (fd < 0) {
        auto bound = open_listener(config.listen, std::nullopt);
        if (!bound) {
          CUBBY_LOG_ERR("%s%s", where.c_str(), bound.error().c_str());
          continue;
        }
        fd = *bound;
      }
      auto address = ServiceAddress::create(io_, std::move(config), fd);
      if (!address) {
        CUBBY_LOG_ERR("%s%s", where.c_str(), address.error().c_str());
        continue;
      }
      CUBBY_LOG_NOTICE("SIGHUP: %s added (prefork=%d, maxchild=%d)", (*address)->label().c_str(),
                       s.spec.prefork, s.spec.maxchild);
      (*address)->start();
      addresses_.push_back(std::move(address.value()));
    }
  }
  for (auto& r : removed) {
    CUBBY_LOG_NOTICE("SIGHUP: %s removed; %d worker(s) finishing", r->label().c_str(), r->total());
    r->retire();
    r->recycle_workers();
    if (r->total() > 0) retired_.push_back(std::move(r));
  }
}

void Master::reload_jobs(const MasterPlan& plan) {
  std::set<std::string> names;
  for (const auto& c : plan.events) {
    names.insert(c.spec.name);
    auto it = events_.find(c.spec.name);
    if (it != events_.end()) {
      it->second->reconfigure(job_config(c, false));
    } else {
      auto e = std::make_unique<ScheduledEvent>(io_, job_config(c, false));
      e->start();
      events_[c.spec.name] = std::move(e);
    }
  }
  for (auto it = events_.begin(); it != events_.end();) {
    if (names.count(it->first)) {
      ++it;
      continue;
    }
    it->second->stop();
    if (it->second->running()) old_events_.push_back(std::move(it->second));
    it = events_.erase(it);
  }

  names.clear();
  for (const auto& c : plan.daemons) {
    names.insert(c.spec.name);
    JobConfig config = job_config(c, true);
    auto it = daemons_.find(c.spec.name);
    if (it != daemons_.end() && it->second->config().launch.argv == config.launch.argv &&
        it->second->config().launch.path == config.launch.path) {
      it->second->signal(SIGHUP);  // as Cyrus: every child hears of the reload
      continue;
    }
    if (it != daemons_.end()) {
      CUBBY_LOG_NOTICE("SIGHUP: daemon \"%s\" changed; restarting it", c.spec.name.c_str());
      if (it->second->stop(SIGTERM)) old_daemons_.push_back(std::move(it->second));
      daemons_.erase(it);
    }
    auto d = std::make_unique<KeptDaemon>(io_, std::move(config));
    if (auto e = d->start(kDaemonWaitLimit))
      CUBBY_LOG_ERR("SIGHUP: daemon \"%s\" (%s): %s", c.spec.name.c_str(), c.spec.origin.c_str(),
                    e->c_str());
    daemons_[c.spec.name] = std::move(d);
  }
  for (auto it = daemons_.begin(); it != daemons_.end();) {
    if (names.count(it->first)) {
      ++it;
      continue;
    }
    CUBBY_LOG_NOTICE("SIGHUP: daemon \"%s\" removed; stopping it", it->first.c_str());
    if (it->second->stop(SIGTERM)) old_daemons_.push_back(std::move(it->second));
    it = daemons_.erase(it);
  }
}

void Master::reap() {
  // Read what workers said before they died, so it is credited to the right pids.
  for (auto& a : addresses_) a->read_status();
  for (auto& a : retired_) a->read_status();
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) break;
    bool known = false;
    for (auto* list : {&addresses_, &retired_}) {
      for (auto& a : *list) {
        if (!known && a->owns(pid)) {
          a->worker_exited(pid, status);
          known = true;
        }
      }
    }
    for (auto& [name, e] : events_) {
      if (!known && e->owns(pid)) {
        e->exited(pid, status);
        known = true;
      }
    }
    for (auto& e : old_events_) {
      if (!known && e->owns(pid)) {
        e->exited(pid, status);
        known = true;
      }
    }
    for (auto& [name, d] : daemons_) {
      if (!known && d->owns(pid)) {
        d->exited(pid, status);
        known = true;
      }
    }
    for (auto& d : old_daemons_) {
      if (!known && d->owns(pid)) {
        d->exited(pid, status);
        known = true;
      }
    }
    if (!known)
      CUBBY_LOG_DEBUG("reaped process %d (%s)", static_cast<int>(pid),
                      describe_wait_status(status).c_str());
  }
  std::erase_if(retired_, [](const auto& a) { return a->total() == 0; });
  std::erase_if(old_events_, [](const auto& e) { return e->running() == 0; });
  std::erase_if(old_daemons_, [](const auto& d) { return d->running() == 0; });
  if (stopping_) {
    finish_if_drained();
  } else {
    staff_all();
  }
}

void Master::staff_all() {
  for (auto& a : addresses_) a->staff();
}

int Master::live_children() const {
  int n = 0;
  for (const auto& a : addresses_) n += a->total();
  for (const auto& a : retired_) n += a->total();
  for (const auto& [name, e] : events_) n += e->running() ? 1 : 0;
  for (const auto& e : old_events_) n += e->running() ? 1 : 0;
  for (const auto& [name, d] : daemons_) n += d->running() ? 1 : 0;
  for (const auto& d : old_daemons_) n += d->running() ? 1 : 0;
  return n;
}

void Master::begin_shutdown(int exit_status) {
  if (stopping_) {
    CUBBY_LOG_NOTICE("already stopping; %d process(es) left", live_children());
    return;
  }
  stopping_ = true;
  exit_status_ = exit_status;
  textfile_timer_.cancel();
  int workers = 0;
  for (auto* list : {&addresses_, &retired_}) {
    for (auto& a : *list) {
      a->stop_accepting();
      workers += a->signal_workers(SIGTERM);
    }
  }
  int others = 0;
  for (auto& [name, e] : events_) {
    e->stop();
    others += e->signal(SIGTERM);
  }
  for (auto& e : old_events_) others += e->signal(SIGTERM);
  for (auto& [name, d] : daemons_) others += d->stop(SIGTERM);
  for (auto& d : old_daemons_) others += d->stop(SIGTERM);
  CUBBY_LOG_NOTICE("stopping: waiting up to %s for %d worker(s) and %d other process(es) to finish",
                   seconds(shutdown_timeout_).c_str(), workers, others);
  shutdown_deadline_.expires_after(shutdown_timeout_);
  shutdown_deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    CUBBY_LOG_WARNING("master_shutdown_timeout (%s) passed; killing %d worker(s)",
                      seconds(shutdown_timeout_).c_str(), live_children());
    for (auto* list : {&addresses_, &retired_})
      for (auto& a : *list) a->signal_workers(SIGKILL);
    for (auto& [name, e] : events_) e->signal(SIGKILL);
    for (auto& e : old_events_) e->signal(SIGKILL);
    for (auto& [name, d] : daemons_) d->signal(SIGKILL);
    for (auto& d : old_daemons_) d->signal(SIGKILL);
  });
  finish_if_drained();
}

void Master::finish_if_drained() {
  if (live_children() > 0) return;
  shutdown_deadline_.cancel();
  io_.stop();
}

MasterStatus Master::snapshot() const {
  MasterStatus s;
  s.pid = getpid();
  s.user = user_;
  s.started = started_at_;
  s.now = std::chrono::system_clock::now();
  s.settings_path = plan_.settings_path;
  s.services_path = plan_.services_path;
  s.reloads = reloads_;
  s.reload_failures = reload_failures_;
  s.last_reload = last_reload_;
  s.last_reload_at = last_reload_at_;
  s.stopping = stopping_;
  for (const auto& a : addresses_) s.addresses.push_back(a->status());
  for (const auto& a : retired_) s.addresses.push_back(a->status());
  for (const auto& [name, e] : events_) s.jobs.push_back(e->status());
  for (const auto& [name, d] : daemons_) s.jobs.push_back(d->status());
  return s;
}

std::string Master::answer(const std::string& request) const {
  MasterStatus s = snapshot();
  if (request == "status json") return render_status_json(s);
  if (request == "metrics") return render_metrics(s);
  return render_status_text(s);
}

void Master::schedule_textfile() {
  textfile_timer_.cancel();
  if (plan_.settings.get_string("metrics_textfile").empty() || stopping_) return;
  write_textfile();
  auto interval = plan_.settings.get_duration("metrics_interval");
  if (interval.count() <= 0) interval = std::chrono::seconds(15);
  textfile_timer_.expires_after(interval);
  textfile_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) schedule_textfile();
  });
}

void Master::write_textfile() {
  const std::string path = plan_.settings.get_string("metrics_textfile");
  if (path.empty()) return;
  auto r = replace_file(path, render_metrics(snapshot()), 0644);
  if (!r && r.error() != textfile_error_)
    CUBBY_LOG_ERR("metrics_textfile: cannot write %s", r.error().c_str());
  textfile_error_ = r ? "" : r.error();
}

}  // namespace cubby::server
