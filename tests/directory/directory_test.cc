// The mailbox directory against a real, private PostgreSQL cluster (tests/pg/pg_cluster.h): the
// schema, lookups, the difference between an unknown user and an unreachable directory, and the
// front end's cache keeping known users deliverable while PostgreSQL is down.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "directory/directory_cache.h"
#include "directory/postgres_directory.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::directory {
namespace {

using namespace std::chrono_literals;
using test::PgCluster;

class DirectoryTest : public ::testing::Test {
 protected:
  // One cluster for the suite: initdb costs seconds.
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    PG_REQUIRE_OR_SKIP();
    if (!cluster_) {
      cluster_ = std::make_unique<PgCluster>();
      ASSERT_EQ(cluster_->start(), "");
    }
    if (!cluster_->running()) {
      ASSERT_EQ(cluster_->start(), "");
    }
    // Each test starts from an empty directory (the schema is kept once made).
    PostgresDirectory admin(cluster_->conninfo());
    auto users = admin.list();
    ASSERT_TRUE(users.ok()) << users.error();
    for (const auto& [userid, where] : users.value()) {
      ASSERT_EQ(admin.remove(userid), std::nullopt);
    }
  }

  static std::unique_ptr<PgCluster> cluster_;
};
std::unique_ptr<PgCluster> DirectoryTest::cluster_;

// One test for the plain directory (each test costs an initdb): the schema made at the first
// connection, lookups, changes, and a schema newer than this program refused.
TEST_F(DirectoryTest, SchemaLookupsChangesAndANewerSchema) {
  PostgresDirectory directory(cluster_->conninfo());
  auto nobody = directory.locate("alice");
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.error().fault, Fault::kUnknownUser);
  EXPECT_EQ(cluster_->psql("SELECT version FROM cubby_directory_version WHERE version = 1"), "");

  ASSERT_EQ(directory.assign("alice", {"127.0.0.1:2401", "default"}), std::nullopt);
  ASSERT_EQ(directory.assign("bob@example.org", {"unix:/run/b2/lmtp", "p2"}), std::nullopt);
  auto alice = directory.locate("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice.value(), (Location{"127.0.0.1:2401", "default"}));
  auto bob = directory.locate("bob@example.org");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob.value(), (Location{"unix:/run/b2/lmtp", "p2"}));

  ASSERT_EQ(directory.assign("alice", {"127.0.0.1:2402", "p9"}), std::nullopt);
  EXPECT_EQ(directory.locate("alice").value(), (Location{"127.0.0.1:2402", "p9"}));

  // place() never moves a user someone placed already.
  auto kept = directory.place("alice", {"127.0.0.1:2403", "default"});
  ASSERT_TRUE(kept.ok()) << kept.error();
  EXPECT_EQ(kept.value(), (Location{"127.0.0.1:2402", "p9"}));
  EXPECT_EQ(directory.locate("alice").value(), (Location{"127.0.0.1:2402", "p9"}));
  auto placed = directory.place("dave", {"127.0.0.1:2403", "default"});
  ASSERT_TRUE(placed.ok()) << placed.error();
  EXPECT_EQ(placed.value(), (Location{"127.0.0.1:2403", "default"}));
  EXPECT_EQ(directory.locate("dave").value(), (Location{"127.0.0.1:2403", "default"}));
  ASSERT_EQ(directory.remove("dave"), std::nullopt);

  ASSERT_EQ(directory.remove("alice"), std::nullopt);
  auto gone = directory.locate("alice");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().fault, Fault::kUnknownUser);

  auto all = directory.list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().first, "bob@example.org");

  ASSERT_EQ(cluster_->psql("INSERT INTO cubby_directory_version VALUES (2)"), "");
  PostgresDirectory newer(cluster_->conninfo());
  auto refused = newer.locate("bob@example.org");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().fault, Fault::kUnreachable);
  EXPECT_NE(refused.error().detail.find("newer"), std::string::npos) << refused.error().detail;
}

// No cluster needed: nothing listens on port 1.
TEST(DirectoryUnreachable, IsNotAnUnknownUser) {
  PostgresDirectory directory("host=127.0.0.1 port=1 user=cubby dbname=postgres");
  auto where = directory.locate("alice");
  ASSERT_FALSE(where.ok());
  EXPECT_EQ(where.error().fault, Fault::kUnreachable);
  EXPECT_FALSE(where.error().detail.empty());
}

TEST_F(DirectoryTest, CacheAnswersFromMemoryUntilItsTimeIsUp) {
  auto now = std::chrono::steady_clock::now();
  DirectoryCache cache(std::make_unique<PostgresDirectory>(cluster_->conninfo()), {30s, 600s},
                       [&] { return now; });
  PostgresDirectory admin(cluster_->conninfo());
  ASSERT_EQ(admin.assign("alice", {"127.0.0.1:2401", "default"}), std::nullopt);
  EXPECT_EQ(cache.locate("alice").value().backend, "127.0.0.1:2401");

  ASSERT_EQ(admin.assign("alice", {"127.0.0.1:2402", "default"}), std::nullopt);
  now += 29s;
  EXPECT_EQ(cache.locate("alice").value().backend, "127.0.0.1:2401");  // still fresh
  now += 2s;
  EXPECT_EQ(cache.locate("alice").value().backend, "127.0.0.1:2402");  // asked again

  // A user removed from the directory is unknown at the next question, not kept.
  ASSERT_EQ(admin.remove("alice"), std::nullopt);
  now += 31s;
  auto gone = cache.locate("alice");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().fault, Fault::kUnknownUser);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(DirectoryTest, CacheServesKnownUsersWhilePostgresIsStopped) {
  auto now = std::chrono::steady_clock::now();
  // fresh 0: every lookup asks PostgreSQL, so the cache is used only because it is down.
  DirectoryCache cache(std::make_unique<PostgresDirectory>(cluster_->conninfo()), {0s, 60s},
                       [&] { return now; });
  PostgresDirectory admin(cluster_->conninfo());
  ASSERT_EQ(admin.assign("alice", {"127.0.0.1:2401", "default"}), std::nullopt);
  ASSERT_EQ(admin.assign("carol", {"127.0.0.1:2403", "default"}), std::nullopt);
  ASSERT_TRUE(cache.locate("alice").ok());

  ASSERT_EQ(cluster_->stop(), "");
  // A known user still resolves.
  auto alice = cache.locate("alice");
  ASSERT_TRUE(alice.ok()) << alice.error().detail;
  EXPECT_EQ(alice.value().backend, "127.0.0.1:2401");
  // A user the cache never saw (in the directory or not) is a temporary failure, never unknown.
  for (const char* user : {"carol", "nobody-at-all"}) {
    auto r = cache.locate(user);
    ASSERT_FALSE(r.ok()) << user;
    EXPECT_EQ(r.error().fault, Fault::kUnreachable) << user;
  }
  // Past fresh + stale the cache no longer vouches for alice either.
  now += 61s;
  auto expired = cache.locate("alice");
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().fault, Fault::kUnreachable);

  // PostgreSQL back: the same objects answer again (after the 1 s retry pause).
  ASSERT_EQ(cluster_->start(), "");
  Result<Location, LookupError> carol = fail(LookupError{});
  for (int i = 0; i < 50; ++i) {
    carol = cache.locate("carol");
    if (carol.ok()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(carol.ok()) << carol.error().detail;
  EXPECT_EQ(carol.value().backend, "127.0.0.1:2403");
  EXPECT_EQ(cache.locate("nobody-at-all").error().fault, Fault::kUnknownUser);
}

}  // namespace
}  // namespace cubby::directory
