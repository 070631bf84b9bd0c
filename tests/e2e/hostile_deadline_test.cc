// Hostile clients: slow senders meet a deadline (issue 19). The idle timeout is per read, so a peer
// sending one byte a second never meets it; lmtp_request_deadline bounds a whole command line and
// a whole message (the latter extended by 1/lmtp_min_data_rate s per byte received):
//   - a sender at 1 byte/s inside DATA is cut off at the deadline with 421 4.4.2 and nothing of
//     its message is kept; so is one trickling a command line;
//   - a large message sent at a normal rate, for longer than the bare deadline, is delivered.
// The deadline is 2 s here so the test runs in seconds.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = 2s;

class HostileDeadline : public CubbyTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(start({"alice"}, {"lmtp_request_deadline: 2s",
                                              "lmtp_min_data_rate: 1000000",
                                              "lmtp_idle_timeout: 60s"}));
  }
  // Sends `bytes` one byte a second until the server closes; returns everything it replied
  // meanwhile, and in *took the time from the first byte to the close.
  static std::string trickle(LmtpClient& c, const std::string& bytes, Clock::duration* took) {
    const auto t0 = Clock::now();
    std::string said;
    for (char b : bytes) {
      if (!c.send(std::string(1, b))) break;
      const auto next = Clock::now() + 1s;
      bool closed = false;
      while (Clock::now() < next) {
        c.set_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()));
        LmtpReply r = c.read_reply();
        if (r.code == 0) {
          closed = c.error().rfind("timeout after", 0) != 0;  // not just a quiet second
          break;
        }
        said += r.text() + "\n";
        if (r.code == 421) closed = true;
        if (closed) break;
      }
      if (closed) break;
      if (Clock::now() - t0 > 15s) break;
    }
    *took = Clock::now() - t0;
    return said;
  }
};

TEST_F(HostileDeadline, OneByteASecondInsideDataIsCutOffWith421_442) {
  LmtpClient c = unix_client();
  ASSERT_EQ(c.begin_transaction("sender@example.org", {"alice@e2e.test"}), "");
  Clock::duration took{};
  const std::string said = trickle(c, test_message("slow@e2e"), &took);
  EXPECT_NE(said.find("421 4.4.2"), std::string::npos) << said;
  EXPECT_GE(took, kDeadline - 100ms);
  EXPECT_LT(took, kDeadline + 3s) << "cut off late";
  EXPECT_TRUE(c.wait_closed(5s)) << "the connection stays open";
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty()) << "a partial message was kept";
  EXPECT_TRUE(eventually([&] { return CubbyInstance::stage_files(cubby_->spool()).empty(); }, 5s))
      << "its stage file was kept";
  std::cout << "[ measures ] 1 byte/s sender cut off after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms: "
            << said;
  // Others are served meanwhile and after.
  LmtpClient other = unix_client();
  EXPECT_EQ(other.deliver("sender@example.org", {"alice@e2e.test"}, test_message("fast@e2e")), "");
}

TEST_F(HostileDeadline, OneByteASecondInACommandLineIsCutOff) {
  LmtpClient c = unix_client();
  ASSERT_EQ(c.read_reply().code, 220);
  Clock::duration took{};
  const std::string said = trickle(c, "MAIL FROM:<sender@example.org>\r\n", &took);
  EXPECT_NE(said.find("421 4.4.2"), std::string::npos) << said;
  EXPECT_LT(took, kDeadline + 3s);
  EXPECT_TRUE(c.wait_closed(5s));
}

TEST_F(HostileDeadline, ALargeMessageAtANormalRateIsNotCutOff) {
  // 12 MB at about 4 MB/s: three times the bare deadline, well above lmtp_min_data_rate (1 MB/s),
  // so the deadline (2 s + 12 s) is never reached.
  std::string body;
  const std::string line(998, 'x');
  while (body.size() < 12 * 1000 * 1000) body += line + "\r\n";
  const std::string content = "Message-ID: <large-paced@e2e>\r\nSubject: paced\r\n\r\n" + body;
  LmtpClient c = unix_client();
  c.set_timeout(30s);
  ASSERT_EQ(c.begin_transaction("sender@example.org", {"alice@e2e.test"}), "");
  const auto t0 = Clock::now();
  constexpr size_t kSlice = 400 * 1000;  // every 100 ms
  for (size_t off = 0; off < content.size(); off += kSlice) {
    ASSERT_TRUE(c.send(std::string_view(content).substr(off, kSlice))) << c.error();
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(c.send(".\r\n"));
  LmtpReply r = c.read_reply();
  const auto took = Clock::now() - t0;
  EXPECT_EQ(r.code, 250) << r.text();
  EXPECT_GT(took, kDeadline + 500ms) << "the transfer must outlast the bare deadline";
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 1u);
  std::cout << "[ measures ] " << content.size() << " bytes in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms delivered\n";
}

}  // namespace
}  // namespace cubby::e2e
