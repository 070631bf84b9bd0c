// deliver's blocking LMTP client connection; see deliver_lmtp.h.
#include "server/deliver/deliver_lmtp.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "conf/log.h"

namespace cubby::deliver {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kMaxLines = 1000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int millis_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// d.d.d with 1-3 digits in the first part and 1-3 in the others (RFC 3463).
bool is_enhanced_code(std::string_view s) {
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == start || i - start > 3) return false;
  }
  return i == s.size();
}

}  // namespace

bool parse_reply_line(std::string_view line, int* code, bool* more, std::string_view* text) {
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])) {
    return false;
  }
  *code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (line.size() == 3) {
    *more = false;
    *text = {};
    return true;
  }
  if (line[3] != ' ' && line[3] != '-') return false;
  *more = line[3] == '-';
  *text = line.substr(4);
  return true;
}

void split_enhanced(std::string_view text, std::string* enhanced, std::string* rest) {
  const size_t space = text.find(' ');
  const std::string_view first = text.substr(0, space);
  if (is_enhanced_code(first)) {
    enhanced->assign(first);
    rest->assign(space == std::string_view::npos ? std::string_view() : text.substr(space + 1));
  } else {
    enhanced->clear();
    rest->assign(text);
  }
}

std::string reply_text(const lmtp::Reply& reply) {
  if (reply.enhanced.empty()) return reply.text;
  if (reply.text.empty()) return reply.enhanced;
  return reply.enhanced + " " + reply.text;
}

Result<LmtpConnection, std::string> LmtpConnection::connect_unix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) {
    return fail("connect " + path + ": not a usable UNIX socket path");
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  LmtpConnection c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (c.fd_ < 0) return fail(std::string("socket: ") + strerror(errno));
  int rc;
  do {
    rc = ::connect(c.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return fail("connect " + path + ": " + strerror(errno));
  return c;
}

LmtpConnection::LmtpConnection(LmtpConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      trace_(other.trace_),
      buffer_(std::move(other.buffer_)),
      error_(std::move(other.error_)),
      layer_(std::move(other.layer_)) {}

LmtpConnection& LmtpConnection::operator=(LmtpConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    trace_ = other.trace_;
    buffer_ = std::move(other.buffer_);
    error_ = std::move(other.error_);
    layer_ = std::move(other.layer_);
  }
  return *this;
}

LmtpConnection::~LmtpConnection() {
  layer_.reset();  // before the socket it uses
  if (fd_ >= 0) ::close(fd_);
}

bool LmtpConnection::send_command(std::string_view line) {
  if (trace_) CUBBY_LOG_DEBUG("C: %.*s", static_cast<int>(line.size()), line.data());
  std::string wire(line);
  wire += "\r\n";
  return send(wire);
}

ssize_t LmtpConnection::write_some(std::string_view bytes, short* wait) {
  *wait = 0;
  if (layer_) return layer_->write(bytes.data(), bytes.size(), wait, &error_);
  for (;;) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *wait = POLLOUT;
    } else {
      error_ = std::string("sending to lmtpd: ") + strerror(errno);
    }
    return -1;
  }
}

ssize_t LmtpConnection::read_some(char* buf, size_t len, short* wait) {
  *wait = 0;
  if (layer_) return layer_->read(buf, len, wait, &error_);
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, len, MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *wait = POLLIN;
    } else {
      error_ = std::string("reading from lmtpd: ") + strerror(errno);
    }
    return -1;
  }
}

bool LmtpConnection::await(short events, Clock::time_point deadline, const char* timed_out) {
  for (;;) {
    pollfd p{fd_, events, 0};
    const int ready = ::poll(&p, 1, millis_until(deadline));
    if (ready > 0) return true;
    if (ready == 0) {
      error_ = timed_out + std::to_string(timeout_.count() / 1000) + " s";
      return false;
    }
    if (errno != EINTR) {
      error_ = std::string("poll: ") + strerror(errno);
      return false;
    }
  }
}

bool LmtpConnection::send(std::string_view bytes) {
  const auto deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    short wait = 0;
    const ssize_t n = write_some(bytes, &wait);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (wait == 0) {
      if (error_.empty()) error_ = "sending to lmtpd: nothing written";
      return false;
    }
    if (!await(wait, deadline, "lmtpd accepted no data for ")) return false;
  }
  return true;
}

bool LmtpConnection::fill(Clock::time_point deadline) {
  for (;;) {
    char buf[8192];
    short wait = 0;
    const ssize_t n = read_some(buf, sizeof buf, &wait);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      error_ = "lmtpd closed the connection";
      return false;
    }
    if (wait == 0) return false;
    if (!await(wait, deadline, "no reply from lmtpd for ")) return false;
  }
}

Result<std::string, std::string> LmtpConnection::read_line(Clock::time_point deadline) {
  size_t scanned = 0;
  for (;;) {
    const size_t lf = buffer_.find('\n', scanned);
    if (lf != std::string::npos) {
      size_t end = lf;
      if (end > 0 && buffer_[end - 1] == '\r') --end;
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, lf + 1);
      return line;
    }
    if (buffer_.size() > kMaxLine) {
      error_ = "protocol error: a reply line of more than 64 KiB";
      return fail(error_);
    }
    scanned = buffer_.size();
    if (!fill(deadline)) return fail(error_);
  }
}

Result<lmtp::Reply, std::string> LmtpConnection::read_reply() {
  const auto deadline = Clock::now() + timeout_;
  lmtp::Reply reply;
  for (size_t count = 1;; ++count) {
    auto line = read_line(deadline);
    if (!line.ok()) return fail(line.error());
    if (trace_) CUBBY_LOG_DEBUG("S: %s", line->c_str());
    int code = 0;
    bool more = false;
    std::string_view text;
    if (!parse_reply_line(*line, &code, &more, &text)) {
      error_ = "protocol error: not a reply: " + line->substr(0, 200);
      return fail(error_);
    }
    if (!more) {
      reply.code = code;
      split_enhanced(text, &reply.enhanced, &reply.text);
      return reply;
    }
    if (count >= kMaxLines) {
      error_ = "protocol error: a reply of more than 1000 lines";
      return fail(error_);
    }
    reply.preamble.emplace_back(text);
  }
}

}  // namespace cubby::deliver
