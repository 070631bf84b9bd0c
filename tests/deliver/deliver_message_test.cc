// Tests of SpooledMessage (deliver_message.h): line-end normalisation as Cyrus's deliver does it,
// 8-bit detection, the size, dot-stuffing on the way out, the stdin timeout, and the temporary
// file that never shows in the directory.
#include "server/deliver/deliver_message.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace cubby::deliver {
namespace {

using namespace std::chrono_literals;

// A pipe whose write end is fed by a thread: the reader sees the pieces as they come.
class Feeder {
 public:
  Feeder(std::vector<std::string> pieces, bool close_at_end = true) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    thread_ = std::thread([this, pieces = std::move(pieces), close_at_end] {
      for (const auto& p : pieces) {
        if (::write(write_fd_, p.data(), p.size()) != static_cast<ssize_t>(p.size())) break;
        std::this_thread::sleep_for(1ms);
      }
      if (close_at_end) {
        ::close(write_fd_);
        write_fd_ = -1;
      }
    });
  }
  ~Feeder() {
    if (thread_.joinable()) thread_.join();
    if (write_fd_ >= 0) ::close(write_fd_);
    if (read_fd_ >= 0) ::close(read_fd_);
  }
  int fd() const { return read_fd_; }

 private:
  int read_fd_ = -1, write_fd_ = -1;
  std::thread thread_;
};

// Everything write_stuffed() hands over, concatenated.
std::string wire_of(const SpooledMessage& m) {
  std::string wire;
  EXPECT_EQ(m.write_stuffed([&](std::string_view piece) {
    wire.append(piece);
    return true;
  }),
            "");
  return wire;
}

struct Spooled {
  std::string wire;
  uint64_t size = 0;
  bool has_8bit = false;
};

Spooled spool(std::vector<std::string> pieces) {
  Feeder feeder(std::move(pieces));
  auto m = SpooledMessage::read(feeder.fd(), 5s);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error());
  if (!m.ok()) return {};
  return {wire_of(*m), m->size(), m->has_8bit()};
}

// The message as stored (wire without the stuffing and the terminator), for size checks.
std::string unstuffed(std::string wire) {
  std::string out;
  bool line_start = true;
  for (size_t i = 0; i < wire.size(); ++i) {
    if (line_start && wire[i] == '.') ++i;  // the stuffed dot, or the terminator's
    if (i >= wire.size()) break;
    out.push_back(wire[i]);
    line_start = wire[i] == '\n';
  }
  // The terminator ".\r\n" left "\r\n" behind.
  if (out.size() >= 2) out.resize(out.size() - 2);
  return out;
}

