// Tests of DATA through the LMTP engine: stored bytes, dot-unstuffing, chunking, per-recipient
// refusals, the delivery hand-over and pipelining (engine.h).
#include <gtest/gtest.h>

#include <random>
#include <regex>

#include "server/lmtp/engine.h"
#include "tests/lmtp/engine_test_backend.h"

namespace cubby::lmtp {
namespace {

using test::after_trace;
using test::Harness;

const std::string kHeaders =
    "Message-ID: <m1@example.org>\r\nDate: Wed, 15 Jul 2026 12:00:00 +0000\r\nSubject: test\r\n";

TEST(EngineData, StoresTheMessageWithTraceHeaders) {
  Harness h;
  h.open("sid-7");
  h.envelope({"alice@example.com", "bob@example.com"}, " BODY=8BITMIME");
  EXPECT_EQ(h.send("DATA\r\n"), "354 go ahead\r\n");
  EXPECT_EQ(h.send(kHeaders + "\r\nHello\r\n.\r\n"), "") << "nothing until the delivery is done";
  EXPECT_TRUE(h.engine->awaiting_delivery());
  EXPECT_TRUE(h.engine->in_transaction());

  auto d = h.engine->take_delivery();
  ASSERT_TRUE(d);
  EXPECT_FALSE(h.engine->take_delivery()) << "offered once";
  ASSERT_EQ(d->recipients.size(), 2u);
  EXPECT_EQ(d->recipients[0].target, "user.alice");
  EXPECT_EQ(d->recipients[0].request.address, "alice@example.com");
  EXPECT_EQ(d->recipients[1].target, "user.bob");

  const std::string& stored = h.backend.last_message();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      stored, m,
      std::regex("Return-Path: <sender@example\\.org>\r\n"
                 "Received: from mx\\.example\\.com \\(\\[unix socket\\]\\)\r\n"
                 "\t by mail\\.example\\.com \\(Cubby [0-9.]+\\) with LMTPA;\r\n"
                 "\t [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} [-+][0-9]{4}\r\n"
                 "([\\s\\S]*)")))
      << stored;
  EXPECT_EQ(m[1], kHeaders + "\r\nHello\r\n");
  EXPECT_EQ(stored.find("X-Cyrus-Session-Id"), std::string::npos);

  EXPECT_EQ(d->info.session_id, "sid-7");
  EXPECT_EQ(d->info.mail_from, "sender@example.org");
  EXPECT_EQ(d->info.auth_id, "");
  EXPECT_EQ(d->info.message_id, "<m1@example.org>");
  EXPECT_EQ(d->info.date, "Wed, 15 Jul 2026 12:00:00 +0000");
  EXPECT_EQ(d->info.size, stored.size());
  EXPECT_EQ(d->sink->size(), stored.size());

  std::vector<Reply> replies = {make_reply(250, "2.1.5", "Success SESSIONID=<sid-7>"),
                                make_reply(452, "4.2.2", "Over quota SESSIONID=<sid-7>")};
  h.engine->delivered(replies);
  EXPECT_EQ(h.engine->take_output(),
            "250 2.1.5 Success SESSIONID=<sid-7>\r\n452 4.2.2 Over quota SESSIONID=<sid-7>\r\n");
  EXPECT_FALSE(h.engine->awaiting_delivery());
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.engine->session_id(), "sid-7") << "the end of a transaction is not an RSET";
  EXPECT_EQ(h.send("MAIL FROM:<>\r\n"), "250 2.1.0 ok\r\n");
}

TEST(EngineData, ReceivedShowsTheAuthIdentityAndReturnPathTheServerName) {
  Harness h;
  h.open();
  h.send("LHLO mx\r\nMAIL FROM:<MAILER-DAEMON> AUTH=postman\r\nRCPT TO:<alice@x>\r\nDATA\r\n");
  h.send(kHeaders + "\r\n.\r\n");
  auto d = h.engine->take_delivery();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->info.auth_id, "postman");
  EXPECT_TRUE(std::regex_search(
      h.backend.last_message(),
      std::regex("^Return-Path: <MAILER-DAEMON@mail\\.example\\.com>\r\n"
                 "Received: from mx \\(\\[unix socket\\]\\)\r\n"
                 "\t \\(authenticated user=postman bits=0\\)\r\n"
                 "\t by mail\\.example\\.com \\(Cubby [0-9.]+\\) with LMTPA;\r\n\t ")))
      << h.backend.last_message();
}

