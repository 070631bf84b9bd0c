// Tests of CHUNKING (RFC 3030 BDAT) through the LMTP engine (engine.h).
#include <gtest/gtest.h>

#include <random>

#include "server/lmtp/engine.h"
#include "tests/lmtp/engine_test_backend.h"

namespace cubby::lmtp {
namespace {

using test::after_trace;
using test::Harness;

const std::string kHeaders =
    "Message-ID: <b1@example.org>\r\nDate: Wed, 15 Jul 2026 12:00:00 +0000\r\n";

std::string bdat(std::string_view chunk, bool last = false) {
  return "BDAT " + std::to_string(chunk.size()) + (last ? " LAST" : "") + "\r\n" +
         std::string(chunk);
}

TEST(EngineBdat, ChunksThenLast) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  const std::string first = kHeaders + "\r\nline one\r\n";
  EXPECT_EQ(h.send(bdat(first)),
            "250 2.0.0 " + std::to_string(first.size()) + " octets received\r\n");
  EXPECT_EQ(h.send(bdat("..not unstuffed\nbare lf\r\n", true)), "");
  ASSERT_TRUE(h.engine->awaiting_delivery());
  EXPECT_EQ(after_trace(h.backend.last_message()),
            kHeaders + "\r\nline one\r\n..not unstuffed\r\nbare lf\r\n");
  EXPECT_EQ(h.deliver(), h.success_replies(2));
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.backend.opened_for, std::vector<size_t>{2})
      << "one message, opened at the first chunk";
}

TEST(EngineBdat, ZeroLastEndsTheMessage) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  EXPECT_EQ(h.send(bdat(kHeaders + "\r\nno final newline")),
            "250 2.0.0 " + std::to_string(kHeaders.size() + 18) + " octets received\r\n");
  EXPECT_EQ(h.send("BDAT 0 LAST\r\n"), "");
  ASSERT_TRUE(h.engine->awaiting_delivery());
  EXPECT_EQ(after_trace(h.backend.last_message()), kHeaders + "\r\nno final newline\r\n");
  EXPECT_EQ(h.deliver(), h.success_replies(1));

  h.envelope({"alice@x"});
  EXPECT_EQ(h.send("bdat 0 last\r\n"), "") << "an empty message";
  ASSERT_TRUE(h.engine->awaiting_delivery());
  EXPECT_TRUE(after_trace(h.backend.last_message()).starts_with("Message-ID: <cubby-lmtpd-"));
}

TEST(EngineBdat, ChunkDataArrivingInAnySplit) {
  std::string body;
  for (int i = 0; i < 300; ++i) body += "line " + std::to_string(i) + (i % 4 ? "\r\n" : "\n");
  const std::string wire = bdat(kHeaders + "\r\n" + body.substr(0, 1000)) +
                           bdat(body.substr(1000, 1)) + bdat(body.substr(1001), true) + "NOOP\r\n";
  auto run = [&](std::vector<size_t> chunks) {
    Harness h;
    h.open();
    h.envelope({"alice@x"});
    std::string out = h.send_in_pieces(wire, chunks);
    EXPECT_EQ(out, "250 2.0.0 " + std::to_string(kHeaders.size() + 1002) +
                       " octets received\r\n250 2.0.0 1 octets received\r\n");
    out = h.deliver();
    EXPECT_EQ(out, h.success_replies(1) + "250 2.0.0 ok\r\n");
    return after_trace(h.backend.last_message());
  };
  const std::string whole = run({SIZE_MAX});
  std::string expected;  // bare LFs become CRLF
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) expected += '\r';
    expected += body[i];
  }
  EXPECT_EQ(whole, kHeaders + "\r\n" + expected);
  EXPECT_EQ(run({1}), whole);
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 30; ++i) chunks.push_back(1 + rng() % 300);
    EXPECT_EQ(run(chunks), whole) << trial;
  }
}

TEST(EngineBdat, WithoutMailOrRecipientsTheBytesAreStillConsumed) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send(bdat("NOOP\r\nQUIT\r\n")), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_FALSE(h.engine->closed()) << "the chunk's bytes are not commands";
  h.send("MAIL FROM:<>\r\n");
  EXPECT_EQ(h.send(bdat("QUIT\r\n", true)), "503 5.5.1 No recipients\r\n");
  h.send("RCPT TO:<nobody@x>\r\n");
  EXPECT_EQ(h.send("BDAT 6\r\nQU"), "");
  EXPECT_EQ(h.send("IT\r\nNOOP\r\n"), "503 5.5.1 No recipients\r\n250 2.0.0 ok\r\n");
  EXPECT_FALSE(h.engine->closed());
}

