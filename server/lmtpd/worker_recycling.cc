// Idle and replaced-executable recycling of a worker; see worker_recycling.h.
#include "server/lmtpd/worker_recycling.h"

#include <unistd.h>

#include <random>

#include "conf/log.h"

namespace cubby::server {

WorkerRecycler::WorkerRecycler(boost::asio::io_context& io, std::chrono::seconds idle,
                               std::function<void(const std::string&)> drain)
    : idle_timer_(io), exe_timer_(io), idle_(0), drain_(std::move(drain)) {
  if (idle.count() > 0) {
    std::random_device seed;
    std::minstd_rand random(seed() ^ static_cast<unsigned>(getpid()));
    idle_ = idle + std::chrono::seconds(random() % static_cast<unsigned long>(idle.count()));
  }
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    exe_path_.assign(buf, static_cast<size_t>(n));
    exe_known_ = stat(exe_path_.c_str(), &exe_) == 0;
  }
}

void WorkerRecycler::start() {
  if (!exe_known_) {
    CUBBY_LOG_DEBUG("cannot watch the executable %s for replacement", exe_path_.c_str());
    return;
  }
  check_executable();
}

void WorkerRecycler::stop() {
  done_ = true;
  idle_timer_.cancel();
  exe_timer_.cancel();
}

void WorkerRecycler::sessions_changed(size_t open) {
  if (done_) return;
  if (open > 0) {
    served_ = true;
    idle_timer_.cancel();
    return;
  }
  if (!served_ || idle_.count() == 0) return;
  idle_timer_.expires_after(idle_);
  idle_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    recycle("no session for " + std::to_string(idle_.count()) + " s (-T)");
  });
}

void WorkerRecycler::check_executable() {
  if (done_) return;
  struct stat now;
  // A missing file (being replaced right now) is looked at again next time.
  if (stat(exe_path_.c_str(), &now) == 0 &&
      (now.st_ino != exe_.st_ino || now.st_dev != exe_.st_dev || now.st_size != exe_.st_size ||
       now.st_mtim.tv_sec != exe_.st_mtim.tv_sec || now.st_mtim.tv_nsec != exe_.st_mtim.tv_nsec)) {
    return recycle(exe_path_ + " has changed on disk");
  }
  exe_timer_.expires_after(std::chrono::seconds(1));
  exe_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) check_executable();
  });
}

void WorkerRecycler::recycle(const std::string& why) {
  if (done_) return;
  stop();
  CUBBY_LOG_INFO("%s: recycling this worker", why.c_str());
  drain_(why);
}

}  // namespace cubby::server
