// End-to-end delivery: a real cubby-master and lmtpd on a temporary store, driven over the UNIX
// socket and loopback TCP; the files on disk, link counts, the index (cubbyctl) and the stats are
// checked against what was sent (invariant 3 of docs/store-protocol.md: one inode per partition per transaction).
#include <unistd.h>

#include <set>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";

std::vector<std::string> user_names(int n, const std::string& prefix = "rcpt") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

std::vector<std::string> addresses(const std::vector<std::string>& users) {
  std::vector<std::string> out;
  for (const auto& u : users) out.push_back(u + "@e2e.test");
  return out;
}

// Every user has exactly one message, uid 1, byte-exact, all of them links to one inode with
// st_nlink == users.size(), its GUID the hash of the stored bytes.
void expect_one_shared_copy(const CubbyInstance& cubby, const std::string& spool,
                            const std::vector<std::string>& users, const std::string& client_host,
                            const std::string& content, uint64_t* stored_size) {
  std::optional<ino_t> inode;
  for (const auto& u : users) {
    SCOPED_TRACE("mailbox user/" + u);
    std::string error;
    auto rows = cubby.messages(u, &error);
    ASSERT_TRUE(rows) << error;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].uid, 1);
    const std::string path = CubbyInstance::message_file(spool, u, 1);
    auto stored = read_file(path);
    ASSERT_TRUE(stored) << "cannot read " << path;
    EXPECT_EQ(check_stored(*stored, kSender, client_host, content), "");
    EXPECT_EQ((*rows)[0].size, stored->size());
    EXPECT_EQ((*rows)[0].guid, guid_of(*stored));
    *stored_size = stored->size();
    auto st = stat_file(path);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->st_nlink, users.size()) << path;
    if (!inode) inode = st->st_ino;
    EXPECT_EQ(st->st_ino, *inode) << path << " is not a link to the first recipient's file";
    EXPECT_EQ(CubbyInstance::message_files(spool, u), std::vector<std::string>{"1."});
  }
}

enum class Transport { kUnix, kTcp };

struct DeliveryCase {
  Transport transport;
  int recipients;
};

std::string case_name(const testing::TestParamInfo<DeliveryCase>& info) {
  return std::string(info.param.transport == Transport::kUnix ? "UnixSocket" : "TcpPreauth") +
         "To" + std::to_string(info.param.recipients);
}

class Delivery : public CubbyTest, public testing::WithParamInterface<DeliveryCase> {};

TEST_P(Delivery, EveryRecipientGetsOneHardLinkOfTheExactBytes) {
  const DeliveryCase param = GetParam();
  const auto users = user_names(param.recipients);
  ASSERT_NO_FATAL_FAILURE(start(users));

  LmtpClient c =
      param.transport == Transport::kUnix ? unix_client() : tcp_client(cubby_->tcp_port());
  const std::string content =
      test_message("delivery-" + std::to_string(param.recipients) + "@example.org");
  ASSERT_EQ(c.begin_transaction(kSender, addresses(users)), "");
  ASSERT_TRUE(c.send_data(content)) << c.error();
  auto replies = c.read_replies(users.size());
  ASSERT_EQ(replies.size(), users.size());
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].code, 250) << "recipient " << i << ": " << replies[i].text();
    EXPECT_EQ(replies[i].enhanced(), "2.1.5") << replies[i].text();
    EXPECT_NE(replies[i].text().find("Success SESSIONID=<"), std::string::npos)
        << replies[i].text();
  }
  EXPECT_EQ(c.command("QUIT").code, 221);

  // Links are durable and the stage file retired at the next checkpoint.
  ASSERT_TRUE(cubby_->wait_settled())
      << "stage files left: " << CubbyInstance::stage_files(cubby_->spool()).size();
  uint64_t size = 0;
  const std::string host = param.transport == Transport::kUnix ? "[unix socket]" : "[127.0.0.1]";
  ASSERT_NO_FATAL_FAILURE(
      expect_one_shared_copy(*cubby_, cubby_->spool(), users, host, content, &size));
  expect_check_passes();

  auto stats = cubby_->stats();
  ASSERT_TRUE(stats.count("default")) << "cubbyctl stats --json gave no partition \"default\"";
  EXPECT_EQ(stats["default"].messages, users.size());
  EXPECT_EQ(stats["default"].logical_bytes, users.size() * size);
  EXPECT_EQ(stats["default"].physical_bytes, size);
  EXPECT_EQ(stats["default"].inodes, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    E2e, Delivery,
    testing::Values(DeliveryCase{Transport::kUnix, 1}, DeliveryCase{Transport::kUnix, 5},
                    DeliveryCase{Transport::kUnix, 100}, DeliveryCase{Transport::kTcp, 1},
                    DeliveryCase{Transport::kTcp, 5}, DeliveryCase{Transport::kTcp, 100}),
    case_name);

