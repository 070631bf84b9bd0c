// The power-cut loop and the journal's rollback; see power_cut.h.
#include "tests/e2e/power_cut.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "tests/e2e/lmtp_client.h"
#include "tests/e2e/stored_message.h"

namespace cubby::e2e {
namespace {

struct Record {
  char kind = 0;
  std::vector<std::string> f;  // the fields after the kind
  bool durable = false;
};

void walk(const std::string& dir, std::map<ino_t, std::string>* files) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      walk(path, files);
    } else if (S_ISREG(st.st_mode)) {
      files->emplace(st.st_ino, path);
    }
  }
  ::closedir(d);
}

std::string read_range(const std::string& file, uint64_t off, size_t n) {
  std::string buf(n, '\0');
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  ssize_t r = ::pread(fd, buf.data(), n, static_cast<off_t>(off));
  ::close(fd);
  buf.resize(r > 0 ? static_cast<size_t>(r) : 0);
  return buf;
}

}  // namespace

RollbackCounts roll_back(const std::string& jdir, const std::vector<std::string>& roots) {
  RollbackCounts counts;
  std::vector<Record> recs;
  {
    std::ifstream in(jdir + "/journal");
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // an unterminated last line was never complete
      std::istringstream ls(line);
      Record r;
      std::string kind;
      ls >> kind;
      r.kind = kind.empty() ? 0 : kind[0];
      std::string w;
      while (ls >> w) r.f.push_back(w);
      recs.push_back(std::move(r));
    }
  }
  counts.records = recs.size();
  // The harness's self-test (power_cut.h): syncs ignored, as if the server had not made them.
  if (const char* drop = getenv("CUBBY_POWER_CUT_DROP")) {
    for (auto& r : recs) {
      if (r.kind == drop[0]) r.kind = 'x';
    }
  }
  // Which records were made durable by a later sync.
  std::map<std::string, std::vector<size_t>> by_ino, by_dir;
  std::map<size_t, int> needs;  // rename: both directories must be synced
  for (size_t i = 0; i < recs.size(); ++i) {
    Record& r = recs[i];
    switch (r.kind) {
      case 'W':
      case 'T':
        by_ino[r.f[0]].push_back(i);
        break;
      case 'S':
        for (size_t j : by_ino[r.f[0]]) recs[j].durable = true;
        by_ino[r.f[0]].clear();
        r.durable = true;
        break;
      case 'C':
      case 'U':
        by_dir[r.f[0]].push_back(i);
        break;
      case 'R':
        by_dir[r.f[0]].push_back(i);
        needs[i] = 1;
        if (r.f[2] != r.f[0]) {
          by_dir[r.f[2]].push_back(i);
          needs[i] = 2;
        }
        break;
      case 'D':
        for (size_t j : by_dir[r.f[0]]) {
          if (recs[j].kind == 'R') {
            if (--needs[j] == 0) recs[j].durable = true;
          } else {
            recs[j].durable = true;
          }
        }
        by_dir[r.f[0]].clear();
        r.durable = true;
        break;
      default:
        r.durable = true;  // 'x': a sync ignored on purpose (CUBBY_POWER_CUT_DROP)
    }
  }
  std::map<ino_t, std::string> files;
  for (const auto& root : roots) walk(root, &files);
  walk(jdir, &files);  // shadows keep removed inodes reachable
  auto path_of = [&](const std::string& ino) -> std::string {
    auto it = files.find(static_cast<ino_t>(std::stoull(ino)));
    if (it == files.end()) return "";
    struct stat st;
    if (::stat(it->second.c_str(), &st) != 0 || st.st_ino != it->first) return "";
    return it->second;
  };
  for (size_t k = recs.size(); k-- > 0;) {
    const Record& r = recs[k];
    if (r.durable) continue;
    if (r.kind == 'W' || r.kind == 'T') {
      std::string path = path_of(r.f[0]);
      if (path.empty()) continue;  // the inode is gone (its names were undone or removed)
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) continue;
      if (r.kind == 'W') {  // W ino off len oldsize datafile dataoff oldlen
        uint64_t off = std::stoull(r.f[1]), oldsize = std::stoull(r.f[3]);
        std::string old = read_range(jdir + "/" + r.f[4], std::stoull(r.f[5]), std::stoull(r.f[6]));
        if (!old.empty()) (void)!::pwrite(fd, old.data(), old.size(), static_cast<off_t>(off));
        struct stat st;
        if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) > oldsize) {
          (void)!::ftruncate(fd, static_cast<off_t>(oldsize));
        }
      } else {  // T ino newsize oldsize datafile dataoff oldlen
        uint64_t newsize = std::stoull(r.f[1]), oldsize = std::stoull(r.f[2]);
        std::string old = read_range(jdir + "/" + r.f[3], std::stoull(r.f[4]), std::stoull(r.f[5]));
        (void)!::ftruncate(fd, static_cast<off_t>(oldsize));
        if (!old.empty()) (void)!::pwrite(fd, old.data(), old.size(), static_cast<off_t>(newsize));
      }
      ::close(fd);
      ++counts.undone_writes;
    } else if (r.kind == 'C') {
      std::string path = r.f[0] + "/" + r.f[1];
      if (::unlink(path.c_str()) == 0) ++counts.undone_entries;
    } else if (r.kind == 'U') {
      std::string path = r.f[0] + "/" + r.f[1];
      if (::link((jdir + "/" + r.f[2]).c_str(), path.c_str()) == 0) {
        ++counts.undone_entries;
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) files[st.st_ino] = path;
      }
    } else if (r.kind == 'R') {
      std::string from = r.f[0] + "/" + r.f[1], to = r.f[2] + "/" + r.f[3];
      if (::rename(to.c_str(), from.c_str()) == 0) {
        ++counts.undone_entries;
        struct stat st;
        if (::stat(from.c_str(), &st) == 0) files[st.st_ino] = from;
      }
      if (r.f[4] != "-") (void)!::link((jdir + "/" + r.f[4]).c_str(), to.c_str());
    }
  }
  // The journal is spent; SQLite rebuilds its shared-memory index from the WAL.
  DIR* d = ::opendir(jdir.c_str());
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    std::string name = e->d_name;
    if (name != "." && name != "..") ::unlink((jdir + "/" + name).c_str());
  }
  if (d) ::closedir(d);
  return counts;
}

