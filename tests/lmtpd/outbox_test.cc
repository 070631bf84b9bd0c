// The worker's sendmail children (server/lmtpd/outbox.h): send() returns at once and the outcome
// comes back on the event loop; never more than max_children run, the rest wait their turn; a child
// that overruns its timeout is killed; a program that cannot be started, or exits non-zero, is
// reported; the child gets the message on stdin and `-i -f <from> -- <to>`.
#include "server/lmtpd/outbox.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/store/temp_store.h"

namespace cubby::server {
namespace {

struct OutboxFixture {
  OutboxFixture() {
    dir = t.root();
    program = dir + "/sendmail.sh";
  }
  void sendmail(const std::string& body) {
    std::ofstream(program) << "#!/bin/sh\n" << body;
    ::chmod(program.c_str(), 0755);
  }
  std::string read(const std::string& name) { return store::testing::read_file(dir + "/" + name); }

  store::testing::TempStore t;
  std::string dir, program;
  boost::asio::io_context io;
};

TEST(Outbox, SendsTheMessageOnStdinWithTheEnvelopeAndReturnsAtOnce) {
  OutboxFixture f;
  f.sendmail("sleep 1\nprintf '%s\\n' \"$*\" > " + f.dir + "/argv\ncat > " + f.dir + "/stdin\n");
  Outbox outbox(f.io, f.program, {});
  std::vector<std::optional<std::string>> results;
  const auto start = std::chrono::steady_clock::now();
  outbox.send({"", "bob@example.org", "Subject: x\r\n\r\nhello\r\n"},
              [&](std::optional<std::string> e) { results.push_back(e); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_EQ(outbox.running(), 1u);
  EXPECT_TRUE(results.empty());
  f.io.run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0], std::nullopt);
  EXPECT_EQ(outbox.running(), 0u);
  EXPECT_EQ(f.read("argv"), "-i -f <> -- bob@example.org\n");
  EXPECT_EQ(f.read("stdin"), "Subject: x\r\n\r\nhello\r\n");
}

TEST(Outbox, ABigMessageToAChildThatReadsNothingEndsWithItsExitStatus) {
  OutboxFixture f;
  f.sendmail("exit 75\n");
  Outbox outbox(f.io, f.program, {});
  std::optional<std::string> result;
  bool called = false;
  outbox.send({"a@example.org", "b@example.org", std::string(4 << 20, 'x')},
              [&](std::optional<std::string> e) { called = true, result = e; });
  f.io.run();
  ASSERT_TRUE(called);
  EXPECT_EQ(result, "exit status 75");
}

TEST(Outbox, NeverRunsMoreThanMaxChildrenAndStartsTheRestLater) {
  OutboxFixture f;
  // Each child notes its start and end; a run of more than two at once would show in the log.
  f.sendmail("echo \"start $5\" >> " + f.dir + "/log\nsleep 0.3\necho \"end $5\" >> " + f.dir +
             "/log\ncat > /dev/null\n");
  Outbox outbox(f.io, f.program, Outbox::Limits{2, std::chrono::seconds(30), 1000});
  int done = 0;
  for (int i = 0; i < 5; ++i) {
    outbox.send({"a@example.org", "r" + std::to_string(i), "m\r\n"},
                [&](std::optional<std::string> e) {
                  EXPECT_EQ(e, std::nullopt);
                  ++done;
                });
  }
  EXPECT_EQ(outbox.running(), 2u);
  EXPECT_EQ(outbox.waiting(), 3u);
  f.io.run();
  EXPECT_EQ(done, 5);
  std::istringstream log(f.read("log"));
  std::string word, who;
  int running = 0, most = 0, starts = 0;
  while (log >> word >> who) {
    if (word == "start") {
      most = std::max(most, ++running);
      ++starts;
    } else {
      --running;
    }
  }
  EXPECT_EQ(starts, 5);
  EXPECT_EQ(most, 2);
}

TEST(Outbox, AChildThatOverrunsItsTimeoutIsKilled) {
  OutboxFixture f;
  f.sendmail("exec sleep 30\n");
  Outbox outbox(f.io, f.program, Outbox::Limits{1, std::chrono::milliseconds(200), 1000});
  std::optional<std::string> result;
  const auto start = std::chrono::steady_clock::now();
  outbox.send({"", "b@example.org", "m\r\n"}, [&](std::optional<std::string> e) { result = e; });
  f.io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(result, "killed after 200 ms (sieve_sendmail_timeout)");
}

TEST(Outbox, AProgramThatCannotStartIsReportedAndTheQueueIsBounded) {
  OutboxFixture f;
  Outbox missing(f.io, f.dir + "/no-such-sendmail", {});
  std::optional<std::string> result;
  missing.send({"", "b@example.org", "m\r\n"}, [&](std::optional<std::string> e) { result = e; });
  f.io.run();
  f.io.restart();
  ASSERT_TRUE(result);
  EXPECT_NE(result->find("No such file or directory"), std::string::npos) << *result;

  f.sendmail("sleep 0.2\ncat > /dev/null\n");
  Outbox small(f.io, f.program, Outbox::Limits{1, std::chrono::seconds(30), 1});
  std::vector<std::optional<std::string>> results(3);
  for (int i = 0; i < 3; ++i) {
    small.send({"", "b@example.org", "m\r\n"},
               [&, i](std::optional<std::string> e) { results[i] = e ? *e : "sent"; });
  }
  f.io.run();
  EXPECT_EQ(results[0], "sent");
  EXPECT_EQ(results[1], "sent");
  ASSERT_TRUE(results[2]);
  EXPECT_NE(results[2]->find("already wait"), std::string::npos) << *results[2];
}

TEST(Outbox, DestroyingItKillsTheChildrenStillRunning) {
  OutboxFixture f;
  f.sendmail("echo $$ > " + f.dir + "/pid\nexec sleep 30\n");
  bool called = false;
  {
    Outbox outbox(f.io, f.program, {});
    outbox.send({"", "b@example.org", "m\r\n"}, [&](std::optional<std::string>) { called = true; });
    for (int i = 0; i < 100 && f.read("pid").empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_FALSE(called);
  const pid_t pid = std::stoi(f.read("pid"));
  EXPECT_NE(::kill(pid, 0), 0);  // killed and reaped: gone
  f.io.run();                     // nothing left that would touch the Outbox
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace cubby::server