using DeliveryE2e = CubbyTest;

TEST_F(DeliveryE2e, TcpWithoutPreauthRefusesMailAndStoresNothing) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  LmtpClient c = tcp_client(cubby_->auth_port());
  EXPECT_EQ(c.read_reply().code, 220);
  EXPECT_EQ(c.command("LHLO e2e.client").code, 250);
  LmtpReply mail = c.command("MAIL FROM:<sender@example.org>");
  ASSERT_EQ(mail.lines.size(), 1u) << mail.text();
  EXPECT_EQ(mail.lines[0], "430 4.7.0 Authentication required");
  LmtpReply rcpt = c.command("RCPT TO:<alice@e2e.test>");
  EXPECT_GE(rcpt.code, 400) << rcpt.text();
  LmtpReply data = c.command("DATA");
  EXPECT_GE(data.code, 400) << data.text();
  EXPECT_EQ(c.command("QUIT").code, 221);

  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty());
  EXPECT_TRUE(CubbyInstance::message_files(cubby_->spool(), "alice").empty());
  EXPECT_TRUE(CubbyInstance::stage_files(cubby_->spool()).empty());
}

TEST_F(DeliveryE2e, RecipientsOnTwoPartitionsGetOneInodePerPartition) {
  ASSERT_NO_FATAL_FAILURE(start({}, {}, /*second_partition=*/true));
  ASSERT_FALSE(cubby_->create_mailbox("alice"));
  ASSERT_FALSE(cubby_->create_mailbox("carol"));
  ASSERT_FALSE(cubby_->create_mailbox("bob", "p2"));
  ASSERT_FALSE(cubby_->create_mailbox("dave", "p2"));
  ASSERT_FALSE(cubby_->create_mailbox("erin", "p2"));

  LmtpClient c = unix_client();
  const std::string content = test_message("two-partitions@example.org");
  ASSERT_EQ(c.deliver(kSender,
                      {"alice@e2e.test", "bob@e2e.test", "carol@e2e.test", "dave@e2e.test",
                       "erin@e2e.test"},
                      content),
            "");
  ASSERT_TRUE(cubby_->wait_settled());

  uint64_t size1 = 0, size2 = 0;
  {
    SCOPED_TRACE("partition default");
    ASSERT_NO_FATAL_FAILURE(expect_one_shared_copy(*cubby_, cubby_->spool(), {"alice", "carol"},
                                                   "[unix socket]", content, &size1));
  }
  {
    SCOPED_TRACE("partition p2");
    ASSERT_NO_FATAL_FAILURE(expect_one_shared_copy(
        *cubby_, cubby_->spool2(), {"bob", "dave", "erin"}, "[unix socket]", content, &size2));
  }
  EXPECT_EQ(size1, size2);
  auto a = stat_file(CubbyInstance::message_file(cubby_->spool(), "alice", 1));
  auto b = stat_file(CubbyInstance::message_file(cubby_->spool2(), "bob", 1));
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->st_dev == b->st_dev && a->st_ino == b->st_ino)
      << "the two partitions share one inode";
  expect_check_passes();

  auto stats = cubby_->stats();
  EXPECT_EQ(stats["default"].messages, 2u);
  EXPECT_EQ(stats["default"].logical_bytes, 2 * size1);
  EXPECT_EQ(stats["default"].physical_bytes, size1);
  EXPECT_EQ(stats["default"].inodes, 1u);
  EXPECT_EQ(stats["p2"].messages, 3u);
  EXPECT_EQ(stats["p2"].logical_bytes, 3 * size2);
  EXPECT_EQ(stats["p2"].physical_bytes, size2);
  EXPECT_EQ(stats["p2"].inodes, 1u);
}

