// End-to-end: every exit code of the real deliver program. 0 and 65 against a running Cubby; 75
// against a small scripted LMTP server that answers 451 (lmtpd has no switch for that); 78 with
// `lmtpsocket` naming nothing, or a socket nobody listens on; 64 for usage errors; and 75 when
// stdin stays silent past the (shortened) timeout, in which case nothing is sent at all.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "tests/deliver/deliver_scripted_lmtp.h"
#include "tests/e2e/deliver_harness.h"
#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

using deliver_test::LmtpScript;
using deliver_test::ScriptedLmtp;

const std::string kMessage =
    "From: sender@example.org\nSubject: exit codes\nMessage-ID: <exit@example.org>\n"
    "Date: Mon, 1 Jan 2024 12:00:00 +0000\n\nbody\n";

DeliverInput input(const std::string& text = kMessage) {
  return DeliverInput{text, nullptr, false};
}

// A settings file of its own for deliver, pointing `lmtpsocket` at `socket`.
std::string write_settings(const TempDir& dir, const std::string& socket) {
  const std::string path = dir.path() + "/imapd.conf";
  std::ofstream out(path, std::ios::trunc);
  out << "configdirectory: " << dir.path() << "\n"
      << "servername: deliver.test\n"
      << "lmtpsocket: " << socket << "\n";
  return path;
}

class DeliverExitCodes : public CubbyTest {
 protected:
  DeliverRun deliver(std::vector<std::string> args, const DeliverInput& in = input(),
                     const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), {"-C", cubby_->settings_path()});
    return run_deliver(args, in, 30s, env);
  }
};

TEST_F(DeliverExitCodes, ZeroWhenEveryRecipientGotIt) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  auto r = deliver({"alice", "bob"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST_F(DeliverExitCodes, DataErrWithAnUnknownUser) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  auto r = deliver({"alice", "nobody", "ghost@e2e.test"});
  EXPECT_EQ(r.exit_code, 65) << r.describe();
  EXPECT_EQ(r.out, "nobody: 5.1.1 User unknown\nghost@e2e.test: 5.1.1 User unknown\n");
  // The known recipient got the message all the same.
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 1u);
}

TEST_F(DeliverExitCodes, DataErrWhenTheMessageIsTooLarge) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}, {"maxmessagesize: 1000"}));
  auto r = deliver({"alice"}, input(kMessage + std::string(2000, 'x') + "\n"));
  // deliver declared SIZE=, so lmtpd refused at MAIL without reading the message.
  EXPECT_EQ(r.exit_code, 65) << r.describe();
  EXPECT_EQ(r.out.rfind("alice: 5.2.3 ", 0), 0u) << r.out;
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty());
}

TEST(DeliverExitCodesScripted, TempFailWhenLmtpdAnswers451) {
  TempDir dir;
  const std::string socket = dir.path() + "/lmtp";
  LmtpScript script;
  script.rcpt_reply = [](const std::string& a) -> std::string {
    if (a == "nobody") return "550 5.1.1 User unknown";
    return "250 2.1.5 ok";
  };
  script.final_reply = [](const std::string& a) -> std::string {
    return a == "alice" ? "250 2.1.5 Success" : "451 4.3.0 System I/O error";
  };
  ScriptedLmtp server(socket, script);
  ASSERT_TRUE(server.listening());
  const std::string settings = write_settings(dir, socket);

  auto r = run_deliver({"-C", settings, "alice", "nobody", "carol"}, input());
  EXPECT_EQ(r.exit_code, 75) << r.describe();  // a temporary failure outweighs a permanent one
  EXPECT_EQ(r.out, "nobody: 5.1.1 User unknown\ncarol: 4.3.0 System I/O error\n");

  r = run_deliver({"-C", settings, "carol"}, input());
  EXPECT_EQ(r.exit_code, 75) << r.describe();
  EXPECT_EQ(r.out, "carol: 4.3.0 System I/O error\n");
  auto t = server.transcript();
  EXPECT_EQ(t.connections, 2);
  // deliver greets with the servername of its settings and offers what the server offers.
  ASSERT_GE(t.commands.size(), 3u);
  EXPECT_EQ(t.commands[0], "LHLO deliver.test");
  EXPECT_EQ(t.commands[1], "RSET");
  EXPECT_EQ(t.commands[2].rfind("MAIL FROM:<", 0), 0u);
  EXPECT_NE(t.commands[2].find(" AUTH=<> SIZE="), std::string::npos) << t.commands[2];
}