TEST(EngineData, NullSenderServerInfoOffAndTls) {
  Harness h;
  h.config.serverinfo = false;
  h.peer.tls = TlsSummary{"TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, 128, false};
  h.peer.client_host = "mx.example.com [192.0.2.1]";
  h.open();
  h.send("MAIL FROM:<>\r\nRCPT TO:<alice@x>\r\nDATA\r\n" + kHeaders + "\r\n.\r\n");
  EXPECT_TRUE(
      std::regex_search(h.backend.last_message(),
                        std::regex("^Return-Path: <>\r\nReceived: from  \\(mx\\.example\\.com "
                                   "\\[192\\.0\\.2\\.1\\]\\)\r\n\t by mail\\.example\\.com "
                                   "with LMTPSA\r\n\t \\(version=TLSv1\\.3 "
                                   "cipher=TLS_AES_128_GCM_SHA256 bits=128/128 verify=NO\\);\r\n")))
      << h.backend.last_message();
}

TEST(EngineData, DotUnstuffingAndFalseEnds) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  h.send("DATA\r\n");
  EXPECT_EQ(h.send(kHeaders + "\r\n..\r\n...\r\n.x\r\na\n.\nb\r\nc\r.\rd\r\ne\n.\r\nf\r\n.\r\n"),
            "");
  ASSERT_TRUE(h.engine->awaiting_delivery());
  EXPECT_EQ(after_trace(h.backend.last_message()),
            kHeaders + "\r\n.\r\n..\r\nx\r\na\r\n.\r\nb\r\nc.d\r\ne\r\n.\r\nf\r\n");
}

TEST(EngineData, GeneratesMessageIdAndDateAndRemovesReturnPath) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  h.send("DATA\r\nReturn-Path: <forged@example.net>\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
  auto d = h.engine->take_delivery();
  ASSERT_TRUE(d);
  EXPECT_EQ(after_trace(h.backend.last_message()),
            "Subject: x\r\nMessage-ID: " + d->info.message_id + "\r\nDate: " + d->info.date +
                "\r\n\r\nbody\r\n");
  EXPECT_TRUE(std::regex_match(
      d->info.message_id, std::regex("<cubby-lmtpd-[0-9]+-[0-9]+-[0-9]+@mail\\.example\\.com>")));
  EXPECT_EQ(h.backend.last_message().find("forged"), std::string::npos);
}

TEST(EngineData, AnyChunkingStoresTheSameBytes) {
  std::string message = kHeaders + "X-Folded: a\r\n\tb\r\n\r\n";
  std::mt19937 gen(1);
  for (int i = 0; i < 400; ++i) {
    switch (gen() % 6) {
      case 0:
        message += "..stuffed\r\n";
        break;
      case 1:
        message += "bare\nlf\n.\nX\r\n";
        break;
      case 2:
        message += "lone\rcr\r.\rX\r\n";
        break;
      case 3:
        message += "\n.\r\n";
        break;
      case 4:
        message += std::string(gen() % 3000, 'L') + "\r\n";
        break;
      default:
        message += "plain line " + std::to_string(i) + "\r\n";
        break;
    }
  }
  const std::string wire = "DATA\r\n" + message + "\r\n.\r\nNOOP\r\n";

  auto run = [&](const std::vector<size_t>& chunks) {
    Harness h;
    h.open();
    h.envelope({"alice@x"});
    std::string out = h.send_in_pieces(wire, chunks);
    EXPECT_EQ(out, "354 go ahead\r\n");
    EXPECT_TRUE(h.engine->awaiting_delivery());
    out = h.deliver();
    EXPECT_EQ(out, h.success_replies(1) + "250 2.0.0 ok\r\n")
        << "NOOP after the dot waits for delivery";
    return after_trace(h.backend.last_message());
  };
  const std::string whole = run({SIZE_MAX});
  EXPECT_EQ(whole.substr(0, kHeaders.size()), kHeaders);
  EXPECT_EQ(run({1}), whole) << "byte at a time";
  std::mt19937 rng(99);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 50; ++i) chunks.push_back(1 + rng() % (trial < 10 ? 7 : 5000));
    EXPECT_EQ(run(chunks), whole) << "trial " << trial;
  }
}

