// Tests of what the LMTP engine tells the session for its request deadline
// (Engine::request_in_progress) and of Engine::deadline_exceeded (engine.h).
#include <gtest/gtest.h>

#include "server/lmtp/engine.h"
#include "tests/lmtp/engine_test_backend.h"

namespace cubby::lmtp {
namespace {

using test::Harness;

const std::string kHeaders = "From: a@x\r\nSubject: s\r\n";

TEST(EngineDeadline, APartialCommandLineIsARequestInProgress) {
  Harness h;
  h.open();
  EXPECT_FALSE(h.engine->request_in_progress()) << "nothing sent yet";
  h.send("NO");
  auto first = h.engine->request_in_progress();
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->message);
  h.send("O");
  EXPECT_EQ(h.engine->request_in_progress()->serial, first->serial) << "the same line goes on";
  EXPECT_EQ(h.send("P\r\n"), "250 2.0.0 ok\r\n");
  EXPECT_FALSE(h.engine->request_in_progress()) << "between lines no deadline runs";
  h.send("NOOP\r\nNO");
  auto second = h.engine->request_in_progress();
  ASSERT_TRUE(second);
  EXPECT_NE(second->serial, first->serial) << "a new line is a new request";
  // An over-long line being discarded is still one request.
  h.config.max_command_line = 512;
  h.open();
  h.send(std::string(600, 'x'));
  ASSERT_TRUE(h.engine->request_in_progress());
  EXPECT_FALSE(h.engine->request_in_progress()->message);
}

TEST(EngineDeadline, AMessageIsOneRequestCountingItsBytes) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  EXPECT_EQ(h.send("DATA\r\n"), "354 go ahead\r\n");
  auto p = h.engine->request_in_progress();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->message);
  EXPECT_EQ(p->bytes, 0u);
  h.send(kHeaders + "\r\nbody\r\n");
  EXPECT_EQ(h.engine->request_in_progress()->bytes, kHeaders.size() + 8);
  EXPECT_EQ(h.engine->request_in_progress()->serial, p->serial);
  h.send(".\r\n");
  EXPECT_TRUE(h.engine->awaiting_delivery());
  EXPECT_FALSE(h.engine->request_in_progress()) << "the delivery is ours to finish";
  h.deliver();
  EXPECT_FALSE(h.engine->request_in_progress());
}

TEST(EngineDeadline, BdatChunksAndTheLinesBetweenThemAreOneRequest) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  const std::string chunk = kHeaders + "\r\n";
  EXPECT_EQ(h.send("BDAT " + std::to_string(chunk.size()) + "\r\n" + chunk),
            "250 2.0.0 " + std::to_string(chunk.size()) + " octets received\r\n");
  auto p = h.engine->request_in_progress();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->message);
  h.send("BDA");
  ASSERT_TRUE(h.engine->request_in_progress());
  EXPECT_TRUE(h.engine->request_in_progress()->message);
  EXPECT_EQ(h.engine->request_in_progress()->serial, p->serial);
  h.send("T 4 LAST\r\nbody");
  EXPECT_TRUE(h.engine->awaiting_delivery());
}

TEST(EngineDeadline, DeadlineInsideAMessageDropsItWith421_442) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  h.send("DATA\r\n" + kHeaders + "\r\npartial");
  h.engine->deadline_exceeded();
  EXPECT_EQ(h.engine->take_output(),
            "451 4.4.2 Message transfer took too long\r\n"
            "451 4.4.2 Message transfer took too long\r\n"
            "421 4.4.2 bye, request took too long\r\n");
  EXPECT_TRUE(h.engine->closed());
  EXPECT_FALSE(h.backend.messages.back()->alive) << "the partial message was kept";
  EXPECT_EQ(h.send("\r\n.\r\n"), "");
  EXPECT_FALSE(h.engine->take_delivery());
}

TEST(EngineDeadline, DeadlineOnACommandLine) {
  Harness h;
  h.open();
  h.send("MAIL FROM:<a");
  h.engine->deadline_exceeded();
  EXPECT_EQ(h.engine->take_output(), "421 4.4.2 bye, request took too long\r\n");
  EXPECT_TRUE(h.engine->closed());
  EXPECT_FALSE(h.engine->request_in_progress());
}

}  // namespace
}  // namespace cubby::lmtp
