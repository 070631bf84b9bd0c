// The end-to-end tests' blocking LMTP client; see lmtp_client.h.
#include "tests/e2e/lmtp_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace cubby::e2e {
namespace {

using Clock = std::chrono::steady_clock;

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string LmtpReply::enhanced() const {
  if (lines.empty()) return "";
  const std::string& l = lines.back();
  if (l.size() < 5) return "";
  size_t end = l.find(' ', 4);
  std::string e = l.substr(4, end == std::string::npos ? std::string::npos : end - 4);
  // An enhanced code is d.d.d; anything else is plain text.
  if (e.size() < 5 || !isdigit(static_cast<unsigned char>(e[0])) || e[1] != '.') return "";
  return e;
}

std::string LmtpReply::text() const {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += " | ";
    out += l;
  }
  return out;
}

void DotStuffer::stuff(std::string_view piece, std::string* wire) {
  wire->reserve(wire->size() + piece.size() + 16);
  for (char c : piece) {
    if (line_start_ && c == '.') wire->push_back('.');
    wire->push_back(c);
    // A line starts after LF (CRLF or bare LF: the server treats both as line ends).
    line_start_ = c == '\n';
  }
}

std::string DotStuffer::end() const { return line_start_ ? ".\r\n" : "\r\n.\r\n"; }

LmtpClient::~LmtpClient() { close(); }

LmtpClient::LmtpClient(LmtpClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)),
      error_(std::move(other.error_)),
      ssl_ctx_(std::exchange(other.ssl_ctx_, nullptr)),
      ssl_(std::exchange(other.ssl_, nullptr)) {}

LmtpClient& LmtpClient::operator=(LmtpClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
    error_ = std::move(other.error_);
    ssl_ctx_ = std::exchange(other.ssl_ctx_, nullptr);
    ssl_ = std::exchange(other.ssl_, nullptr);
  }
  return *this;
}

void LmtpClient::end_tls() {
  if (ssl_) SSL_free(ssl_);
  if (ssl_ctx_) SSL_CTX_free(ssl_ctx_);
  ssl_ = nullptr;
  ssl_ctx_ = nullptr;
}

bool LmtpClient::start_tls(const std::string& cert_file, const std::string& key_file) {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  end_tls();
  buffer_.clear();
  auto openssl_error = [] {
    char buf[256] = "unknown";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return std::string(buf);
  };
  ssl_ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ssl_ctx_) {
    error_ = "SSL_CTX_new: " + openssl_error();
    return false;
  }
  SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_NONE, nullptr);
  if (!cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ssl_ctx_, cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ssl_ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    error_ = "client certificate: " + openssl_error();
    end_tls();
    return false;
  }
  ssl_ = SSL_new(ssl_ctx_);
  SSL_set_fd(ssl_, fd_);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    const int r = SSL_connect(ssl_);
    if (r == 1) return true;
    const int e = SSL_get_error(ssl_, r);
    short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      error_ = "TLS handshake: " + openssl_error();
      end_tls();
      return false;
    }
    if (!wait_for(events, deadline)) {
      end_tls();
      return false;
    }
  }
}

std::string LmtpClient::tls_version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

long LmtpClient::receive(short* wait_events) {
  char buf[8192];
  *wait_events = POLLIN;
  if (!ssl_) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) buffer_.append(buf, static_cast<size_t>(n));
    if (n >= 0) return n;
    if (errno == EINTR || errno == EAGAIN) return -2;
    error_ = std::string("recv: ") + strerror(errno);
    return -1;
  }
  const int n = SSL_read(ssl_, buf, sizeof buf);
  if (n > 0) {
    buffer_.append(buf, static_cast<size_t>(n));
    return n;
  }
  const int e = SSL_get_error(ssl_, n);
  if (e == SSL_ERROR_WANT_READ) return -2;
  if (e == SSL_ERROR_WANT_WRITE) {
    *wait_events = POLLOUT;
    return -2;
  }
  if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) return 0;
  ERR_clear_error();
  error_ = "TLS read error";
  return -1;
}

void LmtpClient::close() {
  end_tls();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool LmtpClient::connect_unix(const std::string& path) {
  close();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    error_ = "socket path too long: " + path;
    return false;
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    error_ = "connect " + path + ": " + strerror(errno);
    close();
    return false;
  }
  return true;
}

bool LmtpClient::connect_tcp(int port) { return connect_tcp_from(port, ""); }

bool LmtpClient::connect_tcp_from(int port, const std::string& source_ip) {
  close();
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ >= 0 && !source_ip.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source_ip.c_str(), &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      error_ = "bind " + source_ip + ": " + strerror(errno);
      close();
      return false;
    }
  }
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    error_ = "connect 127.0.0.1:" + std::to_string(port) + ": " + strerror(errno);
    close();
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

