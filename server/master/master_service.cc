// Supervision of one service address: status pipe, workers, staffing; see master_service.h.
#include "server/master/master_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conf/log.h"
#include "server/process/worker_protocol.h"

namespace cubby::server {

namespace asio = boost::asio;

namespace {
constexpr std::chrono::seconds kBabysitRetry{10};
}

Result<std::unique_ptr<ServiceAddress>, std::string> ServiceAddress::create(
    asio::io_context& io, ServiceAddressConfig config, int listen_fd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::string err = strerror(errno);
    close(listen_fd);
    return fail("cannot create a status pipe: " + err);
  }
  // Only the read end is non-blocking: a worker's status write must never fail with EAGAIN.
  fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) & ~O_NONBLOCK);
  return std::unique_ptr<ServiceAddress>(
      new ServiceAddress(io, std::move(config), listen_fd, fds[0], fds[1]));
}

ServiceAddress::ServiceAddress(asio::io_context& io, ServiceAddressConfig config, int listen_fd,
                               int status_read, int status_write)
    : config_(std::move(config)),
      label_("service \"" + config_.service + "\" (" + config_.address + ")"),
      listener_(io),
      status_(io, status_read),
      status_write_(status_write),
      retry_(io),
      enable_timer_(io),
      fork_rate_(config_.maxforkrate) {
  listening_since_ = std::chrono::system_clock::now();
  adopt_listener(listen_fd);
}

ServiceAddress::~ServiceAddress() {
  if (status_write_ >= 0) close(status_write_);
}

void ServiceAddress::adopt_listener(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  listener_.assign(fd);
  struct stat st;
  const conf::ListenAddress& a = config_.listen.address;
  if (a.is_unix && stat(a.path.c_str(), &st) == 0) {
    unix_dev_ = st.st_dev;
    unix_ino_ = st.st_ino;
  }
}

void ServiceAddress::start() {
  started_ = true;
  wait_status();
  staff();
}

int ServiceAddress::ready() const {
  int n = 0;
  for (const auto& [pid, w] : workers_) n += w.ready && !w.retiring;
  return n;
}

StaffingInput ServiceAddress::staffing_input() {
  const auto now = ForkRate::Clock::now();
  return {ready(),
          total(),
          config_.prefork,
          config_.maxchild,
          std::min(fork_rate_.allowance(now), replacement_.allowance(now)),
          owed_};
}

void ServiceAddress::staff() {
  if (!started_ || !accepting()) return;
  StaffingDecision d = decide_staffing(staffing_input());
  for (int i = 0; i < d.fork; ++i) {
    if (!fork_worker()) return;
    if (owed_ > 0) --owed_;
  }
  if (at_maxchild_.update(d.at_maxchild)) {
    ++maxchild_reached_;
    CUBBY_LOG_WARNING("%s reached maxchild=%d; connections wait in the listen backlog",
                      label_.c_str(), config_.maxchild);
  }
  const auto now = ReplacementBackoff::Clock::now();
  if (d.rate_limited && replacement_.allowance(now) == 0) {
    // Held back after deaths (logged when it began); staff again when the pause is over.
    retry_staffing(std::chrono::ceil<std::chrono::milliseconds>(replacement_.not_before() - now));
  } else if (d.rate_limited) {
    if (!rate_limit_logged_) {
      CUBBY_LOG_NOTICE("%s is forking at maxforkrate=%d per second; holding back", label_.c_str(),
                       config_.maxforkrate);
      rate_limit_logged_ = true;
    }
    retry_staffing(ForkRate::kRetry);
  } else {
    rate_limit_logged_ = false;
  }
  if (d.watch_listener) watch_listener();
}

void ServiceAddress::retry_staffing(std::chrono::milliseconds after) {
  if (retry_armed_) return;
  retry_armed_ = true;
  retry_.expires_after(after);
  retry_.async_wait([this](const boost::system::error_code& ec) {
    retry_armed_ = false;
    if (!ec) staff();
  });
}

bool ServiceAddress::fork_worker() {
  Launch launch = config_.launch;
  launch.status_fd = status_write_;
  launch.listen_fd = listener_.native_handle();
  auto region = CountersRegion::create();
  if (region) {
    launch.counters_fd = (*region)->fd();
  } else {
    CUBBY_LOG_WARNING("%s: worker counters unavailable: %s", label_.c_str(),
                      region.error().c_str());
  }
  auto pid = spawn(launch);
  if (!pid) {
    std::string text = "cannot start a worker: " + pid.error();
    CUBBY_LOG_ERR("%s: %s; retrying in 1 s", label_.c_str(), text.c_str());
    record_error(std::move(text));
    retry_staffing(std::chrono::seconds(1));
    return false;
  }
  fork_rate_.record_fork(ForkRate::Clock::now());
  ++forks_;
  Worker w;
  if (region) {
    (*region)->close_fd();
    w.counters = std::move(region.value());
  }
  workers_[*pid] = std::move(w);
  CUBBY_LOG_DEBUG("%s: started worker %d", label_.c_str(), static_cast<int>(*pid));
  return true;
}

