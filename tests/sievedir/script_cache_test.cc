// The worker's compiled-script cache (sievedir/script_cache.h): a script is compiled once and then
// served from the cache while its file is unchanged; replaced through the ScriptStore (what
// `cubbyctl sieve put` does), even by a script of the same size with the same mtime, or another
// script activated, the next lookup compiles and returns the new one.
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "sieve/memory_environment.h"
#include "sievedir/script_cache.h"
#include "sievedir/script_store.h"
#include "tests/store/temp_store.h"

namespace cubby::sievedir {
namespace {

// What the active script of `user` does with a plain message: "fileinto X" or "keep".
std::string decision(ScriptCache& cache, const ScriptStore& scripts, const std::string& user) {
  auto file = scripts.active(user);
  if (!file) return "(no active script)";
  auto compiled = cache.get(*file, {});
  if (!compiled->script) return "(error)";
  sieve::MemoryEnvironment env;
  auto outcome = sieve::evaluate(*compiled->script, "From: a@example.org\r\n\r\nbody\r\n",
                                 sieve::Envelope{"a@example.org", "u@example.com", {}}, env);
  if (outcome.actions.empty()) return "(none)";
  const auto& a = outcome.actions.front();
  return a.kind == sieve::Action::Kind::kFileInto ? "fileinto " + a.mailbox : "keep";
}

std::string filing(const std::string& folder) {
  return "require \"fileinto\";\nfileinto \"" + folder + "\";\n";
}

TEST(SieveScriptCache, ServesTheCompiledScriptUntilItIsReplaced) {
  store::testing::TempStore t;
  ScriptStore scripts(t.root() + "/sieve");
  ScriptCache cache;
  ASSERT_FALSE(scripts.put("alice", "main", filing("AAAA"), 5));
  ASSERT_FALSE(scripts.activate("alice", "main"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(decision(cache, scripts, "alice"), "fileinto AAAA");
  EXPECT_EQ(cache.compiles(), 1u);

  // Replaced by a script of the same size; its mtime set back to the old one's, as a coarse
  // timestamp (or a quick second put) would leave it. Only the inode tells the versions apart.
  const auto before = scripts.active("alice");
  ASSERT_TRUE(before);
  ASSERT_FALSE(scripts.put("alice", "main", filing("BBBB"), 5));
  const struct timespec times[2] = {{before->mtime_ns / 1'000'000'000, before->mtime_ns % 1'000'000'000},
                                    {before->mtime_ns / 1'000'000'000, before->mtime_ns % 1'000'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, before->path.c_str(), times, 0), 0);
  const auto after = scripts.active("alice");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size, before->size);
  ASSERT_EQ(after->mtime_ns, before->mtime_ns);
  EXPECT_EQ(decision(cache, scripts, "alice"), "fileinto BBBB");
  EXPECT_EQ(decision(cache, scripts, "alice"), "fileinto BBBB");
  EXPECT_EQ(cache.compiles(), 2u);

  // Another script activated: compiled on first use, and the old one is still cached.
  ASSERT_FALSE(scripts.put("alice", "other", filing("CCCC"), 5));
  ASSERT_FALSE(scripts.activate("alice", "other"));
  EXPECT_EQ(decision(cache, scripts, "alice"), "fileinto CCCC");
  EXPECT_EQ(cache.compiles(), 3u);
  ASSERT_FALSE(scripts.activate("alice", "main"));
  EXPECT_EQ(decision(cache, scripts, "alice"), "fileinto BBBB");
  EXPECT_EQ(cache.compiles(), 3u);
}

}  // namespace
}  // namespace cubby::sievedir
