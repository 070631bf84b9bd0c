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
INSERT INTO mailboxes VALUES(1, 'user.alice', 'u1', 'default', 'user/alice', 7, 4, 7, '');
INSERT INTO messages VALUES(1, 1, 'g1', 10, 7, 's1', 0);
INSERT INTO messages VALUES(1, 2, 'g2', 20, 7, 's2', 0);
INSERT INTO messages VALUES(1, 3, 'g3', 30, 7, 's3', 1);
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
  // Version 3: no index by GUID (no query reads by it). Version 9: pending rows in their own
  // table, found by stage; none left in messages.
  EXPECT_FALSE(has_object(index->db(), "index", "messages_guid"));
  EXPECT_FALSE(has_object(index->db(), "index", "messages_pending"));
  EXPECT_TRUE(has_table(index->db(), "deliveries"));
  EXPECT_TRUE(has_object(index->db(), "index", "deliveries_stage"));
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
  EXPECT_EQ(box->uidnext, 4);
  // The pending row moved to deliveries (version 9) and reads as before.
  auto rows = index->messages(box->id);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_FALSE(rows[0].pending);
  EXPECT_FALSE(rows[1].pending);
  EXPECT_TRUE(rows[2].pending);
  EXPECT_EQ(rows[2].guid, "g3");
  EXPECT_EQ(rows[2].stage, "s3");
  auto staged = index->staged_rows();
  ASSERT_EQ(staged.size(), 1u);
  EXPECT_EQ(staged[0].message.uid, 3);
  EXPECT_EQ(staged[0].partition, "default");
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

// Pending rows (schema 9, index.h): a delivery's row waits in `deliveries` and is read with the
// durable ones; clear_stage() moves it into `messages` with its flags; taking it back removes its
// flags; the quota recount counts it.
TEST_F(SchemaTest, PendingRowsMoveIntoMessagesAtTheirCheckpoint) {
  auto index = Index::open(path_);
  ASSERT_TRUE(index.ok()) << index.error().detail;
  auto box = index->insert_mailbox("user.alice", "default", "user/alice");
  ASSERT_TRUE(box.ok());
  const int64_t id = box->id;
  auto add = [&](int64_t uid, const std::string& stage, bool pending) {
    MessageRecord m{id, uid, "g" + std::to_string(uid), 100 * uid, 7, stage, pending, ""};
    ASSERT_FALSE(index->insert_message(m));
  };
  add(1, "s1", false);
  add(2, "s2", true);
  add(3, "s2", true);
  add(4, "s4", true);
  ASSERT_FALSE(index->set_flags(id, 2, {"\\Seen"}));
  ASSERT_FALSE(index->set_flags(id, 4, {"\\Flagged"}));
  auto rows = index->messages(id);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[2].uid, 3);
  EXPECT_TRUE(rows[2].pending);
  EXPECT_EQ(index->staged_rows().size(), 3u);
  ASSERT_TRUE(index->message(id, 4));
  EXPECT_TRUE(index->message(id, 4)->pending);

  // The checkpoint of s2 on its partition: two rows become durable, keeping their flags; another
  // partition's stage of the same name is not this one.
  ASSERT_FALSE(index->clear_stage("other", "s2"));
  EXPECT_EQ(index->staged_rows().size(), 3u);
  ASSERT_FALSE(index->clear_stage("default", "s2"));
  EXPECT_EQ(index->staged_rows().size(), 1u);
  ASSERT_TRUE(index->message(id, 2));
  EXPECT_FALSE(index->message(id, 2)->pending);
  EXPECT_EQ(index->message(id, 2)->stage, "s2");
  EXPECT_EQ(index->flags_of(id, 2), std::vector<std::string>{"\\Seen"});

  // A pending delivery taken back through its stage: gone, with its flags; a second try finds
  // nothing.
  auto undone = index->delete_delivery("s4", id, 4);
  ASSERT_TRUE(undone.ok());
  EXPECT_TRUE(undone.value());
  EXPECT_FALSE(index->message(id, 4));
  EXPECT_TRUE(index->flags_of(id, 4).empty());
  undone = index->delete_delivery("s4", id, 4);
  ASSERT_TRUE(undone.ok());
  EXPECT_FALSE(undone.value());

  // delete_message() finds a row in either table.
  add(5, "s5", true);
  ASSERT_FALSE(index->delete_message(id, 5));
  ASSERT_FALSE(index->delete_message(id, 1));
  rows = index->messages(id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].uid, 2);
  EXPECT_EQ(rows[1].uid, 3);

  // A pending row given its Maildir name (convert) is durable under it.
  add(6, "s6", true);
  ASSERT_FALSE(index->set_message_file(id, 6, "123.M1P1.host,S=600"));
  ASSERT_TRUE(index->message(id, 6));
  EXPECT_FALSE(index->message(id, 6)->pending);
  EXPECT_EQ(index->message(id, 6)->file, "123.M1P1.host,S=600");
  EXPECT_TRUE(index->staged_rows().empty());

  // The quota recount reads both tables; deleting the mailbox takes its pending rows too.
  add(7, "s7", true);
  ASSERT_FALSE(index->quotas().set("user.alice", std::nullopt, std::nullopt));
  ASSERT_FALSE(index->quotas().recalc("user.alice"));
  auto root = index->quotas().get("user.alice");
  ASSERT_TRUE(root.ok() && root.value());
  EXPECT_EQ(root.value()->message_used, 4);
  EXPECT_EQ(root.value()->storage_used, 200 + 300 + 600 + 700);
  ASSERT_FALSE(index->delete_mailbox(id));
  EXPECT_TRUE(index->staged_rows().empty());
  EXPECT_TRUE(index->flags_of(id, 2).empty());
}

}  // namespace
}  // namespace cubby::store