bool LmtpClient::wait_for(short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, millis_until(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = std::string("poll: ") + strerror(errno);
      return false;
    }
    if (n == 0) {
      error_ = "timeout after " + std::to_string(timeout_.count()) + " ms";
      return false;
    }
    return true;  // readable/writable, or an error the next call reports
  }
}

bool LmtpClient::send(std::string_view bytes) {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  const auto deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    if (ssl_) {
      const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!wait_for(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return false;
        continue;
      }
      ERR_clear_error();
      error_ = "TLS write error";
      return false;
    }
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(POLLOUT, deadline)) return false;
      continue;
    }
    error_ = std::string("send: ") + strerror(errno);
    return false;
  }
  return true;
}

bool LmtpClient::read_line(std::string* line, Clock::time_point deadline) {
  for (;;) {
    size_t lf = buffer_.find("\r\n");
    if (lf != std::string::npos) {
      *line = buffer_.substr(0, lf);
      buffer_.erase(0, lf + 2);
      return true;
    }
    if (fd_ < 0) {
      error_ = "not connected";
      return false;
    }
    short events = POLLIN;
    const long n = receive(&events);
    if (n == 0) {
      error_ = "connection closed by the server" +
               (buffer_.empty() ? std::string() : " after a partial line: " + buffer_);
      return false;
    }
    if (n == -1) return false;
    if (n == -2 && !wait_for(events, deadline)) return false;
  }
}

LmtpReply LmtpClient::read_reply() {
  LmtpReply reply;
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    std::string line;
    if (!read_line(&line, deadline)) {
      reply.code = 0;
      reply.lines.push_back("(no reply: " + error_ + ")");
      return reply;
    }
    reply.lines.push_back(line);
    if (line.size() < 3 || !isdigit(static_cast<unsigned char>(line[0])) ||
        !isdigit(static_cast<unsigned char>(line[1])) ||
        !isdigit(static_cast<unsigned char>(line[2]))) {
      error_ = "malformed reply line: " + line;
      reply.code = 0;
      return reply;
    }
    if (line.size() == 3 || line[3] == ' ') {
      reply.code = std::stoi(line.substr(0, 3));
      return reply;
    }
    if (line[3] != '-') {
      error_ = "malformed reply line: " + line;
      reply.code = 0;
      return reply;
    }
  }
}

std::vector<LmtpReply> LmtpClient::read_replies(size_t n) {
  std::vector<LmtpReply> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(read_reply());
    if (out.back().code == 0) break;
  }
  return out;
}

LmtpReply LmtpClient::command(std::string_view line) {
  if (!send_line(line)) {
    LmtpReply r;
    r.lines.push_back("(not sent: " + error_ + ")");
    return r;
  }
  return read_reply();
}

bool LmtpClient::send_data(std::string_view content) {
  DotStuffer stuffer;
  std::string wire;
  stuffer.stuff(content, &wire);
  wire += stuffer.end();
  return send(wire);
}

bool LmtpClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (fd_ >= 0) {
    short events = POLLIN;
    const long got = receive(&events);
    if (got == 0 || got == -1) return true;
    if (got > 0) continue;
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, millis_until(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
  }
  return true;
}

std::string LmtpClient::begin_transaction(const std::string& from,
                                          const std::vector<std::string>& rcpts, bool greet) {
  auto expect = [](const LmtpReply& r, int code, const std::string& what) -> std::string {
    if (r.code == code) return "";
    return what + ": expected " + std::to_string(code) + ", got " + r.text();
  };
  if (greet) {
    if (auto e = expect(read_reply(), 220, "greeting"); !e.empty()) return e;
    if (auto e = expect(command("LHLO e2e.client"), 250, "LHLO"); !e.empty()) return e;
  }
  if (auto e = expect(command("MAIL FROM:<" + from + ">"), 250, "MAIL"); !e.empty()) return e;
  for (const auto& r : rcpts) {
    if (auto e = expect(command("RCPT TO:<" + r + ">"), 250, "RCPT " + r); !e.empty()) return e;
  }
  return expect(command("DATA"), 354, "DATA");
}

std::string LmtpClient::deliver(const std::string& from, const std::vector<std::string>& rcpts,
                                std::string_view content, bool greet) {
  if (auto e = begin_transaction(from, rcpts, greet); !e.empty()) return e;
  if (!send_data(content)) return "sending the content: " + error_;
  for (size_t i = 0; i < rcpts.size(); ++i) {
    LmtpReply r = read_reply();
    if (r.code != 250 || r.enhanced() != "2.1.5") {
      return "reply " + std::to_string(i + 1) + " of " + std::to_string(rcpts.size()) +
             " after the dot: " + r.text();
    }
  }
  return "";
}

}  // namespace cubby::e2e
