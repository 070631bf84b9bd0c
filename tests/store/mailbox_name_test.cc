// Mailbox names: internal/external forms, refused names, directory layout.
#include "store/mailbox_name.h"

#include <gtest/gtest.h>

namespace cubby::store {
namespace {

TEST(MailboxName, ExternalUnixSeparatorToInternal) {
  auto n = MailboxName::from_external("user/alice/Work", true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->internal(), "user.alice.Work");
  EXPECT_EQ(n->external(true), "user/alice/Work");
  EXPECT_EQ(n->external(false), "user.alice.Work");
  EXPECT_TRUE(n->is_user());
  EXPECT_FALSE(n->is_inbox());
  EXPECT_EQ(n->inbox()->internal(), "user.alice");
}

TEST(MailboxName, DotInsideComponentBecomesCaret) {
  auto n = MailboxName::from_external("user/john.doe/a.b", true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->internal(), "user.john^doe.a^b");
  EXPECT_EQ(n->relative_dir(false), "user/john^doe/a^b");
  auto back = MailboxName::from_internal("user.john^doe.a^b");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->external(true), "user/john.doe/a.b");
}

TEST(MailboxName, DotSeparatorMode) {
  auto n = MailboxName::from_external("user.bob.Sent", false);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->components().size(), 3u);
  EXPECT_EQ(n->internal(), "user.bob.Sent");
}

TEST(MailboxName, RefusesNamesThatCouldEscapeThePartition) {
  for (const char* bad : {"user/../etc", "user/./x", "user//alice", "", "user/alice/",
                          "/user/alice", "user/al\x01ice", "user/a^b"}) {
    auto n = MailboxName::from_external(bad, true);
    EXPECT_FALSE(n.ok()) << bad;
    if (!n.ok()) {
      EXPECT_EQ(n.error().code, Errc::kBadName);
    }
  }
  EXPECT_FALSE(MailboxName::from_external(std::string("user/a\0b", 8), true).ok());
  EXPECT_FALSE(MailboxName::from_internal("user..x").ok());
  EXPECT_FALSE(MailboxName::from_external(std::string(300, 'a'), true).ok());
}

// Found by the mailbox_name fuzz target (tests/fuzz/corpus/mailbox_name/crash-*): names that did
// not read back the same, and an internal domain that was never checked.
TEST(MailboxName, EveryFormReadsBackTheSame) {
  // '.' separator: a '.' inside a component is written '^' and read back; the domain after '@'.
  auto n = MailboxName::from_external("user/john.doe@example.com", true).value();
  EXPECT_EQ(n.external(false), "user.john^doe@example.com");
  auto back = MailboxName::from_external(n.external(false), false);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->internal(), "example.com!user.john^doe");
  // '!' ends a domain, so no component holds it; a domain holds no '@' either.
  for (const char* bad : {"user/a!b", "a@b!user/x"}) {
    EXPECT_FALSE(MailboxName::from_external(bad, true).ok()) << bad;
  }
  EXPECT_FALSE(MailboxName::from_internal("a@b!user.x").ok());
  EXPECT_FALSE(MailboxName::for_user("alice", {"x!y"}).ok());
  EXPECT_FALSE(MailboxName::for_user("alice", {}, "a@b").ok());
  // With a domain a component may hold '@' and still read back ("user/a@b@d").
  auto at = MailboxName::from_internal("d!user.a@b").value();
  EXPECT_EQ(MailboxName::from_external(at.external(true), true)->internal(), "d!user.a@b");
  // An internal domain becomes a directory: it obeys the component rules.
  for (const char* bad : {"..!user.x", "a/b!user.x", "!user.x"}) {
    EXPECT_FALSE(MailboxName::from_internal(bad).ok()) << bad;
  }
  EXPECT_FALSE(MailboxName::for_user("alice", {}, "..").ok());
  // The 1024-byte limit holds for every way in.
  const std::string longname = "user." + std::string(300, 'a') + "." + std::string(300, 'b') +
                               "." + std::string(300, 'c') + "." + std::string(300, 'd');
  EXPECT_FALSE(MailboxName::from_internal(longname).ok());
  EXPECT_FALSE(MailboxName::for_user(std::string(255, 'a'),
                                     {std::string(255, 'b'), std::string(255, 'c'),
                                      std::string(255, 'd'), std::string(255, 'e')})
                   .ok());
}

TEST(MailboxName, HashedAndDomainLayouts) {
  auto n = MailboxName::from_external("user/alice/Work", true).value();
  EXPECT_EQ(n.relative_dir(false), "user/alice/Work");
  EXPECT_EQ(n.relative_dir(true), "a/user/alice/Work");
  auto odd = MailboxName::from_external("user/9lives", true).value();
  EXPECT_EQ(odd.relative_dir(true), "q/user/9lives");
  auto shared = MailboxName::from_external("shared/Info", true).value();
  EXPECT_EQ(shared.relative_dir(true), "i/shared/Info");
  EXPECT_FALSE(shared.is_user());
  auto dom = MailboxName::for_user("alice", {}, "example.com").value();
  EXPECT_EQ(dom.internal(), "example.com!user.alice");
  EXPECT_EQ(dom.relative_dir(false), "domain/example.com/user/alice");
  EXPECT_EQ(dom.relative_dir(true), "domain/e/example.com/a/user/alice");
  EXPECT_EQ(MailboxName::from_internal("example.com!user.alice")->domain(), "example.com");
}

}  // namespace
}  // namespace cubby::store
