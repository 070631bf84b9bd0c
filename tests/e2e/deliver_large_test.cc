// End-to-end: a 100 MiB message through the real deliver. It is generated on the fly with bare LF
// line ends and dot-started lines; deliver must spool it, normalise and stuff it, and send it to
// lmtpd with its peak memory (ru_maxrss) under 32 MiB; Cubby must store exactly the CRLF form, and
// the index must give the stored size. deliver's temporary file never shows in TMPDIR.
#include <xxhash.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/deliver_harness.h"
#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr uint64_t kBodyBytes = 100ull << 20;
constexpr size_t kLine = 100;  // bytes per body line, LF included
constexpr long kDeliverPeakLimitKib = 32 * 1024;

// Produces the message in pieces of about 64 KiB and hashes the form Cubby must store (every LF
// preceded by CR) as it goes.
class LfMessage {
 public:
  LfMessage() {
    XXH3_64bits_reset(expected_);
    header_ =
        "From: Sender <sender@example.org>\n"
        "Subject: 100 MiB through deliver\n"
        "Message-ID: <deliver-100mib@example.org>\n"
        "Date: Mon, 1 Jan 2024 12:00:00 +0000\n"
        "\n";
  }
  ~LfMessage() { XXH3_freeState(expected_); }

  bool next(std::string* piece) {
    piece->clear();
    if (!header_.empty()) {
      piece->swap(header_);
    } else {
      while (piece->size() < 64 * 1024 && body_ < kBodyBytes) {
        std::string line(kLine - 1, 'a');
        for (size_t i = 0; i < line.size(); ++i) {
          state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
          line[i] = static_cast<char>('!' + (state_ >> 33) % 94);
        }
        if (lines_ % 997 == 0) line[0] = '.';
        line += '\n';
        *piece += line;
        body_ += kLine;
        ++lines_;
      }
    }
    if (piece->empty()) return false;
    std::string crlf;
    crlf.reserve(piece->size() + piece->size() / 50);
    for (char c : *piece) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    XXH3_64bits_update(expected_, crlf.data(), crlf.size());
    expected_size_ += crlf.size();
    return true;
  }

  uint64_t expected_hash() const { return XXH3_64bits_digest(expected_); }
  uint64_t expected_size() const { return expected_size_; }

 private:
  std::string header_;
  XXH3_state_t* expected_ = XXH3_createState();
  uint64_t expected_size_ = 0;
  uint64_t state_ = 42;
  uint64_t body_ = 0, lines_ = 0;
};

using DeliverLarge = CubbyTest;

TEST_F(DeliverLarge, HundredMiBStreamsThroughDeliverInBoundedMemory) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  const std::string tmpdir = root_.path() + "/deliver-tmp";
  std::filesystem::create_directory(tmpdir);

  auto message = std::make_shared<LfMessage>();
  DeliverInput input{"", [message](std::string* piece) { return message->next(piece); }, false};
  auto r = run_deliver({"-C", cubby_->settings_path(), "-r", "sender@example.org", "alice"}, input,
                       180s, {"TMPDIR=" + tmpdir});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_LT(r.max_rss_kib, kDeliverPeakLimitKib + kSanitizerRssSlackKib)
      << "deliver's peak RSS was " << r.max_rss_kib << " KiB";
  RecordProperty("deliver_maxrss_kib", std::to_string(r.max_rss_kib));
  EXPECT_TRUE(std::filesystem::is_empty(tmpdir)) << "deliver left a file in TMPDIR";

  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  const std::string path = CubbyInstance::message_file(cubby_->spool(), "alice", 1);
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const size_t trace = trace_length(head);
  ASSERT_GT(trace, 0u) << head.substr(0, 300);
  XXH3_state_t* stored = XXH3_createState();
  XXH3_64bits_reset(stored);
  XXH3_64bits_update(stored, head.data() + trace, static_cast<size_t>(in.gcount()) - trace);
  uint64_t content = static_cast<uint64_t>(in.gcount()) - trace;
  std::string buf(1 << 20, '\0');
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    XXH3_64bits_update(stored, buf.data(), static_cast<size_t>(in.gcount()));
    content += static_cast<uint64_t>(in.gcount());
  }
  const uint64_t stored_hash = XXH3_64bits_digest(stored);
  XXH3_freeState(stored);

  EXPECT_EQ(content, message->expected_size());
  EXPECT_EQ(stored_hash, message->expected_hash()) << "the stored message is not the CRLF form";
  auto st = stat_file(path);
  ASSERT_TRUE(st);
  EXPECT_EQ((*rows)[0].size, static_cast<uint64_t>(st->st_size));
  EXPECT_EQ((*rows)[0].size, trace + message->expected_size());
}

}  // namespace
}  // namespace cubby::e2e
