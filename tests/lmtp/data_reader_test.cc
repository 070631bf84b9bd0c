// Tests of the DATA wire state machine: end detection and dot-unstuffing under any chunking
// (data_reader.h).
#include "server/lmtp/data_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace cubby::lmtp {
namespace {

struct Capture : ContentConsumer {
  std::string bytes;
  size_t calls = 0;
  void content(std::string_view b) override {
    bytes.append(b);
    ++calls;
  }
};

struct Outcome {
  std::string content;
  bool done = false;
  size_t consumed = 0;  // total input bytes used
};

// Feeds `wire` in chunks of the given sizes (cycled), stopping at the end of data.
Outcome run(std::string_view wire, std::vector<size_t> chunks = {SIZE_MAX}) {
  DataReader reader;
  Capture out;
  Outcome o;
  size_t pos = 0, k = 0;
  while (pos < wire.size()) {
    const size_t n = std::min(chunks[k++ % chunks.size()], wire.size() - pos);
    auto p = reader.feed(wire.substr(pos, n), out);
    o.consumed += p.consumed;
    pos += n;
    if (p.done) {
      o.done = true;
      break;
    }
    EXPECT_EQ(p.consumed, n);
  }
  o.content = out.bytes;
  return o;
}

TEST(DataReader, EndsAtDotLineAndKeepsTheLastCrlf) {
  auto o = run("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.content, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(o.consumed, std::string_view("Subject: x\r\n\r\nbody\r\n.\r\n").size());
}

TEST(DataReader, EmptyMessage) {
  auto o = run(".\r\nNOOP\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.content, "");
  EXPECT_EQ(o.consumed, 3u);
}

TEST(DataReader, UnstuffsLeadingDots) {
  auto o = run("..\r\n...two\r\n.x\r\nmid.dle\r\n..\r\n.\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.content, ".\r\n..two\r\nx\r\nmid.dle\r\n.\r\n");
}

TEST(DataReader, FirstLineMayBeStuffed) {
  auto o = run(".From: x\r\n.\r\n");
  EXPECT_EQ(o.content, "From: x\r\n");
}

TEST(DataReader, BareLineEndsNeverEndTheData) {
  auto lf = run("a\n.\nb\r\n.\r\n");
  EXPECT_TRUE(lf.done);
  EXPECT_EQ(lf.content, "a\n.\nb\r\n");
  auto cr = run("a\r.\rb\r\n.\r\n");
  EXPECT_EQ(cr.content, "a\r.\rb\r\n");
  auto mixed = run("a\n.\r\nb\r\n.\r\n");
  EXPECT_EQ(mixed.content, "a\n.\r\nb\r\n");
  auto crcr = run("a\r\r\n.\r\n");
  EXPECT_TRUE(crcr.done);
  EXPECT_EQ(crcr.content, "a\r\r\n");
}

TEST(DataReader, DotCrWithoutLfIsContent) {
  auto o = run("x\r\n.\rz\r\n.\r\r\n.\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.content, "x\r\n\rz\r\n\r\r\n");
}

TEST(DataReader, NotDoneWithoutTheDotLine) {
  auto o = run("abc\r\n.x\r\n");
  EXPECT_FALSE(o.done);
  EXPECT_EQ(o.content, "abc\r\nx\r\n");
}

TEST(DataReader, AnyChunkingGivesTheSameContent) {
  std::string wire;
  for (int i = 0; i < 200; ++i) {
    wire += (i % 7 == 0) ? ".." : "";
    wire +=
        "line " + std::to_string(i) + (i % 5 == 0 ? "\n.\n" : "") + (i % 11 == 0 ? "\r.\r" : "");
    wire += (i % 13 == 0) ? "\r\n.\rx" : "";
    wire += "\r\n";
  }
  wire += ".\r\nAFTER";
  const Outcome whole = run(wire);
  ASSERT_TRUE(whole.done);
  EXPECT_EQ(whole.consumed, wire.size() - 5);

  EXPECT_EQ(run(wire, {1}).content, whole.content);
  EXPECT_EQ(run(wire, {2}).content, whole.content);
  EXPECT_EQ(run(wire, {3, 1, 4, 1, 5, 9}).content, whole.content);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 30; ++i) chunks.push_back(1 + rng() % 40);
    const Outcome o = run(wire, chunks);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, whole.consumed);
    EXPECT_EQ(o.content, whole.content) << "trial " << trial;
  }
}

TEST(DataReader, LongRunsArriveInFewCalls) {
  DataReader reader;
  Capture out;
  const std::string body(1 << 20, 'a');
  auto p = reader.feed(body, out);
  EXPECT_FALSE(p.done);
  EXPECT_EQ(out.calls, 1u);
  p = reader.feed("\r\n.\r\n", out);
  EXPECT_TRUE(p.done);
  EXPECT_EQ(out.bytes.size(), body.size() + 2);
}

TEST(DataReader, ResetStartsAtALineStart) {
  DataReader reader;
  Capture out;
  reader.feed("abc", out);
  reader.reset();
  auto p = reader.feed(".\r\n", out);
  EXPECT_TRUE(p.done);
}

}  // namespace
}  // namespace cubby::lmtp
