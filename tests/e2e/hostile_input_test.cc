// Hostile clients that abuse the input side of one connection, against the real server:
//   - a byte-at-a-time client completes a delivery, stored byte-exact;
//   - a 10 MB command line is refused whole (500 5.5.2 Line too long), the session goes on, and
//     the worker never holds the line (its peak RSS grows by far less than 10 MB);
//   - 100,000 recipients in one transaction: lmtp_max_recipients (1000) are accepted, the rest get
//     452 4.5.3, the accepted ones are all delivered, memory stays bounded;
//   - pipelined garbage: every line is answered, the worker survives, others are served.
#include <chrono>
#include <random>

#include "tests/e2e/fixture.h"
#include "tests/e2e/hostile.h"

namespace cubby::e2e {
namespace {

using Clock = std::chrono::steady_clock;

using HostileInput = CubbyTest;

TEST_F(HostileInput, ByteAtATimeClientCompletesADelivery) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  LmtpClient c = tcp_client(cubby_->tcp_port());
  ASSERT_EQ(c.read_reply().code, 220);
  const std::string content = test_message("bytewise@e2e", 12);
  std::string wire = "LHLO e2e.client\r\nMAIL FROM:<sender@example.org>\r\n"
                     "RCPT TO:<alice@e2e.test>\r\nRCPT TO:<bob@e2e.test>\r\nDATA\r\n";
  DotStuffer stuffer;
  stuffer.stuff(content, &wire);
  wire += stuffer.end();
  wire += "QUIT\r\n";
  // One byte per write with a short pause, so that the worker reads (almost) one byte at a time.
  for (char ch : wire) {
    ASSERT_TRUE(c.send(std::string_view(&ch, 1))) << c.error();
    std::this_thread::sleep_for(150us);
  }
  c.set_timeout(20s);
  std::vector<LmtpReply> replies = c.read_replies(8);
  ASSERT_EQ(replies.size(), 8u);
  const int expected[] = {250, 250, 250, 250, 354, 250, 250, 221};
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(replies[i].code, expected[i]) << replies[i].text();
  EXPECT_TRUE(c.wait_closed(5s));
  for (const char* user : {"alice", "bob"}) {
    auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), user, 1));
    ASSERT_TRUE(stored) << user;
    EXPECT_EQ(check_stored(*stored, "sender@example.org", "[127.0.0.1]", content), "") << user;
  }
  std::cout << "[ measures ] " << wire.size() << " bytes sent one at a time\n";
}

TEST_F(HostileInput, TenMegabyteCommandLineIsRefusedWholeAndTheSessionGoesOn) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::vector<pid_t> workers = cubby_->workers("lmtpunix");
  ASSERT_FALSE(workers.empty());
  LmtpClient c = unix_client();
  c.set_timeout(30s);
  ASSERT_EQ(c.read_reply().code, 220);
  ASSERT_EQ(c.command("LHLO e2e.client").code, 250);
  const long peak_before = peak_kib(workers);

  constexpr size_t kLine = 10 * 1000 * 1000;
  {
    // A MAIL command 10 MB long, then a bare-CR flood 10 MB long (the discarding must find the
    // line's end however the CRs fall), each followed by a NOOP.
    std::string wire = "MAIL FROM:<" + std::string(kLine, 'a') + "@example.org>\r\nNOOP\r\n" +
                       std::string(kLine, '\r') + "\nNOOP\r\n";
    BackgroundWriter writer(c.fd(), std::move(wire));
    std::vector<LmtpReply> replies = c.read_replies(4);
    writer.join();
    ASSERT_TRUE(writer.ok());
    ASSERT_EQ(replies.size(), 4u);
    EXPECT_EQ(replies[0].text(), "500 5.5.2 Line too long");
    EXPECT_EQ(replies[1].text(), "250 2.0.0 ok");
    EXPECT_EQ(replies[2].text(), "500 5.5.2 Line too long");
    EXPECT_EQ(replies[3].text(), "250 2.0.0 ok");
  }
  // The session still works: a whole delivery on it.
  EXPECT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, test_message("after-long@e2e"),
                      /*greet=*/false),
            "");
  EXPECT_EQ(c.command("QUIT").code, 221);

  const long peak_after = peak_kib(workers);
  if (!kSanitized) {
    EXPECT_LT(peak_after - peak_before, 4 * 1024)
          << "the worker's peak RSS grew from " << peak_before << " to " << peak_after << " KiB";
  }
  std::cout << "[ measures ] 2 x 10 MB lines: worker VmHWM " << peak_before << " -> " << peak_after
            << " KiB\n";
  EXPECT_EQ(cubby_->workers("lmtpunix"), workers) << "a worker died";
}

