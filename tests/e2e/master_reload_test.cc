// End-to-end: SIGHUP and SIGTERM with transactions in flight. A reload that adds a TCP service and
// removes another lets every transaction in flight finish with its 250s; a broken file on SIGHUP
// changes nothing; SIGTERM in the middle of a 50 MiB DATA completes that delivery before the
// master exits 0.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "tests/e2e/master_fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";
using ReloadE2e = MasterTest;

// Sends `content` in two halves around `between`, then expects 250 2.1.5 for each recipient.
class SplitMessage {
 public:
  explicit SplitMessage(std::string content) : content_(std::move(content)) {}
  bool send_first_half(LmtpClient& c) {
    std::string wire;
    stuffer_.stuff(std::string_view(content_).substr(0, content_.size() / 2), &wire);
    return c.send(wire);
  }
  bool send_rest(LmtpClient& c) {
    std::string wire;
    stuffer_.stuff(std::string_view(content_).substr(content_.size() / 2), &wire);
    wire += stuffer_.end();
    return c.send(wire);
  }

 private:
  std::string content_;
  DotStuffer stuffer_;
};

TEST_F(ReloadE2e, SighupAddsATcpServiceRemovesAnotherAndInFlightTransactionsFinish) {
  const int old_port = free_tcp_port();
  ASSERT_NO_FATAL_FAILURE(start_master(
      {"alice", "bob"}, {},
      {"old cmd=\"lmtpd -a\" listen=\"127.0.0.1:" + std::to_string(old_port) + "\" prefork=1"}));
  // A transaction in flight on a service that stays, and one on the service that goes.
  LmtpClient kept = unix_client();
  LmtpClient leaving = tcp_client(old_port);
  ASSERT_EQ(kept.begin_transaction(kSender, {"alice@e2e.test", "bob@e2e.test"}), "");
  ASSERT_EQ(leaving.begin_transaction(kSender, {"alice@e2e.test"}), "");
  SplitMessage kept_msg(test_message("kept@example.org", 4000));
  SplitMessage leaving_msg(test_message("leaving@example.org", 4000));
  ASSERT_TRUE(kept_msg.send_first_half(kept)) << kept.error();
  ASSERT_TRUE(leaving_msg.send_first_half(leaving)) << leaving.error();
  ASSERT_TRUE(
      eventually([&] { return CubbyInstance::stage_files(cubby_->spool()).size() == 2; }, 5s));

  int new_port = free_tcp_port();
  while (new_port == old_port) new_port = free_tcp_port();
  std::string text = services_text();
  size_t at = text.find("  old cmd=");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(
      at, text.find('\n', at) + 1 - at,
      "  new cmd=\"lmtpd -a\" listen=\"127.0.0.1:" + std::to_string(new_port) + "\" prefork=1\n");
  write_services(text);
  ASSERT_TRUE(reload()) << cubby_->log();
  ASSERT_NE(cubby_->log().find("SIGHUP: reloaded:"), std::string::npos) << cubby_->log();

  // The new service delivers; the old port is closed.
  LmtpClient fresh;
  ASSERT_TRUE(eventually([&] { return fresh.connect_tcp(new_port); }, 5s)) << fresh.error();
  EXPECT_EQ(fresh.deliver(kSender, {"bob@e2e.test"}, test_message("new@example.org")), "");
  EXPECT_TRUE(eventually(
      [&] {
        LmtpClient c;
        return !c.connect_tcp(old_port);
      },
      5s))
      << "the removed service still accepts";

  // Both transactions in flight finish with their replies.
  ASSERT_TRUE(kept_msg.send_rest(kept)) << kept.error();
  ASSERT_TRUE(leaving_msg.send_rest(leaving)) << leaving.error();
  for (const char* who : {"alice", "bob"}) {
    LmtpReply r = kept.read_reply();
    EXPECT_EQ(r.code, 250) << who << ": " << r.text();
  }
  LmtpReply r = leaving.read_reply();
  EXPECT_EQ(r.code, 250) << r.text();
  // Their workers were recycled: the sessions end after the transaction, politely.
  EXPECT_EQ(kept.read_reply().text(), "421 4.3.2 Shutting down");
  EXPECT_EQ(leaving.read_reply().text(), "421 4.3.2 Shutting down");

  // The services that stayed serve new connections with their new workers.
  LmtpClient again = unix_client();
  EXPECT_EQ(again.deliver(kSender, {"alice@e2e.test"}, test_message("after@example.org")), "");
  auto alice = cubby_->messages("alice");
  auto bob = cubby_->messages("bob");
  ASSERT_TRUE(alice && bob);
  EXPECT_EQ(alice->size(), 3u);
  EXPECT_EQ(bob->size(), 2u);
  ASSERT_TRUE(cubby_->wait_settled());
  expect_check_passes();
}

