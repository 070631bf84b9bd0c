// The schema version and its migrations: a fresh index, an index made by the first Cubby (no meta
// table), concurrent openers, and an index newer than the program.
#include "store/schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "store/index.h"
#include "tests/store/temp_store.h"

namespace cubby::store {
namespace {

// The index exactly as the first Cubby created it.
constexpr const char* kFirstSchema = R"sql(
CREATE TABLE mailboxes(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, uniqueid TEXT NOT NULL
  UNIQUE, partition TEXT NOT NULL, dir TEXT NOT NULL, uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL, acl TEXT NOT NULL DEFAULT '');
CREATE TABLE messages(mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL, guid TEXT NOT NULL, size INTEGER NOT NULL, internaldate INTEGER NOT NULL,
  stage TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 1, PRIMARY KEY(mailbox, uid)) WITHOUT ROWID;
CREATE INDEX messages_pending ON messages(stage) WHERE pending = 1;
CREATE INDEX messages_guid ON messages(guid);
INSERT INTO mailboxes VALUES(1, 'user.alice', 'u1', 'default', 'user/alice', 7, 3, 7, '');
INSERT INTO messages VALUES(1, 1, 'g1', 10, 7, 's1', 0);
INSERT INTO messages VALUES(1, 2, 'g2', 20, 7, 's2', 0);
)sql";

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cubby-schema-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/cubby.sqlite";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

bool has_object(Db& db, const std::string& type, const std::string& name) {
  Statement s(db, "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?");
  s.bind(1, type).bind(2, name);
  auto row = s.step();
  return row.ok() && row.value();
}
bool has_table(Db& db, const std::string& name) { return has_object(db, "table", name); }

TEST_F(SchemaTest, AFreshIndexIsCurrent) {
  auto index = Index::open(path_);
  ASSERT_TRUE(index.ok()) << index.error().detail;
  auto version = schema_version(index->db());
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version.value(), current_schema_version());
  EXPECT_GE(current_schema_version(), 2);
  EXPECT_TRUE(has_table(index->db(), "quotaroots"));
  EXPECT_TRUE(has_table(index->db(), "duplicates"));
  // Version 3: no index by GUID (no query reads by it); the pending-stage index stays.
  EXPECT_FALSE(has_object(index->db(), "index", "messages_guid"));
  EXPECT_TRUE(has_object(index->db(), "index", "messages_pending"));
}

TEST_F(SchemaTest, TheFirstSchemaIsUpgradedAndKeepsItsRows) {
  {
    auto db = Db::open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_FALSE(db->exec(kFirstSchema));
    EXPECT_FALSE(has_table(db.value(), "meta"));
  }
  auto index = Index::open(path_);
  ASSERT_TRUE(index.ok()) << index.error().detail;
  EXPECT_EQ(schema_version(index->db()).value(), current_schema_version());
  auto box = index->find_mailbox("user.alice");
  ASSERT_TRUE(box);
  EXPECT_EQ(box->uidnext, 3);
  EXPECT_EQ(index->messages(box->id).size(), 2u);
  EXPECT_TRUE(has_table(index->db(), "quotaroots"));
  EXPECT_FALSE(has_object(index->db(), "index", "messages_guid"));
  // Opening again is a no-op.
  auto again = Index::open(path_);
  ASSERT_TRUE(again.ok()) << again.error().detail;
}

TEST_F(SchemaTest, ConcurrentOpenersUpgradeOnce) {
  {
    auto db = Db::open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_FALSE(db->exec(kFirstSchema));
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto index = Index::open(path_);
      if (!index.ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto index = Index::open(path_);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(schema_version(index->db()).value(), current_schema_version());
}

TEST_F(SchemaTest, ANewerIndexIsRefused) {
  {
    auto index = Index::open(path_);
    ASSERT_TRUE(index.ok());
    ASSERT_FALSE(index->db().exec("UPDATE meta SET value = 999 WHERE key = 'schema_version'"));
  }
  auto index = Index::open(path_);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.error().code, Errc::kCorrupt);
  EXPECT_NE(index.error().detail.find("999"), std::string::npos) << index.error().detail;
}

}  // namespace
}  // namespace cubby::store