TEST(DeliverExitCodesScripted, DebugLogsTheDialogue) {
  TempDir dir;
  const std::string socket = dir.path() + "/lmtp";
  ScriptedLmtp server(socket, LmtpScript{});
  ASSERT_TRUE(server.listening());
  const std::string settings = write_settings(dir, socket);
  auto r = run_deliver({"-C", settings, "-D", "alice"}, input(), 30s, {"CUBBY_LOG_STDERR=1"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.err.find("S: 220 scripted.test LMTP ready"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("C: LHLO deliver.test"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("C: RCPT TO:<alice>"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("body"), std::string::npos) << "the message itself is not logged";
  r = run_deliver({"-C", settings, "alice"}, input(), 30s, {"CUBBY_LOG_STDERR=1"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err.find("C: "), std::string::npos) << r.err;
}

TEST(DeliverExitCodesScripted, ConfigWhenTheSocketIsUnreachable) {
  TempDir dir;
  auto r =
      run_deliver({"-C", write_settings(dir, dir.path() + "/no-such-socket"), "alice"}, input());
  EXPECT_EQ(r.exit_code, 78) << r.describe();
  EXPECT_EQ(r.out, "421 4.3.0 deliver: couldn't connect to lmtpd\r\n");
  EXPECT_NE(r.err.find("no-such-socket: No such file or directory"), std::string::npos) << r.err;

  // A socket file nobody listens on any more (lmtpd stopped): refused, the same answer.
  const std::string stale = dir.path() + "/stale";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, stale.c_str(), stale.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::close(fd);
  r = run_deliver({"-C", write_settings(dir, stale), "alice"}, input());
  EXPECT_EQ(r.exit_code, 78) << r.describe();
  EXPECT_EQ(r.out, "421 4.3.0 deliver: couldn't connect to lmtpd\r\n");
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;

  // An unreadable settings file is a configuration error too.
  r = run_deliver({"-C", dir.path() + "/missing.conf", "alice"}, input());
  EXPECT_EQ(r.exit_code, 78) << r.describe();
}

TEST(DeliverExitCodesScripted, UsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, ""},
      {{"-m", ""}, ""},
      {{"-E", "3600"}, "deliver: 'E' option no longer supported\n"},
      {{"-F", "\\Seen", "alice"}, "deliver: 'F' option no longer supported\n"},
      {{"-m", "a", "-m", "b", "alice"}, "deliver: multiple -m options\n"},
      {{"-a", "x", "-a", "y", "alice"}, "deliver: multiple -a options\n"},
      {{"-Z", "alice"}, "deliver: unknown option: -Z\n"},
      {{"--no-such-option", "alice"}, "deliver: unknown option: --no-such-option\n"},
      {{"alice", "-r"}, "deliver: option requires an argument: -r\n"},
  };
  for (const auto& [args, reason] : cases) {
    std::string joined;
    for (const auto& a : args) joined += " [" + a + "]";
    SCOPED_TRACE("deliver" + joined);
    auto r = run_deliver(args, input());
    EXPECT_EQ(r.exit_code, 64) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.substr(0, reason.size()), reason);
    EXPECT_EQ(r.err.substr(reason.size(), 26), "421-4.3.0 usage: deliver [") << r.err;
    EXPECT_NE(r.err.find("\n421 4.3.0 Cubby "), std::string::npos) << r.err;
  }
}

TEST_F(DeliverExitCodes, StdinTimeoutIsTempFailAndNothingIsDelivered) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  DeliverInput silent{"Subject: half a message\n\nthe rest never comes", nullptr, true};
  const auto started = std::chrono::steady_clock::now();
  auto r = deliver({"alice"}, silent, {"CUBBY_DELIVER_STDIN_TIMEOUT_MS=300"});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.exit_code, 75) << r.describe();
  EXPECT_NE(r.err.find("no input for 300 ms"), std::string::npos) << r.err;
  EXPECT_LT(took, 10s);
  ASSERT_TRUE(cubby_->wait_settled());
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->empty()) << "part of a message was delivered";
}

TEST(DeliverExitCodesScripted, AMessageNotReadCompletelyIsNeverSent) {
  TempDir dir;
  const std::string socket = dir.path() + "/lmtp";
  ScriptedLmtp server(socket, LmtpScript{});
  ASSERT_TRUE(server.listening());
  DeliverInput silent{kMessage + std::string(200000, 'x'), nullptr, true};
  auto r = run_deliver({"-C", write_settings(dir, socket), "alice"}, silent, 30s,
                       {"CUBBY_DELIVER_STDIN_TIMEOUT_MS=200"});
  EXPECT_EQ(r.exit_code, 75) << r.describe();
  // deliver did not even connect.
  EXPECT_EQ(server.transcript().connections, 0);
}

}  // namespace
}  // namespace cubby::e2e
