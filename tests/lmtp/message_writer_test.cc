// Tests of the stored-message normaliser: header checks, Return-Path removal, added Message-ID and
// Date, line ends, 8-bit handling, size limits and sink failures (message_writer.h).
#include "server/lmtp/message_writer.h"

#include <gtest/gtest.h>

#include <random>
#include <regex>

#include "tests/lmtp/engine_test_backend.h"

namespace cubby::lmtp {
namespace {

using test::StoredMessage;
using test::StringSink;

constexpr std::string_view kTrace = "Return-Path: <a@b>\r\nReceived: x\r\n";
const std::string kDate = "Date: Wed, 15 Jul 2026 12:00:00 +0000\r\n";
const std::string kMsgId = "Message-ID: <1@example.org>\r\n";

struct Written {
  MessageWriter::Fault fault;
  std::string reply;   // fault_reply().wire() when fault != kNone
  std::string stored;  // what reached the sink, without kTrace
  uint64_t size;       // writer's size() (trace included)
  std::string message_id, date;
  std::shared_ptr<StoredMessage> sink;
};

Written write(std::string_view content, WriterConfig config = {},
              std::vector<size_t> chunks = {SIZE_MAX}, uint64_t fail_after = UINT64_MAX) {
  config.servername = "mail.example.com";
  auto stored = std::make_shared<StoredMessage>();
  StringSink sink(stored, fail_after);
  MessageWriter w(config);
  w.start(&sink, kTrace, 1784116800);
  size_t pos = 0, k = 0;
  while (pos < content.size()) {
    const size_t n = std::min(chunks[k++ % chunks.size()], content.size() - pos);
    w.content(content.substr(pos, n));
    pos += n;
  }
  w.finish();
  Written out{w.fault(), "", "", w.size(), w.message_id(), w.date(), stored};
  if (out.fault != MessageWriter::Fault::kNone) out.reply = w.fault_reply().wire();
  out.stored = stored->bytes.substr(0, kTrace.size()) == kTrace
                   ? stored->bytes.substr(kTrace.size())
                   : stored->bytes;
  return out;
}

const std::string kBadHeader = "554 5.6.0 Message contains invalid header\r\n";

TEST(MessageWriter, KeepsAWellFormedMessage) {
  const std::string msg = kMsgId + kDate + "Subject: hi\r\n\r\nbody\r\n";
  auto w = write(msg);
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored, msg);
  EXPECT_EQ(w.size, kTrace.size() + msg.size());
  EXPECT_EQ(w.message_id, "<1@example.org>");
  EXPECT_EQ(w.date, "Wed, 15 Jul 2026 12:00:00 +0000");
}

TEST(MessageWriter, AddsMessageIdAndDateAtTheEndOfTheHeaders) {
  auto w = write("Subject: hi\r\nFrom: x@y\r\n\r\nbody\r\n");
  ASSERT_EQ(w.fault, MessageWriter::Fault::kNone);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      w.stored, m,
      std::regex("Subject: hi\r\nFrom: x@y\r\nMessage-ID: (<cubby-lmtpd-[0-9]+-1784116800-[0-9]+@"
                 "mail\\.example\\.com>)\r\nDate: ([A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} 2026 "
                 "[0-9:]{8} [-+][0-9]{4})\r\n\r\nbody\r\n")))
      << w.stored;
  EXPECT_EQ(w.message_id, m[1]);
  EXPECT_EQ(w.date, m[2]);
}

TEST(MessageWriter, GeneratedMessageIdsDiffer) {
  EXPECT_NE(write("\r\n").message_id, write("\r\n").message_id);
}

TEST(MessageWriter, OnlyWhatIsMissingIsAdded) {
  auto w = write(kMsgId + "\r\nbody\r\n");
  EXPECT_TRUE(w.stored.starts_with(kMsgId + "Date: ")) << w.stored;
  auto d = write(kDate + "\r\nbody\r\n");
  EXPECT_TRUE(d.stored.starts_with(kDate + "Message-ID: <cubby-lmtpd-")) << d.stored;
  EXPECT_TRUE(d.stored.ends_with(">\r\n\r\nbody\r\n")) << d.stored;
}

