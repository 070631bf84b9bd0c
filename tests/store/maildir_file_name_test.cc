// Tests of Maildir file names: unique names carrying S= and W=, the host escaped, and the sizes
// read back as Dovecot reads them.
#include "store/maildir_file_name.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace cubby::store {
namespace {

TEST(MaildirFileName, SizesOfAMessage) {
  MessageSizeCounter counter;
  counter.add("Subject: x\r\n");  // 12 bytes, CRLF already
  counter.add("\nbody\r");        // bare LF: +1
  counter.add("\nend\n");         // the LF after the CR of the previous piece is no bare LF; +1
  EXPECT_EQ(counter.sizes().bytes, 23u);
  EXPECT_EQ(counter.sizes().crlf_bytes, 25u);
}

TEST(MaildirFileName, HostIsEscaped) {
  EXPECT_EQ(maildir_host("mx1.example.com"), "mx1.example.com");
  EXPECT_EQ(maildir_host("a/b:c,d"), "a\\057b\\072c\\054d");
  EXPECT_EQ(maildir_host(""), "localhost");
}

TEST(MaildirFileName, NewNamesAreUniqueAndCarryTheSizes) {
  MaildirNamer namer("mx/1:a,b");
  std::set<std::string> names;
  std::vector<std::thread> threads;
  std::mutex m;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        std::string n = namer.next({1234, 1260});
        std::lock_guard lock(m);
        names.insert(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(names.size(), 2000u);
  const std::string name = *names.begin();
  EXPECT_EQ(name.find('/'), std::string::npos);
  EXPECT_EQ(name.find(':'), std::string::npos);
  EXPECT_NE(name.find(".mx\\0571\\072a\\054b,S=1234,W=1260"), std::string::npos) << name;
  EXPECT_EQ(maildir_name_size(name), 1234u);
  EXPECT_EQ(maildir_name_crlf_size(name), 1260u);
  // Two namers (two processes after a restart, say) do not repeat each other.
  MaildirNamer other("mx/1:a,b");
  EXPECT_FALSE(names.count(other.next({1234, 1260})));
}

TEST(MaildirFileName, SizeFieldsAsDovecotReadsThem) {
  EXPECT_EQ(maildir_name_size("1700000000.M1P2.host,S=42:2,S"), 42u);
  EXPECT_EQ(maildir_name_size("1700000000.M1P2.host,S=42,W=44:2,ST"), 42u);
  EXPECT_EQ(maildir_name_crlf_size("1700000000.M1P2.host,S=42,W=44:2,ST"), 44u);
  EXPECT_EQ(maildir_name_size("1700000000.M1P2.host"), std::nullopt);
  EXPECT_EQ(maildir_name_size("1700000000.M1P2.host,S=4x2"), std::nullopt);
  EXPECT_EQ(maildir_name_size("1700000000.M1P2.host,S="), std::nullopt);
  EXPECT_EQ(maildir_name_size("1700000000.M1P2.host:2,S=12"), std::nullopt);  // flags, not a size
  EXPECT_EQ(maildir_name_size("x,S=99999999999999999999999"), std::nullopt);
  EXPECT_EQ(maildir_base_name("a,S=1:2,RS"), "a,S=1");
  EXPECT_EQ(maildir_flags("a,S=1:2,RS"), "RS");
  EXPECT_EQ(maildir_flags("a,S=1"), "");
}

}  // namespace
}  // namespace cubby::store