namespace {

using Clock = std::chrono::steady_clock;

// The environment every program started from here on inherits (the master, its workers and
// cubbyctl), so that all of them run journaled; undone when the run ends.
class JournaledEnvironment {
 public:
  JournaledEnvironment(const std::string& fault_lib, const std::vector<std::string>& roots,
                       const std::string& jdir) {
    ::setenv("LD_PRELOAD", fault_lib.c_str(), 1);
    ::setenv("CUBBY_FAULT_ROOT", (roots[0] + ":" + roots[1]).c_str(), 1);
    ::setenv("CUBBY_FAULT_JOURNAL", jdir.c_str(), 1);
  }
  ~JournaledEnvironment() {
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("CUBBY_FAULT_ROOT");
    ::unsetenv("CUBBY_FAULT_JOURNAL");
  }
  JournaledEnvironment(const JournaledEnvironment&) = delete;
  JournaledEnvironment& operator=(const JournaledEnvironment&) = delete;
};

class PowerCutRun {
 public:
  PowerCutRun(CubbyInstance& cubby, const PowerCutOptions& options, PowerCutCounts* counts)
      : cubby_(cubby), options_(options), counts_(*counts) {}

  // One transaction of a new message to `users` on `c`; true when every recipient got its 250.
  bool deliver(const std::string& id, const std::set<std::string>& users, LmtpClient& c,
               bool greet) {
    SentMessage s;
    s.content = test_message(id, 20 + next_id_ % 50);
    s.targets = users;
    std::vector<std::string> rcpts, order(users.begin(), users.end());
    for (const auto& u : order) rcpts.push_back(u + "@e2e.test");
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_[id] = s;
    }
    if (!c.begin_transaction(kPowerCutSender, rcpts, greet).empty()) return false;
    if (!c.send_data(s.content)) return false;
    auto replies = c.read_replies(rcpts.size());
    std::lock_guard<std::mutex> lock(mu_);
    bool all = replies.size() == rcpts.size();
    for (size_t i = 0; i < replies.size() && i < order.size(); ++i) {
      if (replies[i].code == 250) {
        sent_[id].acked.insert(order[i]);
      } else {
        all = false;
        if (replies[i].code >= 400) sent_[id].refused.insert(order[i]);
      }
    }
    return all;
  }