TEST(EngineBdat, BadSyntaxConsumesNothing) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  const std::string bad = "501 5.5.4 Syntax error in parameters\r\n";
  EXPECT_EQ(h.send("BDAT x\r\nNOOP\r\n"), bad + "250 2.0.0 ok\r\n");
  EXPECT_EQ(h.send("BDAT -1\r\n"), bad);
  EXPECT_EQ(h.send("BDAT 1 LAS\r\n"), bad);
  EXPECT_EQ(h.send("BDAT 1 LAST \r\n"), bad);
  EXPECT_EQ(h.send("BDAT 1  LAST\r\n"), bad);
  EXPECT_EQ(h.send("BDAT 99999999999999999999999\r\n"), bad);
  EXPECT_EQ(h.send("BDAT \r\n"), bad);
  EXPECT_TRUE(h.engine->in_transaction());
}

TEST(EngineBdat, DataAfterBdatAndRcptAfterBdatAreRefused) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  h.send(bdat(kHeaders));
  EXPECT_EQ(h.send("DATA\r\n"), "503 5.5.1 DATA not permitted after BDAT\r\n");
  EXPECT_EQ(h.send("RCPT TO:<bob@x>\r\n"), "503 5.5.1 RCPT not permitted after BDAT\r\n");
  EXPECT_EQ(h.send("RSET\r\n").substr(0, 26), "250 2.0.0 Ok SESSIONID=<ma");
  EXPECT_FALSE(h.backend.messages.back()->alive);
  h.envelope({"alice@x"});
  EXPECT_EQ(h.send("DATA\r\n"), "354 go ahead\r\n");
}

TEST(EngineBdat, NulInAChunkIsReportedAfterLast) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  EXPECT_EQ(h.send(bdat(kHeaders + "\r\n" + std::string(1, '\0'))),
            "250 2.0.0 " + std::to_string(kHeaders.size() + 3) + " octets received\r\n");
  EXPECT_EQ(
      h.send(bdat("more\r\n", true)),
      "554 5.6.0 Message contains NUL characters\r\n554 5.6.0 Message contains NUL characters\r\n");
  EXPECT_FALSE(h.engine->in_transaction());
}

TEST(EngineBdat, TooLargeAfterLast) {
  Harness h;
  h.config.max_message_size = 5000;
  h.open();
  h.envelope({"alice@x"});
  h.send(bdat(kHeaders + "\r\n" + std::string(10000, 'x')));
  const std::string out = h.send("BDAT 0 LAST\r\n");
  EXPECT_TRUE(out.starts_with("552 5.2.3 Message size (")) << out;
  EXPECT_TRUE(out.ends_with(") exceeds fixed maximum message size (5000)\r\n")) << out;
}

TEST(EngineBdat, StageFailureIsReportedAfterTheChunk) {
  Harness h;
  h.backend.open_failure =
      make_reply(451, "4.3.2", "cannot create temporary file: Permission denied");
  h.open();
  h.envelope({"alice@x"});
  EXPECT_EQ(h.send("BDAT 10\r\n12345"), "");
  EXPECT_EQ(h.send("67890NOOP\r\n"),
            "451 4.3.2 cannot create temporary file: Permission denied\r\n250 2.0.0 ok\r\n");
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.send(bdat("x", true)), "503 5.5.1 Need MAIL command\r\n");
}

TEST(EngineBdat, TimeoutInsideAChunkOrBetweenChunks) {
  Harness inside;
  inside.open();
  inside.envelope({"alice@x", "bob@x"});
  inside.send("BDAT 100\r\nabc");
  inside.engine->timeout();
  EXPECT_EQ(inside.engine->take_output(),
            "451 4.3.0 System I/O error\r\n451 4.3.0 System I/O error\r\n421 4.4.1 bye idle for "
            "too long\r\n");

  Harness between;
  between.open();
  between.envelope({"alice@x"});
  between.send(bdat("abc"));
  between.engine->timeout();
  EXPECT_EQ(between.engine->take_output(),
            "451 4.3.0 System I/O error\r\n421 4.4.1 bye idle for too long\r\n");
  EXPECT_FALSE(between.backend.messages.back()->alive);
}

TEST(EngineBdat, WholeTransactionPipelined) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("MAIL FROM:<>\r\nRCPT TO:<alice@x>\r\nRCPT TO:<bob@x>\r\n" + bdat(kHeaders) +
                   bdat("\r\nbody\r\n", true) + "QUIT\r\n"),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n250 2.0.0 " +
                std::to_string(kHeaders.size()) + " octets received\r\n");
  EXPECT_EQ(h.deliver(), h.success_replies(2) + "221 2.0.0 bye\r\n");
  EXPECT_EQ(after_trace(h.backend.last_message()), kHeaders + "\r\nbody\r\n");
}

}  // namespace
}  // namespace cubby::lmtp