TEST(SpooledMessage, CrlfPassesThrough) {
  auto s = spool({"Subject: x\r\n\r\nbody\r\n"});
  EXPECT_EQ(s.wire, "Subject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(s.size, 20u);
  EXPECT_FALSE(s.has_8bit);
}

TEST(SpooledMessage, BareLfBecomesCrlf) {
  auto s = spool({"Subject: x\n\nbody\n"});
  EXPECT_EQ(s.wire, "Subject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(s.size, 20u);
}

TEST(SpooledMessage, LoneCrIsDropped) {
  auto s = spool({"a\rb\r\nc\r\r\nd\r"});
  EXPECT_EQ(s.wire, "ab\r\nc\r\nd\r\n.\r\n");
}

TEST(SpooledMessage, ALastLineWithoutLineEndGetsOne) {
  EXPECT_EQ(spool({"Subject: x\n\nno newline"}).wire, "Subject: x\r\n\r\nno newline\r\n.\r\n");
}

TEST(SpooledMessage, EmptyInputIsAnEmptyMessage) {
  auto s = spool({});
  EXPECT_EQ(s.wire, ".\r\n");
  EXPECT_EQ(s.size, 0u);
}

TEST(SpooledMessage, CrAndLfSplitAcrossReads) {
  // The CR ends one read and the LF starts the next.
  auto s = spool({"line one\r", "\nline two\r", "x\n"});
  EXPECT_EQ(s.wire, "line one\r\nline twox\r\n.\r\n");
}

TEST(SpooledMessage, LinesStartingWithDotsAreStuffed) {
  auto s = spool({".\n..\n.x\nx.\n", ".", "\n"});
  EXPECT_EQ(s.wire, "..\r\n...\r\n..x\r\nx.\r\n..\r\n.\r\n");
  EXPECT_EQ(s.size, std::string(".\r\n..\r\n.x\r\nx.\r\n.\r\n").size());
}

TEST(SpooledMessage, ALeadingMboxEnvelopeLineIsDropped) {
  EXPECT_EQ(spool({"From bob@example.org  Mon Jan  1 12:00:00 2024\nSubject: x\n\nb\n"}).wire,
            "Subject: x\r\n\r\nb\r\n.\r\n");
  // Split anywhere, with CRLF.
  EXPECT_EQ(spool({"Fr", "om MAILER-DAEMON  Mon Jan  1 12:00:00 2024\r", "\nSubject: x\r\n"}).wire,
            "Subject: x\r\n.\r\n");
  // Only the first line, and only "From " exactly.
  EXPECT_EQ(spool({"From: a@b\n\nFrom here on\n"}).wire, "From: a@b\r\n\r\nFrom here on\r\n.\r\n");
  EXPECT_EQ(spool({"Fromage: yes\n"}).wire, "Fromage: yes\r\n.\r\n");
  EXPECT_EQ(spool({"Subject: x\nFrom y\n"}).wire, "Subject: x\r\nFrom y\r\n.\r\n");
  EXPECT_EQ(spool({"From"}).wire, "From\r\n.\r\n");
  auto s = spool({"From a  date\nx"});
  EXPECT_EQ(s.wire, "x\r\n.\r\n");
  EXPECT_EQ(s.size, 3u);
}

TEST(SpooledMessage, EightBitBytesAreNoticed) {
  EXPECT_TRUE(spool({"Subject: caf\xc3\xa9\n\nx\n"}).has_8bit);
  EXPECT_TRUE(spool({"x\n", "\x80"}).has_8bit);
  EXPECT_FALSE(spool({"Subject: plain\n\n\x7f\x01\n"}).has_8bit);
}

TEST(SpooledMessage, NulBytesAreKept) {
  // Cyrus's lmtpd refuses them (554 5.6.0); deliver passes them on for it to decide.
  auto s = spool({std::string("a\0b\n", 4)});
  EXPECT_EQ(s.wire, std::string("a\0b\r\n.\r\n", 8));
}

TEST(SpooledMessage, LargeMessageRoundTripsInPieces) {
  std::string message;
  for (int i = 0; i < 50000; ++i) {
    message += (i % 13 == 0 ? "." : "") + std::string("line ") + std::to_string(i) + "\n";
  }
  std::vector<std::string> pieces;
  for (size_t at = 0; at < message.size(); at += 7777) pieces.push_back(message.substr(at, 7777));
  Feeder feeder(pieces);
  auto m = SpooledMessage::read(feeder.fd(), 5s);
  ASSERT_TRUE(m.ok()) << m.error();
  size_t largest = 0, count = 0;
  std::string wire;
  EXPECT_EQ(m->write_stuffed([&](std::string_view piece) {
    largest = std::max(largest, piece.size());
    ++count;
    wire.append(piece);
    return true;
  }),
            "");
  EXPECT_GT(count, 2u);
  EXPECT_LE(largest, 2u * 64 * 1024 + 3);
  std::string expected;
  for (char c : message) {
    if (c == '\n') expected += '\r';
    expected += c;
  }
  EXPECT_EQ(unstuffed(wire), expected);
  EXPECT_EQ(m->size(), expected.size());
}

TEST(SpooledMessage, ASinkThatRefusesStopsTheWrite) {
  Feeder feeder({std::string(300000, 'x') + "\n"});
  auto m = SpooledMessage::read(feeder.fd(), 5s);
  ASSERT_TRUE(m.ok());
  int calls = 0;
  EXPECT_EQ(m->write_stuffed([&](std::string_view) { return ++calls < 2; }), "refused by the sink");
  EXPECT_EQ(calls, 2);
}

TEST(SpooledMessage, SilentInputTimesOut) {
  Feeder feeder({"Subject: x\n\nstarted but never finished\n"}, /*close_at_end=*/false);
  const auto start = std::chrono::steady_clock::now();
  auto m = SpooledMessage::read(feeder.fd(), 200ms);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error(), "no input for 200 ms");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
}

TEST(SpooledMessage, TheTemporaryFileNeverShowsAndGoesWithTheObject) {
  char tmpl[] = "/tmp/cubby-deliver-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const char* old = getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", dir.c_str(), 1);
  EXPECT_EQ(temporary_directory(), dir);
  {
    Feeder feeder({std::string(200000, 'y') + "\n"});
    auto m = SpooledMessage::read(feeder.fd(), 5s);
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "the spool file has a name in " << dir;
    EXPECT_EQ(m->size(), 200002u);
  }
  // An unusable TMPDIR is an error, not a crash or a partial read.
  ::setenv("TMPDIR", (dir + "/missing").c_str(), 1);
  Feeder feeder({"x\n"});
  auto m = SpooledMessage::read(feeder.fd(), 5s);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().find("temporary file in " + dir + "/missing"), std::string::npos)
      << m.error();
  if (old) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cubby::deliver