  // Verifies the recovered store (power_cut.h); the instance is running and idle.
  void verify(const std::string& when) {
    SCOPED_TRACE(when);
    std::map<std::string, size_t> on_disk;
    size_t files = 0;
    for (const auto& u : options_.users) {
      InboxFiles inbox = read_inbox(cubby_, options_.format, u);
      for (const auto& problem : inbox.problems) ADD_FAILURE() << problem;
      std::map<std::string, int> visible;
      for (const auto& copy : inbox.copies) {
        const std::string id = message_id_of(copy.bytes);
        auto it = sent_.find(id);
        ASSERT_NE(it, sent_.end()) << copy.path << ": never sent: " << id;
        EXPECT_TRUE(it->second.targets.count(u)) << id << " is in " << u << "'s mailbox";
        EXPECT_FALSE(it->second.refused.count(u))
            << id << " was refused for " << u << " but is in the mailbox";
        EXPECT_EQ(check_stored(copy.bytes, kPowerCutSender, "[unix socket]", it->second.content),
                  "")
            << copy.path << " (uid " << copy.uid << ")";
        EXPECT_EQ(++visible[id], 1) << id << " twice in " << u;
        auto [seen, fresh] = uid_seen_[u].emplace(copy.uid, copy.guid);
        EXPECT_EQ(seen->second, copy.guid) << u << ": uid " << copy.uid << " reused";
        if (!it->second.acked.count(u) && fresh) ++counts_.lost_replies;
      }
      for (const auto& [id, s] : sent_) {
        if (!s.acked.count(u)) continue;
        ++counts_.checked;
        if (!visible.count(id)) {
          ++counts_.missing;
          ADD_FAILURE() << id << " acknowledged for " << u << " but missing";
        }
      }
      on_disk[u] = inbox.copies.size();
      files += inbox.copies.size();
    }
    counts_.files = files;
    EXPECT_TRUE(cubby_.wait_settled(20s));
    auto check = cubby_.ctl({"check"});
    EXPECT_EQ(check.exit_code, 0) << "cubbyctl check: " << check.describe();
    if (options_.after_recovery) {
      options_.after_recovery(when, sent_, on_disk);
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Every mailbox takes a delivery at once.
    LmtpClient c;
    EXPECT_TRUE(c.connect_unix(cubby_.socket_path())) << c.error();
    std::set<std::string> all(options_.users.begin(), options_.users.end());
    EXPECT_TRUE(deliver("probe-" + std::to_string(next_id_++) + "@example.org", all, c, true))
        << "a mailbox refused a delivery right after recovery";
  }

  // Load from two clients until the cut, then the cut.
  void load_and_cut(std::mt19937& rng) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    const int cut = counts_.cuts;
    for (unsigned t = 0; t < 2; ++t) {
      clients.emplace_back([&, t] {
        std::mt19937 r(options_.seed * 1000 + cut * 10 + t);
        LmtpClient c;
        c.set_timeout(3s);
        bool greet = true;
        while (!stop) {
          if (!c.connected()) {
            if (!c.connect_unix(cubby_.socket_path())) return;
            greet = true;
          }
          std::set<std::string> users;
          for (const auto& u : options_.users) {
            if (r() % 2) users.insert(u);
          }
          if (users.empty()) users.insert(options_.users[r() % options_.users.size()]);
          if (!deliver("cut-" + std::to_string(next_id_++) + "@example.org", users, c, greet)) {
            c.close();
          }
          greet = false;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 150));
    cubby_.crash();
    stop = true;
    for (auto& t : clients) t.join();
    ++counts_.cuts;
  }

  size_t sent() const { return sent_.size(); }

 private:
  CubbyInstance& cubby_;
  const PowerCutOptions& options_;
  PowerCutCounts& counts_;
  std::mutex mu_;      // guards sent_ while the load runs
  SentMessages sent_;  // Message-ID -> what
  std::map<std::string, std::map<int64_t, std::string>> uid_seen_;  // user -> uid -> guid
  std::atomic<int> next_id_{0};
};

Clock::duration lap(Clock::time_point& from) {
  const auto now = Clock::now();
  const Clock::duration d = now - from;
  from = now;
  return d;
}

}  // namespace

void run_power_cuts(CubbyInstance& cubby, const std::string& root, const PowerCutOptions& options,
                    PowerCutCounts* counts) {
  ASSERT_FALSE(options.users.empty());
  ASSERT_FALSE(cubby.running()) << "run_power_cuts starts the instance itself";
  ::sync();  // the set-up is durable before the journal starts
  const std::string jdir = root + "/journal";
  ASSERT_EQ(::mkdir(jdir.c_str(), 0700), 0);
  const std::vector<std::string> roots = {root + "/lib", root + "/spool"};
  JournaledEnvironment journaled(options.fault_lib, roots, jdir);

  PowerCutRun run(cubby, options, counts);
  std::mt19937 rng(options.seed);
  const auto end = Clock::now() + std::chrono::seconds(options.seconds);
  while (counts->cuts < options.cuts && Clock::now() < end && !::testing::Test::HasFailure()) {
    auto t = Clock::now();
    auto error = cubby.start();  // recovery runs in every new worker
    ASSERT_FALSE(error) << *error;
    counts->start += lap(t);
    ASSERT_NO_FATAL_FAILURE(run.verify("after cut " + std::to_string(counts->cuts)));
    counts->verify += lap(t);
    run.load_and_cut(rng);
    counts->load += lap(t);
    RollbackCounts rc = roll_back(jdir, roots);
    counts->rollback.records += rc.records;
    counts->rollback.undone_writes += rc.undone_writes;
    counts->rollback.undone_entries += rc.undone_entries;
    ::unlink((root + "/lib/cubby.sqlite-shm").c_str());
    counts->roll += lap(t);
  }
  auto error = cubby.start();
  ASSERT_FALSE(error) << *error;
  ASSERT_NO_FATAL_FAILURE(run.verify("final"));
  counts->sent = run.sent();
}

std::string PowerCutCounts::summary(const std::string& label, unsigned seed) const {
  auto ms = [&](Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count() /
                          std::max(cuts, 1));
  };
  std::ostringstream s;
  s << "[ power cut ] " << label << " seed " << seed << ": " << cuts << " cut points, " << sent
    << " messages sent, " << checked
    << " acknowledged deliveries checked (cumulative over the cuts), " << missing
    << " of them missing, " << lost_replies
    << " committed deliveries whose 250 was lost in the cut, " << files
    << " message files at the end; journal " << rollback.records << " records, "
    << rollback.undone_writes << " writes and " << rollback.undone_entries
    << " directory entries rolled back\n"
    << "[ power cut ] per cut (ms): start " << ms(start) << ", verify " << ms(verify)
    << ", load and kill " << ms(load) << ", rollback " << ms(roll) << "\n";
  return s.str();
}

}  // namespace cubby::e2e