TEST(EngineData, OneMebibyteLine) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  h.send("DATA\r\n" + kHeaders + "\r\n");
  const std::string line(1 << 20, 'q');
  for (size_t i = 0; i < line.size(); i += 4096) h.send(std::string_view(line).substr(i, 4096));
  EXPECT_EQ(h.send("\r\n.\r\n"), "");
  ASSERT_TRUE(h.engine->awaiting_delivery());
  EXPECT_EQ(after_trace(h.backend.last_message()), kHeaders + "\r\n" + line + "\r\n");
  // A stuffed dot right after the long line, at a chunk boundary, still unstuffs correctly.
  h.deliver();
  h.envelope({"alice@x"});
  h.send("DATA\r\n" + kHeaders + "\r\n" + line + "\r");
  h.send("\n.");
  h.send(".\r\n.\r\n");
  ASSERT_TRUE(h.engine->awaiting_delivery());
  EXPECT_EQ(after_trace(h.backend.last_message()), kHeaders + "\r\n" + line + "\r\n.\r\n");
}

TEST(EngineData, NulCharactersGetOneRefusalPerRecipient) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "nobody@x", "bob@x"});
  h.send("DATA\r\n");
  EXPECT_EQ(h.send(kHeaders + "\r\nbad " + std::string(1, '\0') + " byte\r\nmore\r\n.\r\nNOOP\r\n"),
            "554 5.6.0 Message contains NUL characters\r\n"
            "554 5.6.0 Message contains NUL characters\r\n"
            "250 2.0.0 ok\r\n");
  EXPECT_FALSE(h.engine->take_delivery());
  EXPECT_FALSE(h.backend.messages.back()->alive) << "the stage is discarded";
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.send("MAIL FROM:<>\r\n"), "250 2.1.0 ok\r\n");
}

TEST(EngineData, InvalidHeaderGetsOneRefusalPerRecipient) {
  Harness h;
  h.open();
  for (std::string bad : {"From bob@example.org Wed Jul 15 12:00:00 2026\r\nSubject: x\r\n",
                          " leading continuation\r\n", "Message-ID:\r\nSubject: x\r\n",
                          "Subject: x\r\nno colon\r\n"}) {
    h.envelope({"alice@x", "bob@x"});
    h.send("DATA\r\n");
    EXPECT_EQ(h.send(bad + "\r\nbody\r\n.\r\n"),
              "554 5.6.0 Message contains invalid header\r\n"
              "554 5.6.0 Message contains invalid header\r\n")
        << bad;
    EXPECT_FALSE(h.engine->in_transaction());
  }
}

TEST(EngineData, EightBitHeadersUnderTheThreeSettings) {
  const std::string msg = kHeaders + "X-Name: J\xC3\xBCrgen\r\n\r\nK\xC3\xA4se\r\n";
  {
    Harness h;
    h.open();
    h.envelope({"alice@x"});
    h.send("DATA\r\n" + msg + ".\r\n");
    EXPECT_EQ(after_trace(h.backend.last_message()), msg);
  }
  {
    Harness h;
    h.config.munge8bit = true;
    h.open();
    h.envelope({"alice@x"});
    h.send("DATA\r\n" + msg + ".\r\n");
    EXPECT_EQ(after_trace(h.backend.last_message()),
              kHeaders + "X-Name: JXXrgen\r\n\r\nK\xC3\xA4se\r\n");
  }
  {
    Harness h;
    h.config.reject8bit = true;
    h.open();
    h.envelope({"alice@x", "bob@x"});
    h.send("DATA\r\n");
    EXPECT_EQ(h.send(msg + ".\r\n"),
              "554 5.6.0 Message contains non-ASCII characters in headers\r\n"
              "554 5.6.0 Message contains non-ASCII characters in headers\r\n");
  }
}

TEST(EngineData, TooLargeGetsOneRefusalPerRecipientAndResets) {
  Harness h;
  h.config.max_message_size = 200000;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  h.send("DATA\r\n" + kHeaders + "\r\n");
  const std::string line = std::string(998, 'b') + "\r\n";
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(h.send(line), "");
  const std::string out = h.send(".\r\n");
  std::smatch m;
  ASSERT_TRUE(
      std::regex_match(out, m,
                       std::regex("552 5\\.2\\.3 Message size \\(([0-9]+)\\) exceeds fixed maximum "
                                  "message size \\(200000\\)\r\n"
                                  "552 5\\.2\\.3 Message size \\(\\1\\) exceeds fixed maximum "
                                  "message size \\(200000\\)\r\n")))
      << out;
  EXPECT_GT(std::stoul(m[1]), 1000000u) << "the whole stored size is counted";
  EXPECT_LE(h.backend.messages.back()->bytes.size(), 200000u) << "the disk is not filled";
  EXPECT_FALSE(h.backend.messages.back()->alive);
  EXPECT_EQ(h.send("MAIL FROM:<>\r\n"), "250 2.1.0 ok\r\n") << "no RSET needed (Cyrus needs one)";
}

