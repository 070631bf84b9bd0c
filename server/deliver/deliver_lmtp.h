// LmtpConnection: deliver's blocking client end of an LMTP connection to lmtpd's UNIX socket.
//
// It sends command lines and raw DATA bytes and reads replies, nothing more: the order of commands
// is the caller's (deliver_session.h). Every wait, to send or to receive, lasts at most timeout()
// (10 minutes unless set), so a hung server cannot hold deliver for ever. Failures are values:
// send() returns false and read_reply() an error, and error() says why. Writes never raise SIGPIPE.
// A reply is read whole (its "<code>-" lines and its last "<code> " line) into an lmtp::Reply; a
// line of more than 64 KiB, a reply of more than 1000 lines or a line that does not start with a
// three-digit code is a protocol error. With set_trace(true) commands and replies (not message
// data) are logged at debug level.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "server/lmtp/reply.h"

namespace cubby::deliver {

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

  // Writes `line` and CRLF.
  bool send_command(std::string_view line);
  // Writes `bytes` as they are (message data).
  bool send(std::string_view bytes);
  // Reads the next reply.
  Result<lmtp::Reply, std::string> read_reply();

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  Result<std::string, std::string> read_line(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::chrono::milliseconds timeout_{10 * 60 * 1000};
  bool trace_ = false;
  std::string buffer_;  // received, not yet returned
  std::string error_;
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