void ServiceAddress::watch_listener() {
  if (watching_ || !accepting()) return;
  watching_ = true;
  listener_.async_wait(asio::posix::descriptor_base::wait_read,
                       [this](const boost::system::error_code& ec) {
                         watching_ = false;
                         if (ec || !accepting()) return;
                         // A connection waits. Fork one worker if the rule still says so; a
                         // status message may have made a worker ready meanwhile.
                         if (decide_staffing(staffing_input()).watch_listener) fork_worker();
                         staff();
                       });
}

void ServiceAddress::wait_status() {
  status_.async_wait(asio::posix::descriptor_base::wait_read,
                     [this](const boost::system::error_code& ec) {
                       if (ec) return;
                       read_status();
                       staff();
                       wait_status();
                     });
}

void ServiceAddress::read_status() {
  char buf[4096];
  for (;;) {
    ssize_t n = read(status_.native_handle(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained (EOF cannot happen: we hold the write end)
    pending_.append(buf, static_cast<size_t>(n));
  }
  size_t off = 0;
  for (; pending_.size() - off >= sizeof(StatusMessage); off += sizeof(StatusMessage)) {
    StatusMessage m;
    memcpy(&m, pending_.data() + off, sizeof m);
    handle_message(static_cast<int32_t>(m.status), m.pid);
  }
  pending_.erase(0, off);
}

void ServiceAddress::handle_message(int32_t status, pid_t pid) {
  auto it = workers_.find(pid);
  if (it == workers_.end()) {
    // A worker already reaped, or a process the worker started that kept fd 3.
    CUBBY_LOG_DEBUG("%s: status %d from unknown pid %d", label_.c_str(), status,
                    static_cast<int>(pid));
    return;
  }
  Worker& w = it->second;
  if (!w.reported) {
    w.reported = true;
    enable_retry_.reset();  // a worker started: whatever kept them from starting is gone
  }
  switch (static_cast<WorkerStatus>(status)) {
    case WorkerStatus::kReady:
      w.ready = true;
      break;
    case WorkerStatus::kBusy:
      w.ready = false;
      break;
    case WorkerStatus::kConnection:
      ++w.connections;
      ++connections_;
      w.in_session = true;
      last_connection_at_ = std::chrono::system_clock::now();
      break;
    case WorkerStatus::kIdle:
      w.in_session = false;
      break;
    default:
      CUBBY_LOG_WARNING("%s: worker %d sent unknown status %d", label_.c_str(),
                        static_cast<int>(pid), status);
  }
}

void ServiceAddress::record_error(std::string text) {
  last_error_ = std::move(text);
  last_error_at_ = std::chrono::system_clock::now();
}

void ServiceAddress::worker_exited(pid_t pid, int wait_status) {
  auto it = workers_.find(pid);
  if (it == workers_.end()) return;
  if (it->second.counters) gone_ += it->second.counters->snapshot();
  const bool retiring = it->second.retiring, reported = it->second.reported,
             in_session = it->second.in_session;
  workers_.erase(it);
  bool normal = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  // A recycled worker that does not handle SIGHUP (not lmtpd) dies of it: that is no failure.
  if (retiring && WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGHUP) normal = true;
  if (normal) {
    CUBBY_LOG_DEBUG("%s: worker %d exited", label_.c_str(), static_cast<int>(pid));
    return;
  }
  std::string how = describe_wait_status(wait_status);
  if (!accepting()) {
    // Stopping, removed or disabled: exits are expected (a worker killed at the shutdown deadline).
    CUBBY_LOG_NOTICE("%s: worker %d %s", label_.c_str(), static_cast<int>(pid), how.c_str());
    return;
  }
  const WorkerDeath kind = classify_death(reported, in_session);
  ++deaths_[static_cast<int>(kind)];
  if (kind == WorkerDeath::kBusy) ++owed_;
  const char* when = kind == WorkerDeath::kAtStart ? "before it was ready"
                     : kind == WorkerDeath::kBusy  ? "with connections open"
                                                   : "while idle";
  const bool tempfail = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == kExitTempFail;
  std::string text = "worker " + std::to_string(pid) + " " + how + " " + when +
                     (tempfail ? " (temporary failure)" : "");
  if (tempfail) {
    CUBBY_LOG_NOTICE("%s: %s", label_.c_str(), text.c_str());
  } else {
    CUBBY_LOG_ERR("%s: %s", label_.c_str(), text.c_str());
    ++failure_count_;
  }
  record_error(text);

  const auto now = FailureWindow::Clock::now();
  auto hold = holds_back_replacements(kind) ? replacement_.record(now)
                                            : ReplacementBackoff::Clock::duration::zero();
  if (hold == hold.zero()) {
    holding_back_logged_ = false;
  } else if (!holding_back_logged_) {
    holding_back_logged_ = true;
    CUBBY_LOG_WARNING(
        "%s: more than %d workers died within %lld s; holding replacements back "
        "(up to %lld ms after each death)",
        label_.c_str(), ReplacementBackoff::kFree,
        static_cast<long long>(ReplacementBackoff::kWindow.count()),
        static_cast<long long>(ReplacementBackoff::kMax.count()));
  }
  if (!counts_towards_disabling(kind, wait_status)) return;
  if (failures_.record(now)) disable(text);
}

void ServiceAddress::disable(const std::string& last_death) {
  stop_accepting();
  disabled_ = true;
  ++disabled_times_;
  const std::chrono::steady_clock::duration delay =
      config_.babysit ? std::chrono::steady_clock::duration(kBabysitRetry) : enable_retry_.next();
  const long long secs = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
  const long long window =
      std::chrono::duration_cast<std::chrono::seconds>(failures_.window()).count();
  std::string cause = "its workers cannot start: " + std::to_string(failures_.limit()) +
                      " exited before they were ready within " + std::to_string(window) +
                      " s, the last: " + last_death;
  CUBBY_LOG_ERR("%s disabled: %s; retrying in %lld s (SIGHUP retries at once)", label_.c_str(),
                cause.c_str(), secs);
  record_error("disabled: " + cause + "; retrying in " + std::to_string(secs) + " s");
  schedule_enable(delay);
}

void ServiceAddress::schedule_enable(std::chrono::steady_clock::duration delay) {
  retry_at_ = std::chrono::system_clock::now() +
              std::chrono::duration_cast<std::chrono::system_clock::duration>(delay);
  enable_timer_.expires_after(delay);
  enable_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !disabled_ || retired_) return;
    CUBBY_LOG_NOTICE("%s: disabled; trying again", label_.c_str());
    rebind();
  });
}

