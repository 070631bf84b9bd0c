// LmtpConnection: deliver's blocking client end of an LMTP connection to lmtpd's UNIX socket.
//
// It sends command lines and raw DATA bytes and reads replies, nothing more: the order of commands
// is the caller's (deliver_session.h). Every wait, to send or to receive, lasts at most timeout()
// (10 minutes unless set), so a hung server cannot hold deliver for ever. Failures are values:
// send() returns false and read_reply() an error, and error() says why. Writes never raise SIGPIPE.
// A reply is read whole (its "<code>-" lines and its last "<code> " line) into an lmtp::Reply; a
// line of more than 64 KiB, a reply of more than 1000 lines or a line that does not start with a
// three-digit code is a protocol error. With set_trace(true) commands and replies (not message
// data) are logged at debug level. After set_layer() the bytes go through the layer (TLS, once
// STARTTLS succeeded: server/proxy/backend_tls.h) instead of straight to the socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "server/lmtp/reply.h"

namespace cubby::deliver {

// What carries the bytes over the socket instead of plain send/recv (TLS). Like recv and send
// with MSG_DONTWAIT: returns the bytes moved (> 0), 0 at the end of the stream (read only), or -1;
// after -1, `*wait` is POLLIN or POLLOUT when the call is to be repeated once the socket is ready,
// and 0 when the stream failed (`*why` then says how).
class ByteLayer {
 public:
  virtual ~ByteLayer() = default;
  virtual ssize_t read(char* buf, size_t len, short* wait, std::string* why) = 0;
  virtual ssize_t write(const char* buf, size_t len, short* wait, std::string* why) = 0;
};

class LmtpConnection {
 public:
  // Connects to the UNIX socket at `path`; the error names the path and the reason.
  static Result<LmtpConnection, std::string> connect_unix(const std::string& path);
  // Takes ownership of a connected stream socket (for tests).
  explicit LmtpConnection(int fd) : fd_(fd) {}

  LmtpConnection(LmtpConnection&& other) noexcept;
  LmtpConnection& operator=(LmtpConnection&& other) noexcept;
  LmtpConnection(const LmtpConnection&) = delete;
  LmtpConnection& operator=(const LmtpConnection&) = delete;
  ~LmtpConnection();

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_trace(bool on) { trace_ = on; }
  const std::string& error() const { return error_; }
  int fd() const { return fd_; }
  // From now on every byte goes through `layer`.
  void set_layer(std::unique_ptr<ByteLayer> layer) { layer_ = std::move(layer); }
  // Bytes received and not yet read as a reply (after STARTTLS's 220 there must be none).
  bool has_unread() const { return !buffer_.empty(); }

  // Writes `line` and CRLF.
  bool send_command(std::string_view line);
  // Writes `bytes` as they are (message data).
  bool send(std::string_view bytes);
  // Reads the next reply.
  Result<lmtp::Reply, std::string> read_reply();

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  // One non-blocking move of bytes, through the layer when there is one (ByteLayer's contract).
  ssize_t read_some(char* buf, size_t len, short* wait);
  ssize_t write_some(std::string_view bytes, short* wait);
  // Waits until the socket is ready for `events`; false (error_ set) at the deadline or on error.
  bool await(short events, std::chrono::steady_clock::time_point deadline, const char* timed_out);
  Result<std::string, std::string> read_line(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::chrono::milliseconds timeout_{10 * 60 * 1000};
  bool trace_ = false;
  std::string buffer_;  // received, not yet returned
  std::string error_;
  std::unique_ptr<ByteLayer> layer_;
};

// Parses one reply line: its code, whether more lines follow ("250-"), and the text after the
// separator. False when the line does not start with a three-digit code and ' ', '-' or nothing.
bool parse_reply_line(std::string_view line, int* code, bool* more, std::string_view* text);

// Splits the last line's text into the enhanced status code ("5.1.1", when it starts with one
// followed by a space or nothing) and the rest.
void split_enhanced(std::string_view text, std::string* enhanced, std::string* rest);

// The reply as deliver reports it after `<address>: `: the last line without its code
// ("5.1.1 User unknown").
std::string reply_text(const lmtp::Reply& reply);

}  // namespace cubby::deliver