TEST(MessageWriter, EmptyContentGetsOnlyTheAddedHeaders) {
  auto w = write("");
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_TRUE(std::regex_match(w.stored, std::regex("Message-ID: <[^>]+>\r\nDate: [^\r\n]+\r\n")))
      << w.stored;
}

TEST(MessageWriter, NoBlankLineIsAcceptedAsAllHeaders) {
  auto w = write(kMsgId + kDate + "Subject: no body");
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored, kMsgId + kDate + "Subject: no body\r\n");
  auto gen = write("Subject: no body\r\n");
  EXPECT_TRUE(std::regex_match(gen.stored, std::regex("Subject: no body\r\nMessage-ID: <[^>]+>\r\n"
                                                      "Date: [^\r\n]+\r\n")))
      << gen.stored;
}

TEST(MessageWriter, RemovesReturnPathWithItsContinuations) {
  auto w = write("Return-Path: <forged@example.net>\r\n" + kMsgId +
                 "return-path:\r\n <again@example.net>\r\n\t(folded)\r\n" + kDate +
                 "Return-Path : <spaced@example.net>\r\nX-Return-Path: kept\r\n\r\nReturn-Path: "
                 "body is not headers\r\n");
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored,
            kMsgId + kDate + "X-Return-Path: kept\r\n\r\nReturn-Path: body is not headers\r\n");
}

TEST(MessageWriter, FoldedHeadersAreKeptAndCapturedUnfolded) {
  const std::string msg =
      "Message-ID:\r\n <folded@example.org>\r\nDate: Wed, 15 Jul 2026\r\n 12:00:00 +0000\r\n"
      "Subject: a\r\n\tb\r\n\r\n";
  auto w = write(msg);
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored, msg);
  EXPECT_EQ(w.message_id, "<folded@example.org>");
  EXPECT_EQ(w.date, "Wed, 15 Jul 2026 12:00:00 +0000");
}

TEST(MessageWriter, WhitespaceBeforeTheColonIsAllowed) {
  auto w = write(kMsgId + kDate + "Subject \t: x\r\n\r\n");
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored, kMsgId + kDate + "Subject \t: x\r\n\r\n");
}

TEST(MessageWriter, InvalidHeaderForms) {
  for (std::string bad :
       {"From sender@example.org Tue Jul 15 12:00:00 2026\r\nSubject: x\r\n\r\n",
        " continuation first: x\r\nSubject: x\r\n\r\n", "\tcontinuation first\r\n\r\n",
        "Subject: x\r\nno colon here\r\n\r\nbody\r\n", "Subject: x\r\nNoColonAtAll\r\n",
        "Subject: x\r\nNoColonAtEnd", "Bad Name: x\r\n\r\n", ": empty name\r\n\r\n",
        "Sub\x01ject: x\r\n\r\n", "Subj\xC3\xA9t: x\r\n\r\n", "Subject x\r\n\r\n",
        "Message-ID:\r\n\r\n", "Message-ID:   \t\r\n\r\n", "Message-ID:\r\n \r\n\r\n"}) {
    auto w = write(bad);
    EXPECT_EQ(w.fault, MessageWriter::Fault::kBadHeader) << bad;
    EXPECT_EQ(w.reply, kBadHeader) << bad;
    EXPECT_EQ(w.stored, "") << "nothing written after a fault (the trace is discarded too): "
                            << bad;
  }
}

TEST(MessageWriter, FieldNameLengthIsBounded) {
  const std::string name998(998, 'X');
  EXPECT_EQ(write(name998 + ": ok\r\n\r\n").fault, MessageWriter::Fault::kNone);
  const std::string name999(999, 'X');
  EXPECT_EQ(write(name999 + ": too long\r\n\r\n").fault, MessageWriter::Fault::kBadHeader);
}