TEST_F(HostileInput, HundredThousandRecipientsAreCappedAndTheAcceptedOnesDelivered) {
  constexpr int kMailboxes = 10;
  constexpr int kRecipients = 100000;
  constexpr int kCap = 1000;  // lmtp_max_recipients
  std::vector<std::string> users;
  for (int i = 0; i < kMailboxes; ++i) users.push_back("r" + std::to_string(i));
  // Duplicate suppression off: the one message goes to each mailbox 100 times.
  ASSERT_NO_FATAL_FAILURE(start(users, {"lmtp_max_recipients: " + std::to_string(kCap),
                                        "duplicatesuppression: no"}));
  const std::vector<pid_t> workers = cubby_->workers("lmtpunix");
  LmtpClient c = unix_client();
  c.set_timeout(60s);
  ASSERT_EQ(c.read_reply().code, 220);
  ASSERT_EQ(c.command("LHLO e2e.client").code, 250);
  const long peak_before = peak_kib(workers);

  const auto t0 = Clock::now();
  std::string wire = "MAIL FROM:<sender@example.org>\r\n";
  for (int i = 0; i < kRecipients; ++i) wire += "RCPT TO:<r" + std::to_string(i % kMailboxes) + "@e2e.test>\r\n";
  const size_t wire_size = wire.size();
  BackgroundWriter writer(c.fd(), std::move(wire));
  ASSERT_EQ(c.read_reply().code, 250);
  int accepted = 0, capped = 0, other = 0;
  std::string first_other;
  for (int i = 0; i < kRecipients; ++i) {
    LmtpReply r = c.read_reply();
    if (r.code == 250 && r.enhanced() == "2.1.5") {
      ++accepted;
    } else if (r.text() == "452 4.5.3 Too many recipients") {
      ++capped;
    } else {
      if (other++ == 0) first_other = r.text();
      if (r.code == 0) break;
    }
  }
  writer.join();
  EXPECT_EQ(accepted, kCap);
  EXPECT_EQ(capped, kRecipients - kCap);
  EXPECT_EQ(other, 0) << first_other;

  ASSERT_EQ(c.command("DATA").code, 354);
  ASSERT_TRUE(c.send_data(test_message("many-rcpts@e2e")));
  int delivered = 0;
  for (int i = 0; i < kCap; ++i) {
    LmtpReply r = c.read_reply();
    if (r.code == 250) ++delivered;
    if (r.code == 0) break;
  }
  EXPECT_EQ(delivered, kCap);
  const auto took = Clock::now() - t0;
  EXPECT_EQ(c.command("QUIT").code, 221);

  const long peak_after = peak_kib(workers);
  if (!kSanitized) {
    EXPECT_LT(peak_after - peak_before, 32 * 1024)
        << "peak RSS " << peak_before << " -> " << peak_after << " KiB";
  }
  for (const auto& u : users) {
    auto rows = cubby_->messages(u);
    ASSERT_TRUE(rows);
    EXPECT_EQ(static_cast<int>(rows->size()), kCap / kMailboxes) << u;
  }
  ASSERT_TRUE(cubby_->wait_settled(30s));
  auto stats = cubby_->stats();
  EXPECT_EQ(stats["default"].messages, uint64_t{kCap});
  EXPECT_EQ(stats["default"].inodes, 1u) << "1000 deliveries of one message share one inode";
  expect_check_passes();
  std::cout << "[ measures ] " << kRecipients << " RCPTs (" << wire_size << " bytes) in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms; worker VmHWM " << peak_before << " -> " << peak_after << " KiB\n";
}

// Random bytes that never contain LF (which ends a command line, bare or not), so each line is
// one command the server must answer.
std::string garbage_line(std::mt19937& rng, size_t length) {
  std::string s(length, '\0');
  for (size_t i = 0; i < length; ++i) {
    s[i] = static_cast<char>(rng() & 0xff);
    if (s[i] == '\n') s[i] = 'x';
  }
  if (!s.empty() && s.back() == '\r') s.back() = 'y';
  return s;
}

TEST_F(HostileInput, PipelinedGarbageIsAnsweredLineByLineAndBreaksNothing) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::vector<pid_t> tcp_workers = cubby_->workers("lmtp");
  std::mt19937 rng(20240601);
  constexpr int kLines = 3000;
  std::string wire;
  for (int i = 0; i < kLines; ++i) {
    // Mostly short lines, some longer than the 4096-byte command limit.
    const size_t length = i % 50 == 0 ? 4000 + rng() % 8000 : rng() % 200;
    wire += garbage_line(rng, length);
    wire += "\r\n";
  }
  wire += "NOOP\r\n";
  const size_t wire_size = wire.size();

  LmtpClient c = tcp_client(cubby_->tcp_port());
  c.set_timeout(30s);
  ASSERT_EQ(c.read_reply().code, 220);
  BackgroundWriter writer(c.fd(), std::move(wire));
  int refused = 0;
  std::string odd;
  for (int i = 0; i < kLines; ++i) {
    LmtpReply r = c.read_reply();
    if (r.code == 500) {
      ++refused;
    } else {
      odd += "\n  line " + std::to_string(i) + ": " + r.text();
      if (r.code == 0) break;
    }
  }
  writer.join();
  EXPECT_EQ(refused, kLines) << "replies other than 500:" << odd;
  EXPECT_EQ(c.read_reply().text(), "250 2.0.0 ok") << "the session must go on";

  // Now raw random bytes, CR and LF included, on a second connection that then hangs up.
  {
    LmtpClient raw = tcp_client(cubby_->tcp_port());
    std::string noise(1 << 20, '\0');
    for (char& ch : noise) ch = static_cast<char>(rng() & 0xff);
    BackgroundWriter w(raw.fd(), std::move(noise));
    // Drain what the server says until it closes or we have sent everything.
    raw.set_timeout(200ms);
    for (int i = 0; i < 200 && raw.read_reply().code != 0; ++i) {
    }
    w.join();
    raw.close();
  }

  // The workers survived, and another client is served on the same service.
  for (pid_t p : tcp_workers) EXPECT_TRUE(process_alive(p)) << "worker " << p << " died";
  LmtpClient other = tcp_client(cubby_->tcp_port());
  EXPECT_EQ(other.deliver("sender@example.org", {"alice@e2e.test"}, test_message("garbage@e2e")),
            "");
  EXPECT_EQ(c.deliver("sender@example.org", {"alice@e2e.test"}, test_message("garbage2@e2e"),
                      /*greet=*/false),
            "");
  std::cout << "[ measures ] " << kLines << " garbage lines (" << wire_size
            << " bytes) answered; 1 MiB of raw noise survived\n";
}

}  // namespace
}  // namespace cubby::e2e