std::optional<std::string> ServiceAddress::enable() {
  enable_retry_.reset();
  replacement_.clear();
  holding_back_logged_ = false;
  return rebind();
}

std::optional<std::string> ServiceAddress::rebind() {
  enable_timer_.cancel();
  if (retired_) return std::string("removed");
  if (!accepting()) {
    auto fd = open_listener(config_.listen, std::nullopt);
    if (!fd) {
      std::string text = "cannot listen on " + config_.address + ": " + fd.error();
      CUBBY_LOG_ERR("%s: %s", label_.c_str(), text.c_str());
      record_error(text);
      if (disabled_) schedule_enable(enable_retry_.next());
      return text;
    }
    adopt_listener(*fd);
    if (disabled_) CUBBY_LOG_NOTICE("%s enabled again", label_.c_str());
  }
  disabled_ = false;
  retry_at_ = {};
  failures_.clear();
  at_maxchild_.update(false);
  staff();
  return std::nullopt;
}

void ServiceAddress::reconfigure(ServiceAddressConfig config) {
  config.listen.address = config_.listen.address;  // the same address, by contract
  config_ = std::move(config);
  fork_rate_.set_limit(config_.maxforkrate);
}

int ServiceAddress::recycle_workers() {
  for (auto& [pid, w] : workers_) {
    if (w.retiring) continue;
    w.retiring = true;
    kill(pid, SIGHUP);
  }
  return total();
}

void ServiceAddress::stop_accepting() {
  owed_ = 0;
  if (!accepting()) return;
  boost::system::error_code ignored;
  listener_.close(ignored);
  retry_.cancel();
  struct stat st;
  const conf::ListenAddress& a = config_.listen.address;
  if (a.is_unix && lstat(a.path.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
      st.st_ino == unix_ino_) {
    unlink(a.path.c_str());
  }
}

int ServiceAddress::take_listener() {
  if (!accepting()) return -1;
  boost::system::error_code ignored;
  listener_.cancel(ignored);
  int fd = listener_.release();
  retry_.cancel();
  return fd;
}

void ServiceAddress::retire() {
  retired_ = true;
  enable_timer_.cancel();
  stop_accepting();
}

int ServiceAddress::signal_workers(int sig) {
  for (const auto& [pid, w] : workers_) kill(pid, sig);
  return total();
}

ServiceAddressStatus ServiceAddress::status() const {
  ServiceAddressStatus s;
  s.service = config_.service;
  s.address = config_.address;
  s.origin = config_.origin;
  s.state = retired_ ? "removed" : disabled_ ? "disabled" : "enabled";
  for (const auto& [pid, w] : workers_) {
    if (w.retiring)
      ++s.retiring;
    else if (w.ready)
      ++s.ready;
    else
      ++s.busy;
    if (w.counters) s.counters += w.counters->snapshot();
  }
  s.counters += gone_;
  s.prefork = config_.prefork;
  s.maxchild = config_.maxchild;
  s.connections = connections_;
  s.forks = forks_;
  s.failures = failure_count_;
  for (int i = 0; i < kWorkerDeathKinds; ++i) s.deaths[i] = deaths_[i];
  s.disabled_times = disabled_times_;
  s.retry_at = disabled_ ? retry_at_ : std::chrono::system_clock::time_point{};
  s.last_connection_at = last_connection_at_;
  s.listening_since = listening_since_;
  s.maxchild_reached = maxchild_reached_;
  s.last_error = last_error_;
  s.last_error_at = last_error_at_;
  return s;
}

}  // namespace cubby::server
