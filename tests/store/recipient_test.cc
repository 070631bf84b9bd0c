// Recipient addresses to mailboxes: every address form under both hierarchy separators and with
// virtdomains off and on, defaultdomain compared after lower-casing, lmtp_downcase_rcpt, UTF-8
// details, user+INBOX, postuser and +shared addresses.
#include "store/recipient.h"

#include <gtest/gtest.h>

namespace cubby::store {
namespace {

struct Case {
  const char* address;
  const char* mailbox;  // internal name, or "" when the address must be refused
  const char* folder;   // internal name of the +detail folder, or ""
  const char* userid;   // owner, "" when shared
};

AddressRules rules(bool unix_sep, bool virtdomains, std::string default_domain = "",
                   std::string postuser = "", bool downcase = true) {
  AddressRules r;
  r.unix_sep = unix_sep;
  r.virtdomains = virtdomains;
  r.default_domain = std::move(default_domain);
  r.postuser = std::move(postuser);
  r.downcase = downcase;
  return r;
}

void expect_cases(const AddressRules& r, std::initializer_list<Case> cases, const char* label) {
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(label) + ": " + c.address);
    auto m = map_recipient(c.address, r);
    if (std::string(c.mailbox).empty()) {
      EXPECT_FALSE(m.ok()) << m->mailbox.internal();
      continue;
    }
    ASSERT_TRUE(m.ok()) << m.error().detail;
    EXPECT_EQ(m->mailbox.internal(), c.mailbox);
    EXPECT_EQ(m->folder ? m->folder->internal() : "", c.folder);
    EXPECT_EQ(m->userid, c.userid);
    EXPECT_EQ(m->shared, std::string(c.userid).empty());
  }
}

TEST(Recipient, UnixSeparatorWithoutVirtualDomains) {
  expect_cases(rules(true, false),
               {
                   {"alice@example.com", "user.alice", "", "alice"},
                   {"alice", "user.alice", "", "alice"},
                   {"Alice@Example.COM", "user.alice", "", "alice"},
                   {"alice+Work@example.com", "user.alice", "user.alice.Work", "alice"},
                   {"alice+Lists/foo@example.com", "user.alice", "user.alice.Lists.foo", "alice"},
                   // '.' is an ordinary character under '/': stored as '^'
                   {"alice+lists.cubby@example.com", "user.alice", "user.alice.lists^cubby",
                    "alice"},
                   {"john.doe+x@example.com", "user.john^doe", "user.john^doe.x", "john.doe"},
                   {"alice+@example.com", "user.alice", "", "alice"},
                   {"alice+INBOX@example.com", "user.alice", "", "alice"},
                   {"alice+inbox@example.com", "user.alice", "", "alice"},
                   {"alice+INBOX/sub@example.com", "user.alice", "user.alice.INBOX.sub", "alice"},
                   // the detail keeps its case; only the user part is lower-cased
                   {"ALICE+Work@example.com", "user.alice", "user.alice.Work", "alice"},
                   // the first '+' splits; later ones belong to the detail
                   {"alice+a+b@example.com", "user.alice", "user.alice.a+b", "alice"},
                   // the last '@' splits
                   {"\"a@b\"@example.com", "user.a@b", "", "a@b"},
                   {"\"bob smith\"@example.com", "user.bob smith", "", "bob smith"},
                   // a detail that cannot be a folder leaves the INBOX
                   {"alice+a//b@example.com", "user.alice", "", "alice"},
                   {"alice+..@example.com", "user.alice", "", "alice"},
                   {"alice+a^b@example.com", "user.alice", "", "alice"},
                   // the default empty postuser: +shared addresses
                   {"+shared/foo@example.com", "shared.foo", "", ""},
                   {"+shared@example.com", "shared", "", ""},
                   {"+Shared/Foo@example.com", "Shared.Foo", "", ""},
                   {"+@example.com", "", "", ""},
                   {"@example.com", "", "", ""},
                   {"+user/bob@example.com", "", "", ""},  // not a way into user mailboxes
                   {"a/b@example.com", "", "", ""},
                   {"a!b@example.com", "", "", ""},  // '!' would end a domain
               },
               "unix, no virtdomains");
}

TEST(Recipient, NetnewsSeparatorWithoutVirtualDomains) {
  expect_cases(rules(false, false),
               {
                   {"alice@example.com", "user.alice", "", "alice"},
                   {"alice+Lists.foo@example.com", "user.alice", "user.alice.Lists.foo", "alice"},
                   // '/' is an ordinary character under '.'... but not in a mailbox name
                   {"alice+Lists/foo@example.com", "user.alice", "", "alice"},
                   {"alice+Work@example.com", "user.alice", "user.alice.Work", "alice"},
                   {"alice+INBOX@example.com", "user.alice", "", "alice"},
                   {"+shared.foo@example.com", "shared.foo", "", ""},
                   {"+shared/foo@example.com", "", "", ""},
               },
               "netnews, no virtdomains");
}