TEST(EngineData, HeaderSectionTooLarge) {
  Harness h;
  h.config.max_header_size = 1000;
  h.open();
  h.envelope({"alice@x"});
  h.send("DATA\r\n");
  EXPECT_EQ(h.send("X-Big: " + std::string(2000, 'h') + "\r\n\r\nbody\r\n.\r\n"),
            "552 5.3.4 Message header size exceeds limit\r\n");
}

TEST(EngineData, SinkFailureGives451PerRecipient) {
  Harness h;
  h.backend.fail_after = 100000;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  h.send("DATA\r\n" + kHeaders + "\r\n");
  for (int i = 0; i < 300; ++i) h.send(std::string(1000, 'z') + "\r\n");
  EXPECT_EQ(h.send(".\r\n"),
            "451 4.3.1 cannot write stage file: No space left on device\r\n"
            "451 4.3.1 cannot write stage file: No space left on device\r\n");
  EXPECT_FALSE(h.engine->take_delivery());
  EXPECT_FALSE(h.backend.messages.back()->alive);
  EXPECT_FALSE(h.engine->in_transaction());
}

TEST(EngineData, WholeTransactionPipelinedInOneRead) {
  Harness h;
  h.open();
  EXPECT_EQ(
      h.send("LHLO mx\r\nMAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@x>\r\n"
             "RCPT TO:<nobody@x>\r\nRCPT TO:<carol@x>\r\nDATA\r\n" +
             kHeaders + "\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<bob@x>\r\nQUIT\r\n")
          .substr(std::string("250-mail.example.com\r\n").size()),
      std::string("250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
                  "250-SIZE 2147483647\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-AUTH EXTERNAL\r\n"
                  "250-IGNOREQUOTA\r\n250 Ok SESSIONID=<sid-1>\r\n"
                  "250 2.1.0 ok\r\n250 2.1.5 ok\r\n") +
          test::user_unknown().wire() + "250 2.1.5 ok\r\n354 go ahead\r\n");
  EXPECT_TRUE(h.engine->awaiting_delivery());
  EXPECT_GT(h.engine->buffered_input(), 0u) << "the commands after the dot wait";
  EXPECT_EQ(h.send("NOOP\r\n"), "") << "input while waiting is only buffered";
  EXPECT_EQ(h.deliver(),
            h.success_replies(2) + "250 2.1.0 ok\r\n250 2.1.5 ok\r\n221 2.0.0 bye\r\n");
  EXPECT_TRUE(h.engine->closed());
  EXPECT_EQ(h.engine->buffered_input(), 0u) << "the NOOP after QUIT is dropped";
}

TEST(EngineData, TwoPipelinedTransactionsInOneRead) {
  Harness h;
  h.open();
  const std::string tx =
      "MAIL FROM:<>\r\nRCPT TO:<alice@x>\r\nDATA\r\n" + kHeaders + "\r\nx\r\n.\r\n";
  EXPECT_EQ(h.send(tx + tx + "QUIT\r\n"), "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
  EXPECT_EQ(h.deliver(), h.success_replies(1) + "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
  EXPECT_TRUE(h.engine->awaiting_delivery());
  EXPECT_EQ(h.deliver(), h.success_replies(1) + "221 2.0.0 bye\r\n");
  EXPECT_EQ(h.backend.messages.size(), 2u);
}

TEST(EngineData, MissingRepliesFromTheCommitterStillAnswerEveryRecipient) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  h.send("DATA\r\n" + kHeaders + "\r\n.\r\n");
  h.engine->take_delivery();
  h.engine->delivered({make_reply(250, "2.1.5", "Success")});
  EXPECT_EQ(h.engine->take_output(), "250 2.1.5 Success\r\n451 4.3.0 System I/O error\r\n");
}

TEST(EngineData, TimeoutInsideData) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  h.send("DATA\r\n" + kHeaders + "\r\npartial");
  h.engine->timeout();
  EXPECT_EQ(h.engine->take_output(),
            "451 4.3.0 System I/O error\r\n451 4.3.0 System I/O error\r\n"
            "421 4.4.1 bye idle for too long\r\n");
  EXPECT_TRUE(h.engine->closed());
  EXPECT_FALSE(h.backend.messages.back()->alive);
  EXPECT_EQ(h.send("\r\n.\r\n"), "");
}

