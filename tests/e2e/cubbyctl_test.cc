// End-to-end administration with cubbyctl against a store lmtpd delivered into: reconstruct after
// the index is deleted (every message back, same UIDs, uid next above the highest), verify catching
// a file altered on disk, message delete (one link, quota follows), and the exit codes scripts use.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/e2e/fixture.h"
#include "tests/e2e/transaction.h"

namespace cubby::e2e {
namespace {

using CubbyctlE2e = CubbyTest;

std::string message(const std::string& id) {
  return "Message-ID: <" + id + ">\r\nSubject: " + id + "\r\n\r\nbody of " + id + "\r\n";
}

int64_t uidnext(const CubbyInstance& cubby, const std::string& mailbox) {
  auto r = cubby.ctl({"mailbox", "info", mailbox, "--json"});
  std::smatch m;
  static const std::regex re(R"re("uidnext":(\d+))re");
  return std::regex_search(r.out, m, re) ? std::stoll(m[1]) : -1;
}

TEST_F(CubbyctlE2e, ReconstructAfterTheIndexIsDeleted) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  ASSERT_EQ(cubby_->ctl({"mailbox", "create", "user/alice/Work"}).exit_code, 0);
  ASSERT_EQ(cubby_->ctl({"acl", "set", "user/alice/Work", "anyone", "p"}).exit_code, 0);
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/alice", "storage=1000"}).exit_code, 0);
  {
    LmtpClient c = unix_client();
    c.read_reply();
    c.command("LHLO e2e.client");
    for (int i = 0; i < 4; ++i) {
      Transaction t = run_transaction(c, "s@x", {"alice@x", "bob@x", "alice+Work@x"},
                                      message("r" + std::to_string(i) + "@x"), false);
      ASSERT_EQ(t.final.size(), 3u);
      for (const auto& r : t.final) ASSERT_EQ(r.code, 250) << r.text();
    }
  }
  // alice's highest UID goes: 4 must not come back.
  ASSERT_EQ(cubby_->ctl({"message", "delete", "user/alice", "4"}).exit_code, 0);
  ASSERT_TRUE(cubby_->wait_settled());
  std::map<std::string, std::vector<MessageRow>> before;
  for (const char* box : {"user/alice", "user/bob", "user/alice/Work"}) {
    before[box] = *cubby_->mailbox_messages(box);
  }
  ASSERT_EQ(before["user/alice"].size(), 3u);
  ASSERT_TRUE(cubby_->stop().has_value());

  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(root_.path() + "/lib/cubby.sqlite" + suffix);
  }
  auto r = cubby_->ctl({"reconstruct"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("user/alice: uid 1 found - adding"), std::string::npos) << r.out;
  for (const auto& [box, rows] : before) {
    SCOPED_TRACE(box);
    auto now = cubby_->mailbox_messages(box);
    ASSERT_TRUE(now);
    EXPECT_EQ(*now, rows);  // same UIDs, sizes, dates, GUIDs
    EXPECT_GT(uidnext(*cubby_, box), rows.back().uid);
  }
  EXPECT_EQ(uidnext(*cubby_, "user/alice"), 5);  // above the deleted 4
  auto quota = cubby_->ctl({"quota", "get", "user/alice", "--json"});
  EXPECT_NE(quota.out.find("\"storage_limit_kib\":1000"), std::string::npos) << quota.describe();
  EXPECT_NE(quota.out.find("\"message_used\":7"), std::string::npos) << quota.describe();
  auto acl = cubby_->ctl({"acl", "get", "user/alice/Work"});
  EXPECT_NE(acl.out.find("anyone"), std::string::npos) << acl.describe();
  expect_check_passes();

  // Delivery carries on above the old UIDs, and the old duplicate marks are gone (no index).
  ASSERT_FALSE(cubby_->start());
  LmtpClient c = unix_client();
  Transaction t = run_transaction(c, "s@x", {"alice@x"}, message("after@x"));
  ASSERT_EQ(t.final.size(), 1u);
  ASSERT_EQ(t.final[0].code, 250);
  EXPECT_EQ(cubby_->messages("alice")->back().uid, 5);
}

TEST_F(CubbyctlE2e, VerifyCatchesAFileAlteredOnDisk) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  LmtpClient c = unix_client();
  Transaction t = run_transaction(c, "s@x", {"alice@x", "bob@x"}, message("v@x"));
  ASSERT_EQ(t.final.size(), 2u);
  ASSERT_TRUE(cubby_->wait_settled());
  auto clean = cubby_->ctl({"verify"});
  EXPECT_EQ(clean.exit_code, 0) << clean.describe();
  {
    std::fstream f(CubbyInstance::message_file(cubby_->spool(), "bob", 1),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-4, std::ios::end);
    f.put('#');  // same size: only the hash tells
  }
  auto r = cubby_->ctl({"verify"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  // One inode, two links: both mailboxes are named.
  EXPECT_NE(r.out.find("user/alice: uid 1: XXH3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("user/bob: uid 1: XXH3"), std::string::npos) << r.out;
  auto json = cubby_->ctl({"verify", "--json", "user/bob"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_NE(json.out.find("\"problems\":[\"user/bob: uid 1: XXH3"), std::string::npos) << json.out;
  expect_check_passes();  // check compares sizes only
}

TEST_F(CubbyctlE2e, MessageDeleteAndExitCodes) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  ASSERT_EQ(cubby_->ctl({"quota", "set", "user/alice", "message=10"}).exit_code, 0);
  LmtpClient c = unix_client();
  Transaction t = run_transaction(c, "s@x", {"alice@x", "bob@x"}, message("del@x"));
  ASSERT_EQ(t.final.size(), 2u);
  ASSERT_TRUE(cubby_->wait_settled());
  const std::string bob_file = CubbyInstance::message_file(cubby_->spool(), "bob", 1);
  EXPECT_EQ(stat_file(bob_file)->st_nlink, 2u);
  auto del = cubby_->ctl({"message", "delete", "user/alice", "1"});
  ASSERT_EQ(del.exit_code, 0) << del.describe();
  EXPECT_EQ(stat_file(bob_file)->st_nlink, 1u);
  EXPECT_TRUE(cubby_->messages("alice")->empty());
  EXPECT_NE(cubby_->ctl({"quota", "get", "user/alice", "--json"}).out.find("\"message_used\":0"),
            std::string::npos);
  expect_check_passes();

  EXPECT_EQ(cubby_->ctl({"message", "delete", "user/alice", "1"}).exit_code, 2);
  EXPECT_EQ(cubby_->ctl({"message", "show", "user/nobody", "1"}).exit_code, 2);
  EXPECT_EQ(cubby_->ctl({"mailbox", "info", "user/nobody"}).exit_code, 2);
  EXPECT_EQ(cubby_->ctl({"quota", "get", "user/bob"}).exit_code, 2);
  EXPECT_EQ(cubby_->ctl({"mailbox", "create", "user/alice"}).exit_code, 3);
  EXPECT_EQ(cubby_->ctl({"mailbox", "rename", "user/alice", "user/bob"}).exit_code, 3);
  EXPECT_EQ(cubby_->ctl({"mailbox", "create", "user/a/../b"}).exit_code, 64);
  EXPECT_EQ(cubby_->ctl({"acl", "set", "user/alice", "anyone", "xyz"}).exit_code, 64);
  EXPECT_EQ(cubby_->ctl({"quota", "set", "user/alice", "storage=lots"}).exit_code, 64);
  EXPECT_EQ(cubby_->ctl({"frobnicate"}).exit_code, 64);
  EXPECT_EQ(run_program({std::string(CUBBY_BIN_DIR) + "/cubbyctl", "-C", "/nonexistent/x.conf",
                         "check"})
                .exit_code,
            78);
  // The mailbox list is what scripts parse: --json, one object per mailbox.
  auto list = cubby_->ctl({"mailbox", "list", "--json", "user/%"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("{\"name\":\"user/alice\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("{\"name\":\"user/bob\""), std::string::npos) << list.out;
}

}  // namespace
}  // namespace cubby::e2e
