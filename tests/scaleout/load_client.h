// LoadClient: a thread that keeps sending messages through the front end while a test breaks
// something (kills a back end, stops PostgreSQL), recording for every message the test's phase
// when it began and when its last reply came, so the checks can tell which messages saw the
// failure for certain and which straddled a change.
//
// Each message goes to 3 to 8 users (seeded random) chosen by `pick`; ids are "<prefix><n>".
// Reconnects after a dialogue error. stop() (or the destructor) ends the thread after the message
// in flight; records() may be read after that.
#pragma once

#include <atomic>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/scaleout/scaleout_fixture.h"

namespace cubby::scaleout {

struct LoadRecord {
  std::string id;
  std::vector<int> users;
  int phase_before = 0;
  int phase_after = 0;
  Exchange exchange;
};

class LoadClient {
 public:
  // `connect` opens a greeted connection (ScaleOut::connect_front); `users` is the number of
  // users to choose from; `pause` is waited between messages.
  LoadClient(std::function<bool(LmtpClient&, std::string*)> connect, int users,
             const std::atomic<int>& phase, std::string prefix,
             std::chrono::milliseconds pause = 0ms)
      : connect_(std::move(connect)), users_(users), phase_(phase), prefix_(std::move(prefix)),
        pause_(pause) {
    thread_ = std::thread([this] { run(); });
  }
  ~LoadClient() { stop(); }
  LoadClient(const LoadClient&) = delete;
  LoadClient& operator=(const LoadClient&) = delete;

  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int sent() const { return sent_; }
  // Waits until `n` more messages than now have been answered (false after `timeout`).
  bool wait_more(int n, std::chrono::milliseconds timeout) const {
    const int target = sent_ + n;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (sent_ < target) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  const std::vector<LoadRecord>& records() const { return records_; }

 private:
  void run() {
    std::mt19937 random(1616);
    LmtpClient client;
    bool connected = false;
    for (int m = 0; !stopping_; ++m) {
      LoadRecord r;
      r.id = prefix_ + std::to_string(m);
      std::vector<int> all(users_);
      for (int u = 0; u < users_; ++u) all[u] = u;
      std::shuffle(all.begin(), all.end(), random);
      all.resize(3 + random() % 6);
      r.users = all;
      r.phase_before = phase_;
      std::string why;
      if (!connected && !(connected = connect_(client, &why))) {
        r.exchange.error = why;
      } else {
        r.exchange = ScaleOut::send_to_users(client, r.id, r.users);
        connected = r.exchange.error.empty();
      }
      r.phase_after = phase_;
      records_.push_back(std::move(r));
      ++sent_;
      if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
    }
    client.command("QUIT");
  }

  std::function<bool(LmtpClient&, std::string*)> connect_;
  int users_;
  const std::atomic<int>& phase_;
  std::string prefix_;
  std::chrono::milliseconds pause_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> sent_{0};
  std::vector<LoadRecord> records_;  // the thread's until stop()
  std::thread thread_;
};

}  // namespace cubby::scaleout