TEST(Recipient, VirtualDomainsWithADefaultDomain) {
  for (bool unix_sep : {true, false}) {
    const char* label = unix_sep ? "unix, virtdomains" : "netnews, virtdomains";
    const std::string sub = unix_sep ? "Lists/foo" : "Lists.foo";
    const std::string shared = unix_sep ? "+shared/foo" : "+shared.foo";
    expect_cases(rules(unix_sep, true, "example.org"),
                 {
                     {"alice@example.com", "example.com!user.alice", "", "alice@example.com"},
                     {"Alice@EXAMPLE.com", "example.com!user.alice", "", "alice@example.com"},
                     // the default domain is dropped, whatever its case (Cyrus 3414 corrected)
                     {"alice@example.org", "user.alice", "", "alice"},
                     {"alice@EXAMPLE.ORG", "user.alice", "", "alice"},
                     {"Alice@Example.Org", "user.alice", "", "alice"},
                     {"alice", "user.alice", "", "alice"},
                     {("alice+" + sub + "@example.com").c_str(), "example.com!user.alice",
                      "example.com!user.alice.Lists.foo", "alice@example.com"},
                     {("alice+" + sub + "@EXAMPLE.ORG").c_str(), "user.alice",
                      "user.alice.Lists.foo", "alice"},
                     {"alice+INBOX@example.com", "example.com!user.alice", "",
                      "alice@example.com"},
                     {(shared + "@example.com").c_str(), "example.com!shared.foo", "", ""},
                     {(shared + "@Example.ORG").c_str(), "shared.foo", "", ""},
                 },
                 label);
  }
}

TEST(Recipient, VirtualDomainsWithoutADefaultDomainKeepEveryDomain) {
  expect_cases(rules(true, true),
               {
                   {"alice@example.org", "example.org!user.alice", "", "alice@example.org"},
                   {"alice", "user.alice", "", "alice"},
               },
               "virtdomains, no defaultdomain");
}

TEST(Recipient, WithoutDowncasingNothingIsLowerCased) {
  expect_cases(rules(true, true, "example.org", "", false),
               {
                   {"Alice@example.com", "example.com!user.Alice", "", "Alice@example.com"},
                   {"Alice@EXAMPLE.COM", "EXAMPLE.COM!user.Alice", "", "Alice@EXAMPLE.COM"},
                   // defaultdomain is still compared lower-cased
                   {"Alice@EXAMPLE.ORG", "user.Alice", "", "Alice"},
                   {"Alice+Work@example.org", "user.Alice", "user.Alice.Work", "Alice"},
               },
               "no downcase");
}

TEST(Recipient, Utf8DetailsBecomeModifiedUtf7) {
  expect_cases(
      rules(true, false),
      {
          {"alice+Entw\xc3\xbcrfe@example.com", "user.alice", "user.alice.Entw&APw-rfe", "alice"},
          {"alice+\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e@example.com",
           "user.alice", "user.alice.&U,BTFw-.&ZeVnLIqe-", "alice"},
          {"alice+Tom&Jerry@example.com", "user.alice", "user.alice.Tom&-Jerry", "alice"},
          // not UTF-8: the INBOX
          {"alice+\xc3(@example.com", "user.alice", "", "alice"},
          {"+\xe6\x97\xa5\xe6\x9c\xac@example.com", "&ZeVnLA-", "", ""},
      },
      "utf-8");
}

TEST(Recipient, Postuser) {
  expect_cases(rules(false, false, "", "bb"),
               {
                   {"bb+shared.blah@example.com", "shared.blah", "", ""},
                   {"BB+shared.blah@example.com", "shared.blah", "", ""},
                   {"bb@example.com", "", "", ""},
                   // with a postuser, an empty user is no shared address
                   {"+shared.blah@example.com", "", "", ""},
                   {"bob+x@example.com", "user.bob", "user.bob.x", "bob"},
               },
               "postuser bb");
}

TEST(Recipient, CatchallUserids) {
  auto plain = rules(true, false);
  auto inbox = inbox_of_userid("Catchall", plain);
  ASSERT_TRUE(inbox.ok());
  EXPECT_EQ(inbox->internal(), "user.catchall");
  auto virt = rules(true, true, "example.org");
  EXPECT_EQ(inbox_of_userid("lost@example.com", virt)->internal(), "example.com!user.lost");
  EXPECT_EQ(inbox_of_userid("lost@example.org", virt)->internal(), "user.lost");
  EXPECT_EQ(inbox_of_userid("lost+x", plain)->internal(), "user.lost");
  // an empty postuser does not turn an empty userid into a shared mailbox
  EXPECT_FALSE(inbox_of_userid("", plain).ok());
}

TEST(Recipient, OwnerOfAMailbox) {
  EXPECT_EQ(owner_of(MailboxName::from_internal("user.alice.Work").value()), "alice");
  EXPECT_EQ(owner_of(MailboxName::from_internal("example.com!user.alice").value()),
            "alice@example.com");
  EXPECT_EQ(owner_of(MailboxName::from_internal("shared.foo").value()), "");
}

}  // namespace
}  // namespace cubby::store
