// The message deliver reads from stdin, spooled to an unlinked temporary file; see
// deliver_message.h.
#include "server/deliver/deliver_message.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace cubby::deliver {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPiece = 64 * 1024;

std::string errno_text(const std::string& what) { return what + ": " + strerror(errno); }

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

// An unlinked file in `dir`: O_TMPFILE where the file system has it, else mkstemp + unlink.
Result<int, std::string> open_unlinked(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return fail(errno_text("temporary file in " + dir));
  }
  std::string path = dir + "/cubby-deliver.XXXXXX";
  fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return fail(errno_text("temporary file in " + dir));
  ::unlink(path.c_str());
  return fd;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Waits until `fd` has input (or end of file) or `timeout` passes; false with errno = ETIMEDOUT
// on a timeout.
bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0);
    if (n > 0) return true;
    if (n == 0 && Clock::now() >= deadline) {
      errno = ETIMEDOUT;
      return false;
    }
    if (n == 0) continue;
    if (errno != EINTR) return false;
  }
}

// The line-end rules, byte by byte: bare LF becomes CRLF, a CR not followed by LF is dropped. A
// leading mbox envelope line ("From sender date", which Postfix's local(8) puts before the message
// it gives a mailbox_command) is dropped whole: no header can start that way, and lmtpd would
// refuse the message for it.
class Normaliser {
 public:
  explicit Normaliser(std::string* out) : out_(out) {}

  void take(char c) {
    if (start_ == Start::kPrefix) {
      prefix_.push_back(c);
      if (prefix_ == kEnvelope) {
        start_ = Start::kSkipping;
      } else if (kEnvelope.substr(0, prefix_.size()) != prefix_) {
        start_ = Start::kBody;
        for (char p : prefix_) line_ends(p);
      }
      return;
    }
    if (start_ == Start::kSkipping) {
      if (c == '\n') start_ = Start::kBody;
      return;
    }
    line_ends(c);
  }

  // At the end of input: what is held goes out, and the last line gets its line end.
  void finish() {
    if (start_ == Start::kPrefix) {
      for (char p : prefix_) line_ends(p);
    }
    const bool line_start = out_->empty() ? at_line_start_ : out_->back() == '\n';
    if (!line_start) *out_ += "\r\n";
  }

  bool has_8bit() const { return has_8bit_; }
  // Call before the caller empties *out, so that finish() still knows how the output ended.
  void flushed() {
    if (!out_->empty()) at_line_start_ = out_->back() == '\n';
  }

 private:
  static constexpr std::string_view kEnvelope = "From ";
  enum class Start { kPrefix, kSkipping, kBody };

  void line_ends(char c) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        *out_ += "\r\n";
        return;
      }
      // The CR was alone: dropped, as Cyrus does.
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      *out_ += "\r\n";
    } else {
      out_->push_back(c);
      if (static_cast<unsigned char>(c) >= 0x80) has_8bit_ = true;
    }
  }

  std::string* out_;
  Start start_ = Start::kPrefix;
  std::string prefix_;
  bool pending_cr_ = false;
  bool has_8bit_ = false;
  bool at_line_start_ = true;
};

}  // namespace

std::string temporary_directory() {
  const char* dir = getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

Result<SpooledMessage, std::string> SpooledMessage::read(int fd,
                                                         std::chrono::milliseconds idle_timeout) {
  const std::string dir = temporary_directory();
  auto file = open_unlinked(dir);
  if (!file.ok()) return fail(file.error());
  SpooledMessage message(file.value());  // owns the descriptor from here on

  std::string in(kPiece, '\0');
  std::string out;
  out.reserve(2 * kPiece + 8);
  Normaliser normaliser(&out);
  for (;;) {
    if (!wait_readable(fd, idle_timeout)) {
      if (errno == ETIMEDOUT) return fail("no input for " + duration_text(idle_timeout));
      return fail(errno_text("poll"));
    }
    const ssize_t got = ::read(fd, in.data(), in.size());
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return fail(errno_text("read"));
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) normaliser.take(in[static_cast<size_t>(i)]);
    if (out.size() >= kPiece) {
      if (!write_all(message.fd_, out)) return fail(errno_text("temporary file in " + dir));
      message.size_ += out.size();
      normaliser.flushed();
      out.clear();
    }
  }
  normaliser.finish();
  if (!write_all(message.fd_, out)) return fail(errno_text("temporary file in " + dir));
  message.size_ += out.size();
  message.has_8bit_ = normaliser.has_8bit();
  return message;
}

SpooledMessage::SpooledMessage(SpooledMessage&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), has_8bit_(other.has_8bit_) {}

SpooledMessage& SpooledMessage::operator=(SpooledMessage&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    has_8bit_ = other.has_8bit_;
  }
  return *this;
}

SpooledMessage::~SpooledMessage() {
  if (fd_ >= 0) ::close(fd_);
}

std::string SpooledMessage::write_stuffed(const std::function<bool(std::string_view)>& sink) const {
  std::string in(kPiece, '\0');
  std::string out;
  out.reserve(2 * kPiece + 3);
  bool line_start = true;
  uint64_t offset = 0;
  while (offset < size_) {
    const ssize_t got = ::pread(fd_, in.data(), in.size(), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno_text("reading the temporary file");
    if (got == 0) return "the temporary file is shorter than the message";
    offset += static_cast<uint64_t>(got);
    out.clear();
    for (ssize_t i = 0; i < got; ++i) {
      const char c = in[static_cast<size_t>(i)];
      if (line_start && c == '.') out.push_back('.');
      out.push_back(c);
      line_start = c == '\n';
    }
    if (!sink(out)) return "refused by the sink";
  }
  // The spooled message ends with CRLF unless it is empty, so the terminator follows directly.
  if (!sink(".\r\n")) return "refused by the sink";
  return "";
}

}  // namespace cubby::deliver
