// A store in a fresh temporary directory, removed again at the end of the test.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "store/delivery.h"
#include "store/store.h"

namespace cubby::store::testing {

class TempStore {
 public:
  explicit TempStore(int partitions = 1) {
    char tmpl[] = "/tmp/cubby-store-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    config_.config_directory = root_ + "/conf";
    for (int i = 0; i < partitions; ++i) {
      std::string name = i == 0 ? "default" : "p" + std::to_string(i);
      config_.partitions[name] = root_ + "/spool-" + name;
    }
    config_.checkpoint_interval = std::chrono::milliseconds(50);
    reopen();
  }
  ~TempStore() {
    store_.reset();
    std::filesystem::remove_all(root_);
  }
  void reopen() {
    store_.reset();
    auto s = Store::open(config_);
    if (!s.ok()) throw std::runtime_error(s.error().detail);
    store_ = std::move(s.value());
  }
  Store& store() { return *store_; }
  StoreConfig& config() { return config_; }
  const std::string& root() const { return root_; }

  MailboxRecord create(const std::string& external, const std::string& partition = "") {
    auto name = store_->parse_name(external);
    EXPECT_TRUE(name.ok());
    auto m = store_->create_mailbox(name.value(), partition);
    if (!m.ok()) throw std::runtime_error(m.error().detail);
    return m.value();
  }
  // Lets anyone post to the mailbox (a folder needs `p` for a +detail delivery).
  MailboxRecord create_postable(const std::string& external) {
    auto m = create(external);
    std::string acl = m.acl + "anyone\tp\t";
    if (auto e = store_->set_acl(m, acl)) throw std::runtime_error(e->detail);
    return mailbox(external);
  }
  MailboxRecord mailbox(const std::string& external) {
    auto m = store_->find_mailbox(store_->parse_name(external).value());
    if (!m) throw std::runtime_error("no mailbox " + external);
    return *m;
  }
  StageFile stage(const std::string& content, const std::string& partition = "default") {
    auto s = store_->create_stage(partition);
    if (!s.ok()) throw std::runtime_error(s.error().detail);
    EXPECT_FALSE(s->append(content));
    return std::move(s.value());
  }

 private:
  std::string root_;
  StoreConfig config_;
  std::unique_ptr<Store> store_;
};

// A transaction of `stage` to the mailboxes `names` (internal names), with no other rules.
inline DeliveryBatch batch_to(StageFile stage, const std::vector<std::string>& names) {
  DeliveryBatch b{std::move(stage), {}, {}, {}, {}, {}};
  for (const auto& n : names) b.targets.push_back(DeliveryTarget{n, false, std::nullopt});
  return b;
}

// Carries `batches` through one whole group commit (stage, commit, link, checkpoint), as the
// committer does (with `pool` for its syncs and links, as the committer has), and returns each
// batch's result.
inline std::vector<DeliveryResult> commit_group(TempStore& t, std::vector<DeliveryBatch> batches,
                                                SyncPool* pool = nullptr) {
  DeliveryGroup group(t.store().config(), t.store().index(), pool);
  for (auto& b : batches) group.add(std::move(b));
  group.stage();
  group.commit();
  group.link();
  Checkpoint cp;
  Unsettled unsettled;
  group.retire(cp, unsettled);
  EXPECT_TRUE(unsettled.empty());
  EXPECT_FALSE(cp.run(t.store().index(), pool));
  return group.results();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

inline struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

inline size_t count_entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace cubby::store::testing