TEST_F(DeliveryE2e, PipelinedTransactionInOneWriteGetsEveryReplyInOrder) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob", "carol"}));
  const std::string content = test_message("pipelined@example.org");
  std::string wire =
      "LHLO e2e.client\r\n"
      "MAIL FROM:<sender@example.org>\r\n"
      "RCPT TO:<alice@e2e.test>\r\n"
      "RCPT TO:<nobody@e2e.test>\r\n"
      "RCPT TO:<bob@e2e.test>\r\n"
      "RCPT TO:<carol@e2e.test>\r\n"
      "DATA\r\n";
  DotStuffer stuffer;
  stuffer.stuff(content, &wire);
  wire += stuffer.end();
  wire += "QUIT\r\n";

  LmtpClient c = unix_client();
  // Everything, greeting not yet read, in one write.
  ASSERT_EQ(::write(c.fd(), wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));

  EXPECT_EQ(c.read_reply().code, 220);
  LmtpReply lhlo = c.read_reply();
  ASSERT_EQ(lhlo.code, 250) << lhlo.text();
  EXPECT_NE(lhlo.text().find("PIPELINING"), std::string::npos) << lhlo.text();
  const size_t sid = lhlo.lines.back().find("SESSIONID=<");
  ASSERT_NE(sid, std::string::npos) << lhlo.text();
  const std::string session = lhlo.lines.back().substr(sid);

  LmtpReply mail = c.read_reply();
  EXPECT_EQ(mail.code, 250) << mail.text();
  LmtpReply alice = c.read_reply(), nobody = c.read_reply(), bob = c.read_reply(),
            carol = c.read_reply();
  EXPECT_EQ(alice.code, 250) << alice.text();
  EXPECT_EQ(nobody.code, 550) << nobody.text();
  EXPECT_EQ(nobody.enhanced(), "5.1.1") << nobody.text();
  EXPECT_EQ(bob.code, 250) << bob.text();
  EXPECT_EQ(carol.code, 250) << carol.text();
  LmtpReply data = c.read_reply();
  EXPECT_EQ(data.code, 354) << data.text();
  // One reply per accepted recipient (alice, bob, carol), in RCPT order, naming the session.
  for (const char* who : {"alice", "bob", "carol"}) {
    LmtpReply r = c.read_reply();
    EXPECT_EQ(r.code, 250) << who << ": " << r.text();
    ASSERT_EQ(r.lines.size(), 1u) << who << ": " << r.text();
    EXPECT_EQ(r.lines[0], "250 2.1.5 Success " + session) << who;
  }
  EXPECT_EQ(c.read_reply().code, 221);
  EXPECT_TRUE(c.wait_closed(5s)) << "the connection stayed open after QUIT";

  ASSERT_TRUE(cubby_->wait_settled());
  for (const char* who : {"alice", "bob", "carol"}) {
    auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), who, 1));
    ASSERT_TRUE(stored) << who;
    EXPECT_EQ(check_stored(*stored, kSender, "[unix socket]", content), "") << who;
  }
  EXPECT_TRUE(CubbyInstance::message_files(cubby_->spool(), "nobody").empty());
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
