// End-to-end: a 200 MiB message streamed to two recipients. The worker must stream it to disk
// (its peak RSS stays far below the message size) and store it byte-exact. The test generates the
// message on the fly and compares hashes, so its own memory stays small too.
#include <xxhash.h>

#include <fstream>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr uint64_t kBodyBytes = 200ull << 20;
constexpr size_t kLineBytes = 100;  // CRLF included
constexpr size_t kChunk = 64 * 1024;
constexpr long kWorkerPeakLimitKib = 64 * 1024;

// The message, produced in chunks: a header section, then kBodyBytes of 100-byte lines of
// pseudo-random printable text, every 997th line starting with a dot. Chunks cut lines anywhere.
class LargeMessage {
 public:
  LargeMessage() {
    pending_ =
        "From: Sender <sender@example.org>\r\n"
        "To: alice@e2e.test, bob@e2e.test\r\n"
        "Subject: 200 MiB\r\n"
        "Message-ID: <large-200mib@example.org>\r\n"
        "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
        "\r\n";
  }

  // The next piece of at most kChunk bytes; false at the end.
  bool next(std::string* chunk) {
    chunk->clear();
    while (chunk->size() < kChunk) {
      if (pending_.empty()) {
        if (body_done_ >= kBodyBytes) break;
        make_line();
      }
      size_t take = std::min(kChunk - chunk->size(), pending_.size());
      chunk->append(pending_, 0, take);
      pending_.erase(0, take);
    }
    return !chunk->empty();
  }

 private:
  void make_line() {
    pending_.resize(kLineBytes);
    for (size_t i = 0; i < kLineBytes - 2; ++i) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 7;
      state_ ^= state_ << 17;
      pending_[i] = static_cast<char>('!' + state_ % 94);
    }
    if (line_ % 997 == 0) pending_[0] = '.';
    pending_[kLineBytes - 2] = '\r';
    pending_[kLineBytes - 1] = '\n';
    ++line_;
    body_done_ += kLineBytes;
  }

  std::string pending_;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
  uint64_t line_ = 0;
  uint64_t body_done_ = 0;
};

struct FileDigest {
  uint64_t size = 0;
  size_t trace = 0;           // length of the trace headers Cubby put first
  uint64_t content_hash = 0;  // XXH3-64 of what follows them
  std::string guid;           // XXH3-128 of the whole file
};

// Reads `path` in 1 MiB pieces.
std::optional<FileDigest> digest_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  FileDigest d;
  XXH3_state_t* content = XXH3_createState();
  XXH3_state_t* whole = XXH3_createState();
  XXH3_64bits_reset(content);
  XXH3_128bits_reset(whole);
  std::string buf(1 << 20, '\0');
  bool first = true;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    std::string_view piece(buf.data(), n);
    XXH3_128bits_update(whole, piece.data(), piece.size());
    if (first) {
      d.trace = trace_length(piece);
      piece.remove_prefix(d.trace);
      first = false;
    }
    XXH3_64bits_update(content, piece.data(), piece.size());
    d.size += n;
  }
  d.content_hash = XXH3_64bits_digest(content);
  XXH128_hash_t g = XXH3_128bits_digest(whole);
  char hex[33];
  snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(g.high64),
           static_cast<unsigned long long>(g.low64));
  d.guid = hex;
  XXH3_freeState(content);
  XXH3_freeState(whole);
  return d;
}

using LargeMessageE2e = CubbyTest;

TEST_F(LargeMessageE2e, TwoHundredMiBStreamedToTwoRecipientsInBoundedWorkerMemory) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  const auto unix_workers = cubby_->workers("lmtpunix");
  ASSERT_EQ(unix_workers.size(), 1u) << "prefork=1 should give one lmtpunix worker";
  const pid_t worker = unix_workers[0];
  const auto hwm_before = status_kib(worker, "VmHWM");
  ASSERT_TRUE(hwm_before);

  LmtpClient c = unix_client();
  c.set_timeout(120s);  // the final replies wait for 200 MiB to be made durable
  ASSERT_EQ(c.begin_transaction("sender@example.org", {"alice@e2e.test", "bob@e2e.test"}), "");

  LargeMessage message;
  DotStuffer stuffer;
  XXH3_state_t* sent = XXH3_createState();
  XXH3_64bits_reset(sent);
  uint64_t sent_bytes = 0;
  std::string chunk, wire;
  while (message.next(&chunk)) {
    XXH3_64bits_update(sent, chunk.data(), chunk.size());
    sent_bytes += chunk.size();
    wire.clear();
    stuffer.stuff(chunk, &wire);
    ASSERT_TRUE(c.send(wire)) << c.error() << " after " << sent_bytes << " bytes";
  }
  const uint64_t sent_hash = XXH3_64bits_digest(sent);
  XXH3_freeState(sent);
  ASSERT_TRUE(c.send(stuffer.end())) << c.error();
  for (const char* who : {"alice", "bob"}) {
    LmtpReply r = c.read_reply();
    EXPECT_EQ(r.code, 250) << who << ": " << r.text();
    EXPECT_EQ(r.enhanced(), "2.1.5") << who << ": " << r.text();
  }

  // The worker that served the connection is still the only one, and its peak stayed small.
  EXPECT_EQ(cubby_->workers("lmtpunix"), unix_workers);
  const auto hwm = status_kib(worker, "VmHWM");
  ASSERT_TRUE(hwm) << "worker " << worker << " is gone";
  EXPECT_LT(*hwm, kWorkerPeakLimitKib + kSanitizerRssSlackKib)
      << "worker VmHWM " << *hwm << " KiB (before the message: " << *hwm_before << " KiB)";
  RecordProperty("worker_vmhwm_kib", std::to_string(*hwm));
  EXPECT_EQ(c.command("QUIT").code, 221);

  ASSERT_TRUE(cubby_->wait_settled(30s));
  auto alice = cubby_->messages("alice");
  auto bob = cubby_->messages("bob");
  ASSERT_TRUE(alice && bob);
  ASSERT_EQ(alice->size(), 1u);
  ASSERT_EQ(bob->size(), 1u);
  const std::string path = CubbyInstance::message_file(cubby_->spool(), "alice", 1);
  auto digest = digest_file(path);
  ASSERT_TRUE(digest) << path;
  EXPECT_GT(digest->trace, 0u) << "no trace headers at the start of " << path;
  EXPECT_EQ(digest->size - digest->trace, sent_bytes);
  EXPECT_EQ(digest->content_hash, sent_hash) << "the stored content differs from what was sent";
  EXPECT_EQ((*alice)[0].size, digest->size);
  EXPECT_EQ((*alice)[0].guid, digest->guid);
  EXPECT_EQ((*bob)[0].guid, digest->guid);

  auto a = stat_file(path);
  auto b = stat_file(CubbyInstance::message_file(cubby_->spool(), "bob", 1));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->st_ino, b->st_ino);
  EXPECT_EQ(a->st_nlink, 2u);
  EXPECT_EQ(static_cast<uint64_t>(a->st_size), digest->size);
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
