// The vacation/redirect/duplicate history (sievedir/environment.h, SieveHistory): a mark is seen
// for its period; marks whose period is over, marks older than max_age and, beyond max_entries,
// the oldest marks are pruned, when the history is opened and then at most once per
// prune_interval; a history made before marks had a period is upgraded and its rows age out.
#include <gtest/gtest.h>

#include <ctime>

#include "sievedir/environment.h"
#include "store/sqlite.h"
#include "tests/store/temp_store.h"

namespace cubby::sievedir {
namespace {

using namespace std::chrono_literals;

struct HistoryFixture {
  SieveHistory::Bounds bounds(size_t max_entries = 1000) {
    SieveHistory::Bounds b;
    b.max_age = 100h;
    b.max_entries = max_entries;
    b.prune_interval = 10min;
    b.clock = [this] { return now; };
    return b;
  }
  store::testing::TempStore t;
  std::string path = t.root() + "/sieve-history.sqlite";
  std::time_t now = 1'700'000'000;
};

TEST(SieveHistory, AMarkIsSeenForItsPeriodAndForgotten) {
  HistoryFixture f;
  SieveHistory h(f.path, f.bounds());
  EXPECT_FALSE(h.seen("v\nalice\nbob", 3600s));
  h.mark("v\nalice\nbob", 3600s);
  EXPECT_TRUE(h.seen("v\nalice\nbob", 3600s));
  f.now += 3599;
  EXPECT_TRUE(h.seen("v\nalice\nbob", 3600s));
  f.now += 1;
  EXPECT_FALSE(h.seen("v\nalice\nbob", 3600s));
  h.mark("d\nalice\nx", 60s);
  h.forget("d\nalice\nx");
  EXPECT_FALSE(h.seen("d\nalice\nx", 60s));
}

TEST(SieveHistory, MarksPastTheirPeriodArePrunedAtMostOncePerInterval) {
  HistoryFixture f;
  SieveHistory h(f.path, f.bounds());
  h.mark("short", 60s);
  h.mark("long", 7 * 24h);
  EXPECT_EQ(h.size(), 2u);
  f.now += 120;  // "short" is over, but the last prune was 2 minutes ago
  EXPECT_FALSE(h.seen("short", 60s));
  EXPECT_EQ(h.size(), 2u);
  f.now += 10 * 60;  // the interval has passed: the next use prunes
  EXPECT_TRUE(h.seen("long", 7 * 24h));
  EXPECT_EQ(h.size(), 1u);
  // Opening the history prunes at once.
  f.now += 8 * 24 * 3600;
  SieveHistory reopened(f.path, f.bounds());
  EXPECT_EQ(reopened.size(), 0u);
}

TEST(SieveHistory, OldMarksAndTheOldestBeyondTheCapGo) {
  HistoryFixture f;
  {
    SieveHistory h(f.path, f.bounds(5));
    h.mark("ancient", 1000h);  // a period longer than max_age: max_age wins
    for (int i = 0; i < 7; ++i) {
      f.now += 1;
      h.mark("k" + std::to_string(i), 1000h);
    }
    EXPECT_EQ(h.size(), 8u);
    EXPECT_EQ(h.prune(), 3u);  // the three oldest
    EXPECT_EQ(h.size(), 5u);
    EXPECT_FALSE(h.seen("ancient", 1000h));
    EXPECT_FALSE(h.seen("k1", 1000h));
    EXPECT_TRUE(h.seen("k2", 1000h));
    f.now += 101 * 3600;
    EXPECT_EQ(h.prune(), 5u);  // older than max_age, whatever their period
  }
}

TEST(SieveHistory, AHistoryWithoutPeriodsIsUpgradedAndItsRowsAgeOut) {
  HistoryFixture f;
  {
    auto db = store::Db::open(f.path);
    ASSERT_TRUE(db.ok());
    ASSERT_FALSE(db->exec("CREATE TABLE history(key TEXT PRIMARY KEY, mark INTEGER NOT NULL) "
                          "WITHOUT ROWID"));
    store::Statement s(*db, "INSERT INTO history(key, mark) VALUES(?, ?)");
    ASSERT_FALSE(s.bind(1, std::string_view("old")).bind(2, int64_t{f.now - 50 * 3600}).run());
  }
  SieveHistory h(f.path, f.bounds());
  EXPECT_TRUE(h.seen("old", 60 * 3600s));
  h.mark("new", 1h);
  EXPECT_EQ(h.size(), 2u);
  f.now += 51 * 3600;  // "old" is now 101 h old: past max_age
  EXPECT_EQ(h.prune(), 2u);
}

}  // namespace
}  // namespace cubby::sievedir
