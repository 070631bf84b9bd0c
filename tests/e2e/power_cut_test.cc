// Power-cut simulation (issue 8, docs/reliability.md), after LevelDB's fault_injection_test: the
// server runs under libcubby_fault.so in journal mode, which writes ahead every change under the
// index directory and the spool (file data, names created, removed and renamed) and marks what an
// fsync/fdatasync of the file or of its directory made durable. At a seeded random moment under
// load every process is SIGKILLed; the store is then rolled back to its last durable state (file
// data not synced is restored byte for byte and truncated, directory entries not synced are
// undone; SQLite's database and WAL are modelled like any file, its -shm dropped); the server
// starts again, its workers run recovery, and the test checks:
//   every message acknowledged with 250 is present, byte-exact, its GUID the XXH3 of the file;
//   every visible message was sent, once; those without a 250 (committed, reply lost) are counted;
//   no UID ever shows a different message (never reused); `cubbyctl check` passes;
//   every mailbox takes a new delivery at once.
// The run ends after CUBBY_POWER_CUT_COUNT cut points (default 200) or CUBBY_POWER_CUT_SECONDS
// (default 120), whichever comes first; CUBBY_POWER_CUT_SEED picks the cut points.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";
const std::vector<std::string> kUsers = {"alice", "bob", "carol"};

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

struct RollbackCounts {
  size_t records = 0, undone_writes = 0, undone_entries = 0;
};

// Rolls the files under `roots` back to their last durable state using the journal in `jdir`
// (no process may be running), then empties `jdir`.
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
  // Self-test of the harness: CUBBY_POWER_CUT_DROP=S (or D) pretends file (or directory) syncs
  // never happened, as if the server had not made them; the test must then find losses.
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
  std::map<ino_t, std::string> leftovers;
  DIR* d = ::opendir(jdir.c_str());
  while (d && (true)) {
    dirent* e = ::readdir(d);
    if (!e) break;
    std::string name = e->d_name;
    if (name != "." && name != "..") ::unlink((jdir + "/" + name).c_str());
  }
  if (d) ::closedir(d);
  return counts;
}

struct Sent {
  std::string content;
  std::set<std::string> acked;    // users whose 250 arrived
  std::set<std::string> targets;  // users it was sent to
};

using PowerCutE2e = CubbyTest;

