// cubbyctl's output helpers: Cyrus mailbox patterns, aligned tables, JSON, exit codes.
#include "server/ctl/output.h"

#include <gtest/gtest.h>

namespace cubby::ctl {
namespace {

TEST(CtlOutput, CyrusPatterns) {
  EXPECT_TRUE(glob_match("*", "user/alice/Work", '/'));
  EXPECT_TRUE(glob_match("user/*", "user/alice/Work", '/'));
  EXPECT_TRUE(glob_match("user/%", "user/alice", '/'));
  EXPECT_FALSE(glob_match("user/%", "user/alice/Work", '/'));
  EXPECT_TRUE(glob_match("user/%/Work", "user/alice/Work", '/'));
  EXPECT_TRUE(glob_match("user/a%e", "user/alice", '/'));
  EXPECT_FALSE(glob_match("user/a%e", "user/al/ce", '/'));
  EXPECT_TRUE(glob_match("user/a*e", "user/al/ce", '/'));
  EXPECT_TRUE(glob_match("%", "shared", '/'));
  EXPECT_FALSE(glob_match("%", "shared/news", '/'));
  EXPECT_TRUE(glob_match("user.%", "user.alice", '.'));
  EXPECT_FALSE(glob_match("user.%", "user.alice.Work", '.'));
  EXPECT_TRUE(glob_match("user/bob", "user/bob", '/'));
  EXPECT_FALSE(glob_match("user/bob", "user/bobby", '/'));
  EXPECT_TRUE(glob_match("*bob*", "user/bobby", '/'));
  EXPECT_TRUE(glob_match("%*%", "a/b/c", '/'));
  EXPECT_TRUE(glob_match("", "", '/'));
  EXPECT_FALSE(glob_match("", "x", '/'));
  // many stars stay cheap
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*b", std::string(200, 'a'), '/'));
}

TEST(CtlOutput, TablesAlignTextLeftAndNumberColumnsRight) {
  Table t({"NAME", "COUNT", "NOTE"});
  t.add({"alice", "5", "x"});
  t.add({"bob", "12345", "y"});
  EXPECT_EQ(t.str(),
            "NAME   COUNT  NOTE\n"
            "alice      5  x\n"
            "bob    12345  y\n");
  Table mixed({"K", "V"});
  mixed.add({"a", "1"});
  mixed.add({"b", "text"});
  EXPECT_EQ(mixed.str(), "K  V\na  1\nb  text\n");
  EXPECT_EQ(t.size(), 2u);
}

TEST(CtlOutput, Json) {
  EXPECT_EQ(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(JsonObject().add("s", "x").add("n", int64_t{-3}).add("b", true).add_null("z").str(),
            "{\"s\":\"x\",\"n\":-3,\"b\":true,\"z\":null}");
  EXPECT_EQ(json_array({"1", "{}"}), "[1,{}]");
  EXPECT_EQ(json_array({}), "[]");
}

TEST(CtlOutput, ExitCodes) {
  EXPECT_EQ(exit_code(store::Error{store::Errc::kNotFound, ""}), kNotFound);
  EXPECT_EQ(exit_code(store::Error{store::Errc::kExists, ""}), kExists);
  EXPECT_EQ(exit_code(store::Error{store::Errc::kBadName, ""}), kUsage);
  EXPECT_EQ(exit_code(store::Error{store::Errc::kIo, ""}), kFailed);
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(12), "12 B");
}

}  // namespace
}  // namespace cubby::ctl
