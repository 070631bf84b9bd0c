// WorkerRecycler: ends an lmtpd worker that is no longer wanted, by calling its `drain` callback
// once (the worker then stops accepting, finishes what is in flight and exits 0; under
// cubby-master a fresh worker takes its place when one is needed):
//   - idle (-T seconds): once it has served a connection, when no session has been open for T to
//     2T-1 seconds (the exact time is picked at random once per process, as Cyrus does, so that
//     workers started together do not leave together), so the master can shrink back to prefork;
//     T = 0 turns this off;
//   - replaced: the executable it was started from (the file /proc/self/exe named at start) now
//     has another inode, size or modification time, as after a package upgrade; checked every
//     second.
// The worker reports every change in its number of open sessions through sessions_changed().
// Runs on the worker's io_context, which must outlive it.
#pragma once

#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>

namespace cubby::server {

class WorkerRecycler {
 public:
  WorkerRecycler(boost::asio::io_context& io, std::chrono::seconds idle,
                 std::function<void(const std::string& why)> drain);
  WorkerRecycler(const WorkerRecycler&) = delete;
  WorkerRecycler& operator=(const WorkerRecycler&) = delete;

  // Starts watching.
  void start();
  // The worker has `open` sessions now.
  void sessions_changed(size_t open);
  // Stops watching (the worker is draining for another reason).
  void stop();
  // The idle time picked for this process (T..2T-1), zero when off.
  std::chrono::seconds idle_limit() const { return idle_; }

 private:
  void check_executable();
  void recycle(const std::string& why);

  boost::asio::steady_timer idle_timer_, exe_timer_;
  std::chrono::seconds idle_;
  std::function<void(const std::string&)> drain_;
  std::string exe_path_;
  struct stat exe_ {};
  bool exe_known_ = false, served_ = false, done_ = false;
};

}  // namespace cubby::server