TEST(MessageWriter, LongHeaderValuesAreFine) {
  const std::string value(200000, 'v');
  auto w = write(kMsgId + kDate + "X-Long: " + value + "\r\n\r\nb\r\n");
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored.size(), kMsgId.size() + kDate.size() + 8 + value.size() + 2 + 2 + 3);
  auto id = write("Message-ID: <" + value + ">\r\n" + kDate + "\r\n");
  EXPECT_EQ(id.message_id.size(), 998u) << "captured values are capped";
}

TEST(MessageWriter, NulAnywhereIsRefused) {
  const std::string nul = "554 5.6.0 Message contains NUL characters\r\n";
  auto h = write(std::string("Subject: a\0b\r\n\r\nbody\r\n", 22));
  EXPECT_EQ(h.fault, MessageWriter::Fault::kNul);
  EXPECT_EQ(h.reply, nul);
  auto b = write(kMsgId + kDate + std::string("\r\nbo\0dy\r\n", 9));
  EXPECT_EQ(b.fault, MessageWriter::Fault::kNul);
  EXPECT_EQ(b.reply, nul);
}

TEST(MessageWriter, NormalisesLineEnds) {
  auto w = write(kMsgId + "Subject: bare\nX-Cr: lone\rcr\r\n" + kDate + "\n" +
                 "line1\nline2\r\nlone\rcr\r\n\r\r\nend\r");
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored, kMsgId + "Subject: bare\r\nX-Cr: lonecr\r\n" + kDate +
                          "\r\nline1\r\nline2\r\nlonecr\r\n\r\nend\r\n");
}

TEST(MessageWriter, AddsTheMissingFinalCrlf) {
  EXPECT_EQ(write(kMsgId + kDate + "\r\nno newline").stored, kMsgId + kDate + "\r\nno newline\r\n");
  EXPECT_EQ(write(kMsgId + kDate + "\r\n").stored, kMsgId + kDate + "\r\n");
  EXPECT_EQ(write(kMsgId + kDate + "Subject: x").stored, kMsgId + kDate + "Subject: x\r\n");
}