TEST(EngineData, TimeoutBetweenCommands) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  h.engine->timeout();
  EXPECT_EQ(h.engine->take_output(), "421 4.4.1 bye idle for too long\r\n");
  EXPECT_TRUE(h.engine->closed());
}

TEST(EngineData, TimeoutWhileADeliveryIsAwaited) {
  Harness h;
  h.open();
  h.envelope({"alice@x"});
  h.send("DATA\r\n" + kHeaders + "\r\n.\r\n");
  ASSERT_TRUE(h.engine->awaiting_delivery());
  h.engine->timeout();
  EXPECT_EQ(h.engine->take_output(), "421 4.4.1 bye idle for too long\r\n")
      << "the recipients' replies belong to the delivery";
  EXPECT_TRUE(h.engine->closed());
  h.engine->delivered({make_reply(250, "2.1.5", "Success")});
  EXPECT_EQ(h.engine->take_output(), "") << "nothing is written after the close";
}

TEST(EngineData, DeliveredWithoutAnAwaitedDeliveryIsIgnored) {
  Harness h;
  h.open();
  h.engine->delivered({make_reply(250, "2.1.5", "Success")});
  EXPECT_EQ(h.engine->take_output(), "");
  EXPECT_EQ(h.send("NOOP\r\n"), "250 2.0.0 ok\r\n");
}

TEST(EngineData, LhloArgumentIsKeptTo249BytesInReceived) {
  Harness h;
  h.open();
  const std::string name(300, 'n');
  h.send("LHLO " + name + "\r\nMAIL FROM:<>\r\nRCPT TO:<alice@x>\r\nDATA\r\n" + kHeaders +
         "\r\n.\r\n");
  EXPECT_NE(h.backend.last_message().find("Received: from " + name.substr(0, 249) +
                                          " ([unix socket])\r\n"),
            std::string::npos)
      << h.backend.last_message();
}

TEST(EngineData, ShutdownBetweenTransactionsIsImmediate) {
  Harness h;
  h.open();
  h.engine->shutdown();
  EXPECT_EQ(h.engine->take_output(), "421 4.3.2 Shutting down\r\n");
  EXPECT_TRUE(h.engine->closed());
  EXPECT_EQ(h.send("NOOP\r\n"), "");
}

TEST(EngineData, ShutdownDuringATransactionWaitsForItsEnd) {
  Harness h;
  h.open();
  h.envelope({"alice@x", "bob@x"});
  h.send("DATA\r\n" + kHeaders);
  h.engine->shutdown();
  EXPECT_EQ(h.engine->take_output(), "");
  EXPECT_FALSE(h.engine->closed());
  EXPECT_EQ(h.send("\r\nbody\r\n.\r\nNOOP\r\n"), "");
  EXPECT_EQ(h.deliver(), h.success_replies(2) + "421 4.3.2 Shutting down\r\n")
      << "the pipelined NOOP is not answered";
  EXPECT_TRUE(h.engine->closed());
}

TEST(EngineData, ShutdownAfterMailCompletesAtRsetOrRefusal) {
  Harness h;
  h.open();
  h.send("MAIL FROM:<>\r\n");
  h.engine->shutdown();
  const std::string out = h.send("RCPT TO:<alice@x>\r\nRSET\r\nNOOP\r\n");
  EXPECT_EQ(out, "250 2.1.5 ok\r\n250 2.0.0 Ok SESSIONID=<" + h.engine->session_id() +
                     ">\r\n421 4.3.2 Shutting down\r\n");
  EXPECT_TRUE(h.engine->closed());

  Harness n;
  n.open();
  n.envelope({"alice@x"});
  n.engine->shutdown();
  EXPECT_EQ(
      n.send("DATA\r\n" + kHeaders + "\r\n" + std::string(1, '\0') + "\r\n.\r\nNOOP\r\n"),
      "354 go ahead\r\n554 5.6.0 Message contains NUL characters\r\n421 4.3.2 Shutting down\r\n");
}

}  // namespace
}  // namespace cubby::lmtp
