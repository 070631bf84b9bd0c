// Supervision of one service address: status pipe, workers, staffing; see master_service.h.
#include "server/master_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conf/log.h"
#include "server/worker_protocol.h"

namespace cubby::server {

namespace asio = boost::asio;

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
  int flags = fcntl(listen_fd, F_GETFL);
  if (flags >= 0) fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK);
  return std::unique_ptr<ServiceAddress>(
      new ServiceAddress(io, std::move(config), listen_fd, fds[0], fds[1]));
}

ServiceAddress::ServiceAddress(asio::io_context& io, ServiceAddressConfig config, int listen_fd,
                               int status_read, int status_write)
    : config_(std::move(config)),
      label_("service \"" + config_.service + "\" (" + config_.address + ")"),
      listener_(io, listen_fd),
      status_(io, status_read),
      status_write_(status_write),
      retry_(io) {
  struct stat st;
  if (!config_.unix_path.empty() && stat(config_.unix_path.c_str(), &st) == 0) {
    unix_dev_ = st.st_dev;
    unix_ino_ = st.st_ino;
  }
}

ServiceAddress::~ServiceAddress() {
  if (status_write_ >= 0) close(status_write_);
}

void ServiceAddress::start() {
  started_ = true;
  wait_status();
  staff();
}

int ServiceAddress::ready() const {
  int n = 0;
  for (const auto& [pid, w] : workers_) n += w.ready;
  return n;
}

void ServiceAddress::staff() {
  if (!started_ || !accepting()) return;
  StaffingInput in{ready(), total(), config_.prefork, config_.maxchild};
  StaffingDecision d = decide_staffing(in);
  for (int i = 0; i < d.fork; ++i) {
    if (!fork_worker()) return;
  }
  if (at_maxchild_.update(d.at_maxchild)) {
    CUBBY_LOG_WARNING("%s reached maxchild=%d; connections wait in the listen backlog",
                      label_.c_str(), config_.maxchild);
  }
  if (d.watch_listener) watch_listener();
}

bool ServiceAddress::fork_worker() {
  Launch launch = config_.launch;
  launch.status_fd = status_write_;
  launch.listen_fd = listener_.native_handle();
  auto pid = spawn(launch);
  if (!pid) {
    CUBBY_LOG_ERR("%s: cannot start a worker: %s; retrying in 1 s", label_.c_str(),
                  pid.error().c_str());
    if (!retry_armed_) {
      retry_armed_ = true;
      retry_.expires_after(std::chrono::seconds(1));
      retry_.async_wait([this](const boost::system::error_code& ec) {
        retry_armed_ = false;
        if (!ec) staff();
      });
    }
    return false;
  }
  workers_[*pid] = Worker{};
  CUBBY_LOG_DEBUG("%s: started worker %d", label_.c_str(), static_cast<int>(*pid));
  return true;
}

void ServiceAddress::watch_listener() {
  if (watching_ || !accepting()) return;
  watching_ = true;
  listener_.async_wait(
      asio::posix::descriptor_base::wait_read, [this](const boost::system::error_code& ec) {
        watching_ = false;
        if (ec || !accepting()) return;
        // A connection waits. Fork one worker if the rule still says so; a
        // status message may have made a worker ready meanwhile.
        StaffingDecision d = decide_staffing({ready(), total(), config_.prefork, config_.maxchild});
        if (d.watch_listener) fork_worker();
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
  switch (static_cast<WorkerStatus>(status)) {
    case WorkerStatus::kReady:
      it->second.ready = true;
      break;
    case WorkerStatus::kBusy:
      it->second.ready = false;
      break;
    case WorkerStatus::kConnection:
      ++it->second.connections;
      ++connections_;
      break;
    default:
      CUBBY_LOG_WARNING("%s: worker %d sent unknown status %d", label_.c_str(),
                        static_cast<int>(pid), status);
  }
}

void ServiceAddress::worker_exited(pid_t pid, int wait_status) {
  auto it = workers_.find(pid);
  if (it == workers_.end()) return;
  workers_.erase(it);
  bool normal = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  if (normal) {
    CUBBY_LOG_DEBUG("%s: worker %d exited", label_.c_str(), static_cast<int>(pid));
    return;
  }
  std::string how = describe_wait_status(wait_status);
  if (!accepting()) {
    // Stopping or disabled: exits are expected (a worker killed at the shutdown deadline, say).
    CUBBY_LOG_NOTICE("%s: worker %d %s", label_.c_str(), static_cast<int>(pid), how.c_str());
    return;
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == kExitTempFail) {
    CUBBY_LOG_NOTICE("%s: worker %d %s (temporary failure)", label_.c_str(), static_cast<int>(pid),
                     how.c_str());
    return;
  }
  CUBBY_LOG_ERR("%s: worker %d %s", label_.c_str(), static_cast<int>(pid), how.c_str());
  if (failures_.record(FailureWindow::Clock::now())) {
    CUBBY_LOG_ERR("too many failures for %s, disabling until restart", label_.c_str());
    stop_accepting();
  }
}

void ServiceAddress::stop_accepting() {
  if (!accepting()) return;
  boost::system::error_code ignored;
  listener_.close(ignored);
  retry_.cancel();
  struct stat st;
  if (!config_.unix_path.empty() && lstat(config_.unix_path.c_str(), &st) == 0 &&
      st.st_dev == unix_dev_ && st.st_ino == unix_ino_) {
    unlink(config_.unix_path.c_str());
  }
}

int ServiceAddress::signal_workers(int sig) {
  for (const auto& [pid, w] : workers_) kill(pid, sig);
  return total();
}

}  // namespace cubby::server
