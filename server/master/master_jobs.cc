// EVENTS runs and kept DAEMONs; see master_jobs.h.
#include "server/master/master_jobs.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conf/log.h"

namespace cubby::server {
namespace {

using SystemClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;

std::string seconds_since(SteadyClock::time_point start) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f s",
           std::chrono::duration<double>(SteadyClock::now() - start).count());
  return buf;
}

bool normal_exit(int wait_status) {
  return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

}  // namespace

// ---- ScheduledEvent ----

ScheduledEvent::ScheduledEvent(boost::asio::io_context& io, JobConfig config)
    : config_(std::move(config)), timer_(io) {}

void ScheduledEvent::start() { schedule(first_event_run(config_.timing, SystemClock::now())); }

void ScheduledEvent::reconfigure(JobConfig config) {
  bool timing_changed = config.timing.period_seconds != config_.timing.period_seconds ||
                        config.timing.at_hhmm != config_.timing.at_hhmm;
  config_ = std::move(config);
  // An unchanged schedule keeps its next run (a reload must not run every event once more).
  if (timing_changed || !scheduled_) {
    stop();
    if (timing_changed) start();
  }
}

void ScheduledEvent::stop() {
  scheduled_ = false;
  timer_.cancel();
}

void ScheduledEvent::schedule(SystemClock::time_point when) {
  due_ = when;
  scheduled_ = true;
  timer_.expires_at(when);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !scheduled_) return;
    fire();
  });
}

void ScheduledEvent::fire() {
  scheduled_ = false;
  if (pid_ > 0) {
    ++skipped_;
    CUBBY_LOG_WARNING(
        "event \"%s\": the run started %s ago (pid %d) is still going; skipping this "
        "one",
        config_.name.c_str(), seconds_since(started_).c_str(), static_cast<int>(pid_));
  } else {
    auto pid = spawn(config_.launch);
    if (!pid) {
      ++failures_;
      last_exit_ = "could not start: " + pid.error();
      CUBBY_LOG_ERR("event \"%s\" (%s): %s", config_.name.c_str(), config_.origin.c_str(),
                    last_exit_.c_str());
    } else {
      pid_ = *pid;
      started_ = SteadyClock::now();
      ++runs_;
      CUBBY_LOG_INFO("event \"%s\": running %s (pid %d)", config_.name.c_str(),
                     config_.launch.path.c_str(), static_cast<int>(pid_));
    }
  }
  if (auto next = next_event_run(config_.timing, due_, SystemClock::now())) schedule(*next);
}

void ScheduledEvent::exited(pid_t pid, int wait_status) {
  if (pid != pid_) return;
  pid_ = 0;
  last_exit_ = describe_wait_status(wait_status);
  if (normal_exit(wait_status)) {
    CUBBY_LOG_INFO("event \"%s\" (pid %d) %s after %s", config_.name.c_str(), static_cast<int>(pid),
                   last_exit_.c_str(), seconds_since(started_).c_str());
  } else {
    ++failures_;
    CUBBY_LOG_ERR("event \"%s\" (pid %d) %s after %s", config_.name.c_str(), static_cast<int>(pid),
                  last_exit_.c_str(), seconds_since(started_).c_str());
  }
}

int ScheduledEvent::signal(int sig) {
  if (pid_ <= 0) return 0;
  kill(pid_, sig);
  return 1;
}

JobStatus ScheduledEvent::status() const {
  JobStatus s;
  s.kind = "event";
  s.name = config_.name;
  s.origin = config_.origin;
  s.pid = pid_;
  s.runs = runs_;
  s.failures = failures_;
  s.last_exit = last_exit_;
  if (scheduled_) s.next_run = due_;
  return s;
}

// ---- KeptDaemon ----

KeptDaemon::KeptDaemon(boost::asio::io_context& io, JobConfig config)
    : config_(std::move(config)), restart_(io) {}

bool KeptDaemon::spawn_now() {
  auto pid = spawn(config_.launch);
  if (!pid) {
    ++failures_;
    last_exit_ = "could not start: " + pid.error();
    CUBBY_LOG_ERR("daemon \"%s\" (%s): %s", config_.name.c_str(), config_.origin.c_str(),
                  last_exit_.c_str());
    return false;
  }
  pid_ = *pid;
  started_ = SteadyClock::now();
  ++runs_;
  CUBBY_LOG_INFO("daemon \"%s\": started %s (pid %d)", config_.name.c_str(),
                 config_.launch.path.c_str(), static_cast<int>(pid_));
  return true;
}

std::optional<std::string> KeptDaemon::start(std::chrono::milliseconds wait_limit) {
  stopped_ = false;
  if (!config_.wait) {
    if (!spawn_now()) exited(0, 0);  // schedules a retry
    return std::nullopt;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + strerror(errno);
  Launch saved = config_.launch;
  config_.launch.status_fd = fds[1];
  bool started = spawn_now();
  config_.launch = saved;
  close(fds[1]);
  if (!started) {
    close(fds[0]);
    return "could not start: " + last_exit_;
  }
  // Read "ok\r\n" (Cyrus's wait daemon handshake) within the limit.
  std::string got;
  auto deadline = SteadyClock::now() + wait_limit;
  while (got.size() < 4) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[4];
    ssize_t n = read(fds[0], buf, 4 - got.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (got == "ok\r\n") return std::nullopt;
  kill(pid_, SIGTERM);
  stopped_ = true;
  return got.empty() ? std::string("did not write \"ok\\r\\n\" to fd 3 in time")
                     : "wrote \"" + got + "\" to fd 3 instead of \"ok\\r\\n\"";
}

int KeptDaemon::stop(int sig) {
  stopped_ = true;
  restart_.cancel();
  return signal(sig);
}

int KeptDaemon::signal(int sig) {
  if (pid_ <= 0) return 0;
  kill(pid_, sig);
  return 1;
}

void KeptDaemon::exited(pid_t pid, int wait_status) {
  if (pid != pid_) return;
  auto ran = pid > 0 ? SteadyClock::now() - started_ : SteadyClock::duration::zero();
  if (pid > 0) {
    pid_ = 0;
    last_exit_ = describe_wait_status(wait_status);
    if (!normal_exit(wait_status)) ++failures_;
    if (stopped_) {
      CUBBY_LOG_INFO("daemon \"%s\" (pid %d) %s", config_.name.c_str(), static_cast<int>(pid),
                     last_exit_.c_str());
      return;
    }
  }
  if (stopped_) return;
  auto delay = backoff_.after_exit(ran);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(delay).count();
  if (pid > 0) {
    CUBBY_LOG_WARNING("daemon \"%s\" (pid %d) %s after %s; starting it again in %lld ms",
                      config_.name.c_str(), static_cast<int>(pid), last_exit_.c_str(),
                      seconds_since(started_).c_str(), static_cast<long long>(ms));
  }
  restart_.expires_after(delay);
  restart_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    if (!spawn_now()) exited(0, 0);
  });
}

JobStatus KeptDaemon::status() const {
  JobStatus s;
  s.kind = "daemon";
  s.name = config_.name;
  s.origin = config_.origin;
  s.pid = pid_;
  s.runs = runs_;
  s.failures = failures_;
  s.last_exit = last_exit_;
  return s;
}

}  // namespace cubby::server