TEST_F(PowerCutE2e, RollbackToTheLastDurableStateLosesNoAcknowledgedMessage) {
  int seconds = 120, target_cuts = 200;
  if (const char* s = getenv("CUBBY_POWER_CUT_SECONDS")) seconds = std::max(1, atoi(s));
  if (const char* s = getenv("CUBBY_POWER_CUT_COUNT")) target_cuts = std::max(1, atoi(s));
  unsigned seed = 1;
  if (const char* s = getenv("CUBBY_POWER_CUT_SEED")) seed = static_cast<unsigned>(atoi(s));

  // Set-up (durable by a sync before the journal starts).
  ASSERT_NO_FATAL_FAILURE(start(kUsers, {"duplicatesuppression: no"}));
  ASSERT_TRUE(cubby_->stop());
  ::sync();
  const std::string root = root_.path();
  const std::string jdir = root + "/journal";
  ASSERT_EQ(::mkdir(jdir.c_str(), 0700), 0);
  const std::vector<std::string> roots = {root + "/lib", root + "/spool"};
  // Every program from here on (the master, its workers and cubbyctl) runs journaled.
  ::setenv("LD_PRELOAD", CUBBY_FAULT_LIB, 1);
  ::setenv("CUBBY_FAULT_ROOT", (roots[0] + ":" + roots[1]).c_str(), 1);
  ::setenv("CUBBY_FAULT_JOURNAL", jdir.c_str(), 1);
  struct Unset {
    ~Unset() {
      ::unsetenv("LD_PRELOAD");
      ::unsetenv("CUBBY_FAULT_ROOT");
      ::unsetenv("CUBBY_FAULT_JOURNAL");
    }
  } unset;

  std::mutex mu;
  std::map<std::string, Sent> sent;                        // Message-ID -> what
  std::map<std::string, std::map<int64_t, std::string>> uid_seen;  // user -> uid -> guid
  std::atomic<int> next_id{0};
  std::mt19937 rng(seed);
  int cuts = 0;
  size_t checked = 0, lost_replies = 0, records = 0, undone_writes = 0, undone_entries = 0;

  auto deliver = [&](const std::string& id, const std::set<std::string>& users, LmtpClient& c,
                     bool greet) -> bool {
    Sent s;
    s.content = test_message(id, 20 + next_id % 50);
    s.targets = users;
    std::vector<std::string> rcpts, order(users.begin(), users.end());
    for (const auto& u : order) rcpts.push_back(u + "@e2e.test");
    {
      std::lock_guard<std::mutex> lock(mu);
      sent[id] = s;
    }
    if (!c.begin_transaction(kSender, rcpts, greet).empty()) return false;
    if (!c.send_data(s.content)) return false;
    auto replies = c.read_replies(rcpts.size());
    std::lock_guard<std::mutex> lock(mu);
    bool all = replies.size() == rcpts.size();
    for (size_t i = 0; i < replies.size() && i < order.size(); ++i) {
      if (replies[i].code == 250) {
        sent[id].acked.insert(order[i]);
      } else {
        all = false;
      }
    }
    return all;
  };

  // Verifies the recovered store (see the top of the file).
  auto verify = [&](const std::string& when) {
    SCOPED_TRACE(when);
    for (const auto& u : kUsers) {
      auto rows = cubby_->messages(u);
      ASSERT_TRUE(rows) << u;
      std::map<std::string, int> visible;
      for (const auto& r : *rows) {
        auto f = read_file(CubbyInstance::message_file(cubby_->spool(), u, r.uid));
        ASSERT_TRUE(f) << u << " uid " << r.uid << ": row without a file";
        EXPECT_EQ(guid_of(*f), r.guid) << u << " uid " << r.uid;
        size_t p = f->find("Message-ID: <");
        ASSERT_NE(p, std::string::npos) << u << " uid " << r.uid;
        std::string id = f->substr(p + 13, f->find('>', p) - p - 13);
        auto it = sent.find(id);
        ASSERT_NE(it, sent.end()) << u << " uid " << r.uid << ": never sent: " << id;
        EXPECT_TRUE(it->second.targets.count(u)) << id << " is in " << u << "'s mailbox";
        EXPECT_EQ(check_stored(*f, kSender, "[unix socket]", it->second.content), "")
            << u << " uid " << r.uid;
        EXPECT_EQ(++visible[id], 1) << id << " twice in " << u;
        auto [seen, fresh] = uid_seen[u].emplace(r.uid, r.guid);
        EXPECT_EQ(seen->second, r.guid) << u << ": uid " << r.uid << " reused";
        if (!it->second.acked.count(u) && fresh) ++lost_replies;
      }
      for (const auto& [id, s] : sent) {
        if (!s.acked.count(u)) continue;
        ++checked;
        EXPECT_TRUE(visible.count(id)) << id << " acknowledged for " << u << " but missing";
      }
    }
    EXPECT_TRUE(cubby_->wait_settled(20s));
    expect_check_passes();
    // Every mailbox takes a delivery at once.
    LmtpClient c = unix_client();
    std::set<std::string> all(kUsers.begin(), kUsers.end());
    EXPECT_TRUE(deliver("probe-" + std::to_string(next_id++) + "@example.org", all, c, true))
        << "a mailbox refused a delivery right after recovery";
  };

  using Clock = std::chrono::steady_clock;
  Clock::duration t_start{}, t_verify{}, t_load{}, t_rollback{};
  auto lap = [](Clock::time_point& from) {
    const auto now = Clock::now();
    const Clock::duration d = now - from;
    from = now;
    return d;
  };
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (cuts < target_cuts && Clock::now() < end && !HasFailure()) {
    auto t = Clock::now();
    auto error = cubby_->start();  // recovery runs in every new worker
    ASSERT_FALSE(error) << *error;
    t_start += lap(t);
    ASSERT_NO_FATAL_FAILURE(verify("after cut " + std::to_string(cuts)));
    t_verify += lap(t);
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (unsigned t = 0; t < 2; ++t) {
      clients.emplace_back([&, t] {
        std::mt19937 r(seed * 1000 + cuts * 10 + t);
        LmtpClient c;
        c.set_timeout(3s);
        bool greet = true;
        while (!stop) {
          if (!c.connected()) {
            if (!c.connect_unix(cubby_->socket_path())) return;
            greet = true;
          }
          std::set<std::string> users;
          for (const auto& u : kUsers) {
            if (r() % 2) users.insert(u);
          }
          if (users.empty()) users.insert(kUsers[r() % kUsers.size()]);
          if (!deliver("cut-" + std::to_string(next_id++) + "@example.org", users, c, greet)) {
            c.close();
          }
          greet = false;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 150));
    cubby_->crash();
    stop = true;
    for (auto& t : clients) t.join();
    ++cuts;
    t_load += lap(t);
    RollbackCounts rc = roll_back(jdir, roots);
    records += rc.records;
    undone_writes += rc.undone_writes;
    undone_entries += rc.undone_entries;
    ::unlink((root + "/lib/cubby.sqlite-shm").c_str());
    t_rollback += lap(t);
  }
  ASSERT_FALSE(cubby_->start());
  ASSERT_NO_FATAL_FAILURE(verify("final"));
  std::cout << "[ power cut ] seed " << seed << ": " << cuts << " cut points, " << sent.size()
            << " messages sent, " << checked << " acknowledged deliveries checked (cumulative over the cuts), "
            << lost_replies << " committed deliveries whose 250 was lost in the cut; journal "
            << records << " records, " << undone_writes << " writes and " << undone_entries
            << " directory entries rolled back\n";
  auto ms = [&](Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count() /
                          std::max(cuts, 1));
  };
  std::cout << "[ power cut ] per cut (ms): start " << ms(t_start) << ", verify " << ms(t_verify)
            << ", load and kill " << ms(t_load) << ", rollback " << ms(t_rollback) << "\n";
}

}  // namespace
}  // namespace cubby::e2e
