// The message deliver reads from stdin, spooled to an unlinked temporary file; see
// deliver_message.h.
#include "server/deliver_message.h"

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
  out.reserve(2 * kPiece + 2);
  bool pending_cr = false;  // a CR whose fate depends on the next byte
  char last = '\n';         // last byte written; '\n' also stands for "nothing yet"
  for (;;) {
    if (!wait_readable(fd, idle_timeout)) {
      if (errno == ETIMEDOUT) return fail("no input for " + duration_text(idle_timeout));
      return fail(errno_text("poll"));
    }
    const ssize_t got = ::read(fd, in.data(), in.size());
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return fail(errno_text("read"));
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) {
      const char c = in[static_cast<size_t>(i)];
      if (pending_cr) {
        pending_cr = false;
        if (c == '\n') {
          out += "\r\n";
          continue;
        }
        // The CR was alone: dropped, as Cyrus does.
      }
      if (c == '\r') {
        pending_cr = true;
      } else if (c == '\n') {
        out += "\r\n";
      } else {
        out.push_back(c);
        if (static_cast<unsigned char>(c) >= 0x80) message.has_8bit_ = true;
      }
    }
    if (!out.empty()) last = out.back();
    if (out.size() >= kPiece) {
      if (!write_all(message.fd_, out)) return fail(errno_text("temporary file in " + dir));
      message.size_ += out.size();
      out.clear();
    }
  }
  if (last != '\n') out += "\r\n";  // a trailing lone CR was dropped above
  if (!write_all(message.fd_, out)) return fail(errno_text("temporary file in " + dir));
  message.size_ += out.size();
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