TEST_F(ReloadE2e, BrokenFilesOnSighupKeepEverythingServing) {
  ASSERT_NO_FATAL_FAILURE(start_master({"alice"}, {}, {}));
  const auto workers = cubby_->workers();
  const std::string good = services_text();
  // A services entry without listen=, on line 2.
  write_services("SERVICES {\n  lmtpunix cmd=\"lmtpd\"\n}\n");
  ASSERT_TRUE(reload());
  EXPECT_NE(cubby_->log().find("SIGHUP: cannot reload, the running configuration stays: " +
                               cubby_->services_path() +
                               ":2: service \"lmtpunix\": listen= is "
                               "required"),
            std::string::npos)
      << cubby_->log();
  write_services(good);
  // A settings value that does not parse.
  const std::string settings = read_file(cubby_->settings_path()).value_or("");
  std::ofstream(cubby_->settings_path(), std::ios::app) << "lmtp_max_connections: many\n";
  ASSERT_TRUE(reload());
  std::ofstream(cubby_->settings_path(), std::ios::trunc) << settings;  // for cubbyctl below
  EXPECT_NE(cubby_->log().find(cubby_->settings_path() + ":"), std::string::npos) << cubby_->log();
  EXPECT_EQ(count(cubby_->log(), "SIGHUP: cannot reload"), 2u) << cubby_->log();

  EXPECT_EQ(cubby_->workers(), workers) << "a refused reload recycled workers";
  LmtpClient over_unix = unix_client();
  EXPECT_EQ(over_unix.deliver(kSender, {"alice@e2e.test"}, test_message("u@example.org")), "");
  LmtpClient over_tcp = tcp_client(cubby_->tcp_port());
  EXPECT_EQ(over_tcp.deliver(kSender, {"alice@e2e.test"}, test_message("t@example.org")), "");
  auto status = cubby_->ctl({"status"});
  EXPECT_NE(status.out.find("lmtp_max_connections"), std::string::npos)
      << "status shows why the last reload failed\n"
      << status.describe();
}

// 50 MiB of 100-byte lines, made as they are sent.
class BigMessage {
 public:
  static constexpr uint64_t kBytes = 50ull << 20;
  std::string header() const {
    return "From: <sender@example.org>\r\nTo: <alice@e2e.test>\r\nSubject: 50 MiB\r\n"
           "Message-ID: <fifty@example.org>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n\r\n";
  }
  std::string chunk(size_t lines) {
    std::string out;
    for (size_t i = 0; i < lines && sent_ < kBytes; ++i, sent_ += 100) {
      std::string line(98, static_cast<char>('a' + (sent_ / 100) % 26));
      out += line + "\r\n";
    }
    return out;
  }
  bool done() const { return sent_ >= kBytes; }
  uint64_t sent() const { return sent_; }

 private:
  uint64_t sent_ = 0;
};

TEST_F(ReloadE2e, SigtermDuringA50MiBDataCompletesThatDeliveryBeforeExit) {
  ASSERT_NO_FATAL_FAILURE(start_master({"alice", "bob"}, {}, {}));
  LmtpClient c = unix_client();
  c.set_timeout(60s);
  ASSERT_EQ(c.begin_transaction(kSender, {"alice@e2e.test", "bob@e2e.test"}), "");
  BigMessage m;
  ASSERT_TRUE(c.send(m.header()));
  while (m.sent() < BigMessage::kBytes / 2) ASSERT_TRUE(c.send(m.chunk(1000))) << c.error();

  const pid_t master = cubby_->master_pid();
  ASSERT_EQ(kill(master, SIGTERM), 0);
  ASSERT_TRUE(eventually([&] { return cubby_->log().find("stopping:") != std::string::npos; }, 5s));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(process_alive(master)) << "the master exited with a delivery in flight";
  while (!m.done()) ASSERT_TRUE(c.send(m.chunk(1000))) << c.error();
  ASSERT_TRUE(c.send(".\r\n"));
  for (const char* who : {"alice", "bob"}) {
    LmtpReply r = c.read_reply();
    EXPECT_EQ(r.code, 250) << who << ": " << r.text();
  }
  EXPECT_EQ(c.read_reply().text(), "421 4.3.2 Shutting down");
  auto status = cubby_->wait_master(30s);
  ASSERT_TRUE(status) << "the master did not exit";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_GT((*rows)[0].size, BigMessage::kBytes);
  auto file = stat_file(CubbyInstance::message_file(cubby_->spool(), "bob", 1));
  ASSERT_TRUE(file);
  EXPECT_EQ(file->st_nlink, 2u);
}

}  // namespace
}  // namespace cubby::e2e