TEST(MessageWriter, EightBitHeaderValuesUnderTheThreeSettings) {
  const std::string msg = kMsgId + kDate + "Subject: caf\xC3\xA9\r\n\r\nbody \xC3\xA9\r\n";
  auto kept = write(msg);
  EXPECT_EQ(kept.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(kept.stored, msg);

  WriterConfig munge;
  munge.munge8bit = true;
  auto munged = write(msg, munge);
  EXPECT_EQ(munged.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(munged.stored, kMsgId + kDate + "Subject: cafXX\r\n\r\nbody \xC3\xA9\r\n")
      << "only header values are munged, never the body";

  WriterConfig reject;
  reject.reject8bit = true;
  auto rejected = write(msg, reject);
  EXPECT_EQ(rejected.fault, MessageWriter::Fault::kEightBitHeader);
  EXPECT_EQ(rejected.reply, "554 5.6.0 Message contains non-ASCII characters in headers\r\n");
  EXPECT_EQ(write(kMsgId + kDate + "\r\nbody \xC3\xA9\r\n", reject).fault,
            MessageWriter::Fault::kNone);
}

TEST(MessageWriter, HeaderSectionSizeIsBounded) {
  WriterConfig config;
  config.max_header_size = 100;
  EXPECT_EQ(write("X: " + std::string(90, 'a') + "\r\n\r\nbody\r\n", config).fault,
            MessageWriter::Fault::kNone);
  auto big =
      write("X: " + std::string(200, 'a') + "\r\n\r\n" + std::string(1000, 'b') + "\r\n", config);
  EXPECT_EQ(big.fault, MessageWriter::Fault::kHeaderTooLarge);
  EXPECT_EQ(big.reply, "552 5.3.4 Message header size exceeds limit\r\n");
}

TEST(MessageWriter, TooLargeStopsWritingButCountsTheSize) {
  WriterConfig config;
  config.max_message_size = 100000;
  const std::string msg =
      kMsgId + kDate + "\r\n" + test::repeat(std::string(99, 'x') + "\r\n", 5000);
  auto w = write(msg, config);
  EXPECT_EQ(w.fault, MessageWriter::Fault::kTooLarge);
  EXPECT_EQ(w.size, kTrace.size() + msg.size());
  EXPECT_EQ(w.reply, "552 5.2.3 Message size (" + std::to_string(w.size) +
                         ") exceeds fixed maximum message size (100000)\r\n");
  EXPECT_LE(w.sink->bytes.size(), 100000u) << "the sink never receives more than the limit";

  config.max_message_size = kTrace.size() + msg.size();
  EXPECT_EQ(write(msg, config).fault, MessageWriter::Fault::kNone) << "exactly the limit is fine";
}

TEST(MessageWriter, HandsTheSinkLargeSpans) {
  const std::string msg = kMsgId + kDate + "\r\n" + test::repeat("a short line\r\n", 100000);
  auto w = write(msg, {}, {1000});
  EXPECT_EQ(w.fault, MessageWriter::Fault::kNone);
  EXPECT_EQ(w.stored, msg);
  EXPECT_LT(w.sink->writes, msg.size() / 32768) << "buffered into spans of tens of KiB";
  EXPECT_GE(w.sink->largest_write, 60000u);
}

TEST(MessageWriter, SinkFailureIsReported) {
  auto w = write(kMsgId + kDate + "\r\n" + std::string(300000, 'z') + "\r\n", {}, {SIZE_MAX}, 1000);
  EXPECT_EQ(w.fault, MessageWriter::Fault::kSinkFailed);
  EXPECT_EQ(w.reply, "451 4.3.1 cannot write stage file: No space left on device\r\n");
}

TEST(MessageWriter, AnyChunkingGivesTheSameBytes) {
  std::string msg =
      "Return-Path: <x>\r\n x\r\nSubject: a\rb\n\tc\r\n\tfolded\n" + kDate + "X:\r\n\r\n";
  for (int i = 0; i < 300; ++i)
    msg += "line " + std::to_string(i) + (i % 3 ? "\r\n" : i % 2 ? "\n" : "\r");
  const Written whole = write(msg);
  ASSERT_EQ(whole.fault, MessageWriter::Fault::kNone);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 20; ++i) chunks.push_back(1 + rng() % 17);
    const Written w = write(msg, {}, chunks);
    // Only the generated Message-ID differs (its counter).
    EXPECT_EQ(std::regex_replace(w.stored, std::regex("<cubby-lmtpd-[^>]+>"), "<id>"),
              std::regex_replace(whole.stored, std::regex("<cubby-lmtpd-[^>]+>"), "<id>"));
  }
  EXPECT_EQ(
      std::regex_replace(write(msg, {}, {1}).stored, std::regex("<cubby-lmtpd-[^>]+>"), "<id>"),
      std::regex_replace(whole.stored, std::regex("<cubby-lmtpd-[^>]+>"), "<id>"));
}

TEST(MessageWriter, IsReusable) {
  auto stored = std::make_shared<StoredMessage>();
  StringSink sink(stored, UINT64_MAX);
  MessageWriter w(WriterConfig{});
  w.start(&sink, "T\r\n", 0);
  w.content(std::string_view("\0", 1));
  w.finish();
  EXPECT_EQ(w.fault(), MessageWriter::Fault::kNul);
  auto stored2 = std::make_shared<StoredMessage>();
  StringSink sink2(stored2, UINT64_MAX);
  w.start(&sink2, "T\r\n", 0);
  w.content(kMsgId + kDate + "\r\nok\r\n");
  w.finish();
  EXPECT_EQ(w.fault(), MessageWriter::Fault::kNone);
  EXPECT_EQ(stored2->bytes, "T\r\n" + kMsgId + kDate + "\r\nok\r\n");
}

}  // namespace
}  // namespace cubby::lmtp
